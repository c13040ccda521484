//! `len()` and a short `count` over a memtable of 150,000 records, in order
//! and with every 20th record late by 1–1,000 positions (`ooo_keys`):
//! the best of 50 calls each (session 28: `len` counts a memtable no delete
//! touched by its tickets, not by walking its late records).
//!
//! ```text
//! target/release/examples/lencount
//! ```

use std::hint::black_box;
use std::time::Instant;

use timelog::{Config, MaintenanceMode, Timelog};
use timelog_benches::{ooo_keys, ordered_keys, SEED};

fn best_of(f: impl Fn() -> usize) -> f64 {
    (0..50)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let n = 150_000;
    for (name, keys) in [("in order", ordered_keys(n)), ("5% late", ooo_keys(n, 5, SEED))] {
        let log = Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for &(ts, v) in &keys {
            let _ = log.append(ts, v).unwrap();
        }
        assert_eq!(log.len().unwrap(), n);
        let st = log.stats().unwrap();
        let len = best_of(|| log.len().unwrap());
        let count = best_of(|| log.count(50_000, 51_000).unwrap());
        println!(
            "{name}: {} sealed memtables, {} late records: len {:.2} us, count of 1,000 timestamps {:.2} us",
            st.sealed_runs,
            st.ooo_records,
            len * 1e6,
            count * 1e6
        );
    }
}
