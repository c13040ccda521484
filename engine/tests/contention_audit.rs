//! Contention audit (issue 12, item 8): reader scaling *by construction*.
//!
//! With `--features contention-audit` every atomic and `Arc` of the
//! engine's `sync` shim logs, for the thread that is recording, each write
//! it makes with its address (`timelog::audit::record`). These tests record
//! single operations and classify every write against the named byte
//! ranges of the log's shared structures (`Timelog::audit_regions`):
//!
//! - a reader writes only its own stripe's lines — the log's pin stripe
//!   and the held manifest's stripe line (its hold count and that stripe's
//!   coverage cache; R9 "Holds", R7) — and allocations it made itself
//!   (its snapshot): no manifest reference count, nothing per row; one-shot
//!   reads (point, navigation, `len`/`count`, `stats()`) write nothing at
//!   all without tombstones, and only their stripe's coverage cache with;
//! - a writer's append writes a bounded, listed set of cache lines.
//!
//! What the recording cannot see (arc-swap's and crossbeam's own atomics,
//! the `stats.rs` counters, plain stores) is listed, with the argument for
//! each, in `docs/threading.md`, "Contention audit".
//!
//! Run: `cargo test -p timelog --release --features contention-audit --test contention_audit`.
#![cfg(feature = "contention-audit")]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;

use timelog::audit::{record, Op, Write};
use timelog::{Config, MaintenanceMode, Order, Timelog};

const LINE: usize = 64;

/// A log with every kind of source a read enumerates: one L1 segment, two
/// L0 segments, a sealed memtable, and an active memtable holding both an
/// in-order run and out-of-order (late) records in its skiplist.
fn layered() -> Timelog<u64> {
    layered_with(false)
}

/// `layered()`, with tombstones if `deletes`: one in the manifest's list
/// (flushed, hiding part of L1) and one on the active memtable's stack
/// (hiding part of its run and skiplist).
fn layered_with(deletes: bool) -> Timelog<u64> {
    let log = Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        memtable_max_bytes: 16 * 1024,
        sealed_max_runs: 1000,
        ..Config::default()
    })
    .unwrap();
    for t in 0..2000 {
        let _ = log.append(t, t as u64).unwrap();
    }
    log.compact().unwrap();
    if deletes {
        let _ = log.delete_range(1500, 1600).unwrap();
    }
    for t in 2000..3000 {
        let _ = log.append(t, t as u64).unwrap();
    }
    log.flush().unwrap();
    for t in 3000..4000 {
        let _ = log.append(t, t as u64).unwrap();
    }
    // Late records: below the run's last timestamp, so into the skiplist.
    for t in (3900..4000).rev().step_by(3) {
        let _ = log.append(t, 7).unwrap();
    }
    if deletes {
        let _ = log.delete_range(3950, 3960).unwrap();
    }
    let s = log.stats().unwrap();
    assert!(s.segments_l1 >= 1 && s.segments_l0 >= 2, "{s:?}");
    assert!(s.sealed_runs >= 1 && s.ooo_records > 0, "{s:?}");
    log
}

/// Names of the regions holding `addr` (most specific first: shortest range).
fn names(regions: &[(String, Range<usize>)], addr: usize) -> Vec<String> {
    let mut hits: Vec<&(String, Range<usize>)> = regions.iter().filter(|(_, r)| r.contains(&addr)).collect();
    hits.sort_by_key(|(_, r)| r.len());
    hits.into_iter().map(|(n, r)| format!("{n}+{}", addr - r.start)).collect()
}

fn region<'a>(regions: &'a [(String, Range<usize>)], name: &str) -> &'a Range<usize> {
    &regions.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no region {name}")).1
}

fn show(regions: &[(String, Range<usize>)], ws: &[Write]) -> String {
    ws.iter().map(|w| format!("\n  {:?} {:#x} {:?}", w.op, w.addr, names(regions, w.addr))).collect()
}

/// This thread's own lines: its pin stripe and its stripe's line of the
/// current manifest (hold count and coverage cache, R9 "Holds").
fn own_lines(regions: &[(String, Range<usize>)]) -> Vec<Range<usize>> {
    vec![
        region(regions, "pins: this thread's stripe").clone(),
        region(regions, "manifest: this thread's stripe").clone(),
    ]
}

/// The writes of `ws` that another thread could also write: every atomic
/// write outside this thread's own lines (`own_lines`; every atomic a read
/// path can reach lives in the log's shared structures: nothing of the shim
/// is allocated per read), and every `Arc` count change of an allocation
/// that neither this recording created (`Op::ArcNew`) or took back from a
/// park (`Op::ArcReuse`) nor is in `own` (a
/// snapshot this thread took earlier and has not shared).
fn shared_but(regions: &[(String, Range<usize>)], ws: &[Write], own: &HashSet<usize>) -> Vec<Write> {
    let lines = own_lines(regions);
    let made: HashSet<usize> =
        ws.iter().filter(|w| matches!(w.op, Op::ArcNew | Op::ArcReuse)).map(|w| w.addr).collect();
    ws.iter()
        .copied()
        .filter(|w| match w.op {
            Op::ArcNew | Op::ArcReuse => false,
            Op::ArcClone | Op::ArcDrop => !made.contains(&w.addr) && !own.contains(&w.addr),
            Op::Store | Op::Swap | Op::Cas | Op::Rmw => {
                !lines.iter().any(|l| l.contains(&w.addr) && l.contains(&(w.addr + w.len - 1)))
            }
        })
        .collect()
}

fn shared(regions: &[(String, Range<usize>)], ws: &[Write]) -> Vec<Write> {
    shared_but(regions, ws, &HashSet::new())
}

/// Asserts that `ws` writes no shared line at all.
fn assert_private(what: &str, regions: &[(String, Range<usize>)], ws: &[Write]) {
    let s = shared(regions, ws);
    assert!(s.is_empty(), "{what} wrote shared lines:{}", show(regions, &s));
}

/// The writes of `ws` in `name`'s region.
fn writes_in(regions: &[(String, Range<usize>)], ws: &[Write], name: &str) -> Vec<Op> {
    let r = region(regions, name);
    ws.iter().filter(|w| r.contains(&w.addr)).map(|w| w.op).collect()
}

/// Asserts what one owned snapshot (taken and dropped within `ws`) writes
/// when this thread's park holds an unused snapshot of the current manifest
/// (R9, "Parking"): nothing shared; on the pin stripe's line the take and
/// the park (two CAS of its park word) — no pin, no hold, no allocation;
/// on the manifest's stripe line nothing without tombstones, and only the
/// coverage cache's slot words with them.
fn assert_snapshot_writes(what: &str, regions: &[(String, Range<usize>)], ws: &[Write], deletes: bool) {
    assert_private(what, regions, ws);
    let pins = writes_in(regions, ws, "pins: this thread's stripe");
    assert_eq!(pins, vec![Op::Cas, Op::Cas], "{what}: take and park{}", show(regions, ws));
    assert!(!ws.iter().any(|w| w.op == Op::ArcNew), "{what}: no allocation{}", show(regions, ws));
    assert_eq!(ws.iter().filter(|w| w.op == Op::ArcReuse).count(), 1, "{what}: the parked one{}", show(regions, ws));
    let line = writes_in(regions, ws, "manifest: this thread's stripe");
    assert!(deletes || line.is_empty(), "{what}: no hold counted or released{}", show(regions, ws));
}

/// Asserts what one owned snapshot writes when nothing is parked and it
/// cannot park either (after `pinned()`, until the next publication; R9
/// "Parking"): nothing shared; on the pin stripe a pin, the failed park (a
/// CAS) and the unpin; on the manifest's stripe line the hold (a CAS) and
/// its release; one allocation.
fn assert_unparked_snapshot_writes(what: &str, regions: &[(String, Range<usize>)], ws: &[Write]) {
    assert_private(what, regions, ws);
    let pins = writes_in(regions, ws, "pins: this thread's stripe");
    assert_eq!(pins, vec![Op::Rmw, Op::Cas, Op::Rmw], "{what}: pin, park refused, unpin{}", show(regions, ws));
    let line = writes_in(regions, ws, "manifest: this thread's stripe");
    assert_eq!(line, vec![Op::Cas, Op::Rmw], "{what}: hold and release{}", show(regions, ws));
    assert_eq!(ws.iter().filter(|w| w.op == Op::ArcNew).count(), 1, "{what}: one allocation{}", show(regions, ws));
}

/// Every read path, run on the calling thread; returns nothing (the
/// recordings are asserted inside). `deletes`: the log has tombstones.
fn audit_reads(log: &Timelog<u64>, deletes: bool) {
    // The pin stripe of a thread is assigned on its first snapshot, which
    // parks in that stripe's park when dropped (R9, "Parking").
    drop(log.snapshot().unwrap());
    let regions = log.audit_regions();

    // One-shot reads borrow the manifest (arc-swap debt slot) and count no
    // pin and no hold: without tombstones they write nothing the shim
    // sees, not even the own stripe; with tombstones, only their stripe's
    // coverage cache (the manifest's stripe line).
    type Read<'a> = Box<dyn Fn() -> usize + 'a>;
    let one_shot: Vec<(&str, Read)> = vec![
        ("point (run)", Box::new(|| log.point(3500).unwrap().len())),
        ("point (skiplist)", Box::new(|| log.point(3903).unwrap().len())),
        ("point (L1)", Box::new(|| log.point(10).unwrap().len())),
        ("point (L0)", Box::new(|| log.point(2500).unwrap().len())),
        ("point_with", Box::new(|| log.point_with(3999, |_| ()).unwrap())),
        ("contains", Box::new(|| usize::from(log.contains(1234).unwrap()))),
        ("next_ts", Box::new(|| log.next_ts(3902).unwrap().unwrap_or(0) as usize)),
        ("next_ts (L1→L0)", Box::new(|| log.next_ts(1999).unwrap().unwrap_or(0) as usize)),
        ("prev_ts", Box::new(|| log.prev_ts(3904).unwrap().unwrap_or(0) as usize)),
        ("prev_ts (L0→L1)", Box::new(|| log.prev_ts(2000).unwrap().unwrap_or(0) as usize)),
        ("min_ts", Box::new(|| log.min_ts().unwrap().map_or(0, |t| t as usize + 1))),
        ("max_ts", Box::new(|| log.max_ts().unwrap().unwrap_or(0) as usize)),
        ("len", Box::new(|| log.len().unwrap())),
        ("count", Box::new(|| log.count(100, 3950).unwrap())),
        ("is_empty", Box::new(|| usize::from(log.is_empty().unwrap()))),
        ("histogram", Box::new(|| log.histogram(0, 4000, 100).unwrap().len())),
        ("stats", Box::new(|| log.stats().unwrap().records_estimate)),
    ];
    for (what, f) in &one_shot {
        let (r, ws) = record(f);
        assert!(r > 0 || *what == "is_empty", "{what} read nothing");
        assert_private(what, &regions, &ws);
        if deletes {
            let pins = writes_in(&regions, &ws, "pins: this thread's stripe");
            assert!(pins.is_empty(), "{what} counted a pin:{}", show(&regions, &ws));
        } else {
            assert!(ws.is_empty(), "{what} wrote:{}", show(&regions, &ws));
        }
    }
    if deletes {
        // Served from the stripe's cache now: a hit writes the slot's
        // reader word (share, unshare) and nothing else.
        let (_, ws) = record(|| log.point(3500).unwrap().len());
        assert_eq!(
            writes_in(&regions, &ws, "manifest: this thread's stripe"),
            vec![Op::Rmw, Op::Rmw],
            "a coverage-cache hit{}",
            show(&regions, &ws)
        );
        assert_eq!(ws.len(), 2, "{}", show(&regions, &ws));
    }

    // Cursors, both orders, short and full ranges: the snapshot is the one
    // this thread parked, taken back and parked again — two CAS of this
    // thread's park word (no allocation, no pin, no hold, no reference
    // count of the manifest); the rows cost nothing.
    for order in [Order::Asc, Order::Desc] {
        for (t1, t2) in [(0, 4000), (3890, 3910), (10, 20), (2500, 2510)] {
            let what = format!("range({t1}, {t2}, {order:?})");
            let (n, ws) = record(|| log.range(t1, t2, order).unwrap().count());
            assert!(n > 0, "{what} read nothing");
            assert_snapshot_writes(&what, &regions, &ws, deletes);
        }
        // Per row: nothing at all, whatever the sources.
        let mut c = log.range(0, 4000, order).unwrap();
        let (n, ws) = record(|| c.by_ref().take(3500).count());
        assert_eq!(n, 3500);
        assert!(ws.is_empty(), "iterating ({order:?}) wrote:{}", show(&regions, &ws));
        let (n, ws) = record(|| c.next_batch_with(400, |_, _| ()));
        assert_eq!(n, 400);
        assert!(ws.is_empty(), "next_batch ({order:?}) wrote:{}", show(&regions, &ws));
    }

    // An explicit snapshot and the reads on it: the same per-snapshot cost,
    // then nothing per read (they use the snapshot's own view) but the
    // stripe's coverage cache with tombstones.
    let (snap, ws) = record(|| log.snapshot().unwrap());
    assert_eq!(snap.audit_hold_lines().0, *region(&regions, "manifest: this thread's stripe"));
    let (_, reads) = record(|| {
        snap.len()
            + snap.count(5, 3000)
            + snap.point_with(3903, |_| ())
            + snap.next_ts(5).unwrap() as usize
            + snap.prev_ts(3000).unwrap() as usize
            + snap.min_ts().unwrap() as usize
            + snap.max_ts().unwrap() as usize
    });
    assert_private("reads on a snapshot", &regions, &reads);
    assert!(deletes || reads.is_empty(), "reads on a snapshot wrote:{}", show(&regions, &reads));
    let (_, ws2) = record(|| drop(snap));
    let all: Vec<Write> = ws.into_iter().chain(ws2).collect();
    assert_snapshot_writes("snapshot", &regions, &all, false);

    // Page spans (views): one snapshot, shared by every span.
    let (n, ws) = record(|| log.page_spans(None, None).unwrap().len());
    assert!(n >= 3, "one span per flushed page at least");
    assert_snapshot_writes("page_spans", &regions, &ws, false);
}

/// `pinned()` and the snapshots after it (run after [`audit_reads`], on
/// its thread: this thread's park holds a snapshot of the current
/// manifest).
fn audit_pinned(log: &Timelog<u64>, deletes: bool) {
    let regions = log.audit_regions();
    // `pinned()` evicts the parked snapshots and keeps the parks closed to
    // the current manifest (R9, "Parking"): one CAS per stripe's park word
    // the first time, then nothing; a snapshot then costs a pin, a hold,
    // an allocation and their releases (and the refused park).
    let (n, ws) = record(|| log.pinned());
    assert_eq!(n, 0);
    let all_pins = region(&regions, "pins: all stripes");
    let raised = ws.iter().filter(|w| w.op == Op::Cas && all_pins.contains(&w.addr)).count();
    assert_eq!(raised, 16, "pinned() raised every park{}", show(&regions, &ws));
    // And released the snapshot this thread had parked: its unpin and its
    // hold's release, on this thread's own lines.
    let rest: Vec<Write> = ws.iter().copied().filter(|w| w.op != Op::Cas).collect();
    assert_eq!(writes_in(&regions, &rest, "pins: this thread's stripe"), vec![Op::Rmw], "{}", show(&regions, &ws));
    assert_eq!(writes_in(&regions, &rest, "manifest: this thread's stripe"), vec![Op::Rmw], "{}", show(&regions, &ws));
    assert_eq!(rest.len(), 2, "{}", show(&regions, &ws));
    let (n, ws) = record(|| log.pinned());
    assert_eq!(n, 0);
    assert!(ws.is_empty(), "a second pinned() wrote:{}", show(&regions, &ws));
    let (n, ws) = record(|| log.range(3890, 3910, Order::Asc).unwrap().count());
    assert!(n > 0);
    if !deletes {
        assert_unparked_snapshot_writes("range after pinned()", &regions, &ws);
    }
    let (snap, made) = record(|| log.snapshot().unwrap());
    let own: HashSet<usize> = made.iter().filter(|w| w.op == Op::ArcNew).map(|w| w.addr).collect();
    assert_eq!(own.len(), 1, "a snapshot is one allocation");
    let (n, ws) = record(|| snap.visible_page_spans(0, 1999).map(|v| v.len()));
    assert!(n.is_some_and(|n| n >= 1), "L1 alone is served as spans");
    let s = shared_but(&regions, &ws, &own);
    assert!(s.is_empty(), "visible_page_spans wrote shared lines:{}", show(&regions, &s));
}

#[test]
fn reads_write_only_their_own_stripe() {
    let log = layered();
    audit_reads(&log, false);
    audit_pinned(&log, false);
}

/// The same with tombstones (`layered_with(true)`). The reads build and
/// cache their tombstone coverage in their stripe's line of the manifest
/// (R7, R9 "Holds"): a miss or a hit writes that line only.
#[test]
fn reads_with_tombstones_write_only_their_own_stripe() {
    let log = layered_with(true);
    assert!(log.stats().unwrap().tombstone_count >= 2);
    audit_reads(&log, true);
    audit_pinned(&log, true);
}

/// Tombstones settled in the manifest's list, none in a memtable (deletes,
/// then `flush()`): the reads use the stripe's settled coverage entry
/// (R7), built and published by the first read with a CAS in this
/// thread's stripe line, then only loaded — a later read writes nothing.
#[test]
fn reads_over_settled_tombstones_write_nothing_once_built() {
    let log = layered_with(true);
    log.flush().unwrap();
    let s = log.stats().unwrap();
    assert!(s.tombstone_count >= 1 && s.sealed_runs == 0 && s.active_records == 0, "{s:?}");
    drop(log.snapshot().unwrap());
    let regions = log.audit_regions();
    type Read<'a> = Box<dyn Fn() -> usize + 'a>;
    let reads: Vec<(&str, Read)> = vec![
        ("point", Box::new(|| log.point(10).unwrap().len())),
        ("next_ts", Box::new(|| log.next_ts(1550).unwrap().unwrap_or(0) as usize)),
        ("prev_ts", Box::new(|| log.prev_ts(3955).unwrap().unwrap_or(0) as usize)),
        ("len", Box::new(|| log.len().unwrap())),
        ("count", Box::new(|| log.count(100, 3950).unwrap())),
        ("histogram", Box::new(|| log.histogram(0, 4000, 100).unwrap().len())),
    ];
    let (_, ws) = record(|| reads.iter().map(|(_, f)| f()).sum::<usize>());
    assert_private("the first reads", &regions, &ws);
    // (`stats` above may have built it already: its record count is `len`.)
    let line = writes_in(&regions, &ws, "manifest: this thread's stripe");
    assert!(
        line.len() == ws.len() && line.iter().all(|o| *o == Op::Cas) && line.len() <= 1,
        "the entry's publication, once{}",
        show(&regions, &ws)
    );
    for (what, f) in &reads {
        let (r, ws) = record(f);
        assert!(r > 0, "{what} read nothing");
        assert!(ws.is_empty(), "{what} wrote:{}", show(&regions, &ws));
    }
}

/// A memtable with enough late records for a merged view (R13; 5% late,
/// by up to 1,000 positions), no view built yet: a short read takes its
/// share of the build (R13 (5)) — the only shared writes it makes are the
/// memtable's build slot, taken by a compare-and-swap and parked by a store (the
/// build's own memory is plain, unseen here) — and once the shares have
/// built the view, a short read writes no shared line again.
#[test]
fn short_reads_of_a_late_memtable_write_its_build_slot_until_the_view_is_built() {
    let log = Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    for i in 0..6000i64 {
        let t = if i % 20 == 7 { i - 1 - (i * 37) % 1000 } else { i };
        let _ = log.append(t, i as u64).unwrap();
    }
    assert!(log.stats().unwrap().ooo_records >= 64);
    drop(log.snapshot().unwrap());
    // A snapshot older than the view the shares will build (taken by this
    // thread and not shared: its own allocation).
    let (old, made) = record(|| log.snapshot().unwrap());
    let own: HashSet<usize> =
        made.iter().filter(|w| matches!(w.op, Op::ArcNew | Op::ArcReuse)).map(|w| w.addr).collect();
    let _ = log.append(6000, 6000).unwrap();
    let regions = log.audit_regions();
    let short = |t: i64| log.range(t, t + 1000, Order::Asc).unwrap().count();
    let (n, ws) = record(|| short(2000));
    assert!(n > 0);
    let s = shared(&regions, &ws);
    assert_eq!(
        s.iter().map(|w| w.op).collect::<Vec<_>>(),
        vec![Op::Cas, Op::Store],
        "the first share: the build slot, taken and parked{}",
        show(&regions, &s)
    );
    assert!(
        s.iter().all(|w| names(&regions, w.addr).iter().any(|n| n.starts_with("memtable: active+"))),
        "in the active memtable{}",
        show(&regions, &s)
    );
    // The shares go on until the view is published; then nothing shared.
    let mut reads = 1;
    loop {
        let (_, ws) = record(|| short(500 + (reads * 97) % 4000));
        reads += 1;
        if shared(&regions, &ws).is_empty() {
            break;
        }
        assert!(reads < 200, "the view is built by the shares");
    }
    for t in [0, 1500, 3000, 4900] {
        let (_, ws) = record(|| short(t));
        assert_private("a short read through the view", &regions, &ws);
    }
    // A snapshot older than the view reads the usual way and takes no
    // share: it writes nothing shared either.
    let (n, ws) = record(|| old.range(2000, 3000, Order::Asc).count());
    assert!(n > 0);
    let s = shared_but(&regions, &ws, &own);
    assert!(s.is_empty(), "a short read of a snapshot older than the view wrote shared lines:{}", show(&regions, &s));
}

#[test]
fn reads_on_other_threads_write_their_own_stripes() {
    let log = layered_with(true);
    let mut stripes = BTreeSet::new();
    std::thread::scope(|s| {
        for _ in 0..3 {
            let h = s.spawn(|| {
                audit_reads(&log, true);
                let r = log.audit_regions();
                (region(&r, "pins: this thread's stripe").start, region(&r, "manifest: this thread's stripe").start)
            });
            stripes.insert(h.join().unwrap());
        }
    });
    assert!(stripes.len() >= 2, "threads get different stripes (round-robin)");
    let lines: BTreeSet<usize> = stripes.iter().map(|s| s.1).collect();
    assert_eq!(lines.len(), stripes.len(), "and different lines of the manifest");
}

/// Recording is per thread: a reader recording beside a busy writer (who
/// seals memtables meanwhile, publishing and retiring manifests) sees none
/// of the writer's writes, and a reader never writes an atomic outside its
/// own stripe's lines — the pin stripe and the line of the manifest its
/// cursor holds — but for the one exception of R9 "Holds": the last holder
/// on a stripe of a manifest retired meanwhile counts that stripe done in
/// the manifest's `remaining` (once per stripe and retired manifest). A
/// cursor racing a seal may find the manifest retired before its hold is
/// counted and take a reference instead (the fallback; `Arc` operations are
/// not counted here).
#[test]
fn recording_is_per_thread() {
    let log = layered();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (mut atomics, mut remaining, mut fallbacks) = (0, 0, 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for t in 10_000..60_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let _ = log.append(t, 1).unwrap();
            }
        });
        drop(log.snapshot().unwrap()); // assigns this thread's stripe
        let regions = log.audit_regions();
        let stripe = region(&regions, "pins: this thread's stripe").clone();
        for _ in 0..300 {
            // Nothing parked (R9, "Parking"): a snapshot the cursor takes
            // back from its park may be of a manifest replaced meanwhile,
            // whose lines this test does not know.
            log.pinned();
            let mut lines = None;
            let (_, ws) = record(|| {
                let n = log.len().unwrap() + log.next_ts(9_999).unwrap().unwrap_or(0) as usize;
                let mut c = log.range(0, i64::MAX, Order::Desc).unwrap();
                lines = c.snapshot().map(|s| s.audit_hold_lines());
                n + c.by_ref().take(100).count()
            });
            let (line, rem) = lines.expect("a fresh cursor has its snapshot");
            let (mut held, mut own) = (0, 0);
            for w in ws.iter().filter(|w| !matches!(w.op, Op::ArcNew | Op::ArcReuse | Op::ArcClone | Op::ArcDrop)) {
                if line.contains(&w.addr) {
                    held += 1;
                } else if rem.contains(&w.addr) {
                    remaining += 1;
                } else {
                    assert!(stripe.contains(&w.addr), "a write outside the own stripe lines: {w:?}");
                    own += 1;
                }
                atomics += 1;
            }
            // The hold and its release; the hold alone (the snapshot
            // parked); or no hold (the fallback, which does not park).
            assert!(held <= 2, "{ws:?}");
            fallbacks += usize::from(held == 0);
            // On the pin stripe: the pin, and the park (a CAS, refused or
            // not) and the unpin if refused; the fallback: pin and unpin.
            assert!(
                (held == 1 && own == 2) || (held == 2 && own == 3) || (held == 0 && own == 2),
                "held {held}, own stripe {own}: {ws:?}"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(remaining <= 300, "at most one `remaining` write per cursor");
    eprintln!(
        "300 cursors beside a sealing writer: {atomics} atomic writes, {fallbacks} fallbacks, {remaining} `remaining` writes"
    );
}

/// The cache lines one append writes, by region (64-byte lines relative to
/// the region's start).
fn lines(regions: &[(String, Range<usize>)], ws: &[Write]) -> BTreeMap<String, BTreeSet<usize>> {
    let mut out: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for w in ws {
        let n = names(regions, w.addr);
        let top = n.first().unwrap_or_else(|| panic!("write outside every listed region: {w:?}"));
        let (name, off) = top.split_once('+').unwrap();
        out.entry(name.to_string()).or_default().insert(w.addr / LINE);
        let _ = off;
    }
    out
}

/// A writer's append touches a bounded, listed set of shared lines
/// (docs/threading.md, "Contention audit", lists them by field):
///
/// - the door's line: its word (the entering RMW that takes the write's
///   ticket — its sequence — R1, and for a run append the appender right
///   of R3 and its release) and the appender's tail hint beside it
///   (session 11: before, the word was in the memtable, reached through
///   the manifest; session 25: before, a writer also left by a
///   `fetch_sub`, and allocated its sequence from a counter of its own);
/// - the run's hot line (appender flag, last timestamp, published length:
///   R3, R4) — or, for a late record, the appender-flag try and the
///   skiplist counters' line (`bytes`, `ooo_bytes`, `ooo_len`,
///   `ooo_max_seq`; the late floor's epoch, R13 (6), only when the
///   record lowers it), the arena, and one word of the skiplist's
///   timestamp filter (R6, "filter");
/// - the visible watermark (R5) — one line; no completion-ring slot: a
///   write alone takes the commit's fast path (every earlier write
///   visible: one CAS of the watermark, no mark);
/// - nothing else: no manifest reference count (the writer borrows the
///   manifest), no pin.
#[test]
fn append_writes_a_bounded_listed_set_of_lines() {
    let log = layered();
    let mut t = 5000;
    // Steady state: past the first append of the run and away from bucket
    // boundaries (a new bucket adds one store of its pointer, in the
    // memtable's header; the first append adds `first_ts`).
    for _ in 0..3 {
        let _ = log.append(t, 1).unwrap();
        t += 1;
    }
    let seals = log.stats().unwrap().seals_total;
    let allowed = [
        "door",
        "memtable: active",
        "memtable: active skiplist arena",
        "memtable: active skiplist filter",
        "sequencer: completion ring",
        "sequencer: visible",
    ];
    for late in [false, true] {
        for _ in 0..20 {
            let regions = log.audit_regions();
            let ts = if late { t - 10 } else { t };
            let (st, ws) = record(|| log.append(ts, 1).unwrap());
            t += 1;
            assert_eq!(st, timelog::WriteStatus::Ok);
            let by = lines(&regions, &ws);
            for name in by.keys() {
                assert!(allowed.contains(&name.as_str()), "append wrote {name}:{}", show(&regions, &ws));
            }
            // One CAS of the watermark, none of the ring (alone: the
            // commit's fast path, R5); no sequence counter (the ticket is
            // the sequence).
            let count = |name: &str| {
                ws.iter()
                    .filter(|w| names(&regions, w.addr).first().is_some_and(|n| n.rsplit_once('+').unwrap().0 == name))
                    .count()
            };
            assert_eq!(count("sequencer: completion ring"), 0, "{}", show(&regions, &ws));
            assert_eq!(count("sequencer: visible"), 1, "{}", show(&regions, &ws));
            // The door: one line, its word's entering RMW (the ticket, R1),
            // and for a run append the appender's tail hint and the right's
            // release (R3): 3 writes, 1 for a late record. (From the
            // eleventh "late" record on, `t - 10` is past the run's tail
            // again: those are run appends too.)
            assert_eq!(by["door"].len(), 1, "late={late}:{}", show(&regions, &ws));
            let door_writes = count("door");
            assert!(door_writes == 3 || (late && door_writes == 1), "late={late}:{}", show(&regions, &ws));
            // The memtable: the run's hot line (in order: `last_ts` and
            // `len`), or the skiplist counters' line and the skiplist's
            // finger (late).
            let mt = &by["memtable: active"];
            let max_lines = if late { 3 } else { 1 };
            assert!(mt.len() <= max_lines, "late={late}: memtable lines {mt:?}:{}", show(&regions, &ws));
            let max_writes = if late { 5 } else { 2 };
            assert!(count("memtable: active") <= max_writes, "late={late}:{}", show(&regions, &ws));
            // The skiplist's arena (late only): the chunk's bump counter,
            // the new node's own tower (not shared until linked), and one
            // predecessor link per level of the new tower.
            let arena = by.get("memtable: active skiplist arena").map_or(0, |s| s.len());
            assert!(late || arena == 0, "an in-order append touched the skiplist:{}", show(&regions, &ws));
            assert!(arena <= 4, "late: arena lines {arena}:{}", show(&regions, &ws));
            // The skiplist's timestamp filter (late only): one `fetch_or`
            // of one word (R6, "filter").
            let filter = count("memtable: active skiplist filter");
            assert!(
                filter == usize::from(late && arena > 0),
                "late={late}: filter writes {filter}:{}",
                show(&regions, &ws)
            );
            eprintln!("late={late}: memtable lines {}, arena lines {arena}, writes {}", mt.len(), ws.len());
            assert!(
                ws.iter().all(|w| !matches!(w.op, Op::ArcClone | Op::ArcDrop | Op::ArcNew | Op::ArcReuse)),
                "{}",
                show(&regions, &ws)
            );
            let total: usize = by.values().map(|s| s.len()).sum();
            assert!(total <= 1 + max_lines + 1 + arena + filter, "late={late}: {total} lines: {by:?}");
        }
    }
    assert_eq!(log.stats().unwrap().seals_total, seals, "no seal among the audited appends (a seal writes more)");
}

/// Issue 13, item 1: the out-of-order skiplist is the engine's own
/// (`memtable/ooo.rs`), its links shim atomics the recording sees. Reads of
/// late records — point, navigation, both cursor directions — write no
/// line of the skiplist (no epoch pin, no per-node reference count: its
/// nodes are freed only with the memtable, R6) and nothing shared at all
/// but the cursors' pins and holds in this thread's own stripe lines (its
/// pin stripe and its line of the held manifest, R9 "Holds").
#[test]
fn skiplist_reads_write_nothing_in_the_skiplist() {
    let log = layered();
    drop(log.snapshot().unwrap());
    let regions = log.audit_regions();
    let stripe = region(&regions, "pins: this thread's stripe");
    let hold_line = region(&regions, "manifest: this thread's stripe");
    assert!(regions.iter().any(|r| r.0 == "memtable: active skiplist arena"), "the layered log has late records");
    let (rows, ws) = record(|| {
        let mut rows = 0;
        for _ in 0..100 {
            rows += log.point(3903).unwrap().len();
            rows += log.next_ts(3902).unwrap().map_or(0, |_| 1);
            rows += log.prev_ts(3904).unwrap().map_or(0, |_| 1);
            rows += log.range(3890, 3910, Order::Asc).unwrap().count();
            rows += log.range(3890, 3910, Order::Desc).unwrap().count();
        }
        rows
    });
    assert!(rows > 100 * 6);
    for w in ws.iter().filter(|w| !matches!(w.op, Op::ArcNew | Op::ArcReuse | Op::ArcClone | Op::ArcDrop)) {
        assert!(
            stripe.contains(&w.addr) || hold_line.contains(&w.addr),
            "a read wrote outside its own stripe lines: {w:?}:{}",
            show(&regions, &ws)
        );
    }
    assert!(
        ws.iter().all(|w| names(&regions, w.addr).iter().all(|n| !n.starts_with("memtable"))),
        "a read wrote a memtable line:{}",
        show(&regions, &ws)
    );
}
