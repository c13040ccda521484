//! Sequenced tombstones and the coverage map that reads filter with.
//!
//! A tombstone `[t1, t2)` with sequence `s` hides every record whose
//! timestamp it covers and whose sequence is *smaller* than `s` (rule R7).
//! A record written later at a deleted timestamp stays visible.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr;

use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, Region, UnsyncGet};
use crate::{SeqNo, Timestamp};

/// A range delete `[t1, t2)` issued with sequence number `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    /// First deleted timestamp (inclusive).
    pub t1: Timestamp,
    /// End of the deleted range (exclusive).
    pub t2: Timestamp,
    /// The delete's sequence number: it hides records with a smaller one (R7).
    pub seq: SeqNo,
}

impl Tombstone {
    /// Whether `ts` lies in `[t1, t2)`.
    #[inline]
    pub fn covers(&self, ts: Timestamp) -> bool {
        self.t1 <= ts && ts < self.t2
    }
    /// Whether `[t1, t2)` and this tombstone's range share a timestamp.
    #[inline]
    pub fn overlaps(&self, t1: Timestamp, t2: Timestamp) -> bool {
        self.t1 < t2 && t1 < self.t2
    }
}

/// One tombstone slot of a [`Block`]. Its claimer writes `body`, then
/// publishes the slot by storing its sequence in `seq` with Release (R7);
/// `seq` is 0 until then (sequences start at 1, R5).
struct Slot {
    seq: AtomicU64,
    body: UnsafeCell<MaybeUninit<Body>>,
    /// Model checkers: the slot's memory (zero-sized no-op in std builds).
    region: Region,
}

/// A slot's contents besides its sequence (40 bytes a slot with it: the
/// first touch of a stack's blocks is part of a delete's cost).
#[derive(Clone, Copy)]
struct Body {
    /// The tombstone's range (its sequence is the slot's).
    t1: Timestamp,
    t2: Timestamp,
    /// The span of this slot's tombstone and of every slot claimed before
    /// it in the stack, or [`UNKNOWN`] if one of those was still being
    /// written when this one was pushed (R15 "span").
    span: Span,
}

/// A slot's span that could not be known (never a real span: those have
/// `lo < hi`, the empty one `lo > hi`).
const UNKNOWN: Span = Span { lo: Timestamp::MAX, hi: Timestamp::MAX };

impl Body {
    /// The slot's span, if known.
    #[inline(always)]
    fn span(&self) -> Option<Span> {
        (self.span != UNKNOWN).then_some(self.span)
    }
}

impl Slot {
    /// The slot's sequence and body once published; `None` while it is
    /// being written (R7: its delete has not committed). The one read of a
    /// slot's contents: the walks, the pusher's span and the reader's.
    #[inline(always)]
    fn published(&self) -> Option<(SeqNo, &Body)> {
        // Acquire: pairs with the Release store of `push` (R7).
        let seq = self.seq.load(Ordering::Acquire);
        if seq == 0 {
            return None;
        }
        self.region.read();
        // SAFETY: R7: the non-zero sequence was stored (Release) after the
        // body was written, and the slot is never written again.
        Some((seq, unsafe { (*self.body.get()).assume_init_ref() }))
    }
}

/// Slots of the first block of a stack; later blocks double, up to
/// [`MAX_BLOCK`]. Slots come from blocks, not one allocation each: a delete
/// is a handful of atomics, and a `malloc` + `free` per node was about half
/// of its engine cost.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
const FIRST_BLOCK: usize = 16;
// Model checkers: small, so that a few deletes cross a block boundary (each
// slot is a modelled atomic and cell).
#[cfg(any(timelog_loom, timelog_shuttle))]
const FIRST_BLOCK: usize = 2;
const MAX_BLOCK: usize = 1024;

/// The most slots a pusher walks back to find the span before its own
/// ([`TombStack::span_before`]): only slots pushed concurrently with an
/// earlier one have no span of their own; beyond this the new span is
/// unknown too (reads then take the coverage cache's path).
const SPAN_WALK: usize = 64;

/// A block of slots. A slot is claimed by a `fetch_add` on `used` (a claim
/// at or beyond the capacity fails and moves on to a new block); its
/// claimer writes it and publishes it by the Release store of its sequence.
struct Block {
    used: AtomicUsize,
    slots: Box<[Slot]>,
    /// The block this one replaced as the current one (for the walk and the
    /// drop).
    prev: *mut Block,
    /// Slots of all the blocks before this one (for [`TombStack::len`]).
    base: usize,
}

/// The tombstones of one memtable: a push-only, lock-free array of slots in
/// blocks.
///
/// A push is one claim (`fetch_add`) and one Release store (R7): no CAS on
/// a shared head. Slots are never removed or rewritten while the memtable
/// lives, so readers walk the blocks from the current one (Acquire) without
/// any guard; a slot whose sequence still reads 0 is being written and is
/// skipped — its delete has not committed, so no snapshot's watermark
/// covers it (R7). Blocks are freed when the memtable is dropped (R6).
pub(crate) struct TombStack {
    /// The block new slots are claimed from (null before the first push).
    block: AtomicPtr<Block>,
}

/// The timestamps `[lo, hi)` a stack's tombstones may cover: the least
/// `t1` and the greatest `t2` of its tombstones ([`TombStack::span`], R15
/// "span"). Empty when `lo >= hi`; [`Span::ALL`] covers every timestamp a
/// tombstone can cover (`t2` is exclusive, so none covers `MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    lo: Timestamp,
    hi: Timestamp,
}

impl Span {
    /// No timestamp.
    pub(crate) const EMPTY: Span = Span { lo: Timestamp::MAX, hi: Timestamp::MIN };
    /// Every timestamp a tombstone can cover: what a reader assumes when it
    /// cannot know the span.
    pub(crate) const ALL: Span = Span { lo: Timestamp::MIN, hi: Timestamp::MAX };

    /// The timestamps `t` covers.
    #[inline(always)]
    fn of(t: &Tombstone) -> Span {
        Span { lo: t.t1, hi: t.t2 }
    }

    /// Whether a tombstone of the span may cover `ts`.
    #[inline(always)]
    pub(crate) fn covers(self, ts: Timestamp) -> bool {
        self.lo <= ts && ts < self.hi
    }

    /// The span of both.
    #[inline(always)]
    pub(crate) fn union(self, o: Span) -> Span {
        Span { lo: self.lo.min(o.lo), hi: self.hi.max(o.hi) }
    }
}

// SAFETY: a slot's body is written only by the one thread whose
// `fetch_add` claimed it, before the Release store of its sequence, and read
// only after an Acquire load of that sequence found it non-zero (R7); blocks
// are freed only in `drop` (`&mut self`), R6.
unsafe impl Send for TombStack {}
// SAFETY: as above.
unsafe impl Sync for TombStack {}

impl TombStack {
    pub(crate) fn new() -> Self {
        Self { block: AtomicPtr::new(ptr::null_mut()) }
    }

    /// Claims an unwritten slot (R6: blocks live until the drop): its block
    /// and index. Inline: a slot of the current block (one
    /// read-modify-write, on every delete); a new block out of line.
    #[inline]
    fn claim(&self) -> (&Block, usize) {
        // Acquire: pairs with the AcqRel CAS that installed the block (its
        // fields are initialized before it is published).
        let b = self.block.load(Ordering::Acquire);
        if !b.is_null() {
            // SAFETY: R6: a published block lives until the stack drops.
            let blk = unsafe { &*b };
            // Relaxed: the claim only needs atomicity; the slot is
            // published by the Release store of its sequence (`push`).
            let i = blk.used.fetch_add(1, Ordering::Relaxed);
            if i < blk.slots.len() {
                return (blk, i);
            }
        }
        self.claim_in_new_block(b)
    }

    /// [`claim`](Self::claim) when block `b` (null: none yet) is full:
    /// install a new block (twice as large, up to `MAX_BLOCK`), or claim
    /// in the one another pusher installed first.
    #[cold]
    #[inline(never)]
    fn claim_in_new_block(&self, mut b: *mut Block) -> (&Block, usize) {
        loop {
            let cap = if b.is_null() {
                FIRST_BLOCK
            } else {
                // SAFETY: R6: a published block lives until the stack drops.
                let blk = unsafe { &*b };
                // A block another pusher installed may have room (the one
                // the caller found full fails the claim again; a failed
                // claim is not counted, see `len`). Relaxed, as there.
                let i = blk.used.fetch_add(1, Ordering::Relaxed);
                if i < blk.slots.len() {
                    return (blk, i);
                }
                (blk.slots.len() * 2).min(MAX_BLOCK)
            };
            let slots = pool::take(cap).unwrap_or_else(|| {
                (0..cap)
                    .map(|_| Slot {
                        seq: AtomicU64::new(0),
                        body: UnsafeCell::new(MaybeUninit::uninit()),
                        region: Region::new(),
                    })
                    .collect()
            });
            let base = if b.is_null() {
                0
            } else {
                // SAFETY: R6: a published block lives until the stack drops.
                let prev = unsafe { &*b };
                prev.base + prev.slots.len()
            };
            let fresh = Box::into_raw(Box::new(Block { used: AtomicUsize::new(1), slots, prev: b, base }));
            match self.block.compare_exchange(b, fresh, Ordering::AcqRel, Ordering::Acquire) {
                // SAFETY: R6: installed, so it lives until the drop; slot 0 is ours (`used` = 1).
                Ok(_) => return (unsafe { &*fresh }, 0),
                Err(cur) => {
                    // SAFETY: never published: ours to free.
                    drop(unsafe { Box::from_raw(fresh) });
                    b = cur;
                }
            }
        }
    }

    /// Pushes `tomb` (R7): claim a slot, write it, publish it by the
    /// Release store of its sequence. The caller commits afterwards (R5).
    #[inline]
    pub(crate) fn push(&self, tomb: Tombstone) {
        debug_assert!(tomb.seq != 0, "sequences start at 1 (R5)");
        let (blk, i) = self.claim();
        Self::publish(blk, i, tomb);
    }

    /// Writes `tomb` and its span into slot `i` of `blk`, claimed by the
    /// caller, and publishes it (the second half of [`push`](Self::push)).
    #[inline]
    fn publish(blk: &Block, i: usize, tomb: Tombstone) {
        let slot = &blk.slots[i];
        // R15 "span": this tombstone's and every earlier slot's.
        #[cfg(not(timelog_fault = "tomb_span_own_only"))]
        let span = Self::span_before(blk, i).map(|s| s.union(Span::of(&tomb)));
        // Seeded fault (R15 "span"): the earlier slots left out.
        #[cfg(timelog_fault = "tomb_span_own_only")]
        let span = Some(Span::of(&tomb));
        // SAFETY: R7: the claimed slot is ours: nobody else claims it, and
        // no reader touches its body before the store below publishes it (a
        // reader that loads 0 skips the slot).
        unsafe { (*slot.body.get()).write(Body { t1: tomb.t1, t2: tomb.t2, span: span.unwrap_or(UNKNOWN) }) };
        slot.region.init();
        // R7: the Release store publishes the slot's tombstone.
        #[cfg(not(timelog_fault = "tomb_relaxed_push"))]
        let published = Ordering::Release;
        // Seeded fault (R7): a Relaxed publication orders nothing.
        #[cfg(timelog_fault = "tomb_relaxed_push")]
        let published = Ordering::Relaxed;
        slot.seq.store(tomb.seq, published);
    }

    /// The span of every slot claimed before slot `i` of `blk` (R15
    /// "span"), for the pusher of slot `i`: the previous slot's span, or,
    /// where that is unknown, the union of the tombstones walked back to a
    /// slot whose span is known (at most [`SPAN_WALK`] slots). `None` if a
    /// slot walked is still being written, or the walk is too long. A lone
    /// deleter always finds the previous slot published with a known span:
    /// one step, no read-modify-write.
    #[inline]
    fn span_before(blk: &Block, i: usize) -> Option<Span> {
        // The lone deleter's case, inline: the previous slot of this block,
        // published with a known span.
        let prev = i.checked_sub(1).and_then(|j| blk.slots[j].published());
        if let Some(span) = prev.and_then(|(_, body)| body.span()) {
            return Some(span);
        }
        Self::span_walk(blk, i)
    }

    /// [`span_before`](Self::span_before) in general: the walk back.
    #[cold]
    #[inline(never)]
    fn span_walk(mut blk: &Block, mut i: usize) -> Option<Span> {
        let mut acc = Span::EMPTY;
        for _ in 0..SPAN_WALK {
            if i == 0 {
                if blk.prev.is_null() {
                    return Some(acc);
                }
                // SAFETY: R6: published blocks live until the stack drops.
                // A block is replaced only once full (a claim in it failed),
                // so every slot of the previous one was claimed.
                blk = unsafe { &*blk.prev };
                i = blk.slots.len();
            }
            let Some((_, body)) = blk.slots[i - 1].published() else {
                // Seeded fault (R15 "span"): a slot being written left out.
                #[cfg(timelog_fault = "tomb_span_skips_unwritten")]
                {
                    i -= 1;
                    continue;
                }
                #[cfg(not(timelog_fault = "tomb_span_skips_unwritten"))]
                return None;
            };
            if let Some(span) = body.span() {
                return Some(acc.union(span));
            }
            acc = acc.union(Span { lo: body.t1, hi: body.t2 });
            i -= 1;
        }
        None
    }

    /// The timestamps this stack's tombstones may cover (R15 "span"): the
    /// newest claimed slot's span, which holds every slot claimed before
    /// it — [`Span::ALL`] if that slot is still being written or its span
    /// is unknown; [`Span::EMPTY`] when no slot was claimed. No write: the
    /// block pointer and the claim count, as [`len`](Self::len), then one
    /// Acquire load of that slot's sequence. Every tombstone whose delete
    /// committed before these loads was claimed before, so at or before
    /// that slot (R7's argument for the walks).
    #[inline]
    pub(crate) fn span(&self) -> Span {
        // Acquire: pairs with the AcqRel CAS that installed the block.
        let b = self.block.load(Ordering::Acquire);
        if b.is_null() {
            return Span::EMPTY;
        }
        // SAFETY: R6: a published block lives until the stack drops, which
        // cannot happen while `&self` is held.
        let blk = unsafe { &*b };
        // At least 1: a block is installed with its first slot claimed.
        let n = blk.used.load(Ordering::Relaxed).min(blk.slots.len());
        blk.slots[n - 1].published().and_then(|(_, body)| body.span()).unwrap_or(Span::ALL)
    }

    /// Whether no slot was ever claimed (a push in progress counts: callers
    /// use this to skip work, so "not empty" is the safe answer).
    pub(crate) fn is_empty(&self) -> bool {
        self.block.load(Ordering::Acquire).is_null()
    }

    /// How many slots were claimed: the tombstones pushed, plus those
    /// being pushed right now. Two loads, no shared write: the memtable's
    /// size heuristic reads it instead of counting every push with a
    /// read-modify-write of its own ([`Memtable::bytes_and_ooo`](crate::memtable::Memtable::bytes_and_ooo)).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // model builds count pushes (`Memtable::bytes`)
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Acquire: pairs with the AcqRel CAS that installed the block.
        let b = self.block.load(Ordering::Acquire);
        if b.is_null() {
            return 0;
        }
        // SAFETY: R6: a published block lives until the stack drops, which
        // cannot happen while `&self` is held.
        let blk = unsafe { &*b };
        // A claim at or beyond the capacity failed (its claimer moves on to
        // a new block), so it is not counted.
        blk.base + blk.used.load(Ordering::Relaxed).min(blk.slots.len())
    }

    /// Identity of the stack's state: the count of claimed slots. Slots
    /// are only claimed, never released, while the stack lives (R6), so
    /// equal counts mean no slot was claimed in between — the same
    /// tombstones, provided none of them was still being written (a walk
    /// that met such a slot reports it, see
    /// [`CoverageBuilder::stack`]). Keys the read-side coverage cache
    /// ([`CovCache`], R7).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // the cache is std-only
    pub(crate) fn head_id(&self) -> usize {
        self.len()
    }

    /// Calls `f` for every claimed slot, newest block first: `Some` with the
    /// tombstone of a published slot, `None` for one still being written
    /// (R7: its delete has not committed).
    ///
    /// Every tombstone whose delete committed before the caller loaded its
    /// watermark is visited: its claim happened-before that commit, so the
    /// block and `used` loads of [`for_each_slot_from`](Self::for_each_slot_from) see it (R7).
    pub(crate) fn for_each_slot(&self, f: impl FnMut(Option<&Tombstone>)) {
        self.for_each_slot_from(0, f);
    }

    /// [`for_each_slot`](Self::for_each_slot) of the slots claimed at or
    /// after position `start` (in claim order; [`head_id`](Self::head_id)
    /// counts positions): the walk stops at the first block wholly before
    /// it. For the coverage cache's extension of an entry built when the
    /// stack's head was `start` ([`CovCache`], R7).
    pub(crate) fn for_each_slot_from(&self, start: usize, mut f: impl FnMut(Option<&Tombstone>)) {
        // Acquire: pairs with the AcqRel CAS that installed the block.
        let mut b = self.block.load(Ordering::Acquire) as *const Block;
        while !b.is_null() {
            // SAFETY: R6: published blocks live until the stack is dropped,
            // which cannot happen while `&self` is held.
            let blk = unsafe { &*b };
            let n = blk.used.load(Ordering::Relaxed).min(blk.slots.len());
            if blk.base + n <= start {
                return; // this block and every older one lie before `start`
            }
            for slot in blk.slots[start.saturating_sub(blk.base)..n].iter().rev() {
                match slot.published() {
                    Some((seq, b)) => f(Some(&Tombstone { t1: b.t1, t2: b.t2, seq })),
                    None => f(None),
                }
            }
            b = blk.prev;
        }
    }

    /// Calls `f` for every published tombstone (newest block first).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Tombstone)) {
        self.for_each_slot(|t| {
            if let Some(t) = t {
                f(t)
            }
        });
    }

    pub(crate) fn to_vec(&self) -> Vec<Tombstone> {
        let mut v = Vec::new();
        self.for_each(|t| v.push(*t));
        v.reverse();
        v
    }
}

impl Drop for TombStack {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        let mut b = self.block.unsync_get();
        while !b.is_null() {
            // SAFETY: R6: `&mut self`, nobody else reaches the blocks; each
            // was made by `Box::into_raw` and is on the chain once. The
            // slots' tombstones are `Copy`: nothing to drop in them.
            let blk = unsafe { Box::from_raw(b) };
            b = blk.prev;
            pool::give(blk.slots);
        }
    }
}

/// Slot arrays of full-size blocks ([`MAX_BLOCK`]) of dropped stacks, kept
/// for the next stacks (session 18).
///
/// A new block's slots are written at once (each sequence set to 0), and a
/// block of fresh memory takes ten page faults for its 40 KB. When the
/// allocator had returned the previous memtables' blocks to the system
/// (glibc trims the top of its heap on `free`), every delete paid about
/// 6 ns of page faults: `retention.py`'s delete rows read 42-49 ns per call
/// against 36-39 with `MALLOC_TRIM_THRESHOLD_` set high, run to run, and
/// the same process swung between the two. A dropped stack's blocks come
/// here instead, reset (every sequence 0: the stack was dropped, R6, so no
/// reader or writer reaches them), up to 64 of them (2.5 MB);
/// a new stack takes them before it allocates. The pool is behind a mutex
/// that a pusher only ever *tries* (`try_lock`: a pusher that finds it
/// taken allocates instead, so no delete waits for another thread — the
/// lock-freedom of design.md holds), and a dropped stack's blocks are
/// only kept when the lock is free (else freed). Not in the model checkers'
/// builds: their statics would outlive one execution, and handing a
/// dropped stack's memory to a new one is ownership, not a protocol.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod pool {
    use super::{Slot, MAX_BLOCK};

    /// Blocks kept at most (2.5 MB of 40-byte slots).
    const MAX: usize = 64;

    static POOL: crate::sync::Mutex<Vec<Box<[Slot]>>> = crate::sync::Mutex::new(Vec::new());

    /// A kept slot array of `cap` slots (every sequence 0), if `cap` is
    /// [`MAX_BLOCK`] and one is free and the pool is not in use.
    #[inline]
    pub(super) fn take(cap: usize) -> Option<Box<[Slot]>> {
        if cap != MAX_BLOCK {
            return None;
        }
        POOL.try_lock().ok()?.pop()
    }

    /// Keeps `slots` (a dropped stack's, owned) for reuse if it is a
    /// full-size block and the pool has room and is not in use (`try_lock`
    /// here too: a process forked while another thread held the lock has
    /// it held forever in the child, and nothing may wait on it); frees it
    /// otherwise.
    pub(super) fn give(mut slots: Box<[Slot]>) {
        if slots.len() != MAX_BLOCK {
            return;
        }
        for s in slots.iter_mut() {
            // The body stays as it is: plain data, unwritten again for
            // every reader once the sequence reads 0 (R7).
            *s.seq.get_mut() = 0;
        }
        if let Ok(mut p) = POOL.try_lock() {
            if p.len() < MAX {
                p.push(slots);
            }
        }
    }
}

/// Model checkers: no pool (see the std build's).
#[cfg(any(timelog_loom, timelog_shuttle))]
mod pool {
    use super::Slot;

    pub(super) fn take(_cap: usize) -> Option<Box<[Slot]>> {
        None
    }

    pub(super) fn give(slots: Box<[Slot]>) {
        drop(slots);
    }
}

/// Coalesces the *settled* tombstones of a manifest's list (rule R11).
///
/// Every snapshot that can load a manifest sees every tombstone of its list
/// (their sequences are at most `flushed_bound`, R8), and the only records
/// they can hide are segment records, whose effective sequence is their
/// segment's `tomb_applied` (R8): memtable records and every later segment
/// have greater sequences. So for every reader of the manifest (and of its
/// successors) a record is hidden iff the greatest sequence covering its
/// timestamp exceeds its effective sequence, and the list may be replaced
/// by any list with the same hiding function:
///
/// 1. each sequence is lowered to its *class*: one above the greatest
///    `tomb_applied` in `applied` below it (1 if none). No record the
///    manifest or a successor holds has an effective sequence between a
///    sequence and its class, so no comparison changes;
/// 2. the list is replaced by its max-class coverage: disjoint, sorted
///    intervals, each with the greatest class covering it, adjacent equal
///    ones merged. A newer tombstone covering an older one absorbs it; a
///    `delete_before` chain becomes one interval.
///
/// `applied` is the sorted, deduplicated `tomb_applied` of the manifest's
/// segments. Never call this with memtable tombstones: those are not settled
/// (a snapshot's watermark may lie between two of them, R5, R7). O(n log n).
pub(crate) fn coalesce(tombs: &[Tombstone], applied: &[SeqNo]) -> Vec<Tombstone> {
    #[cfg(not(timelog_fault = "tomb_coalesce_one_class"))]
    let class = |seq: SeqNo| match applied.partition_point(|&a| a < seq) {
        0 => 1,
        i => applied[i - 1] + 1,
    };
    // Seeded fault (R11): every settled tombstone is put in one class (the
    // newest), as if no segment had applied the older ones: a record written
    // after an older delete, at a timestamp it covers, and flushed, is then
    // hidden by the merged interval.
    #[cfg(timelog_fault = "tomb_coalesce_one_class")]
    let class = {
        let _ = applied;
        let top = tombs.iter().map(|t| t.seq).max().unwrap_or(1);
        move |_: SeqNo| top
    };
    let mut ev: Vec<Tombstone> =
        tombs.iter().filter(|t| t.t1 < t.t2).map(|t| Tombstone { seq: class(t.seq), ..*t }).collect();
    if ev.len() <= 1 {
        return ev;
    }
    ev.sort_unstable_by_key(|t| t.t1);
    let mut bounds: Vec<Timestamp> = ev.iter().flat_map(|t| [t.t1, t.t2]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    // Sweep the boundaries with a max-heap of the active classes; entries
    // that ended are dropped lazily when they reach the top.
    let mut heap: std::collections::BinaryHeap<(SeqNo, Timestamp)> = std::collections::BinaryHeap::new();
    let mut out: Vec<Tombstone> = Vec::new();
    let mut next = 0;
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        while next < ev.len() && ev[next].t1 <= a {
            heap.push((ev[next].seq, ev[next].t2));
            next += 1;
        }
        while heap.peek().is_some_and(|&(_, end)| end <= a) {
            heap.pop();
        }
        if let Some(&(seq, _)) = heap.peek() {
            match out.last_mut() {
                Some(last) if last.t2 == a && last.seq == seq => last.t2 = b,
                _ => out.push(Tombstone { t1: a, t2: b, seq }),
            }
        }
    }
    out
}

/// The one builder of a [`Coverage`]: collects the tombstones it is built
/// from — a manifest's list, memtable stacks up to a watermark — and builds
/// the coverage over the whole timeline.
///
/// Used by flush (a drained memtable's own stack, R8), compaction (the
/// manifest's list, R8) and the delete-debt estimate (list and committed
/// stack tombstones, coalesced first). What a read's view `(manifest, W)`
/// sees is the same `.list(&m.tombstones)` plus `.stack(&mt.tombs, W)` per
/// memtable (R7): `query::view::View::cov` builds it through the
/// manifest's [`CovCache`], which also records how many tombstones were
/// examined and whether one was left out.
#[derive(Debug, Default)]
pub(crate) struct CoverageBuilder {
    tombs: Vec<Tombstone>,
    /// Tombstones examined, kept or not.
    seen: usize,
    /// A stack examined may still receive a tombstone at or below a later
    /// watermark without its identity changing (see [`sealed`](Self::sealed)).
    open: bool,
}

impl CoverageBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a manifest's tombstone list. Every one of them is seen by every
    /// reader of the manifest (their sequences are at most its
    /// `flushed_bound`, which every snapshot's watermark reaches: R8, R11),
    /// so none is filtered.
    pub(crate) fn list(mut self, list: &[Tombstone]) -> Self {
        self.tombs.extend_from_slice(list);
        self.seen += list.len();
        self
    }

    /// Adds the tombstones of a memtable's stack with a sequence `<= w` (R7:
    /// those a view with watermark `w` sees; `SeqNo::MAX` for all of them).
    /// A slot still being written counts as examined and not kept, so
    /// the build is not [`complete`](Self::complete): its delete has not
    /// committed (not in `N(w)`), but it may commit later under the same
    /// stack identity ([`TombStack::head_id`], R7).
    pub(crate) fn stack(mut self, stack: &TombStack, w: SeqNo) -> Self {
        stack.for_each_slot(|t| {
            self.seen += 1;
            if let Some(t) = t.filter(|t| t.seq <= w) {
                self.tombs.push(*t);
            }
        });
        self
    }

    /// Adds a sealed memtable's stack (see [`stack`](Self::stack)), whose
    /// seal bound is `bound`. With `w` below the bound the stack may still
    /// grow with tombstones a later watermark sees, and the cache keys only
    /// the active stack's identity, so the build is not
    /// [`complete`](Self::complete) (R7). (Since session 25 a memtable is
    /// published as sealed only once every ticket of it committed, R2, so a
    /// view of it has `w >= bound`; until then deletes admitted by a
    /// sequence of their own could push into a sealed memtable.)
    pub(crate) fn sealed(mut self, stack: &TombStack, w: SeqNo, bound: SeqNo) -> Self {
        self.open |= w < bound;
        self.stack(stack, w)
    }

    /// Whether every tombstone examined was kept (none above the
    /// watermark) and no sealed stack may still grow (`sealed`).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // no cache under the model checkers
    pub(crate) fn complete(&self) -> bool {
        !self.open && self.tombs.len() == self.seen
    }

    /// The greatest sequence kept (0 when none).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))]
    pub(crate) fn max_seq(&self) -> SeqNo {
        self.tombs.iter().map(|t| t.seq).max().unwrap_or(0)
    }

    /// Whether no tombstone was kept.
    pub(crate) fn is_empty(&self) -> bool {
        self.tombs.is_empty()
    }

    /// Coalesces what was kept over the segments' `applied` bounds first
    /// ([`coalesce`], R11): only when every kept tombstone is seen by
    /// whoever uses the coverage (the same hiding function over segment
    /// records, and a linear build). Never for a reader's view of memtable
    /// tombstones it may not see all of.
    pub(crate) fn coalesced(mut self, applied: &[SeqNo]) -> Self {
        self.tombs = coalesce(&self.tombs, applied);
        self
    }

    /// The coverage of what was kept, over the whole timeline.
    pub(crate) fn build(mut self) -> Coverage {
        Coverage::build(&mut self.tombs, Timestamp::MIN, Timestamp::MAX)
    }
}

/// Per-manifest, per-stripe cache of the coverage of the tombstones a view
/// sees, so that a one-shot read binary-searches one sorted interval list
/// instead of collecting and sorting the tombstones (its cost would
/// otherwise grow with the number of deletes).
///
/// What a view `(manifest, w)` sees is `N(w)`: the tombstones reachable
/// from the manifest (its own list, its sealed memtables' stacks, the
/// active memtable's stack) with a sequence `<= w`. `N(w)` is fixed once
/// `w` is loaded: a tombstone with a sequence `<= w` was pushed before its
/// commit (R7), hence before `w` covered it, and stacks only grow (R6).
/// An entry built by a view with watermark `w_b` holds `S = N(w_b)` (it
/// walks the stacks after loading `w_b`), the greatest sequence in it, and
/// — when no reachable tombstone was left out (`complete`) — the active
/// stack's state at the walk (`TombStack::head_id`; sealed memtables'
/// stacks are final in a published manifest, R2). A view with watermark
/// `w` may use it iff `S = N(w)`:
///
/// - `w <= w_b` and `max_seq(S) <= w`: `N(w) ⊆ N(w_b) = S ⊆ N(w)`;
/// - `w > w_b`, `complete`, and the head unchanged: nothing was pushed
///   since the walk, and everything reachable then is in `S`.
///
/// (Rule R7, "read-side coverage".) Two slots: one for complete entries
/// (the live log's readers), one for the others (snapshots with an older
/// watermark), so the two kinds of reader do not evict each other.
///
/// **One cache per stripe** (R9, "Holds": it lives in the manifest's line
/// of the reader's stripe, `pin::Holds`), so a read — hit or miss — writes
/// only its own stripe's line. Each slot has a small reader/writer word: a
/// read holds its slot shared (one increment, one decrement) for as long
/// as it uses the coverage; a miss stores its entry with a *try*-CAS of
/// the word from 0 to exclusive, then turns it into its shared hold. A
/// read never waits: a slot held exclusive is skipped, and a miss that
/// cannot take its slot (another read of the same stripe — another thread
/// assigned the same stripe, or this thread re-entering from a payload
/// callback — is using it) uses the coverage it built without caching it.
/// A replaced entry is freed under the exclusive hold (a coverage holds no
/// payload, so R12 does not apply). Each stripe builds its own entries:
/// with `k` reading threads, up to `k` builds per manifest and watermark
/// change instead of one (the price of writing no shared line). Under the
/// model checkers there is no cache: every read builds its coverage (the
/// same function).
///
/// **The settled entry.** When no memtable of the manifest has a
/// tombstone (every stack empty when the read checks it, after loading its
/// watermark), what a view sees is the manifest's list alone, whatever its
/// watermark: `N(w)` is the list (its sequences are at most
/// `flushed_bound <= w`, R8; a stack tombstone with a sequence `<= w` was
/// pushed before `w` was loaded, R7, and stacks only grow, so an empty
/// stack holds none). That coverage, and what it says of the manifest's
/// segments ([`Settled`]: each one's first and last visible timestamps,
/// how many records they show), is then fixed for the manifest's life:
/// each stripe builds it once and publishes it with a CAS of a pointer in
/// its own line, never replaced, freed with the manifest. A read of it is one Acquire load: no
/// hold, no write (R7, "read-side coverage"; the state a log is left in by
/// deletes and a `flush()` with maintenance disabled).
#[derive(Default)]
pub(crate) struct CovCache {
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    slots: [CovSlot; 2],
    /// The stripe's settled entry: null until built, then never replaced.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    settled: SettledPtr,
}

/// What every reader of a manifest sees of its tombstones when no memtable
/// of it holds one (see [`CovCache`], "The settled entry"): the coverage of
/// the manifest's list and, per segment, what it leaves visible — fixed
/// for the manifest's life, as both the list and the segments are.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    pub(crate) cov: Coverage,
    /// The L0 segments not hidden whole, in the manifest's order: index
    /// in `l0`, first and last visible timestamps — the same for every
    /// reader of the manifest (R8).
    pub(crate) l0_live: Box<[(usize, Timestamp, Timestamp)]>,
    /// Per L1 segment, in the manifest's order: its first and last
    /// visible timestamps; `None` when it is hidden whole.
    pub(crate) l1_vis: Box<[Option<(Timestamp, Timestamp)>]>,
    /// Visible records of all segments (L0 and L1), over the whole timeline.
    pub(crate) seg_visible: usize,
}

/// A stripe's settled entry: a pointer set once (null to a leaked `Box`),
/// freed on drop.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
struct SettledPtr(AtomicPtr<Settled>);

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
impl Default for SettledPtr {
    fn default() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()))
    }
}

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
impl Drop for SettledPtr {
    fn drop(&mut self) {
        let p = self.0.unsync_get();
        if !p.is_null() {
            // SAFETY: set once from `Box::into_raw` (`CovCache::settled`)
            // and never replaced; `&mut self`: no reader holds it (a read
            // borrows it from the manifest, which is being dropped, R9).
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// One slot of a stripe's cache: its entry and its reader/writer word.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
#[derive(Default)]
struct CovSlot {
    /// Readers using `entry`, plus [`EXCLUSIVE`] while one replaces it.
    state: crate::sync::AtomicUsize,
    entry: UnsafeCell<Option<Box<CovEntry>>>,
}

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
const EXCLUSIVE: usize = 1 << (usize::BITS - 1);

// SAFETY: a slot's `entry` is written only under its word's EXCLUSIVE hold
// (a CAS from 0: no reader), read only under a shared hold (an increment
// that found no EXCLUSIVE), with Acquire/Release on the word (see
// `CovCache::get`, `CovGuard`); an entry is plain immutable data (R7).
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
unsafe impl Sync for CovSlot {}
// SAFETY: as above; the entries are owned `Box`es of plain data.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
unsafe impl Send for CovSlot {}

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
impl CovSlot {
    /// A shared hold, unless the slot is held exclusive.
    #[inline]
    fn share(&self) -> bool {
        // Acquire: the entry's store happens-before this read of it.
        if self.state.fetch_add(1, Ordering::Acquire) & EXCLUSIVE == 0 {
            return true;
        }
        self.state.fetch_sub(1, Ordering::Relaxed);
        false
    }

    /// Releases a shared hold.
    #[inline]
    fn unshare(&self) {
        // Release: this read of the entry happens-before its replacement.
        self.state.fetch_sub(1, Ordering::Release);
    }

    /// The entry, under a hold.
    ///
    /// # Safety
    /// The caller holds the slot (shared or exclusive).
    #[inline]
    unsafe fn entry(&self) -> Option<&CovEntry> {
        // SAFETY: the caller's hold: nobody writes the entry meanwhile.
        unsafe { (*self.entry.get()).as_deref() }
    }
}

#[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // no cache under the model checkers
pub(crate) struct CovEntry {
    head: usize,
    w_built: SeqNo,
    max_seq: SeqNo,
    complete: bool,
    cov: Coverage,
}

#[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))]
impl CovEntry {
    /// Whether this entry holds exactly what a view with watermark `w`
    /// sees, the active stack being at `head` (see [`CovCache`]).
    #[inline]
    fn serves(&self, w: SeqNo, head: usize) -> bool {
        self.max_seq <= w && (w <= self.w_built || (self.complete && self.head == head))
    }

    /// Whether [`extend`](Self::extend) derives the entry of a view with
    /// watermark `w` from this one, the active stack being at `head`: a
    /// complete entry built at a watermark `<= w`, the stack having grown
    /// since (R7, "extension").
    #[inline]
    fn extends_to(&self, w: SeqNo, head: usize) -> bool {
        self.complete && self.w_built <= w && self.head < head
    }

    /// The entry of a view with watermark `w`, the active stack `active`
    /// being at `head`, from this one (see [`extends_to`](Self::extends_to)):
    /// this entry's coverage plus the tombstones of the slots claimed since
    /// it was built with a sequence `<= w`. R7, "extension": this entry
    /// being complete, it holds `N(w_built)`, which was everything
    /// reachable from the manifest then — the list and the sealed stacks
    /// (final, as none was open) and the active stack's slots before
    /// `self.head`; so `N(w)` is `N(w_built)` plus the kept slots from
    /// `self.head` on, and the coverage of a union is the maximum of the
    /// two coverages, built here by treating this entry's intervals as
    /// tombstones. Costs the entry's intervals and the new slots, not every
    /// tombstone of the stack (a sliding-window delete stream with
    /// maintenance disabled rebuilt thousands per delete).
    fn extend(&self, w: SeqNo, head: usize, active: &TombStack) -> CovEntry {
        let mut tombs: Vec<Tombstone> = self.cov.ivs.iter().map(|&(t1, t2, seq)| Tombstone { t1, t2, seq }).collect();
        let (mut seen, mut kept) = (0, 0);
        active.for_each_slot_from(self.head, |t| {
            seen += 1;
            if let Some(t) = t.filter(|t| t.seq <= w) {
                kept += 1;
                tombs.push(*t);
            }
        });
        crate::hooks::visit(self.cov.ivs.len() + seen);
        let max_seq = tombs.iter().map(|t| t.seq).max().unwrap_or(0).max(self.max_seq);
        CovEntry {
            head,
            w_built: w,
            max_seq,
            complete: kept == seen,
            cov: Coverage::build(&mut tombs, Timestamp::MIN, Timestamp::MAX),
        }
    }
}

static NO_COVERAGE: Coverage = Coverage { ivs: Vec::new() };

/// The coverage one read uses: none, a cached entry (its slot held shared
/// until this drops), or its own.
pub(crate) enum CovRef<'a> {
    Empty,
    /// The manifest's settled entry (see [`CovCache`]): no hold needed.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    Settled(&'a Settled),
    /// The model checkers' settled entry, built by this read.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    SettledOwned(Box<Settled>),
    /// Served by the stripe's cache (a hit).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    Cached(CovGuard<'a>),
    /// Built by this read and stored in the stripe's cache (a miss).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    Built(CovGuard<'a>),
    /// Built by this read and not cached (boxed: every variant is one
    /// pointer, so matching on the kind is one load and compare).
    Owned(Box<Coverage>, std::marker::PhantomData<&'a ()>),
}

/// A shared hold of a filled cache slot (see [`CovCache`]).
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
pub(crate) struct CovGuard<'a>(&'a CovSlot);

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
impl Drop for CovGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.unshare();
    }
}

impl std::ops::Deref for CovRef<'_> {
    type Target = Coverage;
    #[inline]
    fn deref(&self) -> &Coverage {
        match self {
            CovRef::Empty => &NO_COVERAGE,
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            CovRef::Settled(e) => &e.cov,
            #[cfg(any(timelog_loom, timelog_shuttle))]
            CovRef::SettledOwned(e) => &e.cov,
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            CovRef::Cached(g) | CovRef::Built(g) => {
                // SAFETY: the guard holds the slot shared, and it was filled
                // before the guard was made.
                &unsafe { g.0.entry() }.expect("a guarded slot is filled").cov
            }
            CovRef::Owned(c, _) => c,
        }
    }
}

impl CovRef<'_> {
    /// The settled entry's facts about the manifest's segments, when this
    /// coverage is a settled one (see [`CovCache`]).
    #[inline]
    pub(crate) fn settled(&self) -> Option<&Settled> {
        match self {
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            CovRef::Settled(e) => Some(e),
            #[cfg(any(timelog_loom, timelog_shuttle))]
            CovRef::SettledOwned(e) => Some(e),
            _ => None,
        }
    }
}

impl CovCache {
    /// The settled entry of this stripe (see the type docs: only for a view
    /// of the manifest none of whose memtables holds a tombstone), built by
    /// `build` on the stripe's first such read. Once set it is never
    /// replaced, so a read takes no hold: one Acquire load. Two reads of
    /// the stripe may both build it; the first CAS wins, the other's is
    /// dropped. Under the model checkers every call builds (no cache).
    #[inline]
    pub(crate) fn settled(&self, build: impl FnOnce() -> Settled) -> CovRef<'_> {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            // Acquire: pairs with the Release CAS below (the entry's
            // contents happen-before this read of them).
            let p = self.settled.0.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: set once from a `Box` and freed only with the
                // manifest (`SettledPtr::drop`), which `&self` borrows.
                return CovRef::Settled(unsafe { &*p });
            }
            self.settle(build)
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        {
            CovRef::SettledOwned(Box::new(build()))
        }
    }

    /// For a watermark-free read (R15): this stripe's complete entry, if
    /// the active stack `active` has not grown since its walk — then it
    /// holds every tombstone a view of the manifest sees at any watermark
    /// from its build on, up to this read of the stack's head (the
    /// argument of "read-side coverage" for `w > w_b`, with the head read
    /// standing for the load of `w`). The entry is taken (Acquire) before
    /// the head is read, so the builder's watermark is at most the one at
    /// that read. `None` under the model checkers (no cache).
    #[inline]
    pub(crate) fn complete_at(&self, active: &TombStack) -> Option<CovRef<'_>> {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            // Slot 0 holds complete entries (see `get`).
            let slot = &self.slots[0];
            if !slot.share() {
                return None;
            }
            let g = CovGuard(slot);
            // R15: after the entry was taken.
            let head = active.head_id();
            // SAFETY: R7's cache protocol (`CovSlot`): `g` holds the slot
            // shared, so no writer replaces the entry meanwhile.
            match unsafe { slot.entry() } {
                Some(e) if e.complete && e.head == head => Some(CovRef::Cached(g)),
                _ => None,
            }
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        {
            let _ = active;
            None
        }
    }

    /// The slow part of [`settled`](Self::settled): build and publish.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    #[cold]
    fn settle(&self, build: impl FnOnce() -> Settled) -> CovRef<'_> {
        let fresh = Box::into_raw(Box::new(build()));
        // Release: the entry's contents happen-before every Acquire load
        // that finds the pointer; Acquire on failure: the winner's too.
        match self.settled.0.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: published: lives until the manifest drops.
            Ok(_) => CovRef::Settled(unsafe { &*fresh }),
            Err(won) => {
                // SAFETY: ours, never published.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: as in `settled`.
                CovRef::Settled(unsafe { &*won })
            }
        }
    }

    /// The coverage a view with watermark `w` sees, the active memtable's
    /// stack being `active`: this stripe's cached entry when it serves the
    /// view, else built by `build` (the view's tombstones,
    /// [`CoverageBuilder`]) and cached — in the slot for complete entries
    /// when no reachable tombstone was above `w`, else in the other one —
    /// unless that slot is in use (see the type docs). Under the model
    /// checkers every call builds (no cache).
    pub(crate) fn get(&self, w: SeqNo, active: &TombStack, build: impl FnOnce() -> CoverageBuilder) -> CovRef<'_> {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            // R7: the head is read after the view's watermark (see above).
            let head = active.head_id();
            let mut extended = None;
            for slot in &self.slots {
                if !slot.share() {
                    continue;
                }
                let g = CovGuard(slot);
                // SAFETY: `g` holds the slot shared.
                match unsafe { slot.entry() } {
                    Some(e) if e.serves(w, head) => return CovRef::Cached(g),
                    Some(e) if extended.is_none() && e.extends_to(w, head) => {
                        extended = Some(e.extend(w, head, active))
                    }
                    _ => {}
                }
            }
            let e = extended.unwrap_or_else(|| {
                let b = build();
                crate::hooks::visit(b.seen);
                CovEntry { head, w_built: w, max_seq: b.max_seq(), complete: b.complete(), cov: b.build() }
            });
            let slot = &self.slots[usize::from(!e.complete)];
            // Acquire: every earlier read of the replaced entry happens-before
            // its drop below.
            if slot.state.compare_exchange(0, EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed).is_err() {
                // In use: never wait.
                return CovRef::Owned(Box::new(e.cov), std::marker::PhantomData);
            }
            // SAFETY: held exclusive (the CAS above).
            unsafe { *slot.entry.get() = Some(Box::new(e)) };
            // Exclusive to shared (keeping the increments of readers that
            // found it exclusive and are backing off); Release: the store
            // happens-before the next reader's use.
            slot.state.fetch_sub(EXCLUSIVE - 1, Ordering::Release);
            CovRef::Built(CovGuard(slot))
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        {
            let _ = (w, active);
            CovRef::Owned(Box::new(build().build()), std::marker::PhantomData)
        }
    }
}

/// Piecewise-constant "newest covering tombstone" function over a range:
/// disjoint, sorted intervals `[start, end)` each with the greatest
/// sequence of the tombstones covering it. A record at `ts` with effective
/// sequence `s` is hidden iff `max_seq(ts) > s` (R7).
#[derive(Debug, Clone, Default)]
pub(crate) struct Coverage {
    pub(crate) ivs: Vec<(Timestamp, Timestamp, SeqNo)>,
}

impl Coverage {
    /// Builds the coverage of `tombs`, clipped to `[lo, hi)`.
    ///
    /// A sweep over the sorted boundaries with a max-heap of the open
    /// tombstones (closed ones are dropped lazily when they reach the top):
    /// O(n log n) whatever the nesting (nested sliding-window deletes all
    /// overlap each other).
    pub(crate) fn build(tombs: &mut Vec<Tombstone>, lo: Timestamp, hi: Timestamp) -> Self {
        tombs.retain(|t| t.t1 < t.t2 && t.overlaps(lo, hi));
        if tombs.is_empty() {
            return Self::default();
        }
        if tombs.len() == 1 {
            let t = tombs[0];
            return Self { ivs: vec![(t.t1.max(lo), t.t2.min(hi), t.seq)] };
        }
        let mut bounds: Vec<Timestamp> = Vec::with_capacity(tombs.len() * 2);
        for t in tombs.iter() {
            bounds.push(t.t1.max(lo));
            bounds.push(t.t2.min(hi));
        }
        bounds.sort_unstable();
        bounds.dedup();
        tombs.sort_unstable_by_key(|t| t.t1);
        let mut ivs: Vec<(Timestamp, Timestamp, SeqNo)> = Vec::new();
        // (seq, end) of the open tombstones; the greatest sequence on top.
        let mut open: std::collections::BinaryHeap<(SeqNo, Timestamp)> = std::collections::BinaryHeap::new();
        let mut next = 0;
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            while next < tombs.len() && tombs[next].t1.max(lo) <= a {
                open.push((tombs[next].seq, tombs[next].t2.min(hi)));
                next += 1;
            }
            while open.peek().is_some_and(|&(_, end)| end <= a) {
                open.pop();
            }
            if let Some(&(m, _)) = open.peek() {
                match ivs.last_mut() {
                    Some(last) if last.1 == a && last.2 == m => last.1 = b,
                    _ => ivs.push((a, b, m)),
                }
            }
        }
        Self { ivs }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ivs.is_empty()
    }

    /// Index of the first interval ending after `ts`.
    #[inline]
    fn first_ending_after(&self, ts: Timestamp) -> usize {
        self.ivs.partition_point(|iv| iv.1 <= ts)
    }

    /// Greatest covering tombstone sequence at `ts` (0 = none).
    pub(crate) fn max_seq(&self, ts: Timestamp) -> SeqNo {
        match self.ivs.get(self.first_ending_after(ts)) {
            Some(&(a, _, s)) if a <= ts => s,
            _ => 0,
        }
    }

    /// The interval containing `ts`, if any.
    pub(crate) fn interval_at(&self, ts: Timestamp) -> Option<(Timestamp, Timestamp, SeqNo)> {
        match self.ivs.get(self.first_ending_after(ts)) {
            Some(&iv) if iv.0 <= ts => Some(iv),
            _ => None,
        }
    }

    /// The intervals that overlap `[lo, hi]` (inclusive), found by binary search.
    pub(crate) fn overlapping(&self, lo: Timestamp, hi: Timestamp) -> &[(Timestamp, Timestamp, SeqNo)] {
        let a = self.first_ending_after(lo);
        let b = self.ivs.partition_point(|iv| iv.0 <= hi);
        &self.ivs[a..b.max(a)]
    }

    /// For a source whose every record orders as sequence `applied` or
    /// less (a segment: `tomb_applied`, R8; a memtable's skiplist: its
    /// greatest record sequence): if `ts` is covered by a tombstone newer
    /// than `applied`, the exclusive end of the run of contiguous intervals
    /// newer than `applied` that starts there — every record of the source
    /// in `[ts, end)` is hidden, so a forward read seeks to `end`. `None`
    /// if `ts` is not hidden. `end` is `Timestamp::MAX` when the run reaches
    /// it (no record can be at or above an exclusive `MAX` bound).
    pub(crate) fn hidden_end(&self, ts: Timestamp, applied: SeqNo) -> Option<Timestamp> {
        let mut i = self.first_ending_after(ts);
        match self.ivs.get(i) {
            Some(&(a, _, m)) if a <= ts && m > applied => {}
            _ => return None,
        }
        let mut end = self.ivs[i].1;
        i += 1;
        while let Some(&(a, b, m)) = self.ivs.get(i) {
            if a != end || m <= applied {
                break;
            }
            end = b;
            i += 1;
        }
        Some(end)
    }

    /// The mirror of [`hidden_end`](Self::hidden_end) for descending reads:
    /// the inclusive start of the run of contiguous intervals newer than
    /// `applied` that covers `ts` (a descending read continues below it).
    pub(crate) fn hidden_start(&self, ts: Timestamp, applied: SeqNo) -> Option<Timestamp> {
        let i = self.first_ending_after(ts);
        match self.ivs.get(i) {
            Some(&(a, _, m)) if a <= ts && m > applied => {}
            _ => return None,
        }
        let mut start = self.ivs[i].0;
        let mut j = i;
        while j > 0 {
            let (_, b, m) = self.ivs[j - 1];
            if b != start || m <= applied {
                break;
            }
            start = self.ivs[j - 1].0;
            j -= 1;
        }
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(t1: i64, t2: i64, seq: u64) -> Tombstone {
        Tombstone { t1, t2, seq }
    }

    #[test]
    fn coverage_takes_the_newest_covering_tombstone() {
        let mut v = vec![t(0, 10, 5), t(5, 20, 3), t(30, 40, 9)];
        let c = Coverage::build(&mut v, i64::MIN, i64::MAX);
        assert_eq!(c.ivs, vec![(0, 10, 5), (10, 20, 3), (30, 40, 9)]);
        assert_eq!(c.max_seq(7), 5);
        assert_eq!(c.max_seq(12), 3);
        assert_eq!(c.max_seq(25), 0);
        assert_eq!(c.max_seq(39), 9);
        assert_eq!(c.max_seq(40), 0);
    }

    /// The builder gathers a manifest's list whole and a stack up to its
    /// watermark, and builds what `Coverage::build` builds of exactly those.
    #[test]
    fn builder_keeps_the_list_and_the_stack_up_to_the_watermark() {
        let list = [t(0, 10, 2), t(20, 30, 1)];
        let stack = TombStack::new();
        for x in [t(5, 25, 6), t(8, 9, 7), t(40, 50, 9)] {
            stack.push(x);
        }
        let got = CoverageBuilder::new().list(&list).stack(&stack, 7).build();
        let mut want = vec![t(0, 10, 2), t(20, 30, 1), t(5, 25, 6), t(8, 9, 7)];
        assert_eq!(got.ivs, Coverage::build(&mut want, i64::MIN, i64::MAX).ivs);
        assert_eq!(got.max_seq(45), 0, "the tombstone above the watermark is left out");
        assert_eq!(got.max_seq(8), 7);
        let all = CoverageBuilder::new().stack(&stack, SeqNo::MAX).build();
        assert_eq!(all.max_seq(45), 9);
        assert!(CoverageBuilder::new().stack(&stack, 5).is_empty());
        // Coalesced over a segment that applied sequence 6: classes 1 and 7.
        let c = CoverageBuilder::new().list(&list).stack(&stack, 7).coalesced(&[6]).build();
        assert_eq!(c.max_seq(3), 1);
        assert_eq!(c.max_seq(8), 7);
    }

    /// The coverage cache (R7, "extension"): over a stream of deletes —
    /// sliding windows, nested and random ones, across the stack's blocks
    /// — and views at the newest watermark or older ones, every coverage
    /// it returns is the one a full build of the view's tombstones gives,
    /// and a fresh view after one more delete extends the entry instead of
    /// rebuilding it (it examines the entry's intervals and the new slot,
    /// not the whole stack).
    #[test]
    fn cache_extends_a_complete_entry_with_the_slots_pushed_since() {
        let cache = CovCache::default();
        let list = [t(-100, -50, 1)];
        let stack = TombStack::new();
        let full = |w: SeqNo| CoverageBuilder::new().list(&list).stack(&stack, w);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut seq: SeqNo = 1;
        for step in 0..600i64 {
            seq += 1;
            let r = next();
            let tomb = match r % 3 {
                0 => t(0, step * 10, seq),                                         // sliding window
                1 => t(step * 5, step * 5 + 40, seq),                              // overlapping neighbours
                _ => t((r >> 8) as i64 % 5_000, (r >> 8) as i64 % 5_000 + 7, seq), // anywhere
            };
            stack.push(tomb);
            let w = if next() % 4 == 0 { seq - next() % 3 } else { seq };
            let want = full(w).build();
            let got = cache.get(w, &stack, || full(w));
            assert_eq!(got.ivs, want.ivs, "step {step}, watermark {w} (newest {seq})");
        }
        // One more delete, then a fresh view: extended, not rebuilt.
        let fresh = |cache: &CovCache, w: SeqNo| cache.get(w, &stack, || panic!("rebuilt: {w}")).ivs.clone();
        let _ = fresh(&cache, seq);
        seq += 1;
        stack.push(t(0, 6_000, seq));
        assert_eq!(fresh(&cache, seq), full(seq).build().ivs);
    }

    #[test]
    fn coverage_clips_and_merges() {
        let mut v = vec![t(i64::MIN, 100, 4), t(50, 60, 2)];
        let c = Coverage::build(&mut v, 0, 55);
        assert_eq!(c.ivs, vec![(0, 55, 4)]);
    }

    #[test]
    fn stack_keeps_concurrent_pushes_across_blocks() {
        let s = std::sync::Arc::new(TombStack::new());
        let hs: Vec<_> = (0..4)
            .map(|k| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000u64 {
                        s.push(t(k, k + 1, k as u64 * 10_000 + i + 1));
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let mut seqs: Vec<u64> = s.to_vec().iter().map(|t| t.seq).collect();
        seqs.sort_unstable();
        let mut want: Vec<u64> = (0..4u64).flat_map(|k| (0..5_000).map(move |i| k * 10_000 + i + 1)).collect();
        want.sort_unstable();
        assert_eq!(seqs, want);
        assert_eq!(s.len(), 20_000, "concurrent claims that overflowed a block are not counted");
    }

    /// `len` (the memtable's size heuristic, `Memtable::bytes`) counts every
    /// push, within the first block, at each block boundary (16, 32, ...,
    /// then 1024 a block) and beyond.
    #[test]
    fn stack_len_counts_pushes_across_blocks() {
        let s = TombStack::new();
        assert_eq!(s.len(), 0);
        for i in 0..5_000u64 {
            s.push(t(0, 1, i + 1));
            assert_eq!(s.len(), i as usize + 1);
        }
    }

    #[test]
    fn stack_keeps_every_push() {
        let s = TombStack::new();
        for i in 0..10 {
            s.push(t(i, i + 1, i as u64 + 1));
        }
        let v = s.to_vec();
        assert_eq!(v.len(), 10);
        assert_eq!(v[0].t1, 0);
        assert_eq!(v[9].t1, 9);
    }

    /// R15 "span": the least `t1` and greatest `t2` of every push, whatever
    /// their order; empty before the first (it covers nothing).
    #[test]
    fn span_holds_every_push() {
        let s = TombStack::new();
        assert_eq!(s.span(), Span::EMPTY);
        assert!(!Span::EMPTY.covers(0) && !Span::EMPTY.covers(i64::MIN) && !Span::EMPTY.covers(i64::MAX));
        s.push(t(100, 200, 1));
        s.push(t(150, 160, 2)); // inside: no bound moves
        assert!(s.span().covers(100) && s.span().covers(199));
        assert!(!s.span().covers(99) && !s.span().covers(200));
        s.push(t(-5, 0, 3));
        s.push(t(300, 301, 4));
        assert!(s.span().covers(-5) && s.span().covers(250) && s.span().covers(300));
        assert!(!s.span().covers(-6) && !s.span().covers(301));
        // A sliding window: a delete_before chain moves only the upper bound.
        let w = TombStack::new();
        for (i, c) in [10, 20, 30].into_iter().enumerate() {
            w.push(t(i64::MIN, c, i as u64 + 1));
        }
        assert!(w.span().covers(i64::MIN) && w.span().covers(29) && !w.span().covers(30));
        assert_eq!(w.span().union(Span::EMPTY), w.span());
        assert!(w.span().union(s.span()).covers(300));
        // Across block boundaries (the first block holds FIRST_BLOCK slots).
        let b = TombStack::new();
        for i in 0..(FIRST_BLOCK as i64 * 3 + 1) {
            b.push(t(1_000 - i, 1_001 + i, i as u64 + 1));
            assert_eq!(b.span(), Span { lo: 1_000 - i, hi: 1_001 + i });
        }
    }

    /// R15 "span": a slot still being written makes the span unknown (every
    /// timestamp) — for readers, and for the slots pushed meanwhile, whose
    /// spans cannot include it; the next push after it was published walks
    /// back over those and the span is exact again.
    #[test]
    fn a_slot_being_written_makes_the_span_unknown_until_a_later_push() {
        let s = TombStack::new();
        s.push(t(0, 10, 1));
        let (blk, i) = s.claim();
        assert_eq!(s.span(), Span::ALL, "the newest slot is being written");
        s.push(t(50, 60, 3));
        assert_eq!(s.span(), Span::ALL, "pushed while an earlier slot was being written");
        TombStack::publish(blk, i, t(20, 30, 2));
        assert_eq!(s.span(), Span::ALL, "still the newest slot's unknown span");
        s.push(t(70, 80, 4));
        assert_eq!(s.span(), Span { lo: 0, hi: 80 });
        s.push(t(-10, -5, 5));
        assert_eq!(s.span(), Span { lo: -10, hi: 80 });
    }

    /// The block pool: a new stack may take a dropped one's full-size
    /// blocks, which come back empty — a claimed slot not yet published
    /// reads as being written (sequence 0, R7), never as an old tombstone,
    /// and no earlier stack's tombstone is seen. (Other tests' stacks share
    /// the pool, so each round checks the stack it gets, whoever's blocks.)
    #[test]
    fn blocks_of_dropped_stacks_come_back_empty() {
        const N: i64 = 4_000; // past the first full-size block (1,008 slots before it)
        for round in 0..6i64 {
            let s = TombStack::new();
            let mut seq = 0u64;
            for i in 0..N {
                if i == N / 2 {
                    // A slot claimed in a (probably reused) full-size block.
                    let (blk, k) = s.claim();
                    assert!(blk.slots.len() == MAX_BLOCK && blk.slots[k].published().is_none());
                    assert!(s.to_vec().iter().all(|x| x.t1 / 100_000 == round), "round {round}");
                    seq += 1;
                    TombStack::publish(blk, k, t(round * 100_000 + i, round * 100_000 + i + 1, seq));
                    continue;
                }
                seq += 1;
                s.push(t(round * 100_000 + i, round * 100_000 + i + 1, seq));
            }
            let v = s.to_vec();
            assert_eq!((v.len(), s.len()), (N as usize, N as usize));
            assert!(v.iter().enumerate().all(|(i, x)| x.t1 == round * 100_000 + i as i64), "round {round}");
            assert_eq!(s.span(), Span { lo: round * 100_000, hi: round * 100_000 + N });
        }
    }

    /// R7: a claimed slot whose tombstone is not yet published (its
    /// sequence still 0) is skipped by every walk, counted by `len` and the
    /// stack's identity, and makes a coverage build incomplete (the cache
    /// must not serve a later watermark from it: the delete may commit
    /// without another claim); once published it is seen.
    #[test]
    fn a_slot_being_written_is_skipped_and_makes_the_build_incomplete() {
        let s = TombStack::new();
        s.push(t(0, 10, 1));
        let (blk, i) = s.claim();
        assert_eq!(s.len(), 2);
        assert_eq!(s.to_vec(), vec![t(0, 10, 1)]);
        let b = CoverageBuilder::new().stack(&s, SeqNo::MAX);
        assert!(!b.complete(), "a slot being written was left out");
        assert_eq!(b.max_seq(), 1);
        let id = s.head_id();
        TombStack::publish(blk, i, t(20, 30, 2));
        assert_eq!(s.head_id(), id, "publishing a claimed slot claims nothing");
        assert_eq!(s.to_vec(), vec![t(0, 10, 1), t(20, 30, 2)]);
        assert!(CoverageBuilder::new().stack(&s, SeqNo::MAX).complete());
    }

    /// Reference: the greatest covering sequence by a scan over the tombstones.
    fn naive(v: &[Tombstone], ts: i64) -> u64 {
        v.iter().filter(|t| t.covers(ts)).map(|t| t.seq).max().unwrap_or(0)
    }

    #[test]
    fn coverage_matches_a_scan_under_nested_and_overlapping_tombstones() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for round in 0..300 {
            let n = 1 + rnd(40) as usize;
            let mut v: Vec<Tombstone> = (0..n)
                .map(|i| {
                    // Nested sliding windows (shared start), overlapping and adjacent ranges.
                    let a = if round % 3 == 0 { 0 } else { rnd(100) as i64 };
                    let b = a + rnd(60) as i64;
                    t(a, b, 1 + (i as u64) * 2 + rnd(2))
                })
                .collect();
            let orig = v.clone();
            let c = Coverage::build(&mut v, i64::MIN, i64::MAX);
            for w in c.ivs.windows(2) {
                assert!(w[0].1 <= w[1].0, "sorted and disjoint: {:?}", c.ivs);
                assert!(w[0].1 < w[1].0 || w[0].2 != w[1].2, "adjacent equal pieces merge: {:?}", c.ivs);
            }
            for ts in -2..170 {
                assert_eq!(c.max_seq(ts), naive(&orig, ts), "ts {ts} {orig:?}");
                for applied in [0u64, 10, 30, 60] {
                    let hidden = |x: i64| naive(&orig, x) > applied;
                    match c.hidden_end(ts, applied) {
                        None => assert!(!hidden(ts)),
                        Some(e) => {
                            assert!((ts..e).all(hidden), "hidden_end({ts}, {applied}) = {e}");
                            assert!(!hidden(e), "hidden_end({ts}, {applied}) = {e} stops early");
                        }
                    }
                    match c.hidden_start(ts, applied) {
                        None => assert!(!hidden(ts)),
                        Some(s) => {
                            assert!((s..=ts).all(hidden), "hidden_start({ts}, {applied}) = {s}");
                            assert!(!hidden(s - 1), "hidden_start({ts}, {applied}) = {s} stops early");
                        }
                    }
                }
            }
            let o = c.overlapping(20, 40);
            let want: Vec<_> = c.ivs.iter().copied().filter(|iv| iv.0 <= 40 && iv.1 > 20).collect();
            assert_eq!(o, &want[..]);
        }
    }

    /// Hiding function of a list for a record at `ts` with effective sequence `s`.
    fn hides(list: &[Tombstone], ts: i64, s: u64) -> bool {
        list.iter().any(|t| t.covers(ts) && t.seq > s)
    }

    #[test]
    fn coalesce_absorbs_covered_and_collapses_chains() {
        // A delete_before chain in one class collapses to one interval.
        let chain: Vec<_> = (1..=50).map(|k| t(i64::MIN, k * 10, k as u64)).collect();
        assert_eq!(coalesce(&chain, &[]), vec![t(i64::MIN, 500, 1)]);
        // A sliding window: nested [base, x) growing.
        let win: Vec<_> = (1..=50).map(|k| t(100, 100 + k * 7, k as u64 + 3)).collect();
        assert_eq!(coalesce(&win, &[2]), vec![t(100, 450, 3)]);
        // Adjacent and overlapping in one class merge.
        assert_eq!(coalesce(&[t(0, 10, 5), t(10, 20, 6), t(15, 30, 7)], &[4]), vec![t(0, 30, 5)]);
    }

    #[test]
    fn coalesce_keeps_classes_apart() {
        // Segment with tomb_applied = 5 applied the first delete but not the
        // second: a record it holds at ts 3 (written after the first delete)
        // must stay visible, so the two do not merge.
        let list = [t(0, 10, 4), t(10, 20, 7)];
        let c = coalesce(&list, &[2, 5]);
        assert_eq!(c, vec![t(0, 10, 3), t(10, 20, 6)]);
        // A newer tombstone covering an older one of another class absorbs it.
        assert_eq!(coalesce(&[t(0, 10, 4), t(0, 20, 7)], &[2, 5]), vec![t(0, 20, 6)]);
        // A newer, narrower one leaves the older's remainder in its class.
        assert_eq!(coalesce(&[t(0, 20, 4), t(5, 10, 7)], &[2, 5]), vec![t(0, 5, 3), t(5, 10, 6), t(10, 20, 3)]);
    }

    /// Exhaustive small check: the coalesced list hides exactly what the
    /// original hides, for every effective sequence a segment can have
    /// (its `tomb_applied` values) and every later one (above all).
    #[test]
    fn coalesce_preserves_the_hiding_function() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        for _ in 0..2000 {
            let n = 1 + next(8) as usize;
            let mut list = Vec::new();
            for _ in 0..n {
                let a = next(30) as i64 - 5;
                let b = a + next(15) as i64;
                list.push(t(if next(5) == 0 { i64::MIN } else { a }, b, 1 + next(20)));
            }
            let mut applied: Vec<u64> = (0..next(4)).map(|_| next(22)).collect();
            applied.sort_unstable();
            applied.dedup();
            let c = coalesce(&list, &applied);
            assert!(c.len() <= list.len() * 2);
            assert!(c.windows(2).all(|w| w[0].t2 <= w[1].t1), "disjoint and sorted: {c:?}");
            let top = list.iter().map(|t| t.seq).max().unwrap();
            for ts in -10..40 {
                for &s in applied.iter().chain([0, top + 1, top + 5].iter()) {
                    assert_eq!(hides(&list, ts, s), hides(&c, ts, s), "ts {ts} s {s}: {list:?} -> {c:?} ({applied:?})");
                }
            }
        }
    }

    #[test]
    fn coverage_build_is_not_quadratic_in_nested_deletes() {
        // 20,000 nested sliding-window deletes (each covers the previous):
        // one piece, built in well under a second even in debug builds.
        let mut v: Vec<Tombstone> = (0..20_000).map(|i| t(0, 1000 + i, 1 + i as u64)).collect();
        let c = Coverage::build(&mut v, i64::MIN, i64::MAX);
        assert_eq!(c.ivs, vec![(0, 20_999, 20_000)]);
    }

    #[test]
    fn coalesce_is_fast_on_long_nested_chains() {
        // 100,000 nested deletes all active at once: the sweep is O(n log n).
        let chain: Vec<_> = (1..=100_000).map(|k| t(i64::MIN, k, k as u64)).collect();
        let start = std::time::Instant::now();
        assert_eq!(coalesce(&chain, &[]).len(), 1);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
