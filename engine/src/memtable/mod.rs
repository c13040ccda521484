//! The active memtable: where every write lands first.
//!
//! A memtable is an append-only [`Run`] (the in-order fast path) plus an
//! insert-only lock-free skiplist keyed by `(timestamp, sequence)` for
//! out-of-order records, its nodes in an arena of its own (`ooo.rs`), plus
//! the tombstones written while it was active. Nothing is
//! ever removed from a memtable; it is dropped whole once no manifest and no
//! snapshot reaches it.
//!
//! Sealing (rules R1, R2): the writer state of a memtable is one word,
//! `state`: the SEALED bit, the APPENDER bit (R3) and the count of the
//! writers inside. A writer *enters* by one read-modify-write of the word
//! that also tells it whether the memtable is sealed; the sealer sets
//! SEALED by one read-modify-write, waits until the count is zero,
//! records the seal bound (the greatest sequence allocated so far) and only
//! then publishes a manifest with a fresh active memtable. Every record of
//! a sealed memtable therefore has a smaller sequence than every record of
//! the memtables after it.

pub(crate) mod merged;
pub(crate) mod ooo;
pub(crate) mod run;

use crate::sync::{Arc, AtomicU64, AtomicUsize, Backoff, Ordering};
use crate::tombstone::{TombStack, Tombstone};
use crate::{SeqNo, Timestamp};
pub(crate) use run::{Run, RunSlice};

/// Bytes one tombstone counts for in the size heuristic.
const TOMB_BYTES: usize = 64;

/// `state`: the memtable is (being) sealed (R2). Set once, never cleared.
const SEALED: u64 = 1 << 63;
/// `state`: a writer inside holds the run's appender right (R3).
const APPENDER: u64 = 1 << 62;
/// `state`: one writer inside (R1); the count is the bits below [`APPENDER`].
const WRITER: u64 = 1;
/// `state`: the mask of the writer count.
const COUNT: u64 = APPENDER - 1;

/// What a writer enters the active memtable for (R1): whether it asks for
/// the run's appender right (R3) in the same read-modify-write.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Entry {
    /// A delete: tombstones never touch the run.
    Delete,
    /// One record at this timestamp: the appender right is asked for unless
    /// the record is visibly before the run's tail.
    Record(Timestamp),
    /// A sorted batch: the appender right is asked for.
    Batch,
}

pub(crate) struct Memtable<T> {
    pub(crate) id: u64,
    pub(crate) run: Run<T>,
    /// Out-of-order records: the arena skiplist (the same code under the checkers).
    ooo: ooo::Ooo<T>,
    pub(crate) tombs: TombStack,
    /// The writer state (R1, R2, R3): [`SEALED`], [`APPENDER`] and, in the
    /// bits below them, the number of writers inside ([`COUNT`]). Written
    /// twice per write (enter, leave): on a cache line of its own, so
    /// readers loading the fields below (`ooo_max_seq`, `seal_bound`) do
    /// not pull the writers' line (false sharing).
    state: crossbeam_utils::CachePadded<AtomicU64>,
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

/// A writer inside a memtable, possibly holding the run's appender right
/// (R1, R3); leaving (and releasing the right) is automatic on drop.
pub(crate) struct Entered<'a, T> {
    pub(crate) mt: &'a Memtable<T>,
    /// What this writer added to `state`, and subtracts when it leaves:
    /// `WRITER`, or `WRITER | APPENDER`.
    held: u64,
    /// Seeded fault `appender_shared` (R3): appends without the right.
    #[cfg(timelog_fault = "appender_shared")]
    rogue: bool,
}

impl<T> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        // R1/R2 leave, and R3 release, in one read-modify-write: Release, so
        // that the insert (and the sequence it allocated) happens-before the
        // sealer's drain that reads a count of zero, and the appender's slot
        // writes happen-before the next appender's acquiring CAS (an RMW
        // chain on one word continues the release sequence).
        self.mt.state.fetch_sub(self.held, Ordering::Release);
    }
}

impl<T: Send + Sync + 'static> Entered<'_, T> {
    /// Inserts one record with a sequence from `alloc`, taken after the
    /// write position is decided (so that the run's sequences increase, R3):
    /// into the run if this writer holds the appender right and `ts` is not
    /// before the run's tail, else into the skiplist.
    #[inline]
    pub(crate) fn insert(&self, ts: Timestamp, val: T, alloc: impl FnOnce() -> SeqNo) -> SeqNo {
        if let Some(mut app) = self.appender() {
            if app.accepts(ts) {
                let seq = alloc();
                app.push(ts, seq, val);
                return seq;
            }
        }
        let seq = alloc();
        self.mt.insert_ooo(ts, seq, val);
        seq
    }

    /// Inserts a batch (sorted by timestamp) with the consecutive sequences
    /// `first..first+n` from `alloc(n)`.
    pub(crate) fn insert_batch(&self, batch: Vec<(Timestamp, T)>, alloc: impl FnOnce(u64) -> SeqNo) -> (SeqNo, u64) {
        let n = batch.len() as u64;
        let mut app = self.appender();
        let first = alloc(n);
        for (seq, (ts, val)) in (first..).zip(batch) {
            match app.as_mut() {
                Some(a) if a.accepts(ts) => {
                    a.push(ts, seq, val);
                }
                _ => self.mt.insert_ooo(ts, seq, val),
            }
        }
        (first, n)
    }

    /// The run's appender, if this writer holds the right (R3).
    #[inline]
    fn appender(&self) -> Option<run::Appender<'_, T>> {
        #[cfg(timelog_fault = "appender_shared")]
        if self.rogue {
            // SAFETY: none: the seeded fault breaks R3 on purpose (model builds).
            return Some(unsafe { self.mt.run.appender() });
        }
        if self.held & APPENDER == 0 {
            return None;
        }
        // SAFETY: R3: this writer set APPENDER in `state` (its entering CAS
        // saw it clear) and clears it only when it leaves, when the
        // borrowed appender is gone; no other writer can set it meanwhile.
        Some(unsafe { self.mt.run.appender() })
    }
}

impl<T: Send + Sync + 'static> Memtable<T> {
    pub(crate) fn new(id: u64, retired: &Arc<AtomicUsize>) -> Self {
        Self {
            id,
            run: Run::new(),
            ooo: ooo::Ooo::new(),
            tombs: TombStack::new(),
            state: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
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

    /// R1 (and R3): enter the memtable, announcing a writer and reading
    /// SEALED in one read-modify-write of `state`. `None` means the
    /// memtable is (being) sealed: reload the manifest and retry.
    ///
    /// For a record that may go to the run (and a batch), one CAS
    /// `s -> (s + WRITER) | APPENDER` also takes the appender right when
    /// neither SEALED nor APPENDER is set in `s` (retried while only the
    /// count changed under it: lock-free, each failure is another writer's
    /// success); with APPENDER taken the writer enters without it and
    /// inserts into the skiplist, as with a lost appender CAS before. A late
    /// record (visibly before the run's tail) and a delete enter by one
    /// `fetch_add`.
    ///
    /// No Dekker handshake: the writer's RMW and the sealer's `fetch_or`
    /// are RMWs of one location, so one precedes the other in its
    /// modification order and each reads the value the other left (R1).
    #[inline]
    pub(crate) fn enter(&self, entry: Entry) -> Option<Entered<'_, T>> {
        let appender = match entry {
            Entry::Delete => false,
            Entry::Batch => true,
            // A record before the run's tail goes to the skiplist whoever
            // appends: the tail only grows, so the appender would refuse it
            // (no CAS for a late record). Not under loom: one more
            // model-checked load in every write of every scenario, for a
            // shortcut that orders nothing.
            Entry::Record(ts) => cfg!(timelog_loom) || !self.run.before_tail(ts),
        };
        // Seeded fault (R1): a writer ignores SEALED in the value its RMW read.
        #[cfg(not(timelog_fault = "seal_no_recheck"))]
        const CLOSED: u64 = SEALED;
        #[cfg(timelog_fault = "seal_no_recheck")]
        const CLOSED: u64 = 0;
        if appender {
            // The usual state: nobody inside, not sealed (no load first).
            let mut s = 0;
            while s & (CLOSED | APPENDER) == 0 {
                // Acquire: R3, the previous appender's slots, `last_ts` and
                // `len` (released by its leaving RMW) happen-before our push.
                match self.state.compare_exchange(s, (s + WRITER) | APPENDER, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return Some(self.entered(WRITER | APPENDER, false)),
                    Err(now) => s = now,
                }
            }
            // SEALED is never cleared: a writer that read it does not enter.
            if s & CLOSED != 0 {
                return None;
            }
        }
        // Seeded fault (R3): a writer that found the right taken appends anyway.
        let rogue = cfg!(timelog_fault = "appender_shared") && appender;
        // R1 needs only the RMW order (who reads whose value), not Acquire;
        // Acquire is free on an RMW (one locked instruction on x86 either
        // way) and orders this entry after earlier leaves like the
        // appender's CAS, so that no reasoning has to tell the two apart.
        let prev = self.state.fetch_add(WRITER, Ordering::Acquire);
        if prev & CLOSED != 0 {
            self.state.fetch_sub(WRITER, Ordering::Release);
            return None;
        }
        Some(self.entered(WRITER, rogue))
    }

    #[inline(always)]
    fn entered(&self, held: u64, _rogue: bool) -> Entered<'_, T> {
        Entered {
            mt: self,
            held,
            #[cfg(timelog_fault = "appender_shared")]
            rogue: _rogue,
        }
    }

    /// Inserts one record outside `Timelog::with_active` (tests): enters,
    /// inserts, leaves.
    #[cfg(test)]
    pub(crate) fn insert(&self, ts: Timestamp, val: T, alloc: impl FnOnce() -> SeqNo) -> SeqNo {
        self.enter(Entry::Record(ts)).expect("an unsealed memtable").insert(ts, val, alloc)
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

    /// R2, first half: claim the seal (set SEALED). Returns false if
    /// someone else did: the winner is the one whose `fetch_or` read SEALED
    /// clear. From its `fetch_or` on, every entering RMW reads SEALED (R1).
    pub(crate) fn seal_begin(&self) -> bool {
        self.state.fetch_or(SEALED, Ordering::AcqRel) & SEALED == 0
    }

    /// R2, second half: wait for the writers inside to leave, then record
    /// the bound. Writers leave after a bounded insert, so this is a short
    /// wait of the sealer on writers, never on readers.
    pub(crate) fn seal_drain(&self, next_seq: &AtomicU64) -> SeqNo {
        let mut b = Backoff::new();
        // Seeded fault (R2): seal without waiting for the writers inside.
        // Acquire: a count of zero was written by the last leaving RMW
        // (Release) of a chain that includes every writer that entered
        // before SEALED: their sequence allocations happen-before the load
        // of `next_seq` below.
        #[cfg(not(timelog_fault = "seal_no_drain"))]
        while self.state.load(Ordering::Acquire) & COUNT != 0 {
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
        self.state.load(Ordering::Acquire) & SEALED != 0
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

#[cfg(all(test, not(timelog_loom), not(timelog_shuttle)))]
mod tests {
    use super::*;

    /// R1/R2/R3 on the one-word writer state: the appender right goes with
    /// the first in-order entry only, late records and deletes enter
    /// without it, leaving releases exactly what was taken, and once
    /// SEALED is set no entry of any kind succeeds.
    #[test]
    fn one_word_writer_state() {
        let retired = Arc::new(AtomicUsize::new(0));
        let mt: Memtable<u64> = Memtable::new(1, &retired);
        let state = || mt.state.load(Ordering::Relaxed);
        let a = mt.enter(Entry::Record(5)).expect("active");
        assert_eq!(a.held, WRITER | APPENDER);
        let b = mt.enter(Entry::Batch).expect("active");
        assert_eq!(b.held, WRITER, "the appender right is taken: the second writer enters without it");
        let d = mt.enter(Entry::Delete).expect("active");
        assert_eq!(d.held, WRITER);
        assert_eq!(state(), 3 | APPENDER);
        // The writer without the right goes to the skiplist, even in order.
        assert_eq!(b.insert(6, 60, || 2), 2);
        assert_eq!(a.insert(5, 50, || 1), 1);
        assert_eq!((mt.run.len(), mt.ooo_len()), (1, 1));
        drop(a);
        assert_eq!(state(), 2, "leaving released the appender right and one writer");
        // A record visibly before the run's tail does not ask for the right.
        let late = mt.enter(Entry::Record(4)).expect("active");
        assert_eq!(late.held, WRITER);
        assert_eq!(late.insert(4, 40, || 3), 3);
        drop(late);
        let c = mt.enter(Entry::Record(7)).expect("active");
        assert_eq!(c.held, WRITER | APPENDER, "the right is free again");
        drop(c);
        assert!(mt.seal_begin(), "the first sealer wins");
        assert!(!mt.seal_begin(), "one sealer only");
        assert!(mt.is_sealed());
        for e in [Entry::Record(8), Entry::Record(1), Entry::Batch, Entry::Delete] {
            assert!(mt.enter(e).is_none(), "{e:?} entered a sealed memtable");
        }
        assert_eq!(state(), SEALED | 2, "a refused entry leaves the count as it was");
        drop((b, d));
        assert_eq!(state(), SEALED);
        assert_eq!(mt.seal_drain(&AtomicU64::new(4)), 3);
        assert_eq!(mt.seal_bound(), 3);
    }
}
