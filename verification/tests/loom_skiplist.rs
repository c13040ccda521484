//! loom: the memtable's out-of-order index, the arena skiplist of
//! `memtable/ooo.rs` (R6; with R5 and R9 around it).
//!
//! The index runs its own code here, through the `sync` shim, with towers
//! of at most 2 levels. Every node carries a region (`sync::Region`) read
//! on each access, so loom reports a reader or an inserter that reaches a
//! node its initialization is not ordered before (a broken `Release` link),
//! and a node dropped while still reachable.
//!
//! Run with `RUSTFLAGS="--cfg timelog_loom"` (see `verification/run.sh`).
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::Timelog;
use timelog_verification::*;

/// R6 (+ R3, R5): two writers insert late records into the same skiplist
/// at once (CAS linking from the finger an earlier late record left), and
/// one of them then reads — both scan directions, a point read — while the
/// other may still be linking. The view is exactly a prefix of one write
/// order; nothing is lost. (Two threads: the second writer is the reader,
/// which keeps the scenario small at the CI bound.)
#[test]
fn late_writers_vs_reader() {
    loom_model("skiplist/late_writers_vs_reader", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 10, 100); // the run's tail: the writes below are late
        append(&log, 6, 101); // a late record: the skiplist and its finger exist
        let a = {
            let log = log.clone();
            thread::spawn(move || append(&log, 7, 1)) // late by a position: after the finger
        };
        append(&log, 2, 2); // late by more: before the finger
        let (snap, seen) = observe(&log, Some(2), 1);
        a.join().unwrap();
        assert_eq!(read_view(&snap), seen.view, "a held snapshot changed");
        drop(snap);
        let first = vec![app(10, 100), app(6, 101)];
        finish(&log, &[first, vec![app(7, 1)], vec![app(2, 2)]], vec![seen]);
    });
}

/// R6 + R9 across a seal: a reader takes a snapshot of a memtable whose
/// skiplist holds a record, a writer inserts another late record into it,
/// and the reader seals and flushes that memtable (its records copied into
/// a segment) while still holding the snapshot. The snapshot's view does
/// not change, and the skiplist's nodes — freed with the memtable — are
/// freed only after the last reader of them is done.
#[test]
fn snapshot_held_across_seal_vs_late_insert() {
    loom_model("skiplist/snapshot_held_across_seal_vs_late_insert", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 10, 100);
        append(&log, 4, 101);
        let writer = {
            let log = log.clone();
            thread::spawn(move || append(&log, 5, 1))
        };
        let (snap, seen) = observe(&log, None, 0);
        log.flush().unwrap();
        assert_eq!(read_view(&snap), seen.view, "a snapshot held across the seal changed");
        writer.join().unwrap();
        drop(snap);
        finish(&log, &[vec![app(10, 100), app(4, 101)], vec![app(5, 1)]], vec![seen]);
    });
}

/// R13 (+ R5, R6, R9): the merged view of a memtable with late records.
/// Three late records make the first scan build the view (the model
/// threshold is 3); a reader scans (building and publishing it) while a
/// writer inserts a third late record and then scans too — finding the
/// reader's view (published by a `Release` CAS: loom reports a reader
/// that uses a view its build is not ordered before, through the view's
/// region), or building its own and racing the other to publish. Either
/// way both see exactly a prefix of one write order, and the view plus
/// what came after it (the newer late record) is what the writer reads.
#[test]
fn merged_view_published_to_reader() {
    loom_model("skiplist/merged_view_published_to_reader", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 10, 100);
        append(&log, 4, 101);
        append(&log, 6, 102);
        append(&log, 8, 103);
        let reader = {
            let log = log.clone();
            thread::spawn(move || observe(&log, None, 0).1)
        };
        append(&log, 5, 1);
        let (_s, mine) = observe(&log, Some(1), 1);
        let theirs = reader.join().unwrap();
        let first = vec![app(10, 100), app(4, 101), app(6, 102), app(8, 103)];
        finish(&log, &[first, vec![app(5, 1)]], vec![theirs, mine]);
    });
}

/// R13 (6) (+ R5, R6): the late floor. A full scan builds the view of a
/// memtable with three late records (the model's threshold); then two
/// writers insert late records newer than the view at once — one late by
/// a little, one late by more — into one epoch of the floor (two
/// sequences an epoch under the model), and one of them reads through the
/// view, which walks the skiplist only from the floor of the records newer
/// than it. Whatever the interleaving, the read sees its own record and a
/// prefix of the other writer's: the floor it loads is at most the
/// timestamp of each newer record its snapshot holds (it acquired the
/// record's commit, which the writer's load or `fetch_min` of the epoch
/// precedes). Fault `late_floor_store` (the epoch lowered by a load and a
/// store) lets the writer of the later timestamp store over the other's,
/// and the read misses the earlier record.
#[test]
fn late_floor_writers_vs_reader() {
    loom_model("skiplist/late_floor_writers_vs_reader", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 10, 100);
        append(&log, 4, 101);
        append(&log, 6, 102);
        append(&log, 8, 103);
        let _ = read_view(&log.snapshot().unwrap()); // builds the view
        let a = {
            let log = log.clone();
            thread::spawn(move || append(&log, 9, 1)) // late by a little
        };
        append(&log, 2, 2); // late by more
        let (_s, mine) = observe(&log, Some(2), 1);
        a.join().unwrap();
        let first = vec![app(10, 100), app(4, 101), app(6, 102), app(8, 103)];
        finish(&log, &[first, vec![app(9, 1)], vec![app(2, 2)]], vec![mine]);
    });
}

/// R13 (5) (+ R5, R6, R9): a merged view built in shares by short reads.
/// A run of two records around three late ones (the model's threshold);
/// a reader thread and the main thread each make short reads, and under
/// the model checkers each share adds one or two records to the build, so
/// the build changes hands between the threads — taken by an `Acquire`
/// swap of the memtable's build slot, parked by a `Release` store: loom
/// reports an owner whose writes to the build the next owner's writes are
/// not ordered after, through the build's region. Meanwhile the main
/// thread appends a late record newer than the build's watermark. Every
/// short read returns what its snapshot holds (the build completes and is
/// published by a share, or is made moot by the final scan's view), and
/// the final read shows everything.
#[test]
fn merged_view_built_in_shares() {
    loom_model("skiplist/merged_view_built_in_shares", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 10, 100);
        append(&log, 4, 101);
        append(&log, 6, 102);
        append(&log, 8, 103);
        append(&log, 40, 104); // the run's span makes every read below short
        let short = |s: &timelog::Snapshot<Id>, t: Ts| s.range(t, t + 1, timelog::Order::Asc).collect::<Vec<_>>();
        let reader = {
            let log = log.clone();
            thread::spawn(move || {
                let s = log.snapshot().unwrap();
                for (t, id) in [(4, 101), (8, 103), (6, 102)] {
                    assert_eq!(short(&s, t), vec![(t, id)], "short read at {t}");
                }
            })
        };
        append(&log, 5, 1);
        let s = log.snapshot().unwrap();
        assert_eq!(short(&s, 6), vec![(6, 102)]);
        assert_eq!(short(&s, 5), vec![(5, 1)], "the newer late record, beside the build");
        reader.join().unwrap();
        let all = read_view(&log.snapshot().unwrap());
        assert_eq!(all, vec![(4, 101), (5, 1), (6, 102), (8, 103), (10, 100), (40, 104)]);
    });
}
