//! loom: range deletes against the snapshot watermark (R5, R7, R8).
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::Timelog;
use timelog_verification::*;

/// R7: a delete is a memtable write: its tombstone is pushed (the Release
/// store of its slot's sequence) before it commits. A snapshot sees it exactly when its watermark covers
/// it, and a later insert at a deleted timestamp stays visible.
#[test]
fn delete_vs_snapshot_watermark() {
    loom_model("delete/delete_vs_snapshot_watermark", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 1, 1);
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                delete(&log, 0, 10);
                append(&log, 1, 2);
            })
        };
        let (snap, seen) = observe(&log, None, 0);
        writer.join().unwrap();
        assert_eq!(read_view(&snap), seen.view, "a held snapshot changed");
        drop(snap);
        finish(&log, &[vec![app(1, 1)], vec![Op::Delete { t1: 0, t2: 10 }, app(1, 2)]], vec![seen]);
    });
}

/// R7/R8: a delete races the flush of its memtable: the tombstone moves to
/// the manifest in the same publication that adds the segment, and hides
/// exactly the older records, whichever layer a snapshot finds them in.
#[test]
fn delete_vs_flush() {
    loom_model("delete/delete_vs_flush", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 1, 1);
        append(&log, 5, 2);
        let writer = {
            let log = log.clone();
            thread::spawn(move || delete(&log, 0, 2))
        };
        log.flush().unwrap();
        let (_s, seen) = observe(&log, None, 0);
        writer.join().unwrap();
        finish(&log, &[vec![app(1, 1), app(5, 2)], vec![Op::Delete { t1: 0, t2: 2 }]], vec![seen]);
    });
}

/// R1 (session 25: a delete takes a ticket of the memtable behind the
/// door, as a record does) + R2 + R8: a writer appends a record and then
/// deletes it while the main thread flushes. Either ticket may come before
/// or after the seal's claim: one taken before it lands in the memtable
/// being sealed, whose replacement waits for its commit (`Claim::seal`);
/// one refused waits for the successor and takes a sequence above the
/// sealed memtable's bound. Program order puts the delete after the
/// record, so the record is gone in the end. (Until session 25 deletes
/// were admitted by a sequence of their own, and this scenario caught the
/// fault `delete_no_base_check`, gone with that rule.)
#[test]
fn delete_admitted_across_a_seal() {
    loom_model("delete/delete_admitted_across_a_seal", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 10, 10); // the active memtable is not empty: flush seals it
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                append(&log, 1, 1);
                delete(&log, 0, 2);
            })
        };
        log.flush().unwrap();
        writer.join().unwrap();
        finish(&log, &[vec![app(10, 10)], vec![app(1, 1), Op::Delete { t1: 0, t2: 2 }]], vec![]);
    });
}

/// R11: coalescing a manifest's tombstones never changes what a snapshot
/// sees. Records 5 and 15 are flushed; `[0, 10)` deletes 5, record 7 is
/// written at a deleted timestamp after it and flushed (its segment applied
/// the delete: `tomb_applied` lies between the two deletes). A writer then
/// deletes the adjacent `[10, 20)` and flushes, which coalesces the list. A
/// snapshot taken between the two deletes (or at any other point) and read
/// after the coalescing flush still shows exactly its prefix — 7 and 15 —
/// and every later read shows 7: the two deletes are in different classes
/// and must not merge (seeded fault `tomb_coalesce_one_class`).
#[test]
fn snapshot_between_deletes_vs_coalescing() {
    loom_model("delete/snapshot_between_deletes_vs_coalescing", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 5, 1);
        append(&log, 15, 2);
        log.flush().unwrap();
        delete(&log, 0, 10);
        append(&log, 7, 3);
        log.flush().unwrap();
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                delete(&log, 10, 20);
                log.flush().unwrap();
            })
        };
        let (snap, seen) = observe(&log, None, 0);
        writer.join().unwrap();
        assert_eq!(read_view(&snap), seen.view, "a snapshot taken between the deletes changed after coalescing");
        drop(snap);
        assert_eq!(log.point(7).unwrap(), vec![3], "the record written after the first delete stays visible");
        let setup = vec![app(5, 1), app(15, 2), Op::Delete { t1: 0, t2: 10 }, app(7, 3)];
        finish(&log, &[setup, vec![Op::Delete { t1: 10, t2: 20 }]], vec![seen]);
        assert!(log.stats().unwrap().tombstone_count <= 2, "{:?}", log.stats().unwrap());
    });
}
