//! CPU-time and instruction-count harness for a fresh late memtable's
//! first short reads (issue 13; the criterion row
//! `scan_range1000/timelog_memtable_ooo5_first512/batch`): a log of the
//! engine bench's 5%-late keys is filled (untimed), then `READS` 1000-row
//! range reads at the bench's random starts run in `measured_reads`, so
//! that `valgrind --tool=callgrind --toggle-collect='*measured_*'` counts
//! only them. Their first reads build the memtable's merged view in
//! shares (R13 (5)).
//!
//! With `since` as the third argument the reads are `next(since(t))`
//! instead — the first record of `Timelog::since(t)`, a read that reaches
//! the memtable's end: it builds no view (R13 (5), session 36) — and the
//! first read of each log is also reported alone; with `since_desc`, the
//! newest record of each (`next(reversed(since(t)))`, session 37).
//!
//! ```text
//! cargo build --release -p timelog-benches --example freshpath
//! target/release/examples/freshpath 512 15         # reads per log, logs
//! target/release/examples/freshpath 2000 15 since  # next(since(t))
//! target/release/examples/freshpath 2000 15 since_desc
//! ```
//!
//! Prints the median over the logs of the mean thread CPU time per read.

use std::hint::black_box;

use timelog::{Config, MaintenanceMode, Order, Timelog};
use timelog_benches::{ooo_keys, random_ts, thread_cpu_ns, SEED};

const N: usize = 100_000;
const RANGE: i64 = 1_000;
const BATCH: usize = 1_024;

/// `next(since(t))` at each of `starts`: the first record of each read.
#[inline(never)]
fn measured_since(log: &Timelog<u64>, starts: &[i64]) -> u64 {
    first_rows(log, starts, Order::Asc)
}

/// `next(reversed(since(t)))` at each of `starts`: the newest record.
#[inline(never)]
fn measured_since_desc(log: &Timelog<u64>, starts: &[i64]) -> u64 {
    first_rows(log, starts, Order::Desc)
}

/// One of the `measured_*` functions.
type Reads = fn(&Timelog<u64>, &[i64]) -> u64;

#[inline(always)]
fn first_rows(log: &Timelog<u64>, starts: &[i64], order: Order) -> u64 {
    let mut acc = 0u64;
    for &t in starts {
        if let Some((ts, v)) = log.since(t, order).expect("since").next() {
            acc = acc.wrapping_add(ts as u64).wrapping_add(v);
        }
    }
    acc
}

#[inline(never)]
fn measured_reads(log: &Timelog<u64>, starts: &[i64]) -> u64 {
    let mut acc = 0u64;
    for &t in starts {
        let mut f = |ts: i64, v: &u64| acc = acc.wrapping_add(ts as u64).wrapping_add(*v);
        let mut c = log.range(t, t + RANGE, Order::Asc).expect("range");
        while c.next_batch_with(BATCH, &mut f) > 0 {}
    }
    acc
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reads: usize = args.get(1).map_or(512, |s| s.parse().unwrap());
    let logs: usize = args.get(2).map_or(1, |s| s.parse().unwrap());
    let mode = args.get(3).map_or("range", |s| s.as_str());
    let (read, what): (Reads, _) = match mode {
        "range" => (measured_reads, "1000-row range"),
        "since" => (measured_since, "next(since(t))"),
        "since_desc" => (measured_since_desc, "next(reversed(since(t)))"),
        _ => panic!("mode: range | since | since_desc"),
    };
    let since = mode != "range";
    let keys = ooo_keys(N, 5, SEED);
    let starts = random_ts(4_096, N as i64 - RANGE, SEED ^ 1);
    let mut per_read = Vec::new();
    let mut wall = Vec::new();
    let mut first = Vec::new();
    let mut k = 0;
    for _ in 0..logs {
        let log = Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for &(ts, v) in &keys {
            let _ = log.append(ts, v).unwrap();
        }
        let s: Vec<i64> = (0..reads).map(|i| starts[(k + i) % starts.len()]).collect();
        k += reads;
        let (t0, w0) = (thread_cpu_ns(), std::time::Instant::now());
        if since {
            // The first read alone, then the rest (the first one included
            // in the mean).
            black_box(read(&log, &s[..1]));
            first.push((thread_cpu_ns() - t0) as f64);
            black_box(read(&log, &s[1..]));
        } else {
            black_box(read(&log, &s));
        }
        per_read.push((thread_cpu_ns() - t0) as f64 / reads as f64);
        wall.push(w0.elapsed().as_nanos() as f64 / reads as f64);
    }
    per_read.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    first.sort_by(f64::total_cmp);
    if since {
        println!(
            "the first {what} of a fresh 5%-late memtable: median {:.0} ns CPU (min {:.0}), over {logs} logs",
            first[first.len() / 2],
            first[0]
        );
    }
    println!(
        "first {reads} reads ({what}) of a fresh 5%-late memtable: median {:.0} ns CPU per read (min {:.0}), wall {:.0} (min {:.0}), over {logs} logs",
        per_read[per_read.len() / 2],
        per_read[0],
        wall[wall.len() / 2],
        wall[0]
    );
}
