//! The merged view of a memtable with late records (rule R13).
//!
//! A memtable keeps its in-order records in a [`Run`](super::Run) and its
//! late ones in the skiplist (`ooo.rs`). A scan over both merges two
//! sources whose heads alternate every few records (with 5% late records,
//! a switch every ~20), and reaches the late payloads through skiplist
//! nodes. The merged view is that merge done once and shared: the
//! memtable's records with a sequence `<= w` (for the watermark `w` of the
//! reader that built it), sorted by `(ts, seq)`, as three arrays —
//! timestamps, sequences and payloads. The payloads are clones (`T: Clone`
//! is the engine's contract for cheap handles: the flush clones them into
//! a segment the same way), or, in a log with the
//! [`BitwisePayloads`](crate::BitwisePayloads) promise, bitwise copies
//! that are never dropped ([`Vals`]: no reference count or payload object
//! touched by a build), so a scan reads one sorted span with its
//! payloads in place, like a segment's page — the loop the compiler
//! vectorizes for in-order data — not a pointer per record.
//!
//! - **Built by readers, never by a writer**, in *shares* (R13 (5)), of
//!   a memtable with at least [`MIN_LATE`] late records and no view that
//!   serves the reader: by short reads — each short read that planned the
//!   memtable without a view adds records in proportion to the late
//!   records it collected, at most about what it read ([`share`]) — and by
//!   long or open-ended reads (a quarter of the memtable's time span or
//!   more, or reaching its last timestamp), in either direction, which
//!   build nothing before their first row: they collect the skiplist as
//!   they read and add [`HELP_LONG_PER_LATE`] records per late record of
//!   each chunk after the first ([`Memtable::merged_lazy`],
//!   [`Memtable::help_long`]). A full scan of a memtable with about 3%
//!   late records or more completes the view before its end. A share goes
//!   to a build parked in the memtable's slot — taken by an `Acquire` compare-and-swap that leaves a
//!   "taken" mark, parked again by a `Release` store; a reader that finds
//!   the mark, or loses the compare-and-swap, skips its share. Either way the finished view is published by one
//!   compare-and-swap of the memtable's slot (`Release`; readers load it
//!   with `Acquire`, R13). A builder that loses the race frees its own,
//!   never published, view and plans the usual way. Nobody waits.
//! - **Complete up to its watermark** (R5): every record of the memtable
//!   with a sequence `<= w` was inserted (into the run below its published
//!   length, or linked into the skiplist) before `w` was committed, so the
//!   builder, holding a snapshot at `w`, sees all of them. The run's
//!   sequences increase (R3), so its records in the view are a prefix
//!   `[0, run_n)` and every later position has a sequence `> w`.
//! - **Extended, not rebuilt, while the memtable grows**: a reader with a
//!   watermark `w' >= w` reads the view plus what came after it — the run's
//!   positions from `run_n` on and the skiplist records with a sequence in
//!   `(w, w']` (none when the skiplist's greatest sequence is `<= w`, R7's
//!   `ooo_max_seq` argument), and only from their *late floor* on
//!   (R13 (6), `floor.rs`: no newer record has an earlier timestamp) — as
//!   extra sources of the merge. Once that
//!   tail exceeds half the view, the next scans build a new view in shares
//!   (a long one reads the old view meanwhile). A reader
//!   with `w' < w` (a snapshot older than the view) plans the usual way.
//! - **Tombstones are not in it**: the view holds records, not visibility;
//!   a reader uses it only where no tombstone it sees covers the range.
//! - **Read by** range reads (with the run's tail and the newer late
//!   records beside it), counts (`merged_existing`: never building one),
//!   and navigation (`next_ts`, `prev_ts`, …) when it holds every record
//!   the reader sees (`query::point::nav_view`): then one search of its
//!   block fences and one block answers, instead of the run's search and a
//!   walk of the skiplist.
//! - **Never freed while reachable** (R13, with R9): a replaced view stays
//!   in a chain owned by the memtable and is freed with it, when no
//!   snapshot reaches the memtable. A view is rebuilt only after the
//!   memtable grew by half of it, so the chain holds at most about three
//!   times the last view's bytes (`16 + size_of::<T>()` per record, 1/8 byte
//!   more for its block fences, and
//!   the clones: for a reference-counted payload, one more reference; none
//!   for bitwise copies). Until the memtable drops, the clones keep their
//!   payloads alive, as the memtable's own records do. A build in shares that short reads stop
//!   extending stays parked, with the clones it holds, until the memtable
//!   drops or a newer view makes it moot: at most one view's worth more.

use crate::segment::blockvec::BlockVec;
use crate::segment::Take;
use crate::segment::{below_limit, count_below, fence_count, interpolation_fits, probe_near, Line, Seek, BLOCK};
use crate::sync::{AtomicPtr, Ordering, Region, UnsyncGet};
use crate::{SeqNo, Timestamp};

use super::Memtable;

/// Late records a memtable needs before a scan builds its view: below it,
/// the merge of run and skiplist switches sources a few times per read and
/// a view would not pay for its build. Under the model checkers 3: the
/// skiplist scenarios (three late records or more) exercise the view, and
/// the scenarios where at most two writes miss the appender flag (e.g.
/// `seal/two_writers_advance_the_watermark`, already at CI's budget) do not
/// explore it.
pub(crate) const MIN_LATE: usize = if crate::sync::MODEL { 3 } else { 64 };

/// A memtable's records with sequence `<= w`, sorted by `(ts, seq)` (see
/// the module docs). Immutable once published.
pub(crate) struct Merged<T> {
    /// The watermark it was built at.
    pub(crate) w: SeqNo,
    /// Run positions `[0, run_n)` are in it; the later ones have a sequence `> w` (R3).
    pub(crate) run_n: usize,
    /// Skiplist records in it (for the rebuild heuristic).
    pub(crate) ooo_n: usize,
    pub(crate) ts: BlockVec<Timestamp>,
    pub(crate) seq: BlockVec<SeqNo>,
    /// The payloads: clones, or bitwise copies ([`Vals`]).
    pub(crate) val: Vals<T>,
    /// The last timestamp of each complete [`BLOCK`] of `ts`: a search
    /// reads these, then one block ([`seek`](Self::seek)), as a segment's
    /// or the run's search does, not a binary search's chain of dependent
    /// misses over the whole array.
    fences: Box<[Timestamp]>,
    /// The interpolated first probe's line ([`Line`]); [`Line::OFF`] turns
    /// the probe off ([`fit_line`](Self::fit_line)).
    line: Line,
    /// Model checkers: created with the view, read by every reader that
    /// uses it, destroyed with it (R13's publication and reclamation).
    region: Region,
    /// The view this one replaced (freed together, with the memtable).
    prev: *mut Merged<T>,
}

/// The payloads of a view or of a build under way: clones of the
/// memtable's payloads, or — in a log with the
/// [`BitwisePayloads`](crate::BitwisePayloads) promise
/// (`Memtable::is_bitwise`) — bitwise copies of them, which no reference
/// count, no `clone` and no cache line of the payloads' own memory pays
/// for, and which are never dropped: the memtable owns the originals (or
/// its heir does, R8, kept alive by the memtable), and a view and a parked
/// build are freed only with the memtable (R13), so every copy is read
/// only while its original lives. The promise is what allows the two
/// copies to be in use at once, as after a flush that moves them.
pub(crate) struct Vals<T> {
    v: BlockVec<T>,
    /// Bitwise copies: dropping the `Vals` drops none of them.
    copies: bool,
}

impl<T> Vals<T> {
    fn with_capacity(n: usize, copies: bool) -> Self {
        Self { v: BlockVec::with_capacity(n), copies }
    }

    /// Appends `vals`: clones, or bitwise copies (see the type).
    ///
    /// # Safety
    ///
    /// With `copies`, `vals` are payloads the memtable this build belongs
    /// to owns (or its heir does), so they outlive every read of the
    /// copies (R13: a view is freed with its memtable).
    unsafe fn extend(&mut self, vals: &[T])
    where
        T: Clone,
    {
        if self.copies {
            // SAFETY: `BlockVec::extend_bitwise`'s contract: the copies are
            // never dropped (`Drop` below) and outlive no original (this
            // function's contract); the `BitwisePayloads` promise
            // (`copies`) allows their use alongside the originals.
            unsafe { self.v.extend_bitwise(vals) };
        } else {
            self.v.extend_cloned(vals);
        }
    }

    /// Appends `v`, taken as [`Late`] took it.
    fn push(&mut self, v: std::mem::ManuallyDrop<T>) {
        self.v.push(std::mem::ManuallyDrop::into_inner(v));
    }
}

/// The late records a build fetched and has not merged yet, ascending,
/// their payloads taken as the build's [`Vals`] takes them: clones,
/// dropped with the queue if the build is dropped unfinished (moot, or
/// with its memtable), or bitwise copies, forgotten.
struct Late<T> {
    q: std::collections::VecDeque<(Timestamp, SeqNo, std::mem::ManuallyDrop<T>)>,
    copies: bool,
}

impl<T> Late<T> {
    /// Queues the record of skiplist payload `v`.
    ///
    /// # Safety
    ///
    /// As [`Vals::extend`], for `v`: a payload the memtable this build
    /// belongs to owns (a build is freed with it).
    unsafe fn push_back(&mut self, ts: Timestamp, seq: SeqNo, v: &T)
    where
        T: Clone,
    {
        let take = if self.copies { Take::Move } else { Take::Clone };
        // SAFETY: `Take::take`'s contract: a bitwise copy is never dropped
        // (`ManuallyDrop`, and `Drop` below forgets it) and is read only
        // while its original lives (this function's contract), beside it
        // as the `BitwisePayloads` promise (`copies`) allows.
        self.q.push_back((ts, seq, std::mem::ManuallyDrop::new(unsafe { take.take(v) })));
    }
}

impl<T> Drop for Late<T> {
    fn drop(&mut self) {
        if !self.copies {
            for (_, _, v) in self.q.iter_mut() {
                // SAFETY: a clone this queue owns, dropped once: the deque
                // is dropped next, which drops no `ManuallyDrop`.
                unsafe { std::mem::ManuallyDrop::drop(v) };
            }
        }
    }
}

impl<T> std::ops::Deref for Vals<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        &self.v
    }
}

impl<T> Drop for Vals<T> {
    fn drop(&mut self) {
        if self.copies {
            // SAFETY: bitwise copies of payloads someone else owns (see
            // the type): forgotten, not dropped; the block is still freed.
            unsafe { self.v.set_len(0) };
        }
    }
}

impl<T> Merged<T> {
    /// Records in the view.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ts.len()
    }

    /// The positions with `lo <= ts <= hi`.
    #[inline]
    pub(crate) fn bounds(&self, lo: Timestamp, hi: Timestamp) -> (usize, usize) {
        let a = self.seek(lo, false).pos;
        if a == self.len() || self.ts[a] > hi {
            return (a, a);
        }
        (a, self.seek(hi, true).pos)
    }

    /// The first position whose timestamp is `> ts` (`incl`) or `>= ts`,
    /// with the timestamps beside it that the search read ([`Seek`]): the
    /// block where interpolation puts `ts`, when the answer is inside it
    /// (as a segment's search), else the fences, then one block.
    #[inline]
    pub(crate) fn seek(&self, ts: Timestamp, incl: bool) -> Seek {
        self.region.read();
        if let Some(i) = self.interpolate(ts, incl) {
            return Seek::within(i, &self.ts, i);
        }
        // Complete blocks whose last timestamp is below: all of them are;
        // the answer is in the next block (or the short last one).
        let j = fence_count(&self.fences, ts, incl);
        let x = j * BLOCK;
        let y = (x + BLOCK).min(self.ts.len());
        let i = x + count_below(&self.ts[x..y], ts, incl);
        Seek::within(i, &self.ts, i)
    }

    /// The interpolated probe's line ([`Line::fit`]), kept where the probe
    /// answers ([`interpolation_fits`]); once, as the view is built.
    fn fit_line(mut self) -> Self {
        self.line = Line::fit(self.ts.len(), |i| self.ts[i]);
        // Only whether the probe answers matters here (a view always
        // gallops, `Line::unless_off`): no offset from the guess.
        let fit = interpolation_fits(self.ts.len(), |i| self.ts[i], |t| self.interpolate(t, false).map(|_| 0));
        self.line = self.line.unless_off(fit);
        self
    }

    /// [`seek`](Self::seek)'s interpolated probe: a gallop from the guess,
    /// `None` unless the answer is near it ([`probe_near`]).
    #[inline(always)]
    fn interpolate(&self, ts: Timestamp, incl: bool) -> Option<usize> {
        // Off: not evenly spread enough (`fit_line`), or all equal.
        if self.line.is_off() {
            return None;
        }
        let lim = below_limit(ts, incl)?;
        probe_near(&self.ts, lim, self.line.guess(ts, self.ts.len()), false)
    }
}

/// The memtable's slot for its current view, and the owner of every view
/// it ever published.
pub(crate) struct Slot<T> {
    cur: AtomicPtr<Merged<T>>,
    /// The view under construction by short reads (R13 (5)): null (none),
    /// [`taken`] (a reader is extending it) or the parked build.
    build: AtomicPtr<Build<T>>,
}

// SAFETY: views are immutable once published (R13) and own `T: Send + Sync`
// payloads; the slot owns its views.
unsafe impl<T: Send + Sync> Send for Slot<T> {}
// SAFETY: as above: shared access only reads published views.
unsafe impl<T: Send + Sync> Sync for Slot<T> {}

impl<T> Slot<T> {
    pub(crate) fn new() -> Self {
        Self { cur: AtomicPtr::new(std::ptr::null_mut()), build: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// The current view (`Acquire`), as the pointer a publication replaces
    /// and as a reference.
    #[inline]
    fn current(&self) -> (*mut Merged<T>, Option<&Merged<T>>) {
        let p = self.cur.load(Ordering::Acquire);
        // SAFETY: R13: a non-null view was published by the `Release` CAS
        // of `publish` after it was built, and is freed only with the slot
        // (the memtable), which `&self` borrows.
        let m = unsafe { p.as_ref() };
        if let Some(m) = m {
            m.region.read();
        }
        (p, m)
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return; // a model checker's report: leak rather than touch model state
        }
        let mut p = self.cur.unsync_get();
        while !p.is_null() {
            // SAFETY: R13/R9: `&mut self`, the memtable is being dropped, so
            // no snapshot reaches it or any of its views; each view came
            // from `Box::into_raw` in `Memtable::merged` and is in the
            // chain once.
            let b = unsafe { Box::from_raw(p) };
            p = b.prev;
        }
        let b = self.build.unsync_get();
        if !b.is_null() && b != taken() {
            // SAFETY: R13 (5): a parked build came from `Box::into_raw` in
            // `help_build` and has no owner; `&mut self`: nobody takes it.
            // (The mark stays only if its owner panicked, which dropped it.)
            drop(unsafe { Box::from_raw(b) });
        }
    }
}

impl<T: Send + Sync + 'static> Memtable<T> {
    /// Whether view `m` (with `m.w <= w`) serves a reader at `w`: the
    /// records after it are at most half of it (the rebuild heuristic).
    fn serves(&self, m: &Merged<T>, w: SeqNo) -> bool {
        self.serves_upto(m, self.run.seq_upper_bound(w, 0, self.run.len()))
    }

    /// [`serves`](Self::serves), given the run's visible prefix `nvis`.
    fn serves_upto(&self, m: &Merged<T>, nvis: usize) -> bool {
        let run_tail = nvis.saturating_sub(m.run_n);
        let ooo_tail = self.late_hint().saturating_sub(m.ooo_n);
        run_tail + ooo_tail <= m.len() / 2
    }

    /// The view that exists and serves a reader at `w` (as
    /// [`Memtable::merged`] finds it), never building one: for the reads
    /// that must not pay for a build (`count`, `len`).
    pub(crate) fn merged_existing(&self, w: SeqNo) -> Option<&Merged<T>> {
        if self.late_hint() < MIN_LATE {
            return None;
        }
        let m = self.merged.current().1?;
        (m.w <= w && self.serves(m, w)).then_some(m)
    }

    /// The view [`merged_existing`](Self::merged_existing) finds for a
    /// reader at `w`, if it also holds every memtable record that reader
    /// sees: every run record (the run's visible prefix ends at `run_n`,
    /// R3) and every skiplist record it may see (none newer than the view:
    /// the reader's watermark is the view's, or R7's `ooo_max_seq`
    /// argument, as the range plan's). For navigation, which then reads the
    /// view alone (`query::point::nav_view`); the run's visible prefix is
    /// searched once for both tests.
    #[inline]
    pub(crate) fn merged_exact(&self, w: SeqNo) -> Option<&Merged<T>> {
        // Inline: the common answer (too few late records for a view).
        if self.late_hint() < MIN_LATE {
            return None;
        }
        self.merged_exact_lookup(w)
    }

    /// [`merged_exact`](Self::merged_exact) past its first test.
    fn merged_exact_lookup(&self, w: SeqNo) -> Option<&Merged<T>> {
        let m = self.merged.current().1?;
        if m.w > w {
            return None;
        }
        let nvis = self.run.seq_upper_bound(w, 0, self.run.len());
        let exact = nvis == m.run_n && self.ooo_max_seq().min(w) <= m.w;
        (exact && self.serves_upto(m, nvis)).then_some(m)
    }
}

impl<T: Clone + Send + Sync + 'static> Memtable<T> {
    /// What a range read of `[lo, hi]` (inclusive) by a reader at `w`
    /// reads this memtable through, never building a view (R13 (5)): the
    /// view, and whether the read takes shares of a build as it collects
    /// the skiplist records the view lacks (`OooMore`, R13 (7)).
    ///
    /// - A view that serves `w` (module docs: not newer than `w`, and the
    ///   records after it at most half of it): `(Some(view), false)`.
    /// - A long read (a quarter of the time span or more), or one that
    ///   reaches the memtable's last timestamp, that finds none: the
    ///   current view if it is not newer than `w` — it holds what it holds
    ///   whatever was added since (R13 (2)); serving is a cost policy — or
    ///   none, and `true`: the read collects the skiplist as it goes, in
    ///   either direction, and takes a share per chunk after its first
    ///   (`help_long`), so its first rows cost a bounded number of visits
    ///   (issue 10) where building the view would visit every record of
    ///   the memtable, or collecting at plan time every late record of the
    ///   range, before the first row.
    /// - A short read within the memtable that finds none: `(None,
    ///   false)`, read the usual way (its range bounds what it collects;
    ///   its share at plan time, `help_build`).
    #[inline]
    pub(crate) fn merged_lazy(&self, w: SeqNo, lo: Timestamp, hi: Timestamp) -> (Option<&Merged<T>>, bool) {
        // Inline: the common answer (too few late records for a view).
        if self.late_hint() < MIN_LATE {
            return (None, false);
        }
        self.merged_lazy_lookup(w, lo, hi)
    }

    /// [`merged_lazy`](Self::merged_lazy) past its first test.
    fn merged_lazy_lookup(&self, w: SeqNo, lo: Timestamp, hi: Timestamp) -> (Option<&Merged<T>>, bool) {
        // Only a view not newer than the reader (R13 (2)). Seeded fault
        // (verification/faults.sh): a newer view too, whose records the
        // reader's snapshot does not hold.
        #[cfg(not(timelog_fault = "merged_lazy_stale_view"))]
        let cur = self.merged.current().1.filter(|m| m.w <= w);
        #[cfg(timelog_fault = "merged_lazy_stale_view")]
        let cur = self.merged.current().1;
        if let Some(m) = cur {
            if self.serves(m, w) {
                return (Some(m), false);
            }
        }
        let (long, open) = self.reach(lo, hi);
        if long || open {
            (cur, true)
        } else {
            (None, false)
        }
    }

    /// Whether a read of `[lo, hi]` (inclusive) covers at least a quarter
    /// of the memtable's time span (a *long* read, which would read most
    /// of the view it builds or helps build), and whether it reaches the
    /// memtable's last timestamp (`since(t)`: the late records it would
    /// collect at plan time are bounded by the memtable, not its range).
    fn reach(&self, lo: Timestamp, hi: Timestamp) -> (bool, bool) {
        let first = self.ooo.first_ts().unwrap_or(Timestamp::MAX).min(self.run.first_ts());
        let last = self.run.last_ts_hint();
        let covered = i128::from(hi.min(last)) - i128::from(lo.max(first));
        let span = i128::from(last) - i128::from(first);
        (hi >= first && covered * 4 >= span, hi >= last)
    }

    /// A long read's share of building the view (R13 (5)), for
    /// each chunk of `late` skiplist records it collects while it reads,
    /// after the first, which its plan collected
    /// ([`merged_lazy`](Self::merged_lazy)): [`HELP_LONG_PER_LATE`] records
    /// per late record, as [`help_build`](Self::help_build) takes it. So a
    /// read pays in proportion to what it reads: `next(since(t))` nothing.
    #[inline]
    pub(crate) fn help_long(&self, w: SeqNo, late: usize) {
        if late > 0 {
            self.help_build_by(w, late.saturating_mul(HELP_LONG_PER_LATE));
        }
    }

    /// A short read's share of building the view (R13 (5)): a read that
    /// planned this memtable without a view, `planned` records of it, of
    /// which it collected `late` from the skiplist, extends the view under
    /// construction by [`share`] records — in proportion to the work a view
    /// would have saved it, and at most about what it read itself, so its
    /// cost stays within a constant factor of its own (issue 10's bound) —
    /// starting one at its watermark `w` if
    /// none is under way and no view serves `w`, and publishing it when
    /// complete. The build is owned by one reader at a time, taken by a
    /// compare-and-swap of the slot; a reader that finds it taken, or
    /// loses the compare-and-swap, skips its share.
    /// Nobody waits.
    pub(crate) fn help_build(&self, w: SeqNo, late: usize, planned: usize) {
        if late > 0 {
            self.help_build_by(w, share(late, planned));
        }
    }

    /// Extends the view under construction by `share` records, starting
    /// one at `w` if none is under way and no view serves `w` (see
    /// [`help_build`](Self::help_build)).
    fn help_build_by(&self, w: SeqNo, share: usize) {
        if self.late_hint() < MIN_LATE {
            return;
        }
        let slot = &self.merged;
        // Loads first, so that a reader with nothing to add writes nothing
        // (docs/threading.md, "Contention audit"): one older than the
        // current view (the view's readers are served; it starts nothing
        // and leaves a build to them), or one that finds the build taken.
        let (cur, cur_view) = slot.current();
        if cur_view.is_some_and(|m| m.w > w) {
            return;
        }
        let seen = slot.build.load(Ordering::Relaxed);
        if seen == taken() {
            return;
        }
        // R13 (5): the `Acquire` compare-and-swap takes the build from the
        // last owner's `Release` store, with everything it wrote and saw.
        #[cfg(not(timelog_fault = "merged_build_relaxed_handoff"))]
        const TAKE: Ordering = Ordering::Acquire;
        #[cfg(not(timelog_fault = "merged_build_relaxed_handoff"))]
        const PARK: Ordering = Ordering::Release;
        // Seeded fault (R13 (5)): a Relaxed handoff orders nothing.
        #[cfg(timelog_fault = "merged_build_relaxed_handoff")]
        const TAKE: Ordering = Ordering::Relaxed;
        #[cfg(timelog_fault = "merged_build_relaxed_handoff")]
        const PARK: Ordering = Ordering::Relaxed;
        // Taken only as seen: a reader that lost it to another skips its share.
        let Ok(p) = slot.build.compare_exchange(seen, taken(), TAKE, Ordering::Relaxed) else {
            return;
        };
        let mut b = if p.is_null() {
            // None under way: start one, unless a view serves `w`.
            if cur_view.is_some_and(|m| self.serves(m, w)) {
                slot.build.store(std::ptr::null_mut(), Ordering::Relaxed);
                return;
            }
            Box::new(Build::new(self, w))
        } else {
            // SAFETY: R13 (5): a parked build came from `Box::into_raw`
            // below; the compare-and-swap made this reader its only owner.
            let b = unsafe { Box::from_raw(p) };
            if cur_view.is_some_and(|m| m.w >= b.w || self.serves(m, b.w)) {
                // A view at least as new, or one that serves the build's
                // watermark, was published since it started (by a build a
                // reader completed while this one's starter still saw no
                // view): this one is moot. (So a build publishes only over
                // a view that does not serve it: one with fewer than two
                // thirds of its records — the chain bound of R13 (4).)
                drop(b);
                slot.build.store(std::ptr::null_mut(), Ordering::Relaxed);
                return;
            }
            b
        };
        b.region.init();
        if crate::hooks::helping(|| b.step(self, share)) {
            let _ = self.publish(*b, cur);
            slot.build.store(std::ptr::null_mut(), Ordering::Relaxed);
        } else {
            slot.build.store(Box::into_raw(b), PARK);
        }
    }

    /// Publishes the finished build `b` over the view `p` the caller
    /// loaded, unless another view was published since (R13 (1)): the
    /// published view, or `None` (this one freed, never seen).
    fn publish(&self, b: Build<T>, p: *mut Merged<T>) -> Option<&Merged<T>> {
        let new = Box::into_raw(Box::new(b.into_merged(p)));
        // R13: the `Release` CAS publishes the view's arrays (written by
        // the build) to every `Acquire` load that finds it.
        #[cfg(not(timelog_fault = "merged_relaxed_publish"))]
        const PUBLISH: Ordering = Ordering::AcqRel;
        // Seeded fault (R13): a Relaxed publication orders nothing.
        #[cfg(timelog_fault = "merged_relaxed_publish")]
        const PUBLISH: Ordering = Ordering::Relaxed;
        match self.merged.cur.compare_exchange(p, new, PUBLISH, Ordering::Relaxed) {
            // SAFETY: just published; freed only with the memtable (R13).
            Ok(_) => Some(unsafe { &*new }),
            Err(_) => {
                // SAFETY: `new` was never published: ours alone.
                drop(unsafe { Box::from_raw(new) });
                None
            }
        }
    }
}

/// Records a short read adds to the view under construction per late
/// record its plan collected (R13 (5)): a view saves a read about two
/// merge cuts and a skiplist step per late record (~30 ns), a build step
/// costs 2–3 ns per record. Under the model checkers 1, so that a build
/// takes several reads and changes hands.
pub(crate) const HELP_PER_LATE: usize = if crate::sync::MODEL { 1 } else { 32 };

/// Records a long ascending read adds to the view under construction per
/// late record it collects as it reads (R13 (5), `Memtable::help_long`):
/// as a short read's, [`HELP_PER_LATE`] — with 5% late records a full
/// scan adds 1.6 times the memtable's records, so the first scan
/// completes the view. Under the model checkers 2: a scan's chunks (one
/// node each) complete a few records' view over several shares, so the
/// view is published from inside a read.
pub(crate) const HELP_LONG_PER_LATE: usize = if crate::sync::MODEL { 2 } else { HELP_PER_LATE };

/// A short read's share is at most this many times the records it
/// planned (R13 (5)): the build at most triples its own work.
pub(crate) const HELP_PER_PLANNED: usize = 2;

/// The records a read adds to the build (R13 (5)) when it planned
/// `planned` records of the memtable, `late` of them collected from its
/// skiplist: [`HELP_PER_LATE`] per late record, and no more than the
/// larger of [`HELP_PER_PLANNED`] times `planned` and [`HELP_FLOOR`] — so
/// a read at most about triples its own work, and its share is at most
/// `HELP_PER_LATE` times the late records it visited itself (issue 10's
/// bound, a constant factor). A 1000-row range with 5% late records adds
/// 1,600 until the view is complete, about 65 such reads for a
/// 100,000-record memtable. (Session 20 capped a share at 256 records:
/// the view then took ~410 reads, and the mean of a fresh memtable's
/// first 512 reads was 3.5–3.7 µs; session 21 capped it at the records
/// planned, 800 here: ~130 reads, 1.8 µs; session 23 at twice that: 1.45
/// µs, docs/performance.md, "Session 23".)
#[inline]
pub(crate) fn share(late: usize, planned: usize) -> usize {
    late.saturating_mul(HELP_PER_LATE).min(planned.saturating_mul(HELP_PER_PLANNED).max(HELP_FLOOR))
}

/// The cap of a small read's share (see [`share`]). Under the model
/// checkers 2, so that a build takes several reads and changes hands.
pub(crate) const HELP_FLOOR: usize = if crate::sync::MODEL { 2 } else { 256 };

/// The most records a read's share of one memtable's build visits when it
/// collected `late` late records: its [`share`] at most, plus a seek per
/// skiplist fetch (`Build::step`). `tests/delete_reads.rs` allows it on top
/// of a read's own bound.
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub(crate) fn help_visits_max(late: usize) -> usize {
    let b = late.saturating_mul(HELP_PER_LATE);
    b + b / LATE_CHUNK + 2
}

/// Late records a build step fetches from the skiplist at a time.
const LATE_CHUNK: usize = if crate::sync::MODEL { 2 } else { 64 };

/// The build slot's mark for "a reader is extending the build".
fn taken<T>() -> *mut Build<T> {
    std::ptr::NonNull::dangling().as_ptr()
}

/// A merged view under construction (R13 (5)): the merge of the run's
/// prefix `[0, run_n)` with the skiplist's records of sequence `<= w`, in
/// `(ts, seq)` order, done in steps — a step per short read
/// (`help_build`) or per chunk of a long read (`help_long`) — parked in
/// the memtable's slot between steps.
pub(crate) struct Build<T> {
    w: SeqNo,
    run_n: usize,
    /// The next run position to merge.
    run_i: usize,
    /// The skiplist key the next fetch starts at; `None` once the skiplist
    /// is exhausted.
    late_from: Option<(Timestamp, SeqNo)>,
    /// Fetched late records (sequence `<= w`) not merged yet, ascending.
    late: Late<T>,
    ooo_n: usize,
    ts: BlockVec<Timestamp>,
    seq: BlockVec<SeqNo>,
    val: Vals<T>,
    /// Model checkers: written by each owner (R13 (5)'s handoff).
    region: Region,
}

impl<T: Clone + Send + Sync + 'static> Build<T> {
    /// A build at watermark `w` (the caller's: R5 makes every record of
    /// sequence `<= w` visible to it).
    fn new(mt: &Memtable<T>, w: SeqNo) -> Self {
        let run_n = mt.run.seq_upper_bound(w, 0, mt.run.len());
        let n = run_n + mt.late_hint();
        Self {
            w,
            run_n,
            run_i: 0,
            late_from: Some((Timestamp::MIN, 0)),
            late: Late { q: std::collections::VecDeque::new(), copies: mt.is_bitwise() },
            ooo_n: 0,
            ts: BlockVec::with_capacity(n),
            seq: BlockVec::with_capacity(n),
            val: Vals::with_capacity(n, mt.is_bitwise()),
            region: Region::new(),
        }
    }

    /// Extends the build by at most `budget` records visited (run records
    /// merged, skiplist nodes walked); whether it is complete. Each fetch
    /// from the skiplist also takes a seek: at most `budget / LATE_CHUNK +
    /// 2` of them ([`help_visits_max`]).
    fn step(&mut self, mt: &Memtable<T>, budget: usize) -> bool {
        let mut left = budget;
        loop {
            if self.late.q.is_empty() && self.late_from.is_some() {
                if left == 0 {
                    return false;
                }
                left -= self.fetch(mt, left.min(LATE_CHUNK));
                continue; // the fetch may have found only newer records
            }
            // The run's records before the next late one, up to the budget
            // (all of them once the skiplist is exhausted).
            let head = self.late.q.front().map(|r| (r.0, r.1));
            let end = self.run_i.saturating_add(left).min(self.run_n);
            left -= self.take_run(mt, end, head);
            if self.run_i < self.run_n && self.run_i == end {
                return false; // the budget ran out in the run
            }
            // The run is exhausted, or its next record orders after the head.
            match self.late.q.pop_front() {
                Some((t, q, v)) => {
                    self.ts.push(t);
                    self.seq.push(q);
                    self.val.push(v);
                }
                None => {
                    debug_assert!(self.run_i == self.run_n && self.late_from.is_none());
                    return true;
                }
            }
        }
    }

    /// Copies the run's records from `run_i` up to `end` that order before
    /// `head` (all of them without a head); how many. A bucket's slice at a
    /// time, from `run_i` on: the head is usually a few records ahead, so
    /// usually one.
    fn take_run(&mut self, mt: &Memtable<T>, end: usize, head: Option<(Timestamp, SeqNo)>) -> usize {
        let head = head.unwrap_or((Timestamp::MAX, SeqNo::MAX));
        let start = self.run_i;
        while self.run_i < end {
            let s = mt.run.slice_at(self.run_i, end);
            // SAFETY: R4: a slice below `run_n`, which is at most the
            // published length the build's starter saw (R13 (5): every later
            // owner is ordered after it): written before publication, never
            // written again, alive as long as the memtable.
            let (ts, seq, val) = unsafe {
                (
                    std::slice::from_raw_parts(s.ts, s.len),
                    std::slice::from_raw_parts(s.seq, s.len),
                    std::slice::from_raw_parts(s.val, s.len),
                )
            };
            // The records before the head: the run is sorted by `(ts, seq)`
            // (R3), so they are a prefix — found by galloping from its start,
            // as the flush does: the next late record is usually a few
            // records ahead (a binary search of the whole remaining slice,
            // a chain of cache misses per late record, cost a fifth of an
            // at-once build's time, session 21).
            let k = super::run::gallop(0, s.len, |i| (ts[i], seq[i]) < head);
            // SAFETY: `extend_bitwise`'s contract: plain integers.
            unsafe {
                self.ts.extend_bitwise(&ts[..k]);
                self.seq.extend_bitwise(&seq[..k]);
            }
            // SAFETY: `Vals::extend`'s contract: run payloads of the
            // memtable the build belongs to (a build is freed with it).
            unsafe { self.val.extend(&val[..k]) };
            self.run_i += k;
            if k < s.len {
                break;
            }
        }
        let took = self.run_i - start;
        crate::hooks::visit(took);
        took
    }

    /// Walks the next `want` skiplist nodes (at least one), keeping the
    /// records of sequence `<= w`; the nodes walked.
    fn fetch(&mut self, mt: &Memtable<T>, want: usize) -> usize {
        let Some((from_ts, from_seq)) = self.late_from else {
            return 0;
        };
        let w = self.w;
        let (mut walked, mut last) = (0, None);
        let late = &mut self.late;
        mt.ooo_range_from(from_ts, from_seq, Timestamp::MAX, |ts, seq, v| {
            last = Some((ts, seq));
            walked += 1;
            if seq <= w {
                // SAFETY: `Late::push_back`'s contract: a skiplist payload
                // of the memtable the build belongs to.
                unsafe { late.push_back(ts, seq, v) };
                self.ooo_n += 1;
            }
            walked < want
        });
        // Stopped by `want`, not by the end: resume after the last key.
        // Sequences never reach `SeqNo::MAX` (see `Ooo::range_rev`).
        self.late_from = if walked < want { None } else { last.map(|(t, q)| (t, q + 1)) };
        walked
    }

    fn into_merged(self, prev: *mut Merged<T>) -> Merged<T> {
        debug_assert!(self.late.q.is_empty(), "a complete build merged every late record");
        // Complete: a reused block's pages past the records go back.
        self.ts.discard_tail();
        self.seq.discard_tail();
        self.val.v.discard_tail();
        Merged {
            w: self.w,
            run_n: self.run_n,
            ooo_n: self.ooo_n,
            seq: self.seq,
            fences: self.ts.chunks_exact(BLOCK).map(|c| c[BLOCK - 1]).collect(),
            line: Line::OFF,
            ts: self.ts,
            val: self.val,
            region: Region::new(),
            prev,
        }
        .fit_line()
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;
    use crate::{Config, MaintenanceMode, Order, Snapshot, Timelog};

    impl<T> Slot<T> {
        /// Views published so far (the chain's length).
        fn published(&self) -> usize {
            let mut n = 0;
            let mut p = self.cur.load(Ordering::Acquire);
            // SAFETY: test-only walk of published views, alive with the memtable (R13).
            while let Some(m) = unsafe { p.as_ref() } {
                n += 1;
                p = m.prev;
            }
            n
        }
    }

    fn log() -> Timelog<u64> {
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap()
    }

    /// Appends `n` records from `t0`, every 7th of them late by up to 40.
    fn fill(log: &Timelog<u64>, all: &mut Vec<(Timestamp, u64)>, t0: Timestamp, n: i64) {
        for i in 0..n {
            let t = t0 + i;
            let ts = if i % 7 == 3 { t - 1 - (i * 13) % 40 } else { t };
            let v = all.len() as u64;
            let _ = log.append(ts, v).unwrap();
            all.push((ts, v));
        }
    }

    fn want(
        all: &[(Timestamp, u64)],
        upto: usize,
        lo: Timestamp,
        hi: Timestamp,
        order: Order,
    ) -> Vec<(Timestamp, u64)> {
        let mut w: Vec<_> = all[..upto].iter().copied().filter(|r| lo <= r.0 && r.0 < hi).collect();
        w.sort_by_key(|r| r.0); // stable: insertion order among equal timestamps
        if order == Order::Desc {
            w.reverse();
        }
        w
    }

    fn check(s: &Snapshot<u64>, all: &[(Timestamp, u64)], upto: usize) {
        for order in [Order::Asc, Order::Desc] {
            for (lo, hi) in [(Timestamp::MIN, Timestamp::MAX), (100, 400), (-50, 3), (990, 1300), (5000, 6000)] {
                let got: Vec<_> = s.range(lo, hi, order).collect();
                assert_eq!(got, want(all, upto, lo, hi, order), "{order:?} [{lo}, {hi}) w={}", s.watermark());
                let mut b = Vec::new();
                let mut c = s.range(lo, hi, order);
                while c.next_batch_with(97, |ts, v| b.push((ts, *v))) > 0 {}
                assert_eq!(b, got, "batch {order:?} [{lo}, {hi})");
            }
        }
    }

    /// A view's search (its interpolated probe, else fences and a block)
    /// against `partition_point`, for steady, duplicated, bursty and
    /// skewed timestamps, every probe around each record.
    #[test]
    fn view_seeks_match_a_flat_search() {
        type Shape = fn(i64) -> i64;
        let shapes: [Shape; 4] = [|i| i * 10, |i| i / 3, |i| (i / 300) * 1_000_000 + i % 300, |i| i * i];
        for f in shapes {
            for n in [1i64, 2, 63, 64, 65, 3_000] {
                let ts: Vec<Timestamp> = (0..n).map(f).collect();
                let array = |v: &[u64]| {
                    let mut a = BlockVec::with_capacity(v.len());
                    a.extend_cloned(v);
                    a
                };
                let make = || Merged::<u64> {
                    w: 0,
                    run_n: ts.len(),
                    ooo_n: 0,
                    seq: array(&(1..=ts.len() as u64).collect::<Vec<_>>()),
                    val: Vals { v: array(&vec![0; ts.len()]), copies: false },
                    fences: ts.chunks_exact(BLOCK).map(|c| c[BLOCK - 1]).collect(),
                    line: Line::through(0, ts[0], ts.len() - 1, ts[ts.len() - 1]),
                    ts: {
                        let mut a = BlockVec::with_capacity(ts.len());
                        a.extend_cloned(&ts);
                        a
                    },
                    region: Region::new(),
                    prev: std::ptr::null_mut(),
                };
                // As built (the probe kept where it pays), and forced on.
                for view in [make().fit_line(), make()] {
                    for &t in &ts {
                        for q in [t - 1, t, t + 1] {
                            for incl in [false, true] {
                                let want = ts.partition_point(|&y| if incl { y <= q } else { y < q });
                                let k = view.seek(q, incl);
                                assert_eq!(k.pos, want, "n {n} seek({q}, {incl})");
                                assert!(k.at.is_none_or(|y| Some(&y) == ts.get(want)));
                                assert!(k.before.is_none_or(|y| want > 0 && y == ts[want - 1]));
                            }
                        }
                    }
                }
            }
        }
    }

    fn views(s: &Snapshot<u64>) -> usize {
        s.view().m.active.merged.published()
    }

    /// `count` and `len` never build a view; through one that serves them
    /// (`merged_existing`) they answer as the walk does — from the view's
    /// snapshot, a newer one (the run's tail after the view), one older
    /// than the view (no view: the walk), and with late records newer
    /// than the view (the walk).
    #[test]
    fn counts_use_the_view_and_build_none() {
        let log = log();
        let mut all = Vec::new();
        fill(&log, &mut all, 0, 1000);
        let counts = |s: &Snapshot<u64>, all: &[(Timestamp, u64)], upto: usize| {
            for (lo, hi) in [(Timestamp::MIN, Timestamp::MAX), (100, 400), (-50, 3), (990, 1300), (0, 1)] {
                assert_eq!(s.count(lo, hi), want(all, upto, lo, hi, Order::Asc).len(), "count [{lo}, {hi})");
            }
            assert_eq!(s.len(), upto);
        };
        let old = log.snapshot().unwrap();
        let _ = log.append(1000, 0).unwrap();
        all.push((1000, 0));
        let s = log.snapshot().unwrap();
        counts(&s, &all, all.len());
        assert_eq!(views(&s), 0, "counts build nothing");
        let _ = s.all(Order::Asc).count();
        assert_eq!(views(&s), 0, "nor does counting a long read");
        s.all(Order::Asc).for_each(drop);
        assert_eq!(views(&s), 1, "reading it does, in shares");
        assert!(s.view().m.active.merged_existing(s.watermark()).is_some());
        counts(&s, &all, all.len());
        counts(&old, &all, all.len() - 1);
        assert!(old.view().m.active.merged_existing(old.watermark()).is_none(), "older than the view");
        for t in 1001..1051 {
            let _ = log.append(t, 0).unwrap();
            all.push((t, 0));
        }
        counts(&log.snapshot().unwrap(), &all, all.len());
        fill(&log, &mut all, 1051, 40);
        counts(&log.snapshot().unwrap(), &all, all.len());
        assert_eq!(views(&s), 1, "counts build nothing");
    }

    impl<T> Slot<T> {
        /// Whether a build by short reads is parked in the slot.
        fn parked(&self) -> bool {
            let p = self.build.load(Ordering::Acquire);
            !p.is_null() && p != taken()
        }
    }

    /// A descending scan over at least a quarter of the memtable's span
    /// builds the view in one go; an ascending one in shares as it reads
    /// (none for its first rows, and the view is complete by its end); a
    /// read of older data builds nothing; short reads build it in
    /// shares (R13 (5)): one short read leaves a build parked and
    /// publishes nothing, and the view appears after about `records /
    /// HELP_FLOOR` of them, at the watermark of the first.
    #[test]
    fn long_reads_build_the_view_short_ones_in_shares() {
        let lg = log();
        let mut all = Vec::new();
        fill(&lg, &mut all, 0, 1000);
        let s = lg.snapshot().unwrap();
        let _ = s.range(-1000, -500, Order::Asc).count();
        assert!(!s.view().m.active.merged.parked(), "a read of older data takes no share");
        let _ = s.range(400, 500, Order::Asc).count();
        assert_eq!(views(&s), 0, "one short read publishes nothing");
        assert!(s.view().m.active.merged.parked(), "it leaves its share parked");
        let mut reads = 1;
        while views(&s) == 0 {
            let got: Vec<_> = s.range(400, 500, Order::Asc).collect();
            assert_eq!(got, want(&all, all.len(), 400, 500, Order::Asc), "a short read while the view is built");
            reads += 1;
            assert!(reads <= 1000 / HELP_FLOOR + 2, "the view is built after {reads} short reads");
        }
        assert!(reads >= 1000 / HELP_FLOOR, "each short read adds at most HELP_FLOOR records ({reads} reads)");
        assert!(!s.view().m.active.merged.parked());
        assert!(s.view().m.active.merged_existing(s.watermark()).is_some());
        check(&s, &all, all.len());
        assert_eq!(views(&s), 1, "short reads and scans use it");

        // A long read, in either direction, in shares as it reads.
        for order in [Order::Asc, Order::Desc] {
            let lg = log();
            let mut all = Vec::new();
            fill(&lg, &mut all, 0, 1000);
            let s = lg.snapshot().unwrap();
            let mut c = s.range(200, 500, order);
            let mut got = vec![c.next().unwrap()];
            assert_eq!(views(&s), 0, "{order:?}: its first row builds no view");
            assert!(
                !s.view().m.active.merged.parked(),
                "{order:?}: nor takes a share: it read no chunk past its first"
            );
            got.extend(c.by_ref().take(100));
            let (parked, built) = (s.view().m.active.merged.parked(), views(&s) == 1);
            match order {
                Order::Asc => assert!(parked, "reading on, it takes shares"),
                // Its second chunk steps back to the range's start (the
                // towers of this small skiplist): that share completes it.
                Order::Desc => assert!(parked || built, "reading on, it takes shares"),
            }
            got.extend(c);
            assert_eq!(got, want(&all, all.len(), 200, 500, order));
            assert_eq!(views(&s), 1, "{order:?}: a read of 30% of the span (43 late records) completes it");
            let got: Vec<_> = s.range(400, 500, Order::Asc).collect();
            assert_eq!(got, want(&all, all.len(), 400, 500, Order::Asc), "a short read through the view");
            check(&s, &all, all.len());
        }
    }

    /// A short read's share grows with the read (sessions 21 and 23):
    /// `HELP_PER_LATE` per late record it collected, up to
    /// `HELP_PER_PLANNED` times the records it planned — so a 900-record
    /// read of a 4,000-record memtable adds about 1,800 records, and the
    /// view appears after about 4000 / 1800 such reads (with session 20's
    /// constant cap of 256, after 16).
    #[test]
    fn a_larger_short_read_takes_a_larger_share() {
        assert_eq!(share(0, 1000), 0);
        assert_eq!(share(3, 1000), 3 * HELP_PER_LATE);
        assert_eq!(share(100, 900), HELP_PER_PLANNED * 900, "at most a multiple of what the read planned");
        assert_eq!(share(100, 10), HELP_FLOOR, "a small read's cap is the floor");
        let lg = log();
        let mut all = Vec::new();
        fill(&lg, &mut all, 0, 4000);
        let s = lg.snapshot().unwrap();
        let mut reads = 0;
        let per_read = HELP_PER_PLANNED * 900;
        while views(&s) == 0 {
            let got: Vec<_> = s.range(1000, 1900, Order::Asc).collect();
            assert_eq!(got, want(&all, all.len(), 1000, 1900, Order::Asc), "a short read while the view is built");
            reads += 1;
            assert!(reads <= 4000 / per_read + 2, "the view is built after {reads} reads of 900 records");
        }
        assert!(reads >= 4000 / per_read, "a share is at most a multiple of what the read planned ({reads} reads)");
        check(&s, &all, all.len());
    }

    /// A build that short reads started serves the records of its
    /// watermark only: records appended while it is parked (in the run and
    /// in the skiplist) are read beside it, by newer readers, and not by
    /// the snapshot that started it; a long scan meanwhile takes its shares
    /// of that same build and publishes it.
    #[test]
    fn a_build_in_shares_meets_newer_records_and_a_long_scan() {
        let lg = log();
        let mut all = Vec::new();
        fill(&lg, &mut all, 0, 1000);
        let s0 = lg.snapshot().unwrap();
        let n0 = all.len();
        let _ = s0.range(400, 500, Order::Asc).count();
        assert!(s0.view().m.active.merged.parked());
        fill(&lg, &mut all, 1000, 100); // newer records, in-order and late
        let s1 = lg.snapshot().unwrap();
        while views(&s1) == 0 {
            // Shares taken by both snapshots: the build stays at s0's watermark.
            let _ = s1.range(400, 500, Order::Asc).count();
            let _ = s0.range(600, 700, Order::Asc).count();
        }
        assert!(s1.view().m.active.merged_existing(s0.watermark()).is_some());
        check(&s0, &all, n0);
        check(&s1, &all, all.len());

        // A parked build, then a long scan: its shares go to that build.
        let l2 = log();
        let mut all = Vec::new();
        fill(&l2, &mut all, 0, 1000);
        let s = l2.snapshot().unwrap();
        let _ = s.range(400, 500, Order::Asc).count();
        assert!(s.view().m.active.merged.parked());
        s.all(Order::Desc).for_each(drop);
        assert_eq!(views(&s), 1, "the scan completed the parked build");
        assert!(!s.view().m.active.merged.parked());
        let _ = s.range(400, 500, Order::Asc).count();
        assert!(!s.view().m.active.merged.parked(), "a serving view: short reads start no build");
        fill(&l2, &mut all, 1000, 700); // outgrows the view
        let s2 = l2.snapshot().unwrap();
        let _ = s2.range(400, 500, Order::Asc).count();
        assert!(s2.view().m.active.merged.parked(), "outgrown: a short read starts a new build");
        check(&s2, &all, all.len());
    }

    /// The view serves its own watermark and newer ones (with the run's
    /// tail and the newer late records as extra sources), is not used by
    /// an older snapshot, is rebuilt once the memtable grew by half of it,
    /// and is bypassed where a tombstone covers the range.
    #[test]
    fn view_serves_newer_readers_and_is_rebuilt_after_growth() {
        let log = log();
        let mut all = Vec::new();
        fill(&log, &mut all, 0, 700);
        let s0 = log.snapshot().unwrap();
        fill(&log, &mut all, 700, 300);
        let n1 = all.len();
        let s1 = log.snapshot().unwrap();
        assert_eq!(views(&s1), 0, "no view before a scan");
        check(&s1, &all, n1); // builds it at s1's watermark
        assert_eq!(views(&s1), 1);
        assert!(s1.view().m.active.merged_lazy(s1.watermark(), Timestamp::MIN, Timestamp::MAX).0.is_some());
        // An older snapshot: not served by the newer view (its records would show).
        assert!(s0.view().m.active.merged_lazy(s0.watermark(), Timestamp::MIN, Timestamp::MAX).0.is_none());
        check(&s0, &all, 700);
        // Growth under half the view: the view plus the run's tail and the
        // newer late records.
        fill(&log, &mut all, 1000, 200);
        let s2 = log.snapshot().unwrap();
        check(&s2, &all, all.len());
        check(&s1, &all, n1);
        assert_eq!(views(&s2), 1, "extended, not rebuilt");
        // Past half: rebuilt at the next scan; the old view stays in the chain.
        fill(&log, &mut all, 1200, 600);
        let s3 = log.snapshot().unwrap();
        check(&s3, &all, all.len());
        assert_eq!(views(&s3), 2, "rebuilt once the tail outgrew half the view");
        check(&s2, &all, 1200);
        check(&s1, &all, n1);
        // A tombstone: ranges it covers are read the usual way.
        let _ = log.delete_range(150, 250).unwrap();
        all.retain(|r| !(150..250).contains(&r.0));
        let s4 = log.snapshot().unwrap();
        check(&s4, &all, all.len());
    }

    /// R13 (6): a read through the view walks the skiplist only from the
    /// late floor of the records newer than the view. Epochs of 256
    /// sequences (a 256 KiB memtable); after the view, records arrive late
    /// into the view's last epoch and later ones, near the tail and far
    /// back, and every short range and count stays exact — from a snapshot
    /// between each of them, and from the view's own.
    #[test]
    fn newer_late_records_are_read_from_their_floor() {
        let log = Timelog::with_config(Config {
            maintenance: MaintenanceMode::Disabled,
            memtable_max_bytes: 256 << 10,
            ..Config::default()
        })
        .unwrap();
        let mut all = Vec::new();
        fill(&log, &mut all, 0, 3000);
        let s0 = log.snapshot().unwrap();
        s0.all(Order::Desc).for_each(drop); // a full read builds the view at s0 (in shares)
        let mt = &s0.view().m.active;
        assert!(mt.merged_existing(s0.watermark()).is_some());
        assert_eq!(mt.late_floor(s0.watermark()), None, "nothing newer than the view");
        let exact = |s: &Snapshot<u64>, all: &[(Timestamp, u64)], upto: usize| {
            for lo in (-40..3100).step_by(37) {
                let got: Vec<_> = s.range(lo, lo + 50, Order::Asc).collect();
                assert_eq!(got, want(all, upto, lo, lo + 50, Order::Asc), "[{lo}, {}) w={}", lo + 50, s.watermark());
                assert_eq!(s.count(lo, lo + 50), got.len(), "count [{lo}, {})", lo + 50);
            }
            // Point reads: through the view where it holds every late
            // record at `ts` the reader sees (below the floor), else the
            // skiplist; in insertion order either way.
            for ts in -3..3400 {
                let mut got = Vec::new();
                s.point_with(ts, |&v| got.push(v));
                let want: Vec<u64> = all[..upto].iter().filter(|r| r.0 == ts).map(|r| r.1).collect();
                assert_eq!(got, want, "point({ts}) w={}", s.watermark());
            }
        };
        // Late by a little, then far back, then between: each lowers the
        // floor of the records after the view (or leaves it where it is).
        let mut floor = Timestamp::MAX;
        for (i, ts) in [2990, 2995, 2400, 3001, 2999, 5, 1500, 2998, 0].into_iter().enumerate() {
            for t in 0..40 {
                let _ = log.append(3000 + 40 * i as i64 + t, 1).unwrap(); // the run's tail
                all.push((3000 + 40 * i as i64 + t, 1));
            }
            let _ = log.append(ts, 2).unwrap();
            all.push((ts, 2));
            floor = floor.min(ts);
            let s = log.snapshot().unwrap();
            let f = s.view().m.active.late_floor(s0.watermark()).expect("late records newer than the view");
            assert!(f <= floor, "the floor {f} is above the record at {floor}");
            assert!(s.view().m.active.merged_existing(s.watermark()).is_some(), "the view still serves");
            exact(&s, &all, all.len());
        }
        exact(&s0, &all, 3000);
    }

    /// Navigation (`next_ts`, `prev_ts`, `min_ts`, `max_ts`) reads a view
    /// that holds every record the reader sees on its own
    /// (`query::point::nav_view`), and the run and the skiplist otherwise:
    /// a snapshot older than the view, in-order records after it (the
    /// run's tail), late records after it (newer than the view), a
    /// tombstone. Every answer against the reference, both directions,
    /// at every timestamp of the span and past both ends.
    #[test]
    fn navigation_reads_a_complete_view_alone() {
        let log = log();
        let mut all = Vec::new();
        let nav = |s: &Snapshot<u64>, all: &[(Timestamp, u64)], upto: usize| {
            let mut ts: Vec<Timestamp> = all[..upto].iter().map(|r| r.0).collect();
            ts.sort_unstable();
            let last = ts.last().copied().unwrap_or(0);
            for t in -45..last + 3 {
                let next = ts.iter().copied().find(|&x| x > t);
                let prev = ts.iter().rev().copied().find(|&x| x < t);
                assert_eq!(s.next_ts(t), next, "next_ts({t}) w={}", s.watermark());
                assert_eq!(s.prev_ts(t), prev, "prev_ts({t}) w={}", s.watermark());
            }
            assert_eq!((s.min_ts(), s.max_ts()), (ts.first().copied(), ts.last().copied()));
        };
        fill(&log, &mut all, 0, 700);
        let s0 = log.snapshot().unwrap();
        fill(&log, &mut all, 700, 300);
        let s1 = log.snapshot().unwrap();
        assert!(!s1.view().nav_reads_view(), "no view yet");
        nav(&s1, &all, all.len());
        s1.all(Order::Desc).for_each(drop); // a full read builds the view at s1's watermark
        assert!(s1.view().nav_reads_view());
        nav(&s1, &all, all.len());
        assert!(!s0.view().nav_reads_view(), "a snapshot older than the view");
        nav(&s0, &all, 700);
        // Late records after the view: newer than it.
        let n1 = all.len();
        for (i, t) in [(0, 5), (1, 601), (2, 998)] {
            let _ = log.append(t, 100 + i).unwrap();
            all.push((t, 100 + i));
        }
        let s2 = log.snapshot().unwrap();
        assert!(!s2.view().nav_reads_view(), "late records newer than the view");
        nav(&s2, &all, all.len());
        assert!(s1.view().nav_reads_view(), "still complete for its own snapshot");
        nav(&s1, &all, n1);
        // In-order records after the view: the run's tail is not in it.
        for t in 1000..1010 {
            let _ = log.append(t, 0).unwrap();
            all.push((t, 0));
        }
        let s3 = log.snapshot().unwrap();
        assert!(!s3.view().nav_reads_view(), "the run's tail");
        nav(&s3, &all, all.len());
        // A tombstone: the view holds records, not visibility.
        let _ = log.delete_range(150, 250).unwrap();
        all.retain(|r| !(150..250).contains(&r.0));
        let s4 = log.snapshot().unwrap();
        let _ = s4.all(Order::Asc).count();
        assert!(!s4.view().nav_reads_view(), "a tombstone");
        nav(&s4, &all, all.len());
    }

    /// A read that ends before the memtable's first record (older data)
    /// builds no view; one that reaches it does.
    #[test]
    fn reads_of_older_data_build_no_view() {
        let log = log();
        let mut all = Vec::new();
        fill(&log, &mut all, 1000, 700);
        let s = log.snapshot().unwrap();
        assert!(s.range(0, 900, Order::Asc).next().is_none());
        assert_eq!(views(&s), 0);
        check(&s, &all, all.len());
        assert_eq!(views(&s), 1);
    }

    /// Few late records: no view (the merge of run and skiplist is cheap).
    #[test]
    fn few_late_records_build_no_view() {
        let log = log();
        let mut all = Vec::new();
        for t in 0..1000 {
            let ts = if t % 100 == 50 { t - 20 } else { t };
            let _ = log.append(ts, t as u64).unwrap();
            all.push((ts, t as u64));
        }
        let s = log.snapshot().unwrap();
        check(&s, &all, all.len());
        assert_eq!(views(&s), 0);
    }

    /// A payload that counts its live copies (clones and drops).
    struct Counted(std::sync::Arc<std::sync::atomic::AtomicIsize>, u64);

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, Ordering::Relaxed);
            Counted(self.0.clone(), self.1)
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A view holds clones of the payloads, or — in a log with the
    /// `BitwisePayloads` promise — bitwise copies, which no one clones or
    /// drops: a complete view and a build parked half-way (its fetched late
    /// records not merged yet) alike; in the end every payload and every
    /// clone is dropped once.
    #[test]
    fn a_bitwise_log_s_view_clones_and_drops_nothing() {
        for bitwise in [false, true] {
            let live = std::sync::Arc::new(std::sync::atomic::AtomicIsize::new(0));
            // SAFETY: `Counted` holds an `Arc` and an integer, which no
            // `&Counted` changes.
            let promise = bitwise.then(|| unsafe { crate::BitwisePayloads::promise() });
            let cfg = Config { maintenance: MaintenanceMode::Disabled, bitwise_payloads: promise, ..Config::default() };
            let (complete, parked) = (Timelog::with_config(cfg.clone()).unwrap(), Timelog::with_config(cfg).unwrap());
            let n = 4_000i64;
            let ts_of = |t: i64| if t % 10 == 5 { t - 7 } else { t };
            for log in [&complete, &parked] {
                for t in 0..n {
                    live.fetch_add(1, Ordering::Relaxed);
                    let _ = log.append(ts_of(t), Counted(live.clone(), t as u64)).unwrap();
                }
            }
            let at = |t: i64| live.load(Ordering::Relaxed) as i64 - t;
            // A full scan completes the view; a short read starts one.
            let s = complete.snapshot().unwrap();
            let ids: Vec<u64> = s.all(Order::Asc).map(|(_, c)| c.1).collect();
            assert_eq!(s.view().m.active.merged.published(), 1);
            let p = parked.snapshot().unwrap();
            let want = (0..n).filter(|&t| (100..120).contains(&ts_of(t))).count();
            assert_eq!(p.range(100, 120, Order::Asc).count(), want);
            assert_eq!(p.view().m.active.merged.published(), 0);
            assert!(!p.view().m.active.merged.build.load(Ordering::Relaxed).is_null(), "a build is parked");
            let copies = if bitwise { 0 } else { n };
            assert!(at(2 * n) >= copies, "{bitwise}: the view's clones: {}", at(2 * n));
            if bitwise {
                assert_eq!(at(2 * n), 0, "no payload cloned for a view");
            }
            // The view reads the payloads the log holds.
            let again: Vec<u64> = s.all(Order::Asc).map(|(_, c)| c.1).collect();
            assert_eq!(again, ids);
            drop((s, p, complete, parked));
            assert_eq!(at(0), 0, "{bitwise}: every payload and clone dropped once");
        }
    }
}
