//! Reads under heavy, nested and overlapping deletes: every one-shot read
//! (`point`, `contains`, `next_ts`, `prev_ts`, `count`, `len`, `min_ts`,
//! `max_ts`) and cursors in both orders, over each kind of source (L1, L0,
//! a sealed memtable, the active memtable's in-order run and its
//! out-of-order skiplist), on the live log and on snapshots taken between
//! the deletes, against a reference list.
//!
//! With the `test-hooks` feature (`cargo test -p timelog --release
//! --features test-hooks --test delete_reads`) the same reads are also
//! bounded by the engine's count of records visited per read
//! (`timelog::hooks::take_visited`): what the read returns plus
//! `O(sources × log n)`, whatever was deleted — reads seek past covered
//! stretches instead of walking deleted records.
//!
//! `timing` (ignored; `-- --ignored --nocapture`) prints the cost of the
//! reads after a sliding-window delete stream against a fresh log holding
//! the same live records.

mod common;

use common::{Model, Rng};
use timelog::{Config, MaintenanceMode, Order, Snapshot, Timelog};

/// Where the records live when the deletes arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    L1,
    L0,
    /// In sealed memtables (maintenance disabled, small memtables).
    Sealed,
    /// The active memtable's in-order run.
    Run,
    /// The active memtable's skiplist (descending appends).
    Ooo,
}

const LAYOUTS: [Layout; 5] = [Layout::L1, Layout::L0, Layout::Sealed, Layout::Run, Layout::Ooo];

fn config(layout: Layout) -> Config {
    Config {
        maintenance: MaintenanceMode::Disabled,
        memtable_max_bytes: if layout == Layout::Sealed { 64 << 10 } else { 64 << 20 },
        ooo_budget_bytes: 64 << 20,
        sealed_max_runs: 1_000,
        window_size: 4_000,
        ..Config::default()
    }
}

/// `n` records: timestamps `0..n` with every 5th one doubled (equal
/// timestamps in insertion order), laid out as `layout`.
fn build(layout: Layout, n: i64) -> (Timelog<u64>, Model) {
    let log: Timelog<u64> = Timelog::with_config(config(layout)).unwrap();
    let mut m = Model::default();
    let mut p = 0u64;
    let mut put = |t: i64, m: &mut Model| {
        p += 1;
        let _ = log.append(t, p).unwrap();
        m.0.push((t, p));
    };
    if layout == Layout::Ooo {
        // The first append opens the run; every later, smaller timestamp
        // goes to the skiplist.
        for t in (0..n).rev() {
            put(t, &mut m);
            if t % 5 == 0 {
                put(t, &mut m);
            }
        }
    } else {
        for t in 0..n {
            put(t, &mut m);
            if t % 5 == 0 {
                put(t, &mut m);
            }
        }
    }
    match layout {
        Layout::L1 => {
            log.flush().unwrap();
            log.compact().unwrap();
        }
        Layout::L0 => log.flush().unwrap(),
        _ => {}
    }
    (log, m)
}

/// The delete patterns, each a list of `[a, b)` ranges applied in order.
#[derive(Clone, Copy, Debug)]
enum Pattern {
    /// One range over all but the ends.
    Heavy,
    /// A sliding retention window: `[0, x)` with `x` growing (each covers
    /// the previous), plus nested ranges inside the live part.
    Nested,
    /// Random overlapping ranges and point deletes.
    Overlapping,
}

const PATTERNS: [Pattern; 3] = [Pattern::Heavy, Pattern::Nested, Pattern::Overlapping];

fn deletes(p: Pattern, n: i64, rng: &mut Rng) -> Vec<(i64, i64)> {
    match p {
        Pattern::Heavy => vec![(n / 50, n - n / 50)],
        Pattern::Nested => {
            let mut v: Vec<(i64, i64)> = (1..=300).map(|k| (0, k * (n * 2 / 3) / 300)).collect();
            // Nested ranges inside the surviving third, outermost last.
            let (lo, hi) = (n * 2 / 3 + 10, n - 10);
            for k in (1..30).rev() {
                v.push((lo + k * 7, hi - k * 7));
            }
            v
        }
        Pattern::Overlapping => (0..300)
            .map(|i| {
                if i % 4 == 0 {
                    let t = rng.below(n as u64) as i64;
                    (t, t + 1)
                } else {
                    let a = rng.below(n as u64) as i64;
                    (a, a + 1 + rng.below(n as u64 / 20) as i64)
                }
            })
            .collect(),
    }
}

/// Per-read bound on the visited-records counter (test-hooks only).
struct Bound {
    /// Segments (a seek in one counts as one visit).
    segs: u64,
    /// Memtable sources (run and skiplist of each memtable): a binary
    /// search over a run counts each probe.
    mems: u64,
    /// `log2(records)`, rounded up.
    log: u64,
}

impl Bound {
    fn of(log: &Timelog<u64>, records: usize) -> Self {
        let s = log.stats().unwrap();
        Self {
            segs: (s.segments_l0 + s.segments_l1) as u64,
            mems: 2 * (s.sealed_runs + 1) as u64,
            log: (usize::BITS - records.max(2).leading_zeros()) as u64,
        }
    }
    /// A constant number of seeks per source.
    fn seeks(&self) -> u64 {
        K * (self.segs + self.mems * (self.log + 1))
    }
    /// A cursor's share of building the merged views of the memtables it
    /// planned without one (R13 (5)), counted apart from the read's own
    /// visits ([`helped`]): per memtable, a constant factor of the late
    /// records the read collected there itself — at most its own `visited`.
    fn help(&self, visited: u64) -> u64 {
        self.mems / 2 * help_visits(visited)
    }
    /// `returned` records plus a constant number of seeks per source, and
    /// the read's share of building views within [`help`](Self::help).
    fn check(&self, what: &str, visited: u64, returned: usize) {
        let h = helped();
        let hb = self.help(visited);
        assert!(h <= hb, "{what}: visited {h} records building merged views, bound {hb} (own visits {visited})");
        let limit = returned as u64 + self.seeks();
        assert!(
            visited <= limit,
            "{what}: visited {visited} records, bound {limit} (returned {returned}, {} segments, {} memtable sources, log n = {})",
            self.segs,
            self.mems,
            self.log
        );
    }
}

/// Seeks allowed per source and read.
const K: u64 = 6;

/// Records a read that visited `late` late records of a memtable may visit
/// for its share of building that memtable's merged view (R13 (5)).
#[cfg(feature = "test-hooks")]
fn help_visits(late: u64) -> u64 {
    timelog::hooks::view_help_visits(late)
}
#[cfg(not(feature = "test-hooks"))]
fn help_visits(_: u64) -> u64 {
    0
}

#[cfg(feature = "test-hooks")]
fn visited() -> u64 {
    timelog::hooks::take_visited()
}

/// What the last [`counted`] read visited for its share of building
/// merged views (R13 (5)), apart from its own visits.
#[cfg(feature = "test-hooks")]
fn helped() -> u64 {
    HELPED.with(std::cell::Cell::get)
}
#[cfg(not(feature = "test-hooks"))]
fn helped() -> u64 {
    0
}
#[cfg(feature = "test-hooks")]
thread_local! {
    static HELPED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Runs `f` and returns its result and the records it visited (0 without
/// the `test-hooks` feature, where the bound is not checked); what it
/// visited building merged views goes to [`helped`].
fn counted<R>(f: impl FnOnce() -> R) -> (R, Option<u64>) {
    #[cfg(feature = "test-hooks")]
    {
        visited();
        timelog::hooks::take_helped();
        let r = f();
        HELPED.with(|c| c.set(timelog::hooks::take_helped()));
        (r, Some(visited()))
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        (f(), None)
    }
}

/// Every read of `snap` against `model`; with `bound`, each read's visited
/// records are bounded (the count and len bounds allow one seek pair per
/// covered stretch the range crosses: `stretches`).
fn check(snap: &Snapshot<u64>, model: &Model, rng: &mut Rng, n: i64, bound: Option<(&Bound, usize)>) {
    let sorted = model.sorted();
    // The first read after a delete builds the view's coverage (and caches
    // it with the manifest); later ones reuse it.
    let _ = snap.min_ts();
    let b = |what: &str, v: Option<u64>, returned: usize| {
        if let (Some((bd, _)), Some(v)) = (bound, v) {
            bd.check(what, v, returned);
        }
    };
    for i in 0..120 {
        let t = if i < 20 { i * (n / 20) } else { rng.below(n as u64 + 20) as i64 - 10 };
        let expect: Vec<u64> = model.0.iter().filter(|r| r.0 == t).map(|r| r.1).collect();
        let mut got = Vec::new();
        let (k, v) = counted(|| snap.point_with(t, |x| got.push(*x)));
        assert_eq!(k, expect.len(), "point count {t}");
        assert_eq!(got, expect, "point {t}");
        b(&format!("point({t})"), v, k);
        let (c, v) = counted(|| snap.contains(t));
        assert_eq!(c, !expect.is_empty(), "contains {t}");
        b(&format!("contains({t})"), v, 1);
        let next = sorted.iter().map(|r| r.0).find(|&x| x > t);
        let prev = sorted.iter().rev().map(|r| r.0).find(|&x| x < t);
        let (x, v) = counted(|| snap.next_ts(t));
        assert_eq!(x, next, "next_ts {t}");
        b(&format!("next_ts({t})"), v, 1);
        let (x, v) = counted(|| snap.prev_ts(t));
        assert_eq!(x, prev, "prev_ts {t}");
        b(&format!("prev_ts({t})"), v, 1);
        let k = rng.below(60) as i64;
        let want: Vec<(i64, u64)> = sorted.iter().copied().filter(|r| t <= r.0 && r.0 < t + k).collect();
        let (asc, v) = counted(|| snap.range(t, t + k, Order::Asc).collect::<Vec<_>>());
        assert_eq!(asc, want, "range [{t}, {})", t + k);
        b(&format!("range asc [{t}, {})", t + k), v, asc.len());
        let (mut desc, v) = counted(|| snap.range(t, t + k, Order::Desc).collect::<Vec<_>>());
        b(&format!("range desc [{t}, {})", t + k), v, desc.len());
        desc.reverse();
        assert_eq!(desc, want, "range desc [{t}, {})", t + k);
        // The first rows of an unbounded range from `t`, both orders.
        let (first, v) = counted(|| snap.since(t, Order::Asc).take(3).map(|r| r.0).collect::<Vec<_>>());
        assert_eq!(first, sorted.iter().filter(|r| r.0 >= t).take(3).map(|r| r.0).collect::<Vec<_>>());
        // Planning an unbounded cursor seeks through every covered stretch up
        // to the end of the data: bounded like `count`.
        if let (Some((bd, stretches)), Some(v)) = (bound, v) {
            assert!(v <= 3 + bd.seeks() * (stretches as u64 + 1), "since({t}).take(3): visited {v}");
            assert!(helped() <= bd.help(v), "since({t}).take(3): helped {}", helped());
        }
        let (c, v) = counted(|| snap.count(t, t + k));
        assert_eq!(c, want.len(), "count [{t}, {})", t + k);
        if let (Some((bd, stretches)), Some(v)) = (bound, v) {
            // Counting subtracts covered position ranges (two seeks each).
            assert!(v <= bd.seeks() * (stretches as u64 + 1), "count [{t}, {}): visited {v}", t + k);
        }
    }
    let (x, v) = counted(|| snap.min_ts());
    assert_eq!(x, sorted.first().map(|r| r.0));
    b("min_ts", v, 1);
    let (x, v) = counted(|| snap.max_ts());
    assert_eq!(x, sorted.last().map(|r| r.0));
    b("max_ts", v, 1);
    let (l, v) = counted(|| snap.len());
    assert_eq!(l, sorted.len());
    if let (Some((bd, stretches)), Some(v)) = (bound, v) {
        assert!(v <= bd.seeks() * (stretches as u64 + 1), "len: visited {v}");
    }
    let all: Vec<_> = snap.all(Order::Asc).collect();
    assert_eq!(all, sorted);
    let mut back: Vec<_> = snap.all(Order::Desc).collect();
    back.reverse();
    assert_eq!(back, sorted);
}

/// Number of maximal covered stretches of `ranges` (an upper bound on the
/// seeks a count makes per source).
fn stretches(ranges: &[(i64, i64)]) -> usize {
    let mut v: Vec<(i64, i64)> = ranges.iter().copied().filter(|r| r.0 < r.1).collect();
    v.sort();
    let mut n = 0;
    let mut end = i64::MIN;
    for (a, b) in v {
        if a > end {
            n += 1;
        }
        end = end.max(b);
    }
    // Newer tombstones split older ones' pieces: allow each range its own piece.
    n + ranges.len()
}

fn scenario(layout: Layout, pattern: Pattern, seed: u64) {
    let n = 6_000i64;
    let (log, mut model) = build(layout, n);
    let records = model.0.len();
    let mut rng = Rng(seed);
    let ranges = deletes(pattern, n, &mut rng);
    let half = ranges.len() / 2;
    let mut snaps: Vec<(Snapshot<u64>, Model)> = Vec::new();
    for (i, &(a, b)) in ranges.iter().enumerate() {
        let _ = log.delete_range(a, b).unwrap();
        model.delete(a, b);
        if i + 1 == half {
            snaps.push((log.snapshot().unwrap(), model.clone()));
        }
    }
    let st = stretches(&ranges);
    let bd = Bound::of(&log, records);
    check(&log.snapshot().unwrap(), &model, &mut rng, n, Some((&bd, st)));
    for (s, m) in &snaps {
        check(s, m, &mut rng, n, Some((&bd, st)));
    }
    // The tombstones move into the manifest, then are applied.
    log.flush().unwrap();
    let bd = Bound::of(&log, records);
    check(&log.snapshot().unwrap(), &model, &mut rng, n, Some((&bd, st)));
    for (s, m) in &snaps {
        check(s, m, &mut rng, n, None);
    }
    log.compact().unwrap();
    let bd = Bound::of(&log, records);
    check(&log.snapshot().unwrap(), &model, &mut rng, n, Some((&bd, st)));
    for (s, m) in &snaps {
        check(s, m, &mut rng, n, None);
    }
    log.validate().unwrap();
}

#[test]
fn reads_under_deletes_over_segments() {
    for layout in [Layout::L1, Layout::L0] {
        for (i, p) in PATTERNS.iter().enumerate() {
            scenario(layout, *p, 0x9e37_79b9_7f4a_7c15 ^ i as u64);
        }
    }
}

#[test]
fn reads_under_deletes_over_memtables() {
    for layout in [Layout::Sealed, Layout::Run, Layout::Ooo] {
        for (i, p) in PATTERNS.iter().enumerate() {
            scenario(layout, *p, 0xdead_beef ^ i as u64);
        }
    }
}

/// Short reads of `snap` (ranges of up to 60 timestamps, both orders)
/// against `model`, each within `bd`'s bound. (Not bounded here: `count`,
/// `len` and an unbounded cursor's first rows, `since(t).take(3)` — they
/// visit a memtable's late records in the range one by one, and without a
/// view `since(t)` is a long scan by its range and builds one.)
fn check_short_reads(snap: &Snapshot<u64>, model: &Model, rng: &mut Rng, n: i64, bd: &Bound) {
    let sorted = model.sorted();
    for _ in 0..200 {
        let t = rng.below(n as u64 + 20) as i64 - 10;
        let k = rng.below(60) as i64;
        let want: Vec<(i64, u64)> = sorted.iter().copied().filter(|r| t <= r.0 && r.0 < t + k).collect();
        let (asc, v) = counted(|| snap.range(t, t + k, Order::Asc).collect::<Vec<_>>());
        assert_eq!(asc, want, "range [{t}, {})", t + k);
        if let Some(v) = v {
            bd.check(&format!("range asc [{t}, {})", t + k), v, asc.len());
        }
        let (mut desc, v) = counted(|| snap.range(t, t + k, Order::Desc).collect::<Vec<_>>());
        if let Some(v) = v {
            bd.check(&format!("range desc [{t}, {})", t + k), v, desc.len());
        }
        desc.reverse();
        assert_eq!(desc, want, "range desc [{t}, {})", t + k);
    }
}

/// A memtable with late records (every 20th late by up to 1,000) that a
/// long scan has read, so its merged view (R13) exists: short reads use
/// it, build nothing, and stay within the bound — alone, with newer
/// records beside the view (the run's tail and newer late records), and
/// with a tombstone (ranges it covers are read the usual way).
#[test]
fn short_reads_through_a_prebuilt_view() {
    let n = 6_000i64;
    let log: Timelog<u64> = Timelog::with_config(config(Layout::Run)).unwrap();
    let mut m = Model::default();
    let put = |i: i64, m: &mut Model| {
        let t = if i % 20 == 7 { i - 1 - (i * 37) % 1_000 } else { i };
        let _ = log.append(t, i as u64).unwrap();
        m.0.push((t, i as u64));
    };
    for i in 0..n {
        put(i, &mut m);
    }
    assert!(log.stats().unwrap().ooo_records >= 64, "enough late records for a view");
    let mut rng = Rng(7);
    let s = log.snapshot().unwrap();
    // Short reads before any long scan: no view, the merge path.
    let bd = Bound::of(&log, m.0.len());
    check_short_reads(&s, &m, &mut rng, n, &bd);
    // The long scan builds the view (in shares as it reads, R13 (5): with
    // 5% late records its shares add up to the memtable before its end);
    // the short reads then read through it.
    assert_eq!(s.all(Order::Asc).collect::<Vec<_>>(), m.sorted());
    check_short_reads(&s, &m, &mut rng, n, &bd);
    check_short_reads(&log.snapshot().unwrap(), &m, &mut rng, n, &bd);
    // Newer records beside the view (well under half of it: not rebuilt).
    for i in n..n + 600 {
        put(i, &mut m);
    }
    let bd = Bound::of(&log, m.0.len());
    check_short_reads(&log.snapshot().unwrap(), &m, &mut rng, n + 600, &bd);
    check_short_reads(&s, &Model(m.0[..n as usize].to_vec()), &mut rng, n, &bd);
    // A tombstone: the ranges it covers take the merge path.
    let _ = log.delete_range(2_000, 2_500).unwrap();
    m.delete(2_000, 2_500);
    let s = log.snapshot().unwrap();
    check_short_reads(&s, &m, &mut rng, n + 600, &bd);
    check(&s, &m, &mut rng, n + 600, None);
}

/// The late memtable of [`short_reads_through_a_prebuilt_view`] (every 20th
/// record late by up to 1,000), `n` records appended from `from`.
fn late_log_put(log: &Timelog<u64>, m: &mut Model, from: i64, n: i64) {
    for i in from..from + n {
        let t = if i % 20 == 7 { i - 1 - (i * 37) % 1_000 } else { i };
        let _ = log.append(t, i as u64).unwrap();
        m.0.push((t, i as u64));
    }
}

/// `count` of short ranges and `len` of `snap` against `model`, each within
/// issue 10's bound for a count (no tombstone: one stretch).
fn check_counts(snap: &Snapshot<u64>, model: &Model, rng: &mut Rng, n: i64, bd: &Bound) {
    let sorted = model.sorted();
    for _ in 0..200 {
        let t = rng.below(n as u64 + 20) as i64 - 10;
        let k = rng.below(600) as i64;
        let want = sorted.iter().filter(|r| t <= r.0 && r.0 < t + k).count();
        let (c, v) = counted(|| snap.count(t, t + k));
        assert_eq!(c, want, "count [{t}, {})", t + k);
        if let Some(v) = v {
            assert!(v <= bd.seeks(), "count [{t}, {}): visited {v}, bound {}", t + k, bd.seeks());
            assert_eq!(helped(), 0, "count and len take no share of a view's build");
        }
    }
    let (l, v) = counted(|| snap.len());
    assert_eq!(l, sorted.len());
    if let Some(v) = v {
        assert!(v <= bd.seeks(), "len: visited {v}, bound {}", bd.seeks());
        assert_eq!(helped(), 0, "count and len take no share of a view's build");
    }
}

/// The first 3 rows of `since(t)` (both orders) against `model`, each
/// within issue 10's bound (3 returned plus the seeks).
fn check_since_take(snap: &Snapshot<u64>, model: &Model, rng: &mut Rng, n: i64, bd: &Bound, order: Order) {
    let mut sorted = model.sorted();
    if order == Order::Desc {
        sorted.reverse();
    }
    for _ in 0..100 {
        let t = rng.below(n as u64 + 20) as i64 - 10;
        let (first, v) = counted(|| snap.since(t, order).take(3).collect::<Vec<_>>());
        assert_eq!(
            first,
            sorted.iter().copied().filter(|r| r.0 >= t).take(3).collect::<Vec<_>>(),
            "since({t}, {order:?})"
        );
        if let Some(v) = v {
            bd.check(&format!("since({t}, {order:?}).take(3)"), v, first.len());
        }
    }
}

/// Issue 10's bound for `count`/`len` over a late memtable that a long
/// scan has read (its merged view exists and serves the reader): the late
/// records of the range are counted by two binary searches of the view,
/// not one by one — alone, with the run's newer records beside the view,
/// and from an older snapshot. (Session 7 gap 1: `len` visited 328 records
/// against a bound of 168.)
#[test]
fn counts_through_a_prebuilt_view() {
    let n = 6_000i64;
    let log: Timelog<u64> = Timelog::with_config(config(Layout::Run)).unwrap();
    let mut m = Model::default();
    late_log_put(&log, &mut m, 0, n);
    let s = log.snapshot().unwrap();
    assert_eq!(s.all(Order::Asc).collect::<Vec<_>>(), m.sorted(), "the long scan builds the view (in shares)");
    let mut rng = Rng(11);
    let bd = Bound::of(&log, m.0.len());
    check_counts(&s, &m, &mut rng, n, &bd);
    check_counts(&log.snapshot().unwrap(), &m, &mut rng, n, &bd);
    // Newer in-order records (the run's tail after the view).
    for i in n..n + 600 {
        let _ = log.append(i, i as u64).unwrap();
        m.0.push((i, i as u64));
    }
    let bd = Bound::of(&log, m.0.len());
    check_counts(&log.snapshot().unwrap(), &m, &mut rng, n + 600, &bd);
    check_counts(&s, &Model(m.0[..n as usize].to_vec()), &mut rng, n, &bd);
    // A tombstone: answers still right (ranges it covers count the usual way).
    let _ = log.delete_range(2_000, 2_500).unwrap();
    m.delete(2_000, 2_500);
    let s = log.snapshot().unwrap();
    let sorted = m.sorted();
    for (t1, t2) in [(0, 1_000), (1_900, 2_600), (5_000, 7_000), (i64::MIN, i64::MAX)] {
        assert_eq!(s.count(t1, t2), sorted.iter().filter(|r| t1 <= r.0 && r.0 < t2).count(), "count [{t1}, {t2})");
    }
    assert_eq!(s.len(), sorted.len());
}

/// Session 7 gap 1, without a view: `count` walks the skiplist's late
/// records of its range (within the bound for ranges of up to 600
/// timestamps), and `len` walked all of them (308 visited against a bound
/// of 168, ignored until session 28). `len` now counts a memtable that no
/// delete touched by its tickets (`Memtable::tickets_upto`), visiting
/// nothing.
#[test]
fn counts_of_a_never_viewed_late_memtable() {
    let n = 6_000i64;
    let log: Timelog<u64> = Timelog::with_config(config(Layout::Run)).unwrap();
    let mut m = Model::default();
    late_log_put(&log, &mut m, 0, n);
    let bd = Bound::of(&log, m.0.len());
    check_counts(&log.snapshot().unwrap(), &m, &mut Rng(12), n, &bd);
}

/// Session 7 gap 2: the first rows of an unbounded cursor over a late
/// memtable with no view must not build one (it visits every record:
/// 6,009 visited against a bound of 171, ignored until session 36; a long
/// ascending read now collects the skiplist as it reads and builds the
/// view in shares, `Memtable::merged_lazy`, R13 (5)). Newest first too
/// (`next(reversed(log.since(t)))`): a long descending read built the
/// whole view before its first row until session 37 (6,009 visited
/// against 171); it now steps back through the skiplist a chunk at a time
/// (`Ooo::range_back`).
#[test]
fn since_take_builds_no_view() {
    for (order, seed) in [(Order::Asc, 13), (Order::Desc, 15)] {
        let n = 6_000i64;
        let log: Timelog<u64> = Timelog::with_config(config(Layout::Run)).unwrap();
        let mut m = Model::default();
        late_log_put(&log, &mut m, 0, n);
        let bd = Bound::of(&log, m.0.len());
        let s = log.snapshot().unwrap();
        check_since_take(&s, &m, &mut Rng(seed), n, &bd, order);
        // A long scan still reads everything right afterwards.
        let mut want = m.sorted();
        if order == Order::Desc {
            want.reverse();
        }
        assert_eq!(s.all(order).collect::<Vec<_>>(), want, "{order:?}");
    }
}

/// Session 7 gap 3: with a view and newer late records beside it, the
/// first rows of `since(t)` must not collect every newer late record of
/// `[t, inf)` (332 visited against a bound of 171, ignored until session
/// 35; an ascending read now collects them as the merge needs them,
/// `plan::OooMore`, R13 (7)).
#[test]
fn since_take_through_a_view_with_newer_late_records() {
    let n = 6_000i64;
    let log: Timelog<u64> = Timelog::with_config(config(Layout::Run)).unwrap();
    let mut m = Model::default();
    late_log_put(&log, &mut m, 0, n);
    assert_eq!(log.snapshot().unwrap().all(Order::Asc).collect::<Vec<_>>(), m.sorted());
    late_log_put(&log, &mut m, n, 600);
    let bd = Bound::of(&log, m.0.len());
    check_since_take(&log.snapshot().unwrap(), &m, &mut Rng(14), n + 600, &bd, Order::Asc);
    // Newest first: the newer late records collected a chunk at a time,
    // back from the range's end (at once until session 37).
    check_since_take(&log.snapshot().unwrap(), &m, &mut Rng(16), n + 600, &bd, Order::Desc);
}

/// Records written after a delete at deleted timestamps are newer than the
/// tombstone and stay visible: in the run, in the skiplist and, after
/// flush and compaction, in segments; snapshots taken in between do not see
/// them. (Correctness only: where a record may be newer than a covering
/// tombstone, a skiplist read checks the covered records one by one.)
#[test]
fn records_newer_than_the_tombstone_stay_visible() {
    for layout in LAYOUTS {
        let n = 3_000i64;
        let (log, mut model) = build(layout, n);
        let mut rng = Rng(42);
        let mut snaps: Vec<(Snapshot<u64>, Model)> = Vec::new();
        let mut p = 1_000_000u64;
        for round in 0..6 {
            let a = rng.below(n as u64 / 2) as i64;
            let b = a + rng.below(n as u64 / 2) as i64;
            let _ = log.delete_range(a, b).unwrap();
            model.delete(a, b);
            snaps.push((log.snapshot().unwrap(), model.clone()));
            // Re-inserts inside the deleted range (out of order: skiplist)
            // and above everything (in order: run).
            for _ in 0..40 {
                let t = a + rng.below((b - a).max(1) as u64) as i64;
                p += 1;
                let _ = log.append(t, p).unwrap();
                model.0.push((t, p));
            }
            p += 1;
            let t = n + round;
            let _ = log.append(t, p).unwrap();
            model.0.push((t, p));
            snaps.push((log.snapshot().unwrap(), model.clone()));
            match round % 3 {
                0 => log.flush().unwrap(),
                1 => log.compact().unwrap(),
                _ => {}
            }
        }
        check(&log.snapshot().unwrap(), &model, &mut rng, n, None);
        for (s, m) in &snaps {
            check(s, m, &mut rng, n, None);
        }
    }
}

/// Sealed memtable layout made explicitly (test hook), with the deletes
/// arriving in the next active memtable (newer than every record of the
/// sealed one, R2).
#[cfg(feature = "test-hooks")]
#[test]
fn deletes_over_a_sealed_memtable_from_the_next_one() {
    let n = 6_000i64;
    let (log, mut model) = build(Layout::Run, n);
    assert!(log.test_seal_active());
    assert_eq!(log.stats().unwrap().sealed_runs, 1);
    let mut rng = Rng(7);
    let ranges = deletes(Pattern::Nested, n, &mut rng);
    for &(a, b) in &ranges {
        let _ = log.delete_range(a, b).unwrap();
        model.delete(a, b);
    }
    let bd = Bound::of(&log, n as usize);
    check(&log.snapshot().unwrap(), &model, &mut rng, n, Some((&bd, stretches(&ranges))));
}

// ---------------------------------------------------------------------------
// The settled state: deletes, then `flush()`, maintenance disabled.

/// Visible records per bucket of `[t1, t2)`, from the reference.
fn histogram_of(model: &Model, t1: i64, t2: i64, width: i64) -> Vec<u64> {
    let mut out = vec![0u64; ((t2 - t1) as u64).div_ceil(width as u64) as usize];
    for r in model.0.iter().filter(|r| t1 <= r.0 && r.0 < t2) {
        out[((r.0 - t1) / width) as usize] += 1;
    }
    out
}

/// [`check`], plus `len`, histograms and navigation from far outside the
/// live data (the first and last visible records of every source).
fn check_settled(snap: &Snapshot<u64>, model: &Model, rng: &mut Rng, n: i64, bound: Option<(&Bound, usize)>) {
    check(snap, model, rng, n, bound);
    let sorted = model.sorted();
    assert_eq!(snap.len(), sorted.len());
    for (t1, t2, w) in [(0, n, 97), (-50, n + 50, 1000), (n / 3, n / 2, 7), (i64::MIN / 2, i64::MAX / 2, i64::MAX / 4)]
    {
        assert_eq!(snap.histogram(t1, t2, w).unwrap(), histogram_of(model, t1, t2, w), "histogram [{t1}, {t2}) / {w}");
    }
    // Every timestamp: each source's first and last visible records among them.
    let ts: Vec<i64> = sorted.iter().map(|r| r.0).collect();
    for t in -2..n + 2 {
        let (a, b) = (ts.partition_point(|&x| x < t), ts.partition_point(|&x| x <= t));
        assert_eq!(snap.point_with(t, |_| ()), b - a, "point {t}");
        assert_eq!(snap.next_ts(t), ts.get(b).copied(), "next_ts {t}");
        assert_eq!(snap.prev_ts(t), a.checked_sub(1).map(|i| ts[i]), "prev_ts {t}");
    }
    for t in [i64::MIN, -1, 0, 1, n / 2, n - 1, n, i64::MAX] {
        assert_eq!(snap.next_ts(t), sorted.iter().map(|r| r.0).find(|&x| x > t), "next_ts {t}");
        assert_eq!(snap.prev_ts(t), sorted.iter().rev().map(|r| r.0).find(|&x| x < t), "prev_ts {t}");
        let want = sorted.iter().filter(|r| r.0 < t).count();
        assert_eq!(snap.count(i64::MIN, t), want, "count up to {t}");
    }
}

/// The state a sliding-window delete stream leaves with maintenance
/// disabled once the user calls `flush()`: L1 from before the stream, many
/// L0 segments (small memtables), most of them hidden whole, some cut by
/// the window's edge or by holes, and every tombstone in the manifest's
/// list (no memtable holds one). Reads there use the manifest's settled
/// coverage: segments judged by their visible bounds, hidden ones never
/// looked at, `len` from the settled count. Every read against the
/// reference — on the live log, on snapshots taken during the stream (the
/// tombstones still in memtables, a watermark between them) and on a
/// snapshot of the settled manifest after a later delete and a later
/// record at a deleted timestamp (MVCC: it must not see the delete, and the
/// live log must see the record) — with the visited-records bound.
#[test]
fn reads_over_many_hidden_sources_after_a_flush() {
    for (seed, before) in [(0x51ed_u64, true), (0x2718_2818, false), (0x3141_5926, true)] {
        let n = 24_000i64;
        let log: Timelog<u64> = Timelog::with_config(Config {
            maintenance: MaintenanceMode::Disabled,
            memtable_max_bytes: 24 << 10,
            sealed_max_runs: 10_000,
            window_size: 1_000,
            ..Config::default()
        })
        .unwrap();
        let mut rng = Rng(seed);
        let mut model = Model::default();
        let mut p = 0u64;
        let mut put = |t: i64, m: &mut Model| {
            p += 1;
            let _ = log.append(t, p).unwrap();
            m.0.push((t, p));
        };
        let old = 4_000i64;
        for t in 0..old {
            put(t, &mut model);
        }
        log.flush().unwrap();
        log.compact().unwrap();
        // Holes in L1: some windows hidden whole, some cut.
        for (a, b) in [(1_000, 2_000), (2_500, 2_600), (3_990, 4_000)] {
            let _ = log.delete_range(a, b).unwrap();
            model.delete(a, b);
        }
        log.flush().unwrap();
        let (window, every) = (3_000i64, 400i64);
        let mut snaps: Vec<(Snapshot<u64>, Model)> = Vec::new();
        let mut deleted = 0;
        for t in old..n {
            put(t, &mut model);
            if t % 7 == 0 {
                put(t, &mut model);
            }
            if t % every == 0 && t - window > old {
                let cut = t - window;
                if before {
                    let _ = log.delete_before(cut).unwrap();
                    model.delete(i64::MIN, cut);
                } else {
                    let _ = log.delete_range(old, cut).unwrap();
                    model.delete(old, cut);
                }
                deleted += 1;
            }
            if t % 5_000 == 0 && rng.below(2) == 0 {
                snaps.push((log.snapshot().unwrap(), model.clone()));
            }
        }
        log.flush().unwrap();
        let s = log.stats().unwrap();
        assert!(s.segments_l0 >= 10 && s.segments_l1 >= 3, "many sources: {s:?}");
        assert!(deleted > 10 && s.tombstone_count >= 1 && s.sealed_runs == 0, "{s:?}");
        let bd = Bound::of(&log, model.0.len());
        let st = 4;
        let settled = log.snapshot().unwrap();
        check_settled(&settled, &model, &mut rng, n, Some((&bd, st)));
        for (sn, m) in &snaps {
            check_settled(sn, m, &mut rng, n, None);
        }
        // A later delete (on the active memtable's stack of the same
        // manifest) and a record written after it at a deleted timestamp.
        let settled_model = model.clone();
        let (a, b) = (n - 2_000, n - 1_500);
        let _ = log.delete_range(a, b).unwrap();
        model.delete(a, b);
        put(a + 10, &mut model);
        check_settled(&settled, &settled_model, &mut rng, n, Some((&bd, st)));
        check_settled(&log.snapshot().unwrap(), &model, &mut rng, n, None);
        assert_eq!(log.len().unwrap(), model.0.len());
        // Settled again, over a new manifest.
        log.flush().unwrap();
        let bd = Bound::of(&log, model.0.len());
        check_settled(&log.snapshot().unwrap(), &model, &mut rng, n, Some((&bd, st)));
        check_settled(&settled, &settled_model, &mut rng, n, None);
        log.validate().unwrap();
    }
}

// ---------------------------------------------------------------------------
// Timing (ignored): reads after a sliding-window delete stream vs fresh.

/// A log with `old` flushed and compacted records at `0..old`, then
/// `stream` appends above `base` with `delete_range(base, t - window)`
/// every `every` appends (when `deletes`), or just the last `window`
/// appends of the same stream (a fresh log with the same live records);
/// flushed, and compacted when `settle`.
fn retention_log(deletes: bool, settle: bool) -> Timelog<u64> {
    let (old, base, stream, window, every) = (200_000i64, 2_000_000i64, 1_000_000i64, 20_000i64, 5_000i64);
    let log: Timelog<u64> =
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    for t in 0..old {
        let _ = log.append(t, t as u64).unwrap();
    }
    log.flush().unwrap();
    log.compact().unwrap();
    let first = if deletes { 0 } else { stream - window };
    for i in first..stream {
        let t = base + i;
        let _ = log.append(t, i as u64).unwrap();
        if deletes && i % every == every - 1 && i > window {
            let _ = log.delete_range(base, t - window).unwrap();
        }
        if i % 200_000 == 199_999 {
            log.flush().unwrap();
        }
    }
    if deletes {
        // The same live window as the fresh log.
        let _ = log.delete_range(base, base + stream - window).unwrap();
    }
    log.flush().unwrap();
    if settle {
        log.compact().unwrap();
    }
    log
}

/// Nanoseconds per call of `f` over `k` calls.
fn ns_per(k: usize, mut f: impl FnMut(usize) -> i64) -> (f64, i64) {
    let t0 = std::time::Instant::now();
    let mut acc = 0i64;
    for i in 0..k {
        acc = acc.wrapping_add(std::hint::black_box(f(i)));
    }
    (t0.elapsed().as_nanos() as f64 / k as f64, acc)
}

type Read = fn(&Timelog<u64>, usize) -> i64;

fn probe(i: usize) -> i64 {
    (i as i64).wrapping_mul(7919).rem_euclid(199_000)
}

/// The reads timed: name, calls per batch, read `i`.
const READS: [(&str, usize, Read); 7] = [
    ("next_ts", 20_000, |l, i| l.next_ts(probe(i)).unwrap().unwrap()),
    ("prev_ts", 20_000, |l, i| l.prev_ts(probe(i) + 1).unwrap().unwrap()),
    ("point", 20_000, |l, i| l.point(probe(i)).unwrap().len() as i64),
    ("len", 20_000, |l, _| l.len().unwrap() as i64),
    ("range1000", 200, |l, i| l.range(probe(i), probe(i) + 1000, Order::Asc).unwrap().count() as i64),
    ("range1000 desc", 200, |l, i| l.range(probe(i), probe(i) + 1000, Order::Desc).unwrap().count() as i64),
    ("next_ts(live)", 20_000, |l, i| l.next_ts(2_990_000 + (i as i64 * 7919) % 9_000).unwrap().unwrap_or(0)),
];

#[test]
#[ignore]
fn timing() {
    for settle in [false, true] {
        let fresh = retention_log(false, settle);
        let deleted = retention_log(true, settle);
        assert_eq!(fresh.len().unwrap(), deleted.len().unwrap(), "same live records");
        let shape = |l: &Timelog<u64>| {
            let s = l.stats().unwrap();
            format!(
                "L0 {} L1 {} sealed {} tombstones {}",
                s.segments_l0, s.segments_l1, s.sealed_runs, s.tombstone_count
            )
        };
        println!(
            "{}: fresh [{}], after the deletes [{}]",
            if settle { "flushed + compacted" } else { "after the stream (flushed)" },
            shape(&fresh),
            shape(&deleted)
        );
        #[cfg(feature = "test-hooks")]
        for (name, _, read) in READS {
            let _ = read(&deleted, 1);
            let (_, v) = counted(|| read(&deleted, 2));
            let (_, u) = counted(|| read(&fresh, 2));
            println!("  {name:>15}: visited fresh {} after deletes {}", u.unwrap(), v.unwrap());
        }
        // Batches alternate between the two logs; the fastest of 15 each
        // (on a shared machine the minimum is the least disturbed run).
        for (name, k, read) in READS {
            let (mut f, mut d) = (Vec::new(), Vec::new());
            for _ in 0..15 {
                let (a, x) = ns_per(k, |i| read(&fresh, i));
                let (b, y) = ns_per(k, |i| read(&deleted, i));
                assert_eq!(x, y, "{name}: same answers");
                f.push(a);
                d.push(b);
            }
            let med = |v: &mut Vec<f64>| v.iter().copied().fold(f64::INFINITY, f64::min);
            let (a, b) = (med(&mut f), med(&mut d));
            println!("  {name:>15}: fresh {a:>8.0} ns  after deletes {b:>8.0} ns  ratio {:.2}", b / a);
        }
    }
}

/// Readers beside a sliding-window writer and the background maintainer:
/// the writer appends `0, 1, 2, ...` in order and every 50 appends deletes
/// everything more than 2,000 behind, so every snapshot sees one contiguous
/// run of timestamps. Each read of a snapshot (served by coverage built and
/// cached while deletes, seals, flushes and compactions race with it) must
/// agree with that shape and with the snapshot's own cursors.
#[test]
fn readers_beside_a_sliding_window_writer() {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::Arc;
    let log: Arc<Timelog<u64>> = Arc::new(
        Timelog::with_config(Config {
            maintenance: MaintenanceMode::Background,
            memtable_max_bytes: 64 << 10,
            max_delta_segments: 2,
            window_size: 5_000,
            ..Config::default()
        })
        .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            for t in 0..120_000i64 {
                let _ = log.append(t, t as u64).unwrap();
                if t % 50 == 49 && t > 2_000 {
                    let _ = log.delete_range(0, t - 2_000).unwrap();
                }
            }
            done.store(true, Relaxed);
        })
    };
    let readers: Vec<_> = (0..2u64)
        .map(|r| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234_5678 + r);
                let mut rounds = 0;
                while !done.load(Relaxed) || rounds < 20 {
                    rounds += 1;
                    let s = log.snapshot().unwrap();
                    let (Some(lo), Some(hi)) = (s.min_ts(), s.max_ts()) else { continue };
                    assert_eq!(s.len() as i64, hi - lo + 1, "contiguous [{lo}, {hi}]");
                    for _ in 0..50 {
                        let t = lo - 5 + rng.below((hi - lo + 10) as u64) as i64;
                        let next = if t < lo {
                            Some(lo)
                        } else if t < hi {
                            Some(t + 1)
                        } else {
                            None
                        };
                        assert_eq!(s.next_ts(t), next, "next_ts({t}) in [{lo}, {hi}]");
                        let prev = if t > hi {
                            Some(hi)
                        } else if t > lo {
                            Some(t - 1)
                        } else {
                            None
                        };
                        assert_eq!(s.prev_ts(t), prev, "prev_ts({t}) in [{lo}, {hi}]");
                        assert_eq!(s.contains(t), (lo..=hi).contains(&t));
                        let k = rng.below(300) as i64;
                        let want = (t.max(lo)..(t + k).min(hi + 1)).count();
                        assert_eq!(s.count(t, t + k), want);
                        assert_eq!(s.range(t, t + k, Order::Desc).count(), want);
                    }
                    // The live log: one read each, whatever it sees must be a window.
                    if let (Some(a), Some(b)) = (log.min_ts().unwrap(), log.max_ts().unwrap()) {
                        assert!(a <= b);
                    }
                }
                rounds
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        assert!(r.join().unwrap() >= 20);
    }
    log.stop_maintenance().unwrap();
    log.validate().unwrap();
}

/// R15: one-shot reads whose answer cannot depend on the watermark skip
/// it — and answer exactly as a snapshot of the same state does. Flushed
/// records, then tombstones in the active memtable's stack (over flushed
/// and unflushed records), in-order records above and a late record in the
/// skiplist. Reads of the flushed records away from the memtables' records
/// are answered without the watermark once this thread's coverage cache
/// holds a complete entry of the stack (the first such read builds it,
/// with the watermark); a new delete grows the stack, so the next read
/// loads the watermark again, and the ones after it are free again. Reads
/// whose answer is in a memtable, or whose range holds a memtable record,
/// always load it. (The counts need `test-hooks`; the answers are checked
/// in every build.)
#[test]
fn watermark_free_reads_answer_as_snapshots() {
    let log: Timelog<u64> =
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    for t in 0..1000i64 {
        let _ = log.append(t * 2, t as u64).unwrap();
    }
    log.flush().unwrap();
    let _ = log.delete_range(100, 200).unwrap(); // flushed records
    for t in 3000..3010i64 {
        let _ = log.append(t, t as u64).unwrap();
    }
    let _ = log.append(2501, 7).unwrap(); // late: the skiplist
    let _ = log.delete_range(3004, 3006).unwrap(); // unflushed records
    #[cfg(feature = "test-hooks")]
    let _ = timelog::hooks::take_wfree_answered();
    let check = |log: &Timelog<u64>| {
        let s = log.snapshot().unwrap();
        for t in (-5..3015i64).step_by(7).chain([99, 100, 199, 200, 2500, 2501, 2502, 3003, 3004, 3006]) {
            assert_eq!(log.next_ts(t).unwrap(), s.next_ts(t), "next_ts({t})");
            assert_eq!(log.prev_ts(t).unwrap(), s.prev_ts(t), "prev_ts({t})");
            let mut at = Vec::new();
            let _ = s.point_with(t, |v| at.push(*v));
            assert_eq!(log.point(t).unwrap(), at, "point({t})");
            assert_eq!(log.contains(t).unwrap(), !at.is_empty(), "contains({t})");
        }
        assert_eq!(log.min_ts().unwrap(), s.min_ts());
    };
    check(&log);
    // The first read of flushed records builds the complete entry (with
    // the watermark); the next ones need none.
    let _ = log.next_ts(500).unwrap();
    #[cfg(feature = "test-hooks")]
    let _ = timelog::hooks::take_wfree_answered();
    for t in [500i64, 600, 700] {
        assert_eq!(log.next_ts(t).unwrap(), Some(t + 2));
        assert_eq!(log.prev_ts(t).unwrap(), Some(t - 2));
        assert_eq!(log.point(t).unwrap(), vec![(t / 2) as u64]);
    }
    #[cfg(feature = "test-hooks")]
    assert_eq!(timelog::hooks::take_wfree_answered(), 9, "reads of flushed records skip the watermark");
    // Answers in the memtables, or ranges that hold a memtable record.
    assert_eq!(log.next_ts(1998).unwrap(), Some(2501));
    assert_eq!(log.point(3001).unwrap(), vec![3001]);
    assert_eq!(log.point(2501).unwrap(), vec![7]);
    assert_eq!(log.prev_ts(2600).unwrap(), Some(2501));
    #[cfg(feature = "test-hooks")]
    assert_eq!(timelog::hooks::take_wfree_answered(), 0, "reads that a memtable record may answer load it");
    // A new delete grows the stack: one read with the watermark, then free.
    let _ = log.delete_range(300, 302).unwrap();
    assert_eq!(log.next_ts(299).unwrap(), Some(302));
    #[cfg(feature = "test-hooks")]
    assert_eq!(timelog::hooks::take_wfree_answered(), 0, "the stack grew since the entry");
    assert_eq!(log.next_ts(298).unwrap(), Some(302));
    assert_eq!(log.point(300).unwrap(), Vec::<u64>::new());
    #[cfg(feature = "test-hooks")]
    assert_eq!(timelog::hooks::take_wfree_answered(), 2);
    check(&log);
    // Reads that no memtable tombstone may touch (outside the stacks'
    // span, [100, 3006)) need no entry: free even right after a delete
    // grew the stack. A read from outside the span whose answer lies
    // inside it loads the watermark (the settled coverage left it out).
    let _ = log.delete_range(2_900, 2_950).unwrap();
    #[cfg(feature = "test-hooks")]
    let _ = timelog::hooks::take_wfree_answered();
    assert_eq!(log.next_ts(10).unwrap(), Some(12));
    assert_eq!(log.prev_ts(90).unwrap(), Some(88));
    assert_eq!(log.point(50).unwrap(), vec![25]);
    assert!(log.contains(98).unwrap());
    assert_eq!(log.min_ts().unwrap(), Some(0));
    #[cfg(feature = "test-hooks")]
    assert_eq!(timelog::hooks::take_wfree_answered(), 5, "reads outside the stacks' span skip the watermark");
    assert_eq!(log.next_ts(98).unwrap(), Some(200));
    #[cfg(feature = "test-hooks")]
    assert_eq!(timelog::hooks::take_wfree_answered(), 0, "an answer inside the span loads the watermark");
    check(&log);
    // No tombstone in any memtable: the settled coverage, no cache needed.
    log.flush().unwrap();
    #[cfg(feature = "test-hooks")]
    let _ = timelog::hooks::take_wfree_answered();
    assert_eq!(log.next_ts(97).unwrap(), Some(98));
    assert_eq!(log.next_ts(99).unwrap(), Some(200));
    #[cfg(feature = "test-hooks")]
    assert_eq!(timelog::hooks::take_wfree_answered(), 2);
    check(&log);
}
