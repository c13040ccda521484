//! shuttle: bulk runs (R14) among writers, deletes, readers and a
//! maintainer, checked by the lane oracle (`check_lanes`).
//!
//! Memtables and pages of two records, so every two-record `extend` is a
//! memtable's and a page's worth: it is published as a run when the log has no sealed memtable and
//! an empty active one, and takes the memtable path otherwise — shuttle
//! explores both, and the seals, flushes and compactions around them. The
//! second run of a bulk writer comes from parallel parts, prepared and
//! appended with a yield between (`prepare_parts`, `append_prepared`).
#![cfg(timelog_shuttle)]

use std::sync::Arc;

use shuttle::thread;
use timelog::{Order, Timelog};
use timelog_verification::*;

/// Two runs in lane `t`, a delete between them over the first, and own
/// snapshots (read your writes).
fn bulk_writer(log: &Timelog<Id>, t: usize) -> (Vec<Op>, Vec<Observed>) {
    let b = t as Ts * LANE;
    let id = |k: u64| t as u64 * 100 + k;
    let mut ops = Vec::new();
    let mut obs = Vec::new();
    let _ = log.extend([(b + 20, id(1)), (b + 12, id(2))]).unwrap(); // sorted: 12 then 20
    ops.extend([app(b + 12, id(2)), app(b + 20, id(1))]);
    obs.push(observe(log, Some(t), ops.len()).1);
    delete(log, b + 12, b + 13);
    ops.push(Op::Delete { t1: b + 12, t2: b + 13 });
    // After the delete: visible. From parallel parts, prepared (as a run
    // while the log is flushed) and appended after a yield: the log may
    // have changed between the halves.
    let prepared = log.prepare_parts(&[b + 5, b + 12], [id(4), id(3)]).unwrap();
    thread::yield_now();
    let _ = log.append_prepared(prepared).unwrap();
    ops.extend([app(b + 5, id(4)), app(b + 12, id(3))]);
    obs.push(observe(log, Some(t), ops.len()).1);
    (ops, obs)
}

/// Single-record writes and a delete in lane `t`.
fn plain_writer(log: &Timelog<Id>, t: usize) -> (Vec<Op>, Vec<Observed>) {
    let b = t as Ts * LANE;
    let id = |k: u64| t as u64 * 100 + k;
    let mut ops = Vec::new();
    for (ts, k) in [(b + 3, 1), (b + 1, 2)] {
        append(log, ts, id(k));
        ops.push(app(ts, id(k)));
    }
    delete(log, b, b + 2);
    ops.push(Op::Delete { t1: b, t2: b + 2 });
    append(log, b + 1, id(3));
    ops.push(app(b + 1, id(3)));
    let o = observe(log, Some(t), ops.len()).1;
    (ops, vec![o])
}

/// A held snapshot re-read after the others moved on, and a fresh one.
fn reader(log: &Timelog<Id>) -> Vec<Observed> {
    let (held, first) = observe(log, None, 0);
    thread::yield_now();
    let (_s, second) = observe(log, None, 0);
    let again: Vec<_> = held.all(Order::Asc).collect();
    assert_eq!(again, first.view, "a held snapshot changed");
    vec![first, second]
}

/// A bulk writer, a single-record writer, a reader and a maintainer
/// (flush, maintenance step, compaction), 4 threads.
#[test]
fn runs_writers_reader_maintainer() {
    shuttle_check("bulk/runs_writers_reader_maintainer", shuttle_schedules(2500), || {
        let log = Arc::new(
            Timelog::<Id>::with_config(timelog::Config { target_page_bytes: 2 * 16, ..model_config(2 * RECORD_BYTES) })
                .unwrap(),
        );
        let bw = {
            let log = log.clone();
            thread::spawn(move || bulk_writer(&log, 0))
        };
        let pw = {
            let log = log.clone();
            thread::spawn(move || plain_writer(&log, 1))
        };
        let rd = {
            let log = log.clone();
            thread::spawn(move || reader(&log))
        };
        log.flush().unwrap();
        let _ = log.maint_step().unwrap();
        log.compact().unwrap();
        let mut histories = Vec::new();
        let mut obs = Vec::new();
        for w in [bw, pw] {
            let (h, o) = w.join().unwrap();
            histories.push(h);
            obs.extend(o);
        }
        obs.extend(rd.join().unwrap());
        finish_lanes(&log, &histories, obs);
    });
}
