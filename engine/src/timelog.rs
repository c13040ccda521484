//! The log: write path, snapshots, maintenance control and lifecycle.

use crate::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_epoch::Collector;

use crate::config::{BusyPolicy, Config, MaintenanceMode, Resolved};
use crate::error::{Error, Result};
use crate::hooks::Hooks;
use crate::manifest::{Manifest, ManifestCell};

/// A short-lived borrow of the current manifest (R9).
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
type ManifestGuard<T> = arc_swap::Guard<Arc<Manifest<T>>>;
#[cfg(any(timelog_loom, timelog_shuttle))]
type ManifestGuard<T> = Arc<Manifest<T>>;
use crate::memtable::Memtable;
use crate::query::cursor::Cursor;
use crate::snapshot::{Order, PageSpan, PinCounter, Snapshot};
use crate::stats::{Counters, Stats};
use crate::sync::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Backoff, Condvar, Mutex, Ordering};
use crate::tombstone::Tombstone;
use crate::{SeqNo, Timestamp};
use crossbeam_utils::CachePadded;

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

/// Slots of the completion ring (R5): how far sequence allocation may run
/// ahead of the visible watermark before a writer waits.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
const COMMIT_RING: u64 = 4096;
// Model checkers: small enough that a few writes reuse slots (loom's
// scenarios are shorter still).
#[cfg(timelog_loom)]
const COMMIT_RING: u64 = 2;
#[cfg(all(timelog_shuttle, not(timelog_loom)))]
const COMMIT_RING: u64 = 4;

#[derive(Debug, Default)]
struct WorkerState {
    stop: bool,
    kick: bool,
    running: bool,
}

/// Manifests a maintainer replaced, dropped only once the maintainer lock
/// is released (R12).
struct Graveyard<T>(Mutex<Vec<Arc<Manifest<T>>>>);

// SAFETY: under the model checkers a segment's `Region` (the checkers'
// memory model of its pages) is not `Sync`, so neither is `Manifest<T>`;
// manifests are shared between threads exactly as through the
// `ManifestCell` (R9: immutable once published, dropped by the last owner),
// and the graveyard only moves such `Arc`s under its mutex.
#[cfg(any(timelog_loom, timelog_shuttle))]
unsafe impl<T: Send + Sync> Sync for Graveyard<T> {}
// SAFETY: as above.
#[cfg(any(timelog_loom, timelog_shuttle))]
unsafe impl<T: Send + Sync> Send for Graveyard<T> {}

pub(crate) struct Inner<T> {
    pub(crate) cfg: Resolved,
    pub(crate) manifest: ManifestCell<T>,
    /// Next sequence number to allocate (R5: starts at 1; 0 = "nothing").
    /// Written by every write: padded to a cache line of its own, like
    /// `visible`, so that the fields every read loads (`manifest`,
    /// `closed`, `floor`) do not share a line with them.
    pub(crate) next_seq: CachePadded<AtomicU64>,
    /// The visible watermark: every sequence `<=` it is complete (R5).
    /// Readers load it once per snapshot; writers advance it per commit.
    pub(crate) visible: CachePadded<AtomicU64>,
    /// Completion ring of R5: slot `s % len` holds the last sequence of the
    /// completed block that starts at `s`.
    done: Box<[AtomicU64]>,
    ids: AtomicU64,
    collector: Collector,
    /// Serializes maintainers (flush, compaction) among themselves only.
    maint: Mutex<()>,
    /// Manifests replaced by a maintainer's publication, kept alive until
    /// the maintainer lock is released: dropping one may drop the last
    /// reference to payloads, whose release may run embedder code (a Python
    /// `__del__`) that calls back into the log — so payload drops happen
    /// outside every engine lock (docs/protocol.md, "Payload drops").
    graveyard: Graveyard<T>,
    closed: AtomicBool,
    floor: AtomicI64,
    pub(crate) pins: Arc<PinCounter>,
    pub(crate) retired: Arc<AtomicUsize>,
    pub(crate) counters: Counters,
    pub(crate) hooks: Hooks,
    worker: Mutex<WorkerState>,
    worker_cv: Condvar,
    progress_cv: Condvar,
    /// Delete debt wake-up: set by the first delete after the worker last
    /// re-armed it, which kicks the worker (so a delete over flushed data
    /// is acted on with no further writes); the worker re-arms it at most
    /// once per wake-up period, so a stream of deletes pays one Relaxed
    /// load each, not a mutex and a futex wake.
    debt_kicked: AtomicBool,
    /// Milliseconds after `born` at which `debt_kicked` was last re-armed.
    debt_armed_ms: AtomicU64,
    born: Instant,
}

/// The maintainer lock (R10), held by a flush, a compaction or `close()`.
///
/// Dropping it releases the lock and *then* drops the manifests the
/// holder's publications replaced ([`Inner::publish_maint`]): the payloads
/// only they referenced are released with no engine lock held, so the
/// embedder code a payload release runs (a Python `__del__`) may call any
/// method of the log, this one's maintenance included.
pub(crate) struct MaintGuard<'a, T: Clone + Send + Sync + 'static> {
    inner: &'a Inner<T>,
    g: Option<crate::sync::MutexGuard<'a, ()>>,
    /// Leave the buried manifests to the background worker (a writer
    /// helping under `busy_policy = Flush` must not run finalizers).
    leave_to_worker: bool,
}

impl<T: Clone + Send + Sync + 'static> Drop for MaintGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.g.take());
        if self.leave_to_worker {
            self.inner.kick_worker();
        } else {
            self.inner.drain_graveyard();
        }
    }
}

impl<T> std::fmt::Debug for Inner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("manifest", &*self.manifest.load()).finish()
    }
}

/// A lock-free, MVCC, in-memory time index of `(timestamp, payload)` records.
///
/// Every method takes `&self`: share it as `Arc<Timelog<T>>` between any
/// number of reader and writer threads. Readers never take a lock and never
/// wait; writers never wait for readers. See the crate docs for the
/// consistency guarantees.
pub struct Timelog<T: Clone + Send + Sync + 'static> {
    pub(crate) inner: Arc<Inner<T>>,
    worker: Mutex<Option<crate::sync::thread::JoinHandle<()>>>,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for Timelog<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timelog").field("inner", &self.inner).finish()
    }
}

impl<T: Clone + Send + Sync + 'static> Inner<T> {
    #[inline]
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Relaxed)
    }

    fn new_memtable(&self) -> Arc<Memtable<T>> {
        Arc::new(Memtable::new(self.next_id(), &self.collector, &self.retired))
    }

    /// R5: allocate `n` consecutive sequence numbers.
    #[inline]
    fn alloc(&self, n: u64) -> SeqNo {
        self.next_seq.fetch_add(n, Ordering::AcqRel)
    }

    /// One step of a writer's wait for another writer (or a sealer). After
    /// the spinning phase, the wait yields inside the blocking scope, so a
    /// binding can release an interpreter lock that the awaited thread may
    /// need to finish.
    #[inline]
    fn snooze(&self, b: &mut Backoff) {
        if b.is_long() && self.hooks.blocking_scope.is_some() {
            self.hooks.blocking(&mut || crate::sync::thread::yield_now());
        } else {
            b.snooze();
        }
    }

    /// Takes the maintainer lock (R10). When another maintainer holds it,
    /// waits in the blocking scope: that maintainer may need what this
    /// thread holds (an interpreter lock) to finish its payload phase.
    ///
    /// The guard releases the lock first and then drops the manifests its
    /// holder's publications replaced (see [`MaintGuard`]).
    pub(crate) fn lock_maint(&self) -> MaintGuard<'_, T> {
        if let Ok(g) = self.maint.try_lock() {
            return MaintGuard { inner: self, g: Some(g), leave_to_worker: false };
        }
        let mut guard = None;
        self.hooks.blocking(&mut || guard = Some(self.maint.lock().unwrap_or_else(|e| e.into_inner())));
        MaintGuard { inner: self, g: Some(guard.expect("the blocking scope runs its closure")), leave_to_worker: false }
    }

    /// Takes the maintainer lock only if it is free.
    fn try_lock_maint(&self) -> Option<MaintGuard<'_, T>> {
        self.maint.try_lock().ok().map(|g| MaintGuard { inner: self, g: Some(g), leave_to_worker: false })
    }

    /// Publishes `next` over `cur` for a maintainer (caller holds the
    /// maintainer lock). On success the replaced manifest goes to the
    /// graveyard, so that neither this publication nor the caller's own
    /// references drop payloads while the lock is held.
    /// Publishes an empty manifest (a fresh memtable, no segments, no
    /// tombstones) for `close` and `discard`; the caller holds the
    /// maintainer lock, so the replaced manifest goes to the graveyard (R12).
    fn publish_empty(&self) {
        loop {
            let cur = self.manifest.load_full();
            let mut next = cur.successor();
            next.active = self.new_memtable();
            next.sealed.clear();
            next.l0.clear();
            next.l1.clear();
            next.tombstones = Arc::new(Vec::new());
            if self.publish_maint(&cur, next) {
                break;
            }
        }
    }

    pub(crate) fn publish_maint(&self, cur: &Arc<Manifest<T>>, next: Manifest<T>) -> bool {
        if !self.manifest.publish(cur, next) {
            return false;
        }
        self.graveyard.0.lock().unwrap_or_else(|e| e.into_inner()).push(cur.clone());
        true
    }

    /// Drops a writer's manifest guard. If a maintainer replaced that
    /// manifest meanwhile, the guard may be its last owner, and dropping it
    /// would release the payloads only it referenced on the writer's thread
    /// — running their finalizers there, for as long as they take, which no
    /// `sealed_wait_ms` bounds. While the background worker runs, such a
    /// manifest goes to the graveyard instead and the worker releases it.
    #[inline]
    fn release_guard(&self, m: ManifestGuard<T>) {
        if self.manifest.is_current(&m) {
            return;
        }
        self.release_replaced(m);
    }

    #[cold]
    fn release_replaced(&self, m: ManifestGuard<T>) {
        if !self.worker_running() {
            return;
        }
        if self.bury_if_last(m) {
            self.kick_worker();
        }
    }

    /// Buries `m` if it is the last reference to a replaced manifest;
    /// returns whether it did. Takes only the graveyard's mutex (callable
    /// with the worker mutex held).
    fn bury_if_last(&self, m: ManifestGuard<T>) -> bool {
        if self.manifest.is_current(&m) {
            return false;
        }
        // A guard of a replaced manifest owns a full reference (the
        // publisher paid its debt), so this does not clone.
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        let m = arc_swap::Guard::into_inner(m);
        if Arc::strong_count(&m) == 1 {
            self.graveyard.0.lock().unwrap_or_else(|e| e.into_inner()).push(m);
            return true;
        }
        false
    }

    /// Drops the buried manifests, in the payload scope. Called with no
    /// engine lock held.
    fn drain_graveyard(&self) {
        let dead = std::mem::take(&mut *self.graveyard.0.lock().unwrap_or_else(|e| e.into_inner()));
        if dead.is_empty() {
            return;
        }
        let mut dead = Some(dead);
        self.hooks.scoped(&mut || drop(dead.take()));
        // Scope skipped (the embedder is shutting down): drop here.
        drop(dead);
    }

    /// R5: commit with helping. A writer marks its block `first..=last`
    /// complete in the completion ring, then advances the watermark over
    /// every consecutive complete block — its own and those of writers that
    /// finished before it — so no writer has to be scheduled in sequence
    /// order. It returns once the watermark covers its own block (read your
    /// writes): it waits only while an *earlier* writer is still inside its
    /// insert, never for a reader.
    #[inline]
    fn commit(&self, first: SeqNo, n: u64) {
        let last = first + n - 1;
        let ring = self.done.len() as u64;
        let mut b = Backoff::new();
        // The slot of `first` is free once the watermark passed `first - ring`.
        // (Seeded fault `commit_ring_no_wait`, R5: reuse the slot at once.)
        #[cfg(not(timelog_fault = "commit_ring_no_wait"))]
        while first > ring && self.visible.load(Ordering::Acquire) < first - ring {
            self.snooze(&mut b);
        }
        // Release: the insert happens-before any advance that reads this mark.
        self.done[(first % ring) as usize].store(last, Ordering::Release);
        loop {
            self.advance_visible();
            if self.visible.load(Ordering::Acquire) >= last {
                return;
            }
            self.snooze(&mut b);
        }
    }

    /// Moves the watermark over consecutive completed blocks (R5).
    #[inline]
    fn advance_visible(&self) {
        let ring = self.done.len() as u64;
        let mut v = self.visible.load(Ordering::Acquire);
        loop {
            let next = v + 1;
            let end = self.done[(next % ring) as usize].load(Ordering::Acquire);
            // A mark below `next` is stale (an older block in the same slot).
            if end < next {
                return;
            }
            match self.visible.compare_exchange(v, end, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => v = end,
                Err(cur) => v = cur,
            }
        }
    }

    #[inline]
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    #[inline]
    fn check_floor(&self, ts: Timestamp) -> Result<()> {
        let floor = self.floor.load(Relaxed);
        if ts < floor {
            Err(Error::BelowFloor { ts, floor })
        } else {
            Ok(())
        }
    }

    /// A snapshot of the current state (R5: manifest first, then the
    /// watermark, capped by the active memtable's seal bound).
    pub(crate) fn snapshot(&self) -> Snapshot<T> {
        let m = self.manifest.load_full();
        #[cfg(not(timelog_fault = "snapshot_no_cap"))]
        let w = self.visible.load(Ordering::Acquire).min(m.active.seal_bound());
        // Seeded fault (R5): the watermark is not capped by the seal bound.
        #[cfg(timelog_fault = "snapshot_no_cap")]
        let w = self.visible.load(Ordering::Acquire);
        Snapshot::new(m, w)
    }

    /// Runs `f` inside an entered active memtable (R1), retrying across seals.
    #[inline]
    /// Returns the manifest guard the write went through, so the caller can
    /// check the memtable's size and the backpressure without another load
    /// or a reference-count change.
    fn with_active<R>(&self, mut f: impl FnMut(&Memtable<T>) -> R) -> (R, ManifestGuard<T>) {
        let mut b = Backoff::new();
        loop {
            let m = self.manifest.load();
            // The entered guard (R1) ends with this statement: the writer has
            // left the memtable before the caller commits.
            let r = m.active.enter().map(|e| f(e.mt));
            if let Some(r) = r {
                return (r, m);
            }
            // R1/R2: the active memtable is being sealed. Wait for the
            // sealer to publish its successor without touching the writer
            // count again: the sealer's drain waits for it to reach zero
            // (retrying `enter` here could keep it from doing so).
            while self.manifest.is_current(&m) {
                self.snooze(&mut b);
            }
            drop(m);
        }
    }

    /// Seals `mt` if it is still the active memtable (R2). Returns whether
    /// this call sealed it.
    pub(crate) fn seal(&self, mt: &Arc<Memtable<T>>) -> bool {
        if !mt.seal_begin() {
            return false;
        }
        mt.seal_drain(&self.next_seq);
        let fresh = self.new_memtable();
        self.hooks.pause(crate::hooks::Point::SealPublish);
        loop {
            let cur = self.manifest.load_full();
            debug_assert!(Arc::ptr_eq(&cur.active, mt), "only the sealer replaces the active memtable");
            let mut next = cur.successor();
            next.sealed.push(cur.active.clone());
            next.active = fresh.clone();
            if self.manifest.publish(&cur, next) {
                break;
            }
        }
        self.counters.seals_total.fetch_add(1, Relaxed);
        self.kick_worker();
        true
    }

    /// After a write: seal a full memtable, then apply backpressure.
    fn after_write(&self, m: &ManifestGuard<T>) -> Result<WriteStatus> {
        let mt = &m.active;
        let mut sealed = false;
        if mt.bytes() >= self.cfg.memtable_max_bytes {
            sealed = self.seal(mt);
        } else if mt.ooo_bytes() >= self.cfg.ooo_budget_bytes && self.seal(mt) {
            sealed = true;
            self.counters.ooo_budget_hits.fetch_add(1, Relaxed);
        }
        // The guard's manifest is current enough unless this call just sealed.
        let runs = if sealed {
            let cur = self.manifest.load();
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
                for _ in 0..2 {
                    let Some(mut g) = self.try_lock_maint() else { break };
                    g.leave_to_worker = true;
                    if !self.maint_step_with(g) {
                        break;
                    }
                }
            }
            let cur = self.manifest.load();
            let n = cur.sealed.len();
            self.release_guard(cur);
            n
        } else {
            m.sealed.len()
        };
        if runs < self.cfg.sealed_max_runs {
            return Ok(WriteStatus::Ok);
        }
        self.backpressure()
    }

    #[cold]
    fn backpressure(&self) -> Result<WriteStatus> {
        // Each check's guard may outlive a publication of the worker: it is
        // buried for the worker then (which this writer is waiting for),
        // never dropped here (see `release_guard`).
        let over = || {
            let m = self.manifest.load();
            let over = m.sealed.len() >= self.cfg.sealed_max_runs;
            self.bury_if_last(m);
            over
        };
        if self.cfg.sealed_wait_ms > 0 && self.worker_running() {
            self.counters.backpressure_waits.fetch_add(1, Relaxed);
            let deadline = Instant::now() + Duration::from_millis(self.cfg.sealed_wait_ms);
            self.kick_worker();
            // The worker may need what this thread holds (an interpreter
            // lock): wait in the blocking scope.
            self.hooks.blocking(&mut || {
                let mut st = self.worker.lock().unwrap();
                while over() {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    st = self.progress_cv.wait_timeout(st, deadline - now).unwrap().0;
                }
            });
            if !over() {
                return Ok(WriteStatus::Ok);
            }
        }
        self.counters.busy_events.fetch_add(1, Relaxed);
        match self.cfg.cfg.busy_policy {
            BusyPolicy::Raise => Ok(WriteStatus::Busy),
            BusyPolicy::Silent => Ok(WriteStatus::Ok),
            BusyPolicy::Flush => {
                if self.worker_running() {
                    // The worker holds the maintainer lock only while it
                    // makes progress (it may be releasing payloads whose
                    // finalizers are slow): help if the lock is free, never
                    // wait for it, so `sealed_wait_ms` stays the bound.
                    if let Some(mut g) = self.try_lock_maint() {
                        g.leave_to_worker = true;
                        while self.flush_one() {}
                        drop(g);
                        self.notify_progress();
                    }
                } else {
                    self.flush_sealed();
                }
                Ok(WriteStatus::Ok)
            }
        }
    }

    fn append(&self, ts: Timestamp, val: T) -> Result<WriteStatus> {
        self.check_open()?;
        self.check_floor(ts)?;
        let mut val = Some(val);
        #[cfg(not(timelog_fault = "commit_before_insert"))]
        let (seq, mt) = self.with_active(|mt| mt.insert(ts, val.take().expect("inserted once"), || self.alloc(1)));
        #[cfg(not(timelog_fault = "commit_before_insert"))]
        self.commit(seq, 1);
        // Seeded fault (R5): the watermark passes the write before its insert.
        #[cfg(timelog_fault = "commit_before_insert")]
        let (_, mt) = self.with_active(|mt| {
            let alloc = || {
                let seq = self.alloc(1);
                self.commit(seq, 1);
                seq
            };
            mt.insert(ts, val.take().expect("inserted once"), alloc)
        });
        let status = self.after_write(&mt);
        self.release_guard(mt);
        status
    }

    fn insert_sorted(&self, batch: Vec<(Timestamp, T)>) -> Result<WriteStatus> {
        if batch.is_empty() {
            return Ok(WriteStatus::Ok);
        }
        let insert = |part: Vec<(Timestamp, T)>| {
            let mut part = Some(part);
            let ((first, n), mt) =
                self.with_active(|mt| mt.insert_batch(part.take().expect("inserted once"), |n| self.alloc(n)));
            self.commit(first, n);
            let status = self.after_write(&mt);
            // A batch may run outside the payload scope (a binding releases
            // its interpreter for it), and its manifest guard may now be the
            // last owner of a memtable that a flush — possibly this call's
            // own backpressure flush — replaced: release it inside the scope,
            // so the payloads are released directly, not deferred.
            let mut mt = Some(mt);
            self.hooks.scoped(&mut || {
                if let Some(mt) = mt.take() {
                    self.release_guard(mt);
                }
            });
            status
        };
        // Chunks of about one memtable, so a huge batch seals as it goes. A
        // batch that fits is inserted as is (no copy); larger ones are cut
        // from the front by one iterator (`split_off` would copy the whole
        // remaining tail for every chunk: quadratic).
        let chunk = (self.cfg.memtable_max_bytes / (16 + std::mem::size_of::<T>())).max(1024);
        if batch.len() <= chunk {
            return insert(batch);
        }
        let mut status = WriteStatus::Ok;
        let mut records = batch.into_iter();
        loop {
            let next: Vec<_> = records.by_ref().take(chunk).collect();
            if next.is_empty() {
                return Ok(status);
            }
            if insert(next)? == WriteStatus::Busy {
                status = WriteStatus::Busy;
            }
        }
    }

    fn push_tombstone(&self, t1: Timestamp, t2: Timestamp) -> Result<WriteStatus> {
        self.check_open()?;
        if t1 > t2 {
            return Err(Error::InvalidRange { t1, t2 });
        }
        if t1 == t2 {
            return Ok(WriteStatus::Ok);
        }
        let (seq, mt) = self.with_active(|mt| {
            let seq = self.alloc(1);
            mt.push_tombstone(Tombstone { t1, t2, seq });
            seq
        });
        self.commit(seq, 1);
        // Wake the worker for the delete debt (at most once per period).
        if self.cfg.cfg.delete_debt_threshold > 0.0 && !self.debt_kicked.load(Relaxed) {
            self.kick_for_debt();
        }
        let status = self.after_write(&mt);
        self.release_guard(mt);
        status
    }

    #[cold]
    fn kick_for_debt(&self) {
        if !self.debt_kicked.swap(true, Relaxed) {
            self.kick_worker();
        }
    }

    /// Re-arms the delete wake-up once a wake-up period passed since the
    /// last re-arming (called by maintenance steps).
    fn rearm_debt_kick(&self) {
        if !self.debt_kicked.load(Relaxed) {
            return;
        }
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.debt_armed_ms.load(Relaxed);
        if now.saturating_sub(last) >= self.cfg.wakeup_ms
            && self.debt_armed_ms.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
        {
            self.debt_kicked.store(false, Relaxed);
        }
    }

    /// Flushes every sealed memtable (holding the maintainer lock).
    fn flush_sealed(&self) -> usize {
        let _g = self.lock_maint();
        let mut n = 0;
        while self.flush_one() {
            n += 1;
        }
        drop(_g);
        self.notify_progress();
        n
    }

    /// Seals the active memtable if it holds anything.
    fn seal_active(&self) -> bool {
        let m = self.manifest.load_full();
        if m.active.is_empty() {
            return false;
        }
        self.seal(&m.active)
    }

    pub(crate) fn maint_step(&self) -> bool {
        self.maint_step_with(self.lock_maint())
    }

    /// One maintenance step under `_g`, the maintainer lock.
    fn maint_step_with(&self, _g: MaintGuard<'_, T>) -> bool {
        let did = {
            let _g = _g;
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
                    let m = self.manifest.load();
                    let debt = self.cfg.cfg.delete_debt_threshold;
                    if m.l0.len() >= self.cfg.max_delta_segments {
                        Some((false, false))
                    } else if debt > 0.0 && self.delete_debt(&m) >= debt {
                        // Tombstones still in the active memtable enter the
                        // manifest (where compaction applies them) through
                        // a seal and a flush.
                        Some((true, !m.active.tombs.is_empty()))
                    } else {
                        None
                    }
                };
                if let Some((with_debt, seal_first)) = compact {
                    if seal_first && self.seal_active() {
                        while self.flush_one() {}
                        did = true;
                    }
                    did |= self.compact_once(with_debt);
                }
            }
            did
        };
        if did {
            self.notify_progress();
        }
        did
    }

    /// Wakes the writers waiting for maintenance progress (backpressure).
    /// A waiter checks the manifest while holding the worker mutex and then
    /// waits; taking that mutex before notifying orders the notification
    /// after the waiter's wait or before its check, never in between (lost
    /// wakeup found by loom, `loom_backpressure::backpressure_wait_vs_worker`).
    fn notify_progress(&self) {
        #[cfg(not(timelog_fault = "progress_lost_wakeup"))]
        drop(self.worker.lock().unwrap());
        self.progress_cv.notify_all();
    }

    fn kick_worker(&self) {
        if self.cfg.cfg.maintenance == MaintenanceMode::Background || self.worker_running() {
            let mut st = self.worker.lock().unwrap();
            st.kick = true;
            drop(st);
            self.worker_cv.notify_one();
        }
    }

    fn worker_running(&self) -> bool {
        self.worker.lock().unwrap().running
    }

    fn worker_loop(&self) {
        self.worker_run();
        // What writers buried for the worker (`release_guard`).
        self.drain_graveyard();
    }

    fn worker_run(&self) {
        let period = Duration::from_millis(self.cfg.wakeup_ms);
        loop {
            {
                let mut st = self.worker.lock().unwrap();
                if st.stop {
                    st.running = false;
                    self.progress_cv.notify_all();
                    return;
                }
                if !st.kick {
                    st = self.worker_cv.wait_timeout(st, period).unwrap().0;
                }
                st.kick = false;
                if st.stop {
                    st.running = false;
                    self.progress_cv.notify_all();
                    return;
                }
            }
            // The worker never blocks on the maintainer lock: while another
            // maintainer (a writer helping under `busy_policy = Flush`, a
            // `flush()` call) holds it, it waits on its own condition
            // variable, so a stop request (at exit, `stop_maintenance`) is
            // seen at once even if writers keep the lock busy.
            loop {
                if self.worker.lock().unwrap().stop {
                    break;
                }
                match self.try_lock_maint() {
                    Some(g) => {
                        if !self.maint_step_with(g) {
                            break;
                        }
                    }
                    None => {
                        let st = self.worker.lock().unwrap();
                        if st.stop {
                            break;
                        }
                        drop(self.worker_cv.wait_timeout(st, Duration::from_millis(1)).unwrap());
                    }
                }
            }
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Timelog<T> {
    /// A log with the default configuration (background maintenance).
    pub fn new() -> Self {
        Self::with_config(Config::default()).expect("the default configuration is valid")
    }

    /// A log with `config`, validated.
    pub fn with_config(config: Config) -> Result<Self> {
        Self::with_hooks(config, Hooks::default())
    }

    /// A log with `config` and embedding [`Hooks`].
    pub fn with_hooks(config: Config, hooks: Hooks) -> Result<Self> {
        let cfg = config.resolve(std::mem::size_of::<T>())?;
        let retired = Arc::new(AtomicUsize::new(0));
        let collector = crossbeam_epoch::default_collector().clone();
        let active = Arc::new(Memtable::new(0, &collector, &retired));
        let pins = Arc::new(PinCounter::new(config.time_unit));
        let manifest = Manifest {
            version: 0,
            active,
            sealed: Vec::new(),
            l0: Vec::new(),
            l1: Vec::new(),
            tombstones: Arc::new(Vec::new()),
            flushed_bound: 0,
            pins: pins.clone(),
            cov: Default::default(),
        };
        let floor = config.min_ts.unwrap_or(Timestamp::MIN);
        let inner = Arc::new(Inner {
            cfg,
            manifest: ManifestCell::new(manifest),
            next_seq: CachePadded::new(AtomicU64::new(1)),
            visible: CachePadded::new(AtomicU64::new(0)),
            done: (0..COMMIT_RING).map(|_| AtomicU64::new(0)).collect(),
            ids: AtomicU64::new(1),
            collector,
            maint: Mutex::new(()),
            graveyard: Graveyard(Mutex::new(Vec::new())),
            closed: AtomicBool::new(false),
            floor: AtomicI64::new(floor),
            pins,
            retired,
            counters: Counters::default(),
            hooks,
            worker: Mutex::new(WorkerState::default()),
            worker_cv: Condvar::new(),
            progress_cv: Condvar::new(),
            debt_kicked: AtomicBool::new(false),
            debt_armed_ms: AtomicU64::new(0),
            born: Instant::now(),
        });
        let log = Self { inner, worker: Mutex::new(None) };
        if config.maintenance == MaintenanceMode::Background {
            log.start_maintenance()?;
        }
        Ok(log)
    }

    /// The configuration the log was built with.
    pub fn config(&self) -> &Config {
        &self.inner.cfg.cfg
    }

    // ----- writes -------------------------------------------------------

    /// Appends one record. On `Err` nothing was written; on `Ok` the record
    /// is committed (also when the status is [`WriteStatus::Busy`]).
    pub fn append(&self, ts: Timestamp, val: T) -> Result<WriteStatus> {
        self.inner.append(ts, val)
    }

    /// Appends a record stamped with the current wall-clock time.
    pub fn append_now(&self, val: T) -> Result<WriteStatus> {
        self.inner.append(self.inner.cfg.cfg.time_unit.now(), val)
    }

    /// Appends many records. The batch is validated first (nothing is
    /// written if a timestamp is below the floor), sorted stably by
    /// timestamp if needed (equal timestamps keep their order) and written
    /// in memtable-sized chunks, each committed atomically.
    pub fn extend<I: IntoIterator<Item = (Timestamp, T)>>(&self, records: I) -> Result<WriteStatus> {
        self.inner.check_open()?;
        let mut batch: Vec<(Timestamp, T)> = records.into_iter().collect();
        let floor = self.inner.floor.load(Relaxed);
        if let Some(&(ts, _)) = batch.iter().find(|r| r.0 < floor) {
            return Err(Error::BelowFloor { ts, floor });
        }
        if !batch.windows(2).all(|w| w[0].0 <= w[1].0) {
            batch.sort_by_key(|r| r.0);
        }
        self.inner.insert_sorted(batch)
    }

    /// Appends parallel slices of timestamps and payloads.
    pub fn extend_from_parts(&self, timestamps: &[Timestamp], payloads: Vec<T>) -> Result<WriteStatus> {
        if timestamps.len() != payloads.len() {
            return Err(Error::LengthMismatch { timestamps: timestamps.len(), payloads: payloads.len() });
        }
        self.extend(timestamps.iter().copied().zip(payloads))
    }

    /// Deletes `[t1, t2)` (records written afterwards stay visible).
    pub fn delete_range(&self, t1: Timestamp, t2: Timestamp) -> Result<WriteStatus> {
        self.inner.push_tombstone(t1, t2)
    }

    /// Deletes everything before `t`.
    pub fn delete_before(&self, t: Timestamp) -> Result<WriteStatus> {
        self.inner.push_tombstone(Timestamp::MIN, t)
    }

    /// Deletes the records at exactly `ts`.
    pub fn delete_point(&self, ts: Timestamp) -> Result<WriteStatus> {
        let t2 = ts.checked_add(1).ok_or(Error::Unrepresentable(ts))?;
        self.inner.push_tombstone(ts, t2)
    }

    /// Raises the retention floor to `floor`: deletes everything below it
    /// and refuses later writes below it. A lower value than the current
    /// floor is ignored.
    pub fn set_floor(&self, floor: Timestamp) -> Result<WriteStatus> {
        self.inner.check_open()?;
        self.inner.floor.fetch_max(floor, Relaxed);
        self.delete_before(floor)
    }

    /// The retention floor, if any.
    pub fn floor(&self) -> Option<Timestamp> {
        let f = self.inner.floor.load(Relaxed);
        (f != Timestamp::MIN).then_some(f)
    }

    /// Records that `n` items of a bulk write were skipped by the caller
    /// (the Python `extend(insert_on_error=True)` counter).
    pub fn note_extend_skipped(&self, n: u64) {
        self.inner.counters.extend_skipped.fetch_add(n, Relaxed);
    }

    // ----- reads --------------------------------------------------------

    /// A snapshot of the log now.
    pub fn snapshot(&self) -> Result<Snapshot<T>> {
        self.inner.check_open()?;
        Ok(self.inner.snapshot())
    }

    /// Records in `[t1, t2)`; `t1 > t2` is an error, `t1 == t2` empty.
    pub fn range(&self, t1: Timestamp, t2: Timestamp, order: Order) -> Result<Cursor<T>> {
        if t1 > t2 {
            return Err(Error::InvalidRange { t1, t2 });
        }
        Ok(self.snapshot()?.range(t1, t2, order))
    }

    /// Records at or after `t`.
    pub fn since(&self, t: Timestamp, order: Order) -> Result<Cursor<T>> {
        Ok(self.snapshot()?.since(t, order))
    }

    /// Records before `t`.
    pub fn until(&self, t: Timestamp, order: Order) -> Result<Cursor<T>> {
        Ok(self.snapshot()?.until(t, order))
    }

    /// Every record.
    pub fn all(&self, order: Order) -> Result<Cursor<T>> {
        Ok(self.snapshot()?.all(order))
    }

    /// A short-lived view for one-shot reads: no reference count on the
    /// shared manifest is taken (arc-swap debt slot), no pin is counted.
    #[inline]
    fn with_view<R>(&self, f: impl FnOnce(crate::query::plan::View<'_, T>) -> R) -> Result<R> {
        self.inner.check_open()?;
        let m = self.inner.manifest.load();
        let w = self.inner.visible.load(Ordering::Acquire).min(m.active.seal_bound());
        Ok(f(crate::query::plan::View { m: &m, w }))
    }

    /// Visits the payloads at exactly `ts` in insertion order; returns how many.
    pub fn point_with(&self, ts: Timestamp, f: impl FnMut(&T)) -> Result<usize> {
        self.with_view(|v| v.point(ts, f))
    }

    /// The payloads at exactly `ts`, in insertion order.
    pub fn point(&self, ts: Timestamp) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.point_with(ts, |v| out.push(v.clone()))?;
        Ok(out)
    }

    /// Whether a visible record has timestamp `ts`.
    pub fn contains(&self, ts: Timestamp) -> Result<bool> {
        self.with_view(|v| v.point(ts, |_| ()) > 0)
    }

    /// Smallest visible timestamp `> t`.
    pub fn next_ts(&self, t: Timestamp) -> Result<Option<Timestamp>> {
        self.with_view(|v| t.checked_add(1).and_then(|t| v.first_at_or_after(t)))
    }

    /// Greatest visible timestamp `< t`.
    pub fn prev_ts(&self, t: Timestamp) -> Result<Option<Timestamp>> {
        self.with_view(|v| t.checked_sub(1).and_then(|t| v.last_at_or_before(t)))
    }

    /// Smallest visible timestamp.
    pub fn min_ts(&self) -> Result<Option<Timestamp>> {
        self.with_view(|v| v.first_at_or_after(Timestamp::MIN))
    }

    /// Greatest visible timestamp.
    pub fn max_ts(&self) -> Result<Option<Timestamp>> {
        self.with_view(|v| v.last_at_or_before(Timestamp::MAX))
    }

    /// Number of visible records.
    pub fn len(&self) -> Result<usize> {
        self.with_view(|v| v.count(Timestamp::MIN, Timestamp::MAX))
    }

    /// Number of visible records in `[t1, t2)`, read from one consistent
    /// view without touching payloads; `t1 > t2` is an error, `t1 == t2` is 0.
    pub fn count(&self, t1: Timestamp, t2: Timestamp) -> Result<usize> {
        if t1 > t2 {
            return Err(Error::InvalidRange { t1, t2 });
        }
        self.with_view(|v| crate::snapshot::half_open(t1, t2).map_or(0, |(lo, hi)| v.count(lo, hi)))
    }

    /// Visible records per time bucket of `[t1, t2)`, from one consistent
    /// view; see [`Snapshot::histogram`] for the bucket layout and errors.
    pub fn histogram(&self, t1: Timestamp, t2: Timestamp, bucket: Timestamp) -> Result<Vec<u64>> {
        let b = crate::query::histogram::Buckets::new(t1, t2, bucket)?;
        self.with_view(|v| v.histogram(&b))
    }

    /// Whether no record is visible.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.min_ts()?.is_none())
    }

    /// Zero-copy spans of flushed pages overlapping `[t1, t2)` (`None`
    /// bounds = unbounded).
    pub fn page_spans(&self, t1: Option<Timestamp>, t2: Option<Timestamp>) -> Result<Vec<PageSpan<T>>> {
        let lo = t1.unwrap_or(Timestamp::MIN);
        let hi = match t2 {
            None => Timestamp::MAX,
            Some(t2) if t2 <= lo => return Ok(Vec::new()),
            Some(t2) => t2 - 1,
        };
        Ok(self.snapshot()?.page_spans(lo, hi))
    }

    // ----- maintenance --------------------------------------------------

    /// Seals the active memtable and flushes every sealed one into L0, so
    /// that page views see every write made before the call.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.seal_active();
        self.inner.flush_sealed();
        Ok(())
    }

    /// Flushes, then compacts all of L0 and every L1 window with pending
    /// deletes into L1, dropping deleted records (and their payloads).
    pub fn compact(&self) -> Result<()> {
        self.flush()?;
        let _g = self.inner.lock_maint();
        while self.inner.compact_once(true) {
            if self.inner.manifest.load().l0.is_empty() && self.inner.manifest.load().tombstones.is_empty() {
                break;
            }
        }
        drop(_g);
        self.inner.notify_progress();
        Ok(())
    }

    /// One unit of maintenance (flush a few sealed memtables, or one
    /// compaction when triggered). Returns whether it did any work.
    pub fn maint_step(&self) -> Result<bool> {
        self.inner.check_open()?;
        Ok(self.inner.maint_step())
    }

    /// Starts the background worker (idempotent).
    pub fn start_maintenance(&self) -> Result<()> {
        self.inner.check_open()?;
        let mut slot = self.worker.lock().unwrap();
        if slot.is_some() {
            return Ok(());
        }
        {
            let mut st = self.inner.worker.lock().unwrap();
            st.stop = false;
            st.running = true;
        }
        let inner = self.inner.clone();
        let h = crate::sync::thread::Builder::new()
            .name("timelog-maint".into())
            .spawn(move || {
                lower_thread_priority(inner.cfg.maintenance_nice);
                inner.worker_loop()
            })
            .map_err(|e| Error::InvalidConfig(format!("cannot start the maintenance thread: {e}")))?;
        *slot = Some(h);
        Ok(())
    }

    /// Stops the background worker and waits for it (idempotent). Called
    /// on the worker thread itself (from code a payload release runs), it
    /// tells the worker to stop and returns: the worker exits when the
    /// current step ends.
    pub fn stop_maintenance(&self) {
        let h = self.worker.lock().unwrap().take();
        if let Some(h) = h {
            self.inner.worker.lock().unwrap().stop = true;
            self.inner.worker_cv.notify_all();
            if h.thread().id() != crate::sync::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Tells the background worker to stop without waiting for it to finish
    /// its current step (it exits on its own; the data it still references
    /// is released when it does). For owners that must not block, like a
    /// Python finalizer.
    pub fn stop_maintenance_detached(&self) {
        let h = self.worker.lock().unwrap().take();
        if h.is_some() {
            self.inner.worker.lock().unwrap().stop = true;
            self.inner.worker_cv.notify_all();
        }
    }

    /// Whether the background worker runs.
    pub fn maintenance_running(&self) -> bool {
        self.worker.lock().unwrap().is_some()
    }

    /// Prepares the log for a `fork()` of the process: stops the
    /// background worker (waiting for its current step) and takes the
    /// maintainer lock, so the child inherits neither a worker that does not
    /// exist there nor a maintainer lock held by a thread that does not
    /// exist there. Call [`ForkGuard::finish`] after the fork, in the parent
    /// and in the child: it releases the lock and restarts the worker if it
    /// was running. Writes and reads stay possible meanwhile (a write that
    /// needs the maintainer lock — `busy_policy = Flush` without a worker —
    /// waits for `finish`).
    pub fn fork_prepare(&self) -> ForkGuard<'_, T> {
        let restart = self.maintenance_running();
        self.stop_maintenance();
        let maint = self.inner.lock_maint();
        ForkGuard { log: self, maint: Some(maint), restart }
    }

    /// Visits every payload that only this log's current state holds: the
    /// records of the memtables and segments of the current manifest that
    /// no snapshot, other manifest or maintenance step also references.
    /// Shared parts are skipped (their payloads are not reported), so a
    /// payload is reported by at most one owner — what a cycle collector
    /// needs of its traversal (Python's `tp_traverse`). Takes no lock and
    /// allocates nothing on the payload side; it may run while writers and
    /// maintainers work (it then reports a subset).
    pub fn for_each_owned_payload(&self, f: &mut dyn FnMut(&T)) {
        if self.inner.closed.load(Ordering::Acquire) {
            return;
        }
        let m = self.inner.manifest.load();
        // The cell's own reference; under the model checkers a load also
        // takes one.
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        let own = 1;
        #[cfg(any(timelog_loom, timelog_shuttle))]
        let own = 2;
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        let count = Arc::strong_count(&*m);
        #[cfg(any(timelog_loom, timelog_shuttle))]
        let count = Arc::strong_count(&m);
        if count == own {
            crate::snapshot::visit_owned_parts(&m, f);
        }
    }

    /// Drops everything the log holds and marks it closed, like
    /// [`close`](Self::close) but without waiting and whatever snapshots
    /// are alive (they keep what they reference). For a cycle collector's
    /// clear step (Python's `tp_clear`): returns `false`, doing nothing,
    /// when a maintainer holds the maintainer lock (try again later).
    pub fn discard(&self) -> bool {
        let Some(g) = self.inner.try_lock_maint() else {
            return false;
        };
        self.inner.closed.store(true, Ordering::Release);
        self.stop_maintenance_detached();
        self.inner.publish_empty();
        drop(g);
        true
    }

    // ----- lifecycle ----------------------------------------------------

    /// Live snapshots (cursors, page spans, explicit snapshots).
    pub fn pinned(&self) -> usize {
        self.inner.pins.total()
    }

    /// Discards all data and refuses every later operation with
    /// [`Error::Closed`]. Refused with [`Error::Pinned`] while snapshots are
    /// alive. Closing twice is fine.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let n = self.pinned();
        if n > 0 {
            return Err(Error::Pinned(n));
        }
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop_maintenance();
        let _g = self.inner.lock_maint();
        // Publish an empty manifest: the old one, and everything only it
        // referenced, is dropped as soon as in-flight one-shot reads end.
        self.inner.publish_empty();
        Ok(())
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    // ----- introspection ------------------------------------------------

    /// Counters and layer sizes.
    pub fn stats(&self) -> Stats {
        let i = &self.inner;
        let m = i.manifest.load();
        let c = &i.counters;
        let segs = m.l0.iter().chain(m.l1.iter());
        let (min_ts, max_ts) = if i.closed.load(Relaxed) {
            (None, None)
        } else {
            (self.min_ts().unwrap_or(None), self.max_ts().unwrap_or(None))
        };
        let mut tombstone_count = m.tombstones.len();
        let mut mem_records = 0;
        for mt in m.sealed.iter().chain(std::iter::once(&m.active)) {
            mt.tombs.for_each(|_| tombstone_count += 1);
            mem_records += mt.len();
        }
        let windows: std::collections::BTreeSet<_> = m.l1.iter().map(|s| s.window).collect();
        Stats {
            segments_l0: m.l0.len(),
            segments_l1: m.l1.len(),
            pages_total: segs.clone().map(|s| s.pages.len()).sum(),
            records_estimate: if i.closed.load(Relaxed) {
                segs.map(|s| s.len).sum::<usize>() + mem_records
            } else {
                self.len().unwrap_or(0)
            },
            records_stored: m.l0.iter().chain(m.l1.iter()).map(|s| s.len).sum::<usize>() + mem_records,
            min_ts,
            max_ts,
            tombstone_count,
            active_records: m.active.len(),
            ooo_records: m.active.ooo_len(),
            sealed_runs: m.sealed.len(),
            seals_total: c.seals_total.load(Relaxed),
            ooo_budget_hits: c.ooo_budget_hits.load(Relaxed),
            backpressure_waits: c.backpressure_waits.load(Relaxed),
            flushes_total: c.flushes_total.load(Relaxed),
            compactions_total: c.compactions_total.load(Relaxed),
            compaction_retries: c.compaction_retries.load(Relaxed),
            compaction_publish_ebusy: c.compaction_publish_ebusy.load(Relaxed),
            busy_events: c.busy_events.load(Relaxed),
            extend_skipped: c.extend_skipped.load(Relaxed),
            retired_queue_len: i.retired.load(Relaxed),
            pinned_readers: i.pins.total(),
            window_size: i.l1_window(),
            window_origin: i.cfg.cfg.window_origin,
            max_delta_segments: i.cfg.max_delta_segments,
            delete_debt: i.delete_debt(&m),
            l1_windows: windows.len(),
            select_calls: c.select_calls.load(Relaxed),
            select_l0_inputs: c.select_l0_inputs.load(Relaxed),
            select_l1_inputs: c.select_l1_inputs.load(Relaxed),
            select_no_work: c.select_no_work.load(Relaxed),
            adaptive_ewma_density: f64::from_bits(c.adaptive_ewma_bits.load(Relaxed)),
            adaptive_flush_count: c.adaptive_flush_count.load(Relaxed),
            adaptive_failures: c.adaptive_failures.load(Relaxed),
            visible_seq: i.visible.load(Relaxed),
            manifest_version: m.version,
        }
    }

    /// Checks the engine's invariants; returns the first violation.
    pub fn validate(&self) -> Result<()> {
        crate::validate::validate(&self.inner)
    }

    #[cfg(feature = "test-hooks")]
    /// Test hook: close (`true`) or open the gate at `p`.
    pub fn test_gate(&self, p: crate::hooks::Point, closed: bool) {
        self.inner.hooks.gates.set(p, closed);
    }

    #[cfg(feature = "test-hooks")]
    /// Test hook: wait until `n` threads have reached `p` in total.
    pub fn test_wait_reached(&self, p: crate::hooks::Point, n: usize, timeout: Duration) -> bool {
        self.inner.hooks.gates.wait_reached(p, n, timeout)
    }

    #[cfg(feature = "test-hooks")]
    /// Test hook: how many times `p` was reached.
    pub fn test_reached(&self, p: crate::hooks::Point) -> usize {
        self.inner.hooks.gates.reached(p)
    }

    #[cfg(feature = "test-hooks")]
    /// Test hook: seal the active memtable now (from this thread).
    pub fn test_seal_active(&self) -> bool {
        self.inner.seal_active()
    }
}

/// What [`Timelog::fork_prepare`] holds across a `fork()`: the maintainer
/// lock, and whether to restart the worker.
#[must_use = "call finish() after the fork, in the parent and in the child"]
pub struct ForkGuard<'a, T: Clone + Send + Sync + 'static> {
    log: &'a Timelog<T>,
    maint: Option<MaintGuard<'a, T>>,
    restart: bool,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for ForkGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkGuard").field("restart", &self.restart).finish()
    }
}

impl<T: Clone + Send + Sync + 'static> ForkGuard<'_, T> {
    /// Releases the maintainer lock and restarts the background worker if
    /// it ran before the fork (in the child: a new thread).
    pub fn finish(mut self) -> Result<()> {
        drop(self.maint.take());
        if self.restart && !self.log.is_closed() {
            self.log.start_maintenance()?;
        }
        Ok(())
    }
}

impl<T: Clone + Send + Sync + 'static> Default for Timelog<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + Sync + 'static> Drop for Timelog<T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        self.stop_maintenance();
    }
}

#[cfg(any(timelog_loom, timelog_shuttle))]
mod model_hooks;

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
