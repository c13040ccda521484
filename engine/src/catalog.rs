//! The catalog: the manifest cell, the pins, publication, the graveyard of
//! replaced manifests, and THE snapshot function.
//!
//! **Owns** the [`ManifestCell`] (the one published pointer to the current
//! [`Manifest`]), the log's [`PinCounter`] (one `Arc` of it in every
//! manifest), the count of retired parts, the part ids, and the *graveyard*: manifests a
//! maintainer's publication replaced, kept until they can be dropped with no
//! engine lock held (R12).
//!
//! **Upholds**
//! - R5 (snapshots): [`Catalog::read`] is the only place a reader's view is
//!   taken — manifest first, then the watermark, capped by the active
//!   memtable's seal bound. Owned snapshots (iterators, page spans,
//!   `Timelog::snapshot`) and one-shot reads (`len`, `next_ts`, `log[ts]`,
//!   point reads, counts) are both built from its [`ReadPoint`].
//! - R5/R9 (publication, reclamation): every manifest is published by one
//!   compare-and-swap of the cell; the publisher retires the manifest it
//!   replaced (R9, "Holds": owned snapshots hold a manifest on their
//!   thread's stripe, without a shared reference count, and the last holder
//!   reclaims it — [`manifest::retire`](crate::manifest::retire)), as does
//!   the catalog's drop for its last one; parts are freed when the last
//!   manifest or snapshot holding them goes away.
//! - R12 (payload drops outside locks): [`Catalog::publish_maint`] buries the
//!   replaced manifest instead of dropping it; [`Catalog::drain_graveyard`]
//!   drops the buried ones ([`Catalog::drop_unburdened`] earlier, those
//!   whose drop drops no payload). The graveyard lives here because what it holds
//!   are manifests and whether one may be buried is a question about the
//!   cell (is it current? is this the last reference?); *when* it is drained
//!   — after the maintainer lock is released, on the worker — is the
//!   maintainer's decision (`maint/`).
//!
//! **Owns** also the *door* ([`Door`]): the writers' way to the current
//! manifest's active memtable (R1, R2), replaced together with the
//! manifest's active memtable by the holder of its seal only — so that a
//! writer reaches the active memtable without loading the manifest.
//!
//! **Callers:** the facade (`timelog.rs`: the write path enters the active
//! memtable through the door, R1; reads call [`Catalog::read`]; `close`
//! and `discard` call [`Catalog::publish_empty`] under the maintainer lock);
//! the maintainer (`maint/`: seal publishes with [`Catalog::publish`],
//! flush and compaction with [`Catalog::publish_maint`] under the
//! maintainer lock, R10); `validate.rs` (reads). The query layer never sees
//! the catalog: it reads a `View` or a `Snapshot`.

use crate::hooks::Hooks;
use crate::manifest::{guard_into_arc, retire, Manifest, ManifestCell, ManifestGuard};
use crate::memtable::door::Door;
use crate::memtable::Memtable;
use crate::pin::PinCounter;
use crate::query::plan::View;
use crate::query::snapshot::{Evicted, Snapshot};
use crate::segment::Segment;
use crate::sequencer::Sequencer;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::{SeqNo, TimeUnit};

/// Manifests a maintainer replaced, dropped only once the maintainer lock
/// is released (R12); and snapshots a publication evicted from a park that
/// may hold the last reference to an older manifest (R9, "Parking").
struct Graveyard<T>(Mutex<Vec<Arc<Manifest<T>>>>, Mutex<Vec<Evicted<T>>>);

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

impl<T> Graveyard<T> {
    fn bury(&self, m: Arc<Manifest<T>>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(m);
    }

    fn bury_evicted(&self, s: Evicted<T>) {
        self.1.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    /// Takes the buried manifests `take` picks, leaving the others buried
    /// (no allocation when it picks all of them or none).
    fn take_if(&self, take: impl Fn(&Arc<Manifest<T>>) -> bool) -> Vec<Arc<Manifest<T>>> {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match g.iter().filter(|m| take(m)).count() {
            0 => Vec::new(),
            n if n == g.len() => std::mem::take(&mut *g),
            _ => {
                let (taken, kept) = std::mem::take(&mut *g).into_iter().partition(|m| take(m));
                *g = kept;
                taken
            }
        }
    }
}

/// The manifest cell and what belongs to it; see the module docs.
pub(crate) struct Catalog<T> {
    cell: ManifestCell<T>,
    /// Live snapshots (R9); the same `Arc` is in every manifest.
    pins: Arc<PinCounter>,
    /// Parts removed from the current manifest but still referenced.
    retired: Arc<AtomicUsize>,
    /// Ids of memtables and segments.
    ids: AtomicU64,
    /// Manifests replaced by a maintainer's publication, kept alive until
    /// the maintainer lock is released: dropping one may drop the last
    /// reference to payloads, whose release may run embedder code (a Python
    /// `__del__`) that calls back into the log — so payload drops happen
    /// outside every engine lock (R12).
    graveyard: Graveyard<T>,
    /// The writers' way to the current manifest's active memtable (R1, R2):
    /// replaced, with the manifest, only by the holder of its SEALED bit.
    door: Door<T>,
    /// The current manifest's count of sealed memtables, for the writers'
    /// backpressure check (which no longer loads the manifest): every
    /// successful publication adds its change. A heuristic: between two
    /// racing publications it may be off by one for a moment, and the
    /// backpressure path checks the manifest itself before acting.
    sealed_runs: crate::sync::stat::AtomicUsize,
    /// The epochs of every memtable's late floor (R13 (6)): sized for the
    /// records of a full memtable.
    floor_shift: u32,
    /// The log's [`BitwisePayloads`](crate::BitwisePayloads) promise,
    /// given to every memtable (`Memtable::bitwise`).
    bitwise: bool,
}

impl<T> std::fmt::Debug for Catalog<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("manifest", &*self.cell.load()).finish()
    }
}

/// What one read sees: the manifest it loaded and its watermark `w`
/// (R5), taken by [`Catalog::read`] — the one snapshot function. A one-shot
/// read borrows it for the call ([`view`](Self::view): the manifest stays
/// in its arc-swap debt slot, no pin is counted); an owned snapshot is
/// made from it ([`into_snapshot`](Self::into_snapshot): an `Arc` and a pin).
pub(crate) struct ReadPoint<T> {
    m: ManifestGuard<T>,
    w: SeqNo,
}

impl<T: Send + Sync + 'static> ReadPoint<T> {
    /// The view of a one-shot read.
    #[inline]
    pub(crate) fn view(&self) -> View<'_, T> {
        View { m: &self.m, w: self.w }
    }

    /// An owned, pinned snapshot (R9): a hold on this thread's stripe of
    /// the manifest, no shared reference count ("Holds").
    #[inline]
    pub(crate) fn into_snapshot(self) -> Snapshot<T> {
        Snapshot::new(self.m, self.w)
    }
}

impl<T: Clone + Send + Sync + 'static> Catalog<T> {
    /// A catalog whose manifest holds one empty memtable (id 0), no
    /// segments and no tombstones.
    /// `records`: about how many records a full memtable holds (its late
    /// floor's epochs cover them, R13 (6)).
    /// `bitwise`: the log's `BitwisePayloads` promise.
    pub(crate) fn new(unit: TimeUnit, records: usize, bitwise: bool) -> Self {
        let retired = Arc::new(AtomicUsize::new(0));
        let floor_shift = crate::memtable::floor::LateFloor::shift_for(records);
        let active = Arc::new(Memtable::new(0, &retired, floor_shift).bitwise(bitwise));
        let door = Door::new(&active);
        let pins = Arc::new(PinCounter::new(unit, 0));
        let manifest = Manifest {
            version: 0,
            active,
            sealed: Vec::new(),
            l0: Vec::new(),
            l1: Vec::new(),
            tombstones: Arc::new(Vec::new()),
            flushed_bound: 0,
            pins: pins.clone(),
            holds: Default::default(),
            holders_region: crate::sync::Region::new(),
        };
        Self {
            cell: ManifestCell::new(manifest),
            pins,
            retired,
            ids: AtomicU64::new(1),
            graveyard: Graveyard(Mutex::new(Vec::new()), Mutex::new(Vec::new())),
            door,
            sealed_runs: crate::sync::stat::AtomicUsize::new(0),
            floor_shift,
            bitwise,
        }
    }

    /// The door to the active memtable (R1, R2).
    #[inline]
    pub(crate) fn door(&self) -> &Door<T> {
        &self.door
    }

    /// The current manifest's count of sealed memtables, as the last
    /// publications left it (see the field: a heuristic for backpressure).
    #[inline]
    pub(crate) fn sealed_runs(&self) -> usize {
        self.sealed_runs.load(Ordering::Relaxed)
    }

    /// The cell's compare-and-swap from `cur` to `next` (R5), shared by
    /// both publications; on success it adds the publication's change of
    /// the sealed count (wrapping: two racing publishers may apply theirs in
    /// either order).
    /// Then it sweeps the parks (R9, "Parking"): no snapshot of `cur` or
    /// older parks after this returns, and what was parked is evicted.
    #[inline]
    fn swap(&self, cur: &Arc<Manifest<T>>, next: Manifest<T>) -> bool {
        let (a, b) = (cur.sealed.len(), next.sealed.len());
        let version = next.version;
        if !self.cell.publish(cur, next) {
            return false;
        }
        if a != b {
            self.sealed_runs.fetch_add(b.wrapping_sub(a), Ordering::Relaxed);
        }
        self.sweep_parks(version, cur);
        true
    }

    /// A publication's sweep (R9, "Parking"): raises every park to the
    /// generation of `version` (the manifest just published over `cur`) —
    /// or the current one if a later publication already happened — and
    /// evicts the parked snapshots. Dropping one cannot drop its manifest
    /// while that manifest is not retired: its publisher, which retires it
    /// after its own sweep, holds it until then. That covers `cur` (this
    /// caller holds it) and an older manifest whose publisher's sweep has
    /// not reached the stripe yet (how a snapshot of it is still parked):
    /// dropped at once. One of a retired manifest (parked in the window of
    /// a take that left a park a generation behind, see
    /// [`snapshot`](Self::snapshot)) may hold its last reference: it is
    /// buried (R12), since a publisher may hold the maintainer lock or the
    /// door's claim.
    fn sweep_parks(&self, version: u64, cur: &Arc<Manifest<T>>) {
        let gen = version.max(self.cell.version());
        self.pins.sweep(gen, &mut |addr| {
            // SAFETY: R9 (Parking): `addr` was just evicted from a park by
            // this sweep's CAS, so it is a parked snapshot of this log's
            // `T`, and ours.
            let s = unsafe { Evicted::<T>::new(addr) };
            let m = s.manifest();
            let v = m.version;
            if std::ptr::eq(m, Arc::as_ptr(cur)) || !m.holds.is_retired() {
                drop(s);
            } else {
                self.bury_evicted(s);
            }
            v
        });
    }

    #[cold]
    #[inline(never)]
    fn bury_evicted(&self, s: Evicted<T>) {
        self.graveyard.bury_evicted(s);
    }

    /// An owned snapshot (R5, R9): the one this thread's stripe parked, if
    /// its manifest is still the current one, with its watermark read now;
    /// else a new one ([`read`](Self::read)). See docs/protocol.md, R9
    /// "Parking".
    #[inline]
    pub(crate) fn snapshot(&self, seq: &Sequencer) -> Snapshot<T> {
        let stripe = crate::pin::stripe();
        // The version before the take: the park is left empty for it.
        let current = self.cell.version();
        if let Some(addr) = self.pins.take(stripe, current) {
            // SAFETY: R9 (Parking): the take's CAS removed `addr` from the
            // park, so it is a parked snapshot of this log's `T`, and ours.
            let mut s = unsafe { Snapshot::<T>::from_parked(addr) };
            let v = s.manifest().version;
            if v == current || self.unpark_late(stripe, v) {
                // R5: the manifest was current at the load of `current`
                // (or, late, at `unpark_late`'s), before the watermark is
                // read — as a load of the cell is before a reader's
                // watermark.
                let w = Self::watermark(s.manifest(), seq);
                s.refresh(w);
                return s;
            }
            // Of a replaced manifest: freed. It does not park again:
            // `unpark_late` swept the park to the current version, which is
            // not its own.
            drop(s);
        }
        self.read(seq).into_snapshot()
    }

    /// The rare case of [`snapshot`](Self::snapshot): the snapshot taken
    /// out of the park is not of the version loaded before the take. Either
    /// its manifest was replaced (its version is older: the publication's
    /// sweep had not reached this stripe), or it was parked after a
    /// publication newer than that load (the park's word held another
    /// snapshot at the same address when it was loaded: freed and
    /// reallocated meanwhile) — then the take left the park a generation
    /// behind, and a snapshot of a replaced manifest may have parked since.
    /// Either way the stripe is swept again up to the current generation
    /// (evicting and freeing what parked in that window), and the caller
    /// may keep the snapshot iff it is of the current manifest now.
    #[cold]
    #[inline(never)]
    fn unpark_late(&self, stripe: usize, v: u64) -> bool {
        let now = self.cell.version();
        self.pins.sweep_stripe(stripe, now, &mut |addr| {
            // SAFETY: R9 (Parking): evicted by this sweep's CAS: ours. A
            // reader's thread holds no engine lock (R12).
            unsafe { Evicted::<T>::new(addr) }.manifest().version
        });
        v == now
    }

    /// R5's watermark of a read of `m`: the sequencer's visible sequence,
    /// capped by `m`'s active memtable's seal bound.
    #[inline]
    fn watermark(m: &Manifest<T>, seq: &Sequencer) -> SeqNo {
        #[cfg(not(timelog_fault = "snapshot_no_cap"))]
        let w = seq.visible().min(m.active.seal_bound());
        // Seeded fault (R5): the watermark is not capped by the seal bound.
        #[cfg(timelog_fault = "snapshot_no_cap")]
        let w = {
            let _ = m;
            seq.visible()
        };
        w
    }

    /// Evicts every parked snapshot and keeps snapshots of the current
    /// manifest from parking until the next publication (the parks are
    /// raised one generation past it), so that [`PinCounter::total`] then
    /// counts the live snapshots only: for `pinned()` and `close()`. The
    /// caller holds no engine lock (R12).
    pub(crate) fn evict_parked(&self) {
        let gen = self.cell.version() + 1;
        self.pins.sweep(gen, &mut |addr| {
            // SAFETY: R9 (Parking): evicted by this sweep's CAS: ours.
            unsafe { Evicted::<T>::new(addr) }.manifest().version
        });
    }

    /// Test hook: how many parked snapshots hold a manifest that is not
    /// the current one. Only meaningful when no other thread uses the log
    /// (the end of a model-checked scenario, a test): no publication ever
    /// leaves one (R9, "Parking").
    pub(crate) fn parked_stale(&self) -> usize {
        let now = self.cell.version();
        self.pins
            .parked_addrs()
            .into_iter()
            .filter(|&addr| {
                // SAFETY: R9 (Parking): the caller's contract — no other
                // thread takes, parks or evicts meanwhile — keeps `addr` a
                // parked snapshot, alive, and not freed here (forgotten).
                let s = std::mem::ManuallyDrop::new(unsafe { Snapshot::<T>::from_parked(addr) });
                s.manifest().version != now
            })
            .count()
    }

    /// THE snapshot function (R5): loads the manifest (Acquire), then the
    /// watermark (Acquire), and caps it at the active memtable's seal bound.
    /// The cap matters when the loaded manifest's active memtable was sealed
    /// meanwhile: a record of its successor (not reachable from this
    /// manifest) may already be visible; the seal bound, stored before the
    /// successor was published (R2), excludes it. Every read path — owned
    /// snapshots and one-shot reads alike — starts here, or at
    /// [`read_wfree`](Self::read_wfree), which takes the same two loads in
    /// the same order when its answer needs the watermark (R15).
    #[inline]
    pub(crate) fn read(&self, seq: &Sequencer) -> ReadPoint<T> {
        let m = self.cell.load();
        let w = Self::watermark(&m, seq);
        ReadPoint { m, w }
    }

    /// A one-shot read that loads the watermark only if its answer needs
    /// it (R15): `wfree` reads the manifest without one and returns `None`
    /// when the answer may depend on it; then `f` reads a view of the same
    /// manifest with the watermark loaded now — [`read`](Self::read)'s
    /// order (manifest, then watermark), the manifest loaded a little
    /// earlier. Both closures get `ctx`, the caller's state (a payload
    /// callback). An appender advances the watermark on every commit: a
    /// reader of older records that loads it takes the appender's cache
    /// line on every read.
    #[inline]
    pub(crate) fn read_wfree<C, R>(
        &self,
        seq: &Sequencer,
        ctx: &mut C,
        wfree: impl FnOnce(&Manifest<T>, &mut C) -> Option<R>,
        f: impl FnOnce(View<'_, T>, &mut C) -> R,
    ) -> R {
        let m = self.cell.load();
        if let Some(r) = wfree(&m, ctx) {
            crate::hooks::wfree_answered();
            return r;
        }
        let w = Self::watermark(&m, seq);
        f(View { m: &m, w }, ctx)
    }

    /// A short-lived borrow of the current manifest (R9).
    #[inline]
    pub(crate) fn load(&self) -> ManifestGuard<T> {
        self.cell.load()
    }

    /// An owned reference to the current manifest.
    #[inline]
    pub(crate) fn load_full(&self) -> Arc<Manifest<T>> {
        self.cell.load_full()
    }

    /// Whether `m` is the current manifest (no reference is taken).
    #[inline]
    pub(crate) fn is_current(&self, m: &Manifest<T>) -> bool {
        self.cell.is_current(m)
    }

    /// Publishes `next` iff the current manifest is still `cur` (R5: one
    /// CAS). For the sealer (R2), whose replaced manifest stays referenced
    /// by the writers and readers that loaded it; maintainers use
    /// [`publish_maint`](Self::publish_maint).
    /// On success the replaced manifest is retired (R9, "Holds"); the
    /// caller's `cur` outlives that, so nothing is freed here. If a reader
    /// still holds or references it, it is buried too: a seal's
    /// replacement shares every part with its successor, but a flush may
    /// replace that successor soon after, and then the reader of this
    /// manifest would be the last owner of the flushed memtable and release
    /// its payloads on its own thread — the graveyard keeps it instead
    /// (see [`drain_graveyard`](Self::drain_graveyard)). Only with
    /// `worker` (a background worker runs, so a drain comes within a
    /// wake-up period): without one nothing would drain the graveyard
    /// until the next maintenance call, and the buried manifest's parts
    /// and payloads would outlive every reader (shuttle's
    /// `writers_readers_maintainer` caught that: retired parts left at the
    /// end). Nothing else changes for the caller (a sealing writer or a
    /// maintainer): burying is a push under the graveyard's leaf mutex.
    #[inline]
    pub(crate) fn publish(&self, cur: &Arc<Manifest<T>>, next: Manifest<T>, worker: bool) -> bool {
        if !self.swap(cur, next) {
            return false;
        }
        let back = retire(cur.clone());
        // Holds in flight (`None`), or references besides the caller's and
        // the holders' one just handed back (the publication paid every
        // borrow's debt, so the count includes them; none can be added to
        // a replaced manifest but by its holders).
        if worker && (back.is_none() || Arc::strong_count(cur) > 2) {
            self.bury_shared(cur);
        }
        drop(back);
        true
    }

    #[cold]
    #[inline(never)]
    fn bury_shared(&self, cur: &Arc<Manifest<T>>) {
        self.graveyard.bury(cur.clone());
    }

    /// Publishes `next` over `cur` for a maintainer (the caller holds the
    /// maintainer lock, R10). On success the replaced manifest goes to the
    /// graveyard, so that neither this publication nor the caller's own
    /// references drop payloads while the lock is held (R12), and is
    /// retired (R9, "Holds": if no snapshot holds it, the holders'
    /// reference comes straight back and is dropped here — never the last
    /// one, the graveyard's is buried first).
    pub(crate) fn publish_maint(&self, cur: &Arc<Manifest<T>>, next: Manifest<T>) -> bool {
        if !self.swap(cur, next) {
            return false;
        }
        self.graveyard.bury(cur.clone());
        drop(retire(cur.clone()));
        true
    }

    /// Publishes an empty manifest (a fresh memtable, no segments, no
    /// tombstones) for `close` and `discard`; the caller holds the
    /// maintainer lock, so the replaced manifest goes to the graveyard (R12).
    ///
    /// The active memtable is replaced like a seal replaces it (R2): this
    /// call claims the door (waiting, in `hooks`' snooze steps, for a seal
    /// in progress to finish first — that sealer takes no engine lock),
    /// waits for the tickets taken from the replaced memtable before the
    /// claim to commit (R1, R2: `Claim::seal`), publishes, and puts the
    /// fresh memtable behind the door. A writer that entered before the
    /// claim wrote into the replaced memtable, which is discarded: such a
    /// write raced the close.
    pub(crate) fn publish_empty(&self, seq: &Sequencer, hooks: &Hooks) {
        let mut b = crate::sync::Backoff::new();
        let claim = self.door.seal_claim(|| hooks.snooze(&mut b));
        // The claimant is the only thread that replaces the active memtable:
        // the current manifest's is the one behind the door. Writers that
        // took its tickets before the claim may still be writing into it:
        // it is replaced and dropped only after they committed.
        let x = self.load_full().active.clone();
        let bound = claim.seal(&x, seq, hooks);
        drop(x);
        let fresh = self.new_memtable(bound);
        loop {
            let cur = self.load_full();
            let mut next = cur.successor();
            next.active = fresh.clone();
            next.sealed.clear();
            next.l0.clear();
            next.l1.clear();
            next.tombstones = Arc::new(Vec::new());
            if self.publish_maint(&cur, next) {
                break;
            }
        }
        self.door.install(&fresh);
    }

    /// Buries `m` if it is the last reference to a replaced manifest;
    /// returns whether it did. Takes only the graveyard's mutex (callable
    /// with the maintainer's worker mutex held).
    pub(crate) fn bury_if_last(&self, m: ManifestGuard<T>) -> bool {
        if self.is_current(&m) {
            return false;
        }
        // A guard of a replaced manifest owns a full reference (the
        // publisher paid its debt), so this does not clone.
        let m = guard_into_arc(m);
        if Arc::strong_count(&m) == 1 {
            self.graveyard.bury(m);
            return true;
        }
        false
    }

    /// Drops now, outside the payload scope, the buried manifests whose
    /// drop frees memory only: each one no one else references (a count of
    /// 1 is final, see [`drain_graveyard`](Self::drain_graveyard)) whose
    /// parts are all in the current manifest as well — its L1 list the
    /// current one's, its L0 list a prefix of it, each of its memtables the
    /// current active or sealed one, or one whose payloads a flush moved
    /// to a segment of the current L0 (`Memtable::heir`) — or any of them
    /// when `T` needs no drop. Dropping such a manifest drops no payload
    /// (R12 is about payload drops), so it may run under the maintainer
    /// lock and without the scope: every flush calls it once published
    /// (`Maint::flush_one`), so the memtable it replaced is freed before
    /// the next flush starts, whose segment pages then reuse its run
    /// buckets (`segment::block`'s pool) instead of fresh pages (issue
    /// 13's 2M `bulk_append` row). The others stay
    /// buried for [`drain_graveyard`](Self::drain_graveyard).
    pub(crate) fn drop_unburdened(&self) {
        let cur = self.load_full();
        let dead = self
            .graveyard
            .take_if(|m| Arc::strong_count(m) == 1 && (!std::mem::needs_drop::<T>() || drops_no_payload(m, &cur)));
        // `cur` outlives this drop, so none of its parts goes with it.
        drop(dead);
        drop(cur);
    }

    /// Drops the buried manifests, in `hooks`' payload scope. Called with
    /// no engine lock held (R12).
    ///
    /// With `keep_shared` (the caller knows a background worker runs, which
    /// drains again within a wake-up period) a buried manifest that someone
    /// else still references stays buried, and a later drain drops it once
    /// the graveyard's is its only reference (R12, "the graveyard keeps
    /// what is shared"). The other owner is a reader — a one-shot read's
    /// borrow that the publication paid for (an arc-swap debt turned into a
    /// reference), an owned snapshot's holders' reference (R9) — or a
    /// writer's guard. Dropped now, that owner would hold the last
    /// reference and release on its own thread every payload only the
    /// replaced manifest kept: a flushed memtable's, up to
    /// `memtable_max_bytes` of records, inside a point read or a `next()`
    /// (on free-threaded Python, a reader beside a retention writer spent a
    /// quarter of its CPU there; docs/threading.md, "Retention"). A count
    /// of 1 is final: a replaced manifest is reachable only through the
    /// references counted here (the publication paid every debt on it
    /// before it was buried), so no new one can appear.
    pub(crate) fn drain_graveyard(&self, hooks: &Hooks, keep_shared: bool) {
        // Evicted snapshots first: their holds may be what keeps a buried
        // manifest shared.
        let evicted = std::mem::take(&mut *self.graveyard.1.lock().unwrap_or_else(|e| e.into_inner()));
        if !evicted.is_empty() {
            let mut evicted = Some(evicted);
            hooks.scoped(&mut || drop(evicted.take()));
            drop(evicted);
        }
        // With `keep_shared`, a shared one stays buried: dropped by a later
        // drain, or with the catalog.
        let dead = self.graveyard.take_if(|m| !keep_shared || Arc::strong_count(m) == 1);
        if dead.is_empty() {
            return;
        }
        let mut dead = Some(dead);
        hooks.scoped(&mut || drop(dead.take()));
        // Scope skipped (the embedder is shutting down): drop here.
        drop(dead);
    }

    /// A fresh id for a memtable or a segment.
    #[inline]
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh, empty memtable for sequences above `base` (the seal's
    /// successor: `base` is the sealed one's bound; a bulk run's: the run's
    /// last sequence; `publish_empty`'s: the sequences allocated before it).
    pub(crate) fn new_memtable(&self, base: SeqNo) -> Arc<Memtable<T>> {
        Arc::new(Memtable::new(self.next_id(), &self.retired, self.floor_shift).bitwise(self.bitwise).above(base))
    }

    /// The count of retired parts, shared with every part built.
    #[inline]
    pub(crate) fn retired(&self) -> &Arc<AtomicUsize> {
        &self.retired
    }

    /// The snapshot counter and the parks (R9).
    #[inline]
    pub(crate) fn pins(&self) -> &PinCounter {
        &self.pins
    }

    /// Visits every payload the current manifest's parts hold, each part
    /// once, whoever else shares them (see `Timelog::for_each_payload`).
    pub(crate) fn for_each_payload(&self, f: &mut dyn FnMut(&[T])) {
        let m = self.cell.load();
        crate::query::snapshot::visit_parts(&m, false, f);
    }
}

impl<T> Drop for Catalog<T> {
    /// The cell's last manifest is retired as the cell goes (R9, "Holds"):
    /// snapshots may outlive the log, and the ones holding it keep it alive
    /// by the holders' reference from here on.
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        // No snapshot parks after this (R9, "Parking"); the parked ones go
        // now (snapshots outliving the log keep what they hold).
        self.pins.sweep(crate::pin::GEN_CLOSED, &mut |addr| {
            // SAFETY: R9 (Parking): evicted by this sweep's CAS: ours.
            unsafe { Evicted::<T>::new(addr) }.manifest().version
        });
        drop(retire(self.cell.load_full()));
    }
}

/// Whether dropping replaced manifest `m` (its last reference) drops no
/// payload while `cur` lives: every part of `m` is a part of `cur` too, or a
/// memtable whose payloads belong to its heir segment in `cur`'s L0
/// ([`Catalog::drop_unburdened`]). Pointer comparisons along the lists a
/// flush leaves unchanged (L1) or extends (L0), so a check costs
/// O(segments + memtables).
fn drops_no_payload<T: Send + Sync + 'static>(m: &Manifest<T>, cur: &Manifest<T>) -> bool {
    let same = |a: &[Arc<Segment<T>>], b: &[Arc<Segment<T>>]| a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y));
    let in_l0 = |s: &Arc<Segment<T>>| cur.l0.iter().any(|c| Arc::ptr_eq(c, s));
    let live = |x: &Arc<Memtable<T>>| {
        Arc::ptr_eq(x, &cur.active) || cur.sealed.iter().any(|c| Arc::ptr_eq(c, x)) || x.heir().is_some_and(in_l0)
    };
    m.l1.len() == cur.l1.len()
        && same(&m.l1, &cur.l1)
        && m.l0.len() <= cur.l0.len()
        && same(&m.l0, &cur.l0)
        && live(&m.active)
        && m.sealed.iter().all(live)
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use std::sync::{Arc as StdArc, Mutex as StdMutex};
    use std::thread::{self, ThreadId};
    use std::time::{Duration, Instant};

    use crate::{Config, MaintenanceMode, Timelog};

    /// A payload that records the thread each of its copies is dropped on.
    #[derive(Clone)]
    struct Tracked(StdArc<StdMutex<Vec<ThreadId>>>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(thread::current().id());
        }
    }

    const N: i64 = 500;

    fn log_with(maintenance: MaintenanceMode, drops: &StdArc<StdMutex<Vec<ThreadId>>>) -> Timelog<Tracked> {
        let log = Timelog::with_config(Config { maintenance, ..Config::default() }).unwrap();
        for t in 0..N {
            let _ = log.append(t, Tracked(drops.clone())).unwrap();
        }
        // A tombstone (hiding nothing) in the memtable: its flush clones
        // the payloads, and the memtable keeps copies to release. (A flush
        // without one moves them into the segment and leaves the memtable
        // none: `moved_payloads_are_dropped_once_by_the_segment`.)
        let _ = log.delete_range(N + 1, N + 2).unwrap();
        assert!(drops.lock().unwrap().is_empty());
        log
    }

    /// Waits until the `N` copies the flushed memtable held are dropped;
    /// returns the threads they were dropped on.
    fn memtable_drops(drops: &StdArc<StdMutex<Vec<ThreadId>>>) -> Vec<ThreadId> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let d = drops.lock().unwrap().clone();
            if d.len() >= N as usize || Instant::now() > deadline {
                return d;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// R12 (the graveyard keeps what is shared): with a worker running, a
    /// reader taken by `hold` that outlives a seal and the flush of the
    /// sealed memtable (`read` checks it still reads) is not the one that
    /// releases the memtable's payloads when it lets go — the worker does.
    fn the_worker_releases_what_a_reader_outlived<'a, R>(
        log: &'a Timelog<Tracked>,
        drops: &StdArc<StdMutex<Vec<ThreadId>>>,
        hold: impl FnOnce(&'a Timelog<Tracked>) -> R,
        read: impl FnOnce(&R),
    ) {
        let r = hold(log);
        log.flush().unwrap();
        read(&r);
        drop(r);
        let d = memtable_drops(drops);
        assert_eq!(d.len(), N as usize, "the flushed memtable's payloads are released");
        let me = thread::current().id();
        assert!(d.iter().all(|t| *t != me), "released on the reader's thread");
        log.close().unwrap();
    }

    /// Owned snapshots (the last holder's reference, R9).
    #[test]
    fn a_snapshot_outliving_a_flush_leaves_the_payloads_to_the_worker() {
        let drops = StdArc::new(StdMutex::new(Vec::new()));
        let log = log_with(MaintenanceMode::Background, &drops);
        the_worker_releases_what_a_reader_outlived(
            &log,
            &drops,
            |log| log.snapshot().unwrap(),
            |snap| assert_eq!(snap.len(), N as usize),
        );
    }

    /// A one-shot read's borrow (`Catalog::read`), which the seal's
    /// publication turns into a reference (an arc-swap debt paid).
    #[test]
    fn a_one_shot_borrow_outliving_a_flush_leaves_the_payloads_to_the_worker() {
        let drops = StdArc::new(StdMutex::new(Vec::new()));
        let log = log_with(MaintenanceMode::Background, &drops);
        the_worker_releases_what_a_reader_outlived(
            &log,
            &drops,
            |log| log.inner.catalog.read(&log.inner.seq),
            |r| assert_eq!(r.view().point(7, |_| ()), 1),
        );
    }

    /// A payload that counts its live copies (clones add one, drops take
    /// one away).
    struct Counted(StdArc<std::sync::atomic::AtomicIsize>);

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Counted(self.0.clone())
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A log of `N` `Counted` records (every third late: the skiplist's
    /// payloads too), with or without the `BitwisePayloads` promise, and
    /// a snapshot taken before its flush; and the live count.
    fn flushed_under_a_snapshot(
        bitwise: Option<crate::BitwisePayloads>,
    ) -> (Timelog<Counted>, crate::Snapshot<Counted>, StdArc<std::sync::atomic::AtomicIsize>) {
        let live = StdArc::new(std::sync::atomic::AtomicIsize::new(0));
        let cfg = Config { maintenance: MaintenanceMode::Disabled, bitwise_payloads: bitwise, ..Config::default() };
        let log = Timelog::with_config(cfg).unwrap();
        for t in 0..N {
            live.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = log.append(if t % 3 == 0 { N - t } else { t + N }, Counted(live.clone())).unwrap();
        }
        let snap = log.snapshot().unwrap();
        log.flush().unwrap();
        (log, snap, live)
    }

    /// A flush without tombstones of a log whose payloads may be shared
    /// bitwise moves them into the segment (`flush::build_l0`): it makes
    /// and drops no copy, the memtable a snapshot keeps still reads them,
    /// the segment is reported once (by the log while it holds it, then by
    /// the snapshot whose memtable is its last holder), and every payload
    /// is dropped once in the end.
    #[test]
    fn moved_payloads_are_dropped_once_by_the_segment() {
        // SAFETY: `Counted` holds an `Arc` alone: no `&Counted` changes it.
        let promise = unsafe { crate::BitwisePayloads::promise() };
        let (log, snap, live) = flushed_under_a_snapshot(Some(promise));
        let live_now = || live.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(live_now(), N as isize, "nothing cloned, nothing dropped");
        let mut seen = 0;
        log.for_each_payload(&mut |s| seen += s.len());
        assert_eq!(seen, N as usize, "the log reports each payload once, as the segment's");
        let mut owned = 0;
        snap.for_each_owned_payload(&mut |s| owned += s.len());
        assert_eq!(owned, 0, "the segment is the log's too: the snapshot reports none");
        drop(log);
        // The snapshot's memtable now holds the segment alone, as its heir.
        snap.for_each_owned_payload(&mut |s| owned += s.len());
        assert_eq!(owned, N as usize);
        let mut ts: Vec<_> = snap.all(crate::Order::Asc).map(|(t, _)| t).collect();
        ts.dedup();
        assert_eq!(ts.len(), N as usize, "the memtable still reads every record");
        drop(snap);
        assert_eq!(live_now(), 0, "every payload and every copy dropped once");
    }

    /// Without the `BitwisePayloads` promise the same flush clones every
    /// payload (the memtable a snapshot keeps drops its own).
    #[test]
    fn without_the_promise_a_flush_clones_the_payloads() {
        let (log, snap, live) = flushed_under_a_snapshot(None);
        let live_now = || live.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(live_now(), 2 * N as isize, "one clone per record");
        let mut owned = 0;
        snap.for_each_owned_payload(&mut |s| owned += s.len());
        assert_eq!(owned, N as usize, "the snapshot's memtable owns its originals");
        drop(snap);
        assert_eq!(live_now(), N as isize, "the memtable dropped its originals");
        drop(log);
        assert_eq!(live_now(), 0, "every payload and every clone dropped once");
    }

    /// Without a worker nothing would come back for a kept manifest: the
    /// graveyard keeps nothing, and the payloads only a snapshot kept go
    /// when it goes (R9, "Reclaim").
    #[test]
    fn without_a_worker_the_last_reader_releases_at_once() {
        let drops = StdArc::new(StdMutex::new(Vec::new()));
        let log = log_with(MaintenanceMode::Disabled, &drops);
        let snap = log.snapshot().unwrap();
        log.flush().unwrap();
        assert!(drops.lock().unwrap().is_empty(), "the snapshot keeps the memtable");
        drop(snap);
        let me = thread::current().id();
        let d = drops.lock().unwrap().clone();
        assert_eq!(d.len(), N as usize);
        assert!(d.iter().all(|t| *t == me));
        log.close().unwrap();
    }
}
