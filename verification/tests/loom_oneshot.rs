//! loom: one-shot reads (`len`, `next_ts`, point reads) racing a seal (R2,
//! R5: the watermark cap, R9).
//!
//! A one-shot read borrows the manifest for one call and takes its
//! watermark from the same snapshot function as an owned snapshot
//! (`Catalog::read`) — or, for `next_ts` and point reads whose answer does
//! not depend on it, none at all (R15). It exposes no watermark, so the
//! scenarios read through the model-only twins of those methods
//! (`Timelog::model_len`: the same `with_view` and query, returning the
//! view's watermark; `model_next_ts`, `model_point`: the public read
//! between two loads of the watermark) and check each result against the
//! prefixes of the write order of those lengths.
//!
//! Run with `RUSTFLAGS="--cfg timelog_loom"` (see `verification/run.sh`).
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::Timelog;
use timelog_verification::*;

/// R2 + R5: a reader's one-shot reads race a writer whose every append
/// seals its memtable. A read that loaded a manifest whose active memtable
/// is sealed meanwhile, while the writer went on in the next one, must cap
/// its watermark at the seal bound: every result is exactly what the
/// prefix of its watermark's length shows.
#[test]
fn one_shot_reads_vs_seal() {
    loom_model("oneshot/one_shot_reads_vs_seal", || {
        // Every append seals its memtable.
        let log = Arc::new(Timelog::<Id>::with_config(model_config(RECORD_BYTES)).unwrap());
        let order = [app(1, 1), app(2, 2)];
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                append(&log, 1, 1);
                append(&log, 2, 2);
            })
        };
        let (w, n) = log.model_len().unwrap();
        check_one_shot(&order, w, &OneShot::Len(n)).unwrap_or_else(|e| panic!("{e}"));
        let (lo, next, hi) = log.model_next_ts(1).unwrap();
        check_one_shot_in(&order, lo, hi, &OneShot::NextTs(1, next)).unwrap_or_else(|e| panic!("{e}"));
        let (lo, at, hi) = log.model_point(2).unwrap();
        check_one_shot_in(&order, lo, hi, &OneShot::Point(2, at)).unwrap_or_else(|e| panic!("{e}"));
        writer.join().unwrap();
        // Once the writer returned, the public one-shot reads see it all.
        assert_eq!(log.len().unwrap(), 2);
        assert_eq!(log.next_ts(1).unwrap(), Some(2));
        assert_eq!(log.point(2).unwrap(), vec![2]);
        finish(&log, &[order.to_vec()], Vec::new());
    });
}

/// R15: watermark-free one-shot reads of flushed records race a writer
/// whose append lands in the memtable inside the range `next_ts` searches
/// (the read must not answer from the run without the watermark) and whose
/// delete then covers a flushed record (its tombstone goes to the
/// memtable's stack: the read must see it once it committed). Every answer is one of
/// a watermark between two loads around the read; once the writer
/// returned, the reads see everything. Seeded faults `wfree_ignores_stacks`
/// (the stacks' tombstones left out) and `wfree_reads_run` (the run read
/// without the watermark) break it.
#[test]
fn wfree_reads_vs_delete_and_append() {
    loom_model("oneshot/wfree_reads_vs_delete_and_append", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 1, 1);
        append(&log, 2, 2);
        append(&log, 4, 4);
        log.flush().unwrap();
        let order = [app(1, 1), app(2, 2), app(4, 4), app(3, 5), Op::Delete { t1: 2, t2: 3 }];
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                append(&log, 3, 5);
                delete(&log, 2, 3);
            })
        };
        let (lo, next, hi) = log.model_next_ts(1).unwrap();
        check_one_shot_in(&order, lo, hi, &OneShot::NextTs(1, next)).unwrap_or_else(|e| panic!("{e}"));
        // The segments answer 4, the run's first timestamp (3) is below.
        let (lo, next, hi) = log.model_next_ts(2).unwrap();
        check_one_shot_in(&order, lo, hi, &OneShot::NextTs(2, next)).unwrap_or_else(|e| panic!("{e}"));
        let (lo, at, hi) = log.model_point(2).unwrap();
        check_one_shot_in(&order, lo, hi, &OneShot::Point(2, at)).unwrap_or_else(|e| panic!("{e}"));
        writer.join().unwrap();
        assert_eq!(log.next_ts(2).unwrap(), Some(3));
        assert_eq!(log.next_ts(1).unwrap(), Some(3));
        assert_eq!(log.point(2).unwrap(), Vec::<Id>::new());
        finish(&log, &[order.to_vec()], Vec::new());
    });
}

/// The span scenarios' log: records 1, 3, 5 and 7 (payload = timestamp),
/// flushed (a large memtable: nothing seals in the scenario), and their
/// writes.
fn flushed_1357() -> (Arc<Timelog<Id>>, Vec<Op>) {
    let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
    for ts in [1, 3, 5, 7] {
        append(&log, ts, ts as Id);
    }
    log.flush().unwrap();
    (log, [1, 3, 5, 7].map(|ts| app(ts, ts as Id)).to_vec())
}

/// R15 "span": a watermark-free `next_ts` whose start lies outside the
/// memtable tombstones' span reads with the settled coverage, which leaves
/// those tombstones out — so an answer inside the span is not an answer:
/// the read loads the watermark. Flushed records 1, 3, 5, 7; `[3, 4)` is
/// deleted before the writer starts (the active stack's first slot), the
/// writer deletes `[5, 6)` (its second). `next_ts(1)` starts outside the
/// span and the segments answer 3, inside it; `next_ts(4)` starts outside
/// it until the writer's push widens it. Every answer is one of a
/// watermark between two loads around the read. Seeded faults
/// `wfree_span_unchecked` (the answer not checked against the span) and
/// `tomb_span_own_only` (a slot's span leaves the earlier slots out) break
/// it.
#[test]
fn wfree_span_vs_delete() {
    loom_model("oneshot/wfree_span_vs_delete", || {
        let (log, mut order) = flushed_1357();
        delete(&log, 3, 4);
        order.extend([Op::Delete { t1: 3, t2: 4 }, Op::Delete { t1: 5, t2: 6 }]);
        let writer = {
            let log = log.clone();
            thread::spawn(move || delete(&log, 5, 6))
        };
        for t in [1, 4] {
            let (lo, next, hi) = log.model_next_ts(t).unwrap();
            check_one_shot_in(&order, lo, hi, &OneShot::NextTs(t, next)).unwrap_or_else(|e| panic!("{e}"));
        }
        writer.join().unwrap();
        assert_eq!(log.next_ts(1).unwrap(), Some(7));
        finish(&log, &[order], Vec::new());
    });
}

/// R15 "span" with two deleters on one stack: a pusher whose previous slot
/// is still being written cannot include it, so its span is unknown (every
/// timestamp) until a later push walks back over both. Flushed records 1,
/// 3, 5, 7; one thread deletes `[3, 4)`, another `[5, 6)`, while the
/// reader's `next_ts(1)` (its start, 2, outside every span) reads. Every
/// answer is one of a watermark between two loads around the read, in one
/// of the two orders of the deletes. Seeded faults `tomb_span_own_only`
/// and `tomb_span_skips_unwritten` (a slot still being written left out of
/// the next slot's span) break it.
#[test]
fn wfree_span_vs_two_deleters() {
    loom_model("oneshot/wfree_span_vs_two_deleters", || {
        let (log, prefix) = flushed_1357();
        let lanes = [vec![Op::Delete { t1: 3, t2: 4 }], vec![Op::Delete { t1: 5, t2: 6 }]];
        let deleters: Vec<_> = lanes
            .iter()
            .map(|lane| {
                let (log, op) = (log.clone(), lane[0]);
                thread::spawn(move || {
                    if let Op::Delete { t1, t2 } = op {
                        delete(&log, t1, t2);
                    }
                })
            })
            .collect();
        let (lo, next, hi) = log.model_next_ts(1).unwrap();
        check_one_shot_lanes(&prefix, &lanes, lo, hi, &OneShot::NextTs(1, next)).unwrap_or_else(|e| panic!("{e}"));
        for d in deleters {
            d.join().unwrap();
        }
        assert_eq!(log.next_ts(1).unwrap(), Some(7));
        let mut main = prefix;
        main.extend(&lanes[0]);
        finish(&log, &[main, lanes[1].clone()], Vec::new());
    });
}
