//! Cost of a delete in a `delete_before` chain (issue 10, item 4: the
//! 2,000-call rows): each of `logs` fresh logs of 100,000 flushed records
//! takes 2,000 `delete_before(t)` calls, `t` rising (each covers the
//! previous: the shape of a retention cutoff). Prints the median and best
//! wall time per call; `measured_deletes` is the only function
//! `valgrind --tool=callgrind --toggle-collect='*measured_*'` counts.
//!
//! ```text
//! cargo build --release -p timelog-benches --example deletepath
//! target/release/examples/deletepath [logs, default 60]
//! ```

use std::time::Instant;

use timelog::{Config, MaintenanceMode, Timelog};

const CALLS: i64 = 2_000;

fn main() {
    let logs: usize = std::env::args().nth(1).map_or(60, |a| a.parse().expect("logs: a count"));
    let mut per_call = Vec::with_capacity(logs);
    for _ in 0..logs {
        let cfg = Config { maintenance: MaintenanceMode::Disabled, ..Config::default() };
        let log: Timelog<u64> = Timelog::with_config(cfg).expect("a valid config");
        for t in 0..100_000i64 {
            let _ = log.append(t, t as u64).expect("append");
        }
        log.flush().expect("flush");
        let t0 = Instant::now();
        measured_deletes(&log);
        per_call.push(t0.elapsed().as_nanos() as f64 / CALLS as f64);
    }
    per_call.sort_by(f64::total_cmp);
    println!("delete_before: {:.1} ns/call median, {:.1} best, {logs} logs", per_call[logs / 2], per_call[0]);
}

#[inline(never)]
fn measured_deletes(log: &Timelog<u64>) {
    for i in 1..=CALLS {
        let _ = std::hint::black_box(log.delete_before(i * 25).expect("delete_before"));
    }
}
