//! loom: one-shot reads (`len`, `next_ts`, point reads) racing a seal (R2,
//! R5: the watermark cap, R9).
//!
//! A one-shot read borrows the manifest for one call and takes its
//! watermark from the same snapshot function as an owned snapshot
//! (`Catalog::read`). It exposes no watermark, so the scenario reads through
//! the model-only twins of those methods (`Timelog::model_len`,
//! `model_next_ts`, `model_point`: the same `with_view` and the same query,
//! returning the view's watermark too), and checks each result against the
//! prefix of the write order of that length.
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
        let (w, next) = log.model_next_ts(1).unwrap();
        check_one_shot(&order, w, &OneShot::NextTs(1, next)).unwrap_or_else(|e| panic!("{e}"));
        let (w, at) = log.model_point(2).unwrap();
        check_one_shot(&order, w, &OneShot::Point(2, at)).unwrap_or_else(|e| panic!("{e}"));
        writer.join().unwrap();
        // Once the writer returned, the public one-shot reads see it all.
        assert_eq!(log.len().unwrap(), 2);
        assert_eq!(log.next_ts(1).unwrap(), Some(2));
        assert_eq!(log.point(2).unwrap(), vec![2]);
        finish(&log, &[order.to_vec()], Vec::new());
    });
}
