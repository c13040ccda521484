//! The memtable's out-of-order index on its own: our insert-only arena
//! skiplist (`timelog::bench_internals::OooIndex`, `engine/src/memtable/ooo.rs`)
//! against crossbeam-skiplist (`SkipMap`, what the memtable used before),
//! both fed the same `(ts, seq)` keys with `u64` payloads (issue 13, item 1).
//!
//! | group | what |
//! |---|---|
//! | `skiplist_insert/{ooo5,ooo20}_{near,far}` | 100,000 inserts, 5% / 20% of them late by 1–8 positions (`near`) or by up to 50,000 (`far`) |
//! | `skiplist_scan/…` | a full ascending scan of a loaded index |
//! | `skiplist_point/…` | 1,000 point lookups (every record at one `ts`) of random timestamps |
//!
//! Every key goes into the index here (in the engine only the late records
//! do, the others go to the memtable's run): this measures the structure.
//!
//! Run: `cargo bench -p timelog-benches --bench skiplist` (full) or
//! `... -- --quick` (a few seconds per group).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use crossbeam_skiplist::SkipMap;
use timelog::bench_internals::OooIndex;
use timelog_benches::{random_ts, Rng, SEED};

const N: usize = 100_000;
const POINTS: usize = 1_000;

/// `n` keys, `pct`% of them late: every `100 / pct`-th record goes back a
/// random distance in `[1, back]` from where it would have been.
fn late_keys(n: usize, pct: u32, back: u64) -> Vec<(i64, u64)> {
    let k = (100 / pct) as usize;
    let mut rng = Rng::new(SEED ^ pct as u64 ^ back);
    (0..n)
        .map(|i| {
            let ts = if i > 0 && i % k == 0 { (i as i64 - rng.range(1, back) as i64).max(0) } else { i as i64 };
            (ts, i as u64 + 1)
        })
        .collect()
}

fn cases() -> Vec<(&'static str, Vec<(i64, u64)>)> {
    vec![
        ("ooo5_near", late_keys(N, 5, 8)),
        ("ooo5_far", late_keys(N, 5, 50_000)),
        ("ooo20_near", late_keys(N, 20, 8)),
        ("ooo20_far", late_keys(N, 20, 50_000)),
    ]
}

fn ours(keys: &[(i64, u64)]) -> OooIndex<u64> {
    let o = OooIndex::new();
    for &(ts, seq) in keys {
        o.insert(ts, seq, seq);
    }
    o
}

fn theirs(keys: &[(i64, u64)]) -> SkipMap<(i64, u64), u64> {
    let m = SkipMap::new();
    for &(ts, seq) in keys {
        m.insert((ts, seq), seq);
    }
    m
}

fn bench_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("skiplist_insert");
    g.throughput(Throughput::Elements(N as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, keys) in cases() {
        g.bench_function(format!("{name}/ours"), |b| b.iter_batched(|| (), |()| ours(&keys), BatchSize::PerIteration));
        g.bench_function(format!("{name}/crossbeam"), |b| {
            b.iter_batched(|| (), |()| theirs(&keys), BatchSize::PerIteration)
        });
    }
    g.finish();
}

fn bench_reads(c: &mut Criterion) {
    let points = random_ts(POINTS, N as i64, SEED);
    let mut scan = c.benchmark_group("skiplist_scan");
    scan.throughput(Throughput::Elements(N as u64)).sample_size(20).measurement_time(Duration::from_secs(3));
    let loaded: Vec<_> = cases().into_iter().map(|(name, keys)| (name, ours(&keys), theirs(&keys))).collect();
    for (name, o, m) in &loaded {
        scan.bench_function(format!("{name}/ours"), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                o.range(i64::MIN, i64::MAX, |ts, _, v| {
                    acc = acc.wrapping_add(ts as u64).wrapping_add(*v);
                    true
                });
                acc
            })
        });
        scan.bench_function(format!("{name}/crossbeam"), |b| {
            b.iter(|| m.iter().fold(0u64, |a, e| a.wrapping_add(e.key().0 as u64).wrapping_add(*e.value())))
        });
    }
    scan.finish();
    let mut point = c.benchmark_group("skiplist_point");
    point.throughput(Throughput::Elements(POINTS as u64)).sample_size(20).measurement_time(Duration::from_secs(3));
    for (name, o, m) in &loaded {
        point.bench_function(format!("{name}/ours"), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for &t in &points {
                    o.range(t, t, |_, _, v| {
                        acc = acc.wrapping_add(*v);
                        true
                    });
                }
                acc
            })
        });
        point.bench_function(format!("{name}/crossbeam"), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for &t in &points {
                    for e in m.range((t, 0)..=(t, u64::MAX)) {
                        acc = acc.wrapping_add(*e.value());
                    }
                }
                black_box(acc)
            })
        });
    }
    point.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_insert, bench_reads
}
criterion_main!(benches);
