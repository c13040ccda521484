//! The manifest: the immutable catalogue of everything a reader can see,
//! and its publication.
//!
//! Every change of the layer structure (seal, flush, compaction) builds a
//! new `Manifest` and publishes it with one atomic compare-and-swap on a
//! [`ManifestCell`] (R5). Readers load the current manifest without any
//! lock; a long-lived snapshot keeps its manifest alive by a hold counted
//! on its thread's stripe ([`Manifest::holds`], R9 "Holds": no shared
//! reference count), and the manifest's `Arc`s keep its parts alive, so a
//! snapshot held for minutes pins only the parts it references, never the
//! reclamation of anything else (R9). The publisher that replaces a
//! manifest retires it ([`retire`]); the last holder reclaims it
//! ([`release_hold`]).

use crate::memtable::Memtable;
use crate::pin::Holds;
use crate::segment::Segment;
use crate::sync::{Arc, Region};
use crate::tombstone::Tombstone;
use crate::SeqNo;

pub(crate) struct Manifest<T> {
    pub(crate) version: u64,
    /// The memtable writers insert into.
    pub(crate) active: Arc<Memtable<T>>,
    /// Sealed, drained, not yet flushed memtables, oldest first.
    pub(crate) sealed: Vec<Arc<Memtable<T>>>,
    /// Flushed segments, oldest first; they may overlap in time.
    pub(crate) l0: Vec<Arc<Segment<T>>>,
    /// Compacted segments sorted by window; non-overlapping; all older than L0.
    pub(crate) l1: Vec<Arc<Segment<T>>>,
    /// Tombstones of flushed memtables not yet applied to every segment.
    pub(crate) tombstones: Arc<Vec<Tombstone>>,
    /// Seal bound of the newest flushed memtable.
    pub(crate) flushed_bound: SeqNo,
    /// The log's live-snapshot counter (the same one in every manifest of
    /// the log), reached through the manifest a snapshot holds.
    pub(crate) pins: Arc<crate::pin::PinCounter>,
    /// The owned snapshots holding this manifest, counted per stripe, and
    /// its retirement (R9, "Holds"); each stripe's line also carries that
    /// stripe's read-side cache of the coverage of every tombstone
    /// reachable from this manifest (built by the stripe's first read that
    /// needs it, R7).
    pub(crate) holds: Holds<crate::tombstone::CovCache>,
    /// Stands for the holders' reference (R9, "Holds") for the model
    /// checkers: read by every access of a holder, written when the
    /// reference is reclaimed. Zero-sized and free in the std build.
    pub(crate) holders_region: Region,
}

impl<T> std::fmt::Debug for Manifest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("version", &self.version)
            .field("sealed", &self.sealed.len())
            .field("l0", &self.l0.len())
            .field("l1", &self.l1.len())
            .field("tombstones", &self.tombstones.len())
            .finish()
    }
}

impl<T> Manifest<T> {
    /// A copy sharing every part, with a bumped version.
    pub(crate) fn successor(&self) -> Self {
        Self {
            version: self.version + 1,
            active: self.active.clone(),
            sealed: self.sealed.clone(),
            l0: self.l0.clone(),
            l1: self.l1.clone(),
            tombstones: self.tombstones.clone(),
            flushed_bound: self.flushed_bound,
            pins: self.pins.clone(),
            holds: Holds::default(),
            holders_region: Region::new(),
        }
    }

    /// R14: the successor publishing a bulk write's run `seg` (its
    /// sequences already set and committed): the active memtable — sealed,
    /// drained and empty — is replaced by `fresh`, and `seg` becomes the
    /// newest L0 segment, as if a memtable holding exactly the batch had
    /// been sealed and flushed in one publication. Only over a manifest
    /// with no sealed memtable, so the age order L1 < L0 < sealed < active
    /// (R8) holds: every older record is in a segment, every newer one will
    /// be in `fresh` or later.
    pub(crate) fn with_run(&self, fresh: Arc<Memtable<T>>, seg: Arc<Segment<T>>) -> Self {
        debug_assert!(self.sealed.is_empty(), "R14: a run is published only with no sealed memtable");
        let mut next = self.successor();
        next.active = fresh;
        // Every record and tombstone at or below the run's last sequence
        // is now in a segment or in the list (R11's premise).
        next.flushed_bound = seg.seq_hi;
        next.l0.push(seg);
        next
    }

    /// This thread's stripe of the read-side coverage cache (R7, R9).
    #[inline]
    pub(crate) fn cov_cache(&self) -> &crate::tombstone::CovCache {
        self.holds.local()
    }

    /// Coalesces the tombstone list (rule R11: every tombstone of a
    /// manifest's list is settled, so only its hiding function over the
    /// segments' `tomb_applied` matters), then retires what no segment
    /// needs any more. Called wherever a manifest's list changes (flush,
    /// compaction); a seal carries the list over unchanged (it is already
    /// coalesced) and never touches memtable tombstones, which are not
    /// settled (R5, R7).
    pub(crate) fn coalesce_tombstones(&mut self) {
        if self.tombstones.is_empty() {
            return;
        }
        let mut applied: Vec<SeqNo> = self.l0.iter().chain(self.l1.iter()).map(|s| s.tomb_applied).collect();
        applied.sort_unstable();
        applied.dedup();
        let merged = crate::tombstone::coalesce(&self.tombstones, &applied);
        if merged != *self.tombstones {
            self.tombstones = Arc::new(merged);
        }
        self.retire_applied_tombstones();
    }

    /// Drops the tombstones that no longer hide anything in any segment:
    /// a tombstone matters only to segments that overlap it and have not
    /// applied it (`tomb_applied < seq`); memtable records are all newer
    /// than manifest tombstones (R7, R8).
    pub(crate) fn retire_applied_tombstones(&mut self) {
        if self.tombstones.is_empty() {
            return;
        }
        let keep: Vec<_> = self
            .tombstones
            .iter()
            .filter(|t| {
                self.l0
                    .iter()
                    .chain(self.l1.iter())
                    .any(|s| s.tomb_applied < t.seq && t.t1 <= s.max_ts && s.min_ts < t.t2)
            })
            .copied()
            .collect();
        if keep.len() != self.tombstones.len() {
            self.tombstones = Arc::new(keep);
        }
    }

    /// Marks as retired every part of `self` that `next` no longer references.
    pub(crate) fn retire_missing_in(&self, next: &Manifest<T>) {
        let has_mt =
            |m: &Arc<Memtable<T>>| Arc::ptr_eq(m, &next.active) || next.sealed.iter().any(|x| Arc::ptr_eq(x, m));
        if !has_mt(&self.active) {
            self.active.retired.retire();
        }
        for m in &self.sealed {
            if !has_mt(m) {
                m.retired.retire();
            }
        }
        for s in self.l0.iter().chain(self.l1.iter()) {
            if !next.l0.iter().chain(next.l1.iter()).any(|x| Arc::ptr_eq(x, s)) {
                s.retired.retire();
            }
        }
    }
}

/// Retires `m`, a manifest just replaced in the cell (or the cell's last
/// one, as the cell goes): the reference `m` passes to the manifest's
/// holders, and the publisher marks every stripe retired (R9, "Holds",
/// [`Holds::retire`]). Returns that reference if no hold was left — the
/// caller then drops it like any other (a maintainer holding its lock has
/// buried a reference of its own first, R12) — else the last holder
/// reclaims it ([`release_hold`]). Called once per published manifest, by
/// the catalog.
pub(crate) fn retire<T>(m: Arc<Manifest<T>>) -> Option<Arc<Manifest<T>>> {
    let p = Arc::into_raw(m);
    // SAFETY: R9 (Holds): the reference just turned into `p` keeps the
    // manifest alive until whoever brings `remaining` to zero reclaims it.
    let last = unsafe { &*p }.holds.retire();
    // SAFETY: R9 (Holds): `last`: this call brought `remaining` to zero.
    last.then(|| unsafe { reclaim(p) })
}

/// Releases a hold counted on `stripe` of `*p` (R9, "Holds"); returns the
/// holders' reference if this was the last hold of a retired manifest.
///
/// # Safety
/// The caller holds a hold on `stripe` of `*p` (counted by
/// `Holds::try_hold`) and gives it up: unless this returns `Some`, `*p`
/// may be freed as soon as the call returns.
#[inline]
pub(crate) unsafe fn release_hold<T>(p: *const Manifest<T>, stripe: usize) -> Option<Arc<Manifest<T>>> {
    // SAFETY: R9 (Holds): the caller's hold keeps `*p` alive until this
    // release, and a retired stripe's last release keeps `remaining` above
    // zero until its own subtraction (`Holds::release`).
    let last = unsafe { &*p }.holds.release(stripe);
    // SAFETY: R9 (Holds): `last`: this call brought `remaining` to zero.
    last.then(|| unsafe { reclaim(p) })
}

/// The holders' reference, back from its raw pointer.
///
/// # Safety
/// Once per retired manifest, by whoever brought `remaining` to zero.
unsafe fn reclaim<T>(p: *const Manifest<T>) -> Arc<Manifest<T>> {
    // SAFETY: R9 (Holds): `remaining` reached zero only now, so the
    // holders' reference (from `retire`'s `Arc::into_raw`) still exists.
    let m = unsafe { &*p };
    // Model checkers: a second reclamation fails this read; a holder's
    // access not ordered before this write is reported.
    m.holders_region.read();
    m.holders_region.kill();
    // SAFETY: `p` came from `Arc::into_raw` in `retire`; reclaimed once
    // (the caller's contract), std `Arc::from_raw` contract.
    unsafe { Arc::from_raw(p) }
}

/// Strong count of `*p`'s allocation, for the owned-payload checks.
///
/// # Safety
/// `*p` is alive (the caller holds it).
pub(crate) unsafe fn strong_count_raw<T>(p: *const Manifest<T>) -> usize {
    // SAFETY: R9: the caller keeps `*p` alive, and it lives in an `Arc`
    // allocation (every manifest is published as one); the borrowed `Arc`
    // is never dropped, so no count changes.
    let a = std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p) });
    Arc::strong_count(&a)
}

pub(crate) use cell::{guard_into_arc, ManifestCell, ManifestGuard};

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod cell {
    use arc_swap::{ArcSwapAny, Guard};

    use super::Manifest;
    use crate::sync::{Arc, AtomicU64, Ordering};

    /// A short-lived borrow of the current manifest (R9: an arc-swap debt
    /// slot, no reference count taken in the common case).
    pub(crate) type ManifestGuard<T> = Guard<Arc<Manifest<T>>>;

    /// An owned reference from a borrow (a reference-count increment, as
    /// `load_full` pays; none if the guard already owns one).
    #[inline]
    pub(crate) fn guard_into_arc<T>(g: ManifestGuard<T>) -> Arc<Manifest<T>> {
        Guard::into_inner(g)
    }

    /// The one published pointer to the current manifest (R5).
    ///
    /// Implemented with `arc-swap`: a load is lock-free and, through
    /// thread-local debt slots, touches no shared cache line in the common case;
    /// a store never waits for readers (it pays their debts by taking a
    /// reference for them). See `docs/protocol.md`, "Reclamation". Under the
    /// model checkers a model with the same contract replaces it (below).
    pub(crate) struct ManifestCell<T> {
        // `ArcSwapAny` of the shim's `Arc` (= `ArcSwap` in the std build;
        // the recording `Arc` under `contention-audit`).
        cur: ArcSwapAny<Arc<Manifest<T>>>,
        /// The version of the current manifest, raised (`fetch_max`) by each
        /// publisher right after its CAS, while it still holds the manifest
        /// it replaced. Versions increase along the published chain (a
        /// successor is published by a CAS on its predecessor), so this is
        /// what [`is_current`](Self::is_current) compares with: one load,
        /// not an arc-swap load and release (two read-modify-writes of the
        /// thread's debt slot) on every write.
        published: AtomicU64,
    }

    impl<T> ManifestCell<T> {
        pub(crate) fn new(m: Manifest<T>) -> Self {
            let published = AtomicU64::new(m.version);
            Self { cur: ArcSwapAny::new(Arc::new(m)), published }
        }

        /// A short-lived borrow of the current manifest (for point reads).
        #[inline]
        pub(crate) fn load(&self) -> ManifestGuard<T> {
            self.cur.load()
        }

        /// An owned reference to the current manifest (for snapshots).
        #[inline]
        pub(crate) fn load_full(&self) -> Arc<Manifest<T>> {
            self.cur.load_full()
        }

        /// The current manifest's version (one Acquire load; see
        /// [`is_current`](Self::is_current) for the moment it changes).
        #[inline]
        pub(crate) fn version(&self) -> u64 {
            self.published.load(Ordering::Acquire)
        }

        /// Whether `m` is the current manifest (no reference is taken).
        ///
        /// `m` must be a manifest loaded from this cell. Between a
        /// publisher's CAS and its `fetch_max` the replaced manifest still
        /// reads as current: the publisher holds a reference to it until
        /// after the `fetch_max`, so a caller that drops its guard then is
        /// not its last owner (what `Maint::release_guard` needs), and a
        /// writer waiting for a sealer's successor (`with_active`) waits
        /// until the `fetch_max`. A manifest published after the caller's
        /// load reads as not current, which both callers take as "maybe
        /// replaced" (a slower path, no wrong result).
        #[inline]
        pub(crate) fn is_current(&self, m: &Manifest<T>) -> bool {
            self.published.load(Ordering::Acquire) == m.version
        }

        /// Publishes `next` iff the current manifest is still `expected`.
        /// Returns whether it did.
        pub(crate) fn publish(&self, expected: &Arc<Manifest<T>>, next: Manifest<T>) -> bool {
            let next = Arc::new(next);
            debug_assert_eq!(next.version, expected.version + 1, "a successor of the expected manifest");
            let prev = self.cur.compare_and_swap(expected, next.clone());
            let ok = Arc::ptr_eq(&prev, expected);
            if ok {
                // While `prev` (the replaced manifest) is still held: see
                // `is_current`.
                self.published.fetch_max(next.version, Ordering::AcqRel);
                expected.retire_missing_in(&next);
            }
            ok
        }
    }
}

#[cfg(any(timelog_loom, timelog_shuttle))]
mod cell {
    //! Model of the manifest cell for loom and shuttle, which cannot look
    //! inside arc-swap. Same contract (R5, R9), visible to the checkers:
    //!
    //! - publication is one CAS of an `AtomicPtr` (AcqRel; its Release half
    //!   publishes the manifest), a load is an Acquire load;
    //! - the cell holds one reference to the current manifest, inside a
    //!   *slot*; a reader announces itself in `readers` (arc-swap's debt),
    //!   loads the slot and takes its own reference, then leaves;
    //! - a replaced slot is *retired*; its reference is dropped (the slot is
    //!   *reclaimed*) only once no reader is between its load and its
    //!   reference — a quiescence check that is the model of arc-swap paying
    //!   the debts of readers in flight. A publisher whose check (after its
    //!   own CAS and a SeqCst fence) finds no reader in flight reclaims the
    //!   retired slots replaced at or before its own CAS (`gen` below a
    //!   reader that announced later loads a newer slot); others stay
    //!   retired for a later publication, or for the drop of the cell.
    //!   Reclamation is a tracked write of the slot's [`Region`], every
    //!   reader's access a tracked read, so loom reports a manifest
    //!   reclaimed while a reader can still reach it. The last reader to
    //!   leave also reclaims (after re-asserting the current slot with a
    //!   no-op CAS, which plays the part of the publisher's CAS), so that a
    //!   quiescent log holds no retired manifest — as with arc-swap, whose
    //!   writers pay the debts of the readers in flight.
    //!
    //! Slot memory itself stays allocated until the cell drops, so a faulty
    //! reclamation is reported, never a real use after free.

    use std::cell::UnsafeCell;
    use std::ptr;

    use super::Manifest;
    use crate::sync::{model_sc_fence, Arc, AtomicPtr, AtomicUsize, Ordering, Region, UnsyncGet};

    /// The std build's borrow; here an owned reference.
    pub(crate) type ManifestGuard<T> = Arc<Manifest<T>>;

    /// The std build's conversion; here the identity.
    #[inline]
    pub(crate) fn guard_into_arc<T>(g: ManifestGuard<T>) -> Arc<Manifest<T>> {
        g
    }

    struct Slot<T> {
        /// The cell's reference to the manifest; `None` once reclaimed.
        m: UnsafeCell<Option<Arc<Manifest<T>>>>,
        /// Identity of the manifest (compared by `publish`), never freed
        /// before the cell.
        mptr: *const Manifest<T>,
        /// The manifest's version (readable after the manifest is freed).
        version: u64,
        /// The slot this one replaced (every published slot is on this chain).
        prev: *mut Slot<T>,
        /// Position in the publication order (the initial slot is 0).
        gen: u64,
        /// Next slot on the retired stack.
        next_retired: *mut Slot<T>,
        region: Region,
    }

    impl<T> Slot<T> {
        fn new(m: Arc<Manifest<T>>) -> *mut Self {
            Box::into_raw(Box::new(Self {
                mptr: Arc::as_ptr(&m),
                version: m.version,
                m: UnsafeCell::new(Some(m)),
                prev: ptr::null_mut(),
                gen: 0,
                next_retired: ptr::null_mut(),
                region: Region::new(),
            }))
        }

        /// A reader's reference (R9: only while the slot is not reclaimed).
        fn get(&self) -> Arc<Manifest<T>> {
            self.region.read();
            // SAFETY: R9: `region.read` checked that no reclamation happened
            // (or is concurrent, which loom reports); only `reclaim` writes.
            let m = unsafe { &*self.m.get() };
            m.as_ref().expect("manifest reclaimed while a reader could reach it (R9)").clone()
        }

        /// Drops the cell's reference (R9).
        ///
        /// # Safety
        /// Once per slot, after it was replaced and no reader can reach it.
        unsafe fn reclaim(&self) {
            self.region.kill();
            // SAFETY: R9: the caller's contract; `kill` made loom check that
            // every reader's access happened-before this write.
            let m = unsafe { (*self.m.get()).take() };
            drop(m);
        }
    }

    /// The one published pointer to the current manifest (R5): the model of
    /// the std build's `arc-swap` cell (see the module docs).
    pub(crate) struct ManifestCell<T> {
        cur: AtomicPtr<Slot<T>>,
        /// Readers between loading `cur` and taking their reference.
        readers: AtomicUsize,
        /// Replaced slots not yet reclaimed (a Treiber stack).
        retired: AtomicPtr<Slot<T>>,
    }

    // SAFETY: slots are shared by pointer; their manifest references are
    // handed out only while not reclaimed (R9) and reclaimed once, after the
    // quiescence check; `Manifest<T>` is shared as it is in the std cell.
    unsafe impl<T: Send + Sync> Sync for ManifestCell<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send + Sync> Send for ManifestCell<T> {}

    impl<T> ManifestCell<T> {
        pub(crate) fn new(m: Manifest<T>) -> Self {
            Self {
                cur: AtomicPtr::new(Slot::new(Arc::new(m))),
                readers: AtomicUsize::new(0),
                retired: AtomicPtr::new(ptr::null_mut()),
            }
        }

        /// The std cell's borrow; here an owned reference as well.
        #[inline]
        pub(crate) fn load(&self) -> Arc<Manifest<T>> {
            self.load_full()
        }

        /// An owned reference to the current manifest (R5: Acquire load).
        pub(crate) fn load_full(&self) -> Arc<Manifest<T>> {
            self.readers.fetch_add(1, Ordering::SeqCst);
            model_sc_fence();
            let p = self.cur.load(Ordering::Acquire);
            // SAFETY: R5/R9: slot memory is freed only when the cell drops.
            let m = unsafe { &*p }.get();
            let last = self.readers.fetch_sub(1, Ordering::AcqRel) == 1;
            if last
                && !self.retired.load(Ordering::Acquire).is_null()
                && self.cur.compare_exchange(p, p, Ordering::AcqRel, Ordering::Acquire).is_ok()
            {
                // SAFETY: R9: as above; `gen` is immutable.
                self.reclaim_retired(unsafe { (*p).gen });
            }
            m
        }

        /// The current manifest's version (an Acquire load of the slot;
        /// its `version` is immutable and its memory outlives the cell's use).
        pub(crate) fn version(&self) -> u64 {
            let p = self.cur.load(Ordering::Acquire);
            // SAFETY: R9: slot memory is freed only when the cell drops.
            unsafe { (*p).version }
        }

        /// Whether `m` is the current manifest (no reference is taken: a
        /// slot's identity is immutable and its memory outlives the cell's use).
        pub(crate) fn is_current(&self, m: &Manifest<T>) -> bool {
            let p = self.cur.load(Ordering::Acquire);
            // SAFETY: R9: slot memory is freed only when the cell drops.
            std::ptr::eq(unsafe { (*p).mptr }, m)
        }

        /// Publishes `next` iff the current manifest is still `expected`.
        /// Returns whether it did.
        pub(crate) fn publish(&self, expected: &Arc<Manifest<T>>, next: Manifest<T>) -> bool {
            let next = Arc::new(next);
            let slot = Slot::new(next.clone());
            let cur = self.cur.load(Ordering::Acquire);
            // SAFETY: R9: slot memory is freed only when the cell drops;
            // `mptr` is immutable.
            let same = unsafe { (*cur).mptr } == Arc::as_ptr(expected);
            // SAFETY: R5: `slot` is not published yet: it is ours; `cur` is
            // a published slot (immutable `gen`, memory kept until the drop, R9).
            let gen = unsafe {
                (*slot).prev = cur;
                (*slot).gen = (*cur).gen + 1;
                (*slot).gen
            };
            // R5: the Release half of the CAS publishes the manifest.
            #[cfg(not(timelog_fault = "manifest_relaxed_publish"))]
            let (success, failure) = (Ordering::AcqRel, Ordering::Acquire);
            // Seeded fault (R5): a Relaxed publication orders nothing.
            #[cfg(timelog_fault = "manifest_relaxed_publish")]
            let (success, failure) = (Ordering::Relaxed, Ordering::Relaxed);
            if !same || self.cur.compare_exchange(cur, slot, success, failure).is_err() {
                // SAFETY: R5: never published: ours to free.
                drop(unsafe { Box::from_raw(slot) });
                return false;
            }
            expected.retire_missing_in(&next);
            self.retire(cur, gen);
            true
        }

        /// Reclaims the retired slots replaced before the slot of generation
        /// `bound` was installed — by a CAS of this thread (a publication,
        /// or the last reader's no-op CAS) sequenced before the fence below —
        /// if no reader is in flight (R9, module docs).
        fn reclaim_retired(&self, bound: u64) {
            // Pairs with the fence in `load_full` (Dekker; loom needs the
            // fence, see `sync`): a reader that announced after this fence
            // loads our slot or a newer one; one that announced before is
            // seen in `readers` until it has left.
            model_sc_fence();
            if self.readers.load(Ordering::SeqCst) != 0 {
                return; // a later publication, reader or the drop reclaims them
            }
            let mut p = self.retired.swap(ptr::null_mut(), Ordering::AcqRel);
            while !p.is_null() {
                // SAFETY: R9: taken off the stack by the swap: this thread
                // owns the link; slot memory lives until the cell drops.
                let (next, replaced_before) = unsafe { ((*p).next_retired, (*p).gen < bound) };
                if replaced_before {
                    // SAFETY: replaced before our CAS, and no reader was in
                    // flight after it: unreachable (R9); taken off the stack
                    // once.
                    unsafe { (*p).reclaim() };
                } else {
                    // Replaced after our CAS: a reader we did not see may
                    // still be loading it.
                    self.push_retired(p);
                }
                p = next;
            }
        }

        fn push_retired(&self, s: *mut Slot<T>) {
            let mut head = self.retired.load(Ordering::Relaxed);
            loop {
                // SAFETY: R9: `s` is off `cur` and off the stack: only this
                // thread writes its link.
                unsafe { (*s).next_retired = head };
                match self.retired.compare_exchange(head, s, Ordering::AcqRel, Ordering::Relaxed) {
                    Ok(_) => return,
                    Err(h) => head = h,
                }
            }
        }

        /// Retires `old`, just replaced by the slot of generation `gen`, and
        /// reclaims what no reader can reach any more (R9, module docs).
        fn retire(&self, old: *mut Slot<T>, gen: u64) {
            #[cfg(timelog_fault = "cell_reclaim_early")]
            {
                // Seeded fault (R9, the model cell): reclaim at once, while
                // a reader that loaded `old` may still be about to take its
                // reference.
                // SAFETY: none — this is the seeded R9 bug; slot memory itself
                // stays allocated, so the early reclamation is reported, not UB.
                unsafe { (*old).reclaim() };
                return;
            }
            #[allow(unreachable_code)]
            {
                self.push_retired(old);
                self.reclaim_retired(gen);
            }
        }
    }

    impl<T> Drop for ManifestCell<T> {
        fn drop(&mut self) {
            if crate::sync::unwinding() {
                return;
            }
            // `&mut self`: no reader. Every slot ever published is on the
            // `prev` chain of the current one; free them all (their
            // remaining references drop with them).
            let mut p = self.cur.unsync_get();
            while !p.is_null() {
                // SAFETY: R9: `&mut self`; each slot came from `Box::into_raw`
                // and is on the chain exactly once.
                let s = unsafe { Box::from_raw(p) };
                p = s.prev;
            }
        }
    }
}
