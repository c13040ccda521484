//! Regression tests (std build) for protocol bugs found by the model
//! checkers (`verification/`, see `docs/verification.md`). The loom
//! scenarios named below reproduce each bug deterministically; these tests
//! race real threads for `TIMELOG_STRESS_MS` (default 1000). The first one
//! caught its bug within that budget (checked with the seeded fault
//! `flush_before_commit`, retired in session 25: the seal now waits for
//! every ticket's commit before the flush can see the memtable); the lost
//! wakeup of the second has a window of a few instructions, so in the std
//! build it is a smoke test only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use timelog::{BusyPolicy, Config, MaintenanceMode, Timelog, WriteStatus};

fn budget() -> Duration {
    Duration::from_millis(std::env::var("TIMELOG_STRESS_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000))
}

/// R8 (loom: `loom_flush::flush_waits_for_commits`). A seal drains the
/// writers *out of* a memtable, but a writer commits only after leaving it.
/// Flush used to publish the segment right away, so a snapshot (watermark
/// `W`) could see segment records with sequences above `W`, and
/// `validate()` reported a segment above the visible watermark. With
/// inserts only, a snapshot must hold exactly `W` records.
#[test]
fn flush_never_publishes_uncommitted_records() {
    let cfg = Config {
        maintenance: MaintenanceMode::Disabled,
        busy_policy: BusyPolicy::Silent,
        memtable_max_bytes: 1 << 30,
        ..Config::default()
    };
    let log: Arc<Timelog<u64>> = Arc::new(Timelog::with_config(cfg).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let mut hs = Vec::new();
    for w in 0..3u64 {
        let (log, stop) = (log.clone(), stop.clone());
        hs.push(thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = log.append(i as i64, w).unwrap();
                i += 1;
            }
        }));
    }
    let end = Instant::now() + budget();
    let mut checks = 0u64;
    while Instant::now() < end {
        log.flush().unwrap();
        let s = log.snapshot().unwrap();
        assert_eq!(s.len() as u64, s.watermark(), "a snapshot sees records above its watermark");
        log.validate().unwrap();
        checks += 1;
        if checks % 64 == 0 {
            log.compact().unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    let s = log.snapshot().unwrap();
    assert_eq!(s.len() as u64, s.watermark());
}

/// Backpressure (loom: `loom_backpressure::backpressure_wait_vs_worker`).
/// The worker notified waiting writers without holding the worker mutex,
/// so a notification could fall between a writer's check and its wait: the
/// writer then slept for the whole `sealed_wait_ms` although the worker had
/// flushed. With a 10 s wait, a lost wakeup shows as a write taking seconds.
#[test]
fn backpressure_wait_wakes_up_on_progress() {
    let cfg = Config {
        maintenance: MaintenanceMode::Background,
        busy_policy: BusyPolicy::Raise,
        memtable_max_bytes: 64,
        sealed_max_runs: 1,
        sealed_wait_ms: 10_000,
        ..Config::default()
    };
    let log: Arc<Timelog<u64>> = Arc::new(Timelog::with_config(cfg).unwrap());
    let end = Instant::now() + budget();
    let mut i = 0i64;
    let mut slowest = Duration::ZERO;
    while Instant::now() < end {
        let t0 = Instant::now();
        let st = log.append(i, i as u64).unwrap();
        slowest = slowest.max(t0.elapsed());
        assert!(matches!(st, WriteStatus::Ok | WriteStatus::Busy));
        i += 1;
    }
    assert!(slowest < Duration::from_secs(5), "a backpressure wait missed the worker's progress ({slowest:?})");
    log.stop_maintenance().unwrap();
}

/// Backpressure against a stopping worker. A writer waiting for the
/// worker's progress re-checked only the sealed count when woken, so a
/// worker stopped meanwhile (`stop_maintenance`, which wakes the waiters)
/// left the writer asleep for the rest of `sealed_wait_ms` — a minute
/// here. The wait now also ends when the worker no longer runs. The worker
/// is kept from flushing by a payload scope that skips its closure (a
/// binding's scope does that while its interpreter shuts down).
#[test]
fn backpressure_wait_ends_when_the_worker_stops() {
    let blocked = Arc::new(AtomicBool::new(true));
    let mut hooks = timelog::hooks::Hooks::default();
    let b = blocked.clone();
    hooks.worker_scope = Some(Arc::new(move |f: &mut dyn FnMut()| {
        if !b.load(Ordering::Acquire) {
            f();
        }
    }));
    let cfg = Config {
        maintenance: MaintenanceMode::Background,
        busy_policy: BusyPolicy::Raise,
        memtable_max_bytes: 64,
        sealed_max_runs: 1,
        sealed_wait_ms: 60_000,
        ..Config::default()
    };
    let log: Arc<Timelog<u64>> = Arc::new(Timelog::with_hooks(cfg, hooks).unwrap());
    let writer = {
        let log = log.clone();
        thread::spawn(move || {
            let t0 = Instant::now();
            let mut i = 0i64;
            // Append until a write waits for the blocked worker.
            while log.stats().unwrap().backpressure_waits == 0 {
                let st = log.append(i, i as u64).unwrap();
                assert!(matches!(st, WriteStatus::Ok | WriteStatus::Busy));
                i += 1;
            }
            t0.elapsed()
        })
    };
    while log.stats().unwrap().backpressure_waits == 0 {
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(50));
    log.stop_maintenance().unwrap();
    let waited = writer.join().unwrap();
    blocked.store(false, Ordering::Release);
    assert!(waited < Duration::from_secs(20), "the writer slept on after the worker stopped ({waited:?})");
    log.flush().unwrap();
    assert_eq!(log.snapshot().unwrap().len() as u64, log.snapshot().unwrap().watermark());
}
