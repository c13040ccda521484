//! shuttle: the real engine under random and PCT schedules, with writers,
//! readers and a maintainer, checked by the snapshot-consistency oracle.
//!
//! Shuttle treats every atomic as SeqCst (memory orderings are loom's job,
//! `tests/loom_*.rs`); what it explores here is the interleaving of whole
//! protocol steps across more threads and longer histories than loom can:
//! seals, flushes, compactions, deletes, bulk writes, reclamation, the
//! background worker and backpressure. Schedules per scheduler and test:
//! `TIMELOG_SHUTTLE_SCHEDULES` (default 2500, i.e. 10,000 in all).
#![cfg(timelog_shuttle)]

use std::sync::Arc;

use shuttle::thread;
use timelog::{BusyPolicy, Config, MaintenanceMode, Order, Timelog, WriteStatus};
use timelog_verification::*;

/// One writer's program in lane `t`: in-order and out-of-order appends, a
/// bulk write, a range delete, a re-insert at a deleted timestamp. Returns
/// the history (in program order) and the observations of its own
/// snapshots (read your writes).
fn writer(log: &Timelog<Id>, t: usize) -> (Vec<Op>, Vec<Observed>) {
    let b = t as Ts * LANE;
    let id = |k: u64| t as u64 * 100 + k;
    let mut ops = Vec::new();
    let mut obs = Vec::new();
    let put = |ops: &mut Vec<Op>, ts: Ts, k: u64| {
        append(log, ts, id(k));
        ops.push(app(ts, id(k)));
    };
    put(&mut ops, b + 10, 1);
    put(&mut ops, b + 5, 2); // out of order: the skiplist (model)
    obs.push(observe(log, Some(t), ops.len()).1);
    let _ = log.extend([(b + 20, id(3)), (b + 12, id(4))]).unwrap(); // sorted: 12 then 20
    ops.push(app(b + 12, id(4)));
    ops.push(app(b + 20, id(3)));
    delete(log, b + 5, b + 11);
    ops.push(Op::Delete { t1: b + 5, t2: b + 11 });
    put(&mut ops, b + 10, 5); // after the delete: visible
    put(&mut ops, b + 30, 6);
    obs.push(observe(log, Some(t), ops.len()).1);
    (ops, obs)
}

/// A reader: snapshots (held across maintenance and re-read), and a cursor
/// read half now and half later.
fn reader(log: &Timelog<Id>) -> Vec<Observed> {
    let mut obs = Vec::new();
    let (held, first) = observe(log, None, 0);
    let mut cursor = held.all(Order::Asc);
    let head = cursor.next();
    thread::yield_now();
    let (_s, second) = observe(log, None, 0);
    let mut rest: Vec<_> = head.into_iter().collect();
    rest.extend(cursor);
    assert_eq!(rest, first.view, "a cursor changed under maintenance");
    assert_eq!(read_view(&held), first.view, "a held snapshot changed");
    obs.push(first);
    obs.push(second);
    obs.push(observe(log, None, 0).1);
    obs
}

fn maintainer(log: &Timelog<Id>) {
    let _ = log.maint_step().unwrap();
    log.flush().unwrap();
    let _ = log.maint_step().unwrap();
    log.compact().unwrap();
}

/// Two writers, two readers and a maintainer (manual maintenance: seal,
/// flush, compaction of L0 and of delete debt), 5 threads.
#[test]
fn writers_readers_maintainer() {
    shuttle_check("engine/writers_readers_maintainer", shuttle_schedules(2500), || {
        let cfg = Config { max_delta_segments: 2, delete_debt_threshold: 0.05, ..model_config(3 * RECORD_BYTES) };
        let log = Arc::new(Timelog::<Id>::with_config(cfg).unwrap());
        let writers: Vec<_> = (0..2)
            .map(|t| {
                let log = log.clone();
                thread::spawn(move || writer(&log, t))
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let log = log.clone();
                thread::spawn(move || reader(&log))
            })
            .collect();
        maintainer(&log);
        let (histories, mut obs) = join_writers(writers);
        for r in readers {
            obs.extend(r.join().unwrap());
        }
        finish_lanes(&log, &histories, obs);
        let st = log.stats().unwrap();
        assert_eq!(st.pinned_readers, 0, "{st:?}");
        assert_eq!(st.retired_queue_len, 0, "retired parts outlived every reader: {st:?}");
    });
}

/// The background worker (a shuttle thread) and backpressure: every write
/// seals its memtable, at most one sealed memtable may wait, and writers
/// wait for the worker instead of piling up. Two writers and a reader race
/// the worker. The wait never times out here, so it ends only when the
/// worker made progress (a lost wakeup would hang the schedule, which
/// shuttle reports as a deadlock); a write may still report `Busy` when the
/// other writer sealed again meanwhile, and is committed either way.
#[test]
fn background_worker_and_backpressure() {
    shuttle_check("engine/background_worker_and_backpressure", shuttle_schedules(2500), || {
        let cfg = Config {
            maintenance: MaintenanceMode::Background,
            busy_policy: BusyPolicy::Raise,
            memtable_max_bytes: RECORD_BYTES,
            sealed_max_runs: 1,
            sealed_wait_ms: 3_600_000,
            max_delta_segments: 2,
            ..Config::default()
        };
        let log = Arc::new(Timelog::<Id>::with_config(cfg).unwrap());
        let writers: Vec<_> = (0..2)
            .map(|t| {
                let log = log.clone();
                thread::spawn(move || {
                    let b = t as Ts * LANE;
                    let mut ops = Vec::new();
                    for k in 0..3u64 {
                        let (ts, id) = (b + 10 - k as Ts, t as u64 * 100 + k);
                        let status = log.append(ts, id).unwrap();
                        assert!(matches!(status, WriteStatus::Ok | WriteStatus::Busy));
                        ops.push(app(ts, id));
                    }
                    (ops, [observe(&log, Some(t), 3).1])
                })
            })
            .collect();
        let rd = {
            let log = log.clone();
            thread::spawn(move || reader(&log))
        };
        let (histories, mut obs) = join_writers(writers);
        obs.extend(rd.join().unwrap());
        // The worker stops first: `finish` checks the parks (R9, Parking)
        // at quiescence, and a publication in flight (its CAS done, its
        // sweep not yet) leaves a snapshot of the manifest it replaced
        // parked for that moment.
        log.stop_maintenance().unwrap();
        finish_lanes(&log, &histories, obs);
    });
}

/// R10's second guard under load: compactions without the maintainer mutex
/// (two of them, `model_compact_once_unlocked`) race a writer whose memtables
/// seal every two records, a maintainer flushing under the mutex, and a
/// reader. A compaction publishes only over a manifest that still holds its
/// inputs; everything else (flushes, seals) is rebuilt over what it finds.
#[test]
fn unlocked_compactions_vs_flushes() {
    shuttle_check("engine/unlocked_compactions_vs_flushes", shuttle_schedules(2500), || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(2 * RECORD_BYTES)).unwrap());
        let w = {
            let log = log.clone();
            thread::spawn(move || writer(&log, 0))
        };
        let compactors: Vec<_> = (0..2)
            .map(|_| {
                let log = log.clone();
                thread::spawn(move || {
                    log.model_compact_once_unlocked();
                    thread::yield_now();
                    log.model_compact_once_unlocked();
                })
            })
            .collect();
        let rd = {
            let log = log.clone();
            thread::spawn(move || reader(&log))
        };
        log.flush().unwrap();
        let _ = log.maint_step().unwrap();
        let (h, mut obs) = w.join().unwrap();
        log.flush().unwrap();
        for c in compactors {
            c.join().unwrap();
        }
        obs.extend(rd.join().unwrap());
        finish_lanes(&log, &[h], obs);
    });
}

/// R15 over longer histories than loom's: one writer appends above and
/// inside the flushed records' range (in order, then late) and deletes
/// over flushed and unflushed records, while a maintainer seals and
/// flushes and a reader's one-shot reads (`next_ts`, point) — answered
/// without the watermark whenever nothing in a memtable can matter — are
/// each checked against the prefixes of the write order between two loads
/// of the watermark around the read.
#[test]
fn wfree_one_shot_reads_vs_writer_and_maintainer() {
    shuttle_check("engine/wfree_one_shot_reads_vs_writer_and_maintainer", shuttle_schedules(2500), || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(3 * RECORD_BYTES)).unwrap());
        let mut order = Vec::new();
        for (i, ts) in [10, 20, 30, 40].into_iter().enumerate() {
            append(&log, ts, i as Id);
            order.push(app(ts, i as Id));
        }
        log.flush().unwrap();
        let writes =
            [app(50, 10), Op::Delete { t1: 20, t2: 21 }, app(25, 11), app(60, 12), Op::Delete { t1: 30, t2: 51 }];
        order.extend(writes);
        let writer = {
            let log = log.clone();
            thread::spawn(move || {
                for op in writes {
                    match op {
                        Op::Append { ts, id } => append(&log, ts, id),
                        Op::Delete { t1, t2 } => delete(&log, t1, t2),
                    }
                }
            })
        };
        let maintainer = {
            let log = log.clone();
            thread::spawn(move || {
                thread::yield_now();
                log.flush().unwrap();
            })
        };
        for t in [15, 20, 25, 35, 45] {
            let (lo, next, hi) = log.model_next_ts(t).unwrap();
            check_one_shot_in(&order, lo, hi, &OneShot::NextTs(t, next)).unwrap_or_else(|e| panic!("{e}"));
            let (lo, at, hi) = log.model_point(t + 5).unwrap();
            check_one_shot_in(&order, lo, hi, &OneShot::Point(t + 5, at)).unwrap_or_else(|e| panic!("{e}"));
        }
        writer.join().unwrap();
        maintainer.join().unwrap();
        assert_eq!(log.next_ts(15).unwrap(), Some(25));
        assert_eq!(log.point(30).unwrap(), Vec::<Id>::new());
        finish(&log, &[order], Vec::new());
    });
}

/// R15 "span" over two deleters sharing the active memtable's stack (so a
/// push may find the previous slot still being written, and its span
/// unknown until a later push walks back): each deletes two flushed
/// records while the main thread's one-shot `next_ts` and point reads —
/// from starts outside the spans, inside them, and between — are each
/// checked against the prefixes between two loads of the watermark, in
/// some interleaving of the two threads' deletes.
#[test]
fn wfree_span_vs_two_deleters() {
    shuttle_check("engine/wfree_span_vs_two_deleters", shuttle_schedules(2500), || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let mut prefix = Vec::new();
        for (i, ts) in [10, 20, 30, 40, 50, 60].into_iter().enumerate() {
            append(&log, ts, i as Id);
            prefix.push(app(ts, i as Id));
        }
        log.flush().unwrap();
        let lanes = [
            vec![Op::Delete { t1: 20, t2: 21 }, Op::Delete { t1: 50, t2: 51 }],
            vec![Op::Delete { t1: 30, t2: 31 }, Op::Delete { t1: 40, t2: 41 }],
        ];
        let deleters: Vec<_> = lanes
            .iter()
            .cloned()
            .map(|lane| {
                let log = log.clone();
                thread::spawn(move || {
                    for op in lane {
                        if let Op::Delete { t1, t2 } = op {
                            delete(&log, t1, t2);
                        }
                    }
                })
            })
            .collect();
        for t in [5, 15, 25, 35, 45, 55] {
            let (lo, next, hi) = log.model_next_ts(t).unwrap();
            check_one_shot_lanes(&prefix, &lanes, lo, hi, &OneShot::NextTs(t, next)).unwrap_or_else(|e| panic!("{e}"));
            let (lo, at, hi) = log.model_point(t + 5).unwrap();
            check_one_shot_lanes(&prefix, &lanes, lo, hi, &OneShot::Point(t + 5, at)).unwrap_or_else(|e| panic!("{e}"));
        }
        for d in deleters {
            d.join().unwrap();
        }
        assert_eq!(log.next_ts(5).unwrap(), Some(10));
        assert_eq!(log.next_ts(10).unwrap(), Some(60));
        let mut main = prefix.clone();
        main.extend(lanes[0].iter().copied());
        finish(&log, &[main, lanes[1].clone()], Vec::new());
    });
}

/// R8 (payloads move) and R9 over a longer history than loom's: two
/// writers append in order and late (memtables of two records, so several
/// seal and flush, each moving its payloads into its segment), a
/// maintainer flushes and compacts the segments away, and two readers each
/// hold a snapshot and a half-read cursor across all of it. Every payload a
/// reader clones is still alive (`Tracked` panics on a read after drop),
/// and in the end every copy was dropped exactly once.
#[test]
fn moved_payloads_outlive_old_readers() {
    shuttle_check("engine/moved_payloads_outlive_old_readers", shuttle_schedules(2500), || {
        let ledger = Arc::new(Ledger::default());
        let log = Arc::new(Timelog::<Tracked>::with_config(moving_config(2 * RECORD_BYTES)).unwrap());
        for ts in [1, 3, 2] {
            let _ = log.append(ts, ledger.payload(ts as Id)).unwrap();
        }
        let writers: Vec<_> = (0..2)
            .map(|t| {
                let (log, ledger) = (log.clone(), ledger.clone());
                thread::spawn(move || {
                    for ts in [20 + t * 10, 15 + t * 10, 25 + t * 10] {
                        let _ = log.append(ts, ledger.payload(ts as Id)).unwrap();
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let log = log.clone();
                thread::spawn(move || {
                    let snap = log.snapshot().unwrap();
                    let mut cursor = snap.all(Order::Asc);
                    let first = cursor.next().map(|(ts, p)| (ts, p.id));
                    drop(snap);
                    thread::yield_now();
                    let mut all: Vec<_> = first.into_iter().chain(cursor.map(|(ts, p)| (ts, p.id))).collect();
                    assert!(all.windows(2).all(|w| w[0].0 <= w[1].0), "out of order: {all:?}");
                    all.retain(|&(ts, _)| ts < 4);
                    assert_eq!(all, vec![(1, 1), (2, 2), (3, 3)], "the records written before the readers");
                })
            })
            .collect();
        log.flush().unwrap();
        log.compact().unwrap();
        for w in writers {
            w.join().unwrap();
        }
        log.flush().unwrap();
        log.compact().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(log.len().unwrap(), 9);
        drop(log);
        assert_eq!(ledger.live(), 0, "a payload copy was leaked or dropped twice");
    });
}
