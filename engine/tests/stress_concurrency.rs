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

/// Session 11 (deletes admitted by their sequence; since session 25 they
/// take a ticket of the door like every write, docs/protocol.md R1):
/// deletes race seals (a memtable of about a hundred records), flushes,
/// compactions, batches and readers on real threads. Each writer deletes
/// only ranges of its own records, appended before the delete in program
/// order, so the end state is exact: every record outside its writer's
/// deleted ranges, none inside. A delete that landed in the wrong memtable
/// (below a successor's base, or in a sealed memtable a flush had already
/// read) shows as a deleted record that came back. An end-to-end check on
/// the std build, not the protocol's proof: the seeded faults of the
/// earlier rule (`delete_no_base_check`, `flush_before_commit`, both
/// retired in session 25) opened windows of a few instructions that this
/// test did not hit in its budget (checked by hand); the loom scenarios
/// caught them.
#[test]
fn deletes_race_seals_flushes_and_batches() {
    let cfg = Config {
        maintenance: MaintenanceMode::Background,
        busy_policy: BusyPolicy::Silent,
        memtable_max_bytes: 4 << 10,
        target_page_bytes: 1 << 10,
        sealed_max_runs: 64,
        maintenance_wakeup_ms: 1,
        max_delta_segments: 3,
        ..Config::default()
    };
    let log: Arc<Timelog<P>> = Arc::new(Timelog::with_config(cfg).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    const SPAN: i64 = 1 << 32;
    let writers = 3;
    let mut hs = Vec::new();
    for w in 0..writers {
        let (log, stop) = (log.clone(), stop.clone());
        hs.push(thread::spawn(move || {
            let base = w as i64 * SPAN;
            let mut n = 0i64;
            let mut deleted = Vec::new();
            while !stop.load(Ordering::Relaxed) && n < 100_000 {
                if n % 97 == 96 {
                    // A batch (larger than a memtable: a bulk run when the
                    // log is flushed, else the memtable path in chunks).
                    let batch: Vec<_> = (0..150).map(|k| (base + n + k, (w as u32, (n + k) as u64))).collect();
                    let _ = log.extend(batch).unwrap();
                    n += 150;
                } else {
                    let _ = log.append(base + n, (w as u32, n as u64)).unwrap();
                    n += 1;
                }
                if n % 16 == 0 && n >= 32 {
                    let (a, b) = (base + n - 32, base + n - 24);
                    let _ = log.delete_range(a, b).unwrap();
                    deleted.push((a, b));
                }
            }
            (base, n, deleted)
        }));
    }
    let reader = {
        let (log, stop) = (log.clone(), stop.clone());
        thread::spawn(move || {
            let mut rows = 0usize;
            while !stop.load(Ordering::Relaxed) {
                rows += log.range(0, SPAN, Order::Asc).unwrap().take(2_000).count();
                rows += log.next_ts(SPAN).unwrap().map_or(0, |_| 1);
            }
            rows
        })
    };
    let end = std::time::Instant::now() + duration();
    let mut steps = 0u64;
    while std::time::Instant::now() < end {
        log.flush().unwrap();
        steps += 1;
        if steps % 8 == 0 {
            log.compact().unwrap();
        }
        thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join().unwrap();
    let mut deletes = 0;
    for h in hs {
        let (base, n, deleted) = h.join().unwrap();
        deletes += deleted.len();
        let want: Vec<i64> = (base..base + n).filter(|t| !deleted.iter().any(|&(a, b)| a <= *t && *t < b)).collect();
        let got: Vec<i64> = log.range(base, base + n, Order::Asc).unwrap().map(|(t, _)| t).collect();
        assert_eq!(got.len(), want.len(), "writer at {base}: {} records, {} expected", got.len(), want.len());
        assert_eq!(got, want, "writer at {base}: a deleted record came back or a record was lost");
    }
    assert!(deletes > 100, "the writers deleted ({deletes} deletes)");
    log.validate().unwrap();
}
