//! `timelog::Timelog<u64>` against three general-purpose ordered maps and a
//! plain `Vec`, all fed the same `(ts, seq)` keys (see `src/lib.rs`):
//!
//! | id | structure |
//! |---|---|
//! | `timelog` | `timelog::Timelog<u64>` (payload = `seq`), maintenance disabled unless stated |
//! | `skipmap` | `crossbeam_skiplist::SkipMap<(i64, u64), u64>` |
//! | `rwlock_btree` | `std::sync::RwLock<BTreeMap<(i64, u64), u64>>` |
//! | `scc_tree` | `scc::TreeIndex<(i64, u64), u64>` |
//! | `vec` | sorted `Vec<(i64, u64)>` (reference for scans, not a concurrent index) |
//!
//! Groups: `ingest_{ordered,ooo5,ooo20}` (`timelog_flush`: the appends
//! and then `flush()`), `scan_range1000`, `scan_full`,
//! `point`, `contains`, `next_ts`, `concurrent_{scan1000,point}`.
//!
//! The scan groups read each timelog state through the batch API
//! (`/batch`: `next_batch_with`), the `Iterator` API (`/iter`: a `for`
//! loop, i.e. `next`), `/fold` (full scans) and `/collect` (into a
//! `Vec`; `/desc/…`: the same in descending order, for `flushed` and
//! `memtable_ooo5`); `vec/pages_iter` is a `for` loop over `std`'s
//! `Flatten` of 4 096-record slices, the `Iterator` protocol's own cost
//! for data in spans; the states come in twins: in-order data and the same with 5%
//! late records (`memtable` / `memtable_ooo5`, `l0x8` / `l0x8_ooo5`).
//! `scan_range1000/timelog_memtable{,_ooo5}_live/batch` append one record
//! before each scan (read after write; every 20th record late in `_ooo5`;
//! a fresh log every 16,384 appends, its fill untimed).
//! `scan_range1000/timelog_memtable_ooo5_viewed/{batch,iter}`: the 5% late
//! memtable after one full scan (its merged view built), as in a log being read.
//! Short reads build that view too, in shares (R13 (5)), so the
//! `memtable_ooo5` rows read it once their warm-up built it;
//! `timelog_memtable_ooo5_first512/batch` is the mean of a fresh late
//! memtable's first 512 reads, the ones that build it.
//!
//! Run: `cargo bench -p timelog-benches --bench engine` (full) or
//! `... -- --quick` (CI smoke; a few seconds per group).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Barrier, RwLock};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput};
use crossbeam_skiplist::SkipMap;
use timelog::{Config, MaintenanceMode, Order, Timelog};
use timelog_benches::{ooo_keys, ordered_keys, random_ts, Cycle, MAX_BACK, SEED};

/// Records per ingest iteration and per pre-loaded structure.
const N: usize = 100_000;
/// Rows of a range scan.
const RANGE: i64 = 1_000;
/// Rows handed out per `next_batch_with` call.
const BATCH: usize = 1_024;
/// Reads of each fresh log in `scan_range1000/timelog_memtable_ooo5_first…`:
/// what short 1000-row reads took to build its merged view in shares with
/// session 20's cap (R13 (5): ~105,000 records, 256 per read); kept so the
/// row compares across sessions (since session 21 a share grows with the
/// read: since session 23 1,600 records here, and the view is built after
/// ~65 reads).
const FRESH_READS: u64 = 512;
/// Appends a log of the read-after-write rows (`_live`) takes before a
/// fresh one replaces it: 16% of `N`.
const LIVE_APPENDS: u64 = 16_384;
/// Appends per second of the paced writer in the concurrent groups.
const WRITER_RATE: u64 = 500_000;

// ---------------------------------------------------------------------------
// One interface over every structure.

trait Index: Sync {
    fn name(&self) -> &'static str;
    fn insert(&self, ts: i64, seq: u64);
    /// Visits `[t1, t2)` in key order; returns a checksum of what it saw.
    fn scan(&self, t1: i64, t2: i64) -> u64;
    /// Sum of the payloads at exactly `ts` (all `seq`s).
    fn point(&self, ts: i64) -> u64;
    fn contains(&self, ts: i64) -> bool;
    /// Smallest timestamp `> t`.
    fn next_ts(&self, t: i64) -> Option<i64>;
}

#[inline(always)]
fn mix(acc: u64, ts: i64, v: u64) -> u64 {
    acc.wrapping_add(ts as u64).wrapping_add(v)
}

fn disabled() -> Config {
    Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }
}

/// `Timelog` through its batch cursor path (`next_batch_with`).
struct Tl(Timelog<u64>);

impl Tl {
    fn new(cfg: Config) -> Self {
        Self(Timelog::with_config(cfg).expect("valid config"))
    }
}

impl Index for Tl {
    fn name(&self) -> &'static str {
        "timelog"
    }
    #[inline]
    fn insert(&self, ts: i64, seq: u64) {
        let _ = self.0.append(ts, seq).expect("append");
    }
    #[inline]
    fn scan(&self, t1: i64, t2: i64) -> u64 {
        let mut acc = 0u64;
        let mut f = |ts: i64, v: &u64| acc = mix(acc, ts, *v);
        let mut c = self.0.range(t1, t2, Order::Asc).expect("range");
        while c.next_batch_with(BATCH, &mut f) > 0 {}
        acc
    }
    #[inline]
    fn point(&self, ts: i64) -> u64 {
        let mut acc = 0u64;
        self.0.point_with(ts, |v| acc = acc.wrapping_add(*v)).expect("point");
        acc
    }
    #[inline]
    fn contains(&self, ts: i64) -> bool {
        self.0.contains(ts).expect("contains")
    }
    #[inline]
    fn next_ts(&self, t: i64) -> Option<i64> {
        self.0.next_ts(t).expect("next_ts")
    }
}

impl Index for SkipMap<(i64, u64), u64> {
    fn name(&self) -> &'static str {
        "skipmap"
    }
    #[inline]
    fn insert(&self, ts: i64, seq: u64) {
        SkipMap::insert(self, (ts, seq), seq);
    }
    #[inline]
    fn scan(&self, t1: i64, t2: i64) -> u64 {
        let mut acc = 0u64;
        for e in self.range((t1, 0)..(t2, 0)) {
            acc = mix(acc, e.key().0, *e.value());
        }
        acc
    }
    #[inline]
    fn point(&self, ts: i64) -> u64 {
        self.range((ts, 0)..=(ts, u64::MAX)).fold(0u64, |a, e| a.wrapping_add(*e.value()))
    }
    #[inline]
    fn contains(&self, ts: i64) -> bool {
        self.range((ts, 0)..=(ts, u64::MAX)).next().is_some()
    }
    #[inline]
    fn next_ts(&self, t: i64) -> Option<i64> {
        self.lower_bound(Bound::Included(&(t.checked_add(1)?, 0))).map(|e| e.key().0)
    }
}

impl Index for RwLock<BTreeMap<(i64, u64), u64>> {
    fn name(&self) -> &'static str {
        "rwlock_btree"
    }
    #[inline]
    fn insert(&self, ts: i64, seq: u64) {
        self.write().unwrap().insert((ts, seq), seq);
    }
    #[inline]
    fn scan(&self, t1: i64, t2: i64) -> u64 {
        let g = self.read().unwrap();
        let mut acc = 0u64;
        for (k, v) in g.range((t1, 0)..(t2, 0)) {
            acc = mix(acc, k.0, *v);
        }
        acc
    }
    #[inline]
    fn point(&self, ts: i64) -> u64 {
        self.read().unwrap().range((ts, 0)..=(ts, u64::MAX)).fold(0u64, |a, (_, v)| a.wrapping_add(*v))
    }
    #[inline]
    fn contains(&self, ts: i64) -> bool {
        self.read().unwrap().range((ts, 0)..=(ts, u64::MAX)).next().is_some()
    }
    #[inline]
    fn next_ts(&self, t: i64) -> Option<i64> {
        self.read().unwrap().range((t.checked_add(1)?, 0)..).next().map(|(k, _)| k.0)
    }
}

impl Index for scc::TreeIndex<(i64, u64), u64> {
    fn name(&self) -> &'static str {
        "scc_tree"
    }
    #[inline]
    fn insert(&self, ts: i64, seq: u64) {
        let _ = self.insert_sync((ts, seq), seq);
    }
    #[inline]
    fn scan(&self, t1: i64, t2: i64) -> u64 {
        let g = scc::Guard::new();
        let mut acc = 0u64;
        for (k, v) in self.range((t1, 0)..(t2, 0), &g) {
            acc = mix(acc, k.0, *v);
        }
        acc
    }
    #[inline]
    fn point(&self, ts: i64) -> u64 {
        let g = scc::Guard::new();
        self.range((ts, 0)..=(ts, u64::MAX), &g).fold(0u64, |a, (_, v)| a.wrapping_add(*v))
    }
    #[inline]
    fn contains(&self, ts: i64) -> bool {
        let g = scc::Guard::new();
        self.range((ts, 0)..=(ts, u64::MAX), &g).next().is_some()
    }
    #[inline]
    fn next_ts(&self, t: i64) -> Option<i64> {
        let g = scc::Guard::new();
        let t = t.checked_add(1)?;
        self.range((t, 0).., &g).next().map(|(k, _)| k.0)
    }
}

/// The sorted `Vec` reference (read-only).
struct SortedVec(Vec<(i64, u64)>);

impl SortedVec {
    fn new(mut keys: Vec<(i64, u64)>) -> Self {
        keys.sort_unstable();
        Self(keys)
    }
    #[inline]
    fn bounds(&self, t1: i64, t2: i64) -> &[(i64, u64)] {
        let a = self.0.partition_point(|r| r.0 < t1);
        let b = a + self.0[a..].partition_point(|r| r.0 < t2);
        &self.0[a..b]
    }
    #[inline]
    fn scan(&self, t1: i64, t2: i64) -> u64 {
        let mut acc = 0u64;
        for &(ts, v) in self.bounds(t1, t2) {
            acc = mix(acc, ts, v);
        }
        acc
    }
    /// The `Iterator` protocol's floor for data in spans: a `for` loop
    /// over `std`'s `Flatten` of 4 096-record slices (pages).
    #[inline]
    fn pages_scan(&self, t1: i64, t2: i64) -> u64 {
        let mut acc = 0u64;
        for &(ts, v) in self.bounds(t1, t2).chunks(4096).flatten() {
            acc = mix(acc, ts, v);
        }
        acc
    }
    #[inline]
    fn point(&self, ts: i64) -> u64 {
        self.bounds(ts, ts + 1).iter().fold(0u64, |a, r| a.wrapping_add(r.1))
    }
    #[inline]
    fn next_ts(&self, t: i64) -> Option<i64> {
        let i = self.0.partition_point(|r| r.0 <= t);
        self.0.get(i).map(|r| r.0)
    }
}

fn filled<I: Index>(idx: I, keys: &[(i64, u64)]) -> I {
    for &(ts, seq) in keys {
        idx.insert(ts, seq);
    }
    idx
}

fn skipmap() -> SkipMap<(i64, u64), u64> {
    SkipMap::new()
}
fn btree() -> RwLock<BTreeMap<(i64, u64), u64>> {
    RwLock::new(BTreeMap::new())
}
fn scc_tree() -> scc::TreeIndex<(i64, u64), u64> {
    scc::TreeIndex::new()
}

// ---------------------------------------------------------------------------
// Ingest.

fn ingest_one<I: Index>(g: &mut BenchmarkGroup<'_, WallTime>, id: &str, keys: &[(i64, u64)], make: impl Fn() -> I) {
    g.bench_function(id, |b| {
        b.iter_batched(
            &make,
            |idx| {
                for &(ts, seq) in keys {
                    idx.insert(ts, seq);
                }
                idx // dropped outside the timed section
            },
            BatchSize::PerIteration,
        )
    });
}

fn bench_ingest(c: &mut Criterion) {
    let cases = [
        ("ingest_ordered", ordered_keys(N)),
        ("ingest_ooo5", ooo_keys(N, 5, SEED)),
        ("ingest_ooo20", ooo_keys(N, 20, SEED)),
    ];
    for (name, keys) in &cases {
        let mut g = c.benchmark_group(*name);
        g.throughput(Throughput::Elements(N as u64))
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        ingest_one(&mut g, "timelog", keys, || Tl::new(disabled()));
        // The appends and then `flush()` (the memtable into an L0 segment):
        // the shape of the Python ingest rows, which include the flush.
        g.bench_function("timelog_flush", |b| {
            b.iter_batched(
                || Timelog::<u64>::with_config(disabled()).unwrap(),
                |log| {
                    for &(ts, seq) in keys.iter() {
                        let _ = log.append(ts, seq).expect("append");
                    }
                    log.flush().expect("flush");
                    log
                },
                BatchSize::PerIteration,
            )
        });
        if *name == "ingest_ordered" {
            // The bulk path, for reference: one `extend` call of all N records.
            g.bench_function("timelog_extend", |b| {
                b.iter_batched(
                    || Timelog::<u64>::with_config(disabled()).unwrap(),
                    |log| {
                        let _ = log.extend(keys.iter().map(|&(ts, seq)| (ts, seq))).unwrap();
                        log
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        ingest_one(&mut g, "skipmap", keys, skipmap);
        ingest_one(&mut g, "rwlock_btree", keys, btree);
        ingest_one(&mut g, "scc_tree", keys, scc_tree);
        if *name == "ingest_ordered" {
            g.bench_function("vec", |b| {
                b.iter_batched(
                    Vec::<(i64, u64)>::new,
                    |mut v| {
                        for &k in keys.iter() {
                            v.push(black_box(k));
                        }
                        v
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }
}

// ---------------------------------------------------------------------------
// Reads on pre-loaded structures (single thread).

struct Loaded {
    tl_flushed: Tl,
    tl_mem: Tl,
    tl_mem_ooo5: Tl,
    /// In-order keys flushed in `L0_PARTS` parts: disjoint L0 segments.
    tl_l0: Tl,
    /// The same with 5% late keys: L0 segments overlapping where a late
    /// record crossed a flush (the twin of `tl_l0`).
    tl_l0_ooo5: Tl,
    skipmap: SkipMap<(i64, u64), u64>,
    btree: RwLock<BTreeMap<(i64, u64), u64>>,
    scc: scc::TreeIndex<(i64, u64), u64>,
    vec: SortedVec,
}

/// Flushes of the `l0` logs while loading.
const L0_PARTS: usize = 8;

/// A log loaded with `keys`, flushed after every `N / L0_PARTS` of them.
fn l0_parts(keys: &[(i64, u64)]) -> Tl {
    let tl = Tl::new(disabled());
    for part in keys.chunks(N / L0_PARTS) {
        for &(ts, seq) in part {
            tl.insert(ts, seq);
        }
        tl.0.flush().unwrap();
    }
    tl
}

fn loaded() -> Loaded {
    let keys = ordered_keys(N);
    let tl_flushed = filled(Tl::new(disabled()), &keys);
    tl_flushed.0.flush().unwrap();
    let ooo5 = ooo_keys(N, 5, SEED);
    let l = Loaded {
        tl_flushed,
        tl_mem: filled(Tl::new(disabled()), &keys),
        tl_mem_ooo5: filled(Tl::new(disabled()), &ooo5),
        tl_l0: l0_parts(&keys),
        tl_l0_ooo5: l0_parts(&ooo5),
        skipmap: filled(skipmap(), &keys),
        btree: filled(btree(), &keys),
        scc: filled(scc_tree(), &keys),
        vec: SortedVec::new(keys),
    };
    let s = l.tl_flushed.0.stats().unwrap();
    assert_eq!((s.segments_l0, s.active_records), (1, 0), "flushed log: one L0 segment, empty memtable");
    let s = l.tl_mem.0.stats().unwrap();
    assert_eq!((s.segments_l0, s.active_records, s.ooo_records), (0, N, 0), "memtable log: all in the run");
    let s = l.tl_mem_ooo5.0.stats().unwrap();
    assert!(s.segments_l0 == 0 && s.ooo_records > 4_000, "ooo log: run + skiplist ({s:?})");
    for tl in [&l.tl_l0, &l.tl_l0_ooo5] {
        let s = tl.0.stats().unwrap();
        assert_eq!((s.segments_l0, s.active_records), (L0_PARTS, 0), "l0 logs: {L0_PARTS} L0 segments");
    }
    l
}

/// The timelog cases of the scan groups: in-order data and its twin with
/// 5% late records, flushed (one segment), in the memtable (run, or run +
/// skiplist) and in `L0_PARTS` L0 segments (disjoint, or overlapping).
fn scan_states(l: &Loaded) -> [(&'static str, &Tl); 5] {
    [
        ("flushed", &l.tl_flushed),
        ("memtable", &l.tl_mem),
        ("memtable_ooo5", &l.tl_mem_ooo5),
        ("l0x8", &l.tl_l0),
        ("l0x8_ooo5", &l.tl_l0_ooo5),
    ]
}

/// The states whose scans are also read in descending order (`/desc/…`).
const DESC_STATES: [&str; 2] = ["flushed", "memtable_ooo5"];

fn read_group<'a>(c: &'a mut Criterion, name: &str, elems: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elems))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

/// Criterion's `iter_custom` over fresh logs: a new one from `fresh`
/// (untimed) every `every` iterations, and `step(log, i, t)` timed, with
/// `i` the iteration and `t` the next range start of `starts`.
fn over_fresh_logs(
    b: &mut criterion::Bencher<'_, WallTime>,
    starts: &[i64],
    every: u64,
    fresh: impl Fn() -> Tl,
    step: impl Fn(&Tl, u64, i64),
) {
    b.iter_custom(|iters| {
        let mut cy = Cycle::default();
        let mut total = Duration::ZERO;
        let mut tl = None;
        for i in 0..iters {
            if i % every == 0 {
                drop(tl.take());
                tl = Some(fresh());
            }
            let tl = tl.as_ref().expect("filled above");
            let t = *cy.next(starts);
            let t0 = Instant::now();
            step(tl, i, t);
            total += t0.elapsed();
        }
        total
    })
}

fn bench_scans(c: &mut Criterion) {
    let l = loaded();
    let starts = random_ts(4_096, N as i64 - RANGE, SEED ^ 1);
    // Every structure must see the same rows.
    let expect = l.vec.scan(starts[0], starts[0] + RANGE);
    for idx in [&l.tl_flushed as &dyn Index, &l.tl_mem, &l.tl_l0, &l.skipmap, &l.btree, &l.scc] {
        assert_eq!(idx.scan(starts[0], starts[0] + RANGE), expect, "{}", idx.name());
    }

    // --- ~1000-row ranges.
    let mut g = read_group(c, "scan_range1000", RANGE as u64);
    let range_case = |g: &mut BenchmarkGroup<'_, WallTime>, id: &str, f: &dyn Fn(i64, i64) -> u64| {
        g.bench_function(id, |b| {
            let mut cy = Cycle::default();
            b.iter(|| {
                let t = *cy.next(&starts);
                f(t, t + RANGE)
            })
        });
    };
    range_case(&mut g, "vec", &|a, b| l.vec.scan(a, b));
    range_case(&mut g, "vec/collect", &|a, b| l.vec.bounds(a, b).to_vec().len() as u64);
    range_case(&mut g, "vec/pages_iter", &|a, b| l.vec.pages_scan(a, b));
    for (state, tl) in scan_states(&l) {
        range_case(&mut g, &format!("timelog_{state}/batch"), &|a, b| tl.scan(a, b));
        range_case(&mut g, &format!("timelog_{state}/iter"), &|a, b| {
            let mut acc = 0;
            for (ts, v) in tl.0.range(a, b, Order::Asc).unwrap() {
                acc = mix(acc, ts, v);
            }
            acc
        });
        range_case(&mut g, &format!("timelog_{state}/collect"), &|a, b| {
            tl.0.range(a, b, Order::Asc).unwrap().collect::<Vec<_>>().len() as u64
        });
        if DESC_STATES.contains(&state) {
            range_case(&mut g, &format!("timelog_{state}/desc/batch"), &|a, b| {
                let mut acc = 0u64;
                let mut f = |ts: i64, v: &u64| acc = mix(acc, ts, *v);
                let mut c = tl.0.range(a, b, Order::Desc).unwrap();
                while c.next_batch_with(BATCH, &mut f) > 0 {}
                acc
            });
            range_case(&mut g, &format!("timelog_{state}/desc/iter"), &|a, b| {
                let mut acc = 0;
                for (ts, v) in tl.0.range(a, b, Order::Desc).unwrap() {
                    acc = mix(acc, ts, v);
                }
                acc
            });
            range_case(&mut g, &format!("timelog_{state}/desc/collect"), &|a, b| {
                tl.0.range(a, b, Order::Desc).unwrap().collect::<Vec<_>>().len() as u64
            });
        }
    }
    // Read after write: one append before each scan (every 20th record
    // late by up to 1,000 in the `_ooo5` twin), so a memtable's merged view
    // (R13) is read with newer records beside it. A log takes
    // `LIVE_APPENDS` appends, then a fresh one is filled and scanned once,
    // untimed (which builds the `_ooo5` twin's view): its memtable grows by
    // 16%, so one view serves every read of the row (its rebuilds are what
    // `_first512` measures), and the memtable is never sealed — left to
    // run, criterion's millions of iterations would seal it after ~75,000
    // appends and every ~175,000 after that, and the row would read a
    // sealed memtable beside a growing list of them.
    for (state, late) in [("memtable_live", false), ("memtable_ooo5_live", true)] {
        let keys = if late { ooo_keys(N, 5, SEED) } else { ordered_keys(N) };
        let fresh = || {
            let tl = filled(Tl::new(disabled()), &keys);
            black_box(tl.scan(i64::MIN, i64::MAX));
            tl
        };
        g.bench_function(format!("timelog_{state}/batch"), |b| {
            over_fresh_logs(b, &starts, LIVE_APPENDS, fresh, |tl, i, t| {
                let k = N as i64 + (i % LIVE_APPENDS) as i64;
                let ts = if late && k % 20 == 7 { k - 1 - (k * 37) % MAX_BACK as i64 } else { k };
                tl.insert(ts, k as u64 + 1);
                black_box(tl.scan(t, t + RANGE));
            })
        });
    }
    // A log that is being read: the 5% late memtable after one full scan,
    // which built its merged view (R13) at once; the short ranges read
    // through it. Own log (`memtable_ooo5` above is a memtable only short
    // reads have read: its view built by their shares).
    let tl_viewed = filled(Tl::new(disabled()), &ooo_keys(N, 5, SEED));
    let _ = tl_viewed.scan(i64::MIN, i64::MAX);
    range_case(&mut g, "timelog_memtable_ooo5_viewed/batch", &|a, b| tl_viewed.scan(a, b));
    range_case(&mut g, "timelog_memtable_ooo5_viewed/iter", &|a, b| {
        let mut acc = 0;
        for (ts, v) in tl_viewed.0.range(a, b, Order::Asc).unwrap() {
            acc = mix(acc, ts, v);
        }
        acc
    });
    // A fresh 5% late memtable's first reads: short reads build its merged
    // view in shares (R13 (5)), so `memtable_ooo5` above is measured with
    // the view its warm-up reads built; this row is the mean of the first
    // `FRESH_READS` reads of a new log each (the build and the reads that
    // pay for it), the log's fill untimed.
    let ooo5 = ooo_keys(N, 5, SEED);
    g.bench_function(format!("timelog_memtable_ooo5_first{FRESH_READS}/batch"), |b| {
        over_fresh_logs(
            b,
            &starts,
            FRESH_READS,
            || filled(Tl::new(disabled()), &ooo5),
            |tl, _, t| {
                black_box(tl.scan(t, t + RANGE));
            },
        )
    });
    range_case(&mut g, "skipmap", &|a, b| l.skipmap.scan(a, b));
    range_case(&mut g, "rwlock_btree", &|a, b| l.btree.scan(a, b));
    range_case(&mut g, "scc_tree", &|a, b| l.scc.scan(a, b));
    g.finish();

    // --- Full scans.
    let mut g = read_group(c, "scan_full", N as u64);
    g.sample_size(30);
    let (lo, hi) = (i64::MIN, i64::MAX);
    g.bench_function("vec", |b| b.iter(|| l.vec.scan(lo, hi)));
    g.bench_function("vec/collect", |b| b.iter(|| l.vec.bounds(lo, hi).to_vec().len() as u64));
    g.bench_function("vec/pages_iter", |b| b.iter(|| l.vec.pages_scan(lo, hi)));
    for (state, tl) in scan_states(&l) {
        g.bench_function(format!("timelog_{state}/batch"), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                let mut f = |ts: i64, v: &u64| acc = mix(acc, ts, *v);
                let mut cur = tl.0.all(Order::Asc).unwrap();
                while cur.next_batch_with(BATCH, &mut f) > 0 {}
                acc
            })
        });
        g.bench_function(format!("timelog_{state}/iter"), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for (ts, v) in tl.0.all(Order::Asc).unwrap() {
                    acc = mix(acc, ts, v);
                }
                acc
            })
        });
        g.bench_function(format!("timelog_{state}/fold"), |b| {
            b.iter(|| tl.0.all(Order::Asc).unwrap().fold(0u64, |a, (ts, v)| mix(a, ts, v)))
        });
        g.bench_function(format!("timelog_{state}/collect"), |b| {
            b.iter(|| tl.0.all(Order::Asc).unwrap().collect::<Vec<_>>().len() as u64)
        });
        if DESC_STATES.contains(&state) {
            g.bench_function(format!("timelog_{state}/desc/batch"), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    let mut f = |ts: i64, v: &u64| acc = mix(acc, ts, *v);
                    let mut cur = tl.0.all(Order::Desc).unwrap();
                    while cur.next_batch_with(BATCH, &mut f) > 0 {}
                    acc
                })
            });
            g.bench_function(format!("timelog_{state}/desc/iter"), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for (ts, v) in tl.0.all(Order::Desc).unwrap() {
                        acc = mix(acc, ts, v);
                    }
                    acc
                })
            });
            g.bench_function(format!("timelog_{state}/desc/fold"), |b| {
                b.iter(|| tl.0.all(Order::Desc).unwrap().fold(0u64, |a, (ts, v)| mix(a, ts, v)))
            });
            g.bench_function(format!("timelog_{state}/desc/collect"), |b| {
                b.iter(|| tl.0.all(Order::Desc).unwrap().collect::<Vec<_>>().len() as u64)
            });
        }
    }
    g.bench_function("skipmap", |b| b.iter(|| l.skipmap.iter().fold(0u64, |a, e| mix(a, e.key().0, *e.value()))));
    g.bench_function("rwlock_btree", |b| {
        b.iter(|| l.btree.read().unwrap().iter().fold(0u64, |a, (k, v)| mix(a, k.0, *v)))
    });
    g.bench_function("scc_tree", |b| {
        b.iter(|| {
            let guard = scc::Guard::new();
            l.scc.iter(&guard).fold(0u64, |a, (k, v)| mix(a, k.0, *v))
        })
    });
    g.finish();

    // --- Point reads, contains, next_ts (random existing timestamps).
    let probes = random_ts(4_096, N as i64, SEED ^ 2);
    let peers: [&dyn Index; 3] = [&l.skipmap, &l.btree, &l.scc];
    let tls = [("flushed", &l.tl_flushed), ("memtable", &l.tl_mem), ("memtable_ooo5", &l.tl_mem_ooo5)];
    type Op<'x> = &'x dyn Fn(&dyn Index, i64) -> u64;
    type VecOp<'x> = Option<&'x dyn Fn(&SortedVec, i64) -> u64>;
    let ops: [(&str, Op<'_>, VecOp<'_>); 3] = [
        ("point", &|i, t| i.point(t), Some(&|v, t| v.point(t))),
        ("contains", &|i, t| i.contains(t) as u64, None),
        ("next_ts", &|i, t| i.next_ts(t).unwrap_or(0) as u64, Some(&|v, t| v.next_ts(t).unwrap_or(0) as u64)),
    ];
    for (name, op, vec_op) in ops {
        let mut g = read_group(c, name, 1);
        let mut case = |id: String, f: &dyn Fn(i64) -> u64| {
            g.bench_function(id, |b| {
                let mut cy = Cycle::default();
                b.iter(|| f(*cy.next(&probes)))
            });
        };
        if let Some(vop) = vec_op {
            case("vec".into(), &|t| vop(&l.vec, t));
        }
        for (state, tl) in tls {
            case(format!("timelog_{state}"), &|t| op(tl, t));
        }
        for p in peers {
            case(p.name().into(), &|t| op(p, t));
        }
        g.finish();
    }
}

// ---------------------------------------------------------------------------
// Two readers, one paced writer.

#[derive(Clone, Copy, PartialEq)]
enum ReadOp {
    Scan,
    Point,
}

/// Runs `iters` reads on each of 2 reader threads while a writer appends
/// at `WRITER_RATE`; returns the readers' wall time (first start to last end).
fn run_concurrent<I: Index>(
    idx: &I,
    next: &AtomicU64,
    appended: &AtomicU64,
    iters: u64,
    op: ReadOp,
    inputs: &[Vec<i64>; 2],
) -> Duration {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            barrier.wait();
            let t0 = Instant::now();
            let mut done = 0u64;
            while !stop.load(Relaxed) {
                let due = (t0.elapsed().as_nanos() * WRITER_RATE as u128 / 1_000_000_000) as u64;
                if done >= due {
                    std::thread::sleep(Duration::from_micros(50));
                    continue;
                }
                let k = (due - done).min(256);
                for _ in 0..k {
                    let i = next.fetch_add(1, Relaxed);
                    idx.insert(i as i64, i + 1);
                }
                done += k;
            }
            appended.fetch_add(done, Relaxed);
        });
        let readers: Vec<_> = inputs
            .iter()
            .map(|inp| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let t0 = Instant::now();
                    let mut cy = Cycle::default();
                    let mut acc = 0u64;
                    for _ in 0..iters {
                        let t = *cy.next(inp);
                        acc = acc.wrapping_add(match op {
                            ReadOp::Scan => idx.scan(t, t + RANGE),
                            ReadOp::Point => idx.point(t),
                        });
                    }
                    black_box(acc);
                    (t0, Instant::now())
                })
            })
            .collect();
        let times: Vec<_> = readers.into_iter().map(|h| h.join().unwrap()).collect();
        stop.store(true, Relaxed);
        writer.join().unwrap();
        let start = times.iter().map(|t| t.0).min().unwrap();
        let end = times.iter().map(|t| t.1).max().unwrap();
        end - start
    })
}

fn concurrent_case<I: Index>(g: &mut BenchmarkGroup<'_, WallTime>, idx: I, op: ReadOp, inputs: &[Vec<i64>; 2]) {
    let next = AtomicU64::new(N as u64);
    let appended = AtomicU64::new(0);
    let wall = std::cell::Cell::new(Duration::ZERO);
    g.bench_function(idx.name(), |b| {
        b.iter_custom(|iters| {
            let d = run_concurrent(&idx, &next, &appended, iters, op, inputs);
            wall.set(wall.get() + d);
            d
        })
    });
    let secs = wall.get().as_secs_f64();
    if secs > 0.0 {
        eprintln!(
            "    [{}] writer appended {} records during reads: {:.0}/s (target {WRITER_RATE}/s)",
            idx.name(),
            appended.load(Relaxed),
            appended.load(Relaxed) as f64 / secs
        );
    }
}

fn bench_concurrent(c: &mut Criterion) {
    let keys = ordered_keys(N);
    for (name, op) in [("concurrent_scan1000", ReadOp::Scan), ("concurrent_point", ReadOp::Point)] {
        let hi = if op == ReadOp::Scan { N as i64 - RANGE } else { N as i64 };
        let inputs = [random_ts(4_096, hi, SEED ^ 3), random_ts(4_096, hi, SEED ^ 4)];
        let mut g = c.benchmark_group(name);
        // One iteration = one read on each of the 2 readers.
        g.throughput(Throughput::Elements(2))
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        // Background maintenance ON here: the writer keeps appending, and
        // without it sealed memtables would pile up unflushed.
        let tl = filled(Tl::new(Config::default()), &keys);
        tl.0.flush().unwrap();
        concurrent_case(&mut g, tl, op, &inputs);
        concurrent_case(&mut g, filled(skipmap(), &keys), op, &inputs);
        concurrent_case(&mut g, filled(btree(), &keys), op, &inputs);
        concurrent_case(&mut g, filled(scc_tree(), &keys), op, &inputs);
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default().without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_ingest, bench_scans, bench_concurrent
}
criterion_main!(benches);
