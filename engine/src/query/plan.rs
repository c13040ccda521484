//! Read planning: which sources overlap `[t1, t2)`, and which positions of
//! each are visible under a snapshot (watermark + tombstone coverage).
//!
//! The result is, per source, a list of contiguous *spans* of visible
//! records, so the merge never re-checks tombstones per record and
//! `remaining()` is the sum of span lengths (O(sources), no payload
//! touched) — except for the late records a read collects as it goes, in
//! either direction: those newer than a merged view, or all of them for a
//! long read with no view ([`OooMore`]).

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ptr::{self, NonNull};

use crate::memtable::merged::Merged;
use crate::memtable::Memtable;
use crate::query::dir::Asc;
use crate::query::view::{for_each_visible_run, ooo_walk, run_tail_in, SourceRef, Vis};
use crate::segment::{Page, Segment};
use crate::tombstone::Coverage;
use crate::{SeqNo, Timestamp};

// The view and the per-source visibility rule live in `query::view`; these
// paths stay for the callers outside the query layer.
pub(crate) use crate::query::view::{for_each_visible_segment, visible_ranges_segment, View};

/// Sequence of the records of a span.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SeqSrc {
    /// Every record of a segment orders as this sequence (R8).
    Const(SeqNo),
    Arr(*const SeqNo),
}

/// Where a span's payloads are.
#[derive(Debug)]
pub(crate) enum ValSrc<T> {
    Direct(*const T),
    Indirect(*const *const T),
}

impl<T> Clone for ValSrc<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ValSrc<T> {}

/// `len` visible records at contiguous addresses, sorted by `(ts, seq)`.
#[derive(Debug)]
pub(crate) struct Span<T> {
    pub(crate) ts: *const Timestamp,
    pub(crate) seq: SeqSrc,
    pub(crate) val: ValSrc<T>,
    pub(crate) len: usize,
}

impl<T> Clone for Span<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Span<T> {}

impl<T> Span<T> {
    /// No record (the current span of a source that has collected none).
    pub(crate) const EMPTY: Span<T> =
        Span { ts: std::ptr::null(), seq: SeqSrc::Const(0), val: ValSrc::Direct(std::ptr::null()), len: 0 };

    /// Timestamp of record `i`.
    ///
    /// # Safety
    ///
    /// `i < len`, and the storage the span was cut from (a page, a run
    /// bucket or a source's owned buffer) is alive: the caller holds the
    /// snapshot that owns it (R9) and, for an owned buffer, its `Source`.
    #[inline]
    pub(crate) unsafe fn ts(&self, i: usize) -> Timestamp {
        debug_assert!(i < self.len);
        // SAFETY: the caller's contract (R9, `i < len`): within the live
        // slice the span was cut from.
        unsafe { *self.ts.add(i) }
    }

    /// Sequence (or, in a segment, effective sequence, R8) of record `i`.
    ///
    /// # Safety
    ///
    /// As for [`ts`](Self::ts).
    #[inline]
    pub(crate) unsafe fn seq(&self, i: usize) -> SeqNo {
        debug_assert!(i < self.len);
        match self.seq {
            SeqSrc::Const(s) => s,
            // SAFETY: the caller's contract, as in `ts` (R9).
            SeqSrc::Arr(p) => unsafe { *p.add(i) },
        }
    }

    /// Payload of record `i`, borrowed for as long as the span is.
    ///
    /// # Safety
    ///
    /// As for [`ts`](Self::ts), and the storage stays alive while the
    /// returned reference is used (the caller keeps the snapshot, R9, for
    /// at least the borrow of `self`).
    #[inline]
    pub(crate) unsafe fn val(&self, i: usize) -> &T {
        debug_assert!(i < self.len);
        // SAFETY: the caller's contract, as in `ts` (R9); an indirect
        // span's pointers are skiplist nodes, alive as long as their
        // memtable (R6), which the snapshot holds.
        unsafe {
            match self.val {
                ValSrc::Direct(p) => &*p.add(i),
                ValSrc::Indirect(p) => &**p.add(i),
            }
        }
    }
}

impl<T> Span<T> {
    /// Folds records `lo .. lo + k` into `acc` — ascending, or descending
    /// with `desc` — with `f(acc, ts, payload)`: a loop over two slices,
    /// with the payload indirection decided once per call, not per record.
    ///
    /// # Safety
    ///
    /// `lo + k <= len`, and the storage stays alive for the call, as for
    /// [`ts`](Self::ts) (R9).
    #[inline]
    pub(crate) unsafe fn fold_in<B>(
        &self,
        lo: usize,
        k: usize,
        desc: bool,
        acc: B,
        mut f: impl FnMut(B, Timestamp, &T) -> B,
    ) -> B {
        debug_assert!(lo + k <= self.len);
        // SAFETY: the caller's contract: `[lo, lo + k)` lies within the live
        // slice the span was cut from (R9), whose slots are initialized and
        // never written again (R4 for run buckets; pages and owned buffers
        // are immutable), so shared slices over them are valid.
        let ts = unsafe { std::slice::from_raw_parts(self.ts.add(lo), k) };
        match self.val {
            ValSrc::Direct(p) => {
                // SAFETY: as above.
                let vs = unsafe { std::slice::from_raw_parts(p.add(lo), k) };
                let it = ts.iter().zip(vs);
                if desc {
                    it.rev().fold(acc, |a, (&t, v)| f(a, t, v))
                } else {
                    it.fold(acc, |a, (&t, v)| f(a, t, v))
                }
            }
            ValSrc::Indirect(p) => {
                // SAFETY: as above; each pointer is a skiplist node's payload,
                // alive as long as its memtable (R6), which the snapshot holds.
                let vs = unsafe { std::slice::from_raw_parts(p.add(lo), k) };
                let it = ts.iter().zip(vs);
                if desc {
                    it.rev().fold(acc, |a, (&t, &v)| {
                        // SAFETY: a skiplist payload, alive with its memtable (R6).
                        f(a, t, unsafe { &*v })
                    })
                } else {
                    it.fold(acc, |a, (&t, &v)| {
                        // SAFETY: a skiplist payload, alive with its memtable (R6).
                        f(a, t, unsafe { &*v })
                    })
                }
            }
        }
    }
}

/// Out-of-order records of a memtable collected for one read: `cap`
/// timestamps, then `cap` sequences, then `cap` payload pointers, in one
/// allocation (the three arrays of a span). One allocation, not three:
/// a read that collects late records as it goes — `next(since(t))` over a
/// memtable with no view — allocated three vectors and two boxes, a
/// quarter of its instructions (callgrind, session 36).
#[derive(Debug)]
pub(crate) struct OooBuf<T> {
    /// `[ts; cap][seq; cap][val; cap]`, each entry one 8-byte word;
    /// dangling while `cap == 0`. The words stay where they are when the
    /// `OooBuf` moves, so a span of them stays valid.
    words: NonNull<u64>,
    len: usize,
    cap: usize,
    /// What a read has not collected yet (see [`OooMore`]); `None` when
    /// the buffer holds every record of the source.
    pub(crate) more: Option<OooMore<T>>,
    _val: PhantomData<*const T>,
}

// Timestamps, sequences and pointers each fit one word of the buffer.
const _: () = assert!(
    size_of::<Timestamp>() == 8
        && size_of::<SeqNo>() == 8
        && size_of::<*const u8>() <= 8
        && align_of::<*const u8>() <= 8
);

/// The layout of an [`OooBuf`] of `cap` entries.
fn ooo_buf_layout(cap: usize) -> Layout {
    Layout::array::<u64>(3 * cap).expect("a read's late-record buffer fits the address space")
}

impl<T> OooBuf<T> {
    fn empty() -> Self {
        Self { words: NonNull::dangling(), len: 0, cap: 0, more: None, _val: PhantomData }
    }

    /// Records collected.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn push(&mut self, ts: Timestamp, seq: SeqNo, v: &T) {
        if self.len == self.cap {
            self.grow();
        }
        let (w, i, c) = (self.words.as_ptr(), self.len, self.cap);
        // SAFETY: `i < c` (grown above), and each of the three arrays of
        // `c` words lies in the allocation (`ooo_buf_layout(c)`); a word
        // holds a timestamp, a sequence or a pointer (the assertion
        // above). The pointer is kept for the cursor's span: valid while
        // the cursor's snapshot holds the memtable (R6, R9).
        unsafe {
            w.add(i).cast::<Timestamp>().write(ts);
            w.add(c + i).write(seq);
            w.add(2 * c + i).cast::<*const T>().write(v as *const T);
        }
        self.len += 1;
    }

    /// Room for more entries: [`OOO_BUF_FIRST`] at first, then twice as many.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = if self.cap == 0 { OOO_BUF_FIRST } else { self.cap * 2 };
        let layout = ooo_buf_layout(cap);
        // SAFETY: `GlobalAlloc::alloc`'s contract: `layout` has a non-zero
        // size (`cap >= OOO_BUF_FIRST > 0`).
        let new = unsafe { alloc::alloc(layout) }.cast::<u64>();
        let Some(new) = NonNull::new(new) else { alloc::handle_alloc_error(layout) };
        if self.cap > 0 {
            let (old, n, c) = (self.words.as_ptr(), self.len, self.cap);
            // SAFETY: each of the old allocation's three arrays (`c` words)
            // starts with `n <= c` written words, and each of the new
            // one's has room for `cap > c`; a fresh allocation does not
            // overlap the old one, which `grow` allocated with
            // `ooo_buf_layout(c)` and nothing reads any more (no span of
            // it was handed out: a span is taken once collecting is done).
            unsafe {
                for k in 0..3 {
                    ptr::copy_nonoverlapping(old.add(k * c), new.as_ptr().add(k * cap), n);
                }
                alloc::dealloc(old.cast(), ooo_buf_layout(c));
            }
        }
        (self.words, self.cap) = (new, cap);
    }

    /// The buffer's records as one span (not empty).
    fn span(&self) -> Span<T> {
        debug_assert!(self.len > 0);
        let w = self.words.as_ptr().cast_const();
        // SAFETY: the offsets of the second and third arrays, within the
        // allocation (`ooo_buf_layout(cap)`).
        let (seq, val) = unsafe { (w.add(self.cap), w.add(2 * self.cap).cast::<*const T>()) };
        Span { ts: w.cast::<Timestamp>(), seq: SeqSrc::Arr(seq), val: ValSrc::Indirect(val), len: self.len }
    }
}

impl<T> Drop for OooBuf<T> {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: allocated by `grow` with this layout; its words own
            // nothing (timestamps, sequences, borrowed pointers).
            unsafe { alloc::dealloc(self.words.as_ptr().cast(), ooo_buf_layout(self.cap)) };
        }
    }
}

/// Skiplist nodes the first collection of a read that collects as it goes
/// visits at most (descending: about as many, [`ooo_chunk`]); each later
/// one visits twice as many as the one before, up to [`OOO_VISITS_MAX`].
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
const OOO_VISITS_FIRST: usize = 8;
/// Under the model checkers: one node, so that their few records are
/// collected over several steps of the merge.
#[cfg(any(timelog_loom, timelog_shuttle))]
const OOO_VISITS_FIRST: usize = 1;
const OOO_VISITS_MAX: usize = 1 << 14;

/// The late records of a read through a merged view that are newer than
/// the view (R13) — or, for a long or open-ended read with no view serving
/// it, all of them (R13 (5)) — and not collected yet. They are collected
/// while the cursor reads, a chunk at a time, when the merge needs them:
/// until then every record left comes at or after the
/// [`frontier`](Self::frontier) in reading order, which orders the source
/// in the merge. An ascending read walks the skiplist forward from the
/// frontier; a descending one steps back from it (`Ooo::range_back`: one
/// search, then a walk forward to the frontier). So the first rows of a
/// long read (`next(since(t))`, `next(log.all(reverse=True))`) visit a
/// bounded number of nodes, not every late record of its range (issue 10,
/// gap 3). Collecting later sees what collecting at once would have seen
/// (R13 (7)): the records of sequence at most the reader's watermark were
/// all in the skiplist when the reader took it (R5), its nodes are never
/// removed or moved while the memtable lives (R6), and the reader's
/// snapshot holds the memtable (R9); records inserted since have greater
/// sequences and are skipped. No tombstone the reader sees covers the
/// range (the plan reads through the view only then), so no coverage is
/// tested.
#[derive(Debug)]
pub(crate) struct OooMore<T> {
    /// The memtable, owned by the manifest of the snapshot the cursor
    /// holds (R9).
    mt: *const Memtable<T>,
    /// Ascending: every record not collected yet has a key `>= from`.
    /// Descending: every one has a key `< from`, and a timestamp at least
    /// `end`. `None` once the walk has reached the range's end.
    from: Option<(Timestamp, SeqNo)>,
    /// The range's last timestamp in reading order (its upper bound
    /// ascending, its lower bound descending).
    end: Timestamp,
    desc: bool,
    /// Sequences collected: `(after, w]` (the view's watermark, the
    /// reader's).
    after: SeqNo,
    w: SeqNo,
    /// Takes each chunk's share of building the memtable's view, for a
    /// long read that found none serving it (`Memtable::help_long`, R13
    /// (5)); a function pointer, as building one needs `T: Clone` and a
    /// cursor does not.
    help: Option<fn(&Memtable<T>, SeqNo, usize)>,
    /// Nodes the next collection may visit (descending: about as many).
    budget: usize,
    /// The chunks collected after the first, kept until the cursor is
    /// released: each is the storage of a span, and a run cut from one
    /// may still be read after the next is collected.
    chunks: Vec<OooBuf<T>>,
}

impl<T: Send + Sync + 'static> OooMore<T> {
    /// A key at or before (descending: after) every record left to
    /// collect, in reading order; once none is left, the last key in it.
    #[inline]
    pub(crate) fn frontier(&self) -> (Timestamp, SeqNo) {
        match (self.from, self.desc) {
            (Some(k), _) => k,
            (None, false) => (Timestamp::MAX, SeqNo::MAX),
            (None, true) => (Timestamp::MIN, 0),
        }
    }

    /// Whether the read collects descending.
    #[inline]
    pub(crate) fn is_desc(&self) -> bool {
        self.desc
    }

    /// Collects the next chunk — every record left with `all` — and returns
    /// its span, or `None` if the nodes it visited held none (then either
    /// nothing is left, or the frontier moved on).
    ///
    /// # Safety
    ///
    /// The memtable is alive: the caller holds the snapshot of the cursor
    /// this source belongs to (R9).
    pub(crate) unsafe fn fill(&mut self, all: bool) -> Option<Span<T>> {
        let from = self.from?;
        // SAFETY: the caller's contract (R9).
        let mt = unsafe { &*self.mt };
        let budget = if all { usize::MAX } else { self.budget };
        self.budget = (self.budget * 2).min(OOO_VISITS_MAX);
        let mut buf = OooBuf::empty();
        self.from = ooo_chunk(mt, from, self.end, self.desc, self.after, self.w, budget, &mut buf);
        if buf.is_empty() {
            return None;
        }
        // A share for a chunk the read collects to read it; none for
        // everything left at once (`Cursor::truncate`, which reads none).
        if let Some(help) = self.help.filter(|_| !all) {
            help(mt, self.w, buf.len());
        }
        let span = buf.span();
        self.chunks.push(buf);
        Some(span)
    }

    /// The records left to collect, counted up to `cap` (no more nodes
    /// visited than it takes).
    ///
    /// # Safety
    ///
    /// As for [`fill`](Self::fill).
    pub(crate) unsafe fn count_upto(&self, cap: usize) -> usize {
        let Some(from) = self.from else { return 0 };
        // SAFETY: the caller's contract (R9).
        let mt = unsafe { &*self.mt };
        let (after, w) = (self.after, self.w);
        let mut n = 0;
        let mut count = |seq| {
            n += usize::from(after < seq && seq <= w);
            n < cap
        };
        if cap > 0 && self.desc {
            // What is left lies in `[(end, 0), from)`: counted forward.
            mt.ooo_range_from(self.end, 0, from.0, |ts, seq, _| (ts, seq) < from && count(seq));
        } else if cap > 0 {
            mt.ooo_range_from(from.0, from.1, self.end, |_, seq, _| count(seq));
        }
        n
    }
}

/// Whether a skiplist record of sequence `seq` belongs to a collection of
/// the records of sequence in `(after, w]`.
#[inline(always)]
fn collected(seq: SeqNo, after: SeqNo, w: SeqNo) -> bool {
    // Seeded fault (verification/faults.sh): a record the reader's
    // snapshot does not see (inserted after it) is collected too.
    #[cfg(not(timelog_fault = "ooo_more_ignores_watermark"))]
    let seen = seq <= w;
    #[cfg(timelog_fault = "ooo_more_ignores_watermark")]
    let seen = w > 0;
    after < seq && seen
}

/// Collects into `buf`, in ascending order, a chunk of the skiplist
/// records of `mt` with a sequence in `(after, w]` (see [`OooMore`]).
/// Ascending: from key `from` (inclusive) up to timestamp `end`, visiting
/// at most `budget` nodes; returns the key to go on from, or `None` when
/// the walk reached `end` or the skiplist's end. Descending: from about
/// `budget` nodes before key `from` (not before timestamp `end`) up to
/// `from` (exclusive); returns the key where the chunk began, or `None`
/// when it began at `end`.
#[allow(clippy::too_many_arguments)]
fn ooo_chunk<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    from: (Timestamp, SeqNo),
    end: Timestamp,
    desc: bool,
    after: SeqNo,
    w: SeqNo,
    budget: usize,
    buf: &mut OooBuf<T>,
) -> Option<(Timestamp, SeqNo)> {
    debug_assert!(budget > 0);
    if desc {
        return mt.ooo_range_back(end, from, budget, |ts, seq, v| {
            if collected(seq, after, w) {
                buf.push(ts, seq, v);
            }
        });
    }
    let (mut left, mut resume) = (budget, None);
    mt.ooo_range_from(from.0, from.1, end, |ts, seq, v| {
        if collected(seq, after, w) {
            buf.push(ts, seq, v);
        }
        left -= 1;
        if left == 0 {
            // The key right after this node's (keys are unique).
            resume = match seq.checked_add(1) {
                Some(s) => Some((ts, s)),
                None => ts.checked_add(1).map(|t| (t, 0)),
            };
            return false;
        }
        true
    });
    resume
}

/// The spans of a source; one or two spans (a short range inside one page
/// or run bucket, or across the boundary of two, the common cases of small
/// reads; and the [`PAGES_AHEAD`] pages an ascending read cuts ahead) are
/// kept inline, without a heap allocation.
#[derive(Debug)]
pub(crate) enum Spans<T> {
    Zero,
    One(Span<T>),
    Two([Span<T>; 2]),
    Many(Vec<Span<T>>),
}

impl<T> Spans<T> {
    pub(crate) fn push(&mut self, s: Span<T>) {
        match self {
            Spans::Zero => *self = Spans::One(s),
            Spans::One(a) => *self = Spans::Two([*a, s]),
            Spans::Two([a, b]) => {
                let mut v = Vec::with_capacity(4);
                v.extend([*a, *b, s]);
                *self = Spans::Many(v);
            }
            Spans::Many(v) => v.push(s),
        }
    }

    /// Pushes the span of `mt`'s run from position `a` (`< b`) to the end
    /// of its bucket or `b`; returns its length.
    #[inline]
    fn push_run(&mut self, mt: &Memtable<T>, a: usize, b: usize) -> usize {
        let s = run_span(mt, a, b);
        let n = s.len;
        self.push(s);
        n
    }

    /// Drops the spans held, keeping a vector's allocation.
    fn clear(&mut self) {
        match self {
            Spans::Many(v) => v.clear(),
            _ => *self = Spans::Zero,
        }
    }

    /// Room for `more` spans besides those held, allocated at once when
    /// they will not fit inline (a read across pages: one span per page,
    /// where growing the vector one doubling at a time cost two
    /// reallocations for a `since(t)` over six pages).
    fn reserve(&mut self, more: usize) {
        let held = self.len();
        if held + more <= 2 {
            return;
        }
        match self {
            Spans::Many(v) => v.reserve(more),
            _ => {
                let mut v = Vec::with_capacity(held + more);
                v.extend_from_slice(self);
                *self = Spans::Many(v);
            }
        }
    }
}

impl<T> std::ops::Deref for Spans<T> {
    type Target = [Span<T>];
    #[inline]
    fn deref(&self) -> &[Span<T>] {
        match self {
            Spans::Zero => &[],
            Spans::One(s) => std::slice::from_ref(s),
            Spans::Two(s) => s,
            Spans::Many(v) => v,
        }
    }
}

/// Pages of segments (or buckets of a memtable run) an ascending read cuts
/// into spans ahead of its position: the rest of its visible positions
/// wait in [`Source::tail`] and are cut [`PAGES_AHEAD`] at a time as the
/// cursor reaches them ([`Source::refill`]), so that the first rows of
/// `since(t)` over a large log cost the same as those of a short range,
/// not one span per page (or bucket) up to the end of the log.
pub(crate) const PAGES_AHEAD: usize = 2;

/// Where pending positions are. Both are owned by the manifest of the
/// snapshot that planned the read, which the cursor holding the source
/// holds (R9).
#[derive(Debug)]
enum Store<T> {
    /// A segment's pages.
    Seg(*const Segment<T>),
    /// A memtable run's buckets (positions below its published length at
    /// planning, R4).
    Run(*const Memtable<T>),
}

impl<T> Store<T> {
    /// Cuts positions `[a, b)` of this store into `spans`, one span per
    /// page or bucket, until `spans` holds [`PAGES_AHEAD`] of them (at
    /// least one is cut); returns the first position not cut.
    ///
    /// # Safety
    ///
    /// The segment or memtable is alive for the call, and `[a, b)` are
    /// positions of it (of the run's published length, for a memtable).
    unsafe fn cut(self, spans: &mut Spans<T>, a: usize, b: usize) -> usize {
        match self {
            Store::Seg(seg) => {
                // SAFETY: alive (this function's contract).
                let seg = unsafe { &*seg };
                // Pages hold `page_cap` positions each (the last one fewer).
                let pages = PAGES_AHEAD.saturating_sub(spans.len()).max(1);
                let cut = ((seg.split(a).0 + pages) * seg.page_cap).min(b);
                seg.pieces(a, cut, |_, page, x, y| spans.push(page_span(seg, page, x, y)));
                cut
            }
            Store::Run(mt) => {
                // SAFETY: alive (this function's contract).
                let mt = unsafe { &*mt };
                let mut a = a;
                loop {
                    a += spans.push_run(mt, a, b);
                    if a >= b || spans.len() >= PAGES_AHEAD {
                        return a;
                    }
                }
            }
        }
    }
}

/// Visible positions `[a, b)` of a segment or a run, counted in
/// [`Source::count`] but not cut into spans yet (see [`PAGES_AHEAD`]).
#[derive(Debug)]
struct Pending<T> {
    store: Store<T>,
    a: usize,
    b: usize,
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Store<T> {}
impl<T> Clone for Pending<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Pending<T> {}

/// One source of a read: spans in ascending order, plus owned storage.
#[derive(Debug)]
pub(crate) struct Source<T> {
    pub(crate) spans: Spans<T>,
    pub(crate) buf: Option<Box<OooBuf<T>>>,
    /// Visible records of the source when planned: those of `spans` and of
    /// `tail` (an open skiplist source's later chunks are counted by the
    /// cursor as it collects them, not here).
    pub(crate) count: usize,
    /// Segment or run positions after `spans` (an ascending read that
    /// crosses more than [`PAGES_AHEAD`] pages or buckets of the source),
    /// in ascending order; `None` when nothing is pending. Boxed: a
    /// `Source` is moved a few times while a cursor is assembled,
    /// and the moves of a larger one went through `memcpy` (callgrind:
    /// about 90 instructions of a short range's read).
    tail: Option<Box<Tail<T>>>,
}

/// The pending positions of a [`Source`]: the next range to cut, then
/// `more[next..]`.
#[derive(Debug)]
struct Tail<T> {
    pending: Pending<T>,
    more: Vec<Pending<T>>,
    next: usize,
}

impl<T> Source<T> {
    fn new() -> Self {
        Self { spans: Spans::Zero, buf: None, count: 0, tail: None }
    }
    fn push(&mut self, s: Span<T>) {
        if s.len > 0 {
            self.count += s.len;
            self.spans.push(s);
        }
    }

    /// The rest of a skiplist source collected while the cursor reads
    /// ([`OooMore`]), if it may still hold records.
    #[inline]
    pub(crate) fn more(&mut self) -> Option<&mut OooMore<T>> {
        self.buf.as_mut()?.more.as_mut().filter(|m| m.from.is_some())
    }

    /// The rest of a skiplist source collected while the cursor reads,
    /// open or not.
    #[inline]
    pub(crate) fn more_ref(&self) -> Option<&OooMore<T>> {
        self.buf.as_ref()?.more.as_ref()
    }

    /// Whether [`more`](Self::more) is `Some`.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.more_ref().is_some_and(|m| m.from.is_some())
    }

    /// Whether positions wait to be cut into spans ([`refill`](Self::refill)).
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.tail.is_some()
    }

    /// Adds `[a, b)` of `store` after the pending positions.
    fn defer(&mut self, store: Store<T>, a: usize, b: usize) {
        let p = Pending { store, a, b };
        match &mut self.tail {
            None => self.tail = Some(Box::new(Tail { pending: p, more: Vec::new(), next: 0 })),
            Some(t) => t.more.push(p),
        }
    }

    /// The visible positions `[a, b)` of segment `seg`: cut into one span
    /// per page at once when they fit in [`PAGES_AHEAD`] pages of the
    /// source, or when not `lazy` (a descending read, which starts at the
    /// last one); else as [`defer_range`](Self::defer_range) cuts them.
    #[inline]
    fn add_segment_range(&mut self, seg: &Segment<T>, a: usize, b: usize, lazy: bool) {
        debug_assert!(a < b);
        let pages = seg.split(b - 1).0 - seg.split(a).0 + 1;
        if lazy && (self.has_pending() || self.spans.len() + pages > PAGES_AHEAD) {
            return self.defer_range(Store::Seg(seg), a, b);
        }
        if pages > 1 {
            self.spans.reserve(pages);
        }
        seg.pieces(a, b, |_, page, x, y| self.push(page_span(seg, page, x, y)));
    }

    /// The visible positions `[a, b)` of `mt`'s run, one span per bucket:
    /// all of them unless `lazy` (an ascending read, see
    /// [`defer_range`](Self::defer_range)).
    #[inline]
    fn add_run_range(&mut self, mt: &Memtable<T>, a: usize, b: usize, lazy: bool) {
        if lazy {
            return self.defer_range(Store::Run(mt), a, b);
        }
        let mut i = a;
        while i < b {
            i += self.spans.push_run(mt, i, b);
        }
        self.count += b - a;
    }

    /// The visible positions `[a, b)` of `store` in an ascending read:
    /// counted, cut into spans up to [`PAGES_AHEAD`] pages or buckets of
    /// the source when nothing is pending before them, the rest kept
    /// pending ([`refill`](Self::refill) cuts it as the cursor gets there).
    #[inline]
    fn defer_range(&mut self, store: Store<T>, a: usize, b: usize) {
        self.count += b - a;
        let a = if !self.has_pending() && self.spans.len() < PAGES_AHEAD {
            // SAFETY: `Store::cut`'s contract: the caller made the store
            // from a reference it holds for this call, and `[a, b)` are
            // visible positions of it.
            unsafe { store.cut(&mut self.spans, a, b) }
        } else {
            a
        };
        if a < b {
            self.defer(store, a, b);
        }
    }

    /// Replaces the spans (all read) with the next [`PAGES_AHEAD`] pages or
    /// buckets of the pending positions; `false` if none is pending. Only
    /// for the ascending reads that keep positions pending.
    pub(crate) fn refill(&mut self) -> bool {
        if !self.has_pending() {
            return false;
        }
        self.spans.clear();
        while self.spans.len() < PAGES_AHEAD {
            let Some(t) = self.tail.as_mut() else { break };
            let p = &mut t.pending;
            // SAFETY: `Store::cut`'s contract, by R9: the segment or
            // memtable is owned by the manifest of the snapshot that
            // planned this source, which the cursor reading it holds until
            // it is released, with this source (a run's pending positions
            // are below the length published then; R4: those slots never
            // change).
            p.a = unsafe { p.store.cut(&mut self.spans, p.a, p.b) };
            if p.a == p.b {
                match t.more.get(t.next) {
                    Some(&q) => {
                        t.pending = q;
                        t.next += 1;
                    }
                    None => self.tail = None,
                }
            }
        }
        true
    }
}

impl<T: Clone + Send + Sync + 'static> View<'_, T> {
    /// Plans the sources of `[lo, hi]` (inclusive bounds), oldest first,
    /// handing each non-empty one to `out` (the sources of
    /// [`View::sources`], cut into their visible spans by [`Vis`]). For an
    /// ascending read (not `desc`), a segment or run source's spans stop
    /// [`PAGES_AHEAD`] pages or buckets on, the rest pending
    /// ([`Source::refill`]).
    ///
    /// Inlined into its one caller, `Cursor::planned` (left to itself, the
    /// compiler stopped inlining it once `Cursor::new` also had the range
    /// plan: 60 instructions more per general plan, callgrind).
    #[inline(always)]
    pub(crate) fn plan(&self, lo: Timestamp, hi: Timestamp, desc: bool, mut out: impl FnMut(Source<T>)) {
        if lo > hi {
            return;
        }
        let cov = self.cov();
        let vis = Vis { w: self.w, cov: &cov };
        // Where no tombstone covers the range, a memtable with late records
        // is read through its merged view (R13) plus what came after it:
        // the memtable and the view's watermark, for its skiplist source.
        let use_merged = cov.overlapping(lo, hi).is_empty();
        // What the plan of a memtable's run decided for its skiplist, which
        // `sources` hands out next: the memtable, the watermark of the view
        // read (the skiplist then adds only the records newer than it), and
        // whether the read collects the skiplist as it goes, taking shares
        // of a view's build (`Memtable::merged_lazy`).
        let mut run_plan: Option<(*const Memtable<T>, Option<SeqNo>, bool)> = None;
        // The run records planned from the memtable whose skiplist comes
        // next (`sources` hands out a memtable's run, then its skiplist).
        let mut run_planned = 0;
        self.sources(lo, hi, |src| {
            let mut s = Source::new();
            match src {
                // L1 is one source: its segments are disjoint and sorted.
                SourceRef::L1(segs) => {
                    for seg in segs {
                        segment_spans(seg, lo, hi, &cov, &mut s, !desc);
                    }
                }
                SourceRef::L0(seg) => segment_spans(seg, lo, hi, &cov, &mut s, !desc),
                SourceRef::Run(mt) => {
                    let (m, helps) = if use_merged { mt.merged_lazy(self.w, lo, hi) } else { (None, false) };
                    run_plan = Some((mt, m.map(|m| m.w), helps));
                    match m {
                        Some(m) => {
                            merged_spans(m, lo, hi, &mut s);
                            // The run's positions after the view (sequences `> m.w`, R3).
                            if mt.run.len() > m.run_n {
                                let mut tail = Source::new();
                                run_spans(mt, &vis, lo, hi, m.run_n, &mut tail, !desc);
                                if tail.count > 0 {
                                    out(tail);
                                }
                            }
                        }
                        None => run_spans(mt, &vis, lo, hi, 0, &mut s, !desc),
                    }
                }
                // An empty skiplist: nothing to collect (checked here,
                // inline); nor for a point read its filter shows holds
                // nothing this view sees at `lo` (R6, "filter").
                SourceRef::Ooo(mt) if mt.ooo_is_empty() || (lo == hi && !mt.ooo_may_hold(lo)) => {}
                SourceRef::Ooo(mt) => {
                    // Read through the view: only the skiplist records newer
                    // than it, none if its greatest sequence is not (R7's
                    // `ooo_max_seq` argument, R13), and none before its late
                    // floor (R13 (6)): the walk starts there, if in range.
                    let (after, helps) = match run_plan {
                        Some((p, after, helps)) if std::ptr::eq(p, mt) => (after, helps),
                        _ => (None, false),
                    };
                    let buf = match after {
                        // Collected as the merge needs them (`OooMore`).
                        Some(w) => match mt.late_floor(w) {
                            Some(floor) if floor <= hi => ooo_first(mt, self.w, (lo.max(floor), hi), desc, w, helps),
                            _ => OooBuf::empty(),
                        },
                        // A long read with no view: every record, as the
                        // merge needs them (R13 (5), (7)).
                        None if helps => ooo_first(mt, self.w, (lo, hi), desc, 0, true),
                        None => ooo_collect(mt, &vis, lo, hi),
                    };
                    // A short read the view would have served, had it
                    // existed: its share of building one (R13 (5)). A long
                    // or open-ended one takes its shares as it reads past
                    // its first chunk (`OooMore::fill`): `next(since(t))`
                    // takes none.
                    if !helps && after.is_none() && use_merged {
                        mt.help_build(self.w, buf.len(), run_planned + buf.len());
                    }
                    if !buf.is_empty() {
                        s.push(buf.span());
                    }
                    if !buf.is_empty() || buf.more.is_some() {
                        // The buffer's words do not move when it does.
                        s.buf = Some(Box::new(buf));
                    }
                }
            }
            if matches!(src, SourceRef::Run(_)) {
                run_planned = s.count;
            }
            if s.count > 0 || s.is_open() {
                out(s);
            }
            true
        });
    }
}

/// The plan of a point read (`[ts, ts]`) or a short range when it needs
/// no source vector: see [`View::point_plan`] and [`View::range_plan`].
pub(crate) enum SpanPlan<T> {
    /// No visible record in the range.
    Empty,
    /// Every visible record of the range is in this one span of a segment
    /// page or of a memtable run's bucket.
    One(Span<T>),
    /// Anything else (records in two memtables, in a skiplist, or in more
    /// than one span): the general plan ([`View::plan`]).
    General,
}

impl<'a, T: Clone + Send + Sync + 'static> View<'a, T> {
    /// The plan of a point read in the common case, without the general
    /// plan's machinery (no `Source`, no merged-view lookup, no vector of
    /// sources): the segments are cut exactly as [`plan`](Self::plan)
    /// cuts them (`for_each_visible_segment`, R8), and a memtable either
    /// shows that it holds nothing at `ts` — its run's bounds (R3: sorted)
    /// and its skiplist's first key from `(ts, 0)` — or, when its run is
    /// the only place in the memtables that may hold `ts`, gives its
    /// visible positions at `ts` under the view's watermark, cut as
    /// `plan` cuts them (`for_each_visible_run`, R3, R5). Records at `ts`
    /// in two memtables, or in a skiplist, need the merge by sequence: the
    /// general plan ([`SpanPlan::General`]). What a memtable holds beyond
    /// the watermark only sends more reads to the general plan, never
    /// changes an answer.
    #[inline(always)]
    pub(crate) fn point_plan(&self, ts: Timestamp) -> SpanPlan<T> {
        // The memtables first, inline: a read they send to the general plan
        // has done nothing else twice (the coverage, the segments' searches).
        let mut held: Option<&Memtable<T>> = None;
        // Whether `mt` leaves the read a point plan.
        let mut judge = |mt: &'a Memtable<T>| {
            if run_tail_in(mt, ts, ts).is_some() {
                if held.is_some() {
                    return false;
                }
                held = Some(mt);
            }
            !ooo_may_hold(mt, ts)
        };
        if !judge(&self.m.active) || !self.m.sealed.iter().all(|mt| judge(mt)) {
            return SpanPlan::General;
        }
        self.segments_span_plan(ts, ts, None, held)
    }

    /// The plan of a range read `[lo, hi]` (`lo < hi`) whose visible
    /// records all lie in one span — a short read of flushed data, or of a
    /// memtable's in-order run — without the general plan's machinery, as
    /// [`point_plan`](Self::point_plan) plans a point read. The memtables
    /// are judged by their bounds alone: at most one run may meet the
    /// range (its first-to-last span, R3: sorted), and no skiplist's
    /// timestamp bounds may (R7), else the general plan; what a memtable
    /// holds beyond the watermark only sends more reads to the general
    /// plan. The held run and the segments are then cut exactly as
    /// [`plan`](Self::plan) cuts them (`for_each_visible_run`,
    /// `for_each_visible_segment`, R8).
    #[inline(always)]
    pub(crate) fn range_plan(&self, lo: Timestamp, hi: Timestamp) -> SpanPlan<T> {
        // Late records that may lie in the range, first: the cheapest
        // test, and the one a memtable with late records fails.
        let m = self.m;
        if m.active.ooo_may_overlap(lo, hi) || m.sealed.iter().any(|mt| mt.ooo_may_overlap(lo, hi)) {
            return self.viewed_range_plan(lo, hi);
        }
        let mut held: Option<&Memtable<T>> = None;
        for mt in std::iter::once(&*m.active).chain(m.sealed.iter().map(|mt| &**mt)) {
            if run_tail_in(mt, lo, hi).is_some() {
                if held.is_some() {
                    return SpanPlan::General;
                }
                held = Some(mt);
            }
        }
        self.segments_span_plan(lo, hi, None, held)
    }

    /// [`range_plan`](Self::range_plan) where a memtable's late records
    /// may lie in the range: one span still, when the memtable's merged
    /// view serves the reader (R13) and holds everything of the range the
    /// reader may see — as [`plan`](Self::plan) reads such a memtable
    /// (`merged_spans`), with nothing after the view in the range: no run
    /// position past the view's (`run_n`, R3: sorted, so the first one's
    /// timestamp bounds them all) and no skiplist record newer than the
    /// view from its late floor on (R13 (6)). As in `plan`, only where no
    /// tombstone the reader sees covers the range. Anything else (no view,
    /// a view still to be built — a short read's share of its build is
    /// taken by `plan` — or records after it) is the general plan. A short
    /// read of a late memtable being read, the state of every log with
    /// late records once its first reads built the view, then plans like
    /// one of in-order data (session 43: `window_late5`'s 10-row Python
    /// `for` loop took 477 instructions more than `window_inorder`'s).
    #[inline(never)]
    fn viewed_range_plan(&self, lo: Timestamp, hi: Timestamp) -> SpanPlan<T> {
        let m = self.m;
        let cov = self.cov();
        if !cov.overlapping(lo, hi).is_empty() {
            return SpanPlan::General;
        }
        let mut one: Option<Span<T>> = None;
        let mut held: Option<&Memtable<T>> = None;
        for mt in std::iter::once(&*m.active).chain(m.sealed.iter().map(|mt| &**mt)) {
            if mt.ooo_may_overlap(lo, hi) {
                let (Some(v), false) = mt.merged_lazy(self.w, lo, hi) else {
                    return SpanPlan::General;
                };
                let len = mt.run.len();
                if (len > v.run_n && mt.run.slot_at(v.run_n).ts() <= hi) || mt.late_floor(v.w).is_some_and(|f| f <= hi)
                {
                    return SpanPlan::General;
                }
                let mut s = Source::new();
                merged_spans(v, lo, hi, &mut s);
                match s.spans {
                    Spans::Zero => continue,
                    Spans::One(span) if one.is_none() && held.is_none() => one = Some(span),
                    _ => return SpanPlan::General,
                }
            } else if run_tail_in(mt, lo, hi).is_some() {
                if held.is_some() || one.is_some() {
                    return SpanPlan::General;
                }
                held = Some(mt);
            }
        }
        self.segments_span_plan(lo, hi, one, held)
    }

    /// [`point_plan`](Self::point_plan) and
    /// [`range_plan`](Self::range_plan) once the memtables are judged: the
    /// span of a memtable's view in `[lo, hi]` already cut (`one`), or of
    /// `held`'s run (the one memtable that may hold records of it), then
    /// the segments' spans.
    #[inline(never)]
    fn segments_span_plan(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        one: Option<Span<T>>,
        held: Option<&Memtable<T>>,
    ) -> SpanPlan<T> {
        let cov = self.cov();
        let mut one = one;
        if let Some(mt) = held {
            if !run_one_span(mt, &Vis { w: self.w, cov: &cov }, lo, hi, &mut one) {
                return SpanPlan::General;
            }
        }
        let mut general = false;
        let seg_span = |s: &Segment<T>, one: &mut Option<Span<T>>| {
            if lo == hi {
                segment_point_span(s, lo, &cov, one)
            } else {
                segment_one_span(s, lo, hi, &cov, one)
            }
        };
        self.sources_in(lo, hi, &cov, |src, _| {
            let ok = match src {
                SourceRef::L1(segs) => segs.iter().all(|s| seg_span(s, &mut one)),
                SourceRef::L0(s) => seg_span(s, &mut one),
                // Judged by `point_plan` or `range_plan`.
                SourceRef::Run(_) | SourceRef::Ooo(_) => true,
            };
            general |= !ok;
            ok
        });
        match (general, one) {
            (true, _) => SpanPlan::General,
            (false, Some(span)) => SpanPlan::One(span),
            (false, None) => SpanPlan::Empty,
        }
    }
}

/// The visible positions of `mt`'s run in `[lo, hi]` (the spans
/// [`run_spans`] would cut) into `one`, which holds nothing yet; `false`
/// if they are more than one span (a tombstone's hidden stretch inside
/// them, or the range crossing a bucket).
#[inline(never)]
fn run_one_span<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    vis: &Vis<'_>,
    lo: Timestamp,
    hi: Timestamp,
    one: &mut Option<Span<T>>,
) -> bool {
    let mut ok = true;
    for_each_visible_run(mt, vis, lo, hi, |a, b| {
        let s = run_span(mt, a, b);
        ok &= one.is_none() && s.len == b - a;
        *one = Some(s);
    });
    ok
}

/// The span of `mt`'s run positions from `a` to the end of `a`'s bucket or
/// `b`, whichever comes first (`a < b <= len`, published: R4).
#[inline]
fn run_span<T>(mt: &Memtable<T>, a: usize, b: usize) -> Span<T> {
    let s = mt.run.slice_at(a, b);
    Span { ts: s.ts, seq: SeqSrc::Arr(s.seq), val: ValSrc::Direct(s.val), len: s.len }
}

/// The visible records of `s` at `ts` (the spans [`segment_spans`] would
/// cut) into `one`; `false` if they, with what `one` held, are more than
/// one span.
fn segment_point_span<T>(s: &Segment<T>, ts: Timestamp, cov: &Coverage, one: &mut Option<Span<T>>) -> bool {
    // The common case: `ts` is not hidden from this segment (no interval
    // newer than what it applied covers it, R8), so its records at `ts`
    // are visible whole — one search and a scan of the equal run, not a
    // bounds search, a second (galloping) search and a position-to-page
    // split.
    if cov.hidden_end(ts, s.tomb_applied).is_none() {
        let mut ok = true;
        s.pieces_at(ts, |page, o, k| {
            if k > 0 {
                // A second span (from another segment, or the equal run
                // continuing into the next page): the general plan.
                ok = one.is_none();
                *one = Some(page_span(s, page, o, o + k));
            }
            ok
        });
        return ok;
    }
    let mut ok = true;
    let mut tmp = Source::new();
    segment_spans(s, ts, ts, cov, &mut tmp, true);
    match tmp.spans {
        Spans::Zero => {}
        Spans::One(span) if one.is_none() && !tmp.has_pending() => *one = Some(span),
        _ => ok = false,
    }
    ok
}

/// The visible records of `s` in `[lo, hi]` (the spans [`segment_spans`]
/// would cut) into `one`; `false` if they, with what `one` held, are more
/// than one span (a hidden stretch inside them, or the range crossing a
/// page).
fn segment_one_span<T>(
    s: &Segment<T>,
    lo: Timestamp,
    hi: Timestamp,
    cov: &Coverage,
    one: &mut Option<Span<T>>,
) -> bool {
    let mut ok = true;
    for_each_visible_segment(s, lo, hi, cov, |a, b| {
        // One page, tested first: a long range is sent to the general
        // plan without a walk over its pages.
        if !ok || one.is_some() || s.split(a).0 != s.split(b - 1).0 {
            ok = false;
            return;
        }
        s.pieces(a, b, |_, page, x, y| *one = Some(page_span(s, page, x, y)));
    });
    ok
}

/// Whether `mt`'s skiplist holds a record at `ts` that the view may see:
/// its filter first (R6, "filter": a clear bit proves none with a sequence
/// at or below the view's watermark), then a search (committed or not).
#[inline]
pub(crate) fn ooo_may_hold<T: Send + Sync + 'static>(mt: &Memtable<T>, ts: Timestamp) -> bool {
    if !mt.ooo_may_hold(ts) {
        return false;
    }
    let mut any = false;
    mt.ooo_range_from(ts, 0, ts, |_, _, _| {
        any = true;
        false
    });
    any
}

/// The visible records of `s` in `[t1, t2]` into `out`: ascending (`lazy`),
/// at most [`PAGES_AHEAD`] pages of the source cut into spans, the rest
/// pending.
fn segment_spans<T>(s: &Segment<T>, t1: Timestamp, t2: Timestamp, cov: &Coverage, out: &mut Source<T>, lazy: bool) {
    for_each_visible_segment(s, t1, t2, cov, |a, b| out.add_segment_range(s, a, b, lazy));
}

/// The span of positions `[x, y)` of `page`, a page of segment `s`: its
/// records order as the segment's `seq_hi` (R8).
#[inline]
fn page_span<T>(s: &Segment<T>, page: &Page<T>, x: usize, y: usize) -> Span<T> {
    Span {
        ts: page.timestamps()[x..y].as_ptr(),
        seq: SeqSrc::Const(s.seq_hi),
        val: ValSrc::Direct(page.payloads()[x..y].as_ptr()),
        len: y - x,
    }
}

/// The visible run positions of `[t1, t2]` from position `from` on.
/// Ascending (`lazy`), at most [`PAGES_AHEAD`] buckets are cut, the rest
/// pending.
fn run_spans<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    vis: &Vis<'_>,
    t1: Timestamp,
    t2: Timestamp,
    from: usize,
    out: &mut Source<T>,
    lazy: bool,
) {
    // One span per bucket touched, pushed as cut: no vector of slices in
    // between (it was allocated for every read of a memtable, even of one
    // slice).
    for_each_visible_run(mt, vis, t1, t2, |a, b| {
        let a = a.max(from);
        if a < b {
            out.add_run_range(mt, a, b, lazy);
        }
    });
}

/// The records of a memtable's merged view within `[t1, t2]`: one span.
/// Used only where no tombstone the reader sees covers the range, by a
/// reader whose watermark is at least the view's (R13), so every record
/// of the view is visible to it.
fn merged_spans<T>(m: &Merged<T>, t1: Timestamp, t2: Timestamp, out: &mut Source<T>) {
    let (a, b) = m.bounds(t1, t2);
    if a < b {
        out.push(Span {
            ts: m.ts[a..b].as_ptr(),
            seq: SeqSrc::Arr(m.seq[a..b].as_ptr()),
            // The view's own payload clones, alive as long as the memtable
            // (R13), which the snapshot holds (R9).
            val: ValSrc::Direct(m.val[a..b].as_ptr()),
            len: b - a,
        });
    }
}

/// First capacity of a read's late-record buffer (see `ooo_collect`):
/// 40 entries, 960 bytes, within glibc's per-thread cache of small blocks
/// (up to 1,032 bytes). At 64 (1,536 bytes) its allocation and free went
/// through the arena's bins: `freshpath 2000 since` 6,539,055 → 6,175,123
/// instructions with 40, the 1000-row ranges of `freshpath 512` +0.4%
/// (one growth for the reads with more than 40 late records).
const OOO_BUF_FIRST: usize = 40;

/// The visible skiplist records of `[t1, t2]`, collected at once: for a
/// read that neither goes through a view nor collects as it goes (a short
/// one, or one a tombstone it sees covers; the others take [`ooo_first`]).
#[inline]
fn ooo_collect<T: Send + Sync + 'static>(mt: &Memtable<T>, vis: &Vis<'_>, t1: Timestamp, t2: Timestamp) -> OooBuf<T> {
    let mut buf = OooBuf::empty();
    ooo_walk::<Asc, T>(mt, vis, t1, t2, |ts, seq, v| {
        buf.push(ts, seq, v);
        true
    });
    buf
}

/// The first chunk of the skiplist records of `[t1, t2]` newer than a
/// merged view of watermark `after` (0: a long read with no view, every
/// record) that a reader of watermark `w` sees, in reading order: from
/// `t1` up, or from `t2` down if `desc` ([`OooMore`]: the rest, if any, is
/// collected while the cursor reads, taking shares of the view's build if
/// `helps`). No tombstone the reader sees covers the range.
fn ooo_first<T: Clone + Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    (t1, t2): (Timestamp, Timestamp),
    desc: bool,
    after: SeqNo,
    helps: bool,
) -> OooBuf<T> {
    let mut buf = OooBuf::empty();
    // Descending, from a key after every key at `t2` (sequences never
    // reach `SeqNo::MAX`, as `Ooo::range_rev` argues).
    let (start, end) = if desc { ((t2, SeqNo::MAX), t1) } else { ((t1, 0), t2) };
    let from = ooo_chunk(mt, start, end, desc, after, w, OOO_VISITS_FIRST, &mut buf);
    if from.is_some() {
        buf.more = Some(OooMore {
            mt: mt as *const Memtable<T>,
            from,
            end,
            desc,
            after,
            w,
            help: if helps { Some(Memtable::help_long) } else { None },
            budget: 2 * OOO_VISITS_FIRST,
            chunks: Vec::new(),
        });
    }
    buf
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;
    use crate::tombstone::CovRef;
    use crate::tombstone::Tombstone;
    use crate::{Config, MaintenanceMode, Timelog};

    fn built(v: &View<'_, u64>) -> Vec<(Timestamp, Timestamp, SeqNo)> {
        let mut all: Vec<Tombstone> = v.m.tombstones.iter().copied().collect();
        for mt in v.memtables() {
            mt.tombs.for_each(|t| {
                if t.seq <= v.w {
                    all.push(*t)
                }
            });
        }
        Coverage::build(&mut all, Timestamp::MIN, Timestamp::MAX).ivs
    }

    fn is_cached(c: &CovRef) -> bool {
        matches!(c, CovRef::Cached(_))
    }

    /// The cache serves exactly the view it was built for (`N(w)`), for
    /// the live log and for snapshots with an older watermark, and a new
    /// delete invalidates the live entry but not the snapshot's.
    /// A late-record buffer keeps every entry across its growths (one
    /// allocation of three arrays, moved whole), and its span reads them.
    #[test]
    fn ooo_buf_grows_and_reads_back() {
        let vals: Vec<u64> = (0..1000).map(|i| i * 7).collect();
        let mut buf = OooBuf::empty();
        assert!(buf.is_empty());
        for (i, v) in vals.iter().enumerate() {
            buf.push(i as Timestamp - 500, i as SeqNo + 1, v);
        }
        let moved = Box::new(buf); // the words stay where they are
        let span = moved.span();
        assert_eq!((moved.len(), span.len), (1000, 1000));
        for (i, v) in vals.iter().enumerate() {
            // SAFETY: `i < len`; the buffer and `vals` are alive.
            let got = unsafe { (span.ts(i), span.seq(i), span.val(i) as *const u64) };
            assert_eq!(got, (i as Timestamp - 500, i as SeqNo + 1, v as *const u64));
        }
    }

    #[test]
    fn coverage_cache_serves_exactly_its_views() {
        let log: Timelog<u64> =
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for t in 0..1000 {
            let _ = log.append(t, t as u64).unwrap();
        }
        let s0 = log.snapshot().unwrap();
        assert!(matches!(s0.view().cov(), CovRef::Empty));
        let _ = log.delete_range(100, 200).unwrap();
        let s1 = log.snapshot().unwrap();
        let _ = log.delete_range(150, 300).unwrap();
        let s2 = log.snapshot().unwrap();
        for _ in 0..2 {
            // s2 sees both deletes: built once (complete), then served.
            let c = s2.view().cov();
            assert_eq!(c.ivs, built(&s2.view()));
            // s1 (older watermark) sees only the first.
            let c1 = s1.view().cov();
            assert_eq!(c1.ivs, vec![(100, 200, c1.ivs[0].2)]);
            assert_eq!(c1.ivs, built(&s1.view()));
        }
        assert!(is_cached(&s2.view().cov()) && is_cached(&s1.view().cov()));
        // A newer delete: the live entry no longer matches the head; the
        // older snapshots' entries still serve them.
        let _ = log.delete_range(500, 600).unwrap();
        let s3 = log.snapshot().unwrap();
        let c3 = s3.view().cov();
        assert!(!is_cached(&c3), "a new head must not be served the old entry");
        assert_eq!(c3.ivs, built(&s3.view()));
        assert_eq!(s2.view().cov().ivs, built(&s2.view()));
        assert_eq!(s1.view().cov().ivs, built(&s1.view()));
        assert_eq!(s3.view().cov().ivs, built(&s3.view()));
        // A flush publishes a new manifest (a new, empty cache); its
        // tombstones were applied to the segment and retired.
        log.flush().unwrap();
        let s4 = log.snapshot().unwrap();
        assert_eq!(s4.view().cov().ivs, built(&s4.view()));
        // The old manifest's snapshots keep their entries.
        assert_eq!(s3.view().cov().ivs, built(&s3.view()));
        assert!(is_cached(&s3.view().cov()));
    }

    /// The timestamps of `src`'s spans, refilled until nothing is pending.
    fn drain(src: &mut Source<u64>) -> Vec<Timestamp> {
        let mut out = Vec::new();
        loop {
            assert!(src.spans.len() <= PAGES_AHEAD || !src.has_pending(), "at most PAGES_AHEAD pages cut ahead");
            for sp in src.spans.iter() {
                // SAFETY: `i < len`; the snapshot owning the pages outlives
                // `src` in the caller (R9).
                out.extend((0..sp.len).map(|i| unsafe { sp.ts(i) }));
            }
            if !src.refill() {
                return out;
            }
        }
    }

    /// Plans `[lo, MAX]` of `snap` in both orders and checks each source:
    /// ascending, at most [`PAGES_AHEAD`] spans cut when planned;
    /// descending, nothing pending; in both, the count exact and the
    /// records, drained, exactly `want`.
    fn check_plans(snap: &crate::Snapshot<u64>, lo: Timestamp, want: &[Timestamp], what: &str) {
        for desc in [false, true] {
            let mut srcs = Vec::new();
            snap.view().plan(lo, Timestamp::MAX, desc, |src| srcs.push(src));
            let mut got = Vec::new();
            for mut src in srcs {
                let n = src.count;
                assert!(src.spans.len() <= PAGES_AHEAD || desc, "planned {} spans", src.spans.len());
                assert!(!desc || !src.has_pending(), "a descending read plans every page or bucket");
                let ts = drain(&mut src);
                assert_eq!(ts.len(), n, "count of the source");
                got.extend(ts);
            }
            got.sort_unstable();
            assert_eq!(got, want, "from {lo}, {what}, desc {desc}");
        }
    }

    /// An ascending read of segments cuts at most [`PAGES_AHEAD`] pages into
    /// spans when planned, however many it crosses (the first rows of
    /// `since(t)` over a large log), and the pending positions refill in
    /// order, exactly the visible records, with the count exact from the
    /// start; a descending read cuts every page at once. Over an L0 segment
    /// and over L1, with tombstones cutting the visible positions into
    /// ranges (inside a page and across pages).
    #[test]
    fn ascending_reads_cut_pages_as_they_go() {
        let cfg = Config { maintenance: MaintenanceMode::Disabled, target_page_bytes: 16 * 16, ..Config::default() };
        let log: Timelog<u64> = Timelog::with_config(cfg).unwrap();
        for t in 0..1_000 {
            let _ = log.append(t, t as u64).unwrap();
        }
        log.flush().unwrap();
        for (a, b) in [(100, 104), (130, 190), (400, 401), (700, 800)] {
            let _ = log.delete_range(a, b).unwrap();
        }
        let hidden =
            |t: Timestamp| [(100, 104), (130, 190), (400, 401), (700, 800)].iter().any(|&(a, b)| a <= t && t < b);
        for compacted in [false, true] {
            if compacted {
                log.flush().unwrap();
                log.compact().unwrap();
            }
            let snap = log.snapshot().unwrap();
            for lo in [0, 5, 99, 150, 399, 650, 990] {
                let want: Vec<Timestamp> = (lo..1_000).filter(|&t| !hidden(t)).collect();
                check_plans(&snap, lo, &want, &format!("compacted {compacted}"));
            }
        }
    }

    /// The same for a memtable's run: one span per bucket (64, 128, 256,
    /// … positions), at most [`PAGES_AHEAD`] of them cut when planned
    /// ascending, the rest refilled in order, the count exact; with
    /// tombstones in the memtable (the visible positions cut into ranges)
    /// and without, and a descending read cutting every bucket at once.
    #[test]
    fn ascending_reads_cut_run_buckets_as_they_go() {
        let hidden_by = [(100, 104), (130, 190), (900, 901), (1_700, 1_800)];
        for deletes in [false, true] {
            let log: Timelog<u64> =
                Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
            for t in 0..2_000 {
                let _ = log.append(t, t as u64).unwrap();
            }
            if deletes {
                for (a, b) in hidden_by {
                    let _ = log.delete_range(a, b).unwrap();
                }
            }
            let hidden = |t: Timestamp| deletes && hidden_by.iter().any(|&(a, b)| a <= t && t < b);
            let snap = log.snapshot().unwrap();
            for lo in [0, 5, 63, 64, 150, 899, 1_000, 1_990] {
                let want: Vec<Timestamp> = (lo..2_000).filter(|&t| !hidden(t)).collect();
                check_plans(&snap, lo, &want, &format!("deletes {deletes}"));
            }
        }
    }
}
