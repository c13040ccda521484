//! loom: range deletes against the snapshot watermark (R5, R7, R8).
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::Timelog;
use timelog_verification::*;

/// R7: a delete is a memtable write: its tombstone is pushed (Release CAS)
/// before it commits. A snapshot sees it exactly when its watermark covers
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
