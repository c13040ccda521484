//! Model-based test: random interleavings of writes, deletes, maintenance
//! and snapshot reads against a plain reference multimap with sequenced
//! tombstones. `TIMELOG_PROPTEST_CASES` raises the case count (default 2000).

use proptest::prelude::*;
use timelog::{BusyPolicy, Config, MaintenanceMode, Order, Timelog};

#[derive(Clone, Debug, Default)]
struct Model {
    recs: Vec<(i64, u64, u64)>, // ts, seq, payload
    tombs: Vec<(i64, i64, u64)>,
    seq: u64,
}

impl Model {
    fn visible(&self) -> Vec<(i64, u64)> {
        let mut v: Vec<_> = self
            .recs
            .iter()
            .filter(|(ts, seq, _)| !self.tombs.iter().any(|&(a, b, s)| a <= *ts && *ts < b && s > *seq))
            .map(|&(ts, seq, p)| (ts, seq, p))
            .collect();
        v.sort_by_key(|r| (r.0, r.1));
        v.into_iter().map(|(ts, _, p)| (ts, p)).collect()
    }
    fn append(&mut self, ts: i64, p: u64) {
        self.seq += 1;
        self.recs.push((ts, self.seq, p));
    }
    fn delete(&mut self, a: i64, b: i64) {
        if a < b {
            self.seq += 1;
            self.tombs.push((a, b, self.seq));
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Append(i64),
    Extend(Vec<i64>),
    DeleteRange(i64, i64),
    DeleteBefore(i64),
    DeletePoint(i64),
    Flush,
    Compact,
    MaintStep,
    Snapshot,
    ReadSnapshot(usize, i64, i64, bool),
    /// Delete-heavy profile: deletes placed relative to the previous one.
    /// `[a + x, b - y)` inside it.
    DeleteNested(i64, i64),
    /// `[b, b + len)` right after it.
    DeleteAdjacent(i64),
    /// `[a - x, b + y)` around it.
    DeleteCovering(i64, i64),
    /// `[a + x, b + x)`: overlapping it, shifted.
    DeleteShifted(i64),
    /// `delete_before(previous cut + step)` (a chain; negative steps too).
    DeleteBeforeChain(i64),
    /// A sliding window: appends `n` records above the newest, then deletes
    /// everything but the last `keep`.
    Slide(u8, u8),
    /// Opens a cursor (a snapshot) and reads `k` rows of it now.
    OpenCursor(i64, i64, bool, u8),
    /// Reads `k` more rows of an open cursor.
    ReadCursor(usize, u8),
    Read(i64, i64, bool),
    Point(i64),
    Nav(i64),
}

fn ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        20 => -40i64..40,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(i64::MAX - 1),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => ts().prop_map(Op::Append),
        6 => prop::collection::vec(ts(), 0..40).prop_map(Op::Extend),
        4 => (ts(), ts()).prop_map(|(a, b)| Op::DeleteRange(a.min(b), a.max(b))),
        2 => ts().prop_map(Op::DeleteBefore),
        2 => (-40i64..40).prop_map(Op::DeletePoint),
        3 => Just(Op::Flush),
        2 => Just(Op::Compact),
        4 => Just(Op::MaintStep),
        3 => Just(Op::Snapshot),
        5 => (0usize..8, ts(), ts(), any::<bool>()).prop_map(|(i, a, b, d)| Op::ReadSnapshot(i, a, b, d)),
        6 => (ts(), ts(), any::<bool>()).prop_map(|(a, b, d)| Op::Read(a.min(b), a.max(b), d)),
        4 => ts().prop_map(Op::Point),
        4 => ts().prop_map(Op::Nav),
    ]
}

/// Ops of the delete-heavy profile: nested, overlapping, adjacent and
/// covering deletes, `delete_before` chains and sliding windows over
/// flushed and compacted data, with snapshots and cursors taken between the
/// deletes and read after coalescing (flush) and compaction.
fn delete_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => ts().prop_map(Op::Append),
        8 => prop::collection::vec(-40i64..40, 0..40).prop_map(Op::Extend),
        6 => (ts(), ts()).prop_map(|(a, b)| Op::DeleteRange(a.min(b), a.max(b))),
        5 => (0i64..6, 0i64..6).prop_map(|(x, y)| Op::DeleteNested(x, y)),
        5 => (0i64..8).prop_map(Op::DeleteAdjacent),
        4 => (0i64..6, 0i64..6).prop_map(|(x, y)| Op::DeleteCovering(x, y)),
        4 => (-6i64..6).prop_map(Op::DeleteShifted),
        6 => (-3i64..8).prop_map(Op::DeleteBeforeChain),
        2 => ts().prop_map(Op::DeleteBefore),
        2 => (-40i64..40).prop_map(Op::DeletePoint),
        4 => (1u8..30, 0u8..20).prop_map(|(n, k)| Op::Slide(n, k)),
        5 => Just(Op::Flush),
        3 => Just(Op::Compact),
        5 => Just(Op::MaintStep),
        4 => Just(Op::Snapshot),
        5 => (0usize..8, ts(), ts(), any::<bool>()).prop_map(|(i, a, b, d)| Op::ReadSnapshot(i, a, b, d)),
        3 => (ts(), ts(), any::<bool>(), 0u8..4).prop_map(|(a, b, d, k)| Op::OpenCursor(a.min(b), a.max(b), d, k)),
        4 => (0usize..6, 0u8..6).prop_map(|(i, k)| Op::ReadCursor(i, k)),
        4 => (ts(), ts(), any::<bool>()).prop_map(|(a, b, d)| Op::Read(a.min(b), a.max(b), d)),
        3 => ts().prop_map(Op::Point),
        4 => ts().prop_map(Op::Nav),
    ]
}

/// Expected rows of a snapshot, and what a held cursor has still to yield.
type Rows = Vec<(i64, u64)>;
type RowQueue = std::collections::VecDeque<(i64, u64)>;

fn in_range(v: &[(i64, u64)], a: i64, b: i64, desc: bool) -> Vec<(i64, u64)> {
    let mut r: Vec<_> = v.iter().copied().filter(|r| a <= r.0 && r.0 < b).collect();
    if desc {
        r.reverse();
    }
    r
}

fn order(desc: bool) -> Order {
    if desc {
        Order::Desc
    } else {
        Order::Asc
    }
}

fn cases() -> u32 {
    std::env::var("TIMELOG_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

fn run(ops: Vec<Op>, memtable_bytes: usize, policy: BusyPolicy) -> Result<(), TestCaseError> {
    run_with(ops, memtable_bytes, policy, Config::default().delete_debt_threshold)
}

fn run_with(ops: Vec<Op>, memtable_bytes: usize, policy: BusyPolicy, debt: f64) -> Result<(), TestCaseError> {
    let log: Timelog<u64> = Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        busy_policy: policy,
        delete_debt_threshold: debt,
        memtable_max_bytes: memtable_bytes,
        target_page_bytes: 16,
        sealed_max_runs: 3,
        window_size: 16,
        max_delta_segments: 2,
        ..Config::default()
    })
    .unwrap();
    let mut m = Model::default();
    let mut snaps: Vec<(timelog::Snapshot<u64>, Rows)> = Vec::new();
    let mut payload = 0u64;
    // Cursors: the cursor, its expected remaining rows (in order).
    let mut cursors: Vec<(timelog::Cursor<u64>, RowQueue)> = Vec::new();
    // The previous delete's interval and the last `delete_before` cut.
    let (mut last, mut cut) = ((0i64, 8i64), -20i64);
    let clamp = |x: i64| x.clamp(-60, 60);
    let mut top = 40i64;
    let del = |log: &Timelog<u64>, m: &mut Model, a: i64, b: i64, last: &mut (i64, i64)| {
        if a <= b {
            let _ = log.delete_range(a, b).unwrap();
            m.delete(a, b);
            if a < b {
                *last = (a, b);
            }
        }
    };
    for op in ops {
        match op {
            Op::Append(t) => {
                payload += 1;
                let _ = log.append(t, payload).unwrap();
                m.append(t, payload);
            }
            Op::Extend(ts) => {
                let mut batch: Vec<(i64, u64)> = ts
                    .iter()
                    .map(|&t| {
                        payload += 1;
                        (t, payload)
                    })
                    .collect();
                let _ = log.extend(batch.clone()).unwrap();
                batch.sort_by_key(|r| r.0);
                for (t, p) in batch {
                    m.append(t, p);
                }
            }
            Op::DeleteRange(a, b) => {
                let _ = log.delete_range(a, b).unwrap();
                m.delete(a, b);
            }
            Op::DeleteBefore(t) => {
                let _ = log.delete_before(t).unwrap();
                m.delete(i64::MIN, t);
            }
            Op::DeletePoint(t) => {
                let _ = log.delete_point(t).unwrap();
                m.delete(t, t + 1);
            }
            Op::DeleteNested(x, y) => del(&log, &mut m, last.0 + x, last.1 - y, &mut last),
            Op::DeleteAdjacent(len) => del(&log, &mut m, last.1, clamp(last.1 + len), &mut last),
            Op::DeleteCovering(x, y) => del(&log, &mut m, clamp(last.0 - x), clamp(last.1 + y), &mut last),
            Op::DeleteShifted(x) => del(&log, &mut m, clamp(last.0 + x), clamp(last.1 + x), &mut last),
            Op::DeleteBeforeChain(step) => {
                cut = clamp(cut + step);
                let _ = log.delete_before(cut).unwrap();
                m.delete(i64::MIN, cut);
            }
            Op::Slide(n, keep) => {
                let batch: Vec<(i64, u64)> = (0..n as i64)
                    .map(|i| {
                        payload += 1;
                        (top + i, payload)
                    })
                    .collect();
                top += n as i64;
                let _ = log.extend(batch.clone()).unwrap();
                for (t, p) in batch {
                    m.append(t, p);
                }
                let _ = log.delete_range(-40, top - keep as i64).unwrap();
                m.delete(-40, top - keep as i64);
            }
            Op::OpenCursor(a, b, desc, k) => {
                if cursors.len() < 6 {
                    let mut c = log.range(a, b, order(desc)).unwrap();
                    let mut expect: std::collections::VecDeque<_> = in_range(&m.visible(), a, b, desc).into();
                    prop_assert_eq!(c.remaining(), expect.len());
                    for _ in 0..k {
                        prop_assert_eq!(c.next(), expect.pop_front(), "fresh cursor [{}, {}) desc={}", a, b, desc);
                    }
                    cursors.push((c, expect));
                }
            }
            Op::ReadCursor(i, k) => {
                let n = cursors.len();
                if let Some((c, expect)) = cursors.get_mut(i % n.max(1)) {
                    for _ in 0..k {
                        prop_assert_eq!(c.next(), expect.pop_front(), "held cursor");
                    }
                }
            }
            Op::Flush => log.flush().unwrap(),
            Op::Compact => log.compact().unwrap(),
            Op::MaintStep => {
                let _ = log.maint_step().unwrap();
            }
            Op::Snapshot => {
                if snaps.len() < 8 {
                    snaps.push((log.snapshot().unwrap(), m.visible()));
                }
            }
            Op::ReadSnapshot(i, a, b, desc) => {
                if let Some((s, vis)) = snaps.get(i % snaps.len().max(1)) {
                    let (a, b) = (a.min(b), a.max(b));
                    let got: Vec<_> = s.range(a, b, order(desc)).collect();
                    prop_assert_eq!(got, in_range(vis, a, b, desc), "old snapshot range [{}, {}) desc={}", a, b, desc);
                    prop_assert_eq!(s.len(), vis.len());
                }
            }
            Op::Read(a, b, desc) => {
                let vis = m.visible();
                let mut c = log.range(a, b, order(desc)).unwrap();
                let expect = in_range(&vis, a, b, desc);
                prop_assert_eq!(c.remaining(), expect.len());
                let got: Vec<_> = c.by_ref().collect();
                prop_assert_eq!(got, expect, "range [{}, {}) desc={}", a, b, desc);
                let all: Vec<_> = log.all(order(desc)).unwrap().collect();
                let mut e = vis.clone();
                if desc {
                    e.reverse();
                }
                prop_assert_eq!(all, e);
                prop_assert_eq!(log.len().unwrap(), vis.len());
            }
            Op::Point(t) => {
                let vis = m.visible();
                let expect: Vec<u64> = vis.iter().filter(|r| r.0 == t).map(|r| r.1).collect();
                prop_assert_eq!(log.point(t).unwrap(), expect.clone(), "point {}", t);
                prop_assert_eq!(log.contains(t).unwrap(), !expect.is_empty());
            }
            Op::Nav(t) => {
                let vis = m.visible();
                let next = vis.iter().map(|r| r.0).find(|&x| x > t);
                let prev = vis.iter().rev().map(|r| r.0).find(|&x| x < t);
                prop_assert_eq!(log.next_ts(t).unwrap(), next, "next_ts({})", t);
                prop_assert_eq!(log.prev_ts(t).unwrap(), prev, "prev_ts({})", t);
                prop_assert_eq!(log.min_ts().unwrap(), vis.first().map(|r| r.0));
                prop_assert_eq!(log.max_ts().unwrap(), vis.last().map(|r| r.0));
            }
        }
        log.validate().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    // Final full comparison, then again after full compaction.
    let vis = m.visible();
    prop_assert_eq!(log.all(Order::Asc).unwrap().collect::<Vec<_>>(), vis.clone());
    for (s, v) in &snaps {
        prop_assert_eq!(s.all(Order::Asc).collect::<Vec<_>>(), v.clone());
    }
    for (c, expect) in cursors.iter_mut() {
        prop_assert_eq!(c.by_ref().collect::<Vec<_>>(), expect.drain(..).collect::<Vec<_>>(), "held cursor to the end");
    }
    drop(cursors);
    drop(snaps);
    log.compact().unwrap();
    prop_assert_eq!(log.all(Order::Desc).unwrap().collect::<Vec<_>>(), vis.iter().rev().copied().collect::<Vec<_>>());
    log.validate().map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn model_small_memtables(ops in prop::collection::vec(op(), 1..80)) {
        run(ops, 256, BusyPolicy::Silent)?;
    }

    /// Delete-heavy profile (issue 10), at the default debt threshold (so
    /// maintenance steps seal, flush and compact on delete debt) and with
    /// debt compaction off (tombstones pile up and only coalesce).
    #[test]
    fn model_delete_heavy(ops in prop::collection::vec(delete_op(), 1..80), debt_on in any::<bool>()) {
        run_with(ops, 256, BusyPolicy::Flush, if debt_on { 0.25 } else { 0.0 })?;
    }

    #[test]
    fn model_flush_policy(ops in prop::collection::vec(op(), 1..80)) {
        run(ops, 600, BusyPolicy::Flush)?;
    }
}
