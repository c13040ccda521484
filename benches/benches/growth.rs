//! How the per-operation cost of `Timelog<u64>` grows with the number of
//! records N, with background maintenance ON (default `Config`):
//!
//! - `append`: ns per in-order `append` while building a log of N records
//!   (whole build, and the last 10% of it alone: flat = no growth);
//! - `point`: ns per `point_with` at a random existing timestamp;
//! - `range100`: ns per 100-row `range` read with `next_batch_with`;
//! - `btree_point`: the same point read on a plain `BTreeMap` of N keys,
//!   as a logarithmic reference.
//!
//! Every figure is the best of several repetitions (outside load on a
//! shared machine only adds time).
//!
//! N = 10^4, 10^5, 10^6 (10^7 with `TIMELOG_BENCH_FULL=1`); with `--quick`
//! N stops at 10^5 (unless `TIMELOG_BENCH_FULL=1`). Prints a table and
//! writes `target/growth.csv`.
//!
//! Run: `cargo bench -p timelog-benches --bench growth [-- --quick]`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write as _;
use std::time::{Duration, Instant};

use timelog::{Order, Timelog, WriteStatus};
use timelog_benches::{full_mode, quick_mode, random_ts, SEED};

/// Best of several repetitions: on a shared machine outside load only adds time.
fn best(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

struct Row {
    n: usize,
    append_ns: f64,
    append_tail_ns: f64,
    point_ns: f64,
    range100_ns: f64,
    btree_point_ns: f64,
    busy: usize,
    settle_ms: f64,
    l0: usize,
    l1: usize,
    sealed: usize,
    active: usize,
}

/// Builds a log of `n` in-order records; returns it with (ns/op overall,
/// ns/op of the last 10%, busy statuses).
fn build(n: usize) -> (Timelog<u64>, f64, f64, usize) {
    let log: Timelog<u64> = Timelog::new();
    let tail_from = n - n / 10;
    let mut busy = 0;
    let t0 = Instant::now();
    let mut t_tail = t0;
    for i in 0..n {
        if i == tail_from {
            t_tail = Instant::now();
        }
        if log.append(i as i64, i as u64 + 1).expect("append") == WriteStatus::Busy {
            busy += 1;
        }
    }
    let end = Instant::now();
    let all = (end - t0).as_nanos() as f64 / n as f64;
    let tail = (end - t_tail).as_nanos() as f64 / (n - tail_from) as f64;
    (log, all, tail, busy)
}

/// Waits (bounded) until the worker has flushed every sealed memtable and
/// compacted L0 below its trigger, so that reads see the steady state.
/// Returns how long that took.
fn settle(log: &Timelog<u64>) -> Duration {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(60);
    loop {
        let s = log.stats().unwrap();
        if (s.sealed_runs == 0 && s.segments_l0 < s.max_delta_segments) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let d = t0.elapsed();
    std::thread::sleep(Duration::from_millis(50));
    d
}

fn time_per_op(reps: usize, ops: usize, mut f: impl FnMut(usize) -> u64) -> f64 {
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t0 = Instant::now();
        let mut acc = 0u64;
        for i in 0..ops {
            acc = acc.wrapping_add(f(i));
        }
        black_box(acc);
        v.push(t0.elapsed().as_nanos() as f64 / ops as f64);
    }
    best(v)
}

fn measure(n: usize, quick: bool) -> Row {
    // Repeat small builds so that the append figure is not one noisy millisecond.
    let reps = if quick { (200_000 / n).clamp(1, 5) } else { (4_000_000 / n).clamp(1, 15) };
    let mut all = Vec::new();
    let mut tail = Vec::new();
    let mut busy = 0;
    let mut log = None;
    for _ in 0..reps {
        let (l, a, t, b) = build(n);
        all.push(a);
        tail.push(t);
        busy += b;
        log = Some(l);
    }
    let log = log.unwrap();
    let settle_ms = settle(&log).as_secs_f64() * 1e3;
    let s = log.stats().unwrap();
    assert_eq!(log.len().unwrap(), n);

    let ops = if quick { 20_000 } else { 200_000 };
    let probes = random_ts(ops, n as i64, SEED ^ 7);
    let point_ns = time_per_op(5, ops, |i| {
        let mut acc = 0;
        log.point_with(probes[i], |v| acc += *v).unwrap();
        acc
    });
    let rops = ops / 10;
    let starts = random_ts(rops, n as i64 - 100, SEED ^ 8);
    let range100_ns = time_per_op(5, rops, |i| {
        let t = starts[i];
        let mut acc = 0u64;
        let mut c = log.range(t, t + 100, Order::Asc).unwrap();
        c.next_batch_with(100, |ts, v| acc = acc.wrapping_add(ts as u64 ^ *v));
        acc
    });
    drop(log);

    let btree: BTreeMap<(i64, u64), u64> = (0..n).map(|i| ((i as i64, i as u64 + 1), i as u64 + 1)).collect();
    let btree_point_ns = time_per_op(3, ops, |i| {
        let t = probes[i];
        btree.range((t, 0)..=(t, u64::MAX)).fold(0, |a, (_, v)| a + *v)
    });

    Row {
        n,
        append_ns: best(all),
        append_tail_ns: best(tail),
        point_ns,
        range100_ns,
        btree_point_ns,
        busy,
        settle_ms,
        l0: s.segments_l0,
        l1: s.segments_l1,
        sealed: s.sealed_runs,
        active: s.active_records,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs bench targets without `--bench`: smoke only.
    let smoke = !args.iter().any(|a| a == "--bench");
    let quick = quick_mode();
    let full = full_mode();
    let mut sizes = vec![10_000usize];
    if !smoke {
        sizes.push(100_000);
        if !quick || full {
            sizes.push(1_000_000);
        }
        if full {
            sizes.push(10_000_000);
        }
    }
    println!(
        "growth: Timelog<u64>, background maintenance ON (default Config); mode = {}",
        if smoke {
            "smoke"
        } else if quick {
            "quick"
        } else {
            "full"
        }
    );
    println!(
        "{:>10} {:>10} {:>12} {:>10} {:>12} {:>12} {:>8} {:>9} {:>4} {:>4} {:>6} {:>8}",
        "N",
        "append_ns",
        "append_tail",
        "point_ns",
        "range100_ns",
        "btree_point",
        "busy",
        "settle_ms",
        "l0",
        "l1",
        "sealed",
        "active"
    );
    let mut rows = Vec::new();
    for n in sizes {
        let r = measure(n, quick || smoke);
        println!(
            "{:>10} {:>10.1} {:>12.1} {:>10.1} {:>12.1} {:>12.1} {:>8} {:>9.0} {:>4} {:>4} {:>6} {:>8}",
            r.n,
            r.append_ns,
            r.append_tail_ns,
            r.point_ns,
            r.range100_ns,
            r.btree_point_ns,
            r.busy,
            r.settle_ms,
            r.l0,
            r.l1,
            r.sealed,
            r.active
        );
        rows.push(r);
    }
    if smoke {
        return; // a debug smoke run must not overwrite a real growth.csv
    }
    let dir =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let path = std::path::Path::new(&dir).join("growth.csv");
    let mut f = std::fs::File::create(&path).expect("create growth.csv");
    writeln!(f, "n,append_ns,append_tail_ns,point_ns,range100_ns,btree_point_ns,busy,settle_ms,segments_l0,segments_l1,sealed_runs,active_records").unwrap();
    for r in &rows {
        writeln!(
            f,
            "{},{:.2},{:.2},{:.2},{:.2},{:.2},{},{:.1},{},{},{},{}",
            r.n,
            r.append_ns,
            r.append_tail_ns,
            r.point_ns,
            r.range100_ns,
            r.btree_point_ns,
            r.busy,
            r.settle_ms,
            r.l0,
            r.l1,
            r.sealed,
            r.active
        )
        .unwrap();
    }
    println!("wrote {}", path.display());
}
