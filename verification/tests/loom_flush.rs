//! loom: flush publication (R2, R5, R8, R9, R10).
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::Timelog;
use timelog_verification::*;

/// R8 regression (found by this scenario): the seal drains the writers out
/// of a memtable, but a writer commits only after leaving it. A flush that
/// published the segment before those commits let a snapshot see records
/// above its watermark (a segment has no per-record sequence to filter
/// with). Flush now waits until the watermark reaches the seal bound.
#[test]
fn flush_waits_for_commits() {
    loom_model("flush/flush_waits_for_commits", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let journal = Arc::new(Journal::default());
        let writer = {
            let (log, journal) = (log.clone(), journal.clone());
            thread::spawn(move || {
                append(&log, 1, 1);
                journal.push(observe(&log, Some(0), 1).1);
            })
        };
        log.flush().unwrap();
        journal.push(observe(&log, None, 0).1);
        writer.join().unwrap();
        finish(&log, &[vec![app(1, 1)]], journal.take());
    });
}

/// R5/R8/R9: a reader holds a snapshot and a half-read cursor of a memtable
/// while the maintainer seals and flushes it into a segment. The held view
/// does not change; the memtable is reclaimed only after the reader lets
/// go of it (its run slots are read-tracked), and a new snapshot sees the
/// same records from the segment.
#[test]
fn reader_vs_flush_publish() {
    loom_model("flush/reader_vs_flush_publish", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 1, 1);
        append(&log, 2, 2);
        let maintainer = {
            let log = log.clone();
            thread::spawn(move || log.flush().unwrap())
        };
        let snap = log.snapshot().unwrap();
        let mut cursor = snap.all(timelog::Order::Asc);
        let first = cursor.next();
        drop(snap);
        let rest: Vec<_> = cursor.collect();
        assert_eq!(first, Some((1, 1)));
        assert_eq!(rest, vec![(2, 2)]);
        let after = observe(&log, None, 0).1;
        maintainer.join().unwrap();
        finish(&log, &[vec![app(1, 1), app(2, 2)]], vec![after]);
        assert_eq!(log.stats().unwrap().retired_queue_len, 0, "a reclaimed part is still counted");
    });
}

/// R5/R10: a flush publication races a seal publication (the writer's
/// memtable fills up). The loser of the manifest CAS rebuilds its successor
/// over the winner's manifest: nothing sealed is lost, nothing flushed twice.
#[test]
fn seal_vs_flush_publish() {
    loom_model("flush/seal_vs_flush_publish", || {
        // Every append seals its memtable.
        let log = Arc::new(Timelog::<Id>::with_config(model_config(RECORD_BYTES)).unwrap());
        append(&log, 1, 1); // sealed, waiting for a flush
        let maintainer = {
            let log = log.clone();
            thread::spawn(move || {
                let _ = log.maint_step().unwrap();
            })
        };
        append(&log, 2, 2); // seals the next memtable, concurrently
        let (_s, seen) = observe(&log, Some(0), 2);
        maintainer.join().unwrap();
        let st = log.stats().unwrap();
        assert_eq!(st.sealed_runs + st.segments_l0, 2, "a sealed memtable was lost or flushed twice: {st:?}");
        finish(&log, &[vec![app(1, 1), app(2, 2)]], vec![seen]);
    });
}

/// R8 (payloads move) and R9: the flush of a memtable without tombstones
/// moves its payloads (one late, in the skiplist) into the segment, which
/// the memtable keeps as its heir. A reader holds a snapshot and a
/// half-read cursor of the memtable while the maintainer flushes it,
/// flushes a second memtable, and compacts both segments into one (which
/// drops the first segment's manifest references; the second one's record
/// shares timestamp 3 with the first, so the compaction merges them
/// rather than moving each to L1 as it is, session 39): every payload the
/// reader clones from the memtable is still alive (`Tracked` panics on a
/// read after drop), and in the end every copy was dropped exactly once.
#[test]
fn moved_payloads_outlive_old_readers() {
    loom_model("flush/moved_payloads_outlive_old_readers", || {
        let ledger = Arc::new(Ledger::default());
        let log = Arc::new(Timelog::<Tracked>::with_config(moving_config(1 << 20)).unwrap());
        for ts in [1, 3, 2] {
            let _ = log.append(ts, ledger.payload(ts as Id)).unwrap();
        }
        let maintainer = {
            let (log, ledger) = (log.clone(), ledger.clone());
            thread::spawn(move || {
                log.flush().unwrap();
                let _ = log.append(3, ledger.payload(4)).unwrap();
                log.flush().unwrap();
                log.compact().unwrap();
            })
        };
        let snap = log.snapshot().unwrap();
        let mut cursor = snap.all(timelog::Order::Asc);
        let first = cursor.next().map(|(ts, p)| (ts, p.id));
        drop(snap);
        let rest: Vec<_> = cursor.map(|(ts, p)| (ts, p.id)).collect();
        assert_eq!(first, Some((1, 1)));
        assert!(rest[..] == [(2, 2), (3, 3)] || rest[..] == [(2, 2), (3, 3), (3, 4)], "{rest:?}");
        maintainer.join().unwrap();
        assert_eq!(log.stats().unwrap().segments_l0, 0, "compacted");
        drop(log);
        assert_eq!(ledger.live(), 0, "a payload copy was leaked or dropped twice");
    });
}
