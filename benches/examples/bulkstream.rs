//! CPU-time harness for a stream of sorted `extend_from_parts` calls into one
//! log (the Rust side of `bulk_writes.py`'s `batches_*` rows: 10,000-record
//! calls, `busy_policy = Flush`), reporting the calls of the first repeat
//! that took over a millisecond of CPU (with maintenance disabled: the
//! writer's flush of every sealed memtable) and the median CPU time per
//! record over the repeats.
//!
//! ```text
//! cargo build --release -p timelog-benches --example bulkstream
//! target/release/examples/bulkstream 2000000 disabled 5
//! ```

use std::hint::black_box;

use timelog::{BusyPolicy, Config, MaintenanceMode, Timelog};
use timelog_benches::thread_cpu_ns;

const BATCH: usize = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(2_000_000, |s| s.parse().unwrap());
    let maint = match args.get(2).map_or("disabled", |s| s.as_str()) {
        "background" => MaintenanceMode::Background,
        _ => MaintenanceMode::Disabled,
    };
    let repeats: usize = args.get(3).map_or(1, |s| s.parse().unwrap());
    let ts: Vec<i64> = (0..n as i64).collect();
    let mut totals = Vec::new();
    for r in 0..repeats {
        let log = Timelog::<u64>::with_config(Config {
            maintenance: maint,
            busy_policy: BusyPolicy::Flush,
            ..Config::default()
        })
        .unwrap();
        let mut slow = Vec::new();
        let t0 = thread_cpu_ns();
        for (k, c) in ts.chunks(BATCH).enumerate() {
            let a = thread_cpu_ns();
            let _ = log.extend_from_parts(c, c.iter().map(|&t| t as u64)).unwrap();
            let d = thread_cpu_ns() - a;
            if d > 1_000_000 {
                slow.push((k, d));
            }
        }
        let t1 = thread_cpu_ns();
        black_box(&log);
        totals.push((t1 - t0) as f64 / n as f64);
        if r == 0 {
            for (k, d) in slow {
                println!("call {k}: {:.2} ms", d as f64 / 1e6);
            }
        }
    }
    totals.sort_by(f64::total_cmp);
    println!(
        "{n} records in {BATCH}-record calls: median {:.2} ns/record CPU (min {:.2})",
        totals[totals.len() / 2],
        totals[0]
    );
}
