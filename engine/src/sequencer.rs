//! The sequencer: the completion ring and the visible watermark (rule R5).
//!
//! **Owns** the completion ring (`done`) and `visible`, the watermark below
//! which every sequence is complete. Sequences themselves are handed out by
//! the door (R1: a writer's ticket of the memtable behind it, plus that
//! memtable's base; a bulk run's block by the claimant of a seal, R14).
//!
//! **Upholds** R5: `visible` passes a sequence only once every write with
//! a smaller one has finished its insert — *commit with helping*: whoever
//! finishes advances the watermark over every consecutive finished block,
//! so no writer needs to be scheduled in sequence order, and a writer waits
//! only for an *earlier* writer still inside its insert (or, with the ring
//! full, for the watermark to come within the ring's length of its block).
//! A writer with no earlier write in flight skips the ring: one CAS of the
//! watermark (the fast path of [`commit`](Sequencer::commit)).
//!
//! **Callers:** the write path of the facade (`timelog.rs`: `commit` after
//! the insert); the catalog's snapshot function reads
//! [`visible`](Sequencer::visible) (one Acquire load, after the manifest,
//! R5); the claimant of a seal waits for the watermark to reach the seal's
//! bound before it replaces the memtable (R2), a flush before it reads a
//! sealed one (R8). Nothing else writes here.

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

/// The visible watermark and its completion ring (R5); see the module docs.
pub(crate) struct Sequencer {
    /// The visible watermark: every sequence `<=` it is complete (R5).
    /// Readers load it once per snapshot; writers advance it per commit.
    /// Padded to a cache line of its own, so that the fields every read
    /// loads (the manifest cell, `closed`, `floor`) do not share a line
    /// with it.
    visible: CachePadded<AtomicU64>,
    /// Completion ring of R5: slot `s % len` holds the last sequence of the
    /// completed block that starts at `s`.
    done: Box<[AtomicU64]>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer").field("visible", &self.visible.load(Ordering::Relaxed)).finish()
    }
}

impl Sequencer {
    /// Nothing committed yet: the first sequence is 1, the watermark 0.
    pub(crate) fn new() -> Self {
        Self {
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
            ("sequencer: visible".to_string(), of(&*self.visible)),
            ("sequencer: completion ring".to_string(), of(&*self.done)),
        ]
    }

    /// The visible watermark (Acquire: every write at or below it
    /// happens-before this load, R5).
    #[inline]
    pub(crate) fn visible(&self) -> SeqNo {
        self.visible.load(Ordering::Acquire)
    }

    /// Waits until the watermark reaches `bound`: the claimant of a seal
    /// before it replaces the memtable (R2: every ticket of it committed),
    /// a flush before it reads a sealed memtable (R8), a bulk run and
    /// `close` before they let their claimed memtable go (R14) — a short
    /// wait on writes already admitted. Long waits yield inside `hooks`'
    /// blocking scope: a writer holding a ticket may be a thread that
    /// needs the interpreter lock to get to its commit.
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
            s.commit(want, 1, &hooks);
            assert_eq!(s.visible(), want);
        }
        s.commit(11, 5, &hooks);
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
            let (a, b) = (1, 2);
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
