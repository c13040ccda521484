//! The active memtable: where every write lands first.
//!
//! A memtable is an append-only [`Run`] (the in-order fast path) plus an
//! insert-only lock-free skiplist keyed by `(timestamp, sequence)` for
//! out-of-order records, its nodes in an arena of its own (`ooo.rs`), plus
//! the tombstones written while it was active. Nothing is
//! ever removed from a memtable; it is dropped whole once no manifest and no
//! snapshot reaches it.
//!
//! Sealing (rules R1, R2): writers reach the active memtable through the
//! log's one [`door`](door::Door), whose word holds the SEALED bit, the
//! TAKEN parity of the appender right (R3), a generation and the count of
//! the tickets taken from the memtable behind it. A writer (record, batch
//! or delete) *enters* by one read-modify-write of the word that takes its
//! tickets — its sequences are the memtable's base plus them — and tells
//! it whether the memtable is being sealed; the sealer sets SEALED by one
//! read-modify-write, which reads the tickets taken, records the seal
//! bound (base plus tickets, [`Memtable::set_seal_bound`]), waits until the
//! watermark reaches it (every ticket committed), publishes a manifest
//! with a fresh active memtable (its base: the bound) and only then puts
//! that memtable behind the door and reopens it. Every record of a sealed
//! memtable therefore has a smaller sequence than every record of the
//! memtables after it.

pub(crate) mod door;
pub(crate) mod floor;
pub(crate) mod merged;
pub(crate) mod ooo;
pub(crate) mod run;

use crate::sync::{Arc, AtomicI64, AtomicU64, AtomicUsize, OnceLock, Ordering};
use crate::tombstone::{TombStack, Tombstone};
use crate::{SeqNo, Timestamp};
pub(crate) use run::{Run, RunSlice};

/// Bytes one tombstone counts for in the size heuristic.
const TOMB_BYTES: usize = 64;

/// Bytes one run record of `T` counts for in the size heuristic (its
/// timestamp, its sequence and its payload): a full memtable holds
/// `memtable_max_bytes` over this many records.
pub(crate) const fn record_bytes<T>() -> usize {
    16 + std::mem::size_of::<T>()
}

/// What a writer enters the active memtable for (R1): how many tickets
/// (sequences) it takes, and whether it asks for the run's appender right
/// (R3) in the same read-modify-write.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Entry {
    /// One record at this timestamp: the appender right is asked for unless
    /// the record is visibly before the run's tail.
    Record(Timestamp),
    /// A sorted batch of this many records: the appender right is asked for.
    Batch(u64),
    /// A delete (one tombstone): no appender right.
    Delete,
}

pub(crate) struct Memtable<T> {
    pub(crate) id: u64,
    pub(crate) run: Run<T>,
    /// Out-of-order records: the arena skiplist (the same code under the checkers).
    ooo: ooo::Ooo<T>,
    pub(crate) tombs: TombStack,
    /// `u64::MAX` until sealed and drained; then the greatest sequence any
    /// record of this memtable can have (R2).
    seal_bound: AtomicU64,
    /// Model builds only: the tombstones' share of the size heuristic (std
    /// builds read it from the stack's claimed slots, see `bytes()`). Any
    /// value is safe (a std atomic in every build, see `sync::stat`).
    #[cfg(any(timelog_loom, timelog_shuttle))]
    tomb_bytes: crate::sync::stat::AtomicUsize,
    /// The greatest sequence of any skiplist record, raised before the
    /// record's commit (R5, like the skiplist's count of its nodes in its
    /// arena, `Ooo::len`): a reader that can see a skiplist
    /// record (R5) sees a value at least its sequence, so a tombstone newer
    /// than it hides every skiplist record it covers (R7) and a read seeks
    /// past it instead of walking them.
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // see `insert_ooo`
    ooo_max_seq: AtomicU64,
    /// The greatest timestamp of any skiplist record, raised before the
    /// record's commit as `ooo_max_seq` is: a reader that can see a
    /// skiplist record sees a value at least its timestamp, so a walk of
    /// `[lo, hi]` with this below `lo` finds nothing it could see, and is
    /// skipped (a sealed memtable's late records, all older than the
    /// reads of a sliding window).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // see `insert_ooo`
    ooo_max_ts: AtomicI64,
    /// The least timestamp of any skiplist record, lowered before the
    /// record's commit as `ooo_max_ts` is raised: a walk of `[lo, hi]`
    /// with this above `hi` is skipped too (reads of flushed data beside
    /// a memtable whose late records are recent).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // see `insert_ooo`
    ooo_min_ts: AtomicI64,
    /// Per epoch of sequences, the least timestamp of a skiplist record,
    /// lowered before the record's commit: where the records newer than a
    /// merged view can be (R13 (6), `floor.rs`).
    floor: floor::LateFloor,
    record_bytes: usize,
    /// Every record and tombstone of this memtable has a greater sequence
    /// (R2: its predecessor's seal bound, or the last sequence of the bulk
    /// run published with it, R14). A writer's sequences are this base
    /// plus its tickets (R1).
    base: SeqNo,
    /// The merged view of run and skiplist, built by scans (R13, `merged.rs`).
    merged: merged::Slot<T>,
    /// Model builds only: the skiplist's length for the view's heuristics
    /// (`late_hint`), a std atomic (`sync::stat`): any value is safe, and
    /// it adds no model-checked load to every read's plan.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    late_stat: crate::sync::stat::AtomicUsize,
    pub(crate) retired: crate::segment::Retired,
    /// Set by a flush that moved this memtable's payloads into a segment
    /// instead of cloning them (`flush::build_l0`, a memtable without
    /// tombstones): that segment, which owns them from then on. The
    /// memtable keeps it alive — its readers (snapshots of older
    /// manifests) still return those payloads from its run and skiplist —
    /// and its drop frees its own memory only.
    heir: OnceLock<Arc<crate::segment::Segment<T>>>,
    /// The log's payloads may be shared bitwise (its
    /// [`BitwisePayloads`](crate::BitwisePayloads) promise): a flush moves
    /// them into its segment (`flush::build_l0`) and a merged view holds
    /// bitwise copies of them (`merged::Vals`), never clones.
    bitwise: bool,
    /// Seeded fault `heir_not_kept` only: the payloads were given away.
    #[cfg(timelog_fault = "heir_not_kept")]
    heir_fault: std::sync::atomic::AtomicBool,
}

impl<T> Drop for Memtable<T> {
    /// A memtable with an heir gave its payloads away: the run and the
    /// skiplist free their memory and drop none of them; the heir (its
    /// field, dropped after this) may then drop them, once.
    fn drop(&mut self) {
        #[cfg(not(timelog_fault = "heir_not_kept"))]
        let moved = self.heir.get().is_some();
        // Seeded fault `heir_not_kept` (see `set_heir`).
        #[cfg(timelog_fault = "heir_not_kept")]
        let moved = self.heir_fault.load(Ordering::Relaxed);
        // Seeded fault (R8, payloads move): the memtable drops the
        // payloads its heir owns.
        #[cfg(timelog_fault = "heir_payloads_dropped")]
        let moved = moved && false;
        if moved {
            self.run.forget_payloads();
            self.ooo.forget_payloads();
        }
    }
}

impl<T: Send + Sync + 'static> std::fmt::Debug for Memtable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memtable")
            .field("id", &self.id)
            .field("run_len", &self.run.len())
            .field("ooo_len", &self.ooo_len())
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

impl<T: Send + Sync + 'static> Memtable<T> {
    /// An empty memtable whose late floor's epochs are `1 << floor_shift`
    /// sequences ([`LateFloor::shift_for`](floor::LateFloor::shift_for)).
    pub(crate) fn new(id: u64, retired: &Arc<AtomicUsize>, floor_shift: u32) -> Self {
        Self {
            id,
            run: Run::new(),
            ooo: ooo::Ooo::new(),
            tombs: TombStack::new(),
            seal_bound: AtomicU64::new(u64::MAX),
            #[cfg(any(timelog_loom, timelog_shuttle))]
            tomb_bytes: crate::sync::stat::AtomicUsize::new(0),
            ooo_max_seq: AtomicU64::new(0),
            ooo_max_ts: AtomicI64::new(Timestamp::MIN),
            ooo_min_ts: AtomicI64::new(Timestamp::MAX),
            floor: floor::LateFloor::new(floor_shift),
            record_bytes: record_bytes::<T>(),
            base: 0,
            merged: merged::Slot::new(),
            #[cfg(any(timelog_loom, timelog_shuttle))]
            late_stat: crate::sync::stat::AtomicUsize::new(0),
            retired: crate::segment::Retired::new(retired),
            heir: OnceLock::new(),
            bitwise: false,
            #[cfg(timelog_fault = "heir_not_kept")]
            heir_fault: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// This memtable with the log's
    /// [`BitwisePayloads`](crate::BitwisePayloads) promise (see the field).
    pub(crate) fn bitwise(mut self, on: bool) -> Self {
        self.bitwise = on;
        self
    }

    /// Whether the log's payloads may be shared bitwise (see the field).
    #[inline]
    pub(crate) fn is_bitwise(&self) -> bool {
        self.bitwise
    }

    /// Inserts one record with the sequence `alloc` gives, outside the
    /// door (tests: one thread writes, with increasing sequences).
    #[cfg(test)]
    pub(crate) fn insert(&self, ts: Timestamp, val: T, alloc: impl FnOnce() -> SeqNo) -> SeqNo {
        let seq = alloc();
        // SAFETY: R3 by construction: a test's memtable written by one
        // thread, through this function only (no door hands out the right).
        let mut app = unsafe { self.run.appender() };
        self.place(Some(&mut app), ts, seq, val);
        seq
    }

    /// Puts one record with sequence `seq` where it belongs: appended to
    /// the run through `app` (the appender right, R3, if the caller holds
    /// it) when `ts` is not before the run's tail, else into the skiplist.
    /// Returns whether it went to the run.
    #[inline(always)]
    pub(crate) fn place(&self, app: Option<&mut run::Appender<'_, T>>, ts: Timestamp, seq: SeqNo, val: T) -> bool {
        if let Some(app) = app {
            if app.accepts(ts) {
                app.push(ts, seq, val);
                return true;
            }
        }
        self.insert_ooo(ts, seq, val);
        false
    }

    pub(crate) fn insert_ooo(&self, ts: Timestamp, seq: SeqNo, val: T) {
        // Before the commit (R13 (6): a reader that sees the record sees
        // its epoch at or below its timestamp).
        self.floor.lower(self.rel_seq(seq), ts);
        // Its bytes and its count are read from the arena (`ooo_bytes`,
        // `Ooo::len`: its bump counts it): no per-record counter.
        self.ooo.insert((ts, seq), val);
        #[cfg(any(timelog_loom, timelog_shuttle))]
        self.late_stat.fetch_add(1, Ordering::Relaxed);
        // Before the commit, like the node's count (R5 orders it before any read
        // that sees the record).
        // Not under the model checkers (it would double the interleavings
        // of the writer scenarios): there `ooo_max_seq()` says "unknown" and
        // reads check every covered skiplist record, the fallback path.
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            self.ooo_max_seq.fetch_max(seq, Ordering::Relaxed);
            // A load first: most late records are below the greatest, and
            // then no read-modify-write is needed. The value this thread
            // read is at least `ts`, so every read that sees the record
            // (after the commit, R5) reads it or a later, greater one
            // (read-read coherence; the value only grows).
            if ts > self.ooo_max_ts.load(Ordering::Relaxed) {
                self.ooo_max_ts.fetch_max(ts, Ordering::Relaxed);
            }
            // The same for the least (the value only falls).
            if ts < self.ooo_min_ts.load(Ordering::Relaxed) {
                self.ooo_min_ts.fetch_min(ts, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn push_tombstone(&self, t: Tombstone) {
        self.tombs.push(t);
        // `bytes()` counts the stack's claimed slots (no shared write per
        // delete); the model builds count here instead, so that `bytes()`
        // adds no model-checked loads to every write's scenario.
        #[cfg(any(timelog_loom, timelog_shuttle))]
        self.tomb_bytes.fetch_add(TOMB_BYTES, Ordering::Relaxed);
    }

    /// This memtable with sequences above `base` only (see the field).
    pub(crate) fn above(mut self, base: SeqNo) -> Self {
        self.base = base;
        self
    }

    /// Every sequence in this memtable is above this (see the field).
    #[inline]
    pub(crate) fn base(&self) -> SeqNo {
        self.base
    }

    /// Records `seg` as the owner of every payload of this memtable, whose
    /// records were all moved into it (bitwise, `flush::build_l0`): from
    /// now on this memtable drops none of them, and keeps `seg` alive for
    /// its readers. Called once, by that flush, before it publishes `seg`
    /// in this memtable's place, and before anything can drop `seg`.
    pub(crate) fn set_heir(&self, seg: Arc<crate::segment::Segment<T>>) {
        // Seeded fault (R8, payloads move): the memtable gives its payloads
        // away but does not keep their owner alive for its readers.
        #[cfg(timelog_fault = "heir_not_kept")]
        {
            self.heir_fault.store(true, Ordering::Relaxed);
            drop(seg);
        }
        #[cfg(not(timelog_fault = "heir_not_kept"))]
        assert!(self.heir.set(seg).is_ok(), "a memtable is flushed once");
    }

    /// The segment that owns this memtable's payloads, if a flush moved
    /// them there ([`set_heir`](Self::set_heir)).
    #[inline]
    pub(crate) fn heir(&self) -> Option<&Arc<crate::segment::Segment<T>>> {
        self.heir.get()
    }

    /// R2, for the holder of the door's claim: record the seal bound, the
    /// greatest sequence of any ticket taken from this memtable
    /// (`Claim::bound`): every writer whose entering RMW preceded the
    /// claim holds a ticket at or below it, and every later one enters a
    /// successor installed after this memtable is replaced, with a base at
    /// or above it. Final when stored.
    pub(crate) fn set_seal_bound(&self, bound: SeqNo) {
        self.seal_bound.store(bound, Ordering::Release);
    }

    /// Whether the seal bound was recorded (R2: the memtable was sealed
    /// and drained).
    #[inline]
    pub(crate) fn is_sealed(&self) -> bool {
        self.seal_bound.load(Ordering::Acquire) != u64::MAX
    }

    /// The seal bound, or `u64::MAX` while active (R2, R5).
    #[inline]
    pub(crate) fn seal_bound(&self) -> SeqNo {
        self.seal_bound.load(Ordering::Acquire)
    }

    /// The tickets of this memtable with a sequence `<= w`, counted without
    /// looking at a record (R1: its sequences are `base` plus its tickets,
    /// each a record, one of a batch's records or a delete; R2: none above
    /// its seal bound). Called with a reader's watermark `w` (R5): every
    /// ticket at or below it is committed. If `w` is above the seal bound,
    /// a sequence above it committed, which a successor's writer took after
    /// the successor's install, itself after the bound was stored: the
    /// load below sees the bound. When none of those tickets is a delete,
    /// this is the number of records a view at `w` has here, hidden or not
    /// ([`View::count`](crate::query::plan::View::count) checks that no
    /// tombstone hides any).
    #[inline]
    pub(crate) fn tickets_upto(&self, w: SeqNo) -> usize {
        // Seeded fault `count_past_seal_bound` (R1, R2): without the clamp,
        // a sealed memtable's count runs into its successors' tickets.
        #[cfg(not(timelog_fault = "count_past_seal_bound"))]
        let w = w.min(self.seal_bound());
        w.saturating_sub(self.base) as usize
    }

    /// Approximate size: run records are counted from the run's length and
    /// tombstones from the stack's claimed slots (no shared counter on the
    /// in-order append and delete paths); the skiplist by the bytes of its
    /// arena (its nodes with their inline payloads and towers, and the
    /// unused tails of filled chunks) — and those arena bytes, read once for
    /// both (`Maint::after_write` tests the two against their limits).
    pub(crate) fn bytes_and_ooo(&self) -> (usize, usize) {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        let tombs = self.tombs.len() * TOMB_BYTES;
        #[cfg(any(timelog_loom, timelog_shuttle))]
        let tombs = self.tomb_bytes.load(Ordering::Relaxed);
        let ooo = self.ooo.bytes();
        (self.run.len() * self.record_bytes + ooo + tombs, ooo)
    }
    /// Records in the skiplist: exact once no insert is in flight, never
    /// fewer than a reader can see (R5). A walk of the arena's chunks: for
    /// `stats()`; reads ask [`ooo_is_empty`](Self::ooo_is_empty).
    pub(crate) fn ooo_len(&self) -> usize {
        self.ooo.len()
    }
    /// No skiplist record was ever inserted (never true for a reader that
    /// can see one, R5): reads skip the index.
    #[inline]
    pub(crate) fn ooo_is_empty(&self) -> bool {
        self.ooo.is_empty()
    }
    /// Whether the skiplist may hold a record at `ts` that a reader with
    /// an `Acquire`-loaded watermark can see (its least and greatest
    /// timestamps, [`ooo_may_overlap`](Self::ooo_may_overlap), then
    /// `Ooo::may_hold`, R6 "filter"): `false` lets a point read skip the
    /// skiplist's search.
    #[inline]
    pub(crate) fn ooo_may_hold(&self, ts: Timestamp) -> bool {
        self.ooo_may_overlap(ts, ts) && self.ooo.may_hold(ts)
    }
    pub(crate) fn len(&self) -> usize {
        self.run.len() + self.ooo_len()
    }
    /// The skiplist's length for heuristics that order nothing (the merged
    /// view's threshold and rebuild rule, R13): about `ooo_len`, in two
    /// loads, or under the model checkers a std counter (see `late_stat`).
    #[inline]
    pub(crate) fn late_hint(&self) -> usize {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        return self.ooo.len_hint();
        #[cfg(any(timelog_loom, timelog_shuttle))]
        return self.late_stat.load(Ordering::Relaxed);
    }
    /// At least the sequence of every skiplist record a reader can see
    /// (see the field): every such record orders as this sequence or less
    /// against a tombstone (R7), which lets a read seek past a tombstone
    /// newer than it ([`Coverage::hidden_end`](crate::tombstone::Coverage::hidden_end)).
    #[inline]
    pub(crate) fn ooo_max_seq(&self) -> SeqNo {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        return self.ooo_max_seq.load(Ordering::Relaxed);
        #[cfg(any(timelog_loom, timelog_shuttle))]
        return SeqNo::MAX; // not maintained under the model checkers (`insert_ooo`)
    }
    /// The least and the greatest timestamp of the skiplist's records: at
    /// most and at least that of every record a reader can see (see the
    /// fields `ooo_min_ts`, `ooo_max_ts`); the whole domain under the model
    /// checkers, where they are not maintained (`insert_ooo`).
    #[inline]
    pub(crate) fn ooo_ts_bounds(&self) -> (Timestamp, Timestamp) {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        return (self.ooo_min_ts.load(Ordering::Relaxed), self.ooo_max_ts.load(Ordering::Relaxed));
        #[cfg(any(timelog_loom, timelog_shuttle))]
        return (Timestamp::MIN, Timestamp::MAX);
    }
    /// At most the timestamp of every skiplist record with a sequence above
    /// `w` that a reader at a watermark `>= w` can see (R13 (6), the late
    /// floor), or `None` if the skiplist's greatest sequence says there is
    /// no such record: a reader of a merged view at `w` reads the skiplist
    /// only from there.
    #[inline]
    pub(crate) fn late_floor(&self, w: SeqNo) -> Option<Timestamp> {
        let newest = self.ooo_max_seq();
        if newest <= w {
            return None;
        }
        Some(self.floor.least(self.rel_seq(w.saturating_add(1)), self.rel_seq(newest)))
    }
    /// Sequence `seq` of this memtable counted from 0 above its base, as
    /// the late floor's epochs count them (0 for a sequence at or below
    /// the base, which no record of this memtable has).
    #[inline(always)]
    fn rel_seq(&self, seq: SeqNo) -> SeqNo {
        seq.saturating_sub(self.base + 1)
    }
    /// Contention audit (test-only): the skiplist arena's byte ranges.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn ooo_audit_ranges(&self) -> Vec<std::ops::Range<usize>> {
        self.ooo.audit_ranges()
    }
    /// Contention audit (test-only): the skiplist filter's byte range.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn ooo_audit_filter_range(&self) -> std::ops::Range<usize> {
        self.ooo.audit_filter_range()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.run.len() == 0 && self.ooo_is_empty() && self.tombs.is_empty()
    }

    /// Whether the skiplist may hold a record in `[lo, hi]` that a reader
    /// can see: not when the range is empty, the skiplist is, or the range
    /// lies above its greatest timestamp or below its least
    /// ([`ooo_ts_bounds`](Self::ooo_ts_bounds)). The walks
    /// below check it before their search: a sealed memtable's late
    /// records lie behind a sliding window's reads, and a search from the
    /// skiplist's top for nothing cost a short read about 160 instructions
    /// and three branch mispredictions (callgrind, issue 13).
    #[inline]
    pub(crate) fn ooo_may_overlap(&self, lo: Timestamp, hi: Timestamp) -> bool {
        lo <= hi && !self.ooo_is_empty() && {
            let (least, greatest) = self.ooo_ts_bounds();
            lo <= greatest && least <= hi
        }
    }

    /// Visits the out-of-order records with `lo <= ts <= hi` in `(ts, seq)`
    /// order. The `&T` handed out lives as long as the borrow of the
    /// memtable: nodes are never removed from the skiplist (R6), so they are
    /// freed only when the skiplist itself is dropped.
    pub(crate) fn ooo_range<'a>(
        &'a self,
        lo: Timestamp,
        hi: Timestamp,
        f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool,
    ) {
        if !self.ooo_may_overlap(lo, hi) {
            return;
        }
        self.ooo.range(lo, hi, f);
    }

    /// Like [`ooo_range`](Self::ooo_range), starting at the key
    /// `(lo, seq_from)`: the records at `lo` with a smaller sequence are
    /// skipped by the skiplist's own search, not visited.
    pub(crate) fn ooo_range_from<'a>(
        &'a self,
        lo: Timestamp,
        seq_from: SeqNo,
        hi: Timestamp,
        f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool,
    ) {
        if !self.ooo_may_overlap(lo, hi) {
            return;
        }
        self.ooo.range_from((lo, seq_from), hi, f);
    }

    /// The skiplist's backward step (`Ooo::range_back`): visits, in
    /// ascending order, the records from a key about `budget` nodes before
    /// `to` (not before `(lo, 0)`) up to `to` (exclusive); returns that
    /// key, or `None` when the step began at `lo` (nothing is left before).
    pub(crate) fn ooo_range_back<'a>(
        &'a self,
        lo: Timestamp,
        to: (Timestamp, SeqNo),
        budget: usize,
        f: impl FnMut(Timestamp, SeqNo, &'a T),
    ) -> Option<(Timestamp, SeqNo)> {
        if !self.ooo_may_overlap(lo, to.0) {
            return None;
        }
        self.ooo.range_back((lo, 0), to, budget, f)
    }

    /// Like [`ooo_range`](Self::ooo_range), descending from `hi` (inclusive).
    pub(crate) fn ooo_range_rev<'a>(
        &'a self,
        lo: Timestamp,
        hi: Timestamp,
        f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool,
    ) {
        if !self.ooo_may_overlap(lo, hi) {
            return;
        }
        self.ooo.range_rev(lo, hi, f);
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;

    /// A walk of the skiplist over a range above its greatest timestamp
    /// (`ooo_max_ts`) or below its least (`ooo_min_ts`) does not search
    /// it, and a point read's filter says no there, whatever its bits;
    /// between them both still find the records. (With `test-hooks`, the walk visits nothing: it
    /// visited the search and the first node before.)
    #[test]
    fn the_skiplist_is_not_searched_outside_its_least_and_greatest_timestamps() {
        let retired = Arc::new(AtomicUsize::new(0));
        let mt: Memtable<u64> = Memtable::new(1, &retired, 0);
        let mut seq = 0;
        let mut next = || {
            seq += 1;
            seq
        };
        for t in (0..1_000).step_by(10) {
            let _ = mt.insert(t + 5_000, t as u64, &mut next); // in order: the run
        }
        for t in [4_000, 1_200, 3_999, 2_500] {
            let _ = mt.insert(t, t as u64, &mut next); // late: the skiplist
        }
        assert_eq!(mt.ooo_ts_bounds(), (1_200, 4_000));
        let walk = |lo, hi| {
            let mut got = Vec::new();
            mt.ooo_range(lo, hi, |t, _, _| {
                got.push(t);
                true
            });
            mt.ooo_range_rev(lo, hi, |t, _, _| {
                got.push(t);
                true
            });
            got
        };
        #[cfg(feature = "test-hooks")]
        let _ = crate::hooks::take_visited();
        assert!(walk(4_001, 9_000).is_empty() && walk(-50, 1_199).is_empty());
        assert!((4_001..9_000).all(|t| !mt.ooo_may_hold(t)), "no filter answer above the greatest");
        assert!((-50..1_200).all(|t| !mt.ooo_may_hold(t)), "no filter answer below the least");
        #[cfg(feature = "test-hooks")]
        assert_eq!(crate::hooks::take_visited(), 0, "no search outside the least and the greatest");
        assert_eq!(walk(3_999, 4_000), vec![3_999, 4_000, 4_000, 3_999]);
        assert_eq!(walk(0, 2_500), vec![1_200, 2_500, 2_500, 1_200]);
        assert!(mt.ooo_may_hold(4_000) && mt.ooo_may_hold(1_200));
        // More late records set more of the filter's bits: above the
        // greatest and below the least, a timestamp whose bit is set is
        // still not sent to the search.
        for k in 0..2_000i64 {
            let _ = mt.insert((k * 7_919) % 4_000, 0, &mut next);
        }
        let above = (4_001..1_000_000).find(|&t| mt.ooo.may_hold(t)).expect("a filter collision above 4000");
        assert!(!mt.ooo_may_hold(above), "{above}: the filter's bit is set, but it is above the greatest");
        assert_eq!(mt.ooo_ts_bounds().0, 0);
        let below = (-1_000_000..0).find(|&t| mt.ooo.may_hold(t)).expect("a filter collision below 0");
        assert!(!mt.ooo_may_hold(below), "{below}: the filter's bit is set, but it is below the least");
        // A later, greater late record raises it.
        let _ = mt.insert(4_500, 0, &mut next);
        assert_eq!(mt.ooo_ts_bounds().1, 4_500);
        assert_eq!(walk(4_001, 9_000), vec![4_500, 4_500]);
    }
}
