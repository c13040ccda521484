//! The sequencer: sequence allocation, the completion ring and the visible
//! watermark (rule R5).
//!
//! **Owns** `next_seq` (the next sequence number to hand out), the
//! completion ring (`done`) and `visible`, the watermark below which every
//! sequence is complete.
//!
//! **Upholds** R5: sequences are allocated by one counter (a bulk write takes
//! a block), and `visible` passes a sequence only once every write with a
//! smaller one has finished its insert — *commit with helping*: whoever
//! finishes advances the watermark over every consecutive finished block,
//! so no writer needs to be scheduled in sequence order, and a writer waits
//! only for an *earlier* writer still inside its insert (or, with the ring
//! full, for the watermark to come within the ring's length of its block).
//! A writer with no earlier write in flight skips the ring: one CAS of the
//! watermark (the fast path of [`commit`](Sequencer::commit)).
//!
//! **Callers:** the write path of the facade (`timelog.rs`: `alloc` inside
//! an entered memtable, R1/R3; `commit` after the insert); the catalog's
//! snapshot function reads [`visible`](Sequencer::visible) (one Acquire load,
//! after the manifest, R5); the maintainer reads it too (a flush waits for
//! its seal bound to be committed, R8; delete debt), and the sealer's drain
//! reads `next_seq` (R2). Nothing else writes here.

use crossbeam_utils::CachePadded;

use crate::hooks::Hooks;
use crate::sync::{AtomicU64, Backoff, Ordering};
use crate::SeqNo;

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
// A power of two, so `seq % COMMIT_RING` is a mask, not a division: the
// ring is indexed three times per commit (the slot store, and one load per
// step of `advance_visible`), on every write.
const _: () = assert!(COMMIT_RING.is_power_of_two());

/// Sequence allocation and the visible watermark (R5); see the module docs.
pub(crate) struct Sequencer {
    /// Next sequence number to allocate (R5: starts at 1; 0 = "nothing").
    /// Written by every write: padded to a cache line of its own, like
    /// `visible`, so that the fields every read loads (the manifest cell,
    /// `closed`, `floor`) do not share a line with them.
    next_seq: CachePadded<AtomicU64>,
    /// The visible watermark: every sequence `<=` it is complete (R5).
    /// Readers load it once per snapshot; writers advance it per commit.
    visible: CachePadded<AtomicU64>,
    /// Completion ring of R5: slot `s % len` holds the last sequence of the
    /// completed block that starts at `s`.
    done: Box<[AtomicU64]>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("next_seq", &self.next_seq.load(Ordering::Relaxed))
            .field("visible", &self.visible.load(Ordering::Relaxed))
            .finish()
    }
}

impl Sequencer {
    /// Nothing allocated yet: the first sequence is 1, the watermark 0.
    pub(crate) fn new() -> Self {
        Self {
            next_seq: CachePadded::new(AtomicU64::new(1)),
            visible: CachePadded::new(AtomicU64::new(0)),
            done: (0..COMMIT_RING).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Contention audit (test-only): the byte ranges of the sequencer's
    /// shared lines, for classifying recorded writes.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn audit_regions(&self) -> Vec<(String, std::ops::Range<usize>)> {
        fn of<X: ?Sized>(x: &X) -> std::ops::Range<usize> {
            let p = x as *const X as *const u8 as usize;
            p..p + std::mem::size_of_val(x)
        }
        vec![
            ("sequencer: next_seq".to_string(), of(&*self.next_seq)),
            ("sequencer: visible".to_string(), of(&*self.visible)),
            ("sequencer: completion ring".to_string(), of(&*self.done)),
        ]
    }

    /// R5: allocates `n` consecutive sequence numbers; returns the first.
    /// Called by a writer inside an entered memtable (R1), the appender
    /// while it holds the run's flag (R3).
    #[inline]
    pub(crate) fn alloc(&self, n: u64) -> SeqNo {
        self.next_seq.fetch_add(n, Ordering::AcqRel)
    }

    /// A delete's allocation (R1, admission by sequence): SeqCst, the
    /// delete's half of the handshake with a seal's claimant (then its
    /// SeqCst load of the door's word, `Door::admit`).
    #[inline]
    pub(crate) fn alloc_sc(&self) -> SeqNo {
        self.next_seq.fetch_add(1, Ordering::SeqCst)
    }

    /// The allocation counter itself, for the sealer's drain (R2: the seal
    /// bound is `next_seq - 1`, read once the writers inside have left).
    #[inline]
    pub(crate) fn next_seq(&self) -> &AtomicU64 {
        &self.next_seq
    }

    /// The visible watermark (Acquire: every write at or below it
    /// happens-before this load, R5).
    #[inline]
    pub(crate) fn visible(&self) -> SeqNo {
        self.visible.load(Ordering::Acquire)
    }

    /// Waits until the watermark reaches `bound` (a flush before reading a
    /// sealed memtable, R8; a bulk run and `close` before they let their
    /// claimed memtable go, R14, R1: the drain waited for the writers to
    /// leave the memtable, not for their commits, nor for the deletes
    /// admitted by their sequence — a short wait on writes already
    /// admitted). Long waits yield inside `hooks`' blocking scope: a
    /// delete admitted by its sequence may itself be waiting (for a seal
    /// in progress to publish its bound) in that scope, and must be able to
    /// come back to push and commit.
    pub(crate) fn wait_visible(&self, bound: SeqNo, hooks: &Hooks) {
        let mut b = Backoff::new();
        while self.visible() < bound {
            hooks.snooze(&mut b);
        }
    }

    /// R5: commit with helping. A writer whose block follows the watermark
    /// directly (every earlier write complete: always so for a writer
    /// alone) moves the watermark over it with one CAS — the fast path, no
    /// mark. Otherwise it marks its block `first .. first + n`
    /// complete in the completion ring, then advances the watermark over
    /// every consecutive complete block — its own and those of writers that
    /// finished before it — so no writer has to be scheduled in sequence
    /// order. It returns once the watermark covers its own block (read your
    /// writes): it waits only while an *earlier* writer is still inside its
    /// insert, never for a reader. Long waits yield inside `hooks`'
    /// blocking scope.
    #[inline]
    pub(crate) fn commit(&self, first: SeqNo, n: u64, hooks: &Hooks) {
        let last = first + n - 1;
        // Fast path (R5): every earlier sequence is visible already, so the
        // watermark moves over this block directly — no mark in the ring,
        // which nobody would read (the watermark is past it). AcqRel, as
        // the helping CAS: the insert happens-before any snapshot that sees
        // `last`. A later block that finished meanwhile found the watermark
        // short of it and is waiting: help it on.
        // (Seeded fault `commit_fast_relaxed`, R5: the fast CAS Relaxed.)
        #[cfg(not(timelog_fault = "commit_fast_relaxed"))]
        const FAST: Ordering = Ordering::AcqRel;
        #[cfg(timelog_fault = "commit_fast_relaxed")]
        const FAST: Ordering = Ordering::Relaxed;
        if self.visible.compare_exchange(first - 1, last, FAST, Ordering::Relaxed).is_ok() {
            // The mark of `last + 1` tested here, not by calling
            // `advance_visible` at once: its reload of the watermark just
            // written cost a delete 6 ns (session 12, measured).
            if self.done[((last + 1) % COMMIT_RING) as usize].load(Ordering::Acquire) > last {
                self.advance_visible();
            }
            return;
        }
        self.commit_slow(first, last, hooks);
    }

    /// [`commit`](Self::commit) when an earlier write is still inside its
    /// insert (or another commit moved the watermark meanwhile): the mark
    /// in the ring, then helping.
    #[inline(never)]
    fn commit_slow(&self, first: SeqNo, last: SeqNo, hooks: &Hooks) {
        let ring = COMMIT_RING;
        let mut b = Backoff::new();
        // The slot of `first` is free once the watermark passed `first - ring`.
        // (Seeded fault `commit_ring_no_wait`, R5: reuse the slot at once.)
        #[cfg(not(timelog_fault = "commit_ring_no_wait"))]
        while first > ring && self.visible.load(Ordering::Acquire) < first - ring {
            hooks.snooze(&mut b);
        }
        // Release: the insert happens-before any advance that reads this mark.
        self.done[(first % ring) as usize].store(last, Ordering::Release);
        loop {
            self.advance_visible();
            if self.visible.load(Ordering::Acquire) >= last {
                return;
            }
            hooks.snooze(&mut b);
        }
    }

    /// Moves the watermark over consecutive completed blocks (R5).
    #[inline]
    fn advance_visible(&self) {
        let ring = COMMIT_RING;
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
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;

    /// The fast path (R5): in-order commits move the watermark with one CAS
    /// each and write no ring mark.
    #[test]
    fn in_order_commits_take_the_fast_path_and_leave_the_ring_alone() {
        let s = Sequencer::new();
        let hooks = Hooks::default();
        for want in 1..=10 {
            let seq = s.alloc(1);
            assert_eq!(seq, want);
            s.commit(seq, 1, &hooks);
            assert_eq!(s.visible(), want);
        }
        let block = s.alloc(5);
        s.commit(block, 5, &hooks);
        assert_eq!(s.visible(), 15);
        assert!(s.done.iter().all(|m| m.load(Ordering::Relaxed) == 0), "no mark was written");
    }

    /// A later write that finishes first waits on the slow path (its mark
    /// in the ring); the earlier write's fast-path commit then helps it on
    /// (or it advances itself): both return, and the watermark covers both.
    #[test]
    fn a_fast_commit_and_a_waiting_later_one_both_complete() {
        for _ in 0..200 {
            let s = std::sync::Arc::new(Sequencer::new());
            let (a, b) = (s.alloc(1), s.alloc(2));
            let later = {
                let s = s.clone();
                std::thread::spawn(move || s.commit(b, 2, &Hooks::default()))
            };
            // Give the later writer a chance to store its mark first.
            std::thread::yield_now();
            s.commit(a, 1, &Hooks::default());
            later.join().unwrap();
            assert_eq!(s.visible(), 3);
        }
    }
}
