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

/// The two [`writer`] threads, lanes 0 and 1.
fn spawn_writers(log: &Arc<Timelog<Id>>) -> Vec<thread::JoinHandle<(Vec<Op>, Vec<Observed>)>> {
    (0..2)
        .map(|t| {
            let log = log.clone();
            thread::spawn(move || writer(&log, t))
        })
        .collect()
}

/// Lane 2: the run's first record, then 40 late records below it (no
/// view yet); returns the writes.
fn late_lane(log: &Timelog<Id>) -> Vec<Op> {
    (0..41)
        .map(|k| {
            let (ts, id) = (2 * LANE + 200 - k * 4, 2000 + k as Id);
            append(log, ts, id);
            app(ts, id)
        })
        .collect()
}

#[test]
fn late_writers_vs_reader_across_seal() {
    shuttle_check("skiplist/late_writers_vs_reader_across_seal", shuttle_schedules(2500), || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let writers = spawn_writers(&log);
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
        let (histories, mut obs) = join_writers(writers);
        obs.extend(reader.join().unwrap());
        finish_lanes(&log, &histories, obs);
        assert_eq!(log.stats().unwrap().retired_queue_len, 0);
    });
}

/// R13 (5): a merged view built in shares by short reads, under random
/// schedules. Two writers add late records to one memtable (with a run
/// wide enough that every read below is short); two readers each take
/// snapshots and make short reads — each a share of the build, which
/// passes between them and may start at one snapshot's watermark and be
/// extended from another's — then read the snapshot in full. Each short
/// read must return exactly the records of its range the snapshot's full
/// read shows, and every snapshot passes the snapshot-consistency oracle.
#[test]
fn merged_view_built_in_shares() {
    shuttle_check("skiplist/merged_view_built_in_shares", shuttle_schedules(2500), || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        append(&log, 2 * LANE, 900); // the run (lane 2): reads of lanes 0 and 1 are short
        let writers = spawn_writers(&log);
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let log = log.clone();
                thread::spawn(move || {
                    let mut obs = Vec::new();
                    for _ in 0..2 {
                        let s = log.snapshot().unwrap();
                        let ranges = [(r as Ts * LANE, r as Ts * LANE + 46), (LANE - r as Ts * LANE, LANE + 48)];
                        let short: Vec<Vec<(Ts, Id)>> =
                            ranges.iter().map(|&(a, b)| s.range(a, b, Order::Asc).collect()).collect();
                        thread::yield_now();
                        let view = read_view(&s);
                        for (&(a, b), got) in ranges.iter().zip(&short) {
                            let want: Vec<_> = view.iter().copied().filter(|r| a <= r.0 && r.0 < b).collect();
                            assert_eq!(got, &want, "short read [{a}, {b}) disagrees with the snapshot");
                        }
                        obs.push(Observed { thread: None, own_done: 0, w: s.watermark(), view });
                    }
                    obs
                })
            })
            .collect();
        let (mut histories, mut obs) = join_writers(writers);
        histories.push(vec![app(2 * LANE, 900)]);
        for r in readers {
            obs.extend(r.join().unwrap());
        }
        finish_lanes(&log, &histories, obs);
    });
}

/// Issue 10, gap 3: an ascending read through a merged view collects the
/// late records newer than the view while it reads (`plan::OooMore`: one
/// skiplist node per collection under the model checkers, so a read
/// collects over many steps). A view is built over a memtable of 40 late
/// records (lane 2); two writers then add late records of their own lanes
/// beside it (fewer than half the view: it keeps serving); a reader takes a
/// snapshot, reads its first record ascending, and reads the rest a record
/// at a time across a flush of the memtable. It must get what the
/// snapshot's reads get (`read_view`: ascending, and descending, which
/// collects back from the end), and every snapshot passes the oracle.
#[test]
fn late_records_newer_than_a_view_read_across_flush() {
    shuttle_check("skiplist/late_records_newer_than_a_view_read_across_flush", shuttle_schedules(2500), || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let base = late_lane(&log);
        // A full read builds the view, in shares as it reads (R13 (5)).
        assert_eq!(log.snapshot().unwrap().all(Order::Desc).collect::<Vec<_>>().len(), 41, "the long read");
        let writers = spawn_writers(&log);
        let reader = {
            let log = log.clone();
            thread::spawn(move || {
                let held = log.snapshot().unwrap();
                let mut cursor = held.all(Order::Asc);
                let mut got: Vec<_> = cursor.next().into_iter().collect();
                for r in cursor {
                    got.push(r);
                    thread::yield_now();
                }
                let (_, first) = observe(&log, None, 0);
                let view = read_view(&held);
                assert_eq!(got, view, "a read collecting late records disagrees with the snapshot");
                vec![Observed { thread: None, own_done: 0, w: held.watermark(), view }, first]
            })
        };
        thread::yield_now();
        log.flush().unwrap();
        let (mut histories, mut obs) = join_writers(writers);
        histories.push(base);
        obs.extend(reader.join().unwrap());
        finish_lanes(&log, &histories, obs);
    });
}

/// R13 (5), (7): a long read over a late memtable with no view serving it
/// builds none before its first row: it collects the skiplist as it reads
/// (one node per collection under the model checkers; a descending read
/// steps back from the range's end, `Ooo::range_back`) and takes a share
/// of a build per collection, so the view is published from inside a
/// read. The memtable holds 40 late records (lane 2) and no view; two
/// writers add late records of their own lanes; a reader takes a snapshot,
/// then reads it in full ascending a record at a time while the main
/// thread reads newer snapshots in full, descending then ascending (each a
/// build's shares). Every read must return what its snapshot holds: a view
/// newer than a reader's snapshot must not serve it. Fault
/// `merged_lazy_stale_view` (a long read takes any published view) is
/// caught: the reader's snapshot then reads records newer than it.
#[test]
fn long_reads_build_the_view_in_shares() {
    shuttle_check("skiplist/long_reads_build_the_view_in_shares", shuttle_schedules(2500), || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        let base = late_lane(&log);
        let writers = spawn_writers(&log);
        let reader = {
            let log = log.clone();
            thread::spawn(move || {
                let held = log.snapshot().unwrap();
                thread::yield_now();
                let mut got = Vec::new();
                for r in held.all(Order::Asc) {
                    got.push(r);
                    thread::yield_now();
                }
                let view = read_view(&held);
                assert_eq!(got, view, "a long read building the view in shares disagrees with its snapshot");
                Observed { thread: None, own_done: 0, w: held.watermark(), view }
            })
        };
        let mut obs = Vec::new();
        for order in [Order::Desc, Order::Asc] {
            let s = log.snapshot().unwrap();
            let mut got: Vec<_> = s.all(order).collect();
            if order == Order::Desc {
                got.reverse();
            }
            let view = read_view(&s);
            assert_eq!(got, view, "a long read disagrees with its snapshot");
            obs.push(Observed { thread: None, own_done: 0, w: s.watermark(), view });
            thread::yield_now();
        }
        let (mut histories, mut wobs) = join_writers(writers);
        histories.push(base);
        obs.append(&mut wobs);
        obs.push(reader.join().unwrap());
        finish_lanes(&log, &histories, obs);
    });
}
