//! loom: the commit with helping of R5 (completion ring). Under loom the
//! ring has 2 slots, so a handful of writes reuses slots.
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::Timelog;
use timelog_verification::*;

/// R5: a bulk writer (one block of two sequences, then one more write)
/// races a single write: four sequences in a two-slot ring, so slots are
/// reused — stale marks must be ignored — while each writer advances the
/// watermark over the other's finished block. Every write returns only once
/// visible (read your writes); the watermark never passes an unfinished
/// insert.
#[test]
fn helping_across_a_reused_slot() {
    loom_model("commit/helping_across_a_reused_slot", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let other = {
            let log = log.clone();
            thread::spawn(move || append(&log, 10, 10))
        };
        let _ = log.extend([(1, 1), (2, 2)]).unwrap();
        append(&log, 4, 4);
        let mine = observe(&log, Some(0), 3).1;
        other.join().unwrap();
        finish(&log, &[vec![app(1, 1), app(2, 2), app(4, 4)], vec![app(10, 10)]], vec![mine]);
    });
}

/// R5: a block as long as the ring (two sequences) in flight while another
/// writer takes the next sequence — the same ring slot. That writer must
/// wait until the block's mark was consumed; otherwise one mark overwrites
/// the other, and the watermark either jumps over the unfinished block or
/// never reaches the later write.
#[test]
fn ring_slot_reuse_waits() {
    loom_model("commit/ring_slot_reuse_waits", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let bulk = {
            let log = log.clone();
            thread::spawn(move || {
                let _ = log.extend([(1, 1), (2, 2)]).unwrap();
            })
        };
        append(&log, 10, 10);
        let mine = observe(&log, Some(1), 1).1;
        bulk.join().unwrap();
        finish(&log, &[vec![app(1, 1), app(2, 2)], vec![app(10, 10)]], vec![mine]);
    });
}
