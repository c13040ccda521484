//! Backpressure: a busy write is committed, reported by policy, counted.

use timelog::{BusyPolicy, Config, MaintenanceMode, Timelog, WriteStatus};

fn log(policy: BusyPolicy) -> Timelog<u32> {
    Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        busy_policy: policy,
        memtable_max_bytes: 64,
        sealed_max_runs: 1,
        ..Config::default()
    })
    .unwrap()
}

#[test]
fn raise_policy_reports_busy_but_commits() {
    let log = log(BusyPolicy::Raise);
    let mut busy = 0;
    for i in 0..50 {
        if log.append(i, i as u32).unwrap() == WriteStatus::Busy {
            busy += 1;
        }
    }
    assert!(busy > 0);
    assert_eq!(log.len().unwrap(), 50, "busy writes are committed");
    assert_eq!(log.stats().unwrap().busy_events, busy);
}

#[test]
fn flush_policy_flushes_inline() {
    let log = log(BusyPolicy::Flush);
    for i in 0..50 {
        assert_eq!(log.append(i, i as u32).unwrap(), WriteStatus::Ok);
    }
    let st = log.stats().unwrap();
    assert!(st.busy_events > 0 && st.flushes_total > 0);
    assert_eq!(log.len().unwrap(), 50);
}

#[test]
fn silent_policy_counts_only() {
    let log = log(BusyPolicy::Silent);
    for i in 0..50 {
        assert_eq!(log.append(i, i as u32).unwrap(), WriteStatus::Ok);
    }
    assert!(log.stats().unwrap().busy_events > 0);
    assert_eq!(log.len().unwrap(), 50);
}

#[test]
fn config_errors_say_what_to_do() {
    let e = Timelog::<u8>::with_config(Config { window_size: -5, ..Config::default() }).unwrap_err();
    assert!(
        e.to_string().contains("window_size must be in [0, 2**63 - 1]") && e.to_string().ends_with("got -5"),
        "{e}"
    );
    let log: Timelog<u8> = Timelog::with_config(Config { min_ts: Some(100), ..Config::default() }).unwrap();
    let e = log.append(5, 1).unwrap_err();
    assert!(e.to_string().contains("below the retention floor min_ts=100"), "{e}");
    assert!(matches!(log.delete_point(i64::MAX), Err(timelog::Error::Unrepresentable(_))));
    assert!(matches!(log.range(5, 1, timelog::Order::Asc), Err(timelog::Error::InvalidRange { .. })));
}

/// Deletes alone fill a memtable too: each tombstone counts 64 bytes of its
/// size (`Memtable::bytes` counts the tombstone stack's slots), so a stream
/// of deletes seals it at `memtable_max_bytes` like a stream of appends.
#[test]
fn deletes_alone_seal_the_memtable_at_its_size() {
    let log: Timelog<u32> = Timelog::with_config(Config {
        maintenance: MaintenanceMode::Disabled,
        memtable_max_bytes: 64 * 1_000,
        sealed_max_runs: 100,
        ..Config::default()
    })
    .unwrap();
    for t in 1..=2_500 {
        assert_eq!(log.delete_before(t).unwrap(), WriteStatus::Ok);
    }
    let st = log.stats().unwrap();
    assert_eq!(st.seals_total, 2, "sealed at the 1,000th and the 2,000th delete");
    assert_eq!(st.sealed_runs, 2);
}

thread_local! {
    /// Whether this thread runs inside the log's payload scope (the test's
    /// `worker_scope`).
    static IN_SCOPE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A payload that counts the drops that ran outside the payload scope.
#[derive(Clone)]
struct Tracked(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        if !IN_SCOPE.with(|s| s.get()) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Fills a log (maintenance disabled, 64-byte memtables, `sealed_max_runs`
/// 4) until one call flushed the four sealed memtables — a write's busy
/// help (`busy_policy = Flush`) or, if `explicit`, a `flush()` — with a
/// payload scope that records the log's retired parts (replaced memtables
/// and segments still alive) each time it is entered. Returns those counts.
fn retired_at_scope_entries<T: Clone + Send + Sync + 'static>(
    bitwise: bool,
    explicit: bool,
    payload: impl Fn(i64) -> T,
) -> Vec<usize> {
    use std::sync::{Arc, Mutex, OnceLock, Weak};
    let cell: Arc<OnceLock<Weak<Timelog<T>>>> = Arc::default();
    let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (c, s) = (cell.clone(), seen.clone());
    let scope: timelog::hooks::Scope = Arc::new(move |f: &mut dyn FnMut()| {
        if let Some(log) = c.get().and_then(Weak::upgrade) {
            s.lock().unwrap().push(log.retired_queue_len());
        }
        IN_SCOPE.with(|x| x.set(true));
        f();
        IN_SCOPE.with(|x| x.set(false));
    });
    let cfg = Config {
        maintenance: MaintenanceMode::Disabled,
        busy_policy: if explicit { BusyPolicy::Silent } else { BusyPolicy::Flush },
        memtable_max_bytes: 64,
        sealed_max_runs: 4,
        // SAFETY: the test's payloads (`u64`, `Tracked`: an `Arc`) may be
        // copied bitwise as the contract allows: the flush's moved copy is
        // the only one dropped (the memtable's heir owns them).
        bitwise_payloads: bitwise.then(|| unsafe { timelog::BitwisePayloads::promise() }),
        ..Config::default()
    };
    let log = Arc::new(
        Timelog::with_hooks(cfg, timelog::hooks::Hooks { worker_scope: Some(scope), ..Default::default() }).unwrap(),
    );
    cell.set(Arc::downgrade(&log)).unwrap();
    let mut i = 0;
    while log.stats().unwrap().flushes_total == 0 {
        assert!(i < 1_000, "no flush after {i} appends");
        let _ = log.append(i, payload(i)).unwrap();
        i += 1;
        if explicit && log.stats().unwrap().sealed_runs >= 4 {
            log.flush().unwrap();
        }
    }
    assert!(log.stats().unwrap().flushes_total >= 4, "one call flushed the sealed memtables");
    assert_eq!(log.len().unwrap(), i as usize, "nothing lost");
    assert_eq!(log.retired_queue_len(), 0, "every flushed memtable freed by the end of the call");
    // The log's own drop releases the rest: not a drop this test counts.
    IN_SCOPE.with(|x| x.set(true));
    drop(log);
    IN_SCOPE.with(|x| x.set(false));
    let seen = seen.lock().unwrap().clone();
    seen
}

/// A writer's busy help with no worker, and an explicit `flush()`, free each
/// flushed memtable before the next flush when its drop drops no payload
/// (payloads with no drop glue, or moved to the segment): the next flush's
/// segment then reuses its memory (`segment::block`'s pool). Before
/// session 47 every flushed memtable stayed alive, buried, until the drain
/// after the last flush: the scope saw 1, 2, 3 retired memtables at the
/// later flushes (cloned payloads) or 4 at the drain (moved ones). A
/// memtable whose drop does drop payloads still goes in the drain, inside
/// the payload scope (R12): no payload drop ran outside it.
#[test]
fn flushes_free_each_flushed_memtable_before_the_next_when_no_payload_drops() {
    for explicit in [false, true] {
        // Cloned into the segment, no drop glue: a scope entry per flush.
        let seen = retired_at_scope_entries(false, explicit, |i| i as u64);
        assert!(seen.len() >= 4, "explicit={explicit}: a scope per cloning flush: {seen:?}");
        assert!(seen.iter().all(|&r| r == 0), "explicit={explicit}, u64: {seen:?}");
        // Moved into the segment (bitwise): the memtable drops none.
        let outside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = retired_at_scope_entries(true, explicit, |_| Tracked(outside.clone()));
        assert!(seen.iter().all(|&r| r == 0), "explicit={explicit}, moved: {seen:?}");
        // Cloned, with drop glue: the flushed memtables drop their
        // payloads, all of them in the scope, after the last flush.
        let seen = retired_at_scope_entries(false, explicit, |_| Tracked(outside.clone()));
        assert!(seen.iter().any(|&r| r > 0), "explicit={explicit}, cloned Tracked: {seen:?}");
        assert_eq!(outside.load(std::sync::atomic::Ordering::SeqCst), 0, "a payload dropped outside the scope");
    }
}
