//! R12: payloads are dropped outside engine locks, so a payload whose drop
//! calls back into the log (as a Python `__del__` may) cannot deadlock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use timelog::{Config, MaintenanceMode, Timelog};

type Cell = Arc<OnceLock<Weak<Timelog<Reenter>>>>;

/// A payload whose last instance (clones share `token`) calls maintenance.
#[derive(Clone)]
struct Reenter {
    log: Cell,
    token: Arc<()>,
    hits: Arc<AtomicUsize>,
}

impl Reenter {
    fn new(log: &Cell, hits: &Arc<AtomicUsize>) -> Self {
        Reenter { log: log.clone(), token: Arc::new(()), hits: hits.clone() }
    }
}

impl Drop for Reenter {
    fn drop(&mut self) {
        if Arc::strong_count(&self.token) == 1 {
            if let Some(log) = self.log.get().and_then(|w| w.upgrade()) {
                log.flush().unwrap();
                log.compact().unwrap();
                // Refused while the background worker runs (this drop may
                // run on the worker itself); a step otherwise.
                match log.maint_step() {
                    Ok(_) | Err(timelog::Error::WorkerRunning) => {}
                    Err(e) => panic!("maint_step from a payload drop: {e}"),
                }
                let _ = log.len().unwrap();
                self.hits.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

fn run_with_timeout(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("deadlock: a payload's drop re-entered the log");
}

#[test]
fn drop_reenters_maintenance_during_compaction() {
    run_with_timeout(|| {
        let log = Arc::new(
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap(),
        );
        let cell = Arc::new(OnceLock::new());
        cell.set(Arc::downgrade(&log)).ok().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let _ = log.append(1, Reenter::new(&cell, &hits)).unwrap();
        let _ = log.append(2, Reenter::new(&cell, &hits)).unwrap();
        log.flush().unwrap();
        let _ = log.delete_point(2).unwrap();
        log.compact().unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the deleted payload was dropped and re-entered");
        assert_eq!(log.len().unwrap(), 1);
    });
}

#[test]
fn drop_reenters_on_the_background_worker() {
    run_with_timeout(|| {
        let log = Arc::new(
            Timelog::with_config(Config {
                maintenance: MaintenanceMode::Background,
                maintenance_wakeup_ms: 1,
                delete_debt_threshold: 0.01,
                ..Config::default()
            })
            .unwrap(),
        );
        let cell = Arc::new(OnceLock::new());
        cell.set(Arc::downgrade(&log)).ok().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let _ = log.append(1, Reenter::new(&cell, &hits)).unwrap();
        let _ = log.append(2, Reenter::new(&cell, &hits)).unwrap();
        log.flush().unwrap();
        let _ = log.delete_point(1).unwrap();
        log.flush().unwrap();
        // The worker compacts the delete debt and drops the payload there.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while hits.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the worker dropped the payload and its drop re-entered");
        assert_eq!(log.len().unwrap(), 1);
        log.stop_maintenance().unwrap();
    });
}
