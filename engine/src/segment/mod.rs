//! Immutable segments of pages: the flushed (L0) and compacted (L1) layers.
//!
//! A [`Page`] holds contiguous arrays of timestamps and payloads; a
//! `Segment` is a sorted run of pages of a fixed capacity (only the last
//! page may be shorter), so a record's position maps to its page by a
//! division. Segments carry no per-record sequence numbers: every record of
//! a segment is older than every tombstone not yet applied to it (R8), so
//! one sequence per segment (`tomb_applied`) decides tombstone filtering,
//! and one (`seq_hi`) orders equal timestamps across sources.

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, Region, UnsyncGet};
use crate::{SeqNo, Timestamp};

pub(crate) mod block;
pub(crate) mod blockvec;

use std::marker::PhantomData;
use std::ptr::NonNull;

use block::Block;

use crate::config::Target;

/// The storage of one page: a `Block` of `cap` slots for timestamps, then
/// `cap` slots for payloads, the first `len` of each initialized. Filled
/// once by the `SegmentBuilder`, immutable once shared; it owns its
/// payloads and drops them with it.
///
/// A default page (`target_page_bytes` 256 KiB) is one direct mapping,
/// returned to the OS when the page is dropped, and the unused tail of a
/// short last page is never touched past the 16 KiB chunk being written
/// (`Block::prefault_ahead`), so never resident.
struct PageBuf<T> {
    block: Block,
    len: usize,
    cap: usize,
    /// The log's [`PayloadTarget`](crate::PayloadTarget), for the drop.
    target: Option<Target<T>>,
    _vals: PhantomData<T>,
}

/// How many payloads ahead of the one it drops a page starts loading the
/// data a payload refers to ([`PayloadTarget`](crate::PayloadTarget)): a
/// drop's own work covers a miss in a dozen or so (the Python binding's
/// iterator keeps the same distance).
pub(crate) const TARGET_AHEAD: usize = 16;

/// How many payloads' targets a walk that clones them loads at a time
/// (`Target::load_ahead`): one call per stretch keeps the walk's loop
/// free of a call per payload.
pub(crate) const TARGET_STRIDE: usize = 8;

// SAFETY: a buffer owns its `T`s (dropped in `Drop`) like a `Box<[T]>`;
// shared through an `Arc` by the pages of several segments (R10, "prefix
// cut"), it may be dropped on any thread that held one of them, so sending
// it needs `T: Send`, and sharing it hands out `&T` on every such thread,
// so it needs `T: Sync` too (std API contract of `Arc`).
unsafe impl<T: Send + Sync> Send for PageBuf<T> {}
// SAFETY: as above: shared access is `&[T]` only, once built.
unsafe impl<T: Send + Sync> Sync for PageBuf<T> {}

impl<T> PageBuf<T> {
    /// Byte offset of the payload array: after `cap` timestamps, aligned for `T`.
    #[inline(always)]
    fn vals_offset(cap: usize) -> usize {
        (cap * std::mem::size_of::<Timestamp>()).next_multiple_of(std::mem::align_of::<T>())
    }

    /// An empty buffer with room for `cap` records.
    fn with_capacity(cap: usize, target: Option<Target<T>>) -> Self {
        let size = Self::vals_offset(cap) + cap * std::mem::size_of::<T>();
        let align = std::mem::align_of::<Timestamp>().max(std::mem::align_of::<T>());
        Self { block: Block::new(size, align), len: 0, cap, target, _vals: PhantomData }
    }

    #[inline(always)]
    fn ts_ptr(&self) -> *mut Timestamp {
        self.block.as_ptr().cast()
    }

    #[inline(always)]
    fn vals_ptr(&self) -> *mut T {
        // SAFETY: the offset lies within the block (`with_capacity`), or is 0 for `cap == 0`.
        unsafe { self.block.as_ptr().add(Self::vals_offset(self.cap)).cast() }
    }

    /// Appends one record; the caller checked `len < cap`.
    #[inline(always)]
    fn push(&mut self, ts: Timestamp, val: T) {
        assert!(self.len < self.cap, "page full");
        self.prefault_from(self.len, 1);
        // SAFETY: slot `len < cap` lies within both arrays and is not yet
        // initialized; `&mut self` excludes every reader (std pointer API contract).
        unsafe {
            self.ts_ptr().add(self.len).write(ts);
            self.vals_ptr().add(self.len).write(val);
        }
        self.len += 1;
    }

    /// Appends `ts.len()` records, their payloads taken as `take` says;
    /// the caller checked `len + ts.len() <= cap` and `vals.len() ==
    /// ts.len()`, and for [`Take::Move`] upholds its contract.
    #[inline]
    fn extend(&mut self, ts: &[Timestamp], vals: &[T], take: Take)
    where
        T: Clone,
    {
        let n = ts.len();
        assert!(vals.len() == n && n <= self.cap - self.len, "page full");
        self.prefault_from(self.len, n);
        // SAFETY: slots `len..len + n` lie within both arrays (checked above)
        // and are not yet initialized; `&mut self` excludes every reader; the
        // source slices cannot overlap the page's own block (std pointer API
        // contract). `len` counts each payload once written, so a panicking
        // `clone` leaves the page dropping exactly the payloads it holds.
        // A move is a bitwise copy whose source gives up its ownership
        // (`Take::Move`'s contract, upheld by the caller).
        unsafe {
            std::ptr::copy_nonoverlapping(ts.as_ptr(), self.ts_ptr().add(self.len), n);
            let dst = self.vals_ptr().add(self.len);
            match take {
                Take::Move => {
                    std::ptr::copy_nonoverlapping(vals.as_ptr(), dst, n);
                    self.len += n;
                }
                Take::Clone => clone_into(self.vals_ptr(), &mut self.len, vals, self.target),
            }
        }
    }

    /// Appends the longest prefix of `ts`/`vals` whose indices satisfy
    /// `before`, up to the page's room and the end of the prefault chunk
    /// being written (so the chunk check runs once per call), payloads
    /// taken as `take` says (for [`Take::Move`] the caller upholds its
    /// contract for the prefix appended); returns its length and whether
    /// `before` failed (else the room, the chunk or the input ended).
    #[inline(always)]
    fn extend_while(
        &mut self,
        ts: &[Timestamp],
        vals: &[T],
        before: impl Fn(usize) -> bool,
        take: Take,
    ) -> (usize, bool)
    where
        T: Clone,
    {
        let from = self.len;
        self.prefault_from(from, 1);
        let chunk_end = (from + 1).next_multiple_of(block::PREFAULT_SLOTS);
        let n = ts.len().min(vals.len()).min(self.cap.min(chunk_end) - from);
        let (tp, vp) = (self.ts_ptr(), self.vals_ptr());
        let mut k = 0;
        while k < n {
            if !before(k) {
                return (k, true);
            }
            // SAFETY: `Take::take`'s contract, upheld by the caller.
            let v = unsafe { take.take(&vals[k]) };
            // SAFETY: slot `from + k < cap` lies within both arrays and is
            // not yet initialized; `&mut self` excludes every reader (std
            // pointer API contract); `len` counts each payload once written.
            unsafe {
                tp.add(from + k).write(ts[k]);
                vp.add(from + k).write(v);
            }
            self.len += 1;
            k += 1;
        }
        (k, false)
    }

    /// Appends records of the sorted `ts` with the payloads `vals` yields,
    /// up to the page's room and the end of the prefault chunk being
    /// written (so the chunk check runs once per call); returns how many,
    /// and whether `vals` ended first.
    #[inline(always)]
    fn extend_from_iter(&mut self, ts: &[Timestamp], vals: &mut impl Iterator<Item = T>) -> (usize, bool) {
        let from = self.len;
        self.prefault_from(from, 1);
        let chunk_end = (from + 1).next_multiple_of(block::PREFAULT_SLOTS);
        let n = ts.len().min(self.cap.min(chunk_end) - from);
        let (tp, vp) = (self.ts_ptr(), self.vals_ptr());
        for (k, &t) in ts[..n].iter().enumerate() {
            let Some(v) = vals.next() else { return (k, true) };
            // SAFETY: slot `from + k < cap` lies within both arrays and is
            // not yet initialized; `&mut self` excludes every reader (std
            // pointer API contract); `len` counts each payload once written,
            // so a panicking `next` leaves the page dropping exactly the
            // payloads it holds.
            unsafe {
                tp.add(from + k).write(t);
                vp.add(from + k).write(v);
            }
            self.len += 1;
        }
        (n, false)
    }

    /// Faults in the chunks of both arrays that slots `[from, from + n)`
    /// start ([`Block::prefault_ahead`]): a page is written in order, and
    /// only the last page of a segment is left short, so its untouched
    /// tail (past the chunk being written) stays non-resident.
    #[inline(always)]
    fn prefault_from(&self, from: usize, n: usize) {
        let mut c = from.next_multiple_of(block::PREFAULT_SLOTS);
        while c < from + n {
            self.block.prefault_ahead::<Timestamp>(0, self.cap, c);
            self.block.prefault_ahead::<T>(Self::vals_offset(self.cap), self.cap, c);
            c += block::PREFAULT_SLOTS;
        }
    }

    /// Returns the pages past the first `len` slots of both arrays to the
    /// kernel if the block was reused (`Block::discard`).
    #[cold]
    fn discard_tail(&self) {
        let (ts, t) = (std::mem::size_of::<Timestamp>(), std::mem::size_of::<T>());
        let vals = Self::vals_offset(self.cap);
        // SAFETY: slots at or past `len` of both arrays hold no record and
        // are never read: the buffer is being frozen at this length (no
        // slice reaches past it), and never written again.
        unsafe {
            self.block.discard(self.len * ts, (self.cap - self.len) * ts);
            self.block.discard(vals + self.len * t, (self.cap - self.len) * t);
        }
    }

    /// Moves every record out into `out` and leaves the buffer empty (its
    /// block is freed with it; nothing is dropped twice).
    fn drain_into(&mut self, out: &mut Vec<(Timestamp, T)>) {
        let n = std::mem::replace(&mut self.len, 0);
        out.reserve(n);
        for i in 0..n {
            // SAFETY: slots below the old `len` were initialized by `push`;
            // `len` is already 0, so each is read (moved out) exactly once
            // and `Drop` drops none of them (std pointer API contract).
            out.push(unsafe { (self.ts_ptr().add(i).read(), self.vals_ptr().add(i).read()) });
        }
    }
}

impl<T> Drop for PageBuf<T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        let (vals, len) = (self.vals_ptr(), self.len);
        match self.target {
            // SAFETY: the first `len` payloads were initialized by `push`
            // and are dropped once, here (the last `Arc` of the buffer is
            // gone), loading their targets ahead (`Target::drop_all`'s
            // contract); the block is freed after (its own Drop).
            Some(t) if std::mem::needs_drop::<T>() => unsafe { t.drop_all(vals, len) },
            // SAFETY: as above, in one call.
            _ => unsafe { std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(vals, len)) },
        }
        // Its bytes are dead: the next page of this size may reuse the
        // block (`block`'s pool), which promises it no contents.
        self.block.keep(block::Keep::Any);
    }
}

/// One page of a segment: `timestamps()[i]` is the timestamp of
/// `payloads()[i]`.
///
/// The records live in a `PageBuf` (a buffer of the segment module) that
/// the page shares by an `Arc`: a compaction that cuts a prefix off a
/// segment builds its output from the
/// segment's whole pages above the cut without copying them (R10, "prefix
/// cut"), so one buffer may belong to several segments, and its payloads
/// are released when the last of them goes (R9). The page keeps the
/// buffer's array addresses and length inline, so a read costs the same
/// loads as when the page owned its block.
pub struct Page<T> {
    ts: NonNull<Timestamp>,
    vals: NonNull<T>,
    len: usize,
    buf: Arc<PageBuf<T>>,
}

// SAFETY: a page is a shared reference to an immutable `PageBuf` (`Arc`):
// `Send`/`Sync` as `Arc<PageBuf<T>>`, i.e. `T: Send + Sync`; the inline
// pointers address the buffer's own arrays, which live as long as the `Arc`
// (std API contract of `Arc`).
unsafe impl<T: Send + Sync> Send for Page<T> {}
// SAFETY: as above: shared access is `&[T]` only.
unsafe impl<T: Send + Sync> Sync for Page<T> {}

impl<T> std::fmt::Debug for Page<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page").field("len", &self.len).field("cap", &self.buf.cap).finish()
    }
}

impl<T> Page<T> {
    /// Freezes a filled buffer into a page (it is never written again).
    /// A short page in a reused block gives the pages of its arrays' unused
    /// tails back to the kernel, so it holds no more resident memory than
    /// in a fresh block (`Block::discard`).
    fn from_buf(buf: PageBuf<T>) -> Self {
        if buf.len < buf.cap {
            buf.discard_tail();
        }
        let len = buf.len;
        let (ts, vals) = (buf.ts_ptr(), buf.vals_ptr());
        // The block's pointer is non-null and aligned (`Block::new`), and so
        // is the payload array's start within it.
        let (ts, vals) = (NonNull::new(ts).expect("block pointer"), NonNull::new(vals).expect("block pointer"));
        Self { ts, vals, len, buf: Arc::new(buf) }
    }

    /// Another page over the same buffer (no record is copied): R10,
    /// "prefix cut".
    fn share(&self) -> Self {
        Self { ts: self.ts, vals: self.vals, len: self.len, buf: self.buf.clone() }
    }

    /// The page's timestamps, sorted ascending.
    #[inline]
    pub fn timestamps(&self) -> &[Timestamp] {
        // SAFETY: the first `len` slots of the buffer were initialized by
        // `push` and are never written again (the buffer is immutable once
        // frozen, `from_buf`); `self.buf` keeps it alive.
        unsafe { std::slice::from_raw_parts(self.ts.as_ptr(), self.len) }
    }
    /// The page's payloads, parallel to [`timestamps`](Self::timestamps).
    #[inline]
    pub fn payloads(&self) -> &[T] {
        // SAFETY: as in `timestamps`.
        unsafe { std::slice::from_raw_parts(self.vals.as_ptr(), self.len) }
    }
    /// Records in the page.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the page holds no record (a frozen page never does).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Records per block of the in-page index ([`Segment::lower_bound`]): 64
/// timestamps are 8 cache lines, read without dependent loads.
pub(crate) const BLOCK: usize = 64;

/// Timestamps per 64-byte cache line.
const LINE: usize = 8;

/// Number of positions of `blk` (at most [`BLOCK`] sorted timestamps) whose
/// timestamp is `< ts` (`<= ts` when `incl`): its partition point.
///
/// First the head of every cache line is compared: those loads are
/// independent, so a cold block's lines are fetched in parallel instead of
/// one dependent miss per binary-search step. The count of heads below
/// names the one line holding the boundary; that line (already loaded) is
/// counted. Branch-free, 16 comparisons for a full block.
#[inline]
pub(crate) fn count_below(blk: &[Timestamp], ts: Timestamp, incl: bool) -> usize {
    let Some(lim) = below_limit(ts, incl) else { return 0 };
    if let Ok(full) = <&[Timestamp; BLOCK]>::try_from(blk) {
        return count_block(full, lim);
    }
    let below = |x: &Timestamp| (*x <= lim) as usize;
    let mut heads = 0;
    let mut i = 0;
    while i < blk.len() {
        heads += below(&blk[i]);
        i += LINE;
    }
    if heads == 0 {
        return 0;
    }
    // Lines before `heads - 1` end at or below the next head, so they are
    // all below; lines from `heads` on start above.
    let start = (heads - 1) * LINE;
    start + blk[start..(start + LINE).min(blk.len())].iter().map(below).sum::<usize>()
}

/// How far [`probe_near`] gallops from its guess before it gives up: its
/// last probe is `2 * REACH - 1` positions from the guess (seven probes,
/// 1, 2, 4, … 64 positions apart), and every answer within `REACH` is
/// found.
const REACH: usize = 64;

/// The partition point of the sorted `stamps` at `lim` (the number of
/// entries `<= lim`, `lim` a [`below_limit`]) when it lies strictly inside
/// (`stamps[i - 1] <= lim < stamps[i]`, `1 <= i < len`) and near `guess`
/// (see [`REACH`]); else `None`, and the caller's general search answers.
///
/// It gallops from the guess (probes 1, 2, 4, … positions on, up when the
/// guess is at or below `lim`, down otherwise) until a probe crosses
/// `lim`, then binary-searches the last step without branches. So it
/// reads the cache lines around the guess only, and costs two loads when
/// the guess is exact or one off (timestamps taken at a steady rate), a
/// few more when records arrived late and shifted positions by a few
/// dozen (5% late by up to 1,000: a third of the guesses were more than
/// four positions off, issue 13). With `window` (a run whose sample says
/// [`Fit::Window`]) it first counts the five timestamps around the guess
/// ([`probe_window`]).
#[inline(always)]
pub(crate) fn probe_near(stamps: &[Timestamp], lim: Timestamp, guess: usize, window: bool) -> Option<usize> {
    let n = stamps.len();
    if n < 2 {
        return None;
    }
    let g = guess.min(n - 1);
    if window {
        if let Some(i) = probe_window(stamps, lim, g) {
            return Some(i);
        }
    }
    // The answer lies in `(lo, hi]`: `stamps[lo] <= lim < stamps[hi]`.
    let (lo, hi) = if stamps[g] <= lim {
        let (mut lo, mut step) = (g, 1);
        loop {
            if lo == n - 1 {
                return None;
            }
            let j = (lo + step).min(n - 1);
            if stamps[j] > lim {
                break (lo, j);
            }
            if step >= REACH {
                return None;
            }
            (lo, step) = (j, step * 2);
        }
    } else {
        let (mut hi, mut step) = (g, 1);
        loop {
            if hi == 0 {
                return None;
            }
            let j = hi.saturating_sub(step);
            if stamps[j] <= lim {
                break (j, hi);
            }
            if step >= REACH {
                return None;
            }
            (hi, step) = (j, step * 2);
        }
    };
    // Halve `(base, base + len]` keeping `stamps[base] <= lim <
    // stamps[base + len]` (for an odd `len`, the entry after the probe is
    // above `lim` when the probe is).
    let (mut base, mut len) = (lo, hi - lo);
    while len > 1 {
        let half = len / 2;
        // Branch-free: a branch here mispredicted on half the probes of a
        // late-record log (callgrind).
        base += flag(stamps[base + half] <= lim) * half;
        len -= half;
    }
    Some(base + 1)
}

/// [`probe_near`]'s first step for a [`Fit::Window`] source: the five
/// timestamps around the guess `g` (from two before it to two after),
/// loaded at once and counted without a branch; the answer when it lies
/// strictly inside them (one before the guess to two after), else `None`.
/// Not for sources whose answers are the guesses themselves: there the
/// gallop's predicted branch lets the loads that follow start before the
/// comparisons end, and this count, which they wait for, cost an in-order
/// memtable's point read about 5 ns (`pointpath`: 29.8 -> 34.8 ns).
#[inline(always)]
fn probe_window(stamps: &[Timestamp], lim: Timestamp, g: usize) -> Option<usize> {
    let w: &[Timestamp; 5] = stamps.get(g.checked_sub(2)?..g + 3)?.try_into().ok()?;
    let below = w.iter().map(|&x| flag(x <= lim)).sum::<usize>();
    // `1 ..= 4`: `w[below - 1] <= lim < w[below]`.
    (below.wrapping_sub(1) < 4).then(|| g - 2 + below)
}

/// The greatest timestamp that is below `ts` (`<= ts` when `incl`, else
/// `< ts`), so that "below" is one comparison `x <= lim`; `None` when
/// nothing is (`ts == MIN`, exclusive).
#[inline(always)]
pub(crate) fn below_limit(ts: Timestamp, incl: bool) -> Option<Timestamp> {
    if incl {
        Some(ts)
    } else {
        ts.checked_sub(1)
    }
}

/// [`count_below`] of a full block, entries `<= lim`: the same two rounds
/// over arrays of known length, so both loops are unrolled with no bounds
/// checks (session 14: the generic form's strided iterator cost about 120
/// instructions per block, callgrind).
#[inline]
fn count_block(blk: &[Timestamp; BLOCK], lim: Timestamp) -> usize {
    let mut heads = 0;
    for line in 0..BLOCK / LINE {
        heads += flag(blk[line * LINE] <= lim);
    }
    if heads == 0 {
        return 0;
    }
    let start = (heads - 1) * LINE;
    let line: &[Timestamp; LINE] = blk[start..start + LINE].try_into().expect("start <= BLOCK - LINE");
    start + line.iter().map(|x| flag(*x <= lim)).sum::<usize>()
}

/// `b as usize`, opaque to LLVM's vectorizer: a sum of eight comparison
/// flags otherwise compiles (in some inlining contexts) into a serial
/// chain of `pinsrw` packing the flags into a vector, then a
/// multiply-based popcount (x86-64's baseline has no `popcnt`): ~25 cycles
/// between a block's loads and the count the next load's address needs,
/// against ~5 for the scalar tree of `setle`/`add` this keeps (session 22).
#[inline(always)]
pub(crate) fn flag(b: bool) -> usize {
    #[allow(unused_mut)]
    let mut v = b as usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: an empty template: the asm reads and writes nothing, touches
    // no memory, stack or flags (as its options declare), and leaves the
    // register holding `v` unchanged (Rust reference, inline assembly
    // rules: the compiler only loses sight of the value).
    unsafe {
        std::arch::asm!("/* {0} */", inout(reg) v, options(pure, nomem, nostack, preserves_flags));
    }
    v
}

/// Starts loading the cache line of `p` (a hint: no effect on what any
/// read returns, and none at all off x86-64), for embedders whose payloads
/// point elsewhere: the Python binding loads the object a
/// [`Cursor::peek`](crate::Cursor::peek) names before it returns it.
///
/// The engine prefetches one line per search: a lower bound found by an
/// interpolated probe (a segment's, a memtable run's) starts loading the
/// payloads' line at its guess beside the timestamps' (session 40: a
/// random 10-row Python read of a flushed log of 1,000,000 records 888 →
/// 740 ns, of a 200,000-record memtable 845 → 724; about one instruction
/// a read more, in-cache reads unchanged). Session 18's prefetch of the
/// payload a point read is about to return, guessed from the block's
/// fences before the interpolated probe existed, cost the in-cache
/// criterion point read 54 → 65 ns and was dropped.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` (SSE, part of the x86-64 baseline) only hints
    // the cache: it never faults and reads nothing the program sees, for
    // any address (Intel SDM, PREFETCHh).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The line an interpolated search guesses a position by: `pos0 + (ts -
/// ts0) * slope`, where `ts` would sit were the timestamps evenly spread
/// ([`Segment::interpolate`], a merged view's and a run's search).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Line {
    ts0: Timestamp,
    pos0: usize,
    /// Positions per unit of time; 0: no line (the probe is off).
    slope: f64,
}

impl Line {
    /// No line: a search that has one skips its probe.
    pub(crate) const OFF: Line = Line { ts0: 0, pos0: 0, slope: 0.0 };

    /// The line through positions `a < b` holding timestamps `ta <= tb`;
    /// [`OFF`](Self::OFF) when they are equal or `tb - ta` does not fit an
    /// `i64` (the caller's offsets `ts - ta` must fit one too).
    #[inline]
    pub(crate) fn through(a: usize, ta: Timestamp, b: usize, tb: Timestamp) -> Line {
        match tb.checked_sub(ta) {
            // (Through i64: one conversion instruction each on x86-64, where
            // a u64's takes several; a position fits an i64.)
            Some(span) if span > 0 => Line { ts0: ta, pos0: a, slope: (b - a) as i64 as f64 / span as f64 },
            _ => Line::OFF,
        }
    }

    /// The line of `len` sorted timestamps (`ts_at`): through the two an
    /// eighth of the way in from each end, so that a pile of equal
    /// timestamps at an end (a clamp to 0, a burst at the start) does not
    /// tilt it; through the ends for fewer than 16. [`OFF`](Self::OFF)
    /// when the whole span does not fit an `i64`.
    pub(crate) fn fit(len: usize, ts_at: impl Fn(usize) -> Timestamp) -> Line {
        if len < 2 || ts_at(len - 1).checked_sub(ts_at(0)).is_none() {
            return Line::OFF;
        }
        let k = if len >= 16 { len / 8 } else { 0 };
        Line::through(k, ts_at(k), len - 1 - k, ts_at(len - 1 - k))
    }

    /// This line, or [`OFF`](Self::OFF) where [`interpolation_fits`] says
    /// the probe does not pay. (A segment's and a view's probe always
    /// gallops: their late records are merged in, and shift positions by
    /// dozens, not the one or two of [`Fit::Window`]; there the window's
    /// test cost a flushed 5%-late point read 3 ns, `pointpath`.)
    pub(crate) fn unless_off(self, fit: Fit) -> Line {
        if fit == Fit::Off {
            Line::OFF
        } else {
            self
        }
    }

    /// Whether this is [`OFF`](Self::OFF).
    #[inline(always)]
    pub(crate) fn is_off(&self) -> bool {
        self.slope == 0.0
    }

    /// The guessed position of `ts`, in `[0, len)` (`len >= 1`), for a
    /// timestamp within the span the line was made for.
    #[inline(always)]
    pub(crate) fn guess(&self, ts: Timestamp, len: usize) -> usize {
        // The offset fits an i64 (see `through`); `as` saturates (and maps
        // NaN to 0); for a timestamp within the span, `d` is within a
        // length of `pos0`, and `clamp` keeps the guess in bounds whatever
        // the rounding.
        let d = (ts.wrapping_sub(self.ts0) as f64 * self.slope) as i64;
        (self.pos0 as i64).wrapping_add(d).clamp(0, len as i64 - 1) as usize
    }
}

/// How an interpolated probe serves a source ([`interpolation_fits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fit {
    /// Off: too few samples answered (bursts, a changing rate).
    Off,
    /// The gallop from the guess ([`probe_near`]): its first step's
    /// branches are predicted where the answers are the guesses themselves
    /// (timestamps taken at a steady rate), and its loads then run ahead
    /// of the comparisons; and it reaches answers a few dozen away.
    Gallop,
    /// A branch-free count of the five timestamps around the guess first
    /// ([`probe_window`]): where the answers lie a position or two from
    /// the guess, either way (a run missing one record in twenty, the
    /// late ones), the gallop's first branch mispredicted on about half
    /// the lookups. Taken by a memtable run only (see
    /// [`Line::unless_off`]).
    Window,
}

/// Whether, and how, an interpolated probe pays over `len` sorted
/// timestamps: of up to [`FIT_SAMPLES`] of them at evenly spaced positions
/// (`ts_at`), the share whose probe answers (`probe`: a lower-bound search
/// of that timestamp by the gallop, giving the answer's offset from the
/// guess), and where. [`Fit::Off`] unless at least three in four answer;
/// then [`Fit::Window`] when fewer than three in four of those are the
/// guess itself and at least seven in eight lie in the window's reach
/// (one before the guess to two after), else [`Fit::Gallop`]. A sample
/// equal to the first timestamp counts as answered at the guess: a search
/// of it is answered by the source's bounds, before any probe. Checked
/// once per immutable source (a segment, a merged view) as it is built,
/// and by a run's appender as it opens a bucket: where timestamps come in
/// bursts or change rate, the probe would miss and cost its read on top
/// of the general search (callgrind, issue 13: 50 to 110 instructions per
/// lookup), so it is turned off.
pub(crate) fn interpolation_fits(
    len: usize,
    ts_at: impl Fn(usize) -> Timestamp,
    probe: impl Fn(Timestamp) -> Option<isize>,
) -> Fit {
    let k = FIT_SAMPLES.min(len);
    if k < 2 {
        return Fit::Gallop;
    }
    let first = ts_at(0);
    let (mut hits, mut exact, mut near) = (0, 0, 0);
    for t in (0..k).map(|j| ts_at(j * (len - 1) / (k - 1))) {
        let off = if t == first { Some(0) } else { probe(t) };
        if let Some(d) = off {
            hits += 1;
            exact += usize::from(d == 0);
            near += usize::from((-1..=2).contains(&d));
        }
    }
    if hits * 4 < k * 3 {
        Fit::Off
    } else if exact * 4 < hits * 3 && near * 8 >= hits * 7 {
        Fit::Window
    } else {
        Fit::Gallop
    }
}

/// Samples of [`interpolation_fits`].
const FIT_SAMPLES: usize = 32;

/// Number of entries of `fences` (sorted, any length) that are `< ts`
/// (`<= ts` when `incl`): the partition point of a fence array (a
/// segment's page fences, a page's block fences).
///
/// A binary search of a page's 256 block fences is eight dependent loads;
/// when the array is not in L1 each one waits for L2, and that wait was
/// the largest single cost of a point read of a 20,000-record log
/// (session 13, `perf annotate`). Here the heads of every [`BLOCK`]-entry
/// chunk are compared first (independent loads), then [`count_below`]
/// reads the one chunk holding the boundary: three rounds of loads for up
/// to 4,096 entries, each round's loads independent.
#[inline]
pub(crate) fn fence_count(fences: &[Timestamp], ts: Timestamp, incl: bool) -> usize {
    if fences.len() <= BLOCK {
        return count_below(fences, ts, incl);
    }
    let below = |x: &Timestamp| if incl { *x <= ts } else { *x < ts };
    let mut heads = 0;
    let mut i = 0;
    while i < fences.len() {
        heads += below(&fences[i]) as usize;
        i += BLOCK;
    }
    if heads == 0 {
        return 0;
    }
    // As in `count_below`: chunks before `heads - 1` are all below, chunks
    // from `heads` on start above.
    let start = (heads - 1) * BLOCK;
    start + count_below(&fences[start..(start + BLOCK).min(fences.len())], ts, incl)
}

/// A search's answer in a sorted source: position `pos`, and the
/// timestamps at `pos` (`at`) and at `pos - 1` (`before`) when the search
/// had them at hand (in the block it had just read); `None` means not
/// known, not absent. A navigation read ([`Dir::cut`](crate::query::dir::Dir::cut))
/// takes its candidate from here instead of locating the position again —
/// for a memtable run three dependent loads (bucket, bucket header,
/// slot), for a segment two (page, slot), after the search's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seek {
    pub(crate) pos: usize,
    pub(crate) at: Option<Timestamp>,
    pub(crate) before: Option<Timestamp>,
}

impl Seek {
    /// A position whose neighbours the caller did not read.
    #[inline]
    pub(crate) fn pos(pos: usize) -> Self {
        Self { pos, at: None, before: None }
    }

    /// `pos` within the sorted `stamps` (any slice holding position `pos`
    /// at index `i`; the neighbours outside it are left unknown).
    #[inline]
    pub(crate) fn within(pos: usize, stamps: &[Timestamp], i: usize) -> Self {
        Self { pos, at: stamps.get(i).copied(), before: i.checked_sub(1).map(|j| stamps[j]) }
    }
}

/// Which layer a segment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A flushed memtable (or a bulk run, R14), not yet compacted: L0
    /// segments may overlap in time.
    L0,
    /// Compacted: L1 segments are sorted and disjoint in time.
    L1,
}

pub(crate) struct Segment<T> {
    pub(crate) id: u64,
    pub(crate) level: Level,
    pub(crate) pages: Vec<Page<T>>,
    /// Last timestamp of each page, contiguous, for the page search.
    pub(crate) fences: Box<[Timestamp]>,
    /// Last timestamp of each [`BLOCK`]-record block of each page, page `p`'s
    /// blocks at `blocks[p * blocks_per_page ..]` (the last page may have
    /// fewer): the second level of the search, so that a lookup reads one
    /// block of a page instead of binary-searching all of it
    /// (8 bytes per `BLOCK` records).
    blocks: Box<[Timestamp]>,
    blocks_per_page: usize,
    pub(crate) page_cap: usize,
    /// `log2(page_cap)` when `page_cap` is a power of two (every page size
    /// `Config` resolves for 8- and 24-byte payloads, e.g. `u64` and
    /// Python objects), else `u32::MAX`: [`split`](Self::split) then maps a
    /// position to its page by a shift, not by a division (whose latency,
    /// 15+ cycles, lay on the path of every `next_ts`).
    page_shift: u32,
    pub(crate) len: usize,
    pub(crate) min_ts: Timestamp,
    pub(crate) max_ts: Timestamp,
    /// The line of the interpolated first probe of [`search`](Self::search)
    /// ([`Line`]); [`Line::OFF`] turns the probe off
    /// ([`fit_line`](Self::fit_line)).
    line: Line,
    /// Orders this segment's records against other sources at equal
    /// timestamps: greater than every record sequence in it, smaller than
    /// every record of a newer source (R8).
    pub(crate) seq_hi: SeqNo,
    /// Every tombstone with a sequence `<=` this was applied physically;
    /// every later one is newer than all records here (R8).
    pub(crate) tomb_applied: SeqNo,
    /// The L1 window `[start, end)` this segment belongs to.
    pub(crate) window: Option<(Timestamp, Timestamp)>,
    /// Set when a published manifest stops referencing the segment; the
    /// shared counter then counts it until it is dropped (`retired_queue_len`).
    pub(crate) retired: Retired,
    /// Model checkers: the pages' memory, built before the segment is
    /// published (R8) and read until it is reclaimed (R9). Zero-sized no-op
    /// in std builds.
    region: Region,
}

impl<T> std::fmt::Debug for Segment<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("id", &self.id)
            .field("level", &self.level)
            .field("len", &self.len)
            .field("min_ts", &self.min_ts)
            .field("max_ts", &self.max_ts)
            .field("seq_hi", &self.seq_hi)
            .field("tomb_applied", &self.tomb_applied)
            .finish()
    }
}

/// Retirement accounting shared by segments and memtables.
#[derive(Debug)]
pub(crate) struct Retired {
    counter: Arc<AtomicUsize>,
    flag: AtomicBool,
}

impl Retired {
    pub(crate) fn new(counter: &Arc<AtomicUsize>) -> Self {
        Self { counter: counter.clone(), flag: AtomicBool::new(false) }
    }
    /// Called once a manifest without the owner has been published.
    pub(crate) fn retire(&self) {
        if !self.flag.swap(true, Ordering::AcqRel) {
            self.counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Retired {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        if self.flag.unsync_get() {
            self.counter.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl<T> Segment<T> {
    #[inline]
    pub(crate) fn ts_at(&self, i: usize) -> Timestamp {
        crate::hooks::visit(1);
        self.region.read();
        let (p, o) = self.split(i);
        self.pages[p].timestamps()[o]
    }

    /// `(page, offset)` of position `i`: a shift and a mask when the page
    /// capacity is a power of two (a branch that always goes the same way
    /// for one segment), a division otherwise.
    #[inline(always)]
    pub(crate) fn split(&self, i: usize) -> (usize, usize) {
        if self.page_shift != u32::MAX {
            (i >> self.page_shift, i & (self.page_cap - 1))
        } else {
            (i / self.page_cap, i % self.page_cap)
        }
    }
    /// The pages, for a sequential walk (a checked read of the segment's
    /// memory under the model checkers, like every accessor here).
    #[inline]
    pub(crate) fn read_pages(&self) -> &[Page<T>] {
        self.region.read();
        &self.pages
    }

    /// First position whose timestamp is `>= ts`.
    #[inline]
    pub(crate) fn lower_bound(&self, ts: Timestamp) -> usize {
        self.seek(ts, false).pos
    }

    /// First position whose timestamp is `> ts`.
    #[inline]
    pub(crate) fn upper_bound(&self, ts: Timestamp) -> usize {
        self.seek(ts, true).pos
    }

    /// [`upper_bound`](Self::upper_bound) of `ts` when `incl`, else
    /// [`lower_bound`](Self::lower_bound), with the timestamps beside the
    /// answer that the search read ([`Seek`]). Callers that take only
    /// `pos` compile without those loads.
    #[inline]
    pub(crate) fn seek(&self, ts: Timestamp, incl: bool) -> Seek {
        self.region.read();
        // Position 0 holds `min_ts`, position `len - 1` holds `max_ts`.
        if ts < self.min_ts || (!incl && ts == self.min_ts) {
            return Seek { pos: 0, at: Some(self.min_ts), before: None };
        }
        if ts > self.max_ts || (incl && ts == self.max_ts) {
            return Seek { pos: self.len, at: None, before: Some(self.max_ts) };
        }
        let (p, o) = self.search(ts, incl);
        let pos = p * self.page_cap + o;
        match self.pages.get(p) {
            Some(page) => Seek::within(pos, page.timestamps(), o),
            None => Seek::pos(pos),
        }
    }

    /// First position whose timestamp is `> ts`, knowing it is at or after
    /// `from` (a `lower_bound` of a timestamp `<= ts`): a short range —
    /// a point read above all — ends a few records after it starts, so
    /// the end is found by galloping from `from` (probes at +1, +2, +4, …,
    /// then a binary search between the last two) inside `from`'s page,
    /// and by the fence search of [`upper_bound`](Self::upper_bound) only
    /// when it lies beyond that page.
    #[inline]
    pub(crate) fn upper_bound_from(&self, from: usize, ts: Timestamp) -> usize {
        self.region.read();
        if from >= self.len || ts >= self.max_ts {
            return self.len;
        }
        // Where the timestamps are evenly spread, the interpolated probe
        // (from its guess) is cheaper than a gallop from `from` (callgrind:
        // 113 -> about 60 instructions for a 10-record range).
        if let Some((p, o)) = self.interpolate(ts, true) {
            crate::hooks::visit(1);
            return p * self.page_cap + o;
        }
        let (p, o) = self.split(from);
        // The page ends at or below `ts` (its fence, in the small array the
        // search of `from` has just walked, not the page's last line): the
        // end is in a later page.
        if self.fences[p] <= ts {
            return self.upper_bound(ts);
        }
        let rest = &self.pages[p].timestamps()[o..];
        // One seek (test counter), as `search`.
        crate::hooks::visit(1);
        from + crate::memtable::run::gallop(0, rest.len(), |i| rest[i] <= ts)
    }

    /// `(page, offset)` of the first position whose timestamp is `> ts`
    /// (`incl`) or `>= ts`, for `min_ts <= ts <= max_ts` (`(pages, 0)` if
    /// none): page fences, then the page's block fences (both small and
    /// contiguous), then one block.
    #[inline]
    fn search(&self, ts: Timestamp, incl: bool) -> (usize, usize) {
        // One seek: two small fence arrays and one block (test counter).
        crate::hooks::visit(1);
        self.interpolate(ts, incl).unwrap_or_else(|| self.search_fences(ts, incl))
    }

    /// [`search`](Self::search) without its interpolated probe: the page
    /// fences, then the page's block fences, then one block.
    #[inline]
    fn search_fences(&self, ts: Timestamp, incl: bool) -> (usize, usize) {
        let p = fence_count(&self.fences, ts, incl);
        if p == self.pages.len() {
            return (p, 0);
        }
        let stamps = self.pages[p].timestamps();
        let first = p * self.blocks_per_page;
        let nb = stamps.len().div_ceil(BLOCK);
        // The page's last block ends with its fence, which is not below
        // `ts`, so `b < nb`.
        let b = fence_count(&self.blocks[first..first + nb], ts, incl);
        let start = b * BLOCK;
        let end = (start + BLOCK).min(stamps.len());
        (p, start + count_below(&stamps[start..end], ts, incl))
    }

    /// The interpolated probe's line ([`Line::fit`]), kept where the probe
    /// answers ([`interpolation_fits`]); once, as the segment is built.
    fn fit_line(mut self) -> Self {
        let ts_at = |s: &Self, i| {
            let (p, o) = s.split(i);
            s.pages[p].timestamps()[o]
        };
        self.line = Line::fit(self.len, |i| ts_at(&self, i));
        let s = &self;
        // Only whether the probe answers matters here (a segment always
        // gallops, `Line::unless_off`): no offset from the guess.
        let fit = interpolation_fits(s.len, |i| ts_at(s, i), |t| s.interpolate(t, false).map(|_| 0));
        self.line = self.line.unless_off(fit);
        self
    }

    /// [`search`](Self::search)'s first probe, by interpolation: the
    /// position `ts` would have were the timestamps evenly spread (a
    /// multiply, by its [`Line`]), and a gallop from it within its page
    /// ([`probe_near`]). When the answer is inside that page and near the
    /// guess, the two fence searches are skipped. Otherwise — an answer on
    /// a page boundary, or timestamps spread unevenly here — `None`, and
    /// the search runs as without it, having paid a multiply and a few
    /// loads around the guess. Timestamps taken at a steady rate, the
    /// common shape of a time series, are found there (callgrind, issue
    /// 13); a segment whose sampled timestamps are not
    /// ([`fit_line`](Self::fit_line)) skips the probe.
    #[inline(always)]
    fn interpolate(&self, ts: Timestamp, incl: bool) -> Option<(usize, usize)> {
        // Off: the segment's timestamps are not evenly spread enough
        // ([`fit_line`](Self::fit_line)), or all equal.
        if self.line.is_off() {
            return None;
        }
        let lim = below_limit(ts, incl)?;
        // `min_ts <= ts <= max_ts`: the caller's bounds test.
        let (p, o) = self.split(self.line.guess(ts, self.len));
        let page = self.pages.get(p)?;
        if !incl {
            // A lower bound: where a range or point read starts, and reads
            // the payloads next. Their line starts loading beside the
            // timestamps', not after the search (measured: see `prefetch`).
            prefetch(page.vals.as_ptr().wrapping_add(o));
        }
        probe_near(page.timestamps(), lim, o, false).map(|i| (p, i))
    }

    /// Visits the payloads at exactly `ts` in position order; returns how
    /// many. One search, then a walk over the equal run (which may cross
    /// pages).
    pub(crate) fn for_each_at<'s>(&'s self, ts: Timestamp, mut f: impl FnMut(&'s T)) -> usize {
        let mut n = 0;
        self.pieces_at(ts, |page, o, k| {
            page.payloads()[o..o + k].iter().for_each(&mut f);
            n += k;
            true
        });
        n
    }

    /// The records at exactly `ts`, one page piece at a time: `f(page,
    /// offset, count)` for each page the equal run touches, until `f`
    /// returns false (count 0 when `ts` is absent, and for the page after
    /// one whose last record is the run's last).
    /// One search, then a scan of the equal timestamps (each of which the
    /// caller returns). No call if `ts` is outside the segment's bounds.
    #[inline]
    pub(crate) fn pieces_at<'s>(&'s self, ts: Timestamp, mut f: impl FnMut(&'s Page<T>, usize, usize) -> bool) {
        self.region.read();
        if ts < self.min_ts || ts > self.max_ts {
            return;
        }
        let (mut p, mut o) = if ts == self.min_ts { (0, 0) } else { self.search(ts, false) };
        while let Some(page) = self.pages.get(p) {
            let k = page.timestamps()[o..].iter().take_while(|&&x| x == ts).count();
            crate::hooks::visit(k + 1);
            if !f(page, o, k) || o + k < page.len() {
                break;
            }
            p += 1;
            o = 0;
        }
    }

    /// Visits contiguous page pieces of positions `[lo, hi)`.
    pub(crate) fn pieces(&self, lo: usize, hi: usize, mut f: impl FnMut(usize, &Page<T>, usize, usize)) {
        self.region.read();
        let mut i = lo;
        while i < hi {
            let (p, o) = self.split(i);
            let page = &self.pages[p];
            let n = (page.len() - o).min(hi - i);
            f(p, page, o, o + n);
            i += n;
        }
    }
}

impl<T> Segment<T> {
    /// R14: an L0 segment straight from a batch sorted by timestamp (a bulk
    /// write): each record is moved once, from the batch into the pages.
    /// Its sequences are not known yet (`seq_hi` and `tomb_applied` are 0):
    /// the publisher sets them with [`set_run_seqs`](Self::set_run_seqs)
    /// before the segment is shared.
    pub(crate) fn from_sorted(
        batch: Vec<(Timestamp, T)>,
        page_cap: usize,
        id: u64,
        retired: &Arc<AtomicUsize>,
    ) -> Option<Segment<T>> {
        let mut b = SegmentBuilder::new(page_cap);
        for (ts, v) in batch {
            b.push(ts, v);
        }
        b.finish(id, Level::L0, 0, 0, None, retired)
    }

    /// [`from_sorted`](Self::from_sorted) from parallel inputs: the sorted
    /// timestamps `ts`, each with the next payload `vals` yields, moved
    /// once into the pages. `Err(n)` when `vals` ended after `n` payloads
    /// (the ones taken are dropped).
    pub(crate) fn from_sorted_parts(
        ts: &[Timestamp],
        vals: &mut impl Iterator<Item = T>,
        page_cap: usize,
        id: u64,
        retired: &Arc<AtomicUsize>,
    ) -> Result<Option<Segment<T>>, usize> {
        let mut b = SegmentBuilder::new(page_cap);
        let n = b.push_parts(ts, vals);
        if n < ts.len() {
            return Err(n);
        }
        Ok(b.finish(id, Level::L0, 0, 0, None, retired))
    }

    /// Whether this segment was built by the catalog whose retirement
    /// count is `retired` (the identity of a log while it is alive).
    pub(crate) fn counts_into(&self, retired: &Arc<AtomicUsize>) -> bool {
        Arc::ptr_eq(&self.retired.counter, retired)
    }

    /// R14: the sequences of a run published by a bulk write whose records
    /// took the block `..= last`: every record orders as `last` against
    /// tombstones and other sources (no tombstone has a sequence inside
    /// the block).
    pub(crate) fn set_run_seqs(&mut self, last: SeqNo) {
        self.seq_hi = last;
        self.tomb_applied = last;
    }

    /// R10, "prefix cut": a segment of the whole pages `from..` of `src`,
    /// shared with it, not copied (each page's buffer is kept by both until
    /// the last of them goes, R9). Its pages are `src`'s last ones, so every
    /// page but the last is full and a position still maps to its page by a
    /// division; the fence arrays are `src`'s from that page on. `None` if
    /// `from` is past the last page.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn share_pages(
        src: &Segment<T>,
        from: usize,
        id: u64,
        level: Level,
        seq_hi: SeqNo,
        tomb_applied: SeqNo,
        window: Option<(Timestamp, Timestamp)>,
        retired: &Arc<AtomicUsize>,
    ) -> Option<Segment<T>> {
        let pages: Vec<Page<T>> = src.read_pages().get(from..)?.iter().map(Page::share).collect();
        let min_ts = *pages.first()?.timestamps().first()?;
        let len = pages.iter().map(Page::len).sum();
        Some(
            Segment {
                id,
                level,
                fences: src.fences[from..].into(),
                blocks: src.blocks[from * src.blocks_per_page..].into(),
                blocks_per_page: src.blocks_per_page,
                len,
                pages,
                page_cap: src.page_cap,
                page_shift: src.page_shift,
                min_ts,
                max_ts: src.max_ts,
                line: Line::OFF,
                seq_hi,
                tomb_applied,
                window,
                retired: Retired::new(retired),
                region: Region::new(),
            }
            .fit_line(),
        )
    }

    /// The records back, in order, moved out of the pages (a bulk write
    /// that could not publish its run falls back to the memtable path).
    pub(crate) fn into_records(mut self) -> Vec<(Timestamp, T)> {
        let mut out = Vec::with_capacity(self.len);
        for p in &mut self.pages {
            // Never shared: the segment was built and refused before
            // publication, so each buffer has this one page.
            Arc::get_mut(&mut p.buf).expect("an unpublished segment's pages are its own").drain_into(&mut out);
            p.len = 0;
        }
        out
    }
}

/// How a page takes the payloads of the records pushed into it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Take {
    /// Cloned: the source keeps its own.
    Clone,
    /// Moved, as bitwise copies: the source gives up its ownership — it
    /// never drops these payloads (the flush of a memtable without
    /// tombstones, which then keeps the segment alive as its heir:
    /// `Memtable::set_heir`).
    Move,
}

impl Take {
    /// The payload to store for `v`: a clone, or its bits.
    ///
    /// # Safety
    ///
    /// For [`Take::Move`], its contract (upheld by the caller): the owner
    /// of `v` never drops it, or — a merged view's copies, `merged::Vals`
    /// — the bits returned are never dropped and the log's
    /// `BitwisePayloads` promise allows their use beside `v`.
    #[inline(always)]
    pub(crate) unsafe fn take<T: Clone>(self, v: &T) -> T {
        match self {
            // SAFETY: a bitwise read of a live value; what may drop it is
            // this function's contract.
            Take::Move => unsafe { std::ptr::read(v) },
            Take::Clone => v.clone(),
        }
    }
}

/// Writes clones of `src` at `dst + *len ..`, counting each in `*len` as
/// it is written, so a panicking `clone` leaves `*len` covering exactly
/// the values written — except for plain data (no drop glue), where
/// `*len` is set once after the loop, which then compiles to a copy. With
/// the log's payload `target`, the clones start loading the data of the
/// payloads [`TARGET_AHEAD`] on, which their own clones will touch, a
/// stretch every [`TARGET_STRIDE`] clones.
///
/// # Safety
///
/// `dst` points to at least `*len + src.len()` slots of `T`, those from
/// `*len` on uninitialized and not overlapping `src` (std pointer API
/// contract).
#[inline(always)]
pub(crate) unsafe fn clone_into<T: Clone>(dst: *mut T, len: &mut usize, src: &[T], target: Option<Target<T>>) {
    let from = *len;
    if let Some(t) = target {
        t.load(&src[..src.len().min(TARGET_AHEAD)]);
    }
    for (k, v) in src.iter().enumerate() {
        if let Some(t) = target {
            t.load_ahead(src, k);
        }
        // SAFETY: slot `from + k` is within `dst`'s slots and uninitialized
        // (this function's contract).
        unsafe { dst.add(from + k).write(v.clone()) };
        if std::mem::needs_drop::<T>() {
            *len += 1;
        }
    }
    if !std::mem::needs_drop::<T>() {
        *len += src.len();
    }
}

/// Builds a segment from records pushed in `(ts, seq)` order, straight into
/// its pages (no intermediate vectors: each record is written once).
pub(crate) struct SegmentBuilder<T> {
    page_cap: usize,
    /// Given to every page (its drop loads payload targets ahead).
    target: Option<Target<T>>,
    pages: Vec<Page<T>>,
    cur: Option<PageBuf<T>>,
    len: usize,
    min_ts: Timestamp,
    max_ts: Timestamp,
}

impl<T> SegmentBuilder<T> {
    pub(crate) fn new(page_cap: usize) -> Self {
        Self {
            page_cap: page_cap.max(1),
            target: None,
            pages: Vec::new(),
            cur: None,
            len: 0,
            min_ts: Timestamp::MAX,
            max_ts: Timestamp::MIN,
        }
    }

    /// Pages that load their payloads' targets ahead as they drop them
    /// ([`PayloadTarget`](crate::PayloadTarget)); `None` keeps the plain drop.
    pub(crate) fn with_target(mut self, target: Option<Target<T>>) -> Self {
        self.target = target;
        self
    }

    #[inline]
    pub(crate) fn push(&mut self, ts: Timestamp, val: T) {
        self.note_span(ts, ts);
        let (cap, target) = (self.page_cap, self.target);
        let page = self.cur.get_or_insert_with(|| PageBuf::with_capacity(cap, target));
        page.push(ts, val);
        self.len += 1;
        if page.len == cap {
            self.cut_page();
        }
    }

    /// Pushes a sorted stretch of records (timestamps copied, payloads
    /// cloned), page by page: the flush's bulk path for the stretches of
    /// the run between two late records.
    pub(crate) fn push_cloned(&mut self, ts: &[Timestamp], vals: &[T])
    where
        T: Clone,
    {
        self.push_stretch(ts, vals, Take::Clone);
    }

    /// [`push_cloned`](Self::push_cloned), the payloads taken as `take`
    /// says: moved (bitwise copies, no reference count touched) or cloned.
    ///
    /// # Safety
    ///
    /// For [`Take::Move`], its contract: the owner of `vals` never drops
    /// them (nor reads them once the segment built here may have dropped
    /// them). None for [`Take::Clone`].
    pub(crate) unsafe fn push_taken(&mut self, ts: &[Timestamp], vals: &[T], take: Take)
    where
        T: Clone,
    {
        self.push_stretch(ts, vals, take);
    }

    /// One record, its payload moved (a bitwise copy) or cloned.
    ///
    /// # Safety
    ///
    /// As [`push_taken`](Self::push_taken), for `val`.
    #[inline]
    pub(crate) unsafe fn push_one(&mut self, ts: Timestamp, val: &T, take: Take)
    where
        T: Clone,
    {
        // SAFETY: `Take::take`'s contract is this function's: a moved
        // payload has one owner, the page.
        self.push(ts, unsafe { take.take(val) });
    }

    fn push_stretch(&mut self, ts: &[Timestamp], vals: &[T], take: Take)
    where
        T: Clone,
    {
        debug_assert_eq!(ts.len(), vals.len());
        let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else { return };
        debug_assert!(ts.windows(2).all(|w| w[0] <= w[1]), "segment input must be sorted");
        self.note_span(first, last);
        let (cap, target) = (self.page_cap, self.target);
        let mut i = 0;
        while i < ts.len() {
            let page = self.cur.get_or_insert_with(|| PageBuf::with_capacity(cap, target));
            let n = (cap - page.len).min(ts.len() - i);
            page.extend(&ts[i..i + n], &vals[i..i + n], take);
            let full = page.len == cap;
            self.len += n;
            i += n;
            if full {
                self.cut_page();
            }
        }
    }

    /// Pushes the longest prefix of a sorted stretch whose every index
    /// satisfies `before` (timestamps copied, payloads taken as `take`
    /// says) and returns its length: one pass that tests and copies each
    /// record. The flush's path for the short stretches of the run between
    /// two late records, where a search for the stretch's end and a bulk
    /// copy's setup cost more than the records themselves; the caller
    /// bounds the stretch (`ts.len()`) and takes longer ones in bulk
    /// ([`push_taken`](Self::push_taken)).
    ///
    /// # Safety
    ///
    /// As [`push_taken`](Self::push_taken), for the prefix pushed (the
    /// returned length): the records after it stay their owner's.
    #[inline]
    pub(crate) unsafe fn push_while(
        &mut self,
        ts: &[Timestamp],
        vals: &[T],
        before: impl Fn(usize) -> bool,
        take: Take,
    ) -> usize
    where
        T: Clone,
    {
        debug_assert_eq!(ts.len(), vals.len());
        let (cap, target) = (self.page_cap, self.target);
        let mut i = 0;
        while i < ts.len() {
            let page = self.cur.get_or_insert_with(|| PageBuf::with_capacity(cap, target));
            let (k, stopped) = page.extend_while(&ts[i..], &vals[i..], |k| before(i + k), take);
            let full = page.len == cap;
            if k > 0 {
                self.note_span(ts[i], ts[i + k - 1]);
                self.len += k;
            }
            if full {
                self.cut_page();
            }
            i += k;
            if stopped {
                break;
            }
        }
        i
    }

    /// Pushes the sorted timestamps `ts`, each with the next payload
    /// `vals` yields (moved in), page by page; returns how many were
    /// pushed: `ts.len()`, or fewer if `vals` ended first. A bulk write's
    /// run built straight from the caller's parallel inputs (R14): each
    /// record is written once, with no vector of pairs between.
    ///
    /// Its page loop is `push_while`'s, written again on purpose:
    /// one loop shared through a closure (session 38) cost the flush of a
    /// 5%/20%-late memtable 1.9%/4.0% more instructions (callgrind, `ingest
    /// timelog_flush`), and a fill through an iterator 14%/17%.
    pub(crate) fn push_parts(&mut self, ts: &[Timestamp], vals: &mut impl Iterator<Item = T>) -> usize {
        debug_assert!(ts.is_sorted(), "segment input must be sorted");
        let (cap, target) = (self.page_cap, self.target);
        let mut i = 0;
        while i < ts.len() {
            let page = self.cur.get_or_insert_with(|| PageBuf::with_capacity(cap, target));
            let (k, ended) = page.extend_from_iter(&ts[i..], vals);
            let full = page.len == cap;
            if k > 0 {
                self.note_span(ts[i], ts[i + k - 1]);
                self.len += k;
            }
            if full {
                self.cut_page();
            }
            i += k;
            if ended {
                break;
            }
        }
        i
    }

    /// Records that sorted records from `first` to `last` follow the ones
    /// pushed so far (the segment's time span); the caller counts them in
    /// `len` after this call.
    #[inline(always)]
    fn note_span(&mut self, first: Timestamp, last: Timestamp) {
        debug_assert!(self.len == 0 || first >= self.max_ts, "segment input must be sorted");
        if self.len == 0 {
            self.min_ts = first;
        }
        self.max_ts = last;
    }

    fn cut_page(&mut self) {
        if let Some(p) = self.cur.take().filter(|p| p.len > 0) {
            self.pages.push(Page::from_buf(p));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish(
        mut self,
        id: u64,
        level: Level,
        seq_hi: SeqNo,
        tomb_applied: SeqNo,
        window: Option<(Timestamp, Timestamp)>,
        retired: &Arc<AtomicUsize>,
    ) -> Option<Segment<T>> {
        self.cut_page();
        if self.len == 0 {
            return None;
        }
        // Every page but the last is full (`page_cap` records), so page `p`'s
        // blocks start at `p * blocks_per_page`.
        let blocks_per_page = self.page_cap.div_ceil(BLOCK);
        let mut blocks = Vec::with_capacity(self.pages.iter().map(|p| p.len().div_ceil(BLOCK)).sum());
        for (i, p) in self.pages.iter().enumerate() {
            debug_assert_eq!(blocks.len(), i * blocks_per_page);
            blocks.extend(p.timestamps().chunks(BLOCK).map(|c| c[c.len() - 1]));
        }
        Some(
            Segment {
                id,
                level,
                fences: self.pages.iter().map(|p| p.timestamps()[p.len() - 1]).collect(),
                blocks: blocks.into_boxed_slice(),
                blocks_per_page,
                pages: self.pages,
                page_cap: self.page_cap,
                page_shift: if self.page_cap.is_power_of_two() { self.page_cap.trailing_zeros() } else { u32::MAX },
                len: self.len,
                min_ts: self.min_ts,
                max_ts: self.max_ts,
                line: Line::OFF,
                seq_hi,
                tomb_applied,
                window,
                retired: Retired::new(retired),
                region: Region::new(),
            }
            .fit_line(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page whose log has a payload target drops each payload once, in
    /// order, and asks for the target of payloads not yet dropped only —
    /// the ones up to `TARGET_AHEAD` on; clones into a page with a target
    /// do the same before each clone. (Under the test's own type, whose
    /// `Handle` and `Drop` log what happens.)
    #[test]
    fn a_page_with_a_payload_target_drops_each_payload_once_after_loading_it() {
        use std::cell::RefCell;
        #[derive(Debug, PartialEq)]
        enum Ev {
            Target(u32),
            Clone(u32),
            Drop(u32),
        }
        thread_local!(static EVS: RefCell<Vec<Ev>> = const { RefCell::new(Vec::new()) });
        #[derive(Debug)]
        struct P(u32);
        impl crate::Handle for P {
            fn target(&self) -> *const u8 {
                EVS.with(|e| e.borrow_mut().push(Ev::Target(self.0)));
                (self as *const P).cast()
            }
        }
        impl Clone for P {
            fn clone(&self) -> Self {
                EVS.with(|e| e.borrow_mut().push(Ev::Clone(self.0)));
                P(self.0)
            }
        }
        impl Drop for P {
            fn drop(&mut self) {
                EVS.with(|e| e.borrow_mut().push(Ev::Drop(self.0)));
            }
        }
        let target = crate::PayloadTarget::of::<P>().typed::<P>();
        assert!(target.is_some() && crate::PayloadTarget::of::<P>().typed::<u64>().is_none());
        let n = 40u32; // pages of 24: one full, one of 16
        let src: Vec<P> = (0..n).map(P).collect();
        let mut b = SegmentBuilder::new(24).with_target(target);
        b.push_cloned(&(0..n as i64).collect::<Vec<_>>(), &src);
        let seg = b.finish(1, Level::L0, 1, 1, None, &Arc::new(AtomicUsize::new(0))).unwrap();
        let evs = EVS.with(|e| std::mem::take(&mut *e.borrow_mut()));
        // Clones: each payload cloned once, in order, loaded ahead first.
        let cloned: Vec<u32> = evs.iter().filter_map(|e| if let Ev::Clone(i) = e { Some(*i) } else { None }).collect();
        assert_eq!(cloned, (0..n).collect::<Vec<_>>());
        for i in 0..n {
            let at = |ev: Ev| evs.iter().position(|e| *e == ev).expect("logged");
            assert!(at(Ev::Target(i)) < at(Ev::Clone(i)), "{i} loaded before its clone");
        }
        drop(src);
        EVS.with(|e| e.borrow_mut().clear());
        drop(seg);
        let evs = EVS.with(|e| std::mem::take(&mut *e.borrow_mut()));
        let dropped: Vec<u32> = evs.iter().filter_map(|e| if let Ev::Drop(i) = e { Some(*i) } else { None }).collect();
        assert_eq!(dropped, (0..n).collect::<Vec<_>>(), "each payload dropped once, in order");
        let mut gone = std::collections::HashSet::new();
        let mut targets = 0;
        for e in &evs {
            match e {
                Ev::Target(i) => {
                    assert!(!gone.contains(i), "target of {i} asked after its drop");
                    targets += 1;
                }
                Ev::Drop(i) => assert!(gone.insert(*i)),
                Ev::Clone(_) => unreachable!(),
            }
        }
        assert_eq!(targets, n, "each payload loaded once ahead of its drop");
    }

    /// A short page frozen in a block reused from the pool (its pages
    /// resident, full of what the last owner left) holds no more resident
    /// memory than in a fresh block: the pages of both arrays' tails past
    /// its records go back to the kernel; its records read back.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_short_page_in_a_reused_block_keeps_no_resident_tail() {
        let cap = 16384; // a default page of 8-byte payloads: 256 KiB
        let size = PageBuf::<u64>::vals_offset(cap) + cap * 8;
        let mut buf =
            PageBuf::<u64> { block: Block::reused_for_test(size, 8), len: 0, cap, target: None, _vals: PhantomData };
        for i in 0..1000 {
            buf.push(i * 3, i as u64);
        }
        let base = buf.block.as_ptr();
        let page = Page::from_buf(buf);
        assert_eq!(page.timestamps(), &(0..1000).map(|i| i * 3).collect::<Vec<_>>()[..]);
        assert_eq!(page.payloads(), &(0..1000).collect::<Vec<u64>>()[..]);
        let res = block::tests::resident_pages(base, size);
        // 1,000 records: 8,000 bytes of each array, in its first two pages.
        let (ts_pages, vals_first) = (cap * 8 / 4096, PageBuf::<u64>::vals_offset(cap) / 4096);
        let want: Vec<bool> = (0..size / 4096).map(|p| p < 2 || (vals_first..vals_first + 2).contains(&p)).collect();
        assert_eq!(res, want, "resident pages (timestamps: 0..{ts_pages}, payloads from {vals_first})");
    }

    #[test]
    fn push_cloned_matches_push_across_pages() {
        let ctr = Arc::new(AtomicUsize::new(0));
        let recs: Vec<(i64, String)> = (0..50i64).map(|i| (i / 2, format!("v{i}"))).collect();
        // Stretches of every length from 0 to 9 (page capacity 4).
        let mut one = SegmentBuilder::new(4);
        let mut bulk = SegmentBuilder::new(4);
        let (mut i, mut n) = (0, 0);
        while i < recs.len() {
            let j = (i + n % 10).min(recs.len());
            let (ts, vals): (Vec<i64>, Vec<String>) = recs[i..j].iter().cloned().unzip();
            bulk.push_cloned(&ts, &vals);
            for (t, v) in &recs[i..j] {
                one.push(*t, v.clone());
            }
            (i, n) = (j, n + 1);
        }
        assert_eq!(bulk.len(), recs.len());
        let (a, b) =
            (one.finish(1, Level::L0, 1, 1, None, &ctr).unwrap(), bulk.finish(2, Level::L0, 1, 1, None, &ctr).unwrap());
        assert_eq!((a.len, a.min_ts, a.max_ts, a.pages.len()), (b.len, b.min_ts, b.max_ts, b.pages.len()));
        for (p, q) in a.pages.iter().zip(&b.pages) {
            assert_eq!((p.timestamps(), p.payloads()), (q.timestamps(), q.payloads()));
        }
        assert_eq!(&*a.fences, &*b.fences);
        assert_eq!(&*a.blocks, &*b.blocks);
    }

    /// `push_parts` builds what one `push` per record builds, across page
    /// cuts and prefault chunks (pages of 3,000 slots span two chunks),
    /// and stops where the payloads end, keeping exactly those.
    #[test]
    fn push_parts_matches_push_and_stops_where_payloads_end() {
        let ctr = Arc::new(AtomicUsize::new(0));
        let ts: Vec<i64> = (0..7_000i64).map(|i| i / 3).collect();
        let vals = || (0..ts.len()).map(|i| format!("v{i}"));
        let mut one = SegmentBuilder::new(3_000);
        for (t, v) in ts.iter().zip(vals()) {
            one.push(*t, v);
        }
        let mut parts = SegmentBuilder::new(3_000);
        assert_eq!(parts.push_parts(&ts, &mut vals()), ts.len());
        let (a, b) = (
            one.finish(1, Level::L0, 1, 1, None, &ctr).unwrap(),
            parts.finish(2, Level::L0, 1, 1, None, &ctr).unwrap(),
        );
        assert_eq!((a.len, a.min_ts, a.max_ts, a.pages.len()), (b.len, b.min_ts, b.max_ts, b.pages.len()));
        for (p, q) in a.pages.iter().zip(&b.pages) {
            assert_eq!((p.timestamps(), p.payloads()), (q.timestamps(), q.payloads()));
        }
        assert_eq!(&*a.fences, &*b.fences);
        assert_eq!(&*a.blocks, &*b.blocks);
        // Payloads that end early: the builder holds exactly those taken.
        let short: Vec<Arc<()>> = (0..4_100).map(|_| Arc::new(())).collect();
        let mut b = SegmentBuilder::new(3_000);
        assert_eq!(b.push_parts(&ts, &mut short.iter().cloned()), short.len());
        assert_eq!(b.len(), short.len());
        assert!(short.iter().all(|p| Arc::strong_count(p) == 2));
        drop(b);
        assert!(short.iter().all(|p| Arc::strong_count(p) == 1), "every payload taken is dropped once");
    }

    /// `push_while` pushes exactly the prefix its predicate admits, across
    /// page cuts and prefault chunks (a page of 3,000 slots spans two),
    /// moving or cloning the payloads, and builds what one `push` per
    /// record builds.
    #[test]
    fn push_while_pushes_the_admitted_prefix() {
        let ctr = Arc::new(AtomicUsize::new(0));
        for (cap, take) in
            [1, 4, 5, block::PREFAULT_SLOTS + 952].into_iter().flat_map(|c| [(c, Take::Move), (c, Take::Clone)])
        {
            let recs: Vec<(i64, String)> = (0..7_000i64).map(|i| (i / 3, format!("v{i}"))).collect();
            let (ts, vals): (Vec<i64>, Vec<String>) = recs.iter().cloned().unzip();
            // Moved out bitwise: the source never drops them (those refused
            // and cloned below leak, which a test may).
            let vals = std::mem::ManuallyDrop::new(vals);
            let mut one = SegmentBuilder::new(cap);
            let mut bulk = SegmentBuilder::new(cap);
            let (mut i, mut n) = (0, 0usize);
            while i < recs.len() {
                // Stretches of 0 to 40 records; the predicate admits 0 to 12
                // of them, or all of them.
                let j = (i + (n * 7) % 41).min(recs.len());
                let stop = if n % 3 == 0 { usize::MAX } else { n % 13 };
                // SAFETY: `Take::Move`'s contract: `vals` is never dropped,
                // and each record is pushed by at most one call (`i` moves
                // past what was pushed).
                let got = unsafe {
                    bulk.push_while(
                        &ts[i..j],
                        &vals[i..j],
                        |k| {
                            assert!(k < j - i, "asked about {k} of a stretch of {}", j - i);
                            k < stop
                        },
                        take,
                    )
                };
                assert_eq!(got, (j - i).min(stop), "cap {cap}, {take:?}, stretch {i}..{j}");
                for (t, v) in &recs[i..i + got] {
                    one.push(*t, v.clone());
                }
                // Whatever was refused is pushed by `push`, as the flush's
                // late record is.
                if i + got < j {
                    one.push(ts[i + got], vals[i + got].clone());
                    bulk.push(ts[i + got], vals[i + got].clone());
                    i += 1;
                }
                (i, n) = (i + got, n + 1);
            }
            assert_eq!(bulk.len(), recs.len());
            let (a, b) = (
                one.finish(1, Level::L0, 1, 1, None, &ctr).unwrap(),
                bulk.finish(2, Level::L0, 1, 1, None, &ctr).unwrap(),
            );
            assert_eq!((a.len, a.min_ts, a.max_ts, a.pages.len()), (b.len, b.min_ts, b.max_ts, b.pages.len()));
            for (p, q) in a.pages.iter().zip(&b.pages) {
                assert_eq!((p.timestamps(), p.payloads()), (q.timestamps(), q.payloads()));
            }
            assert_eq!(&*a.fences, &*b.fences);
        }
    }

    #[test]
    fn bounds_across_pages() {
        let mut b = SegmentBuilder::new(4);
        for i in 0..22i64 {
            b.push(i / 2, i);
        }
        let ctr = Arc::new(AtomicUsize::new(0));
        let s = b.finish(1, Level::L0, 10, 10, None, &ctr).unwrap();
        assert_eq!(s.pages.len(), 6);
        assert_eq!(s.lower_bound(3), 6);
        assert_eq!(s.upper_bound(3), 8);
        assert_eq!(s.lower_bound(-5), 0);
        assert_eq!(s.upper_bound(100), 22);
        assert_eq!(s.read_pages()[5].payloads().last(), Some(&21));
        let mut n = 0;
        s.pieces(3, 19, |_, p, a, b| {
            assert!(b <= p.len());
            n += b - a;
        });
        assert_eq!(n, 16);
    }

    fn build(ts: &[Timestamp], page_cap: usize) -> Segment<usize> {
        let mut b = SegmentBuilder::new(page_cap);
        for (i, &t) in ts.iter().enumerate() {
            b.push(t, i);
        }
        let ctr = Arc::new(AtomicUsize::new(0));
        b.finish(1, Level::L1, 10, 10, None, &ctr).unwrap()
    }

    /// Both bounds against `partition_point` on the flat array, for every
    /// probe in and around the data (and the extremes).
    fn check(ts: &[Timestamp], page_cap: usize) {
        let s = build(ts, page_cap);
        assert_eq!(s.blocks.len(), s.pages.iter().map(|p| p.len().div_ceil(BLOCK)).sum::<usize>());
        let (lo, hi) = (ts[0], ts[ts.len() - 1]);
        let mut probes: Vec<Timestamp> = vec![Timestamp::MIN, Timestamp::MIN + 1, Timestamp::MAX - 1, Timestamp::MAX];
        probes.extend(lo.saturating_sub(2)..=hi.saturating_add(2).min(lo.saturating_add(5000)));
        probes.extend(ts.iter().flat_map(|&t| [t.saturating_sub(1), t, t.saturating_add(1)]));
        for q in probes {
            let (a, b) = (ts.partition_point(|&x| x < q), ts.partition_point(|&x| x <= q));
            assert_eq!(s.lower_bound(q), a, "lower_bound({q}) cap {page_cap}");
            assert_eq!(s.upper_bound(q), b, "upper_bound({q}) cap {page_cap}");
            // A seek's neighbours, where it read them, are the records
            // beside its position.
            for (incl, pos) in [(false, a), (true, b)] {
                let k = s.seek(q, incl);
                assert_eq!(k.pos, pos, "seek({q}, {incl}) cap {page_cap}");
                assert!(k.at.is_none_or(|x| Some(&x) == ts.get(pos)), "seek({q}, {incl}).at cap {page_cap}");
                assert!(k.before.is_none_or(|x| pos > 0 && x == ts[pos - 1]), "seek({q}, {incl}).before");
            }
            // From the start of any range that ends at `q` (a point read:
            // from `a` itself).
            for from in [q, q.saturating_sub(1), q.saturating_sub(7), q.saturating_sub(300), Timestamp::MIN] {
                let f = ts.partition_point(|&x| x < from);
                assert_eq!(s.upper_bound_from(f, q), b, "upper_bound_from({f}, {q}) cap {page_cap}");
            }
            let mut seen = Vec::new();
            assert_eq!(s.for_each_at(q, |&i| seen.push(i)), b - a);
            assert_eq!(seen, (a..b).collect::<Vec<_>>(), "for_each_at({q}) cap {page_cap}");
        }
    }

    #[test]
    fn bounds_match_flat_search_with_duplicates() {
        let caps = [1, 2, 3, 4, 63, 64, 65, 100, 128, 130, 256, 4096, 8192];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for &cap in &caps {
            // 9,000 records at cap 1 are 9,000 pages (page fences past one
            // chunk of `fence_count`); at cap 8,192 a page has 128 blocks.
            for len in [1usize, 2, 63, 64, 65, 127, 128, 129, 700, 3000, 9000] {
                // Runs of equal timestamps of every length, some spanning
                // block and page boundaries; gaps of 0..3.
                for dup in [1u64, 3, 64, 200] {
                    let mut v = Vec::with_capacity(len);
                    let mut t = -50i64;
                    while v.len() < len {
                        let k = 1 + rnd(dup) as usize;
                        for _ in 0..k.min(len - v.len()) {
                            v.push(t);
                        }
                        t += rnd(3) as i64;
                    }
                    check(&v, cap);
                }
            }
        }
        // One timestamp only; the extremes of the domain.
        check(&[7; 300], 64);
        check(&[Timestamp::MIN, Timestamp::MIN, 0, Timestamp::MAX, Timestamp::MAX], 2);
        let mut v = vec![Timestamp::MIN; 130];
        v.extend([Timestamp::MAX; 130]);
        check(&v, 64);
        check(&v, 100);
    }

    /// `count_below` against a linear count, for every block length up to
    /// a full one (the full block's unrolled path and the generic one) and
    /// every limit around the entries, duplicates and the domain's ends
    /// included.
    #[test]
    fn count_below_matches_a_linear_count_at_every_length() {
        for len in 0..=BLOCK {
            for dup in [1usize, 3, 9] {
                let mut v: Vec<Timestamp> = (0..len).map(|i| (i / dup) as i64 * 2).collect();
                if len > 2 {
                    v[0] = Timestamp::MIN;
                    v[len - 1] = Timestamp::MAX;
                }
                let mut probes: Vec<Timestamp> =
                    v.iter().flat_map(|&t| [t.saturating_sub(1), t, t.saturating_add(1)]).collect();
                probes.extend([Timestamp::MIN, Timestamp::MAX, 0, -1]);
                for ts in probes {
                    for incl in [false, true] {
                        let want = v.iter().filter(|&&x| if incl { x <= ts } else { x < ts }).count();
                        assert_eq!(count_below(&v, ts, incl), want, "len {len} dup {dup} ts {ts} incl {incl}");
                    }
                }
            }
        }
    }

    /// The interpolated probe answers as the fence search does whenever it
    /// answers, over evenly spread, bursty, skewed and domain-wide
    /// timestamps (and a prefix cut, whose line is its own); and it does
    /// answer for most probes of timestamps taken at a steady rate (the
    /// shape it exists for).
    #[test]
    fn interpolated_probe_agrees_with_the_fence_search() {
        let steady: Vec<Timestamp> = (0..20_000).map(|i| 1_700_000_000_000 + i * 10).collect();
        let bursts: Vec<Timestamp> = (0..20_000i64).map(|i| (i / 500) * 1_000_000 + i % 500).collect();
        let skewed: Vec<Timestamp> = (0..5_000i64).map(|i| i * i * i).collect();
        // Steady after a pile of equal timestamps at the start (late
        // records clamped to 0, a burst): the line through two inner
        // timestamps still fits.
        let piled: Vec<Timestamp> = (0..20_000i64).map(|i| (i - 300).max(0) * 10).collect();
        // One record in twenty late by up to 1,000 (a flushed log of late
        // records): positions drift from the line by a few dozen, which
        // the probe's gallop still covers.
        let mut late: Vec<Timestamp> =
            (0..20_000i64).map(|i| if i % 20 == 0 { (i - (i * 7_919) % 1_000).max(0) } else { i }).collect();
        late.sort_unstable();
        let mut wide: Vec<Timestamp> = (0..3_000i64).map(|i| i * 1_000).collect();
        wide.insert(0, Timestamp::MIN);
        wide.push(Timestamp::MAX);
        let ctr = Arc::new(AtomicUsize::new(0));
        for (name, ts) in [
            ("steady", &steady),
            ("piled", &piled),
            ("late", &late),
            ("bursts", &bursts),
            ("skewed", &skewed),
            ("wide", &wide),
        ] {
            let whole = build(ts, 1024);
            let cut = Segment::share_pages(&whole, 2, 2, Level::L1, 10, 10, None, &ctr).unwrap();
            // The build keeps the probe where it pays only.
            assert_eq!(!whole.line.is_off(), matches!(name, "steady" | "piled" | "late"), "{name}: probe kept");
            // The probe forced on, where the build turned it off too.
            let mut forced = build(ts, 1024);
            forced.line = Line::through(0, forced.min_ts, forced.len - 1, forced.max_ts);
            for (k, s) in [&whole, &cut, &forced].into_iter().enumerate() {
                let (mut hits, mut probes) = (0usize, 0usize);
                let (lo, hi) = (s.min_ts, s.max_ts);
                let step = ((hi as i128 - lo as i128) / 7_919).max(1);
                let mut q = lo as i128;
                while q <= hi as i128 {
                    let t = q as Timestamp;
                    for incl in [false, true] {
                        probes += 1;
                        if let Some(got) = s.interpolate(t, incl) {
                            hits += 1;
                            assert_eq!(got, s.search_fences(t, incl), "{name}: {t} incl {incl}");
                        }
                        // A short range's end, found by the probe where it
                        // answers, else by the gallop.
                        let (p, o) = s.search_fences(t, true);
                        let end = if p == s.pages.len() { s.len } else { p * s.page_cap + o };
                        assert_eq!(s.upper_bound_from(s.lower_bound(t), t), end, "{name}: upper_bound_from {t}");
                    }
                    q += step;
                }
                // As built (not the forced line through the ends).
                if k < 2 && matches!(name, "steady" | "piled" | "late") {
                    assert!(hits * 10 >= probes * 9, "{name}: {hits} of {probes} probes interpolated");
                }
            }
        }
    }

    /// `probe_near` against a flat partition point, from every guess: it
    /// answers only strictly inside the slice and within twice [`REACH`]
    /// of the guess, and then rightly; and it does answer whenever the
    /// answer is inside and within `REACH`; with the branch-free window
    /// first or without. Over steady timestamps, duplicates, one jump that
    /// puts the answer far from most guesses, and short slices.
    #[test]
    fn probe_near_matches_the_partition_point_from_every_guess() {
        let slices: Vec<Vec<Timestamp>> = vec![
            (0..300).map(|i| i * 10).collect(),
            (0..300).map(|i| i / 5).collect(),
            (0..300).map(|i| if i < 50 { i } else { 1_000 + i }).collect(),
            (0..13).collect(),
            vec![1, 2],
            vec![7],
        ];
        for v in &slices {
            let (lo, hi) = (v[0], v[v.len() - 1]);
            for lim in lo - 2..=hi + 2 {
                let want = v.partition_point(|&x| x <= lim);
                for (guess, window) in (0..v.len() + 3).flat_map(|g| [(g, false), (g, true)]) {
                    let got = probe_near(v, lim, guess, window);
                    if let Some(i) = got {
                        assert_eq!(i, want, "{v:?} lim {lim} guess {guess} window {window}");
                    }
                    let inside = (1..v.len()).contains(&want);
                    let off = want.abs_diff(guess.min(v.len() - 1));
                    if inside && off <= REACH {
                        assert!(got.is_some(), "{v:?} lim {lim} guess {guess}: not answered");
                    }
                    if !inside || off > 2 * REACH {
                        assert!(got.is_none(), "{v:?} lim {lim} guess {guess}: answered {got:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn bounds_match_flat_search(
            mut v in proptest::collection::vec(-40i64..40, 1..2000),
            cap in 1usize..300,
        ) {
            v.sort_unstable();
            check(&v, cap);
        }
    }
}
