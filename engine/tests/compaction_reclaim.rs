//! Compaction drops deleted records physically and releases their payloads
//! once no snapshot needs them.

use std::sync::Arc;

use timelog::{Config, MaintenanceMode, Order, Timelog};

#[test]
fn compaction_releases_deleted_payloads_after_snapshots_go() {
    let log: Timelog<Arc<u32>> = Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        memtable_max_bytes: 1024,
        ..Config::default()
    })
    .unwrap();
    let payload = Arc::new(7u32);
    for i in 0..200 {
        let _ = log.append(i, payload.clone()).unwrap();
    }
    log.flush().unwrap();
    assert!(Arc::strong_count(&payload) > 200);
    let snap = log.snapshot().unwrap();
    let _ = log.delete_before(150).unwrap();
    log.compact().unwrap();
    // The old snapshot still sees (and so pins) the deleted records.
    assert_eq!(snap.len(), 200);
    assert!(log.stats().retired_queue_len > 0);
    drop(snap);
    assert_eq!(log.stats().retired_queue_len, 0);
    assert_eq!(log.len().unwrap(), 50);
    assert_eq!(Arc::strong_count(&payload), 1 + 50, "deleted payloads must be dropped");
    log.close().unwrap();
    assert_eq!(Arc::strong_count(&payload), 1, "close drops every payload");
}

#[test]
fn compaction_builds_windowed_non_overlapping_l1() {
    let log: Timelog<u64> = Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        memtable_max_bytes: 2048,
        window_size: 100,
        ..Config::default()
    })
    .unwrap();
    // Out-of-order ingest across many windows.
    let mut ts: Vec<i64> = (0..2000).map(|i| (i * 7919) % 1000).collect();
    ts.rotate_left(333);
    for (i, t) in ts.iter().enumerate() {
        let _ = log.append(*t, i as u64).unwrap();
    }
    log.compact().unwrap();
    let st = log.stats();
    assert_eq!(st.segments_l0, 0);
    assert_eq!(st.l1_windows, 10);
    log.validate().unwrap();
    let rows: Vec<_> = log.all(Order::Asc).unwrap().collect();
    assert_eq!(rows.len(), 2000);
    assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn close_refuses_while_pinned_then_discards() {
    let log: Timelog<u8> = Timelog::new();
    let _ = log.append(1, 1).unwrap();
    let c = log.all(Order::Asc).unwrap();
    assert!(matches!(log.close(), Err(timelog::Error::Pinned(1))));
    drop(c);
    log.close().unwrap();
    assert!(matches!(log.append(2, 2), Err(timelog::Error::Closed)));
    assert!(log.is_closed());
    log.close().unwrap();
}
