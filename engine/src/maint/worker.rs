//! The background maintenance thread: waits for a kick or its wake-up
//! period, then runs maintenance steps while they find work. Spawned by the
//! facade (`Timelog::start_maintenance`), which owns its join handle.

use std::time::Duration;

use super::Maint;

impl<T: Clone + Send + Sync + 'static> Maint<'_, T> {
    /// The worker thread's body: lowers its priority, runs until told to
    /// stop, then drops what writers buried for it (`release_guard`, R12).
    pub(crate) fn run_worker(self) {
        lower_thread_priority(self.cfg.maintenance_nice);
        self.worker_run();
        self.cat.drain_graveyard(self.hooks);
    }

    fn worker_run(self) {
        let st = self.st;
        let period = Duration::from_millis(self.cfg.wakeup_ms);
        loop {
            {
                let mut w = st.worker.lock().unwrap();
                if w.stop {
                    w.running = false;
                    st.progress_cv.notify_all();
                    return;
                }
                if !w.kick {
                    w = st.worker_cv.wait_timeout(w, period).unwrap().0;
                }
                w.kick = false;
                if w.stop {
                    w.running = false;
                    st.progress_cv.notify_all();
                    return;
                }
            }
            // The worker never blocks on the maintainer lock: while another
            // maintainer (a writer helping under `busy_policy = Flush`, a
            // `flush()` call) holds it, it waits on its own condition
            // variable, so a stop request (at exit, `stop_maintenance`) is
            // seen at once even if writers keep the lock busy.
            loop {
                if st.worker.lock().unwrap().stop {
                    break;
                }
                match self.try_lock() {
                    Some(g) => {
                        if !self.step_with(g) {
                            break;
                        }
                    }
                    None => {
                        let w = st.worker.lock().unwrap();
                        if w.stop {
                            break;
                        }
                        drop(st.worker_cv.wait_timeout(w, Duration::from_millis(1)).unwrap());
                    }
                }
            }
        }
    }
}

/// Sets the calling thread's niceness (Linux: per thread). Best effort: a
/// refusal (e.g. a sandbox) leaves the thread at its current priority.
#[cfg(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle))))]
fn lower_thread_priority(nice: u8) {
    // SAFETY: gettid has no preconditions; setpriority(PRIO_PROCESS, tid)
    // changes only this thread's niceness and reports errors by return value.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, libc::c_int::from(nice));
    }
}

#[cfg(not(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle)))))]
fn lower_thread_priority(_nice: u8) {}
