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
//!   drops the buried ones. The graveyard lives here because what it holds
//!   are manifests and whether one may be buried is a question about the
//!   cell (is it current? is this the last reference?); *when* it is drained
//!   — after the maintainer lock is released, on the worker — is the
//!   maintainer's decision (`maint/`).
//!
//! **Callers:** the facade (`timelog.rs`: the write path loads the manifest
//! to enter its active memtable, R1; reads call [`Catalog::read`]; `close`
//! and `discard` call [`Catalog::publish_empty`] under the maintainer lock);
//! the maintainer (`maint/`: seal publishes with [`Catalog::publish`],
//! flush and compaction with [`Catalog::publish_maint`] under the
//! maintainer lock, R10); `validate.rs` (reads). The query layer never sees
//! the catalog: it reads a `View` or a `Snapshot`.

use crate::hooks::Hooks;
use crate::manifest::{guard_into_arc, retire, Manifest, ManifestCell, ManifestGuard};
use crate::memtable::Memtable;
use crate::pin::PinCounter;
use crate::query::plan::View;
use crate::query::snapshot::Snapshot;
use crate::sequencer::Sequencer;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::{SeqNo, TimeUnit};

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

impl<T> Graveyard<T> {
    fn bury(&self, m: Arc<Manifest<T>>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(m);
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
    pub(crate) fn new(unit: TimeUnit) -> Self {
        let retired = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(Memtable::new(0, &retired));
        let pins = Arc::new(PinCounter::new(unit));
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
            graveyard: Graveyard(Mutex::new(Vec::new())),
        }
    }

    /// THE snapshot function (R5): loads the manifest (Acquire), then the
    /// watermark (Acquire), and caps it at the active memtable's seal bound.
    /// The cap matters when the loaded manifest's active memtable was sealed
    /// meanwhile: a record of its successor (not reachable from this
    /// manifest) may already be visible; the seal bound, stored before the
    /// successor was published (R2), excludes it. Every read path — owned
    /// snapshots and one-shot reads alike — starts here.
    #[inline]
    pub(crate) fn read(&self, seq: &Sequencer) -> ReadPoint<T> {
        let m = self.cell.load();
        #[cfg(not(timelog_fault = "snapshot_no_cap"))]
        let w = seq.visible().min(m.active.seal_bound());
        // Seeded fault (R5): the watermark is not capped by the seal bound.
        #[cfg(timelog_fault = "snapshot_no_cap")]
        let w = seq.visible();
        ReadPoint { m, w }
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
    /// caller's `cur` outlives that, so nothing is freed here.
    #[inline]
    pub(crate) fn publish(&self, cur: &Arc<Manifest<T>>, next: Manifest<T>) -> bool {
        if !self.cell.publish(cur, next) {
            return false;
        }
        drop(retire(cur.clone()));
        true
    }

    /// Publishes `next` over `cur` for a maintainer (the caller holds the
    /// maintainer lock, R10). On success the replaced manifest goes to the
    /// graveyard, so that neither this publication nor the caller's own
    /// references drop payloads while the lock is held (R12), and is
    /// retired (R9, "Holds": if no snapshot holds it, the holders'
    /// reference comes straight back and is dropped here — never the last
    /// one, the graveyard's is buried first).
    pub(crate) fn publish_maint(&self, cur: &Arc<Manifest<T>>, next: Manifest<T>) -> bool {
        if !self.cell.publish(cur, next) {
            return false;
        }
        self.graveyard.bury(cur.clone());
        drop(retire(cur.clone()));
        true
    }

    /// Publishes an empty manifest (a fresh memtable, no segments, no
    /// tombstones) for `close` and `discard`; the caller holds the
    /// maintainer lock, so the replaced manifest goes to the graveyard (R12).
    pub(crate) fn publish_empty(&self) {
        loop {
            let cur = self.load_full();
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

    /// Drops the buried manifests, in `hooks`' payload scope. Called with
    /// no engine lock held (R12).
    pub(crate) fn drain_graveyard(&self, hooks: &Hooks) {
        let dead = std::mem::take(&mut *self.graveyard.0.lock().unwrap_or_else(|e| e.into_inner()));
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

    /// A fresh, empty memtable (the seal's successor, `publish_empty`'s).
    pub(crate) fn new_memtable(&self) -> Arc<Memtable<T>> {
        Arc::new(Memtable::new(self.next_id(), &self.retired))
    }

    /// The count of retired parts, shared with every part built.
    #[inline]
    pub(crate) fn retired(&self) -> &Arc<AtomicUsize> {
        &self.retired
    }

    /// The live-snapshot counter (R9).
    #[inline]
    pub(crate) fn pins(&self) -> &PinCounter {
        &self.pins
    }

    /// Visits every payload the current manifest's parts hold, each part
    /// once, whoever else shares them (see `Timelog::for_each_payload`).
    pub(crate) fn for_each_payload(&self, f: &mut dyn FnMut(&T)) {
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
        drop(retire(self.cell.load_full()));
    }
}
