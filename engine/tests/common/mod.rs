//! Setup shared by the read-path tests (`read_paths`, `histogram`,
//! `delete_reads`): a seeded generator, the reference model of the live
//! records, the small-memtable configuration and the ingest burst that
//! lays records out over every kind of source.

#![allow(dead_code)] // each test file uses part of it

use timelog::{Config, MaintenanceMode, Timelog};

/// xorshift64: seeded, deterministic, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Live records `(ts, payload)` in insertion order: the reference.
#[derive(Clone, Default)]
pub struct Model(pub Vec<(i64, u64)>);

impl Model {
    /// Sorted by timestamp; among equal ones, insertion order (a stable sort).
    pub fn sorted(&self) -> Vec<(i64, u64)> {
        let mut v = self.0.clone();
        v.sort_by_key(|r| r.0);
        v
    }
    /// `delete_range(a, b)`.
    pub fn delete(&mut self, a: i64, b: i64) {
        self.0.retain(|r| !(a <= r.0 && r.0 < b));
    }
}

/// Maintenance disabled, small memtables (many sealed ones and segments),
/// room for every sealed memtable, a window that makes several L1 segments.
pub fn small_config() -> Config {
    Config {
        maintenance: MaintenanceMode::Disabled,
        memtable_max_bytes: 64 << 10,
        sealed_max_runs: 1000,
        window_size: 20_000,
        ..Config::default()
    }
}

/// Appends 500 to 3,500 records at `*base`, which creeps up (long runs of
/// duplicates crossing blocks and pages, and jumps), one in `late_one_in`
/// of them late by up to 2,000; payloads count up from `*payload`.
pub fn burst(log: &Timelog<u64>, m: &mut Model, rng: &mut Rng, base: &mut i64, payload: &mut u64, late_one_in: u64) {
    let n = 500 + rng.below(3000);
    for _ in 0..n {
        let t = if rng.below(late_one_in) == 0 { *base - rng.below(2000) as i64 } else { *base };
        if rng.below(3) == 0 {
            *base += rng.below(3) as i64;
        } else if rng.below(50) == 0 {
            *base += 100;
        }
        *payload += 1;
        let _ = log.append(t, *payload).unwrap();
        m.0.push((t, *payload));
    }
}
