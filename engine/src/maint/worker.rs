//! The background maintenance thread: waits for a kick or its wake-up
//! period, then runs maintenance steps while they find work, and once the
//! log has been quiet for a while, idle steps (below). Spawned by the
//! facade (`Timelog::start_maintenance`), which owns its join handle.
//!
//! **Idle maintenance.** The regular triggers (`max_delta_segments`,
//! `delete_debt_threshold`) bound what a *writing* log accumulates; what is
//! left under them when the writes stop — a few L0 segments beside L1, a
//! tombstone or two whose debt stayed under the threshold — every later
//! read pays for (one more source, one more coverage lookup per source)
//! for as long as the log lives, and the deleted records keep their
//! payloads. An LSM tree's write-side triggers exist to keep compaction off
//! the writers' backs; once no one writes, the spare CPU is better spent
//! taking the log to the shape a fresh log of the same records has.
//!
//! So when no write has committed (the visible watermark has not moved)
//! for [`IDLE_WAKEUPS`] wake-up periods (100 ms by default) and a regular
//! step finds nothing, the worker runs idle steps
//! ([`Maint::idle_step_with`](super::Maint::idle_step_with)) until they
//! find nothing either — once per quiet period: a write ends it, and the
//! next quiet period starts over. Write amplification stays bounded: an
//! idle step merges what L0 holds (records every compaction copies once
//! anyway) and rewrites the segments with delete debt (which the debt
//! trigger would rewrite later). A pathological rhythm — one delete into a
//! large segment, a pause, again — would rewrite that segment once per
//! pause; the quiet period is therefore stretched to nine times the last
//! idle work's duration, which keeps idle maintenance under a tenth of the
//! wall time whatever the rhythm.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::{Maint, DEBT_KICKED, PHASE_WAIT};
use crate::SeqNo;

/// Wake-up periods without a committed write after which the worker runs
/// idle maintenance (see the module docs).
pub(crate) const IDLE_WAKEUPS: u32 = 10;

/// The worker's view of quiet: the watermark it last saw, since when, and
/// whether this quiet period's idle work is done.
struct Quiet {
    seen: SeqNo,
    since: Instant,
    done: bool,
    /// How long the log must stay quiet before idle work (grows with the
    /// idle work's own cost: at most a tenth of the wall time).
    wait: Duration,
}

impl<T: Clone + Send + Sync + 'static> Maint<'_, T> {
    /// The worker thread's body: lowers its priority, runs until told to
    /// stop, then drops what writers buried for it (`release_guard`, R12).
    pub(crate) fn run_worker(self) {
        lower_thread_priority(self.cfg.maintenance_nice);
        let hooks = self.worker_hooks();
        let me = Maint { hooks: &hooks, ..self };
        me.worker_run();
        me.cat.drain_graveyard(me.hooks, false);
    }

    /// The worker's hooks: the log's, with a payload scope that raises
    /// [`PHASE_WAIT`] while it waits to enter the log's
    /// scope (the outermost entry only: a nested one enters at once). A
    /// deleting writer that sees it steps aside (`Maint::note_delete`).
    fn worker_hooks(self) -> crate::hooks::Hooks {
        let mut hooks = self.hooks.clone();
        let Some(inner) = hooks.worker_scope.clone() else {
            // No scope: entering waits for nothing.
            return hooks;
        };
        let flags = self.st.debt_flags.clone();
        // Only the worker thread uses these hooks: the depth is its own.
        let depth = std::sync::Arc::new(crate::sync::AtomicUsize::new(0));
        hooks.worker_scope = Some(std::sync::Arc::new(move |f: &mut dyn FnMut()| {
            let outer = depth.load(Relaxed) == 0;
            if outer {
                flags.fetch_or(PHASE_WAIT, Relaxed);
            }
            inner(&mut || {
                if outer {
                    flags.fetch_and(!PHASE_WAIT, Relaxed);
                }
                depth.fetch_add(1, Relaxed);
                f();
                depth.fetch_sub(1, Relaxed);
            });
            // The scope skipped its closure (the embedder shuts down).
            if outer {
                flags.fetch_and(!PHASE_WAIT, Relaxed);
            }
        }));
        hooks
    }

    fn worker_run(self) {
        let st = self.st;
        let period = Duration::from_millis(self.cfg.wakeup_ms);
        let idle_min = period * IDLE_WAKEUPS;
        let debt_rearm = Duration::from_millis(super::DEBT_REARM_MS);
        let mut quiet = Quiet { seen: self.seq.visible(), since: Instant::now(), done: false, wait: idle_min };
        loop {
            {
                let mut w = st.worker.lock().unwrap();
                if w.stop {
                    st.worker_stopped(&mut w);
                    return;
                }
                if !w.kick {
                    // A delete wake-up not re-armed yet (the last step came
                    // within `DEBT_REARM_MS` of the previous re-arming):
                    // deletes since then kick no one, so come back for them
                    // once it can be re-armed, not a whole period later.
                    let wait =
                        if st.debt_flags.load(Relaxed) & DEBT_KICKED != 0 { period.min(debt_rearm) } else { period };
                    w = st.worker_cv.wait_timeout(w, wait).unwrap().0;
                }
                w.kick = false;
                if w.stop {
                    st.worker_stopped(&mut w);
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
                match self.worker_try_lock() {
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
            self.idle(&mut quiet, idle_min);
        }
    }

    /// After the regular steps found nothing: idle steps once the log has
    /// been quiet long enough (module docs).
    fn idle(self, quiet: &mut Quiet, idle_min: Duration) {
        // Not under the model checkers: the quiet period is wall time, and
        // a branch on wall time makes an execution's path depend on how
        // fast it ran (loom aborts on a model that is not deterministic:
        // seen once, on a loaded machine). The idle steps publish through
        // the regular steps' functions, which the scenarios check.
        if crate::sync::MODEL {
            return;
        }
        let now = self.seq.visible();
        if now != quiet.seen {
            *quiet = Quiet { seen: now, since: Instant::now(), done: false, wait: quiet.wait };
            return;
        }
        if quiet.done || quiet.since.elapsed() < quiet.wait {
            return;
        }
        let t0 = Instant::now();
        loop {
            if self.st.worker.lock().unwrap().stop || self.seq.visible() != quiet.seen {
                // Stopping, or a write ended the quiet period: the next one
                // starts over.
                return;
            }
            // Never wait for the lock (a `flush()` or `compact()` call holds
            // it): the next wake-up tries again.
            let Some(g) = self.worker_try_lock() else { return };
            if !self.idle_step_with(g) {
                break;
            }
        }
        quiet.done = true;
        quiet.wait = idle_min.max(t0.elapsed() * 9);
        // The log has settled: the buffers kept for its next memtable go
        // back to the operating system (`segment::block`'s pool).
        crate::segment::block::release_pool();
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
