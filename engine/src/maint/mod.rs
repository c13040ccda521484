//! The maintainer: seal, flush and compaction — their policy, their
//! scheduling and their worker thread — and backpressure.
//!
//! **Owns** ([`Maintainer`]) the maintainer mutex (R10), the background
//! worker's state (stop / kick / running) and its condition variables (the
//! worker's wake-up, the writers' progress wait), and the delete-debt
//! wake-up. It *decides*: when a memtable is sealed (full, or over its
//! out-of-order budget: `after_write`), when sealed memtables are flushed and
//! L0 compacted (`step`), when delete debt forces a seal, flush and
//! compaction, what a write reports when sealed memtables pile up
//! (`backpressure`), and when the manifests the catalog's graveyard holds are
//! dropped (after the mutex is released, R12).
//!
//! **Upholds** R2 (sealing: `seal`), R8 (flush waits for its seal bound to be
//! committed, and builds segments with no per-record sequence: `flush.rs`;
//! compaction merges a prefix of L0: `compact.rs`), R10 (one maintainer at
//! a time, checked publication; compaction inputs: segments hidden whole
//! dropped unread, segments with delete debt rewritten alone), R11 (flush and compaction coalesce the
//! tombstone list they publish), R12 (payload drops outside its locks:
//! [`MaintGuard`]) and the backpressure contract of `docs/protocol.md`.
//!
//! **Callers:** the facade (`timelog.rs`) only, through [`Maint`] — the
//! maintainer at work: its own state plus borrowed access to the catalog,
//! the sequencer, the configuration, the counters and the hooks. Writers
//! call `after_write`, `release_guard` and `note_delete`; `flush()`,
//! `compact()`, `maint_step()`, `close()` and the worker thread the rest.
//! Nothing here is reachable from a read.
//!
//! Files: this one (state, lock, seal, backpressure, the step policy),
//! `worker.rs` (the background thread), `flush.rs` (sealed memtable → L0),
//! `compact.rs` (L0 + L1 → L1, window selection, delete debt).

pub(crate) mod compact;
use compact::Pick;
pub(crate) mod flush;
mod worker;

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use crate::catalog::Catalog;
use crate::config::{BusyPolicy, MaintenanceMode, Resolved};
use crate::hooks::Hooks;
use crate::manifest::ManifestGuard;
use crate::memtable::door::Written;
use crate::memtable::Memtable;
use crate::sequencer::Sequencer;
use crate::stats::Counters;
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard};

/// How often (milliseconds) the delete wake-up is re-armed at most: a
/// stream of deletes wakes the worker at most this often (a mutex and a
/// futex wake on the deleting thread, about a thousand a second at most),
/// and the worker sees the debt a delete made within about this long. It
/// was the wake-up period (10 ms): a 100,000-record sliding window deleting
/// every 10,000 appends crossed `delete_debt_threshold` and then waited
/// two to four more deletes (debt 0.23-0.33 instead of 0.17) for the
/// worker's next period; the deleted records and their payloads stayed
/// alive meanwhile, and under CPython the interpreter's allocator keeps
/// the high-water mark of those payloads resident (docs/performance.md,
/// "Retention", Session 6).
const DEBT_REARM_MS: u64 = 1;

/// [`Maintainer::debt_flags`]: the delete-debt wake-up is armed when clear.
pub(crate) const DEBT_KICKED: usize = 1;
/// [`Maintainer::debt_flags`]: the worker waits to enter a payload phase.
pub(crate) const PHASE_WAIT: usize = 2;

/// The longest (milliseconds) a delete steps aside for the worker waiting
/// to enter a payload phase (`Maint::note_delete`; also at most the wake-up
/// period): about CPython's switch interval (5 ms), after which the
/// interpreter hands its lock over anyway; it bounds the wait should the
/// worker never enter (an interpreter that finalizes parks it).
const YIELD_MAX_MS: u64 = 10;

/// The longest (milliseconds) a writer's help under `busy_policy = Flush`
/// waits for the maintainer lock (`Maint::help_lock`; also at most the
/// wake-up period): a scheduler slice or two, so a preempted holder runs
/// again within it.
const HELP_WAIT_MAX_MS: u64 = 10;

/// How long (microseconds) the maintainer lock must have been held before
/// a writer's help waits for it (`Maint::help_lock`): longer than a step
/// of a worker at work usually takes between two seals (a 64 KiB
/// memtable's flush, a small window's compaction: about 0.5 ms measured
/// with `examples/flushhelp`), shorter than a preempted thread's wait for
/// a core on a loaded machine (a scheduler slice: milliseconds).
const HELP_STUCK_US: u64 = 2_000;

/// Polls `ready` until it answers or `deadline` passes; its answer, if any.
/// Usually a short wait for a runnable thread: yield rather than park (the
/// other thread needs no notification); past a few rounds (it waits for
/// something else: another thread holds the interpreter, or the machine's
/// cores are busy), sleep between looks instead of spinning on a core.
fn wait_until<R>(deadline: Instant, mut ready: impl FnMut() -> Option<R>) -> Option<R> {
    let mut rounds = 0u32;
    loop {
        if let Some(r) = ready() {
            return Some(r);
        }
        if Instant::now() >= deadline {
            return None;
        }
        if rounds < 64 {
            crate::sync::thread::yield_now();
            rounds += 1;
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// What a committed write reports.
#[must_use = "a Busy write was committed; do not retry it, but slow down"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStatus {
    /// Committed, no pressure.
    Ok,
    /// Committed, but sealed data is piling up faster than maintenance
    /// flushes it (`busy_policy = Raise`). The write is NOT lost: do not
    /// retry it.
    Busy,
}

#[derive(Debug, Default)]
struct WorkerState {
    stop: bool,
    kick: bool,
    running: bool,
}

/// The maintainer's own state, owned by the log (see the module docs).
pub(crate) struct Maintainer {
    /// Serializes maintainers (flush, compaction, `close`) among themselves
    /// only (R10); readers and writers never take it.
    lock: Mutex<()>,
    worker: Mutex<WorkerState>,
    /// `WorkerState::running`, mirrored: written under the `worker` mutex
    /// together with it, read without the mutex by
    /// [`Maint::worker_running`] — a hint that decides where a replaced
    /// manifest is dropped (R12) and whether a writer waits for the worker
    /// (the wait itself re-checks `running` under the mutex). Reading it
    /// takes no lock, so a maintainer's guard drop and a seal no longer
    /// take the worker mutex on their way (which had also ordered a lost
    /// progress wake-up away by accident, hiding the seeded fault
    /// `progress_lost_wakeup` from loom).
    running: AtomicBool,
    worker_cv: Condvar,
    progress_cv: Condvar,
    /// What every delete looks at, one word read with one Relaxed load
    /// (shared with the worker's hooks, hence the `Arc`):
    ///
    /// - [`DEBT_KICKED`], the delete-debt wake-up: set by the first delete
    ///   after the worker last re-armed it, which kicks the worker (so a
    ///   delete over flushed data is acted on with no further writes); the
    ///   worker re-arms it at most once per [`DEBT_REARM_MS`], so a stream
    ///   of deletes pays one Relaxed load each, not a mutex and a futex
    ///   wake;
    /// - [`PHASE_WAIT`]: set while the background worker waits to enter a
    ///   payload phase (`worker.rs`, `Maint::worker_hooks`), cleared on
    ///   entry. A deleting writer that sees it steps aside in the blocking
    ///   scope until then ([`Maint::note_delete`]): under an interpreter
    ///   lock the worker waits for what the writer holds, and would
    ///   otherwise wait for the interpreter's switch interval (CPython:
    ///   5 ms) while the deleted records and their payloads stay alive.
    ///
    /// A stream of deletes finds `DEBT_KICKED` alone, its common state.
    pub(crate) debt_flags: std::sync::Arc<AtomicUsize>,
    /// Milliseconds after `born` at which [`DEBT_KICKED`] was last cleared.
    debt_armed_ms: AtomicU64,
    /// Microseconds after `born` at which the maintainer lock was last
    /// taken (`Maint::guard`): how long the holder has held it, for a
    /// writer's help (`Maint::help_lock`). Written under the lock, right
    /// after taking it; a hint (a holder that has just taken the lock may
    /// not have written it yet: the writer then waits, at most its bound,
    /// for a lock it could have skipped).
    locked_at_us: AtomicU64,
    /// Writers waiting for the maintainer lock to help (`Maint::help_lock`);
    /// while there are any, the worker leaves the lock to them
    /// (`Maint::worker_try_lock`). A hint: the lock decides.
    help_waiters: AtomicUsize,
    born: Instant,
    /// Records compactions copied (tests: a segment hidden whole is dropped
    /// unread, a partial delete rewrites only its segment, a prefix cut
    /// copies only the survivors of the page it straddles).
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) compact_records_read: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Maintainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintainer").field("worker", &*self.worker.lock().unwrap()).finish()
    }
}

impl Maintainer {
    pub(crate) fn new() -> Self {
        Self {
            lock: Mutex::new(()),
            worker: Mutex::new(WorkerState::default()),
            running: AtomicBool::new(false),
            worker_cv: Condvar::new(),
            progress_cv: Condvar::new(),
            debt_flags: std::sync::Arc::new(AtomicUsize::new(0)),
            debt_armed_ms: AtomicU64::new(0),
            locked_at_us: AtomicU64::new(0),
            help_waiters: AtomicUsize::new(0),
            born: Instant::now(),
            #[cfg(any(test, feature = "test-hooks"))]
            compact_records_read: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Microseconds since this maintainer was made.
    fn now_us(&self) -> u64 {
        self.born.elapsed().as_micros() as u64
    }

    /// Marks the worker as running, before its thread is spawned.
    pub(crate) fn worker_starting(&self) {
        let mut st = self.worker.lock().unwrap();
        st.stop = false;
        st.running = true;
        self.running.store(true, Release);
    }

    /// Marks the worker as stopped: its thread's last act, under the
    /// worker mutex `st` (waiting writers re-check `running` and leave).
    fn worker_stopped(&self, st: &mut WorkerState) {
        st.running = false;
        self.running.store(false, Release);
        self.progress_cv.notify_all();
    }

    /// Tells the worker to stop (it exits when its current step ends).
    pub(crate) fn request_stop(&self) {
        self.worker.lock().unwrap().stop = true;
        self.worker_cv.notify_all();
    }
}

/// The maintainer at work: its state and borrowed access to what it
/// maintains. Built by the facade per call (`Inner::maint`); all borrowed,
/// so it is `Copy` and free to make.
pub(crate) struct Maint<'a, T> {
    pub(crate) st: &'a Maintainer,
    pub(crate) cfg: &'a Resolved,
    pub(crate) seq: &'a Sequencer,
    pub(crate) cat: &'a Catalog<T>,
    pub(crate) counters: &'a Counters,
    pub(crate) hooks: &'a Hooks,
}

impl<T> Clone for Maint<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Maint<'_, T> {}

impl<T> std::fmt::Debug for Maint<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.st.fmt(f)
    }
}

/// The maintainer lock (R10), held by a flush, a compaction or `close()`.
///
/// Dropping it releases the lock and *then* drops the manifests the
/// holder's publications replaced ([`Catalog::publish_maint`]): the payloads
/// only they referenced are released with no engine lock held, so the
/// embedder code a payload release runs (a Python `__del__`) may call any
/// method of the log, this one's maintenance included (R12).
pub(crate) struct MaintGuard<'a, T: Clone + Send + Sync + 'static> {
    maint: Maint<'a, T>,
    g: Option<MutexGuard<'a, ()>>,
    /// Leave the buried manifests to the background worker (a writer
    /// helping under `busy_policy = Flush` must not run finalizers).
    leave_to_worker: bool,
}

impl<T: Clone + Send + Sync + 'static> Drop for MaintGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.g.take());
        if self.leave_to_worker {
            self.maint.kick_worker();
        } else {
            // While the worker runs, what a reader or writer still shares
            // stays buried for its next drain (`Catalog::drain_graveyard`).
            self.maint.cat.drain_graveyard(self.maint.hooks, self.maint.worker_running());
        }
    }
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for MaintGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaintGuard").field("leave_to_worker", &self.leave_to_worker).finish()
    }
}

impl<'a, T: Clone + Send + Sync + 'static> Maint<'a, T> {
    fn guard(self, g: MutexGuard<'a, ()>) -> MaintGuard<'a, T> {
        // Not under the model checkers (see `help_lock`).
        if !crate::sync::MODEL {
            self.st.locked_at_us.store(self.st.now_us(), Relaxed);
        }
        MaintGuard { maint: self, g: Some(g), leave_to_worker: false }
    }

    /// Takes the maintainer lock (R10). When another maintainer holds it,
    /// waits in the blocking scope: that maintainer may need what this
    /// thread holds (an interpreter lock) to finish its payload phase.
    ///
    /// The guard releases the lock first and then drops the manifests its
    /// holder's publications replaced (see [`MaintGuard`]).
    pub(crate) fn lock(self) -> MaintGuard<'a, T> {
        if let Ok(g) = self.st.lock.try_lock() {
            return self.guard(g);
        }
        let mut guard = None;
        self.hooks.blocking(&mut || guard = Some(self.st.lock.lock().unwrap_or_else(|e| e.into_inner())));
        self.guard(guard.expect("the blocking scope runs its closure"))
    }

    /// Takes the maintainer lock only if it is free.
    pub(crate) fn try_lock(self) -> Option<MaintGuard<'a, T>> {
        self.st.lock.try_lock().ok().map(|g| self.guard(g))
    }

    /// The maintainer lock for a writer's help under `busy_policy = Flush`
    /// (`after_write`'s and `backpressure`'s), or `None` to skip the help
    /// this time.
    ///
    /// A busy lock is usually the worker at work, and the writer goes on:
    /// waiting for a working worker's step only takes the writer's time
    /// (`examples/flushhelp`, 64 KiB memtables: 1.5x the time per append
    /// when every second busy help waited). But a holder that is not at
    /// work — preempted on a loaded machine, or waiting in its step for
    /// what a writer holds (an interpreter lock) — made every writer skip
    /// its help, seal after seal, and the storage of a sliding window
    /// overshot its bound by several windows before the help caught up
    /// (session 27: 69,000 records stored against a bound of 60,000 in CI;
    /// `compaction_reclaim.rs`, a worker holding the lock 2 ms at a time:
    /// up to 161,000, with 31 sealed memtables). So the writer waits when
    /// the holder has held the lock for [`HELP_STUCK_US`] or more, or is
    /// the worker waiting to enter its payload phase ([`PHASE_WAIT`]): in
    /// the blocking scope (the holder may need what this thread holds), for
    /// at most [`HELP_WAIT_MAX_MS`] and one wake-up period, announced in
    /// [`Maintainer::help_waiters`] so that the worker does not take the
    /// lock again the moment it lets go of it
    /// ([`worker_try_lock`](Self::worker_try_lock)).
    ///
    /// Under the model checkers, never a wait: the rule reads wall time,
    /// which would make a model's path depend on how fast it ran.
    fn help_lock(self) -> Option<MaintGuard<'a, T>> {
        if let Some(g) = self.try_lock() {
            return Some(g);
        }
        if crate::sync::MODEL {
            return None;
        }
        let held = self.st.now_us().saturating_sub(self.st.locked_at_us.load(Relaxed));
        if held < HELP_STUCK_US && self.st.debt_flags.load(Relaxed) & PHASE_WAIT == 0 {
            return None;
        }
        let deadline = Instant::now() + Duration::from_millis(self.cfg.wakeup_ms.min(HELP_WAIT_MAX_MS));
        let mut got = None;
        self.st.help_waiters.fetch_add(1, Relaxed);
        self.hooks.blocking(&mut || {
            got = wait_until(deadline, || self.st.lock.try_lock().ok());
        });
        self.st.help_waiters.fetch_sub(1, Relaxed);
        got.map(|g| self.guard(g))
    }

    /// The maintainer lock for the background worker: only if it is free
    /// and no writer waits for it to help ([`help_lock`](Self::help_lock));
    /// the worker comes back for it at its next look.
    fn worker_try_lock(self) -> Option<MaintGuard<'a, T>> {
        if self.st.help_waiters.load(Relaxed) > 0 {
            return None;
        }
        self.try_lock()
    }

    // ----- seal (R2) -----------------------------------------------------

    /// Seals `mt` if it is still the active memtable (R2). Returns whether
    /// this call sealed it.
    pub(crate) fn seal(self, mt: &Arc<Memtable<T>>) -> bool {
        self.cat.door().seal_begin_if(mt).is_some_and(|c| self.seal_claimed(c))
    }

    /// Seals the memtable of the door's generation `gen` (the one a writer
    /// wrote to) if it is still the active memtable (R2).
    fn seal_gen(self, gen: u64) -> bool {
        self.cat.door().seal_begin(gen).is_some_and(|c| self.seal_claimed(c))
    }

    /// R2 after the door's claim: record the bound, wait for the watermark
    /// to reach it (every ticket of the memtable committed), publish the
    /// active memtable as sealed with a fresh one active, then put the
    /// fresh one behind the door (which reopens it). Returns true.
    fn seal_claimed(self, claim: crate::memtable::door::Claim) -> bool {
        // The door's claimant is the only thread that replaces the active
        // memtable, so the door's memtable is the current manifest's until
        // this call publishes.
        let x = {
            let m = self.cat.load();
            let x = m.active.clone();
            self.release_guard(m);
            x
        };
        let bound = claim.seal(&x, self.seq, self.hooks);
        let fresh = self.cat.new_memtable(bound);
        self.hooks.pause(crate::hooks::Point::SealPublish);
        self.publish_seal(&x, &fresh, drop);
        true
    }

    /// R2's publication, for the holder of the door's claim: a manifest in
    /// which `x` (drained, its bound recorded) is sealed and `fresh` is
    /// active, then `fresh` behind the door (which reopens it). `release`
    /// lets go of each manifest loaded for a try (the caller's rule for what
    /// may be a last reference). The seal's and a bulk run's fallback
    /// (`Inner::publish_run`) share it.
    pub(crate) fn publish_seal(
        self,
        x: &Arc<Memtable<T>>,
        fresh: &Arc<Memtable<T>>,
        release: impl Fn(Arc<crate::manifest::Manifest<T>>),
    ) {
        let worker = self.worker_running();
        loop {
            let cur = self.cat.load_full();
            debug_assert!(Arc::ptr_eq(&cur.active, x), "only the door's claimant replaces the active memtable");
            let mut next = cur.successor();
            next.sealed.push(x.clone());
            next.active = fresh.clone();
            let ok = self.cat.publish(&cur, next, worker);
            release(cur);
            if ok {
                break;
            }
        }
        self.cat.door().install(fresh);
        self.counters.seals_total.fetch_add(1, Relaxed);
        self.kick_worker();
    }

    /// Seals the active memtable if it holds anything.
    pub(crate) fn seal_active(self) -> bool {
        let m = self.cat.load_full();
        if m.active.is_empty() {
            return false;
        }
        self.seal(&m.active)
    }

    // ----- after a write: seal policy and backpressure -------------------

    /// After a write that left `w` behind (read inside the memtable): seal
    /// a full memtable, then apply backpressure.
    #[inline]
    pub(crate) fn after_write(self, w: Written) -> WriteStatus {
        let mut sealed = false;
        if w.bytes >= self.cfg.memtable_max_bytes {
            sealed = self.seal_gen(w.gen);
        } else if w.ooo >= self.cfg.ooo_budget_bytes && self.seal_gen(w.gen) {
            sealed = true;
            self.counters.ooo_budget_hits.fetch_add(1, Relaxed);
        }
        // Unless this call just sealed, the catalog's count of sealed
        // memtables says whether backpressure may apply (no manifest load
        // on the write path; `backpressure` checks the manifest).
        let runs = if sealed {
            let cur = self.cat.load();
            // Maintenance behind (the memtable sealed before this one is
            // still unflushed, L0 is at its compaction trigger, or the
            // delete debt is past its threshold): with `busy_policy =
            // Flush` the writer does it here, once per memtable, so a
            // starved worker (niced, busy cores) cannot let sealed data, L0
            // and deleted records pile up without bound
            // (docs/performance.md, "Memory").
            let help = self.cfg.cfg.busy_policy == BusyPolicy::Flush && self.worker_running();
            let debt = self.cfg.cfg.delete_debt_threshold;
            let behind = help
                && (cur.sealed.len() >= 2
                    || cur.l0.len() >= self.cfg.max_delta_segments
                    || (debt > 0.0 && self.delete_debt(&cur) >= debt));
            self.release_guard(cur);
            if behind {
                // Two steps at most: the flushes, then a compaction if one
                // is due (L0 trigger or delete debt). What they replace is
                // left to the worker to drop (R12): a writer runs no
                // payload finalizers, so `sealed_wait_ms` stays its bound.
                for k in 0..2 {
                    let g = if k == 0 { self.help_lock() } else { self.try_lock() };
                    let Some(mut g) = g else { break };
                    g.leave_to_worker = true;
                    if !self.step_with(g) {
                        break;
                    }
                }
            }
            let cur = self.cat.load();
            let n = cur.sealed.len();
            self.release_guard(cur);
            n
        } else {
            self.cat.sealed_runs()
        };
        if runs < self.cfg.sealed_max_runs {
            return WriteStatus::Ok;
        }
        self.backpressure()
    }

    #[cold]
    fn backpressure(self) -> WriteStatus {
        // Each check's guard may outlive a publication of the worker: it is
        // buried for the worker then (which this writer is waiting for),
        // never dropped here (see `release_guard`).
        let over = || {
            let m = self.cat.load();
            let over = m.sealed.len() >= self.cfg.sealed_max_runs;
            self.cat.bury_if_last(m);
            over
        };
        // The catalog's count may be a publication ahead of the manifest
        // for a moment (`Catalog::sealed_runs`): act on the manifest.
        if !over() {
            return WriteStatus::Ok;
        }
        if self.cfg.sealed_wait_ms > 0 && self.worker_running() {
            self.counters.backpressure_waits.fetch_add(1, Relaxed);
            let deadline = Instant::now() + Duration::from_millis(self.cfg.sealed_wait_ms);
            self.kick_worker();
            // The worker may need what this thread holds (an interpreter
            // lock): wait in the blocking scope.
            self.hooks.blocking(&mut || {
                let mut st = self.st.worker.lock().unwrap();
                // A worker that stopped after the check above makes no more
                // progress: leave at once, not at the deadline.
                while st.running && over() {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    st = self.st.progress_cv.wait_timeout(st, deadline - now).unwrap().0;
                }
            });
            if !over() {
                return WriteStatus::Ok;
            }
        }
        self.counters.busy_events.fetch_add(1, Relaxed);
        match self.cfg.cfg.busy_policy {
            BusyPolicy::Raise => WriteStatus::Busy,
            BusyPolicy::Silent => WriteStatus::Ok,
            BusyPolicy::Flush => {
                if self.worker_running() {
                    // The worker holds the maintainer lock only while it
                    // makes progress: help if the lock is free, or once it
                    // is when its holder looks stuck (a short wait,
                    // `help_lock`).
                    if let Some(mut g) = self.help_lock() {
                        g.leave_to_worker = true;
                        while self.flush_one() {}
                        drop(g);
                        self.notify_progress();
                    }
                } else {
                    self.flush_sealed();
                }
                WriteStatus::Ok
            }
        }
    }

    /// Drops a writer's manifest guard. If a maintainer replaced that
    /// manifest meanwhile, the guard may be its last owner, and dropping it
    /// would release the payloads only it referenced on the writer's thread
    /// — running their finalizers there, for as long as they take, which no
    /// `sealed_wait_ms` bounds. While the background worker runs, such a
    /// manifest goes to the graveyard instead and the worker releases it
    /// (R12).
    #[inline]
    pub(crate) fn release_guard(self, m: ManifestGuard<T>) {
        if self.cat.is_current(&m) {
            return;
        }
        self.release_replaced(m);
    }

    #[cold]
    fn release_replaced(self, m: ManifestGuard<T>) {
        if !self.worker_running() {
            return;
        }
        if self.cat.bury_if_last(m) {
            self.kick_worker();
        }
    }

    // ----- delete debt ---------------------------------------------------

    /// After a delete: wake the worker for the delete debt (at most once per
    /// [`DEBT_REARM_MS`]); returns whether the worker waits to enter a
    /// payload phase, for which the caller steps aside once it released its
    /// manifest guard ([`yield_to_worker`](Self::yield_to_worker)). One
    /// Relaxed load in the common case.
    #[inline]
    #[must_use]
    pub(crate) fn note_delete(self) -> bool {
        self.cfg.cfg.delete_debt_threshold > 0.0
            && self.st.debt_flags.load(Relaxed) != DEBT_KICKED
            && self.note_delete_slow()
    }

    #[cold]
    fn note_delete_slow(self) -> bool {
        if self.st.debt_flags.fetch_or(DEBT_KICKED, Relaxed) & DEBT_KICKED == 0 {
            self.kick_worker();
        }
        self.st.debt_flags.load(Relaxed) & PHASE_WAIT != 0
    }

    /// The worker waits to enter a payload phase: wait in the blocking
    /// scope until it has entered (at most [`YIELD_MAX_MS`] and one wake-up
    /// period). Under an interpreter lock the worker waits for what this
    /// thread holds: the binding releases it here, so the worker enters at
    /// once instead of
    /// after the interpreter's switch interval (CPython: 5 ms, in which a
    /// sliding window deletes again and the deleted records and their
    /// payloads stay alive; docs/performance.md, "Retention", Session 7).
    /// The worker then runs its flushes, compaction and the release of
    /// what they replaced in that phase; under a GIL this thread gets the
    /// interpreter back when the phase ends, free-threaded it goes on
    /// beside it (entering waits for nothing there, so the flag is rarely
    /// seen). The caller holds no manifest guard: one held across the phase
    /// could be the last owner of a manifest the worker replaces, whose
    /// payloads would then wait for its next phase (`release_guard`).
    #[cold]
    pub(crate) fn yield_to_worker(self) {
        let deadline = Instant::now() + Duration::from_millis(self.cfg.wakeup_ms.min(YIELD_MAX_MS));
        // Usually a short wait for a runnable thread (the worker waits for
        // the lock this thread just gave up; see `wait_until`).
        self.hooks.blocking(&mut || {
            let _ = wait_until(deadline, || (self.st.debt_flags.load(Relaxed) & PHASE_WAIT == 0).then_some(()));
        });
    }

    /// Re-arms the delete wake-up once [`DEBT_REARM_MS`] passed since the
    /// last re-arming (called by maintenance steps).
    fn rearm_debt_kick(self) {
        if self.st.debt_flags.load(Relaxed) & DEBT_KICKED == 0 {
            return;
        }
        let now = self.st.born.elapsed().as_millis() as u64;
        let last = self.st.debt_armed_ms.load(Relaxed);
        // Under the model checkers the interval always counts as passed: a
        // branch on wall time would make the model non-deterministic (see
        // `idle` in worker.rs).
        if (crate::sync::MODEL || now.saturating_sub(last) >= DEBT_REARM_MS.min(self.cfg.wakeup_ms))
            && self.st.debt_armed_ms.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
        {
            self.st.debt_flags.fetch_and(!DEBT_KICKED, Relaxed);
        }
    }

    // ----- maintenance steps ---------------------------------------------

    /// Flushes every sealed memtable (holding the maintainer lock).
    pub(crate) fn flush_sealed(self) -> usize {
        let g = self.lock();
        let mut n = 0;
        while self.flush_one() {
            n += 1;
        }
        drop(g);
        self.notify_progress();
        n
    }

    /// Compacts all of L0 and every segment with pending deletes into L1
    /// (after a flush; `Timelog::compact`): segments hidden whole are
    /// dropped unread, the others with debt rewritten alone (R10).
    pub(crate) fn compact_all(self) {
        let g = self.lock();
        while self.compact_once(true) {
            let m = self.cat.load();
            if m.l0.is_empty() && m.tombstones.is_empty() {
                break;
            }
        }
        drop(g);
        self.notify_progress();
    }

    /// One unit of maintenance: flush a few sealed memtables, or one
    /// compaction when L0 is long or delete debt is high. Returns whether
    /// it did any work.
    pub(crate) fn step(self) -> bool {
        self.step_with(self.lock())
    }

    /// One maintenance step under `g`, the maintainer lock.
    fn step_with(self, g: MaintGuard<'a, T>) -> bool {
        let did = {
            let mut g = Some(g);
            let mut did = false;
            for _ in 0..self.cfg.drain_batch_limit {
                if !self.flush_one() {
                    break;
                }
                did = true;
            }
            if !did {
                // Decide on a short borrow of the manifest, released before
                // compacting: holding it across the compaction would make
                // this thread (outside the payload scope) the last owner of
                // the replaced segments, and their payload releases would be
                // deferred — under pyo3, queued in its global pool and
                // applied by whichever Python thread attaches next, often a
                // reader.
                self.rearm_debt_kick();
                let compact = {
                    let m = self.cat.load();
                    let debt = self.cfg.cfg.delete_debt_threshold;
                    if m.l0.len() >= self.cfg.max_delta_segments {
                        Some((Pick::L0, false))
                    } else if debt > 0.0 && self.delete_debt(&m) >= debt {
                        // Tombstones still in the active memtable enter the
                        // manifest (where compaction applies them) through
                        // a seal and a flush, which also drops the active
                        // memtable's records they hide (R8).
                        Some((Pick::Debt, !m.active.tombs.is_empty()))
                    } else {
                        None
                    }
                };
                if let Some((pick, seal_first)) = compact {
                    did |= self.flush_and_compact(pick, seal_first, &mut g);
                }
            }
            drop(g);
            did
        };
        if did {
            self.notify_progress();
        }
        did
    }

    /// Flushes every sealed memtable, then one compaction of `pick`
    /// (holding the maintainer lock `g`), in one payload phase: the
    /// flushes' and the compaction's own phases run nested in it, and so
    /// does the release of what the compaction replaced — `g` is dropped
    /// there, which releases the lock first and then drops the buried
    /// manifests (R12: no engine lock is held while payloads are released).
    /// Under CPython's GIL each entry into the phase waits for the
    /// interpreter's switch interval while a Python thread runs (5 ms); a
    /// delete-debt step (seal, flush, compact) took three such waits before
    /// it released anything, and a sliding window deleted several more
    /// times meanwhile (docs/performance.md, "Retention", Session 6).
    /// Nothing in the phase waits for another thread: a memtable is
    /// published as sealed only once its seal bound is committed (R2), so
    /// no flush here waits for a commit (R8's wait returns at once).
    ///
    /// With `seal_first` (a delete-debt step whose tombstones are still in
    /// the active memtable), the active memtable is sealed first, in the
    /// phase: a step whose scope does not run the phase (an embedder
    /// shutting down) seals nothing it could not flush. (Sealed before the
    /// phase, each such step left one more sealed memtable that no one
    /// flushed until the writers' backpressure did.)
    fn flush_and_compact(self, pick: Pick, seal_first: bool, g: &mut Option<MaintGuard<'a, T>>) -> bool {
        let mut did = false;
        let mut done = false;
        self.hooks.scoped(&mut || {
            if seal_first && self.seal_active() {
                did = true;
            }
            while self.flush_one() {
                did = true;
            }
            let flushed = {
                let m = self.cat.load();
                let empty = m.sealed.is_empty();
                self.release_guard(m);
                empty
            };
            if flushed {
                did |= self.compact_pick(pick);
                done = true;
                drop(g.take());
            }
        });
        if !done {
            // The scope did not run the phase (`Hooks::worker_scope`: the
            // step is skipped and retried later), or a writer sealed another
            // memtable after the loop emptied the list: each step in its
            // own phase.
            while self.flush_one() {
                did = true;
            }
            did |= self.compact_pick(pick);
        }
        did
    }

    // ----- idle maintenance ----------------------------------------------

    /// What an idle log's maintenance would do, if anything (see
    /// [`idle_step_with`](Self::idle_step_with)): `(seal the active
    /// memtable first, compaction pick)`.
    fn idle_work(self) -> Option<(bool, Option<Pick>)> {
        let m = self.cat.load();
        let debt_on = self.cfg.cfg.delete_debt_threshold > 0.0;
        // Tombstones still in the active memtable: every read pays for
        // them; sealing and flushing moves them into the list (and drops
        // the memtable records they hide, R8), where a compaction applies
        // them.
        let seal = debt_on && !m.active.tombs.is_empty();
        // Sources a read visits besides the memtables: each L0 segment, and
        // L1 as one chain (disjoint).
        let sources = m.l0.len() + usize::from(!m.l1.is_empty());
        let pick = if debt_on && !m.tombstones.is_empty() {
            Some(Pick::All)
        } else if sources >= 2 {
            Some(Pick::L0)
        } else {
            None
        };
        let sealed = !m.sealed.is_empty();
        self.release_guard(m);
        (seal || pick.is_some() || sealed).then_some((seal, pick))
    }

    /// One unit of *idle* maintenance, under `g`: called by the background
    /// worker only, once the log has been quiet (no committed write) for a
    /// while and no regular step finds work (`worker.rs`, "idle"). It takes
    /// the log toward the shape a fresh log of the same records has — one
    /// source and no tombstone — which is what every later read pays for:
    ///
    /// - a read visits every L0 segment and L1 (one chain) per call, so two
    ///   or more such sources are merged ([`Pick::L0`]: L0 and the L1
    ///   segments it overlaps) even below `max_delta_segments`;
    /// - tombstones left under `delete_debt_threshold` cost every read a
    ///   coverage lookup per source and keep deleted records (and their
    ///   payloads) in memory, so they are applied ([`Pick::All`]: the
    ///   segments with debt rewritten alone, those hidden whole dropped
    ///   unread), the active memtable's sealed and flushed first.
    ///   `delete_debt_threshold = 0.0` (deletes never trigger compaction)
    ///   turns this part off too.
    ///
    /// A lone L0 segment and nothing else is left as it is (one source
    /// already; rewriting it into L1 would buy no read anything). Returns
    /// whether it did any work.
    pub(crate) fn idle_step_with(self, g: MaintGuard<'a, T>) -> bool {
        let did = {
            let _g = g;
            let mut did = false;
            while self.flush_one() {
                did = true;
            }
            if let Some((seal, pick)) = self.idle_work() {
                // Sealed in the payload phase, as a delete-debt step does
                // (`flush_and_compact`): a scope that skips seals nothing.
                if seal {
                    self.hooks.scoped(&mut || {
                        if self.seal_active() {
                            while self.flush_one() {}
                            did = true;
                        }
                    });
                }
                if let Some(pick) = pick {
                    did |= self.compact_pick(pick);
                }
            }
            did
        };
        if did {
            self.counters.idle_steps.fetch_add(1, Relaxed);
            self.notify_progress();
        }
        did
    }

    // ----- wake-ups --------------------------------------------------------

    /// Wakes the writers waiting for maintenance progress (backpressure).
    /// A waiter checks the manifest while holding the worker mutex and then
    /// waits; taking that mutex before notifying orders the notification
    /// after the waiter's wait or before its check, never in between (lost
    /// wakeup found by loom, `loom_backpressure::backpressure_wait_vs_worker`).
    pub(crate) fn notify_progress(self) {
        #[cfg(not(timelog_fault = "progress_lost_wakeup"))]
        drop(self.st.worker.lock().unwrap());
        self.st.progress_cv.notify_all();
    }

    pub(crate) fn kick_worker(self) {
        if self.cfg.cfg.maintenance == MaintenanceMode::Background || self.worker_running() {
            let mut st = self.st.worker.lock().unwrap();
            st.kick = true;
            drop(st);
            self.st.worker_cv.notify_one();
        }
    }

    /// Whether the background worker runs (a lock-free read of the
    /// mirror of `WorkerState::running`).
    pub(crate) fn worker_running(self) -> bool {
        self.st.running.load(Acquire)
    }
}
