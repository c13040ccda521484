//! Wall time of a writer under `busy_policy = Flush` with the background
//! worker (session 28: the writer's help waits for the maintainer lock from
//! the second busy help in a row): 1,000,000 in-order appends with a
//! sliding window of 20,000 records (`delete_before` every 1,000 appends),
//! 64 KiB memtables (a seal every ~2,700 records), payloads `u64`. Prints
//! the wall time per append and the most records stored at any of the 100
//! samples.
//!
//! ```text
//! target/release/examples/flushhelp 5     # repeats; prints each and the median
//! ```

use std::time::Instant;

use timelog::{BusyPolicy, Config, Timelog};

fn run() -> (f64, usize) {
    let log: Timelog<u64> = Timelog::with_config(Config {
        memtable_max_bytes: 64 << 10,
        busy_policy: BusyPolicy::Flush,
        ..Config::default()
    })
    .unwrap();
    let (n, window) = (1_000_000i64, 20_000i64);
    let mut max = 0;
    let t0 = Instant::now();
    for t in 0..n {
        let _ = log.append(t, t as u64).unwrap();
        if (t + 1) % 1_000 == 0 && t + 1 > window {
            let _ = log.delete_before(t + 1 - window).unwrap();
        }
        if (t + 1) % 10_000 == 0 {
            max = max.max(log.stats().unwrap().records_stored);
        }
    }
    let ns = t0.elapsed().as_nanos() as f64 / n as f64;
    log.close().unwrap();
    (ns, max)
}

fn main() {
    let reps: usize = std::env::args().nth(1).map_or(5, |a| a.parse().expect("repeats"));
    let mut v: Vec<(f64, usize)> = (0..reps).map(|_| run()).collect();
    for (ns, max) in &v {
        println!("{ns:.1} ns/append, max stored {max}");
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("median {:.1} ns/append", v[reps / 2].0);
}
