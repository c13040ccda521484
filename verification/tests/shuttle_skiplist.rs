//! shuttle: the memtable's out-of-order index (the arena skiplist of
//! `memtable/ooo.rs`, R6) under random and PCT schedules: two writers
//! insert late records into one skiplist (late by a position and by more),
//! a reader holds a snapshot and a half-read cursor across a seal and
//! flush, and a point read and both scan directions are checked against
//! the snapshot-consistency oracle (`check_lanes`). Memory orderings are
//! loom's job (`tests/loom_skiplist.rs`); this explores longer histories.
#![cfg(timelog_shuttle)]

use std::sync::Arc;

use shuttle::thread;
use timelog::{Order, Timelog};
use timelog_verification::*;

/// Writer `t`: an in-order record, then late records in its lane (each
/// lands in the skiplist unless the run's tail is below it), a snapshot.
fn writer(log: &Timelog<Id>, t: usize) -> (Vec<Op>, Vec<Observed>) {
    let b = t as Ts * LANE;
    let mut ops = Vec::new();
    let mut obs = Vec::new();
    for (k, off) in [50, 40, 45, 10, 47, 5].into_iter().enumerate() {
        let id = t as u64 * 100 + k as u64;
        append(log, b + off, id);
        ops.push(app(b + off, id));
        if k == 2 {
            obs.push(observe(log, Some(t), ops.len()).1);
        }
    }
    obs.push(observe(log, Some(t), ops.len()).1);
    (ops, obs)
}

#[test]
fn late_writers_vs_reader_across_seal() {
    shuttle_check("skiplist/late_writers_vs_reader_across_seal", shuttle_schedules(2500), || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let writers: Vec<_> = (0..2)
            .map(|t| {
                let log = log.clone();
                thread::spawn(move || writer(&log, t))
            })
            .collect();
        let reader = {
            let log = log.clone();
            thread::spawn(move || {
                let (held, first) = observe(&log, None, 0);
                let mut cursor = held.all(Order::Asc);
                let head = cursor.next();
                thread::yield_now();
                let (_s, second) = observe(&log, None, 0);
                let mut rest: Vec<_> = head.into_iter().collect();
                rest.extend(cursor);
                assert_eq!(rest, first.view, "a cursor changed across the seal");
                assert_eq!(read_view(&held), first.view, "a held snapshot changed across the seal");
                vec![first, second]
            })
        };
        // The maintainer seals and flushes the memtable the writers fill.
        thread::yield_now();
        log.flush().unwrap();
        let mut histories = Vec::new();
        let mut obs = Vec::new();
        for w in writers {
            let (h, o) = w.join().unwrap();
            histories.push(h);
            obs.extend(o);
        }
        obs.extend(reader.join().unwrap());
        finish_lanes(&log, &histories, obs);
        assert_eq!(log.stats().unwrap().retired_queue_len, 0);
    });
}
