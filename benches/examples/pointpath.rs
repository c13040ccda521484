//! Instruction-count harness for point reads (issue 13, item 4/7: the
//! `point(ts)` row): a `Cursor` over `[t, t]` drained (what the Python
//! iterator does), `Snapshot::point_with` (what `log[t]` does) and a
//! `BTreeMap` lookup, one path per process, so that
//! `valgrind --tool=callgrind --toggle-collect='*measured_*'` counts only
//! the reads.
//!
//! ```text
//! cargo build --release -p timelog-benches --example pointpath
//! valgrind --tool=callgrind --toggle-collect='*measured_*' \
//!     target/release/examples/pointpath compacted cursor
//! ```
//!
//! Arguments: state (`compacted`: 1,000,000 in-order records, flushed and
//! compacted; `flushed`: 100,000 flushed into one L0 segment, the
//! criterion `next_ts/timelog_flushed` state; `flushed_bursts` and
//! `memtable_bursts`: the same 100,000 timestamps in bursts of 1,000
//! consecutive ones a million apart (the interpolated search's worst
//! realistic shape); `flushed_ooo5`: the flushed state's records with 5%
//! late ones (a late record's timestamp up to 1,000 back, so positions
//! drift from the interpolated guess by a few dozen);
//! `memtable`: 100,000 in one memtable; `memtable_ooo5`: the
//! same with 5% late records; `memtable_ooo5_view`: the same after a full
//! scan (its merged view built); `memtable_ooo5_live`: the same after a full
//! scan and one late append newer than the view; `memtable_ooo5_newer`:
//! the same after a full scan and 20,000 more records, 5% late, newer than
//! the view), path (`cursor`: `Timelog::range` over
//! `[t, t + 1)`; `snap_cursor`: `Snapshot::into_cursor` over `[t, t]`, as
//! the Python iterator; `range10`: `Timelog::range` over `[t, t + 10)`,
//! through the general plan; `since1`: the first record of
//! `Timelog::since(t)`; `point_with`: `Snapshot::point_with` of a
//! snapshot taken per lookup; `log_point_with`: `Timelog::point_with`,
//! no snapshot; `log_contains`: `Timelog::contains`; `log_next_ts`: `Timelog::next_ts`; `btree`: `BTreeMap::get`;
//! `btree_next`: `BTreeMap::range(t + 1..).next()`). Prints a checksum and the best wall time
//! of `PP_REPS` (default 3) passes over the lookups.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use timelog::{Config, MaintenanceMode, Order, Timelog};
use timelog_benches::{ooo_keys, ordered_keys, random_ts, SEED};

const LOOKUPS: usize = 2_000;

fn build(state: &str) -> (Timelog<u64>, Vec<(i64, u64)>) {
    let log = Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    let n = if state == "compacted" { 1_000_000 } else { 100_000 };
    let mut keys = if state.contains("ooo5") { ooo_keys(n, 5, SEED) } else { ordered_keys(n) };
    if state.ends_with("_bursts") {
        // Timestamps in bursts of 1,000 consecutive ones, a million apart:
        // the searches' interpolated probe misses its block and pays for
        // the general search too (its worst realistic shape).
        for (ts, _) in keys.iter_mut() {
            *ts = (*ts / 1_000) * 1_000_000 + *ts % 1_000;
        }
    }
    for &(ts, v) in &keys {
        let _ = log.append(ts, v).unwrap();
    }
    if state == "compacted" || state.starts_with("flushed") {
        log.flush().unwrap();
    }
    if state == "memtable_ooo5_view" || state == "memtable_ooo5_live" || state == "memtable_ooo5_newer" {
        // Its merged view built by a full scan: nothing written since
        // (`_view`, the state of a full criterion run's point groups), or
        // then one late record newer than the view (`_live`, a log being
        // read and written). The scan reads every record (`count` would
        // only count them): an ascending read builds the view in shares
        // as it reads, complete before its end with 5% late records (R13
        // (5)).
        log.snapshot().unwrap().all(Order::Asc).for_each(drop);
        if state == "memtable_ooo5_live" {
            let _ = log.append(n as i64 - 500, 0).unwrap();
        }
        if state == "memtable_ooo5_newer" {
            // A fifth more records, 5% late, after the view: its readers
            // collect the late ones newer than it as they go (R13 (7)).
            for (t, v) in ooo_keys(n / 5, 5, SEED ^ 3) {
                let (t, v) = (t + n as i64, v + n as u64);
                let _ = log.append(t, v).unwrap();
                keys.push((t, v));
            }
        }
    }
    if state == "compacted" {
        log.compact().unwrap();
    }
    (log, keys)
}

#[inline(never)]
fn measured_cursor(log: &Timelog<u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        for (k, v) in log.range(t, t + 1, Order::Asc).unwrap() {
            s = s.wrapping_add(k as u64).wrapping_add(v);
        }
    }
    s
}

/// The first record of `since(t)`: a long read of which the caller takes
/// one row.
#[inline(never)]
fn measured_since1(log: &Timelog<u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        if let Some((k, v)) = log.since(t, Order::Asc).unwrap().next() {
            s = s.wrapping_add(k as u64).wrapping_add(v);
        }
    }
    s
}

/// A 10-row range read through the general plan (`cursor` is a point
/// read, planned without it).
#[inline(never)]
fn measured_range10(log: &Timelog<u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        for (k, v) in log.range(t, t + 10, Order::Asc).unwrap() {
            s = s.wrapping_add(k as u64).wrapping_add(v);
        }
    }
    s
}

#[inline(never)]
fn measured_snap_cursor(log: &Timelog<u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        for (k, v) in log.snapshot().unwrap().into_cursor(t, t, Order::Asc) {
            s = s.wrapping_add(k as u64).wrapping_add(v);
        }
    }
    s
}

#[inline(never)]
fn measured_point_with(log: &Timelog<u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        log.snapshot().unwrap().point_with(t, |v| s = s.wrapping_add(t as u64).wrapping_add(*v));
    }
    s
}

#[inline(never)]
fn measured_log_point_with(log: &Timelog<u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        log.point_with(t, |v| s = s.wrapping_add(t as u64).wrapping_add(*v)).unwrap();
    }
    s
}

#[inline(never)]
fn measured_log_contains(log: &Timelog<u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        s = s.wrapping_add(u64::from(log.contains(t).unwrap()));
    }
    s
}

#[inline(never)]
fn measured_log_next_ts(log: &Timelog<u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        s = s.wrapping_add(log.next_ts(t).unwrap().unwrap_or(0) as u64);
    }
    s
}

#[inline(never)]
fn measured_btree_next(map: &BTreeMap<i64, u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        s = s.wrapping_add(map.range(t + 1..).next().map_or(0, |(k, _)| *k) as u64);
    }
    s
}

#[inline(never)]
fn measured_btree(map: &BTreeMap<i64, u64>, ts: &[i64]) -> u64 {
    let mut s = 0u64;
    for &t in ts {
        if let Some(v) = map.get(&t) {
            s = s.wrapping_add(t as u64).wrapping_add(*v);
        }
    }
    s
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (state, path) = (a[0].as_str(), a[1].as_str());
    let (log, keys) = build(state);
    let map: BTreeMap<i64, u64> =
        if path.starts_with("btree") { keys.iter().copied().collect() } else { BTreeMap::new() };
    let mut ts = random_ts(LOOKUPS, keys.len() as i64, SEED ^ 7);
    if state.ends_with("_bursts") {
        // The same positions, at their timestamps in the bursts.
        for t in ts.iter_mut() {
            *t = (*t / 1_000) * 1_000_000 + *t % 1_000;
        }
    }
    let (mut best, mut sum) = (f64::MAX, 0u64);
    // `PP_REPS` repetitions (default 3): more make the lookups dominate a
    // `perf stat` of the whole process (counters of two builds compared).
    let reps: usize = std::env::var("PP_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for _ in 0..reps {
        let t = Instant::now();
        sum = match black_box(path) {
            "cursor" => measured_cursor(&log, &ts),
            "snap_cursor" => measured_snap_cursor(&log, &ts),
            "range10" => measured_range10(&log, &ts),
            "since1" => measured_since1(&log, &ts),
            "point_with" => measured_point_with(&log, &ts),
            "log_point_with" => measured_log_point_with(&log, &ts),
            "log_next_ts" => measured_log_next_ts(&log, &ts),
            "log_contains" => measured_log_contains(&log, &ts),
            "btree_next" => measured_btree_next(&map, &ts),
            _ => measured_btree(&map, &ts),
        };
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{state} {path} sum={sum} best={:.1} ns/lookup", best * 1e9 / LOOKUPS as f64);
}
