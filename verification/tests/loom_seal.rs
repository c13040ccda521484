//! loom: entering, sealing and committing (R1, R2, R3, R4, R5).
//!
//! Run with `RUSTFLAGS="--cfg timelog_loom"` (see `verification/run.sh`).
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::Timelog;
use timelog_verification::*;

/// R1/R2: a writer races a seal (and the flush of the sealed memtable).
/// Either the sealer waits for the writer inside, or the writer sees the
/// seal and moves to the fresh memtable: the write is never lost and never
/// lands in a memtable after its bound.
#[test]
fn writer_vs_seal_and_flush() {
    loom_model("seal/writer_vs_seal_and_flush", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let journal = Arc::new(Journal::default());
        append(&log, 0, 100); // the active memtable is not empty: flush seals it
        journal.push(observe(&log, Some(0), 1).1);
        let writer = {
            let (log, journal) = (log.clone(), journal.clone());
            thread::spawn(move || {
                append(&log, 1, 1);
                journal.push(observe(&log, Some(1), 1).1);
            })
        };
        log.flush().unwrap();
        journal.push(observe(&log, Some(0), 1).1);
        writer.join().unwrap();
        finish(&log, &[vec![app(0, 100)], vec![app(1, 1)]], journal.take());
    });
}

/// R1/R2/R3 on the one-word writer state (session 8): an in-order writer
/// (entering by the CAS that takes the appender right) and a delete
/// (entering by `fetch_add`) race each other's seal: every write seals
/// its memtable after it (a one-record memtable). The drain waits for the
/// other writer, whatever it added to the word (`WRITER | APPENDER` or
/// `WRITER`), or that writer sees SEALED and moves on to the fresh
/// memtable: neither write is lost or lands after a seal bound.
#[test]
fn appender_and_delete_vs_seal() {
    loom_model("seal/appender_and_delete_vs_seal", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(RECORD_BYTES)).unwrap());
        let writer = {
            let log = log.clone();
            thread::spawn(move || append(&log, 3, 1))
        };
        delete(&log, 0, 5);
        writer.join().unwrap();
        finish(&log, &[vec![app(3, 1)], vec![Op::Delete { t1: 0, t2: 5 }]], vec![]);
    });
}

/// R2 + R5 (the watermark cap): a reader loads a manifest whose active
/// memtable is then sealed, while the writer goes on in the next memtable.
/// The reader's watermark is capped by the seal bound, so it never claims
/// a write it cannot reach; its view stays the same while it is held.
#[test]
fn reader_vs_seal() {
    loom_model("seal/reader_vs_seal", || {
        // Every append seals its memtable.
        let log = Arc::new(Timelog::<Id>::with_config(model_config(RECORD_BYTES)).unwrap());
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                append(&log, 1, 1);
                append(&log, 2, 2);
            })
        };
        let (snap, first) = observe(&log, None, 0);
        writer.join().unwrap();
        assert_eq!(read_view(&snap), first.view, "a held snapshot changed");
        drop(snap);
        finish(&log, &[vec![app(1, 1), app(2, 2)]], vec![first]);
    });
}

/// R3/R4/R5: two writers (one may take the run's appender right, APPENDER in
/// the memtable's state word, in its entering CAS; the other
/// then goes to the out-of-order index) and a reader. The watermark only
/// passes complete writes, in sequence order; a reader never sees a slot
/// that is not published, nor a record above its watermark.
#[test]
fn two_writers_advance_the_watermark() {
    loom_model("seal/two_writers_advance_the_watermark", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let a = {
            let log = log.clone();
            thread::spawn(move || append(&log, 5, 1))
        };
        let b = {
            let log = log.clone();
            thread::spawn(move || append(&log, 3, 2))
        };
        let (snap, seen) = observe(&log, None, 0);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(read_view(&snap), seen.view, "a held snapshot changed");
        drop(snap);
        finish(&log, &[vec![app(5, 1)], vec![app(3, 2)]], vec![seen]);
    });
}

/// R3/R5: a bulk write takes one block of sequences and commits it at once:
/// a reader sees all of the chunk or none of it.
#[test]
fn bulk_write_is_atomic() {
    loom_model("seal/bulk_write_is_atomic", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 4, 100);
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                let _ = log.extend([(5, 1), (2, 2)]).unwrap();
            })
        };
        let (_snap, seen) = observe(&log, None, 0);
        writer.join().unwrap();
        let bulk = seen.view.iter().filter(|r| r.1 < 100).count();
        assert!(bulk == 0 || bulk == 2, "a bulk chunk became visible in part: {seen:?}");
        // The batch is sorted before it is written: (2, 2) takes the first sequence.
        finish(&log, &[vec![app(4, 100)], vec![app(2, 2), app(5, 1)]], vec![seen]);
    });
}

/// R3/R4: a sorted batch joins the run in bulk (`Appender::extend`), one
/// publication per bucket: here its first record goes to the skiplist
/// (before the run's tail) and the other four to the run, across the end
/// of its first bucket (4 slots under the model checkers) — two
/// publications of the run's length. A reader sees all of the batch or
/// none of it, and only published slots (loom's regions check R4).
#[test]
fn bulk_write_across_buckets_is_atomic() {
    loom_model("seal/bulk_write_across_buckets_is_atomic", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 4, 100);
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                let _ = log.extend([(5, 1), (2, 2), (6, 3), (7, 4), (8, 5)]).unwrap();
            })
        };
        let (_snap, seen) = observe(&log, None, 0);
        writer.join().unwrap();
        let bulk = seen.view.iter().filter(|r| r.1 < 100).count();
        assert!(bulk == 0 || bulk == 5, "a bulk chunk became visible in part: {seen:?}");
        let batch = vec![app(2, 2), app(5, 1), app(6, 3), app(7, 4), app(8, 5)];
        finish(&log, &[vec![app(4, 100)], batch], vec![seen]);
    });
}
