//! Instruction-count harness for the read paths of a `Cursor` (issue 13,
//! item 3): the same scan through the `Iterator` API (`for`, `collect`,
//! `fold`), the batch API and a sorted `Vec`, one path per process, so that
//! `valgrind --tool=callgrind --toggle-collect='*measured_*'` counts only
//! the scan (setup excluded). Wall times on this shared machine move by 2×
//! between runs; instruction counts do not.
//!
//! ```text
//! cargo build --release -p timelog-benches --example iterpath
//! valgrind --tool=callgrind --toggle-collect='*measured_*' \
//!     target/release/examples/iterpath flushed for asc full
//! ```
//!
//! Arguments: state (`flushed`, `memtable`, `memtable_ooo5`, `l0x8_ooo5`),
//! path (`for`, `for_sum`, `collect`, `extend`, `fold`, `batch`, `batch_collect`,
//! `vec`, `vec_collect`,
//! `vec_pages_for`, `vec_pages_collect`), order
//! (`asc`, `desc`), shape (`full`: one scan of all 100 000 records;
//! `range`: 100 ranges of 1 000 records). Prints a checksum, the rows read
//! and the best wall time of a few repeats.

use std::hint::black_box;
use std::time::Instant;

use timelog::{Config, MaintenanceMode, Order, Timelog};
use timelog_benches::{ooo_keys, ordered_keys, random_ts, SEED};

const N: usize = 100_000;
const RANGE: i64 = 1_000;
const BATCH: usize = 1_024;

#[inline(always)]
fn mix(acc: u64, ts: i64, v: u64) -> u64 {
    acc.wrapping_add(ts as u64).wrapping_add(v)
}

fn build(state: &str) -> Timelog<u64> {
    let log = Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    let keys = if state.ends_with("ooo5") { ooo_keys(N, 5, SEED) } else { ordered_keys(N) };
    let parts = if state.starts_with("l0x8") { 8 } else { 1 };
    for part in keys.chunks(N / parts) {
        for &(ts, seq) in part {
            let _ = log.append(ts, seq).unwrap();
        }
        if state != "memtable" && state != "memtable_ooo5" {
            log.flush().unwrap();
        }
    }
    log
}

#[inline(always)]
fn bounds(vec: &[(i64, u64)], lo: i64, hi: i64) -> &[(i64, u64)] {
    let a = vec.partition_point(|r| r.0 < lo);
    let b = a + vec[a..].partition_point(|r| r.0 < hi);
    &vec[a..b]
}

// One function per path (each a `measured_*` symbol for callgrind's
// `--toggle-collect`, and readable on its own in a disassembly).

#[inline(never)]
fn measured_for(log: &Timelog<u64>, order: Order, lo: i64, hi: i64) -> (u64, usize) {
    let (mut acc, mut n) = (0u64, 0usize);
    for (ts, v) in log.range(lo, hi, order).unwrap() {
        acc = mix(acc, ts, v);
        n += 1;
    }
    (acc, n)
}

/// A `for` loop with a lighter body (one add per record: a one-cycle
/// dependency chain), where the loop's own instructions show in its time.
#[inline(never)]
fn measured_for_sum(log: &Timelog<u64>, order: Order, lo: i64, hi: i64) -> (u64, usize) {
    let (mut acc, mut n) = (0u64, 0usize);
    for (_, v) in log.range(lo, hi, order).unwrap() {
        acc = acc.wrapping_add(v);
        n += 1;
    }
    (acc, n)
}

#[inline(never)]
fn measured_collect(log: &Timelog<u64>, order: Order, lo: i64, hi: i64) -> (u64, usize) {
    let v: Vec<(i64, u64)> = log.range(lo, hi, order).unwrap().collect();
    (v.last().map_or(0, |r| r.1), v.len())
}

#[inline(never)]
fn measured_fold(log: &Timelog<u64>, order: Order, lo: i64, hi: i64) -> (u64, usize) {
    log.range(lo, hi, order).unwrap().fold((0u64, 0usize), |(a, n), (ts, v)| (mix(a, ts, v), n + 1))
}

#[inline(never)]
fn measured_batch(log: &Timelog<u64>, order: Order, lo: i64, hi: i64) -> (u64, usize) {
    let (mut acc, mut n) = (0u64, 0usize);
    let mut f = |ts: i64, v: &u64| {
        acc = mix(acc, ts, *v);
        n += 1;
    };
    let mut c = log.range(lo, hi, order).unwrap();
    while c.next_batch_with(BATCH, &mut f) > 0 {}
    (acc, n)
}

/// What `collect()` is measured against: the batch API filling a `Vec`
/// allocated once at the cursor's exact length.
#[inline(never)]
fn measured_batch_collect(log: &Timelog<u64>, order: Order, lo: i64, hi: i64) -> (u64, usize) {
    let mut c = log.range(lo, hi, order).unwrap();
    let mut v: Vec<(i64, u64)> = Vec::with_capacity(c.remaining());
    while c.next_batch_with(BATCH, |ts, x| v.push((ts, *x))) > 0 {}
    (v.last().map_or(0, |r| r.1), v.len())
}

/// `Vec::extend` from a cursor (`Vec`'s own loop over `next`, which a
/// cursor cannot change: `TrustedLen` is unstable).
#[inline(never)]
fn measured_extend(log: &Timelog<u64>, order: Order, lo: i64, hi: i64) -> (u64, usize) {
    let mut v: Vec<(i64, u64)> = Vec::new();
    v.extend(log.range(lo, hi, order).unwrap());
    (v.last().map_or(0, |r| r.1), v.len())
}

#[inline(never)]
fn measured_vec(vec: &[(i64, u64)], order: Order, lo: i64, hi: i64) -> (u64, usize) {
    let (mut acc, mut n) = (0u64, 0usize);
    let mut f = |&(ts, v): &(i64, u64)| {
        acc = mix(acc, ts, v);
        n += 1;
    };
    if order == Order::Desc {
        bounds(vec, lo, hi).iter().rev().for_each(&mut f);
    } else {
        bounds(vec, lo, hi).iter().for_each(&mut f);
    }
    (acc, n)
}

/// The `Iterator` protocol's own floor for data in spans: a `for` loop
/// over `std`'s `Flatten` of 4 096-record slices (pages), ascending only.
#[inline(never)]
fn measured_vec_pages_for(vec: &[(i64, u64)], lo: i64, hi: i64) -> (u64, usize) {
    let (mut acc, mut n) = (0u64, 0usize);
    for &(ts, v) in bounds(vec, lo, hi).chunks(4096).flatten() {
        acc = mix(acc, ts, v);
        n += 1;
    }
    (acc, n)
}

/// The same floor for `collect()`: `std`'s `Flatten` of pages into a `Vec`.
#[inline(never)]
fn measured_vec_pages_collect(vec: &[(i64, u64)], lo: i64, hi: i64) -> (u64, usize) {
    let v: Vec<(i64, u64)> = bounds(vec, lo, hi).chunks(4096).flatten().copied().collect();
    (v.last().map_or(0, |r| r.1), v.len())
}

#[inline(never)]
fn measured_vec_collect(vec: &[(i64, u64)], lo: i64, hi: i64) -> (u64, usize) {
    let v = bounds(vec, lo, hi).to_vec();
    (v.last().map_or(0, |r| r.1), v.len())
}

/// The measured scan of `[lo, hi)`: returns a checksum and the rows read.
fn measured(log: &Timelog<u64>, vec: &[(i64, u64)], path: &str, order: Order, lo: i64, hi: i64) -> (u64, usize) {
    match path {
        "for" => measured_for(log, order, lo, hi),
        "for_sum" => measured_for_sum(log, order, lo, hi),
        "collect" => measured_collect(log, order, lo, hi),
        "fold" => measured_fold(log, order, lo, hi),
        "batch" => measured_batch(log, order, lo, hi),
        "batch_collect" => measured_batch_collect(log, order, lo, hi),
        "extend" => measured_extend(log, order, lo, hi),
        "vec" => measured_vec(vec, order, lo, hi),
        "vec_collect" => measured_vec_collect(vec, lo, hi),
        "vec_pages_for" => measured_vec_pages_for(vec, lo, hi),
        "vec_pages_collect" => measured_vec_pages_collect(vec, lo, hi),
        p => panic!("unknown path {p}"),
    }
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (state, path, order, shape) = (a[0].as_str(), a[1].as_str(), a[2].as_str(), a[3].as_str());
    let order = if order == "desc" { Order::Desc } else { Order::Asc };
    let log = build(state);
    let mut vec = if state.ends_with("ooo5") { ooo_keys(N, 5, SEED) } else { ordered_keys(N) };
    vec.sort_unstable();
    let ranges: Vec<(i64, i64)> = match shape {
        "full" => vec![(i64::MIN, i64::MAX)],
        _ => random_ts(100, N as i64 - RANGE, SEED ^ 1).into_iter().map(|t| (t, t + RANGE)).collect(),
    };
    let repeats = std::env::var("ITERPATH_REPEATS").map_or(5, |v| v.parse().unwrap());
    let (mut best, mut sum, mut rows) = (f64::MAX, 0u64, 0usize);
    for _ in 0..repeats {
        let t = Instant::now();
        let (mut s, mut r) = (0u64, 0usize);
        for &(lo, hi) in &ranges {
            let (c, n) = measured(black_box(&log), &vec, black_box(path), order, lo, hi);
            s = s.wrapping_add(c);
            r += n;
        }
        best = best.min(t.elapsed().as_secs_f64());
        (sum, rows) = (s, r);
    }
    println!(
        "{state} {path} {shape} sum={sum} rows={rows} best={:.1}us ({:.2} ns/row)",
        best * 1e6,
        best * 1e9 / rows as f64
    );
}
