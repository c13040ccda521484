//! Reads on `timelog::Timelog<u64>` after a sliding retention window,
//! against a fresh log holding exactly the same live records.
//!
//! Shape (the Python retention benchmark's, `benches/python/retention.py`):
//! `OLD` records at ts `0..OLD` (one `extend`, flushed), then `stream`
//! appends at `ts = BASE..` with a sliding window of `WINDOW` records applied
//! every `every` appends, by
//!
//! - `range`:  `delete_range(BASE, t - WINDOW)` (the old records stay live), or
//! - `before`: `delete_before(t - WINDOW)` (only the window stays live);
//!
//! then `flush()`. Two retained logs per shape: maintenance `disabled`
//! (read exactly as the stream left it) and `background` (read after the
//! worker has settled: its stats stopped changing). The `fresh` log gets the
//! same live records in one `extend_from_parts` + `flush` (one segment).
//!
//! Groups `retention_{range,before}/{next_ts,next_ts_gap,prev_ts,point,range100,len}`,
//! ids `fresh`, `disabled`, `background`: `next_ts` at live timestamps,
//! `next_ts_gap` at deleted ones (the answer lies past the deleted span),
//! `prev_ts` at live timestamps,
//! `point_with` at live timestamps, a 100-row `range` drained with
//! `next_batch_with`, `len()`. After criterion, a summary table gives each
//! retained log's best-of-7 time over the fresh log's (target <= 1.2) and
//! the tombstone and segment counts.
//!
//! Run: `cargo bench -p timelog-benches --bench retention` (2,000,000
//! appends, window 20,000 every 5,000) or `... -- --quick` (200,000 appends,
//! every 2,000; CI).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use timelog::{Config, MaintenanceMode, Order, Timelog, WriteStatus};
use timelog_benches::{quick_mode, Cycle, Rng, SEED};

const OLD: i64 = 200_000;
const BASE: i64 = 2_000_000;
const WINDOW: i64 = 20_000;
const PROBES: usize = 8_192;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Deleter {
    Range,
    Before,
}

impl Deleter {
    fn name(self) -> &'static str {
        match self {
            Deleter::Range => "range",
            Deleter::Before => "before",
        }
    }
}

struct Shape {
    stream: i64,
    every: i64,
}

fn shape(smoke: bool, quick: bool) -> Shape {
    if smoke {
        Shape { stream: 40_000, every: 2_000 }
    } else if quick {
        Shape { stream: 200_000, every: 2_000 }
    } else {
        Shape { stream: 2_000_000, every: 5_000 }
    }
}

fn log_with(mode: MaintenanceMode) -> Timelog<u64> {
    Timelog::with_config(Config { maintenance: mode, ..Config::default() }).expect("config")
}

/// Python's `busy_policy="flush"`: a Busy write was committed; flush inline.
fn on_busy(log: &Timelog<u64>, st: timelog::Result<WriteStatus>) {
    if st.expect("write") == WriteStatus::Busy {
        log.flush().expect("flush");
    }
}

/// Waits (bounded) until the background worker's visible state stops changing.
fn settle(log: &Timelog<u64>) -> Duration {
    let t0 = Instant::now();
    let sig = |l: &Timelog<u64>| {
        let s = l.stats().unwrap();
        (s.segments_l0, s.segments_l1, s.tombstone_count, s.sealed_runs, s.records_estimate, s.compactions_total)
    };
    let mut last = sig(log);
    let mut same = 0;
    while same < 10 && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
        let s = sig(log);
        same = if s == last { same + 1 } else { 0 };
        last = s;
    }
    t0.elapsed()
}

/// The retained log after the stream; returns it with the last cut.
fn retained(d: Deleter, mode: MaintenanceMode, sh: &Shape) -> (Timelog<u64>, i64) {
    let log = log_with(mode);
    on_busy(&log, log.extend((0..OLD).map(|t| (t, t as u64))));
    log.flush().expect("flush");
    let mut cut = None;
    for i in 0..sh.stream {
        let t = BASE + i;
        on_busy(&log, log.append(t, t as u64));
        if (i + 1) % sh.every == 0 && t - WINDOW > BASE {
            let c = t - WINDOW;
            let st = match d {
                Deleter::Range => log.delete_range(BASE, c),
                Deleter::Before => log.delete_before(c),
            };
            on_busy(&log, st);
            cut = Some(c);
        }
    }
    log.flush().expect("flush");
    if mode == MaintenanceMode::Background {
        settle(&log);
    }
    (log, cut.expect("stream shorter than its window"))
}

fn live_ts(d: Deleter, cut: i64, sh: &Shape) -> Vec<i64> {
    let end = BASE + sh.stream;
    match d {
        Deleter::Range => (0..OLD).chain(cut..end).collect(),
        Deleter::Before => (cut..end).collect(),
    }
}

fn fresh(live: &[i64]) -> Timelog<u64> {
    let log = log_with(MaintenanceMode::Disabled);
    on_busy(&log, log.extend_from_parts(live, live.iter().map(|&t| t as u64)));
    log.flush().expect("flush");
    log
}

struct Case {
    d: Deleter,
    logs: Vec<(&'static str, Timelog<u64>)>,
    live: Vec<i64>,
    gap: Vec<i64>,
    starts: Vec<i64>,
}

fn case(d: Deleter, sh: &Shape) -> Case {
    let (dis, cut) = retained(d, MaintenanceMode::Disabled, sh);
    let (bg, cut2) = retained(d, MaintenanceMode::Background, sh);
    assert_eq!(cut, cut2);
    let all = live_ts(d, cut, sh);
    let fr = fresh(&all);
    let mut rng = Rng::new(SEED ^ d as u64);
    let live: Vec<i64> = (0..PROBES).map(|_| all[rng.range(0, all.len() as u64 - 1) as usize]).collect();
    let (g0, g1) = match d {
        Deleter::Range => (BASE, cut),
        Deleter::Before => (0, cut),
    };
    let gap: Vec<i64> = (0..PROBES).map(|_| rng.range(g0 as u64, g1 as u64 - 1) as i64).collect();
    let starts: Vec<i64> = (0..PROBES).map(|_| all[rng.range(0, all.len() as u64 - 101) as usize]).collect();
    let logs = vec![("fresh", fr), ("disabled", dis), ("background", bg)];
    // Every log must give the same answers, or the comparison means nothing.
    for (name, l) in &logs[1..] {
        assert_eq!(l.len().unwrap(), all.len(), "{} {name}", d.name());
        for &k in live.iter().take(500).chain(gap.iter().take(500)) {
            assert_eq!(l.next_ts(k).unwrap(), logs[0].1.next_ts(k).unwrap(), "{} {name} next_ts({k})", d.name());
            assert_eq!(l.prev_ts(k).unwrap(), logs[0].1.prev_ts(k).unwrap(), "{} {name} prev_ts({k})", d.name());
        }
    }
    Case { d, logs, live, gap, starts }
}

type Op = fn(&Timelog<u64>, i64) -> u64;

fn op_next_ts(l: &Timelog<u64>, k: i64) -> u64 {
    l.next_ts(k).unwrap().unwrap_or(0) as u64
}

fn op_point(l: &Timelog<u64>, k: i64) -> u64 {
    let mut acc = 0;
    l.point_with(k, |v| acc += *v).unwrap();
    acc
}

fn op_range100(l: &Timelog<u64>, k: i64) -> u64 {
    let mut acc = 0u64;
    let mut c = l.range(k, k + 100, Order::Asc).unwrap();
    while c.next_batch_with(128, |ts, v| acc = acc.wrapping_add(ts as u64 ^ *v)) > 0 {}
    acc
}

fn op_len(l: &Timelog<u64>, _k: i64) -> u64 {
    l.len().unwrap() as u64
}

fn op_prev_ts(l: &Timelog<u64>, k: i64) -> u64 {
    l.prev_ts(k).unwrap().unwrap_or(0) as u64
}

fn reads(c: &Case) -> [(&'static str, Op, &[i64]); 6] {
    [
        ("next_ts", op_next_ts as Op, &c.live),
        ("next_ts_gap", op_next_ts as Op, &c.gap),
        ("prev_ts", op_prev_ts as Op, &c.live),
        ("point", op_point as Op, &c.live),
        ("range100", op_range100 as Op, &c.starts),
        ("len", op_len as Op, &c.live),
    ]
}

fn bench_case(cr: &mut Criterion, c: &Case) {
    for (read, op, keys) in reads(c) {
        let mut g: BenchmarkGroup<'_, WallTime> = cr.benchmark_group(format!("retention_{}/{read}", c.d.name()));
        g.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
        for (name, l) in &c.logs {
            g.bench_function(*name, |b| {
                let mut cy = Cycle::default();
                b.iter(|| op(l, *cy.next(keys)))
            });
        }
        g.finish();
    }
}

/// Best of `reps` passes over `keys`, ns per call.
fn best_ns(l: &Timelog<u64>, op: Op, keys: &[i64], reps: usize) -> f64 {
    (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            let mut acc = 0u64;
            for &k in keys {
                acc = acc.wrapping_add(op(l, k));
            }
            black_box(acc);
            t0.elapsed().as_nanos() as f64 / keys.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn summary(cases: &[Case], sh: &Shape) {
    println!(
        "\nretention summary: {OLD} old records, {} appends from {BASE}, window {WINDOW} every {}; \
         best of 7 passes over {PROBES} keys, ns/call (ratio to fresh; target <= 1.2)",
        sh.stream, sh.every
    );
    println!("{:<8} {:<12} {:>10} {:>20} {:>20}", "shape", "read", "fresh", "disabled", "background");
    for c in cases {
        for (read, op, keys) in reads(c) {
            let f = best_ns(&c.logs[0].1, op, keys, 7);
            let cell = |l: &Timelog<u64>| {
                let v = best_ns(l, op, keys, 7);
                format!("{v:.1} ({:.2}x)", v / f)
            };
            println!(
                "{:<8} {:<12} {:>10.1} {:>20} {:>20}",
                c.d.name(),
                read,
                f,
                cell(&c.logs[1].1),
                cell(&c.logs[2].1)
            );
        }
        let t: Vec<String> = c
            .logs
            .iter()
            .map(|(n, l)| {
                let s = l.stats().unwrap();
                format!("{n} {} (L0 {}, L1 {})", s.tombstone_count, s.segments_l0, s.segments_l1)
            })
            .collect();
        println!("{:<8} tombstones (sources): {}", c.d.name(), t.join(", "));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs bench targets without `--bench`: smoke only.
    let smoke = !args.iter().any(|a| a == "--bench");
    let sh = shape(smoke, quick_mode());
    let cases: Vec<Case> = [Deleter::Range, Deleter::Before].into_iter().map(|d| case(d, &sh)).collect();
    if !smoke {
        let mut cr = Criterion::default().without_plots().configure_from_args();
        for c in &cases {
            bench_case(&mut cr, c);
        }
        cr.final_summary();
    }
    summary(&cases, &sh);
}
