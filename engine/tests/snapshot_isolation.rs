//! Snapshots see exactly what was committed before them.

use timelog::{Config, MaintenanceMode, Order, Timelog};

fn log() -> Timelog<u32> {
    Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        memtable_max_bytes: 512,
        ..Config::default()
    })
    .unwrap()
}

#[test]
fn snapshot_ignores_later_writes_deletes_flushes_and_compactions() {
    let log = log();
    for i in 0..100 {
        let _ = log.append(i, i as u32).unwrap();
    }
    let snap = log.snapshot().unwrap();
    let _ = log.delete_range(10, 90).unwrap();
    for i in 0..50 {
        let _ = log.append(i * 3, 1000 + i as u32).unwrap();
    }
    log.flush().unwrap();
    log.compact().unwrap();
    let seen: Vec<_> = snap.all(Order::Asc).collect();
    assert_eq!(seen, (0..100).map(|i| (i, i as u32)).collect::<Vec<_>>());
    assert_eq!(snap.len(), 100);
    assert_eq!(snap.next_ts(10), Some(11));
    let mut n = 0;
    snap.point_with(50, |v| {
        assert_eq!(*v, 50);
        n += 1
    });
    assert_eq!(n, 1);
}

#[test]
fn snapshot_cursor_outlives_the_call_and_other_threads() {
    let log = std::sync::Arc::new(log());
    let _ = log.extend((0..1000).map(|i| (i, i as u32))).unwrap();
    let cursor = log.range(100, 200, Order::Desc).unwrap();
    // Move the cursor to another thread while the log keeps changing.
    let l2 = log.clone();
    let h = std::thread::spawn(move || cursor.collect::<Vec<_>>());
    let _ = l2.delete_before(500).unwrap();
    l2.compact().unwrap();
    let rows = h.join().unwrap();
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[0], (199, 199));
    assert_eq!(rows[99], (100, 100));
}

#[test]
fn sequenced_tombstones_keep_later_inserts() {
    let log = log();
    let _ = log.append(10, 1).unwrap();
    let _ = log.delete_range(5, 15).unwrap();
    let _ = log.append(10, 2).unwrap();
    for step in 0..3 {
        assert_eq!(log.point(10).unwrap(), vec![2], "after step {step}");
        match step {
            0 => log.flush().unwrap(),
            1 => log.compact().unwrap(),
            _ => {}
        }
    }
}

#[test]
fn equal_timestamps_keep_insertion_order_across_layers() {
    let log = log();
    let mut expect = Vec::new();
    for i in 0..300u32 {
        let _ = log.append(7, i).unwrap();
        expect.push(i);
        if i % 50 == 0 {
            log.flush().unwrap();
        }
        if i % 120 == 0 {
            log.compact().unwrap();
        }
    }
    assert_eq!(log.point(7).unwrap(), expect);
    let desc: Vec<_> = log.all(Order::Desc).unwrap().map(|r| r.1).collect();
    assert_eq!(desc, expect.iter().rev().copied().collect::<Vec<_>>());
}

/// Pins are counted per thread stripe and released on the stripe they were
/// counted on, whichever thread drops the snapshot: the total is exact.
#[test]
fn pins_taken_and_dropped_on_different_threads_balance() {
    let log: Timelog<u64> = Timelog::new();
    let _ = log.append(1, 1).unwrap();
    let snaps: Vec<_> = (0..8)
        .map(|_| std::thread::scope(|s| s.spawn(|| (log.snapshot().unwrap(), log.snapshot().unwrap())).join().unwrap()))
        .collect();
    assert_eq!(log.pinned(), 16);
    let clones: Vec<_> = snaps.iter().map(|(a, _)| a.clone()).collect();
    assert_eq!(log.pinned(), 16, "clones share their snapshot's pin");
    std::thread::scope(|s| {
        for (a, b) in snaps {
            s.spawn(move || drop((a, b)));
        }
    });
    assert_eq!(log.pinned(), 8, "the clones still pin their snapshots");
    drop(clones);
    assert_eq!(log.pinned(), 0);
    log.close().unwrap();
}

/// A payload that owns memory behind interior mutability: a reader may
/// change what it owns through the `&T` a read hands out.
struct Owned(std::sync::Mutex<Vec<u64>>);

impl Clone for Owned {
    fn clone(&self) -> Self {
        Owned(std::sync::Mutex::new(self.0.lock().unwrap().clone()))
    }
}

/// Regression (session 41): a flush without tombstones used to *move*
/// every payload into the segment as a bitwise copy while the memtable,
/// which older snapshots still read, kept the original — two values
/// sharing one `Vec` buffer. A reader of the old snapshot that grew the
/// original's `Vec` freed that buffer under the segment's copy (a read
/// after free, then a double free when the segment dropped it: glibc
/// aborted this test). A flush now clones the payloads unless the log was
/// built with `Config::bitwise_payloads`, whose contract excludes such
/// types.
#[test]
fn a_flush_never_shares_a_payload_an_old_snapshot_can_change() {
    let log: Timelog<Owned> =
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    for i in 0..64 {
        let _ = log.append(i, Owned(std::sync::Mutex::new(vec![i as u64]))).unwrap();
    }
    let old = log.snapshot().unwrap();
    log.flush().unwrap();
    // Through the old snapshot (the memtable's payloads): grow every Vec
    // past its capacity, so each reallocates.
    for i in 0..64 {
        old.point_with(i, |o| o.0.lock().unwrap().extend(0..1_000));
    }
    // Through the segment: each payload as it was when flushed.
    for i in 0..64 {
        let mut seen = Vec::new();
        let _ = log.point_with(i, |o| seen = o.0.lock().unwrap().clone()).unwrap();
        assert_eq!(seen, vec![i as u64], "the segment's payload at {i}");
    }
    drop(old);
    drop(log);
}
