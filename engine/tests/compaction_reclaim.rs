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
    assert!(log.stats().unwrap().retired_queue_len > 0);
    drop(snap);
    assert_eq!(log.stats().unwrap().retired_queue_len, 0);
    assert_eq!(log.len().unwrap(), 50);
    assert_eq!(Arc::strong_count(&payload), 1 + 50, "deleted payloads must be dropped");
    log.close().unwrap();
    assert_eq!(Arc::strong_count(&payload), 1, "close drops every payload");
}

/// A log with a payload target (`Config::payload_target`) loads payloads
/// ahead as compactions clone them and pages drop them, and changes
/// nothing else: through windowed compactions, holes, a prefix delete,
/// an old snapshot and `close`, every payload is released exactly when the
/// same log without the target releases it, and reads agree.
#[test]
fn a_payload_target_changes_no_release_and_no_read() {
    let cfg = |target| Config {
        maintenance: MaintenanceMode::Disabled,
        memtable_max_bytes: 2048,
        window_size: 300,
        payload_target: target,
        ..Config::default()
    };
    let logs: Vec<Timelog<Arc<u32>>> = [None, Some(timelog::PayloadTarget::of::<Arc<u32>>())]
        .into_iter()
        .map(|t| Timelog::with_config(cfg(t)).unwrap())
        .collect();
    let payloads: Vec<Arc<u32>> = (0..3000).map(Arc::new).collect();
    // Out of order across windows, so the first compaction merges.
    let order: Vec<usize> = (0..3000).map(|i| (i * 7919) % 3000).collect();
    let counts = || payloads.iter().map(Arc::strong_count).collect::<Vec<_>>();
    type Step = fn(&Timelog<Arc<u32>>);
    let steps: [(&str, Step); 3] = [
        ("compact", |l| l.compact().unwrap()),
        ("holes", |l| {
            for k in (0..3000).step_by(100) {
                let _ = l.delete_range(k, k + 40).unwrap();
            }
            l.compact().unwrap();
        }),
        ("prefix", |l| {
            let _ = l.delete_before(1234).unwrap();
            l.compact().unwrap();
        }),
    ];
    for &i in &order {
        for l in &logs {
            let _ = l.append(i as i64, payloads[i].clone()).unwrap();
        }
    }
    for (name, step) in steps {
        let before = counts();
        step(&logs[0]);
        let without = counts();
        step(&logs[1]);
        let with = counts();
        // Each log holds one reference per live record: the second step
        // releases exactly what the first did.
        let freed = |a: &[usize], b: &[usize]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>();
        let (a, b) = (freed(&before, &without), freed(&without, &with));
        assert_eq!(a, b, "{name}");
        assert!(name == "compact" || a.iter().sum::<usize>() > 0, "{name} releases the deleted payloads");
        let rows = |l: &Timelog<Arc<u32>>| l.all(Order::Asc).unwrap().map(|(t, v)| (t, *v)).collect::<Vec<_>>();
        assert_eq!(rows(&logs[0]), rows(&logs[1]), "{name}");
        logs[1].validate().unwrap();
    }
    // Under snapshots a delete and its compaction release nothing until
    // the snapshots go.
    let snaps: Vec<_> = logs.iter().map(|l| l.snapshot().unwrap()).collect();
    let held = counts();
    for l in &logs {
        let _ = l.delete_before(2000).unwrap();
        l.compact().unwrap();
    }
    // (The window the cut falls in is copied: its survivors gain a count.)
    let now = counts();
    assert!((0..3000).all(|i| now[i] >= held[i]), "a payload released under a snapshot");
    drop(snaps);
    assert!(payloads.iter().all(|p| Arc::strong_count(p) == 1 + 2 * usize::from(**p >= 2000 && **p % 100 >= 40)));
    for l in &logs {
        l.close().unwrap();
    }
    assert!(payloads.iter().all(|p| Arc::strong_count(p) == 1), "close drops every payload");
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
    let st = log.stats().unwrap();
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

/// The engine decides the closed-log policy of every call (a binding only
/// maps `Error::Closed`): introspection and worker control refuse a closed
/// log too. A manual maintenance step is refused while the background
/// worker runs (`Error::WorkerRunning`, whose message says what to do).
#[test]
fn closed_log_and_running_worker_refusals_are_the_engines() {
    use timelog::Error;
    let log: Timelog<u8> = Timelog::new();
    assert!(log.maintenance_running());
    assert_eq!(log.maint_step(), Err(Error::WorkerRunning));
    let msg = Error::WorkerRunning.to_string();
    assert!(msg.contains("call flush() or compact()") && msg.contains("stop_maintenance() first"), "{msg}");
    log.stop_maintenance().unwrap();
    assert_eq!(log.maint_step(), Ok(false), "no worker: the step runs (nothing to do)");
    log.start_maintenance().unwrap();
    let _ = log.append(1, 1).unwrap();
    assert_eq!(log.stats().unwrap().records_estimate, 1);
    log.validate().unwrap();
    log.check_open().unwrap();
    log.close().unwrap();
    assert_eq!(log.stats().map(|_| ()), Err(Error::Closed));
    assert_eq!(log.validate(), Err(Error::Closed));
    assert_eq!(log.stop_maintenance(), Err(Error::Closed));
    assert_eq!(log.maint_step(), Err(Error::Closed));
    assert_eq!(log.check_open(), Err(Error::Closed));
    assert!(!log.maintenance_running(), "close stopped the worker");
}

/// Waits up to `secs` for `cond`, polling.
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    cond()
}

/// Issue 10: a delete over flushed data is delete debt at once (not after a
/// later flush), and background maintenance acts on it with no further
/// writes: the covered payloads are released, the tombstone retired.
#[test]
fn delete_over_flushed_data_is_debt_at_once_and_the_worker_reclaims_it() {
    let log: Timelog<Arc<u32>> = Timelog::with_config(Config {
        // Long period: the delete itself must wake the worker.
        maintenance_wakeup_ms: 60_000,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(log.config().delete_debt_threshold, 0.1, "the default acts on deletes");
    let payload = Arc::new(1u32);
    let _ = log.extend((0..10_000).map(|t| (t, payload.clone()))).unwrap();
    log.flush().unwrap();
    assert_eq!(Arc::strong_count(&payload), 10_001);
    // Hold the maintainer off until the debt was read: a snapshot does not
    // stop compaction, so read the debt from stats right after the delete.
    let _ = log.delete_before(8_000).unwrap();
    assert!(wait_for(20, || Arc::strong_count(&payload) == 2_001), "the worker compacted the debt away");
    let st = log.stats().unwrap();
    assert_eq!(st.tombstone_count, 0, "the applied tombstone was retired");
    assert_eq!(st.delete_debt, 0.0);
    assert_eq!(log.len().unwrap(), 2_000);
    log.validate().unwrap();
}

#[test]
fn delete_debt_is_current_before_any_flush() {
    let log: Timelog<u64> =
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    let _ = log.extend((0..1_000).map(|t| (t, t as u64))).unwrap();
    log.flush().unwrap();
    assert_eq!(log.stats().unwrap().delete_debt, 0.0);
    let _ = log.delete_range(0, 500).unwrap();
    let d = log.stats().unwrap().delete_debt;
    assert!((d - 0.5).abs() < 1e-9, "half of the stored records are hidden: {d}");
    // One maintenance step flushes the delete and compacts.
    assert!(log.maint_step().unwrap());
    assert_eq!(log.stats().unwrap().delete_debt, 0.0);
    assert_eq!(log.stats().unwrap().tombstone_count, 0);
    assert_eq!(log.len().unwrap(), 500);
    // 0.0 = off: nothing happens.
    let off: Timelog<u64> = Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        delete_debt_threshold: 0.0,
        ..Config::default()
    })
    .unwrap();
    let _ = off.extend((0..1_000).map(|t| (t, t as u64))).unwrap();
    off.flush().unwrap();
    let _ = off.delete_range(0, 900).unwrap();
    assert!(!off.maint_step().unwrap());
    assert_eq!(off.stats().unwrap().segments_l0, 1);
}

/// `delete_before` / `delete_range` chains collapse to one tombstone in the
/// manifest (R11), and what each snapshot sees is unchanged.
#[test]
fn delete_chains_collapse_to_one_tombstone() {
    let log: Timelog<u64> = Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        delete_debt_threshold: 0.0,
        ..Config::default()
    })
    .unwrap();
    let _ = log.extend((0..100_000).map(|t| (t, t as u64))).unwrap();
    log.flush().unwrap();
    let mut snaps = Vec::new();
    for k in 1..=2_000 {
        let _ = log.delete_before(k * 10).unwrap();
        if k % 500 == 0 {
            snaps.push((k * 10, log.snapshot().unwrap()));
        }
    }
    for k in 1..=2_000 {
        let _ = log.delete_range(50_000, 50_000 + k * 5).unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.stats().unwrap().tombstone_count, 2, "one per chain");
    for (cut, s) in &snaps {
        assert_eq!(s.len(), (100_000 - cut) as usize, "a snapshot between deletes keeps its view");
        assert_eq!(s.all(Order::Asc).next().map(|r| r.0), Some(*cut));
    }
    assert_eq!(log.len().unwrap(), 100_000 - 20_000 - 10_000);
    assert_eq!(log.next_ts(19_999).unwrap(), Some(20_000));
    assert_eq!(log.next_ts(49_999).unwrap(), Some(60_000));
    drop(snaps);
    log.compact().unwrap();
    assert_eq!(log.stats().unwrap().tombstone_count, 0);
    assert_eq!(log.len().unwrap(), 70_000);
}

/// Issue 10: under an endless sliding window (append, and every few
/// thousand appends `delete_range(base, t - window)`), with background
/// maintenance and default settings, the tombstone count stays a small
/// constant and the stored records stay bounded by a small multiple of the
/// window, instead of growing with the stream.
#[test]
fn sliding_window_keeps_tombstones_and_storage_bounded() {
    for by_range in [true, false] {
        // Small memtables (about 10,000 records): the bound below is about
        // segments, and a memtable holds what it holds until it flushes.
        let log: Timelog<u64> =
            Timelog::with_config(Config { memtable_max_bytes: 256 << 10, ..Config::default() }).unwrap();
        let window = 20_000i64;
        let mut max_stored = 0usize;
        let mut max_tombs = 0usize;
        let total = 1_000_000i64;
        let batch = 5_000i64;
        let mut t = 0i64;
        while t < total {
            let _ = log.extend((t..t + batch).map(|x| (x, x as u64))).unwrap();
            t += batch;
            if t > window {
                let _ = if by_range { log.delete_range(0, t - window) } else { log.delete_before(t - window) }.unwrap();
            }
            if t % 100_000 == 0 {
                // Let the worker catch up the way a paced stream would.
                let settled = wait_for(10, || {
                    let st = log.stats().unwrap();
                    st.sealed_runs == 0 && st.delete_debt < 0.25
                });
                assert!(settled, "maintenance keeps up: {:?}", log.stats().unwrap());
                let st = log.stats().unwrap();
                let stored = st.records_stored - st.active_records;
                max_stored = max_stored.max(stored);
                max_tombs = max_tombs.max(st.tombstone_count);
            }
        }
        assert_eq!(log.len().unwrap(), window as usize);
        eprintln!("sliding window (by_range={by_range}): max segment records {max_stored}, max tombstones {max_tombs}");
        assert!(max_tombs <= 8, "tombstones stay few (by_range={by_range}): {max_tombs}");
        // Segments hold the window plus less than the debt threshold's share
        // (a quarter of what is stored): under twice the window.
        assert!(max_stored <= 2 * window as usize, "stored records stay bounded (by_range={by_range}): {max_stored}");
        log.validate().unwrap();
    }
}

/// Issue 10 item 3: a sliding window that deletes behind the writer inside
/// the active memtable (the default 4 MiB memtable holds far more than the
/// window) is sealed and flushed while mostly deleted — its records hidden
/// by its own deletes are delete debt — so everything stored (memtables
/// included) stays within the debt bound of the window, and the payloads
/// of deleted records are released. Before, the memtable kept every
/// record until it was full (about 175,000 here, 8.75x the window).
#[test]
fn sliding_window_inside_the_memtable_is_flushed_while_mostly_deleted() {
    let log: Timelog<Arc<u32>> =
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    let theta = log.config().delete_debt_threshold;
    let payload = Arc::new(0u32);
    let window = 20_000i64;
    let every = 1_000i64;
    let mut max_stored = 0usize;
    for t in 0..400_000i64 {
        let _ = log.append(t, payload.clone()).unwrap();
        if (t + 1) % every == 0 && t + 1 > window {
            let _ = log.delete_before(t + 1 - window).unwrap();
            // The user-driven form of background maintenance.
            while log.maint_step().unwrap() {}
            let st = log.stats().unwrap();
            max_stored = max_stored.max(st.records_stored);
            assert_eq!(Arc::strong_count(&payload), st.records_stored + 1, "stored records hold the payloads");
        }
    }
    assert_eq!(log.len().unwrap(), window as usize);
    // Below the threshold after each step, plus one delete period.
    let bound = (window as f64 / (1.0 - theta)) as usize + every as usize;
    assert!(max_stored <= bound, "stored {max_stored} > {bound} for a window of {window}");
    log.validate().unwrap();
}

/// Cost per delete call on a flushed 100,000-record log (issue 10, item 4):
/// `cargo test --release --test compaction_reclaim delete_cost -- --ignored --nocapture`.
/// Prints the best of 7 runs in thread CPU time (the development machine is
/// shared); asserts only that the cost stays flat in the number of deletes
/// made (50,000 calls cost at most 2x per call what 2,000 do).
#[test]
#[ignore = "timing: run explicitly"]
fn delete_cost_per_call_is_flat() {
    let per_call = |kind: u8, calls: i64| {
        let mut v: Vec<f64> = (0..7)
            .map(|_| {
                let log: Timelog<u64> =
                    Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() })
                        .unwrap();
                let _ = log.extend((0..100_000).map(|t| (t, t as u64))).unwrap();
                log.flush().unwrap();
                let t0 = cpu_ns();
                for k in 0..calls {
                    let t = k * 100_000 / calls;
                    let _ = match kind {
                        0 => log.delete_before(t),
                        _ => log.delete_range(0, t + 1),
                    }
                    .unwrap();
                }
                (cpu_ns() - t0) as f64 / calls as f64
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v[0]
    };
    for (kind, name) in [(0u8, "delete_before"), (1, "delete_range")] {
        let small = per_call(kind, 2_000);
        let large = per_call(kind, 50_000);
        eprintln!("{name}: {small:.1} ns/call at 2,000 calls, {large:.1} ns/call at 50,000 calls");
        assert!(large < 2.0 * small + 20.0, "{name} cost grows with the number of deletes");
    }
}

/// This thread's CPU time in nanoseconds.
fn cpu_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

#[test]
#[ignore = "profiling loop: run explicitly under perf"]
fn delete_loop_for_profiling() {
    for _ in 0..40 {
        let log: Timelog<u64> =
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for k in 0..50_000 {
            let _ = log.delete_before(k).unwrap();
        }
    }
}

/// Runs a sliding window of 20,000 records over a stream of 600,000 under
/// `busy_policy = Flush` with 64 KiB memtables, the maintenance worker's
/// payload scope replaced by `worker_scope` (on the worker thread only);
/// returns the records stored at every 10,000th append.
// `Hooks` is built field by field: with the `test-hooks` feature it has a
// private field, so struct-update syntax does not compile there.
#[allow(clippy::field_reassign_with_default)]
fn sliding_window_storage(worker_scope: impl Fn() + Send + Sync + 'static) -> Vec<usize> {
    let scope: timelog::hooks::Scope = Arc::new(move |f: &mut dyn FnMut()| {
        if std::thread::current().name() == Some("timelog-maint") {
            worker_scope();
        } else {
            f();
        }
    });
    let mut hooks = timelog::Hooks::default();
    hooks.worker_scope = Some(scope);
    let log: Timelog<u64> = Timelog::with_hooks(
        Config { memtable_max_bytes: 64 << 10, busy_policy: timelog::BusyPolicy::Flush, ..Config::default() },
        hooks,
    )
    .unwrap();
    assert!(log.maintenance_running());
    let mut stored = Vec::new();
    for t in 0..600_000i64 {
        let _ = log.append(t, t as u64).unwrap();
        if (t + 1) % 1_000 == 0 && t + 1 > WINDOW {
            let _ = log.delete_before(t + 1 - WINDOW).unwrap();
        }
        if (t + 1) % 10_000 == 0 {
            stored.push(log.stats().unwrap().records_stored);
        }
    }
    let st = log.stats().unwrap();
    assert_eq!(st.records_estimate, WINDOW as usize);
    assert!(st.compactions_total > 0, "the writer compacted: {st:?}");
    log.validate().unwrap();
    stored
}

/// [`sliding_window_storage`]'s window.
const WINDOW: i64 = 20_000;

/// Checks [`sliding_window_storage`]'s samples against the bound: the
/// window, plus the delete debt threshold's share of what is stored, plus
/// the memtables (about 2,700 records each) up to the L0 trigger — 3
/// windows. At most `over_max` samples may be above it, and none above
/// `windows_max` windows: without the writer's help the samples grow with
/// the stream, to 600,000 (most of them above the bound).
fn assert_bounded(stored: &[usize], over_max: usize, windows_max: usize) {
    let bound = 3 * WINDOW as usize;
    let over = stored.iter().filter(|&&n| n > bound).count();
    let max = stored.iter().copied().max().unwrap_or(0);
    assert!(
        over <= over_max && max <= windows_max * WINDOW as usize,
        "stored records stay bounded: {over} of {} samples above {bound} (at most {over_max}), max {max}",
        stored.len()
    );
}

/// A starved maintenance worker (niced, every core busy: it gets no CPU)
/// must not let a sliding window's storage grow with the stream under
/// `busy_policy = Flush`: the writer does the maintenance the worker is
/// behind on — flushes *and* the compactions that drop deleted records —
/// once per memtable it seals (issue 10, item 3). The worker is starved
/// deterministically: its payload scope never runs its closure (a skipped
/// step, as the `Hooks` contract allows), so it never flushes or compacts.
/// Before the writer helped, only sealed memtables were bounded
/// (`sealed_max_runs`) and L0 and the deleted records in it grew without
/// bound (here: the whole stream).
///
/// The bound is on the share of samples above it (a quarter), not on their
/// maximum: the maximum of 12 samples, asserted until session 27, failed
/// once in CI (69,000), when the writer's help took the maintainer lock
/// only if it was free and a loaded machine could preempt the worker while
/// it held the lock (the next test holds it on purpose). With four runs at
/// once, 2 of 300 runs had samples above 60,000 then (at most 3 samples,
/// 87,000); 0 of 200 (maximum 54,000) since the help waits for a holder
/// that has held the lock for 2 ms (`Maint::help_lock`).
#[test]
fn starved_worker_writer_keeps_sliding_window_bounded_under_flush_policy() {
    let stored = sliding_window_storage(|| {});
    assert_bounded(&stored, stored.len() / 4, 10);
}

/// The worker holds the maintainer lock for long stretches: its payload
/// scope sleeps 2 ms and then skips the phase — a worker preempted in its
/// step, or waiting in it to attach to an interpreter another thread
/// holds. The writer's help must still come: when the holder has held the
/// lock for 2 ms, the writer waits for it (at most 10 ms), and the worker
/// leaves it to the writer meanwhile. Before (`Maint::help_lock` reverted
/// to a `try_lock`, three runs): 4, 13 and 13 of the 60 samples above the
/// bound, maximum 94,000 to 161,000 (sealed memtables piled up to 31: the
/// backpressure's help was skipped too). Since: none above, maximum 36,000
/// to 55,274 in 32 runs, four at once.
#[test]
fn a_worker_holding_the_maintainer_lock_does_not_keep_the_writer_from_helping() {
    let stored = sliding_window_storage(|| std::thread::sleep(std::time::Duration::from_millis(2)));
    assert_bounded(&stored, 1, 4);
}

/// A worker whose payload scope skips every step (an embedder shutting
/// down: `Hooks::worker_scope` may skip) seals nothing for delete debt:
/// it could not flush what it sealed. Before (session 29), a delete-debt
/// step sealed the active memtable before entering the phase, and an idle
/// step did too, so each step left one more sealed memtable that only the
/// writers' backpressure would flush (here, with a memtable large enough
/// that the writer never seals one: 38 sealed memtables, none flushed, in
/// each of three runs). The memtable keeps every record, and the reads
/// stay right.
#[test]
#[allow(clippy::field_reassign_with_default)]
fn a_worker_that_cannot_flush_seals_nothing_for_delete_debt() {
    let scope: timelog::hooks::Scope = Arc::new(|f: &mut dyn FnMut()| {
        if std::thread::current().name() != Some("timelog-maint") {
            f();
        }
    });
    let mut hooks = timelog::Hooks::default();
    hooks.worker_scope = Some(scope);
    let log: Timelog<u64> =
        Timelog::with_hooks(Config { maintenance_wakeup_ms: 5, ..Config::default() }, hooks).unwrap();
    assert!(log.maintenance_running());
    for t in 0..60_000i64 {
        let _ = log.append(t, t as u64).unwrap();
        if (t + 1) % 1_000 == 0 && t + 1 > WINDOW {
            let _ = log.delete_before(t + 1 - WINDOW).unwrap();
            // Time for the worker's debt step (kicked by the delete).
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = log.stats().unwrap();
    assert!(st.delete_debt >= log.config().delete_debt_threshold, "the stream leaves delete debt: {st:?}");
    assert_eq!((st.seals_total, st.sealed_runs, st.flushes_total), (0, 0, 0), "{st:?}");
    assert_eq!(log.len().unwrap(), WINDOW as usize);
    assert_eq!(log.min_ts().unwrap(), Some(60_000 - WINDOW));
    log.validate().unwrap();
}

/// Idle maintenance (issue 10, items 3 and 5): a sliding window by
/// `delete_range` ends with what the write-side triggers leave — L0
/// segments under `max_delta_segments` beside L1, and a tombstone whose
/// debt is under `delete_debt_threshold`. Every later read paid for them
/// (the retention benchmark's `len` and `log[k]` were 1.3x a fresh log of
/// the same records). Once the log is quiet, the worker takes it to a fresh
/// log's shape: everything in L1, no tombstone, the deleted payloads
/// released. Before, this state stayed as it was for as long as the log
/// lived.
#[test]
fn a_quiet_log_is_compacted_to_one_source_and_no_tombstone() {
    use timelog::Counter;
    for threshold in [0.1, 0.0] {
        let log: Timelog<Arc<u32>> = Timelog::with_config(Config {
            memtable_max_bytes: 64 << 10,
            maintenance_wakeup_ms: 5,
            delete_debt_threshold: threshold,
            ..Config::default()
        })
        .unwrap();
        let payload = Arc::new(1u32);
        let _ = log.extend((0..20_000).map(|t| (t, payload.clone()))).unwrap();
        log.compact().unwrap();
        assert_eq!(log.stats().unwrap().segments_l0, 0);
        // The worker may do an idle step of its own while we set the state
        // up: stop it, build the state, then let it run.
        log.stop_maintenance().unwrap();
        let base = 1_000_000;
        for k in 0..3 {
            let lo = base + k * 2_000;
            let _ = log.extend((lo..lo + 2_000).map(|t| (t, payload.clone()))).unwrap();
            log.flush().unwrap();
        }
        // Hides 1,000 of 26,000 stored records: under the threshold.
        let _ = log.delete_range(base, base + 1_000).unwrap();
        log.flush().unwrap();
        let st = log.stats().unwrap();
        assert_eq!((st.segments_l0, st.tombstone_count), (3, 1), "{st:?}");
        assert!(st.delete_debt > 0.0 && (threshold == 0.0 || st.delete_debt < threshold), "{st:?}");
        // A regular step finds nothing to do here.
        assert!(!log.maint_step().unwrap(), "under every write-side trigger");
        let idle0 = log.counter(Counter::IdleSteps);
        log.start_maintenance().unwrap();
        // The idle step counts itself after it publishes its manifest: wait
        // for the count too, or the manifest can be seen first (CI, stop 29).
        let done = wait_for(20, || {
            let st = log.stats().unwrap();
            st.segments_l0 == 0
                && (threshold == 0.0 || st.tombstone_count == 0)
                && log.counter(Counter::IdleSteps) > idle0
        });
        let st = log.stats().unwrap();
        assert!(done, "the quiet log was compacted by an idle step (threshold {threshold}): {st:?}");
        assert_eq!(log.len().unwrap(), 25_000);
        if threshold > 0.0 {
            assert_eq!(st.delete_debt, 0.0);
            assert!(wait_for(20, || Arc::strong_count(&payload) == 25_001), "deleted payloads released");
        } else {
            // 0.0 = deletes never trigger compaction, idle or not: the L0
            // merge applied the tombstone to the segment it read (R8), but
            // nothing was rewritten for the tombstone's sake.
            assert_eq!(log.stats().unwrap().segments_l0, 0);
        }
        log.validate().unwrap();
        // Quiet again and nothing left: no more idle work, however long. (A
        // step counts itself just after it publishes: let a last count land.)
        std::thread::sleep(std::time::Duration::from_millis(50));
        let n = log.counter(Counter::IdleSteps);
        let c = log.counter(Counter::CompactionsTotal);
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!((log.counter(Counter::IdleSteps), log.counter(Counter::CompactionsTotal)), (n, c));
    }
}

/// A log with one source (a lone L0 segment, nothing else) is left as it is
/// by idle maintenance: rewriting it into L1 would buy no read anything.
/// And a log that keeps being written is never idle.
#[test]
fn idle_maintenance_leaves_a_lone_segment_and_a_busy_log_alone() {
    use timelog::Counter;
    let log: Timelog<u64> = Timelog::with_config(Config { maintenance_wakeup_ms: 5, ..Config::default() }).unwrap();
    let _ = log.extend((0..10_000).map(|t| (t, t as u64))).unwrap();
    log.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = log.stats().unwrap();
    assert_eq!((st.segments_l0, st.segments_l1, st.compactions_total), (1, 0, 0), "{st:?}");
    assert_eq!(log.counter(Counter::IdleSteps), 0);
    // Writes every millisecond (under the 50 ms quiet period): a second
    // L0 segment and a tombstone stay while the writes go on.
    let _ = log.extend((20_000..21_000).map(|t| (t, t as u64))).unwrap();
    log.flush().unwrap();
    let _ = log.delete_range(0, 10).unwrap();
    log.flush().unwrap();
    let t0 = std::time::Instant::now();
    let mut t = 30_000;
    while t0.elapsed() < std::time::Duration::from_millis(300) {
        let _ = log.append(t, 0).unwrap();
        t += 1;
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(log.counter(Counter::IdleSteps), 0, "{:?}", log.stats().unwrap());
    assert!(wait_for(20, || log.counter(Counter::IdleSteps) > 0), "idle once the writes stop");
}

/// An interpreter lock for the test below, as CPython's GIL behaves for
/// the engine: the payload scope needs it, the blocking scope releases it,
/// and (unlike CPython, which takes it from a running thread after its
/// switch interval) a holder keeps it until it releases it itself.
mod fake_gil {
    use std::cell::Cell;
    use std::sync::{Condvar, Mutex};

    static HELD: Mutex<bool> = Mutex::new(false);
    static FREED: Condvar = Condvar::new();
    thread_local! { static MINE: Cell<bool> = const { Cell::new(false) }; }

    pub fn holds() -> bool {
        MINE.with(Cell::get)
    }

    pub fn acquire() {
        let mut h = HELD.lock().unwrap();
        while *h {
            h = FREED.wait(h).unwrap();
        }
        *h = true;
        MINE.with(|m| m.set(true));
    }

    pub fn release() {
        MINE.with(|m| m.set(false));
        *HELD.lock().unwrap() = false;
        FREED.notify_all();
    }

    /// The payload scope: attach (re-entrant), run, detach.
    pub fn attached(f: &mut dyn FnMut()) {
        if holds() {
            return f();
        }
        acquire();
        f();
        release();
    }

    /// The blocking scope: detach around the wait.
    pub fn detached(f: &mut dyn FnMut()) {
        if !holds() {
            return f();
        }
        release();
        f();
        acquire();
    }
}

/// Issue 10 item 3: a writer that keeps the interpreter lock (a Python
/// loop of appends and sliding-window deletes) must not hold a delete-debt
/// step off. The step's payload phase needs that lock; before, the worker
/// waited for it with the stream going on — under CPython for the switch
/// interval (5 ms, several deletes of a sliding window: debt 0.2-0.47
/// against the threshold 0.1, docs/performance.md "Retention"), and here,
/// where the lock is never taken from its holder, for the whole stream (no
/// compaction, the debt climbing toward 1 as the memtable fills with
/// deleted records). Now a delete that finds a debt step waiting to enter
/// its phase steps aside in the blocking scope, and the debt stays near
/// its threshold while the writer holds the lock.
#[test]
// `Hooks` is built field by field: with the `test-hooks` feature it has a
// private field, so struct-update syntax does not compile there.
#[allow(clippy::field_reassign_with_default)]
fn a_delete_steps_aside_for_a_debt_step_waiting_for_its_interpreter_lock() {
    let mut hooks = timelog::Hooks::default();
    hooks.worker_scope = Some(Arc::new(fake_gil::attached));
    hooks.blocking_scope = Some(Arc::new(fake_gil::detached));
    let log: Timelog<Arc<u32>> = Timelog::with_hooks(Config::default(), hooks).unwrap();
    assert!(log.maintenance_running());
    let theta = log.config().delete_debt_threshold;
    let payload = Arc::new(0u32);
    let window = 20_000i64;
    let every = 1_000i64;
    let (mut max_debt, mut compacted_while_held) = (0f64, 0u64);
    fake_gil::acquire();
    let c0 = log.stats().unwrap().compactions_total;
    for t in 0..300_000i64 {
        // A full memtable or a pile of sealed ones is not this test's
        // subject (the default memtable holds the stream's window many times).
        let _ = log.append(t, payload.clone()).unwrap();
        if (t + 1) % every == 0 && t + 1 > window {
            let _ = log.delete_before(t + 1 - window).unwrap();
            // The interpreter's own work between deletes (a Python loop of
            // 1,000 appends takes about 0.2 ms); the lock stays held.
            std::thread::sleep(std::time::Duration::from_micros(200));
            let st = log.stats().unwrap();
            max_debt = max_debt.max(st.delete_debt);
            if std::env::var_os("DEBT_TRACE").is_some() {
                eprintln!(
                    "t={} debt={:.3} compactions={} sealed={} l0={} l1={}",
                    t + 1,
                    st.delete_debt,
                    st.compactions_total - c0,
                    st.sealed_runs,
                    st.segments_l0,
                    st.segments_l1
                );
            }
            compacted_while_held = st.compactions_total - c0;
        }
    }
    assert!(fake_gil::holds());
    fake_gil::release();
    eprintln!("max delete debt {max_debt:.3}, compactions while the writer held the lock {compacted_while_held}");
    assert!(compacted_while_held > 0, "debt steps ran while the writer held the interpreter lock");
    // The threshold, plus a few deletes (each about 1/21 of what is stored)
    // for the worker to wake up, compute the debt and seal: 0.2-0.3 on a
    // quiet machine, 0.41-0.43 with both cores of a 2-core machine busy with
    // other work (the worker waits for a core). Before, it climbed toward 1.
    assert!(max_debt <= 5.0 * theta, "delete debt {max_debt:.3} stays near its threshold {theta}");
    log.close().unwrap();
    drop(log);
    assert_eq!(Arc::strong_count(&payload), 1);
}
