//! One-shot reads (point, contains, next/prev, short ranges, counts) on
//! full-size pages (block index inside pages), with heavy duplicates,
//! out-of-order records, tombstones, pending sealed memtables, L0 and L1,
//! on the live log and on old snapshots, against a reference list.

mod common;

use common::{burst, small_config, Model, Rng};
use timelog::{Config, MaintenanceMode, Order, Snapshot, Timelog};

fn check(snap: &Snapshot<u64>, model: &Model, rng: &mut Rng, lo: i64, hi: i64) {
    let sorted = model.sorted();
    for _ in 0..150 {
        let t = lo - 3 + rng.below((hi - lo + 7) as u64) as i64;
        let expect: Vec<u64> = model.0.iter().filter(|r| r.0 == t).map(|r| r.1).collect();
        let mut got = Vec::new();
        assert_eq!(snap.point_with(t, |v| got.push(*v)), expect.len(), "point count {t}");
        assert_eq!(got, expect, "point {t}");
        assert_eq!(snap.contains(t), !expect.is_empty(), "contains {t}");
        let next = sorted.iter().map(|r| r.0).find(|&x| x > t);
        let prev = sorted.iter().rev().map(|r| r.0).find(|&x| x < t);
        assert_eq!(snap.next_ts(t), next, "next_ts {t}");
        assert_eq!(snap.prev_ts(t), prev, "prev_ts {t}");
        let k = rng.below(40) as i64;
        let want: Vec<(i64, u64)> = sorted.iter().copied().filter(|r| t <= r.0 && r.0 < t + k).collect();
        let asc: Vec<_> = snap.range(t, t + k, Order::Asc).collect();
        assert_eq!(asc, want, "range [{t}, {})", t + k);
        let mut desc: Vec<_> = snap.range(t, t + k, Order::Desc).collect();
        desc.reverse();
        assert_eq!(desc, want, "range desc [{t}, {})", t + k);
        assert_eq!(snap.count(t, t + k), want.len(), "count [{t}, {})", t + k);
    }
    assert_eq!(snap.min_ts(), sorted.first().map(|r| r.0));
    assert_eq!(snap.max_ts(), sorted.last().map(|r| r.0));
}

fn scenario(seed: u64) {
    let log: Timelog<u64> = Timelog::with_config(small_config()).unwrap();
    let mut rng = Rng(seed);
    let mut m = Model::default();
    let mut snaps: Vec<(Snapshot<u64>, Model)> = Vec::new();
    let mut payload = 0u64;
    let mut base = 0i64;
    for step in 0..40 {
        // A burst of mostly in-order records with long runs of duplicates
        // (crossing 64-record blocks and pages), some out of order.
        burst(&log, &mut m, &mut rng, &mut base, &mut payload, 20);
        if rng.below(4) == 0 {
            let a = base - rng.below(3000) as i64;
            let b = a + rng.below(300) as i64;
            let _ = log.delete_range(a, b).unwrap();
            m.delete(a, b);
        }
        match rng.below(6) {
            0 | 1 => log.flush().unwrap(),
            2 => log.compact().unwrap(),
            _ => {} // leave sealed memtables pending
        }
        if rng.below(3) == 0 && snaps.len() < 6 {
            snaps.push((log.snapshot().unwrap(), m.clone()));
        }
        if step % 5 == 4 {
            check(&log.snapshot().unwrap(), &m, &mut rng, -2000, base);
            for (s, sm) in &snaps {
                check(s, sm, &mut rng, -2000, base);
            }
        }
    }
    let s = log.stats().unwrap();
    assert!(s.pages_total > 3, "{s:?}");
}

#[test]
fn one_shot_reads_match_reference() {
    for seed in [0x9e37_79b9_7f4a_7c15u64, 7, 12345, 0xdead_beef] {
        scenario(seed);
    }
}

/// Every way of reading a cursor — `next` (collect), `fold`, batches of
/// varied sizes, `skip`/`nth` between reads, `truncate`, `count` — yields
/// the same records in both orders, over sources that overlap in time
/// (L0 segments flushed from late data, sealed memtables, the active run
/// and skiplist, L1): the run-emitting merge switches sources often.
#[test]
fn cursor_read_paths_agree() {
    let log: Timelog<u64> = Timelog::with_config(small_config()).unwrap();
    let mut rng = Rng(0x5eed_cafe);
    let mut m = Model::default();
    let (mut base, mut payload) = (0i64, 0u64);
    for step in 0..12 {
        burst(&log, &mut m, &mut rng, &mut base, &mut payload, 4);
        match step % 4 {
            0 => log.flush().unwrap(),
            1 if step == 5 => log.compact().unwrap(),
            _ => {}
        }
    }
    let s = log.stats().unwrap();
    assert!(s.segments_l0 > 1 && s.ooo_records > 0, "overlapping sources: {s:?}");
    let snap = log.snapshot().unwrap();
    let asc = m.sorted();
    let mut desc_rows = asc.clone();
    desc_rows.reverse();
    // Descending order among equal timestamps: reverse insertion order,
    // which the reversed stable sort gives.
    for (order, want) in [(Order::Asc, &asc), (Order::Desc, &desc_rows)] {
        let got: Vec<_> = snap.all(order).collect();
        assert_eq!(&got, want, "collect {order:?}");
        let folded = snap.all(order).fold(Vec::new(), |mut v, r| {
            v.push(r);
            v
        });
        assert_eq!(&folded, want, "fold {order:?}");
        assert_eq!(snap.all(order).count(), want.len());
        for n in [1usize, 3, 64, 1000, 100_000] {
            let mut c = snap.all(order);
            let mut got = Vec::new();
            while c.next_batch_with(n, |ts, v| got.push((ts, *v))) > 0 {}
            assert_eq!(&got, want, "batches of {n} {order:?}");
            assert!(c.snapshot().is_none(), "an exhausted cursor pins nothing");
        }
        // Interleaved: next, skip, nth, batch.
        let mut c = snap.all(order);
        let (mut i, mut k) = (0usize, 0usize);
        while i < want.len() {
            k += 1;
            match k % 4 {
                0 => {
                    let r = c.next().unwrap();
                    assert_eq!(r, want[i], "next at {i}");
                    i += 1;
                }
                1 => {
                    let n = rng.below(50) as usize;
                    let skipped = timelog::Cursor::skip(&mut c, n);
                    assert_eq!(skipped, n.min(want.len() - i));
                    i += skipped;
                }
                2 => {
                    let n = rng.below(20) as usize;
                    let r = c.nth(n);
                    assert_eq!(r, want.get(i + n).copied(), "nth({n}) at {i}");
                    i = (i + n + 1).min(want.len());
                }
                _ => {
                    let n = 1 + rng.below(200) as usize;
                    let mut got = Vec::new();
                    c.next_batch_with(n, |ts, v| got.push((ts, *v)));
                    let end = (i + n).min(want.len());
                    assert_eq!(got, want[i..end], "batch of {n} at {i}");
                    i = end;
                }
            }
            assert_eq!(c.remaining(), want.len() - i, "exact size at {i}");
        }
        assert!(c.next().is_none());
        // Truncated in the middle of a run.
        let mut c = snap.all(order);
        let _ = c.next();
        c.truncate(777);
        assert_eq!(c.remaining(), 777.min(want.len() - 1));
        let got: Vec<_> = c.collect();
        assert_eq!(got, want[1..(778).min(want.len())], "truncate {order:?}");
    }
}

/// The facade's read paths at the edges of `i64` (their bounds come from
/// `timelog::Bounds`): navigation past either end finds nothing, open ends
/// include `i64::MIN` and `i64::MAX`, reversed named ranges are refused and
/// reversed optional page-span bounds are empty.
#[test]
fn facade_bounds_at_the_int64_edges() {
    const MIN: i64 = i64::MIN;
    const MAX: i64 = i64::MAX;
    let log: Timelog<u64> =
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    for (t, v) in [(MIN, 0), (0, 1), (MAX, 2)] {
        let _ = log.append(t, v).unwrap();
    }
    assert_eq!(log.next_ts(MAX).unwrap(), None);
    assert_eq!(log.prev_ts(MIN).unwrap(), None);
    assert_eq!(log.next_ts(MIN).unwrap(), Some(0));
    assert_eq!(log.prev_ts(MAX).unwrap(), Some(0));
    assert_eq!((log.min_ts().unwrap(), log.max_ts().unwrap()), (Some(MIN), Some(MAX)));
    assert_eq!(log.since(MAX, Order::Asc).unwrap().collect::<Vec<_>>(), vec![(MAX, 2)]);
    assert_eq!(log.until(MIN, Order::Asc).unwrap().count(), 0);
    assert_eq!(log.until(MAX, Order::Desc).unwrap().map(|r| r.1).collect::<Vec<_>>(), vec![1, 0]);
    assert_eq!(log.range(MIN, MAX, Order::Asc).unwrap().count(), 2, "[MIN, MAX) leaves MAX out");
    assert_eq!(log.count(MIN, MAX).unwrap(), 2);
    assert_eq!(log.count(5, 5).unwrap(), 0);
    assert_eq!(log.count(6, 5), Err(timelog::Error::InvalidRange { t1: 6, t2: 5 }));
    assert!(matches!(log.range(6, 5, Order::Asc), Err(timelog::Error::InvalidRange { t1: 6, t2: 5 })));
    assert_eq!(log.len().unwrap(), 3);
    log.flush().unwrap();
    let spans = |t1, t2| log.page_spans(t1, t2).unwrap().iter().map(|s| s.len()).sum::<usize>();
    assert_eq!(spans(None, None), 3);
    assert_eq!(spans(Some(0), None), 2, "an open end reads through MAX");
    assert_eq!(spans(None, Some(0)), 1);
    assert_eq!(spans(Some(5), Some(3)), 0, "reversed optional bounds are empty");
}
