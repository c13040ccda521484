//! Multi-threaded stress: writers, readers and background maintenance at
//! once. Every reader checks that its snapshot is consistent (per writer, a
//! gap-free prefix of that writer's acknowledged sequence, never shrinking),
//! and at the end no acknowledged write is missing.
//! `TIMELOG_STRESS_MS` sets the duration (default 1500 ms per test).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use timelog::{BusyPolicy, Config, MaintenanceMode, Order, Timelog, WriteStatus};

fn duration() -> Duration {
    Duration::from_millis(std::env::var("TIMELOG_STRESS_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1500))
}

/// Payload: (writer id, counter). Timestamps mostly increase, with some out of order.
type P = (u32, u64);

fn check_prefix(rows: &[(i64, P)], writers: usize, last: &mut [u64]) {
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); writers];
    let mut prev = i64::MIN;
    for &(ts, (w, c)) in rows {
        assert!(ts >= prev, "rows out of order: {ts} after {prev}");
        prev = ts;
        seen[w as usize].push(c);
    }
    for (w, mut cs) in seen.into_iter().enumerate() {
        cs.sort_unstable();
        for (i, &c) in cs.iter().enumerate() {
            assert_eq!(c, i as u64, "writer {w}: snapshot shows a gap at {i}");
        }
        let n = cs.len() as u64;
        assert!(n >= last[w], "writer {w}: a later snapshot shows fewer records ({n} < {})", last[w]);
        last[w] = n;
    }
}

fn stress(writers: usize, readers: usize, cfg: Config) {
    let log: Arc<Timelog<P>> = Arc::new(Timelog::with_config(cfg).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..writers).map(|_| AtomicU64::new(0)).collect());
    let mut hs = Vec::new();
    for w in 0..writers {
        let (log, stop, acked) = (log.clone(), stop.clone(), acked.clone());
        hs.push(thread::spawn(move || {
            let mut c = 0u64;
            let mut busy = 0u64;
            // Bounded so that readers' full scans stay short on a fast machine.
            while !stop.load(Ordering::Relaxed) && c < 150_000 {
                // Mostly ordered, every 7th record 1000 units in the past; every
                // 50th a batch of 20.
                let base = (c as i64) * 10 + w as i64;
                if c % 50 == 49 {
                    let batch: Vec<_> = (0..20).map(|k| (base + k, (w as u32, c + k as u64))).collect();
                    if log.extend(batch).unwrap() == WriteStatus::Busy {
                        busy += 1;
                    }
                    c += 20;
                } else {
                    let ts = if c % 7 == 3 { base - 1000 } else { base };
                    if log.append(ts, (w as u32, c)).unwrap() == WriteStatus::Busy {
                        busy += 1;
                    }
                    c += 1;
                }
                acked[w].store(c, Ordering::Release);
            }
            busy
        }));
    }
    let mut rs = Vec::new();
    for r in 0..readers {
        let (log, stop) = (log.clone(), stop.clone());
        rs.push(thread::spawn(move || {
            let mut last = vec![0u64; writers];
            let mut scans = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let snap = log.snapshot().unwrap();
                let order = if (scans + r as u64) % 2 == 0 { Order::Asc } else { Order::Desc };
                let mut rows: Vec<(i64, P)> = snap.all(order).collect();
                if order == Order::Desc {
                    rows.reverse();
                }
                assert_eq!(rows.len(), snap.len(), "len() disagrees with a scan of the same snapshot");
                check_prefix(&rows, writers, &mut last);
                // Point reads and navigation on the same snapshot agree with the scan.
                if let Some(&(ts, _)) = rows.get(rows.len() / 2) {
                    let mut n = 0;
                    snap.point_with(ts, |_| n += 1);
                    assert_eq!(n, rows.iter().filter(|r| r.0 == ts).count());
                    assert_eq!(snap.next_ts(ts), rows.iter().map(|r| r.0).find(|&x| x > ts));
                }
                scans += 1;
            }
            scans
        }));
    }
    thread::sleep(duration());
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    let scans: u64 = rs.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(scans > 0, "readers made no progress");
    // Nothing acknowledged is missing, nothing is duplicated.
    let rows: Vec<(i64, P)> = log.all(Order::Asc).unwrap().collect();
    let mut last = vec![0u64; writers];
    check_prefix(&rows, writers, &mut last);
    for w in 0..writers {
        assert_eq!(last[w], acked[w].load(Ordering::Acquire), "writer {w}: acknowledged writes missing");
    }
    log.validate().unwrap();
    let st = log.stats().unwrap();
    assert!(st.seals_total > 0 && st.flushes_total > 0, "the stress never exercised seal/flush: {st:?}");
    log.compact().unwrap();
    assert_eq!(log.len().unwrap(), rows.len());
    log.validate().unwrap();
}

fn small(policy: BusyPolicy) -> Config {
    Config {
        maintenance: MaintenanceMode::Background,
        busy_policy: policy,
        memtable_max_bytes: 64 << 10,
        target_page_bytes: 4 << 10,
        sealed_max_runs: 4,
        maintenance_wakeup_ms: 1,
        window_size: 5_000,
        max_delta_segments: 3,
        ..Config::default()
    }
}

#[test]
fn stress_two_writers_three_readers_background() {
    stress(2, 3, small(BusyPolicy::Silent));
}

#[test]
fn stress_one_writer_flush_policy_waits() {
    stress(1, 2, Config { sealed_wait_ms: 5, ..small(BusyPolicy::Flush) });
}

#[test]
fn stress_four_writers_raise_policy() {
    stress(4, 2, small(BusyPolicy::Raise));
}
