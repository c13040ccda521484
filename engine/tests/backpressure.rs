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

/// A payload that records, as it is cloned (a flush copying it into a
/// segment), how many payloads had been dropped by then.
struct Tracked(std::sync::Arc<Drops>);

#[derive(Default)]
struct Drops {
    dropped: std::sync::atomic::AtomicUsize,
    seen_at_clone: std::sync::Mutex<Vec<usize>>,
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        let d = self.0.dropped.load(std::sync::atomic::Ordering::SeqCst);
        self.0.seen_at_clone.lock().unwrap().push(d);
        Tracked(self.0.clone())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A writer's busy help with no worker flushes the sealed memtables one at
/// a time, each released before the next is flushed (so the next flush's
/// segment reuses its memory): the payloads a flush clones into its
/// segment are copied after the originals of the memtable flushed before
/// were dropped. (Before session 47 every flushed memtable was released
/// only after the last flush: no payload was dropped before the last
/// clone.) The same holds for an explicit `flush()` of several sealed
/// memtables.
#[test]
fn flush_policy_releases_each_flushed_memtable_before_the_next_flush() {
    for explicit in [false, true] {
        let drops = std::sync::Arc::new(Drops::default());
        let log = Timelog::<Tracked>::with_config(Config {
            maintenance: MaintenanceMode::Disabled,
            busy_policy: if explicit { BusyPolicy::Silent } else { BusyPolicy::Flush },
            memtable_max_bytes: 64,
            sealed_max_runs: 4,
            ..Config::default()
        })
        .unwrap();
        let mut i = 0;
        while log.stats().unwrap().flushes_total == 0 && i < 1_000 {
            let _ = log.append(i, Tracked(drops.clone())).unwrap();
            i += 1;
            if explicit && log.stats().unwrap().sealed_runs >= 4 {
                log.flush().unwrap();
            }
        }
        let st = log.stats().unwrap();
        assert!(st.flushes_total >= 4, "explicit={explicit}: one call flushed the sealed memtables ({st:?})");
        let seen = drops.seen_at_clone.lock().unwrap().clone();
        assert!(
            seen.iter().any(|&d| d > 0),
            "explicit={explicit}: every clone ran before any flushed memtable was released: {seen:?}"
        );
        assert_eq!(log.len().unwrap(), i as usize, "explicit={explicit}: nothing lost");
    }
}
