//! The active memtable: where every write lands first.
//!
//! A memtable is an append-only [`Run`] (the in-order fast path) plus an
//! insert-only lock-free skiplist keyed by `(timestamp, sequence)` for
//! out-of-order records, its nodes in an arena of its own (`ooo.rs`), plus
//! the tombstones written while it was active. Nothing is
//! ever removed from a memtable; it is dropped whole once no manifest and no
//! snapshot reaches it.
//!
//! Sealing (rules R1, R2): writers *enter* a memtable (`writers += 1`, then
//! re-check `sealed`); the sealer sets `sealed`, waits until `writers == 0`,
//! records the seal bound (the greatest sequence allocated so far) and only
//! then publishes a manifest with a fresh active memtable. Every record of
//! a sealed memtable therefore has a smaller sequence than every record of
//! the memtables after it.

pub(crate) mod merged;
pub(crate) mod ooo;
pub(crate) mod run;

use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Backoff, Ordering};
use crate::tombstone::{TombStack, Tombstone};
use crate::{SeqNo, Timestamp};
pub(crate) use run::{Run, RunSlice};

/// Bytes one tombstone counts for in the size heuristic.
const TOMB_BYTES: usize = 64;

pub(crate) struct Memtable<T> {
    pub(crate) id: u64,
    pub(crate) run: Run<T>,
    /// Out-of-order records: the arena skiplist (the same code under the checkers).
    ooo: ooo::Ooo<T>,
    pub(crate) tombs: TombStack,
    /// Written twice per write (enter, leave): on a cache line of its own,
    /// so readers loading the fields below (`ooo_max_seq`, `seal_bound`) do not
    /// pull the writers' line (false sharing).
    writers: crossbeam_utils::CachePadded<AtomicUsize>,
    sealed: AtomicBool,
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
    record_bytes: usize,
    /// The merged view of run and skiplist, built by scans (R13, `merged.rs`).
    merged: merged::Slot<T>,
    /// Model builds only: the skiplist's length for the view's heuristics
    /// (`late_hint`), a std atomic (`sync::stat`): any value is safe, and
    /// it adds no model-checked load to every read's plan.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    late_stat: crate::sync::stat::AtomicUsize,
    pub(crate) retired: crate::segment::Retired,
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

/// A writer inside a memtable; leaving is automatic on drop (R1).
pub(crate) struct Entered<'a, T> {
    pub(crate) mt: &'a Memtable<T>,
}

impl<T> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        self.mt.writers.fetch_sub(1, Ordering::Release);
    }
}

impl<T: Send + Sync + 'static> Memtable<T> {
    pub(crate) fn new(id: u64, retired: &Arc<AtomicUsize>) -> Self {
        Self {
            id,
            run: Run::new(),
            ooo: ooo::Ooo::new(),
            tombs: TombStack::new(),
            writers: crossbeam_utils::CachePadded::new(AtomicUsize::new(0)),
            sealed: AtomicBool::new(false),
            seal_bound: AtomicU64::new(u64::MAX),
            #[cfg(any(timelog_loom, timelog_shuttle))]
            tomb_bytes: crate::sync::stat::AtomicUsize::new(0),
            ooo_max_seq: AtomicU64::new(0),
            record_bytes: 16 + std::mem::size_of::<T>(),
            merged: merged::Slot::new(),
            #[cfg(any(timelog_loom, timelog_shuttle))]
            late_stat: crate::sync::stat::AtomicUsize::new(0),
            retired: crate::segment::Retired::new(retired),
        }
    }

    /// R1: announce a writer, then re-check `sealed`. `None` means the
    /// memtable is (being) sealed: reload the manifest and retry.
    #[inline]
    pub(crate) fn enter(&self) -> Option<Entered<'_, T>> {
        // SeqCst pairs with the SeqCst `sealed` store in `seal_begin`:
        // either the sealer sees our increment, or we see its flag.
        self.writers.fetch_add(1, Ordering::SeqCst);
        crate::sync::model_sc_fence();
        #[cfg(not(timelog_fault = "seal_no_recheck"))]
        if self.sealed.load(Ordering::SeqCst) {
            self.writers.fetch_sub(1, Ordering::Release);
            return None;
        }
        Some(Entered { mt: self })
    }

    /// Inserts one record with a sequence from `alloc`, taken after the
    /// write position is decided (so that the run's sequences increase, R3).
    pub(crate) fn insert(&self, ts: Timestamp, val: T, alloc: impl FnOnce() -> SeqNo) -> SeqNo {
        // A record before the run's tail goes to the skiplist whoever
        // appends: the tail only grows, so the appender would refuse it
        // (no compare-and-swap of the appender flag for a late record).
        // Not under loom: one more model-checked load in every write of
        // every scenario, for a shortcut that orders nothing.
        if !cfg!(timelog_loom) && self.run.before_tail(ts) {
            let seq = alloc();
            self.insert_ooo(ts, seq, val);
            return seq;
        }
        if let Some(mut app) = self.run.try_acquire() {
            if app.accepts(ts) {
                let seq = alloc();
                app.push(ts, seq, val);
                return seq;
            }
        }
        let seq = alloc();
        self.insert_ooo(ts, seq, val);
        seq
    }

    /// Inserts a batch (sorted by timestamp) with the consecutive sequences
    /// `first..first+n` from `alloc(n)`.
    pub(crate) fn insert_batch(&self, batch: Vec<(Timestamp, T)>, alloc: impl FnOnce(u64) -> SeqNo) -> (SeqNo, u64) {
        let n = batch.len() as u64;
        let mut app = self.run.try_acquire();
        let first = alloc(n);
        for (seq, (ts, val)) in (first..).zip(batch) {
            match app.as_mut() {
                Some(a) if a.accepts(ts) => {
                    a.push(ts, seq, val);
                }
                _ => self.insert_ooo(ts, seq, val),
            }
        }
        (first, n)
    }

    fn insert_ooo(&self, ts: Timestamp, seq: SeqNo, val: T) {
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
        self.ooo_max_seq.fetch_max(seq, Ordering::Relaxed);
    }

    pub(crate) fn push_tombstone(&self, t: Tombstone) {
        self.tombs.push(t);
        // `bytes()` counts the stack's claimed slots (no shared write per
        // delete); the model builds count here instead, so that `bytes()`
        // adds no model-checked loads to every write's scenario.
        #[cfg(any(timelog_loom, timelog_shuttle))]
        self.tomb_bytes.fetch_add(TOMB_BYTES, Ordering::Relaxed);
    }

    /// R2, first half: claim the seal. Returns false if someone else did.
    pub(crate) fn seal_begin(&self) -> bool {
        self.sealed.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// R2, second half: wait for the writers inside to leave, then record
    /// the bound. Writers leave after a bounded insert, so this is a short
    /// wait of the sealer on writers, never on readers.
    pub(crate) fn seal_drain(&self, next_seq: &AtomicU64) -> SeqNo {
        // Pairs with the fence in `enter` (R1/R2 Dekker; loom only).
        crate::sync::model_sc_fence();
        let mut b = Backoff::new();
        // Seeded fault (R2): seal without waiting for the writers inside.
        #[cfg(not(timelog_fault = "seal_no_drain"))]
        while self.writers.load(Ordering::SeqCst) != 0 {
            b.snooze();
        }
        #[cfg(timelog_fault = "seal_no_drain")]
        let _ = &mut b;
        let bound = next_seq.load(Ordering::SeqCst) - 1;
        self.seal_bound.store(bound, Ordering::Release);
        bound
    }

    #[inline]
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// The seal bound, or `u64::MAX` while active (R2, R5).
    #[inline]
    pub(crate) fn seal_bound(&self) -> SeqNo {
        self.seal_bound.load(Ordering::Acquire)
    }

    /// Approximate size: run records are counted from the run's length and
    /// tombstones from the stack's claimed slots (no shared counter on the
    /// in-order append and delete paths); the skiplist by the bytes of its
    /// arena (its nodes with their inline payloads and towers, and the
    /// unused tails of filled chunks).
    pub(crate) fn bytes(&self) -> usize {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        let tombs = self.tombs.len() * TOMB_BYTES;
        #[cfg(any(timelog_loom, timelog_shuttle))]
        let tombs = self.tomb_bytes.load(Ordering::Relaxed);
        self.run.len() * self.record_bytes + self.ooo.bytes() + tombs
    }
    /// Bytes of the skiplist's arena.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.ooo.bytes()
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
    /// Contention audit (test-only): the skiplist arena's byte ranges.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn ooo_audit_ranges(&self) -> Vec<std::ops::Range<usize>> {
        self.ooo.audit_ranges()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.run.len() == 0 && self.ooo_is_empty() && self.tombs.is_empty()
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
        if lo > hi || self.ooo_is_empty() {
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
        if lo > hi || self.ooo_is_empty() {
            return;
        }
        self.ooo.range_from((lo, seq_from), hi, f);
    }

    /// Like [`ooo_range`](Self::ooo_range), descending from `hi` (inclusive).
    pub(crate) fn ooo_range_rev<'a>(
        &'a self,
        lo: Timestamp,
        hi: Timestamp,
        f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool,
    ) {
        if lo > hi || self.ooo_is_empty() {
            return;
        }
        self.ooo.range_rev(lo, hi, f);
    }
}
