//! loom: bulk runs (R14) — a bulk write published as an immutable sorted
//! run, racing a single-record writer (and its seal), a flush, and readers.
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::Timelog;
use timelog_verification::*;

/// Memtables and pages of two records: a batch of two is a memtable's and
/// a page's worth, so `extend` publishes it as a run when the log allows
/// (R14).
fn cfg2() -> timelog::Config {
    timelog::Config { target_page_bytes: 2 * 16, ..model_config(2 * RECORD_BYTES) }
}

/// R14 (3)–(5), R5: a run races a reader. The batch is visible whole or
/// not at all, and no snapshot sees it above its watermark: the run is
/// committed before it is published (fault `run_publish_before_commit`).
#[test]
fn run_vs_reader() {
    loom_model("bulk/run_vs_reader", || {
        let log = Arc::new(Timelog::<Id>::with_config(cfg2()).unwrap());
        append(&log, 4, 100);
        log.flush().unwrap(); // the run needs an empty active memtable
        let bulk = {
            let log = log.clone();
            thread::spawn(move || {
                let _ = log.extend([(5, 1), (2, 2)]).unwrap();
            })
        };
        let (_snap, seen) = observe(&log, None, 0);
        bulk.join().unwrap();
        let n = seen.view.iter().filter(|r| r.1 < 100).count();
        assert!(n == 0 || n == 2, "a bulk write became visible in part: {seen:?}");
        assert_eq!(log.stats().unwrap().segments_l0, 2, "published as a run");
        finish(&log, &[vec![app(4, 100)], vec![app(2, 2), app(5, 1)]], vec![seen]);
    });
}

/// R14 (2), R1/R2: a run races a single-record writer. Whoever enters the
/// active memtable first decides the path: the run seals an empty memtable
/// and publishes itself; a writer already inside makes it an ordinary seal
/// and the batch takes the memtable path; a writer arriving during the
/// run's seal waits for its publication and writes above its block. No
/// record is lost and the sequence order is one write order.
#[test]
fn run_vs_writer() {
    loom_model("bulk/run_vs_writer", || {
        let log = Arc::new(Timelog::<Id>::with_config(cfg2()).unwrap());
        let bulk = {
            let log = log.clone();
            thread::spawn(move || {
                let _ = log.extend([(5, 1), (2, 2)]).unwrap();
            })
        };
        append(&log, 2, 10);
        bulk.join().unwrap();
        finish(&log, &[vec![app(2, 2), app(5, 1)], vec![app(2, 10)]], vec![]);
    });
}

/// R14 (2), R1 (session 25: a delete takes a ticket of the memtable
/// behind the door): a run races a delete. A delete whose ticket precedes
/// the run's claim lands in the claimed memtable (which then is sealed
/// like a full one, and the batch takes the memtable path); one refused
/// by the claim waits for the door to reopen and lands in the successor,
/// above the run's block. Neither waits for the other forever, nothing is
/// lost, and the sequence order is one write order. (Until session 25 a
/// delete allocated its own sequence, and one allocated between the
/// claim's bound and the run's block made the run raise the bound.)
#[test]
fn run_vs_delete() {
    loom_model("bulk/run_vs_delete", || {
        let log = Arc::new(Timelog::<Id>::with_config(cfg2()).unwrap());
        let bulk = {
            let log = log.clone();
            thread::spawn(move || {
                let _ = log.extend([(5, 1), (2, 2)]).unwrap();
            })
        };
        delete(&log, 0, 3);
        bulk.join().unwrap();
        finish(&log, &[vec![app(2, 2), app(5, 1)], vec![Op::Delete { t1: 0, t2: 3 }]], vec![]);
    });
}

/// R14 (2), R8, R10: a run races the flush of a sealed memtable. The run
/// is published only once no sealed memtable is left (else the batch takes
/// the memtable path), so the age order L0 < sealed < active holds and
/// equal timestamps keep the write order (checked by `finish`: one write
/// order, and `validate`). No reader thread here (`run_vs_reader` has one):
/// with one, the scenario takes 119,428 schedules at bound 2 and more than
/// six minutes at bound 3.
#[test]
fn run_vs_flush() {
    loom_model("bulk/run_vs_flush", || {
        let log = Arc::new(Timelog::<Id>::with_config(cfg2()).unwrap());
        append(&log, 1, 100);
        append(&log, 2, 101); // seals: one sealed memtable, an empty active one
        let maintainer = {
            let log = log.clone();
            thread::spawn(move || log.flush().unwrap())
        };
        let _ = log.extend([(2, 1), (1, 2)]).unwrap();
        maintainer.join().unwrap();
        finish(&log, &[vec![app(1, 100), app(2, 101)], vec![app(1, 2), app(2, 1)]], vec![]);
    });
}
