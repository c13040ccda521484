//! Bulk writes published as an immutable sorted run (rule R14): a batch of
//! at least a memtable's worth of records becomes one L0 segment with its
//! own block of sequences, with no seal of a full memtable and no flush in
//! the call; MVCC visibility, tombstones and the age order stay exact; the
//! memtable path takes over when the log is not in the state R14 needs.

// A committed write may report `Busy` (never here: no sealed memtable piles up).
#![allow(unused_must_use)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use timelog::{Config, MaintenanceMode, Order, Timelog};

/// Records per memtable (and per page) in these logs (`u64` payloads: 24
/// bytes each in a memtable, 16 in a page).
const MT: usize = 64;

fn cfg(maintenance: MaintenanceMode) -> Config {
    // Pages of at most `MT` records too: a run is at least a memtable and a page.
    Config { maintenance, memtable_max_bytes: MT * 24, target_page_bytes: MT * 16, ..Config::default() }
}

fn log() -> Timelog<u64> {
    Timelog::with_config(cfg(MaintenanceMode::Disabled)).unwrap()
}

fn all(log: &Timelog<u64>) -> Vec<(i64, u64)> {
    log.all(Order::Asc).unwrap().collect()
}

fn batch(ts: impl IntoIterator<Item = i64>, id0: u64) -> Vec<(i64, u64)> {
    ts.into_iter().zip(id0..).collect()
}

#[test]
fn a_large_batch_is_one_run_with_no_seal_and_no_flush() {
    let log = log();
    let b = batch(0..(3 * MT as i64), 0);
    log.extend(b.clone()).unwrap();
    let st = log.stats().unwrap();
    assert_eq!((st.segments_l0, st.sealed_runs, st.active_records), (1, 0, 0), "{st:?}");
    assert_eq!((st.seals_total, st.flushes_total), (0, 0), "no seal of a full memtable, no flush: {st:?}");
    assert_eq!(st.visible_seq, b.len() as u64, "the run took one sequence per record");
    assert_eq!(all(&log), b);
    log.validate().unwrap();
    // A second run stacks on the first, newer.
    log.append_batch(batch(0..(MT as i64), 1000)).unwrap();
    let st = log.stats().unwrap();
    assert_eq!((st.segments_l0, st.sealed_runs), (2, 0));
    log.validate().unwrap();
    assert_eq!(log.len().unwrap(), 4 * MT);
}

#[test]
fn a_small_batch_takes_the_memtable() {
    let log = log();
    log.extend(batch(0..(MT as i64 - 1), 0)).unwrap();
    let st = log.stats().unwrap();
    assert_eq!((st.segments_l0, st.active_records), (0, MT - 1));
}

#[test]
fn snapshots_before_the_run_do_not_see_it() {
    let log = log();
    log.append(5, 1).unwrap();
    log.flush().unwrap();
    let before = log.snapshot().unwrap();
    log.extend(batch(0..(MT as i64), 100)).unwrap();
    assert_eq!(log.stats().unwrap().segments_l0, 2, "published as a run");
    let after = log.snapshot().unwrap();
    assert_eq!(before.all(Order::Asc).collect::<Vec<_>>(), vec![(5, 1)]);
    assert_eq!(before.len(), 1);
    assert!(before.watermark() < after.watermark());
    assert_eq!(after.len(), MT + 1);
    // Equal timestamps: the older record first.
    let at5: Vec<u64> = {
        let mut v = Vec::new();
        after.point_with(5, |x| v.push(*x));
        v
    };
    assert_eq!(at5, vec![1, 105]);
}

#[test]
fn tombstones_before_the_run_do_not_hide_it_and_later_ones_do() {
    let log = log();
    log.extend(batch(0..10, 0)).unwrap();
    log.delete_range(0, 100).unwrap();
    log.flush().unwrap(); // the delete is now in the manifest's list
    assert_eq!(log.len().unwrap(), 0);
    let run = batch(0..(MT as i64), 1000);
    log.extend(run.clone()).unwrap();
    assert_eq!(log.stats().unwrap().sealed_runs, 0);
    assert_eq!(all(&log), run, "an older delete hides nothing of the run");
    let snap = log.snapshot().unwrap();
    log.delete_range(10, 20).unwrap();
    let expect: Vec<_> = run.iter().copied().filter(|r| !(10..20).contains(&r.0)).collect();
    assert_eq!(all(&log), expect, "a newer delete hides the run's records");
    assert_eq!(snap.len(), MT, "the snapshot before the delete keeps them");
    log.flush().unwrap();
    log.compact().unwrap();
    assert_eq!(all(&log), expect);
    log.append(15, 7).unwrap();
    log.validate().unwrap();
    assert_eq!(log.len().unwrap(), expect.len() + 1, "a write after the delete stays visible");
}

#[test]
fn the_run_orders_between_older_and_newer_writes_through_compaction() {
    let log = log();
    log.append(3, 1).unwrap();
    log.flush().unwrap();
    log.compact().unwrap(); // (3, 1) is in L1
    log.extend(batch(std::iter::repeat_n(3, MT), 100)).unwrap();
    log.append(3, 2).unwrap();
    let ids = |log: &Timelog<u64>| all(log).into_iter().map(|r| r.1).collect::<Vec<_>>();
    let expect: Vec<u64> = std::iter::once(1).chain(100..100 + MT as u64).chain(std::iter::once(2)).collect();
    assert_eq!(ids(&log), expect);
    log.flush().unwrap();
    log.compact().unwrap();
    assert_eq!(ids(&log), expect, "compaction keeps the age order");
    log.validate().unwrap();
}

#[test]
fn unsorted_batches_are_sorted_stably() {
    let log = log();
    let mut b: Vec<(i64, u64)> = (0..(2 * MT) as u64).map(|i| ((i as i64 * 7919) % 50, i)).collect();
    log.extend(b.clone()).unwrap();
    assert_eq!(log.stats().unwrap().segments_l0, 1);
    b.sort_by_key(|r| r.0);
    assert_eq!(all(&log), b);
}

#[test]
fn a_non_empty_active_memtable_takes_the_memtable_path() {
    let log = log();
    log.append(1_000_000, 9).unwrap();
    let run = batch(0..(2 * MT as i64), 0);
    log.extend(run.clone()).unwrap();
    let st = log.stats().unwrap();
    assert_eq!(st.segments_l0, 0, "{st:?}");
    let mut expect = run;
    expect.push((1_000_000, 9));
    assert_eq!(all(&log), expect);
    log.validate().unwrap();
    // With an unflushed sealed memtable (and an empty active one) too.
    let log = self::log();
    log.extend(batch(0..(MT as i64 - 1), 0)).unwrap();
    log.append(100, 100).unwrap(); // fills and seals the memtable
    let st = log.stats().unwrap();
    assert_eq!((st.sealed_runs, st.active_records), (1, 0), "{st:?}");
    log.extend(batch(200..(200 + MT as i64), 1000)).unwrap();
    assert_eq!(log.stats().unwrap().segments_l0, 0);
    assert_eq!(log.len().unwrap(), 2 * MT);
    log.flush().unwrap();
    log.validate().unwrap();
}

#[test]
fn below_the_floor_nothing_is_written() {
    let log = log();
    log.set_floor(10).unwrap();
    log.flush().unwrap();
    let b = batch(5..(5 + 2 * MT as i64), 0);
    assert!(log.extend(b).is_err());
    assert_eq!(log.len().unwrap(), 0);
}

/// Parallel inputs (`extend_from_parts`): a sorted batch of a memtable's
/// worth becomes one run straight from them, equal timestamps in input
/// order; an unsorted or small one takes the pairs path, as `extend` does.
#[test]
fn parts_write_as_extend_does() {
    let ts: Vec<i64> = (0..(3 * MT) as i64).map(|t| t / 2).collect();
    let log = log();
    log.extend_from_parts(&ts, 0..ts.len() as u64).unwrap();
    let st = log.stats().unwrap();
    assert_eq!((st.segments_l0, st.active_records, st.seals_total, st.flushes_total), (1, 0, 0, 0), "{st:?}");
    assert_eq!(st.visible_seq, ts.len() as u64);
    assert_eq!(all(&log), batch(ts.iter().copied(), 0));
    log.validate().unwrap();
    // Unsorted, and small: the same records as `extend` of the pairs.
    let unsorted: Vec<i64> = (0..(2 * MT) as i64).map(|i| (i * 7919) % 50).collect();
    for ts in [unsorted, (0..(MT as i64 - 1)).collect()] {
        let (a, b) = (log_with_run(), log_with_run());
        a.extend_from_parts(&ts, 100..100 + ts.len() as u64).unwrap();
        b.extend(batch(ts.iter().copied(), 100)).unwrap();
        assert_eq!(all(&a), all(&b));
        assert_eq!(a.stats().unwrap().segments_l0, b.stats().unwrap().segments_l0);
        a.validate().unwrap();
    }
}

/// A flushed log holding one run (so a batch is not the first write).
fn log_with_run() -> Timelog<u64> {
    let log = log();
    log.extend(batch(-(MT as i64)..0, 0)).unwrap();
    log
}

/// An iterator that claims to yield `.1` items and yields what `.0` does.
struct Claims<I>(I, usize);

impl<I: Iterator> Iterator for Claims<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

/// Refused parts write nothing and drop every payload taken: a length
/// mismatch known up front, payloads that end before the timestamps or
/// go on after them (the run path and the pairs path), a timestamp below
/// the floor.
#[test]
fn refused_parts_write_nothing_and_drop_their_payloads() {
    type Payload = Arc<u64>;
    let log = Timelog::<Payload>::with_config(cfg(MaintenanceMode::Disabled)).unwrap();
    let p = Arc::new(7u64);
    let n = 3 * MT;
    let sorted: Vec<i64> = (0..n as i64).collect();
    let unsorted: Vec<i64> = sorted.iter().rev().copied().collect();
    let e = log.extend_from_parts(&sorted, vec![p.clone(); n - 1]).unwrap_err();
    assert_eq!(e, timelog::Error::LengthMismatch { timestamps: n, payloads: n - 1 });
    for ts in [&sorted, &unsorted] {
        let short = Claims(std::iter::repeat_n(p.clone(), MT + 1), n);
        let e = log.extend_from_parts(ts, short).unwrap_err();
        assert_eq!(e, timelog::Error::LengthMismatch { timestamps: n, payloads: MT + 1 });
        assert_eq!(Arc::strong_count(&p), 1, "the payloads taken are dropped");
        let long = Claims(std::iter::repeat_n(p.clone(), n + 2), n);
        let e = log.extend_from_parts(ts, long).unwrap_err();
        assert_eq!(e, timelog::Error::LengthMismatch { timestamps: n, payloads: n + 2 });
        assert_eq!(Arc::strong_count(&p), 1);
    }
    log.set_floor(10).unwrap();
    log.flush().unwrap();
    let e = log.extend_from_parts(&sorted, vec![p.clone(); n]).unwrap_err();
    assert_eq!(e, timelog::Error::BelowFloor { ts: 0, floor: 10 });
    assert_eq!(Arc::strong_count(&p), 1);
    assert_eq!(log.len().unwrap(), 0);
    assert_eq!(log.stats().unwrap().segments_l0, 0);
}

/// A batch prepared as a run is written by the state of the log when it
/// is appended: through the memtable once the log holds unflushed writes,
/// through another log's memtables when appended there, not at all once
/// the floor rose above it or the log is closed.
#[test]
fn a_prepared_run_follows_the_log_at_append_time() {
    let ts: Vec<i64> = (0..(2 * MT) as i64).collect();
    let log = log();
    let b = log.prepare_parts(&ts, 0..ts.len() as u64).unwrap();
    assert_eq!(b.len(), ts.len());
    log.append(-1, 99).unwrap();
    log.append_prepared(b).unwrap();
    assert_eq!(log.stats().unwrap().segments_l0, 0, "memtable path");
    let mut expect = vec![(-1, 99)];
    expect.extend(batch(ts.iter().copied(), 0));
    assert_eq!(all(&log), expect);
    log.validate().unwrap();
    // Prepared by `a`, appended to `b`.
    let (a, b) = (self::log(), self::log());
    let batch_a = a.prepare_parts(&ts, 0..ts.len() as u64).unwrap();
    b.append_prepared(batch_a).unwrap();
    assert_eq!(all(&b), batch(ts.iter().copied(), 0));
    assert_eq!(a.len().unwrap(), 0);
    b.validate().unwrap();
    a.validate().unwrap();
    // A floor raised between the halves, over the run and over pairs.
    for ts in [ts.clone(), ts.iter().rev().copied().collect()] {
        let log = self::log();
        let prepared = log.prepare_parts(&ts, 0..ts.len() as u64).unwrap();
        log.set_floor(5).unwrap();
        assert_eq!(log.append_prepared(prepared).unwrap_err(), timelog::Error::BelowFloor { ts: 0, floor: 5 });
        assert_eq!(log.len().unwrap(), 0);
    }
    // Closed between the halves.
    let batch_a = a.prepare_parts(&ts, 0..ts.len() as u64).unwrap();
    a.close().unwrap();
    assert_eq!(a.append_prepared(batch_a).unwrap_err(), timelog::Error::Closed);
}

#[test]
fn background_maintenance_compacts_runs() {
    let log = Timelog::with_config(Config { max_delta_segments: 2, ..cfg(MaintenanceMode::Background) }).unwrap();
    for k in 0..6i64 {
        log.extend(batch(k * 1000..k * 1000 + MT as i64, (k * 1000) as u64)).unwrap();
    }
    log.flush().unwrap();
    log.compact().unwrap();
    assert_eq!(log.len().unwrap(), 6 * MT);
    assert_eq!(log.stats().unwrap().segments_l0, 0);
    log.validate().unwrap();
}

/// Bulk writers, single-record writers, deleters of their own lane and
/// readers, with background maintenance: every snapshot sees each batch
/// whole or not at all (a batch here is one chunk on the memtable path
/// too) and agrees with itself; at the end everything is there.
#[test]
fn concurrent_runs_appends_and_readers() {
    let log = Arc::new(Timelog::<u64>::with_config(cfg(MaintenanceMode::Background)).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    // Readers and writers start together, and every reader completes at
    // least one check (a do-while): on a loaded machine a reader used to
    // be starved until the writers were done and check nothing (session
    // 12's flake, `checks > 0`).
    let start = Arc::new(std::sync::Barrier::new(5));
    const BATCHES: u64 = 60;
    let bulk: Vec<_> = (0..2u64)
        .map(|t| {
            let (log, start) = (log.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for b in 0..BATCHES {
                    // Batch `b` of thread `t`: ids t * 1e6 + b * 1000 + i.
                    let base = (t * 1_000_000 + b * 1000) as i64;
                    let recs: Vec<(i64, u64)> =
                        (0..(2 * MT) as i64).map(|i| (base + (i * 37) % 100, (base + i) as u64)).collect();
                    log.extend(recs).unwrap();
                }
            })
        })
        .collect();
    let appender = {
        let (log, start) = (log.clone(), start.clone());
        std::thread::spawn(move || {
            start.wait();
            for i in 0..5000i64 {
                log.append(10_000_000 + i, 10_000_000 + i as u64).unwrap();
                if i % 500 == 499 {
                    log.delete_range(10_000_000 + i - 100, 10_000_000 + i - 90).unwrap();
                }
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (log, stop, start) = (log.clone(), stop.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                loop {
                    let s = log.snapshot().unwrap();
                    let v: Vec<(i64, u64)> = s.all(Order::Asc).collect();
                    assert_eq!(s.len(), v.len());
                    let mut per_batch = std::collections::HashMap::new();
                    for &(_, id) in v.iter().filter(|r| r.0 < 10_000_000) {
                        *per_batch.entry(id / 1000).or_insert(0usize) += 1;
                    }
                    for (b, n) in per_batch {
                        assert_eq!(n, 2 * MT, "batch {b} seen in part");
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
        })
        .collect();
    bulk.into_iter().for_each(|h| h.join().unwrap());
    appender.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    for h in readers {
        h.join().unwrap();
    }
    let n_app = 5000 - 10 * 10;
    assert_eq!(log.len().unwrap(), (2 * BATCHES as usize * 2 * MT) + n_app);
    log.flush().unwrap();
    log.compact().unwrap();
    assert_eq!(log.len().unwrap(), (2 * BATCHES as usize * 2 * MT) + n_app);
    log.validate().unwrap();
}
