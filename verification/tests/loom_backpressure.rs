//! loom: backpressure against the maintainer (R10, "Backpressure").
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::{BusyPolicy, Config, MaintenanceMode, Timelog, WriteStatus};
use timelog_verification::*;

/// A writer that makes a memtable pile up waits (`sealed_wait_ms`) for the
/// background worker — a model thread here — to flush it. The worker's
/// progress notification must not be lost between the writer's check and
/// its wait (loom's condition variables never time out, so a lost wakeup
/// is a reported deadlock). Regression test for that lost wakeup, which
/// needs three preemptions: the scenario is small enough to always run at
/// three at least.
#[test]
fn backpressure_wait_vs_worker() {
    loom_model_min("backpressure/backpressure_wait_vs_worker", 3, || {
        let cfg = Config {
            maintenance: MaintenanceMode::Background,
            busy_policy: BusyPolicy::Raise,
            memtable_max_bytes: RECORD_BYTES,
            sealed_max_runs: 1,
            sealed_wait_ms: 3_600_000,
            ..Config::default()
        };
        let log = Timelog::<Id>::with_config(cfg).unwrap();
        let status = log.append(1, 1).unwrap();
        assert_eq!(status, WriteStatus::Ok, "the worker flushed, the wait must end in Ok");
        let st = log.stats().unwrap();
        assert_eq!(st.sealed_runs, 0, "{st:?}");
        let (_s, seen) = observe(&log, None, 0);
        assert_eq!(seen.view, vec![(1, 1)]);
        log.stop_maintenance().unwrap();
    });
}

/// `busy_policy = Flush`: the busy writer flushes inline, holding the
/// maintainer mutex against a concurrent maintenance step (R10): every
/// sealed memtable is flushed exactly once.
#[test]
fn busy_flush_vs_maintainer() {
    loom_model("backpressure/busy_flush_vs_maintainer", || {
        let cfg = Config { busy_policy: BusyPolicy::Flush, sealed_max_runs: 1, ..model_config(RECORD_BYTES) };
        let log = Arc::new(Timelog::<Id>::with_config(cfg).unwrap());
        let maintainer = {
            let log = log.clone();
            thread::spawn(move || {
                let _ = log.maint_step().unwrap();
            })
        };
        append(&log, 1, 1);
        maintainer.join().unwrap();
        let st = log.stats().unwrap();
        assert_eq!((st.sealed_runs, st.segments_l0), (0, 1), "{st:?}");
        finish(&log, &[vec![app(1, 1)]], Vec::new());
    });
}
