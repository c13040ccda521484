//! `Snapshot::visible_page_spans`: the zero-copy form of a range read, only
//! when it is exactly a concatenation of page spans.

use timelog::{Config, MaintenanceMode, Order, Snapshot, Timelog};

fn log() -> Timelog<u64> {
    Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        target_page_bytes: 4096,
        window_size: 1000,
        ..Config::default()
    })
    .unwrap()
}

fn flat(snap: &Snapshot<u64>, lo: i64, hi: i64) -> Option<Vec<(i64, u64)>> {
    let spans = snap.visible_page_spans(lo, hi)?;
    Some(spans.iter().flat_map(|s| s.timestamps().iter().copied().zip(s.payloads().iter().copied())).collect())
}

#[test]
fn spans_equal_the_range_read_when_flushed_and_disjoint() {
    let log = log();
    for t in 0..5000 {
        let _ = log.append(t / 2, t as u64).unwrap();
    }
    log.flush().unwrap();
    log.compact().unwrap();
    let _ = log.delete_range(100, 300).unwrap();
    let _ = log.delete_range(1200, 1201).unwrap();
    let snap = log.snapshot().unwrap();
    for (lo, hi) in [(i64::MIN, i64::MAX), (50, 150), (250, 1300), (2000, 1999), (5000, 6000)] {
        let want: Vec<_> = snap.cursor(lo, hi, Order::Asc).collect();
        assert_eq!(flat(&snap, lo, hi).as_ref(), Some(&want), "[{lo}, {hi}]");
    }
    assert!(snap.visible_page_spans(i64::MIN, i64::MAX).unwrap().len() > 2);
    // A disjoint L0 segment after L1 still concatenates.
    let _ = log.append(9000, 1).unwrap();
    log.flush().unwrap();
    let snap = log.snapshot().unwrap();
    let want: Vec<_> = snap.all(Order::Asc).collect();
    assert_eq!(flat(&snap, i64::MIN, i64::MAX), Some(want));
}

#[test]
fn no_spans_while_records_are_in_memtables_or_sources_overlap() {
    let log = log();
    for t in 0..100 {
        let _ = log.append(t, 0).unwrap();
    }
    log.flush().unwrap();
    let _ = log.append(50, 1).unwrap();
    assert!(log.snapshot().unwrap().visible_page_spans(0, 200).is_none(), "a memtable record");
    // Outside the memtable record's time, the flushed spans are exact.
    assert_eq!(flat(&log.snapshot().unwrap(), 60, 200).map(|v| v.len()), Some(40));
    log.flush().unwrap();
    assert!(log.snapshot().unwrap().visible_page_spans(0, 200).is_none(), "overlapping L0 segments");
    log.compact().unwrap();
    let snap = log.snapshot().unwrap();
    let want: Vec<_> = snap.all(Order::Asc).collect();
    assert_eq!(flat(&snap, 0, 200), Some(want));
}
