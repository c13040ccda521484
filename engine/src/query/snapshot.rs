//! Snapshots: a held manifest plus a sequence watermark.

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::sync::{fence, Arc, Ordering};

use crate::manifest::{guard_into_arc, release_hold, strong_count_raw, Manifest, ManifestGuard};
use crate::query::plan::View;
use crate::segment::{Page, Segment};
use crate::{SeqNo, Timestamp};

/// What a snapshot holds, shared by its clones: the manifest (and through
/// it every memtable and segment it references), the watermark, and the
/// stripe its pin — and its hold — were counted on (released when the last
/// clone drops).
///
/// The manifest is kept alive by a *hold* on this thread's stripe of the
/// manifest (R9, "Holds": a word of this stripe's own cache line, no shared
/// reference count), or — when the manifest was retired before the hold
/// could be counted, i.e. the snapshot raced a publication — by a
/// reference of its own (`own`).
struct Held<T> {
    m: NonNull<Manifest<T>>,
    /// `None`: a hold on `stripe`; `Some`: the fallback reference.
    own: Option<Arc<Manifest<T>>>,
    w: SeqNo,
    stripe: usize,
    /// Seeded-fault model builds only: keeps the manifest's memory alive
    /// whatever the holds do, so that a faulty reclamation is reported by
    /// `holders_region`, never a real use after free (as the model cell
    /// keeps its slots). Not in the plain model builds: it would add two
    /// reference-count operations per snapshot to every scenario's
    /// interleavings.
    #[cfg(all(any(timelog_loom, timelog_shuttle), timelog_fault))]
    _keep: Arc<Manifest<T>>,
}

/// Model checkers only: snapshots that took the fallback reference, over
/// all executions (a plain counter the checkers do not see; it steers
/// nothing).
#[cfg(any(timelog_loom, timelog_shuttle))]
static MODEL_FALLBACKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: R9 (Holds): `Held` shares the manifest between threads exactly as
// an `Arc<Manifest<T>>` would (a hold is a reference count kept elsewhere),
// so it is `Send`/`Sync` under the bounds of `Arc<Manifest<T>>`.
unsafe impl<T> Send for Held<T> where Manifest<T>: Send + Sync {}
// SAFETY: as above.
unsafe impl<T> Sync for Held<T> where Manifest<T>: Send + Sync {}

impl<T> Held<T> {
    /// Holds the manifest `g` borrows (R9, "Holds"): counts the pin and a
    /// hold on this thread's stripe; `g` keeps the manifest alive until
    /// the hold is counted, and becomes the fallback reference if the
    /// manifest was retired first.
    fn new(g: ManifestGuard<T>, w: SeqNo) -> Self {
        let stripe = crate::pin::stripe();
        let m: &Manifest<T> = &g;
        m.pins.pin(stripe);
        let held = m.holds.try_hold(stripe);
        let p = NonNull::from(m);
        #[cfg(all(any(timelog_loom, timelog_shuttle), timelog_fault))]
        let _keep = g.clone();
        #[cfg(any(timelog_loom, timelog_shuttle))]
        if !held {
            MODEL_FALLBACKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let own = if held { None } else { Some(guard_into_arc(g)) };
        Self {
            m: p,
            own,
            w,
            stripe,
            #[cfg(all(any(timelog_loom, timelog_shuttle), timelog_fault))]
            _keep,
        }
    }

    #[inline]
    fn manifest(&self) -> &Manifest<T> {
        // SAFETY: R9 (Holds): the hold (released only in `drop`) or `own`
        // keeps the manifest alive while `self` lives.
        let m = unsafe { self.m.as_ref() };
        if self.own.is_none() {
            m.holders_region.read();
        }
        m
    }

    /// Whether this is the only owner of the manifest: no cell, no
    /// graveyard, no other snapshot or read holds it.
    fn sole_owner(&self) -> bool {
        // The seeded-fault model builds' keep-alive reference.
        let keep = usize::from(cfg!(all(any(timelog_loom, timelog_shuttle), timelog_fault)));
        let m = self.manifest();
        match &self.own {
            Some(a) => Arc::strong_count(a) == 1 + keep,
            // Retired (so the cell no longer holds it), this the only hold,
            // and the holders' reference the only one left.
            None => {
                m.holds.is_retired()
                    && m.holds.total() == 1
                    // SAFETY: R9 (Holds): our hold keeps it alive.
                    && unsafe { strong_count_raw(self.m.as_ptr()) } == 1 + keep
            }
        }
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return; // model builds: keep the checker's report (see `sync::unwinding`)
        }
        self.manifest().pins.unpin(self.stripe);
        if self.own.is_none() {
            // SAFETY: R9 (Holds): this is our counted hold, released once;
            // the manifest is not touched after it unless it is returned.
            let last = unsafe { release_hold(self.m.as_ptr(), self.stripe) };
            // The last holder of a retired manifest drops the holders'
            // reference here, with no engine lock held (R12): the payloads
            // only it kept go now, not at a later publication.
            drop(last);
        }
    }
}

/// A consistent, immutable view of a log at one instant.
///
/// A snapshot sees exactly the records and tombstones whose sequence number
/// is at or below its watermark, whatever is written, deleted, flushed or
/// compacted after it was taken (see the crate docs, "Consistency"). It
/// owns what it reads (reference counts on the manifest, and through it on
/// memtables and segments), so it borrows nothing from the log and may be
/// kept, cloned and sent across threads. Keeping one alive keeps the data
/// it references alive — and only that.
///
/// Taking one costs one allocation and two counter increments, both on
/// this thread's stripe (the log's pin count and the manifest's hold
/// count: no cache line shared with readers on other stripes, R9 "Holds");
/// a clone costs one increment of a count private to the snapshot. An
/// unused snapshot's last drop parks it on its stripe instead of freeing
/// it, and the stripe's next snapshot takes it back while the log's
/// structure has not changed: two compare-and-swaps of a word of the
/// thread's own stripe, no allocation (R9 "Parking").
pub struct Snapshot<T> {
    /// The [`Shared`] of this snapshot and its clones, owned by them
    /// together (a count of handles, freed by the last).
    shared: NonNull<Shared<T>>,
    _owns: PhantomData<Shared<T>>,
}

/// What a snapshot and its clones share: the [`Held`] manifest and the
/// number of handles.
///
/// Not an `Arc<Held<T>>`: most snapshots are never cloned (an iterator's,
/// a short read's), and an `Arc`'s last drop pays two atomic
/// read-modify-writes (its strong count, then its weak one) where a
/// handle that finds itself alone needs none — one load (session 13: a
/// point read takes and drops a snapshot per call).
struct Shared<T> {
    handles: HandleCount,
    held: Held<T>,
}

/// The handle count: the shim's atomic, except in the contention audit,
/// which records its changes as an `Arc`'s count changes (`note`): the
/// count sits in the snapshot's own allocation, as an `Arc`'s does.
#[cfg(not(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle))))]
type HandleCount = crate::sync::AtomicUsize;
#[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
type HandleCount = std::sync::atomic::AtomicUsize;

/// Contention audit: records `op` on a snapshot's allocation (see
/// [`HandleCount`]); nothing in other builds.
#[inline]
fn note<T>(_op: CountOp, _s: NonNull<Shared<T>>) {
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    crate::sync::audit::note_count(_op, _s.as_ptr() as usize, std::mem::size_of::<Shared<T>>());
}

#[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
use crate::sync::audit::Op as CountOp;
/// What `note` records (only the contention audit records it).
#[cfg(not(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle))))]
#[derive(Clone, Copy)]
#[allow(clippy::enum_variant_names)] // the names of the `audit::Op` variants it stands in for
enum CountOp {
    ArcNew,
    ArcReuse,
    ArcClone,
    ArcDrop,
}

// SAFETY: `Shared` is reached only through `Snapshot` handles, which share
// it as an `Arc` shares its value: `Held` is read through shared
// references from any thread and dropped once, by the last handle (see
// `Drop for Snapshot`), so a handle may be sent and shared under the
// bounds `Arc<Held<T>>` has (`Held: Send + Sync`).
unsafe impl<T> Send for Snapshot<T> where Held<T>: Send + Sync {}
// SAFETY: as above.
unsafe impl<T> Sync for Snapshot<T> where Held<T>: Send + Sync {}

impl<T> Snapshot<T> {
    #[inline]
    fn shared(&self) -> &Shared<T> {
        // SAFETY: this handle is counted in `handles`, so `Shared` is not
        // freed while it lives (`Drop for Snapshot`).
        unsafe { self.shared.as_ref() }
    }

    #[inline]
    fn held(&self) -> &Held<T> {
        &self.shared().held
    }

    /// Whether this is the only handle: no clone is alive (and none can
    /// be made but from this one). Acquire: the uses of every handle
    /// dropped before happen before what the caller does next.
    #[inline]
    fn sole_handle(&self) -> bool {
        self.shared().handles.load(Ordering::Acquire) == 1
    }
}

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        // Relaxed, as `Arc::clone`: the new handle is made from a live one,
        // which keeps `Shared` alive meanwhile.
        note(CountOp::ArcClone, self.shared);
        let old = self.shared().handles.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            std::process::abort(); // as `Arc`: billions of leaked clones
        }
        Self { shared: self.shared, _owns: PhantomData }
    }
}

impl<T> Drop for Snapshot<T> {
    fn drop(&mut self) {
        // The last handle parks `Shared` or frees it (and so releases the
        // hold and the pin, `Drop for Held`). A handle that sees a count of
        // 1 is the last: no other handle exists, and none can be made
        // without one; its Acquire load reads the Release decrement of every
        // handle dropped before, so their reads of `Shared` happen before
        // the park or the free. Else the decrement that takes the count from
        // 1 to 0 is the last one, as in `Arc`'s drop.
        if !self.sole_handle() {
            note(CountOp::ArcDrop, self.shared);
            if self.shared().handles.fetch_sub(1, Ordering::Release) != 1 {
                return;
            }
            fence(Ordering::Acquire);
            // The last handle: the count is ours to reset for the next
            // owner if the snapshot parks.
            self.shared().handles.store(1, Ordering::Relaxed);
        }
        if self.park() {
            return;
        }
        // SAFETY: `Box::from_raw`'s contract: `shared` came from
        // `Box::leak` (`Snapshot::new`) and this is its last handle
        // (above), so nothing else reads it and it is freed once.
        drop(unsafe { Box::from_raw(self.shared.as_ptr()) });
    }
}

impl<T> std::fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("watermark", &self.held().w).field("manifest", self.held().manifest()).finish()
    }
}

/// Visits the payloads of the parts of `m`: the out-of-order index and the
/// published run of each memtable, the pages of each segment — each part
/// once (a part appears at most once in a manifest), a stretch contiguous
/// in memory per call (a page's, a run bucket's; a late record alone). With `owned_only`,
/// only the parts that only `m` references (reference count 1): parts
/// another manifest, snapshot or maintenance step also holds are skipped,
/// so that across all owners a payload is reported at most once (a cycle
/// collector's traversal must never report more references than exist);
/// the caller has then established that it is the only owner of `m`.
pub(crate) fn visit_parts<T: Send + Sync + 'static>(m: &Manifest<T>, owned_only: bool, f: &mut dyn FnMut(&[T])) {
    for mt in m.sealed.iter().chain(std::iter::once(&m.active)) {
        if owned_only && Arc::strong_count(mt) != 1 {
            continue;
        }
        if let Some(heir) = mt.heir() {
            // A flushed memtable's payloads are its heir's (`build_l0`
            // moved them): they are visited as that segment's, by whoever
            // visits it alone — here only if nothing but this memtable
            // holds it. The current manifest holds a memtable with an heir
            // only between the flush's build and its publication, which
            // replaces the memtable by the heir: a visit reports the same
            // payloads on either side of it.
            if !owned_only || Arc::strong_count(heir) == 1 {
                visit_segment(heir, f);
            }
            continue;
        }
        let (mut i, n) = (0, mt.run.len());
        while i < n {
            let vals = mt.run.vals_at(i, n);
            f(vals);
            i += vals.len();
        }
        mt.ooo_range(Timestamp::MIN, Timestamp::MAX, |_, _, v| {
            f(std::slice::from_ref(v));
            true
        });
    }
    for s in m.l0.iter().chain(m.l1.iter()) {
        if owned_only && Arc::strong_count(s) != 1 {
            continue;
        }
        visit_segment(s, f);
    }
}

/// Visits every payload of `s`, a page at a time.
fn visit_segment<T>(s: &Segment<T>, f: &mut dyn FnMut(&[T])) {
    for p in s.read_pages() {
        f(p.payloads());
    }
}

impl<T> Snapshot<T> {
    /// Pins and holds the manifest `m` borrows, at watermark `w` (R9).
    pub(crate) fn new(m: ManifestGuard<T>, w: SeqNo) -> Self {
        let shared = NonNull::from(Box::leak(Box::new(Shared { handles: HandleCount::new(1), held: Held::new(m, w) })));
        note(CountOp::ArcNew, shared);
        Self { shared, _owns: PhantomData }
    }

    #[inline]
    pub(crate) fn manifest(&self) -> &Manifest<T> {
        self.held().manifest()
    }

    /// Leaves this snapshot — its last handle, about to drop — in its
    /// stripe's park, pinned and held, for the stripe's next snapshot to
    /// take back (R9, "Parking"). Only a snapshot holding its manifest by a
    /// hold parks (one that raced a publication holds a retired manifest
    /// by a reference of its own), and only while its manifest's version is
    /// the one the park accepts (no publication since has swept the
    /// stripe). Returns whether it parked: then `Shared` belongs to the
    /// park, and the caller must not touch it again.
    #[inline]
    fn park(&self) -> bool {
        if crate::sync::unwinding() {
            return false; // model builds: keep the checker's report
        }
        let held = self.held();
        if held.own.is_some() {
            return false;
        }
        let m = held.manifest();
        m.pins.park(held.stripe, m.version, self.shared.as_ptr() as u64)
    }

    /// The snapshot a park held at `addr`, owned again (R9, "Parking").
    ///
    /// # Safety
    /// `addr` was taken out of a park by this call's caller (a successful
    /// `PinCounter::take` or an eviction by `PinCounter::sweep_stripe`), so
    /// the caller owns it: it was parked by [`park`](Self::park) as the
    /// address of a last handle's `Shared` of this `T`.
    #[inline]
    pub(crate) unsafe fn from_parked(addr: u64) -> Self {
        // SAFETY: the caller's contract: `addr` is a parked `Shared<T>`'s
        // address (never null: a `Box`'s), now owned by the caller.
        let shared = unsafe { NonNull::new_unchecked(addr as usize as *mut Shared<T>) };
        Self { shared, _owns: PhantomData }
    }

    /// Moves the watermark of a snapshot just taken out of a park to `w`
    /// (R5: the caller checked that its manifest is the current one after
    /// taking it, and `w` is read after that check).
    #[inline]
    pub(crate) fn refresh(&mut self, w: SeqNo) {
        debug_assert!(self.sole_handle(), "only a snapshot just taken from a park is refreshed");
        // SAFETY: `self` is the only handle of a snapshot just taken out of
        // a park (`from_parked`'s contract): no other thread can reach
        // `Shared` (the park's word no longer holds its address), so this
        // write races nothing; the Acquire of the take ordered the parking
        // handle's reads before it.
        unsafe { (*self.shared.as_ptr()).held.w = w };
        note(CountOp::ArcReuse, self.shared);
    }

    /// Frees a snapshot a sweep evicted from a park without parking it
    /// again (R9, "Parking"): the drop of an [`Evicted`].
    fn free(self) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `Box::from_raw`'s contract: `shared` came from
        // `Box::leak` (`Snapshot::new`) and `this` is its only handle (a
        // parked snapshot has exactly one, `from_parked`'s contract); it is
        // freed once, here, and `this` is never dropped.
        drop(unsafe { Box::from_raw(this.shared.as_ptr()) });
    }
}

/// A snapshot a sweep took out of a park (R9, "Parking"): dropping it
/// releases its pin and hold — and, if it held the last hold of a retired
/// manifest, that manifest — without parking it again. The catalog drops
/// it at once when that cannot release payloads under an engine lock, and
/// buries it otherwise (R12).
pub(crate) struct Evicted<T>(Option<Snapshot<T>>);

impl<T> Evicted<T> {
    /// # Safety
    /// As [`Snapshot::from_parked`].
    pub(crate) unsafe fn new(addr: u64) -> Self {
        // SAFETY: the caller's contract, the same.
        Self(Some(unsafe { Snapshot::from_parked(addr) }))
    }

    /// The manifest the evicted snapshot holds.
    pub(crate) fn manifest(&self) -> &Manifest<T> {
        self.0.as_ref().expect("alive until dropped").manifest()
    }
}

impl<T> Drop for Evicted<T> {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.free();
        }
    }
}

impl<T> Snapshot<T> {
    /// Model checkers only: how many snapshots, over all executions so far,
    /// found their manifest retired before their hold was counted and took
    /// a reference instead (R9, "Holds"): lets a scenario show it covers
    /// that path.
    #[doc(hidden)]
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub fn model_hold_fallbacks() -> usize {
        MODEL_FALLBACKS.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Which way a cursor walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Ascending timestamps; equal timestamps in insertion order.
    #[default]
    Asc,
    /// Descending timestamps; equal timestamps in reverse insertion order.
    Desc,
}

/// Converts a half-open `[t1, t2)` into inclusive bounds (`None` if empty).
#[inline]
pub(crate) fn half_open(t1: Timestamp, t2: Timestamp) -> Option<(Timestamp, Timestamp)> {
    let b = crate::Bounds::half_open(t1, t2);
    (!b.is_empty()).then_some((b.lo, b.hi))
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    #[inline]
    pub(crate) fn view(&self) -> View<'_, T> {
        View { m: self.held().manifest(), w: self.held().w }
    }

    /// The time unit of the log this snapshot was taken of.
    pub fn time_unit(&self) -> crate::TimeUnit {
        self.manifest().pins.unit
    }

    /// Visits every payload that only this snapshot holds (the complement
    /// of [`Timelog::for_each_payload`](crate::Timelog::for_each_payload)):
    /// nothing when the snapshot is shared with clones (cursors, page spans)
    /// or its manifest with the log or other snapshots; otherwise the
    /// payloads of the parts no other manifest references. Takes no lock.
    /// Each call of `f` gets a stretch of payloads contiguous in memory,
    /// as [`Timelog::for_each_payload`](crate::Timelog::for_each_payload)'s.
    pub fn for_each_owned_payload(&self, f: &mut dyn FnMut(&[T])) {
        if self.sole_handle() && self.held().sole_owner() {
            visit_parts(self.manifest(), true, f);
        }
    }

    /// Contention audit (test-only, `contention-audit`): the bytes of the
    /// line of the manifest's stripe this snapshot holds it on (its hold
    /// count and that stripe's coverage cache), and of the manifest's
    /// `remaining` count (R9, "Holds"), for classifying recorded writes.
    #[doc(hidden)]
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub fn audit_hold_lines(&self) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        self.manifest().holds.audit_lines(Some(self.held().stripe))
    }

    /// The sequence watermark: the snapshot sees sequences `<=` this.
    pub fn watermark(&self) -> SeqNo {
        self.held().w
    }

    /// Visits the visible payloads at exactly `ts`, in insertion order;
    /// returns how many.
    pub fn point_with(&self, ts: Timestamp, f: impl FnMut(&T)) -> usize {
        self.view().point(ts, f)
    }

    /// Number of visible records in `[t1, t2)`.
    pub fn count(&self, t1: Timestamp, t2: Timestamp) -> usize {
        half_open(t1, t2).map_or(0, |(lo, hi)| self.view().count(lo, hi))
    }

    /// Visible records per time bucket of `[t1, t2)`: bucket `i` counts
    /// `[t1 + i * bucket, min(t1 + (i + 1) * bucket, t2))` (aligned at `t1`;
    /// the last bucket is partial when `bucket` does not divide `t2 - t1`).
    /// Computed from the timestamps only — binary searches per source where
    /// no per-record visibility test applies — never reading a payload.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if
    /// `bucket <= 0` or the layout has more than
    /// [`MAX_HISTOGRAM_BUCKETS`](crate::MAX_HISTOGRAM_BUCKETS) buckets;
    /// [`Error::InvalidRange`](crate::Error::InvalidRange) if `t1 > t2`.
    pub fn histogram(&self, t1: Timestamp, t2: Timestamp, bucket: Timestamp) -> crate::Result<Vec<u64>> {
        let b = crate::query::histogram::Buckets::new(t1, t2, bucket)?;
        Ok(self.view().histogram(&b))
    }

    /// Number of visible records.
    pub fn len(&self) -> usize {
        self.view().count(Timestamp::MIN, Timestamp::MAX)
    }

    /// Whether no record is visible.
    pub fn is_empty(&self) -> bool {
        self.min_ts().is_none()
    }

    /// Smallest visible timestamp.
    pub fn min_ts(&self) -> Option<Timestamp> {
        self.view().first_at_or_after(Timestamp::MIN)
    }

    /// Greatest visible timestamp.
    pub fn max_ts(&self) -> Option<Timestamp> {
        self.view().last_at_or_before(Timestamp::MAX)
    }

    /// Smallest visible timestamp `> t`.
    pub fn next_ts(&self, t: Timestamp) -> Option<Timestamp> {
        t.checked_add(1).and_then(|t| self.view().first_at_or_after(t))
    }

    /// Greatest visible timestamp `< t`.
    pub fn prev_ts(&self, t: Timestamp) -> Option<Timestamp> {
        t.checked_sub(1).and_then(|t| self.view().last_at_or_before(t))
    }

    /// Whether a visible record has timestamp `ts`.
    pub fn contains(&self, ts: Timestamp) -> bool {
        self.view().contains(ts)
    }

    /// Zero-copy spans of the flushed pages overlapping `lo ..= hi`
    /// (physical storage: no tombstone filtering, memtables excluded).
    /// L1 pages come first (in time order), then each L0 segment's.
    pub fn page_spans(&self, lo: Timestamp, hi: Timestamp) -> Vec<PageSpan<T>> {
        let mut out = Vec::new();
        if lo > hi {
            return out;
        }
        let v = self.view();
        let m = self.manifest();
        let l1 = v.l1_overlapping(lo, hi);
        let l1 = (SegAt::l1_index(m, l1)..).zip(l1).map(|(k, s)| (SegAt::L1(k), s));
        for (at, s) in l1.chain(m.l0.iter().enumerate().map(|(k, s)| (SegAt::L0(k), s))) {
            if s.max_ts < lo || s.min_ts > hi {
                continue;
            }
            let (a, b) = (s.lower_bound(lo), s.upper_bound(hi));
            s.pieces(a, b, |pidx, _, x, y| {
                out.push(PageSpan { seg: at, page: pidx, start: x, end: y, snap: self.clone() });
            });
        }
        out
    }
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    /// The visible records of `lo ..= hi` as zero-copy page spans, when
    /// they are exactly the concatenation of such spans in `(ts, seq)`
    /// order: every visible record of the range is flushed, and the
    /// sources holding them (L1, each L0 segment) do not overlap in time
    /// (tombstones are applied by cutting the spans). `None` otherwise —
    /// records still in memtables, or overlapping L0 segments — and the
    /// caller reads the range with a cursor instead. Unlike
    /// [`page_spans`](Self::page_spans), the result respects deletes.
    pub fn visible_page_spans(&self, lo: Timestamp, hi: Timestamp) -> Option<Vec<PageSpan<T>>> {
        if lo > hi {
            return Some(Vec::new());
        }
        let v = self.view();
        // Counted before the coverage is taken: a read holds its stripe's
        // coverage cache until it drops the coverage (tombstone::CovCache).
        let visible = v.count(lo, hi);
        let cov = v.cov();
        let mut in_segments = 0usize;
        let mut cut = |at: SegAt, s: &Arc<Segment<T>>, out: &mut Vec<PageSpan<T>>| {
            crate::query::plan::for_each_visible_segment(s, lo, hi, &cov, |a, b| {
                in_segments += b - a;
                s.pieces(a, b, |pidx, _, x, y| {
                    out.push(PageSpan { seg: at, page: pidx, start: x, end: y, snap: self.clone() });
                });
            });
        };
        let m = self.manifest();
        let mut sources: Vec<Vec<PageSpan<T>>> = Vec::new();
        let mut l1 = Vec::new();
        let l1s = v.l1_overlapping(lo, hi);
        for (k, s) in (SegAt::l1_index(m, l1s)..).zip(l1s) {
            cut(SegAt::L1(k), s, &mut l1);
        }
        sources.push(l1);
        for (k, s) in m.l0.iter().enumerate() {
            if s.max_ts >= lo && s.min_ts <= hi {
                let mut o = Vec::new();
                cut(SegAt::L0(k), s, &mut o);
                sources.push(o);
            }
        }
        // Every visible record lives in exactly one source: the rest of
        // the count is in memtables.
        if visible != in_segments {
            return None;
        }
        sources.retain(|o| !o.is_empty());
        sources.sort_by_key(|o| o[0].timestamps()[0]);
        for w in sources.windows(2) {
            let last = *w[0].last().and_then(|p| p.timestamps().last()).expect("spans are never empty");
            if last >= w[1][0].timestamps()[0] {
                return None;
            }
        }
        Some(sources.into_iter().flatten().collect())
    }
}

/// Where a span's segment is in its snapshot's manifest. The manifest
/// keeps the segment alive (R9), so a span takes no reference count of its
/// own on it: making spans writes no shared cache line (the segment's count
/// is shared by every reader; see docs/threading.md, "Contention audit").
#[derive(Debug, Clone, Copy)]
enum SegAt {
    L0(usize),
    L1(usize),
}

impl SegAt {
    /// The index in `m.l1` of the first segment of `sub`, a subslice of it.
    fn l1_index<T>(m: &Manifest<T>, sub: &[Arc<Segment<T>>]) -> usize {
        (sub.as_ptr() as usize - m.l1.as_ptr() as usize) / std::mem::size_of::<Arc<Segment<T>>>().max(1)
    }
}

/// A zero-copy view of part of one flushed page: contiguous timestamps and
/// the payloads parallel to them. Holds its snapshot (and so its page) alive.
pub struct PageSpan<T> {
    seg: SegAt,
    page: usize,
    start: usize,
    end: usize,
    snap: Snapshot<T>,
}

impl<T> std::fmt::Debug for PageSpan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageSpan")
            .field("segment", &self.segment().id)
            .field("page", &self.page)
            .field("len", &(self.end - self.start))
            .finish()
    }
}

impl<T> PageSpan<T> {
    fn segment(&self) -> &Arc<Segment<T>> {
        let m = self.snap.manifest();
        match self.seg {
            SegAt::L0(k) => &m.l0[k],
            SegAt::L1(k) => &m.l1[k],
        }
    }
    fn pg(&self) -> &Page<T> {
        &self.segment().pages[self.page]
    }
    /// The timestamps, sorted ascending, borrowed from the page.
    pub fn timestamps(&self) -> &[Timestamp] {
        &self.pg().timestamps()[self.start..self.end]
    }
    /// The payloads, parallel to [`timestamps`](Self::timestamps).
    pub fn payloads(&self) -> &[T] {
        &self.pg().payloads()[self.start..self.end]
    }
    /// Number of records in the span.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// Whether the span holds no record.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    /// The snapshot this span belongs to.
    pub fn snapshot(&self) -> &Snapshot<T> {
        &self.snap
    }

    /// Visits the span's payloads if nothing but this span holds them: its
    /// snapshot is not shared (no clone, no other span of it), the
    /// snapshot's manifest is not shared, and the segment is referenced
    /// only by that manifest (a span holds it through the manifest).
    /// Otherwise visits nothing (see [`Snapshot::for_each_owned_payload`]).
    /// Takes no lock. `f` gets them in one call, as one slice.
    pub fn for_each_owned_payload(&self, f: &mut dyn FnMut(&[T])) {
        if self.snap.sole_handle() && self.snap.held().sole_owner() && Arc::strong_count(self.segment()) == 1 {
            f(self.payloads());
        }
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use std::sync::Arc as StdArc;

    use crate::{Config, MaintenanceMode, Order, Timelog};

    fn log_of(payload: &StdArc<u32>, n: i64) -> Timelog<StdArc<u32>> {
        let log = Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for t in 0..n {
            let _ = log.append(t, payload.clone()).unwrap();
        }
        log
    }

    /// R9 (Holds): snapshots may outlive their log. The log's drop retires
    /// its last manifest (the one the snapshot holds by a hold, not a
    /// reference), and the snapshot's drop — the last holder — frees the
    /// payloads; until then only the last snapshot standing owns them.
    #[test]
    fn a_snapshot_outlives_its_log_and_frees_the_payloads_last() {
        let payload = StdArc::new(7u32);
        let log = log_of(&payload, 100);
        let snap = log.snapshot().unwrap();
        let other = log.snapshot().unwrap();
        let mut seen = 0;
        snap.for_each_owned_payload(&mut |s| seen += s.len());
        assert_eq!(seen, 0, "the log's cell holds the manifest too");
        let mut by_log = 0;
        log.for_each_payload(&mut |s| by_log += s.len());
        assert_eq!(by_log, 100, "the log visits its current parts whoever shares them");
        let cursor = snap.all(Order::Asc);
        drop(log);
        assert_eq!(StdArc::strong_count(&payload), 101, "held by the snapshots");
        snap.for_each_owned_payload(&mut |s| seen += s.len());
        assert_eq!(seen, 0, "shared with the cursor and another snapshot");
        drop(other);
        assert_eq!(cursor.count(), 100);
        snap.for_each_owned_payload(&mut |s| seen += s.len());
        assert_eq!(seen, 100, "the last snapshot standing owns every payload");
        assert_eq!(snap.len(), 100);
        drop(snap);
        assert_eq!(StdArc::strong_count(&payload), 1, "the last holder freed the payloads");
    }

    /// The handle count (`Shared`): clones made and dropped on several
    /// threads at once, in every order, free the snapshot exactly once —
    /// after the last handle — and only then release its pin and the
    /// payloads its retired manifest kept; a clone's drop is never the
    /// last while another handle lives.
    #[test]
    fn clones_dropped_on_many_threads_free_the_snapshot_once() {
        let payload = StdArc::new(7u32);
        for round in 0..50 {
            let log = log_of(&payload, 20);
            let snap = log.snapshot().unwrap();
            let clones: Vec<_> = (0..4).map(|_| snap.clone()).collect();
            drop(log); // only the snapshot's handles hold the manifest now
            assert_eq!(StdArc::strong_count(&payload), 21);
            // Round-dependent: the original goes first, last or meanwhile.
            let (early, late) = if round % 2 == 0 { (Some(snap), None) } else { (None, Some(snap)) };
            drop(early);
            std::thread::scope(|s| {
                for c in clones {
                    s.spawn(move || {
                        assert_eq!(c.len(), 20, "a live handle reads the snapshot");
                        drop(c);
                    });
                }
            });
            if let Some(last) = late {
                assert_eq!(StdArc::strong_count(&payload), 21, "one handle left");
                let mut owned = 0;
                last.for_each_owned_payload(&mut |s| owned += s.len());
                assert_eq!(owned, 20, "the sole handle of the sole holder");
                drop(last);
            }
            assert_eq!(StdArc::strong_count(&payload), 1, "round {round}: freed once, after the last handle");
        }
    }

    fn parked<T: Clone + Send + Sync + 'static>(log: &Timelog<T>) -> usize {
        log.inner.catalog.pins().parked()
    }

    /// R9 (Parking): the last handle of an unused snapshot parks it; the
    /// thread's next snapshot takes it back — the same allocation — with
    /// its watermark read anew (it sees what was written meanwhile without
    /// a publication), and parks it again.
    #[test]
    fn a_dropped_snapshot_is_taken_back_with_a_fresh_watermark() {
        let payload = StdArc::new(7u32);
        let log = log_of(&payload, 10);
        let s = log.snapshot().unwrap();
        let addr = s.shared.as_ptr() as usize;
        let w = s.watermark();
        drop(s);
        assert_eq!(parked(&log), 1);
        let _ = log.append(10, payload.clone()).unwrap();
        let version = log.stats().unwrap().manifest_version;
        let s = log.snapshot().unwrap();
        assert_eq!(log.stats().unwrap().manifest_version, version, "the append published nothing");
        assert_eq!(s.shared.as_ptr() as usize, addr, "the parked snapshot is reused");
        assert_eq!(parked(&log), 0, "taken out of the park");
        assert!(s.watermark() > w, "its watermark is read anew");
        assert_eq!(s.len(), 11, "it sees the record appended while it was parked");
        assert_eq!(log.stats().unwrap().pinned_readers, 1);
        drop(s);
        assert_eq!(parked(&log), 1);
        assert_eq!(log.stats().unwrap().pinned_readers, 0, "a parked snapshot is no reader");
        log.close().unwrap();
        assert_eq!(StdArc::strong_count(&payload), 1, "close() evicted it and freed the payloads");
    }

    /// R9 (Parking): every publication evicts what is parked and refuses
    /// snapshots of the manifest it replaced, so a snapshot of a replaced
    /// manifest never stays parked: taken before a flush and dropped after
    /// it, it is freed, and the next snapshot is a new one of the new
    /// manifest.
    #[test]
    fn a_publication_evicts_and_refuses_replaced_snapshots() {
        let payload = StdArc::new(7u32);
        let log = log_of(&payload, 10);
        drop(log.snapshot().unwrap());
        assert_eq!(parked(&log), 1);
        let held = log.snapshot().unwrap(); // the parked one, taken back
        drop(log.snapshot().unwrap()); // a second one parks
        assert_eq!(parked(&log), 1);
        log.flush().unwrap();
        assert_eq!(parked(&log), 0, "the flush's publication evicted it");
        drop(held); // of the replaced manifest: refused
        assert_eq!(parked(&log), 0);
        assert_eq!(log.parked_stale(), 0);
        let s = log.snapshot().unwrap();
        assert_eq!(s.manifest().version, log.stats().unwrap().manifest_version);
        assert_eq!(s.len(), 10);
        drop(s);
        assert_eq!(parked(&log), 1, "a snapshot of the new manifest parks");
        assert_eq!(log.parked_stale(), 0);
    }

    /// R9 (Parking): `pinned()` counts live snapshots only: it evicts the
    /// parked ones and keeps the current manifest's from parking until the
    /// next publication; `close()` then succeeds with nothing live.
    #[test]
    fn pinned_and_close_do_not_count_parked_snapshots() {
        let payload = StdArc::new(7u32);
        let log = log_of(&payload, 10);
        drop(log.snapshot().unwrap());
        let live = log.snapshot().unwrap();
        drop(log.snapshot().unwrap());
        assert_eq!(parked(&log), 1);
        assert_eq!(log.pinned(), 1, "the live one only");
        assert_eq!(parked(&log), 0, "evicted");
        drop(live);
        assert_eq!(parked(&log), 0, "no parking until the next publication");
        assert_eq!(log.pinned(), 0);
        let _ = log.append(10, payload.clone()).unwrap();
        log.flush().unwrap();
        drop(log.snapshot().unwrap());
        assert_eq!(parked(&log), 1, "parking resumes after a publication");
        log.close().unwrap();
        assert_eq!(parked(&log), 0);
        assert_eq!(StdArc::strong_count(&payload), 1);
    }

    /// R9 (Parking): a snapshot parked when its log drops is freed with the
    /// log; a snapshot outliving the log does not park (the log's drop
    /// closed the parks) and frees the payloads last.
    #[test]
    fn the_log_drop_frees_the_parked_snapshots() {
        let payload = StdArc::new(7u32);
        let log = log_of(&payload, 10);
        drop(log.snapshot().unwrap());
        let outliving = log.snapshot().unwrap();
        drop(log.snapshot().unwrap());
        assert_eq!(parked(&log), 1);
        drop(log);
        assert_eq!(StdArc::strong_count(&payload), 11, "the outliving snapshot holds the payloads");
        assert_eq!(outliving.len(), 10);
        drop(outliving);
        assert_eq!(StdArc::strong_count(&payload), 1, "nothing parked keeps them");
    }

    /// R9 (Parking): snapshots taken and dropped on many threads at once,
    /// beside a writer whose seals publish all the time: every snapshot
    /// reads a consistent prefix (its watermark's records, in order), and
    /// once everything stops no parked snapshot holds a replaced manifest
    /// and the payloads are all freed with the log.
    #[test]
    fn parking_beside_publications_keeps_reads_consistent() {
        let payload = StdArc::new(7u32);
        let log = Timelog::with_config(Config {
            maintenance: MaintenanceMode::Disabled,
            memtable_max_bytes: 4096,
            ..Config::default()
        })
        .unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for t in 0..20_000 {
                    let _ = log.append(t, payload.clone()).unwrap();
                    if t % 2000 == 0 {
                        log.flush().unwrap();
                    }
                }
                stop.store(true, std::sync::atomic::Ordering::Release);
            });
            for _ in 0..3 {
                s.spawn(|| {
                    let mut last = 0;
                    loop {
                        let done = stop.load(std::sync::atomic::Ordering::Acquire);
                        let snap = log.snapshot().unwrap();
                        let n = snap.len();
                        assert!(n >= last, "a later snapshot sees no fewer records");
                        let ts: Vec<i64> = snap.all(Order::Asc).map(|(t, _)| t).collect();
                        assert_eq!(ts, (0..n as i64).collect::<Vec<_>>(), "a prefix, in order");
                        last = n;
                        drop(snap);
                        if done {
                            break;
                        }
                    }
                });
            }
        });
        assert_eq!(log.parked_stale(), 0);
        assert_eq!(log.pinned(), 0);
        drop(log);
        assert_eq!(StdArc::strong_count(&payload), 1);
    }

    /// `Timelog::for_each_payload` and `Snapshot::for_each_owned_payload`
    /// together visit each payload reference the engine holds exactly
    /// once (what a cycle collector's traversal needs): the log every part
    /// of its current manifest (memtable run and late records, L0, L1),
    /// shared or not; a snapshot the parts only its retired manifest holds.
    #[test]
    fn the_log_and_a_lone_snapshot_visit_each_reference_once() {
        let payload = StdArc::new(7u32);
        let log = log_of(&payload, 100);
        let _ = log.append(50, payload.clone()).unwrap();
        log.flush().unwrap();
        log.compact().unwrap();
        for t in 100..150 {
            let _ = log.append(t, payload.clone()).unwrap();
        }
        log.flush().unwrap();
        for t in (150..160).rev() {
            let _ = log.append(t, payload.clone()).unwrap();
        }
        let visits = |log: &Timelog<StdArc<u32>>| {
            let mut n = 0;
            log.for_each_payload(&mut |s| n += s.len());
            n
        };
        let snap = log.snapshot().unwrap();
        assert_eq!(visits(&log), StdArc::strong_count(&payload) - 1);
        let _ = log.delete_range(0, 120).unwrap();
        log.flush().unwrap();
        log.compact().unwrap();
        let mut by_snap = 0;
        snap.for_each_owned_payload(&mut |s| by_snap += s.len());
        assert!(by_snap > 0, "the deleted parts are the snapshot's alone");
        assert_eq!(visits(&log) + by_snap, StdArc::strong_count(&payload) - 1);
        drop(snap);
        assert_eq!(visits(&log), StdArc::strong_count(&payload) - 1);
        assert_eq!(visits(&log), 40);
    }

    /// R9 (Holds) + R12: a snapshot held across a maintainer's publication
    /// keeps the replaced manifest; the publication's graveyard is drained
    /// when the maintainer is done, and the snapshot's drop frees what only
    /// it held, at once (not at a later publication).
    #[test]
    fn payloads_go_when_the_last_holder_goes() {
        let payload = StdArc::new(7u32);
        let log = log_of(&payload, 100);
        let snap = log.snapshot().unwrap();
        let _ = log.delete_before(100).unwrap();
        log.flush().unwrap();
        log.compact().unwrap();
        assert_eq!(log.len().unwrap(), 0);
        assert_eq!(StdArc::strong_count(&payload), 101, "the snapshot holds the replaced manifest");
        assert_eq!(snap.len(), 100);
        drop(snap);
        assert_eq!(StdArc::strong_count(&payload), 1);
    }
}
