//! The k-way merge over planned sources, owning its snapshot.
//!
//! The merge emits *runs*: it picks the source whose head comes first, and
//! finds — by galloping (probes at +1, +2, +4, …, then a binary search)
//! inside that source's current span — how many of its records come
//! before the runner-up's head. Those records are handed out without any
//! further comparison. In-order data (one source, or disjoint ones) is one
//! run per span; data with late records costs one gallop per switch
//! between sources instead of a comparison of every head per record. A
//! read whose whole answer is one span of one source (a point, a short
//! range inside a page) is that run from the start: it keeps no sources
//! and never merges.
//!
//! The current run is cached in the cursor as scalars (its timestamps,
//! its payloads, a position `at` moving by `step` up to `end`), with a
//! *fast window* `at .. fast_end` of it: the records whose payloads are
//! in place, minus the cursor's very last record. [`Iterator::next`] on
//! the window is a comparison, the record's two loads and an increment,
//! like a slice iterator's. Outside it (a used-up run — the next one is
//! cut lazily, by the next read —, payloads reached through pointers, the
//! last record, whose read releases the snapshot at once) `next` takes an
//! inline slow path. Everything else is out of line and is handed the heap parts of
//! the merge, never the cursor's address: the merge step (`cut_run`) gets
//! the sources' slice, the release (`drop_parts`) gets the snapshot and
//! the source vector moved out by value, and the cursor's `Drop` goes
//! through the same release (its fields are `ManuallyDrop`, so no drop
//! glue takes the cursor's address either). That matters for a `for`
//! loop, whose cursor lives in the caller's frame: while no call in the
//! loop can see the cursor, the compiler keeps the run in registers;
//! otherwise it is loaded and stored through memory on every record.
//! The batch API, [`Iterator::fold`] and `skip` consume whole runs at a
//! time.
//!
//! One kind of source is not collected when planned: the late records
//! newer than a memtable's merged view, for a read through the view, and
//! all of them for a long read with no view (`plan::OooMore`). Until the
//! merge needs them, such a source stands in it with its *frontier*, a
//! key at or before (descending: at or after) every record it has left;
//! when the frontier comes first, the merge step collects the
//! source's next chunk and picks again. Their records are counted as
//! they are collected, so [`remaining`](Cursor::remaining) counts the rest
//! by walking it, and [`size_hint`](Iterator::size_hint) has no upper
//! bound while such a source is open.

use super::dir::{Asc, Desc, Dir};
use super::plan::{SeqSrc, Source, Span, SpanPlan, Spans, ValSrc};
use crate::query::snapshot::{Order, Snapshot};
use crate::{SeqNo, Timestamp};
use std::mem::ManuallyDrop;

/// Reading position inside one source.
struct SrcCursor<T> {
    src: Source<T>,
    /// Index of the current span (ascending numbering).
    si: usize,
    /// Records of the current span already read, in reading order.
    pos: usize,
    /// A copy of `src.spans[si]`; `len == 0` once done (planned spans are
    /// never empty).
    cur: Span<T>,
}

impl<T: Send + Sync + 'static> SrcCursor<T> {
    /// Starts at the first span in reading order; `src` has at least one,
    /// or is open (a skiplist source that has collected nothing yet: see
    /// [`fill`](Self::fill)).
    fn new(src: Source<T>, desc: bool) -> Self {
        let si = if desc { src.spans.len().wrapping_sub(1) } else { 0 };
        let cur = match src.spans.get(si) {
            Some(&s) => s,
            None => {
                debug_assert!(src.is_open());
                Span::EMPTY
            }
        };
        Self { src, si, pos: 0, cur }
    }

    /// A source whose collected records are all read (`cur.len == 0`)
    /// while it is open ([`Source::is_open`]), and whose frontier came
    /// first in the merge: collects its next chunk and makes it the
    /// current span. Returns the records collected (0: the frontier moved
    /// on, or nothing is left: then the source is done), and whether the
    /// source is no longer open (it has collected its last record).
    #[cold]
    #[inline(never)]
    fn fill(&mut self) -> (usize, bool) {
        debug_assert_eq!(self.cur.len, 0);
        let Some(m) = self.src.more() else { return (0, false) };
        // SAFETY: `OooMore::fill`'s contract: the cursor that owns this
        // source holds its snapshot until the source is dropped (R9).
        let got = match unsafe { m.fill(false) } {
            Some(span) => {
                self.start(span);
                span.len
            }
            None => 0,
        };
        (got, !self.src.is_open())
    }

    /// Makes `span`, a chunk just collected, the source's only span and
    /// the current one. (The source's planned `count` stays as planned:
    /// the cursor counts what is collected later, `Cut::added`.)
    fn start(&mut self, span: Span<T>) {
        self.src.spans = Spans::One(span);
        (self.si, self.pos, self.cur) = (0, 0, span);
    }

    /// Collects everything an open source has left, at once, after its
    /// current span whatever the position in it (for
    /// [`Cursor::truncate`], which needs every count). Returns the records
    /// collected; the source is no longer open.
    #[cold]
    fn close(&mut self) -> usize {
        let Some(m) = self.src.more() else { return 0 };
        // SAFETY: as in `fill` (R9).
        let Some(span) = (unsafe { m.fill(true) }) else { return 0 };
        if self.cur.len == 0 {
            self.start(span);
        } else {
            // An open source has one span, the chunk it reads (`si == 0`);
            // the rest comes after it in reading order.
            debug_assert!(self.si == 0 && self.src.spans.len() == 1);
            if self.src.more_ref().is_some_and(|m| m.is_desc()) {
                // Spans are numbered ascending: the rest goes first.
                self.src.spans = Spans::Two([span, self.cur]);
                self.si = 1;
            } else {
                self.src.spans.push(span);
            }
        }
        span.len
    }
}

impl<T> SrcCursor<T> {
    /// Moves to the next span in reading order. Past the last span,
    /// `cur.len` becomes 0, which `done()` reads.
    #[inline]
    fn next_span<D: Dir>(&mut self) {
        self.pos = 0;
        // Descending: walk spans from the last to the first; `si` wraps
        // past zero to `usize::MAX`, past the end like in ascending order.
        self.si = if D::DESC { self.si.wrapping_sub(1) } else { self.si + 1 };
        if let Some(s) = self.src.spans.get(self.si) {
            self.cur = *s;
        } else if !D::DESC && self.src.refill() {
            // The next pages (or run buckets) of an ascending read
            // (`Source::refill`); the run cut last stays valid: it points
            // into the pages or buckets, which the snapshot owns, not into
            // the spans replaced.
            self.si = 0;
            self.cur = self.src.spans[0];
        } else {
            self.cur.len = 0;
        }
    }

    /// Whether nothing is left: no record in the current span, none to
    /// collect.
    #[inline]
    fn done(&self) -> bool
    where
        T: Send + Sync + 'static,
    {
        self.cur.len == 0 && !self.src.is_open()
    }

    /// The key `(ts, seq)` of the next record in reading order (not done),
    /// or for an open source whose collected records are read, its
    /// frontier (a key at or before any record it has left).
    #[inline]
    fn head<D: Dir>(&self) -> (Timestamp, SeqNo)
    where
        T: Send + Sync + 'static,
    {
        if self.cur.len == 0 {
            return self.frontier();
        }
        let i = D::idx(self.cur.len, self.pos);
        // SAFETY: `pos < len` while not done, and the cursor holding this
        // source holds the snapshot that owns the span's storage (R9).
        unsafe { (self.cur.ts(i), self.cur.seq(i)) }
    }

    /// The frontier of an open source with nothing collected left.
    #[cold]
    fn frontier(&self) -> (Timestamp, SeqNo)
    where
        T: Send + Sync + 'static,
    {
        self.src.more_ref().expect("an open source").frontier()
    }

    /// How many records from the head on (at least one, at most the rest
    /// of the current span) come before `r` in reading order: galloping,
    /// then a binary search. The span is sorted by `(ts, seq)` (segment
    /// pages, run buckets with increasing sequences (R3), the sorted
    /// skiplist buffer), so "comes before `r`" holds on a prefix.
    #[inline]
    fn run_before<D: Dir>(&self, r: (Timestamp, SeqNo)) -> usize {
        let (span, pos) = (&self.cur, self.pos);
        let avail = span.len - pos;
        let before = |j: usize| {
            let i = D::idx(span.len, pos + j);
            // SAFETY: `pos + j < len` (callers probe `j < avail`); storage
            // held by the cursor's snapshot (R9).
            unsafe { D::key_before(span.ts(i), || span.seq(i), r) }
        };
        // The whole rest of the span (disjoint sources: one probe).
        if before(avail - 1) {
            return avail;
        }
        // `before(good)` holds (the head is the winner); find a failing probe.
        let (mut good, mut step) = (0, 1);
        let bad = loop {
            let p = good + step;
            if p >= avail - 1 {
                break avail - 1;
            }
            if !before(p) {
                break p;
            }
            good = p;
            step *= 2;
        };
        // The first failing position in (good, bad].
        let (mut lo, mut hi) = (good + 1, bad);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// An iterator over the visible records of a range, in timestamp order
/// (ascending or descending), that owns its [`Snapshot`].
///
/// It borrows nothing from the [`Timelog`](crate::Timelog): it can be stored
/// in a struct, sent to another thread (`T: Send + Sync`), and kept for as
/// long as needed. While it lives it pins the parts of the log its snapshot
/// references (see `docs/protocol.md`, R9); taking its last record (or
/// dropping it) releases them.
///
/// Among equal timestamps, records come in insertion (sequence) order when
/// ascending and in reverse insertion order when descending.
///
/// Reading one record at a time ([`Iterator::next`], [`next_with`](Self::next_with),
/// a `for` loop) takes records from the cursor's current run like a slice
/// iterator (see the module docs); [`Iterator::fold`] (and so `for_each`,
/// `sum`, …), `collect()` and the batch API
/// ([`next_batch_with`](Self::next_batch_with)) walk whole runs, in loops
/// the compiler can vectorize. [`size_hint`](Iterator::size_hint) is exact
/// at every point, and `collect()` into a `Vec` allocates once, exactly —
/// except while a memtable's late records are left to collect (a read
/// through its merged view, or a long read with none: see the module
/// docs): then [`remaining`](Cursor::remaining) counts them by walking
/// them, and `size_hint` has no upper bound.
pub struct Cursor<T: Send + Sync + 'static> {
    /// The fast window of [`Iterator::next`]: positions `at`, `at + step`,
    /// … up to `fast_end` (exclusive), read as `ts[i]` and `direct[i]`
    /// with no other test (kept as scalars so that the compiler keeps them
    /// in registers in a `for` loop). `step` is 1, or `usize::MAX` (minus
    /// one, wrapping) descending.
    at: usize,
    fast_end: usize,
    step: usize,
    ts: *const Timestamp,
    /// The run's payloads if they are in place (`ValSrc::Direct`), else
    /// null (and `fast_end == at`: the slow path reads them).
    direct: *const T,
    /// The current run: positions `at` … `end` (exclusive) of the span
    /// it was cut from (its payloads and length). `fast_end` is `end`,
    /// except for a run of indirect payloads (`at`) and for the last run
    /// of the cursor (`end - step`: the cursor's last record goes through
    /// the slow path, which releases the snapshot as it hands it out).
    /// `at == end` once the run is used up: the next run is cut lazily,
    /// by the next read. (No more fields than needed live here — the
    /// order is the sign of `step`, the last run is `rest == 0` — so that
    /// the state of a `for` loop fits in registers.)
    /// The run's payload pointers if they are not in place
    /// (`ValSrc::Indirect`: the memtable's late records), else null.
    indirect: *const *const T,
    len: usize,
    end: usize,
    /// Records collected and not yet moved into a run (bounded by
    /// `truncate`), plus [`OPEN`] while a live source still collects its
    /// records (`plan::OooMore`): then records may be left whatever the
    /// count, and `rest == 0` still means "nothing beyond the current
    /// run" in one comparison. (A flag of its own made the cursor a word
    /// larger: +13 instructions per short read, measured.)
    rest: usize,
    /// The sources: `srcs[..live]` still have records beyond the current
    /// run; the others are finished, and kept until the cursor is released
    /// (one of them may own the run's storage: `Source::buf`). Empty (never
    /// allocated) when the plan's only source was one span in storage the
    /// snapshot owns: that span is the current run (`single_span`).
    /// (`ManuallyDrop`: dropped only through `release`, see `Drop`.)
    srcs: ManuallyDrop<Vec<SrcCursor<T>>>,
    live: usize,
    snap: ManuallyDrop<Option<Snapshot<T>>>,
}

impl<T: Send + Sync + 'static> std::fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("sources", &self.live)
            .field("descending", &self.is_descending())
            .field("remaining", &self.remaining())
            .finish()
    }
}

// SAFETY: the raw pointers inside the spans, and a skiplist source's
// memtable pointer (`plan::OooMore`), point into storage owned by the
// snapshot the cursor holds (R9); that storage holds `T: Send + Sync`, and
// the cursor only hands out `&T`.
unsafe impl<T: Send + Sync + 'static> Send for Cursor<T> {}
// SAFETY: as above; `&Cursor` exposes only counts and `peek`'s `&T`. A
// count may walk a skiplist (`remaining`), which only reads it: the
// skiplist is built for readers beside its writers (R6), and the count
// changes nothing in the cursor.
unsafe impl<T: Send + Sync + 'static> Sync for Cursor<T> {}

/// The flag of [`Cursor`]'s `rest`: a live source still collects its
/// records. (Counts stay far below it: they count records in memory.)
const OPEN: usize = 1 << (usize::BITS - 1);

/// A run cut by [`cut_run`]: `n` records of `run` from position `at` on
/// (in reading order), and how many sources are still live after it;
/// `added` records were collected meanwhile, and `open` is [`OPEN`] if a
/// live source still collects records, else 0. `n == 0` only when no
/// source is left.
struct Cut<T> {
    run: Span<T>,
    at: usize,
    n: usize,
    live: usize,
    added: usize,
    open: usize,
}

/// The merge step: the source whose head comes first wins, and its
/// records before the runner-up's head (at most `rest`, plus what is
/// collected meanwhile) become the run. A source with nothing left after
/// it is swapped behind the live ones. An open source whose frontier wins
/// collects its next chunk first (`SrcCursor::fill`), and the step picks
/// again.
///
/// Out of line, cold, and handed only the sources' heap slice, so that
/// the caller's cursor never escapes (see the module docs).
///
/// # Safety
///
/// `srcs[..live]` are initialized and not otherwise borrowed for the call.
#[cold]
#[inline(never)]
unsafe fn cut_run<D: Dir, T: Send + Sync + 'static>(
    srcs: *mut SrcCursor<T>,
    live: usize,
    rest: usize,
    mut open: usize,
) -> Cut<T> {
    // SAFETY: the caller's contract: `srcs[..live]` are initialized
    // elements of the cursor's source vector, exclusively ours for the call.
    let all = unsafe { std::slice::from_raw_parts_mut(srcs, live) };
    let (mut live, mut added) = (live, 0);
    loop {
        let srcs = &mut all[..live];
        debug_assert!(!srcs.is_empty());
        let (k, runner) = pick::<D, T>(srcs);
        let s = &mut srcs[k];
        if s.cur.len == 0 {
            // An open source's frontier comes first: its next records
            // are not collected yet.
            let (got, ended) = s.fill();
            added += got;
            if s.done() {
                srcs.swap(k, live - 1);
                live -= 1;
                if live == 0 {
                    return Cut { run: Span::EMPTY, at: 0, n: 0, live, added, open: 0 };
                }
            }
            if ended && !all[..live].iter().any(|s| s.src.is_open()) {
                open = 0;
            }
            continue;
        }
        debug_assert!(rest + added > 0);
        let n = match runner {
            None => s.cur.len - s.pos,
            Some(r) => s.run_before::<D>(r),
        };
        let n = n.min(rest + added);
        let cut = Cut { run: s.cur, at: D::idx(s.cur.len, s.pos), n, live, added, open };
        s.pos += n;
        if s.pos == s.cur.len {
            s.next_span::<D>();
            if s.done() {
                // Kept (behind the live ones) until the cursor is released: its
                // owned buffer (a skiplist source) may hold the run just cut.
                srcs.swap(k, live - 1);
                return Cut { live: live - 1, ..cut };
            }
        }
        return cut;
    }
}

/// The source whose head comes first in `srcs` (not empty), and the
/// runner-up's head (`None`: one source).
#[inline(always)]
fn pick<D: Dir, T: Send + Sync + 'static>(srcs: &[SrcCursor<T>]) -> (usize, Option<(Timestamp, SeqNo)>) {
    if srcs.len() == 1 {
        (0, None)
    } else {
        let mut win = 0;
        let mut win_key = srcs[0].head::<D>();
        let mut second: Option<(Timestamp, SeqNo)> = None;
        for (i, s) in srcs.iter().enumerate().skip(1) {
            let key = s.head::<D>();
            if D::key_before(key.0, || key.1, win_key) {
                second = Some(win_key);
                win = i;
                win_key = key;
            } else if second.is_none_or(|r| D::key_before(key.0, || key.1, r)) {
                second = Some(key);
            }
        }
        (win, second)
    }
}

/// Drops what a released cursor held: out of line, and by value, so the
/// cursor's address does not escape (see the module docs).
#[cold]
#[inline(never)]
fn drop_parts<T>(snap: Option<Snapshot<T>>, srcs: Vec<SrcCursor<T>>) {
    drop(srcs);
    drop(snap);
}

impl<T: Clone + Send + Sync + 'static> Cursor<T> {
    /// A cursor over `lo ..= hi`: a point read (`lo == hi`) whose answer is
    /// in one span (of a segment page or a memtable run), or nowhere,
    /// planned without the general plan
    /// (`View::point_plan`), anything else by [`planned`](Self::planned)
    /// (`T: Clone`: a memtable with late records may be read through its
    /// merged view, which holds clones, R13).
    #[inline]
    pub(crate) fn new(snap: Snapshot<T>, lo: Timestamp, hi: Timestamp, desc: bool) -> Self {
        let plan = if lo == hi { snap.view().point_plan(lo) } else { snap.view().range_plan(lo, hi) };
        match plan {
            SpanPlan::One(span) => Self::assemble(snap, Vec::new(), span.len, Some(span), desc),
            SpanPlan::Empty => Self::assemble(snap, Vec::new(), 0, None, desc),
            SpanPlan::General => Self::planned(snap, lo, hi, desc),
        }
    }

    /// The cursor of the general plan (`View::plan`). Its own function, not
    /// inlined: the compiler then inlines the plan into it as it did before
    /// point reads had their own plan (with both in one function, a point
    /// read of a memtable cost 100–200 instructions more, measured).
    #[inline(never)]
    fn planned(snap: Snapshot<T>, lo: Timestamp, hi: Timestamp, desc: bool) -> Self {
        // The first source is kept aside: a read whose whole answer is one
        // span of one source (a short read of flushed or in-order data)
        // needs no source vector at all (see `single_span`). From the
        // second on, the vector is sized up front for the common case (a
        // memtable's two sources, an L0 segment, L1): the first push would
        // go through `Vec`'s generic growth path, about 200 instructions of
        // a short read.
        let mut first: Option<Source<T>> = None;
        let mut srcs = Vec::new();
        let mut rest = 0;
        snap.view().plan(lo, hi, desc, |src| {
            rest += src.count;
            if src.is_open() {
                rest |= OPEN;
            }
            if srcs.is_empty() {
                match first.take() {
                    None => {
                        first = Some(src);
                        return;
                    }
                    Some(f) => {
                        srcs.reserve_exact(4);
                        srcs.push(SrcCursor::new(f, desc));
                    }
                }
            }
            srcs.push(SrcCursor::new(src, desc));
        });
        let single = match first {
            Some(f) => match single_span(&f) {
                Some(span) => Some(span),
                None => {
                    srcs.reserve_exact(1);
                    srcs.push(SrcCursor::new(f, desc));
                    None
                }
            },
            None => None,
        };
        Self::assemble(snap, srcs, rest, single, desc)
    }

    /// The cursor over sources `srcs` holding `rest` records collected
    /// (with [`OPEN`] if some collect more), the first run being `single`
    /// when the whole answer is that one span.
    #[inline(always)]
    fn assemble(snap: Snapshot<T>, srcs: Vec<SrcCursor<T>>, rest: usize, single: Option<Span<T>>, desc: bool) -> Self {
        let mut c = Self {
            at: 0,
            fast_end: 0,
            step: if desc { usize::MAX } else { 1 },
            ts: std::ptr::null(),
            direct: std::ptr::null(),
            indirect: std::ptr::null(),
            len: 0,
            end: 0,
            rest,
            live: srcs.len(),
            srcs: ManuallyDrop::new(srcs),
            snap: ManuallyDrop::new(Some(snap)),
        };
        match single {
            // The whole answer is the first run: the merge step never runs.
            Some(span) => c.set_run(span, if desc { span.len - 1 } else { 0 }, span.len, 0),
            None => c.advance(),
        }
        c
    }
}

/// The one span of `src` when it is all the source holds and lives in
/// storage the snapshot owns (a segment's pages, a memtable's run or its
/// merged view, R9) — not in the source's own buffer (a skiplist source's
/// collected records, `Source::buf`), which the cursor would have to keep.
#[inline]
fn single_span<T>(src: &Source<T>) -> Option<Span<T>> {
    match (&src.spans, &src.buf) {
        (Spans::One(span), None) if !src.has_pending() => Some(*span),
        _ => None,
    }
}

impl<T: Send + Sync + 'static> Cursor<T> {
    /// The span of the current run (its sequences are not needed).
    #[inline(always)]
    fn run(&self) -> Span<T> {
        let val = if self.indirect.is_null() { ValSrc::Direct(self.direct) } else { ValSrc::Indirect(self.indirect) };
        Span { ts: self.ts, seq: SeqSrc::Const(0), val, len: self.len }
    }

    /// Records left in the current run.
    #[inline]
    fn run_left(&self) -> usize {
        // `(end - at) * step`: `end - at` ascending, `at - end` descending
        // (`step` is -1 as a wrapping `usize`).
        self.end.wrapping_sub(self.at).wrapping_mul(self.step)
    }

    /// Records left in the current run, after cutting the next run if
    /// this one is used up (0: the cursor is exhausted).
    #[inline]
    fn run_ready(&mut self) -> usize {
        if self.at == self.end {
            self.advance();
        }
        self.run_left()
    }

    /// Whether no record is left beyond the current run.
    #[inline(always)]
    fn last_run(&self) -> bool {
        // No live source means no record left, so `rest == 0` (it only
        // counts records of live sources, bounded by `truncate`).
        debug_assert!(self.rest == 0 || self.live > 0);
        self.rest == 0
    }

    /// Sets the fast window after `at`, `end` or the run changed (see the
    /// fields): the whole rest of a run of direct payloads, but nothing of
    /// an indirect run and not the cursor's last record.
    #[inline(always)]
    fn set_fast_end(&mut self) {
        self.fast_end = if self.direct.is_null() || self.at == self.end {
            self.at
        } else if self.last_run() {
            self.end.wrapping_sub(self.step)
        } else {
            self.end
        };
    }

    /// Number of records still to come. O(1) — counted when planned —
    /// except while a source collects its records as the merge needs
    /// them (a memtable's late records, for a read through its merged
    /// view or a long read with none: see the module docs): then the records
    /// it has not collected yet are counted by walking them, each call.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.remaining_upto(usize::MAX)
    }

    /// `remaining().min(cap)`, walking no more of an open source than
    /// that takes.
    #[inline]
    pub fn remaining_upto(&self, cap: usize) -> usize {
        let known = self.run_left() + (self.rest & !OPEN);
        if self.rest & OPEN == 0 || known >= cap {
            return known.min(cap);
        }
        known + self.uncounted(cap - known)
    }

    /// The records the open sources have not collected yet, counted up to
    /// `cap`.
    #[cold]
    #[inline(never)]
    fn uncounted(&self, cap: usize) -> usize {
        let mut n = 0;
        for s in &self.srcs[..self.live] {
            if let Some(m) = s.src.more_ref() {
                // SAFETY: `OooMore::count_upto`'s contract: `self` holds
                // the snapshot that owns the memtable (R9), a live
                // source's memtable being one of it.
                n += unsafe { m.count_upto(cap - n) };
            }
        }
        n
    }

    /// Whether the cursor knows that no record is left, in O(1): then
    /// `remaining() == 0`. While a source still collects its records (see
    /// [`remaining`](Self::remaining)) it may be false with none left: the
    /// next read finds out, returns `None` and releases the snapshot.
    #[inline]
    pub fn is_exhausted(&self) -> bool {
        self.run_left() == 0 && self.rest == 0
    }

    /// The payload the next read returns, if the current run holds it (no
    /// run is cut here: `None` also when the run is used up). A caller may
    /// use it to start loading what it will touch, ahead of the read.
    #[inline]
    pub fn peek(&self) -> Option<&T> {
        if self.at == self.end {
            return None;
        }
        // SAFETY: `at != end`: `at` is a position of the current run,
        // within its span, whose storage (the payload array, or for an
        // indirect run the skiplist nodes its pointers name, R6) the
        // snapshot held by `self` keeps alive (R9) while the returned
        // reference borrows `self` — as `Span::val` reads it.
        Some(unsafe {
            if self.indirect.is_null() {
                &*self.direct.add(self.at)
            } else {
                &**self.indirect.add(self.at)
            }
        })
    }

    /// The payload of the record `d` places after the next one (`d == 0`:
    /// the next one) if the fast window holds it — the current run's
    /// records whose payloads are in place, up to, not including, the
    /// cursor's last — else `None`; reads and advances nothing. For an
    /// embedder whose payloads point elsewhere: reading row `i`, it starts
    /// loading the target of row `i + d` ([`prefetch`](crate::segment::prefetch)),
    /// so a scan over payloads spread over memory waits for no miss (the
    /// Python iterator: a million-row `for` loop over objects allocated in
    /// no particular order four times faster, docs/performance.md).
    #[inline(always)]
    pub fn peek_window(&self, d: usize) -> Option<&T> {
        // Records left in the window: `(fast_end - at) * step`, as `run_left`.
        if d < self.fast_end.wrapping_sub(self.at).wrapping_mul(self.step) {
            // SAFETY: position `at + d * step` lies in the fast window
            // (checked above), whose payloads are direct (`direct` is the
            // current span's payload array) and within its span; the
            // snapshot held by `self` keeps the storage alive (R9) while
            // the returned reference borrows `self` — as `take_in_window`
            // reads it.
            Some(unsafe { &*self.direct.add(self.at.wrapping_add(d.wrapping_mul(self.step))) })
        } else {
            None
        }
    }

    /// Whether the cursor reads in descending timestamp order.
    pub fn is_descending(&self) -> bool {
        self.step != 1
    }

    /// The snapshot this cursor reads (`None` once exhausted or closed).
    pub fn snapshot(&self) -> Option<&Snapshot<T>> {
        self.snap.as_ref()
    }

    /// Yields at most `n` more records. (An open source collects all it
    /// has left first, so that every count is known — unless no more than
    /// `n` are left, counted without collecting: then nothing changes, and
    /// the sources go on collecting as the read goes.)
    pub fn truncate(&mut self, n: usize) {
        if self.rest & OPEN != 0 {
            if self.remaining_upto(n.saturating_add(1)) <= n {
                return;
            }
            self.close_all();
        }
        let left = self.run_left();
        if n < left {
            self.end = self.at.wrapping_add(self.step.wrapping_mul(n));
            self.rest = 0;
        } else {
            self.rest = self.rest.min(n - left);
        }
        if self.at == self.end {
            // The run is used up: cut the next one now, or — `n` reached,
            // or nothing left — release.
            self.advance();
        }
        self.set_fast_end();
    }

    /// Has every open source collect what it has left
    /// (`SrcCursor::close`), and drops those left with nothing.
    #[cold]
    #[inline(never)]
    fn close_all(&mut self) {
        self.rest &= !OPEN;
        let mut i = 0;
        while i < self.live {
            let s = &mut self.srcs[i];
            self.rest += s.close();
            if s.done() {
                // Kept behind the live ones, as `cut_run` keeps them.
                self.srcs.swap(i, self.live - 1);
                self.live -= 1;
            } else {
                i += 1;
            }
        }
    }

    /// Releases the snapshot early; the cursor then yields nothing.
    #[inline(always)]
    pub fn release(&mut self) {
        // `at == end`: the run (now dangling) is never read again.
        self.at = 0;
        self.end = 0;
        self.fast_end = 0;
        self.rest = 0;
        self.live = 0;
        // Moved out and dropped by value: see `drop_parts`. (Without a
        // snapshot, the sources were released with it.)
        if self.snap.is_some() {
            drop_parts(self.snap.take(), std::mem::take(&mut *self.srcs));
        }
    }

    /// Called when the current run is used up: makes the next run current,
    /// or — no record left — releases the snapshot, so that an exhausted
    /// cursor pins nothing (R9). The merge step itself is out of line
    /// ([`cut_run`]).
    #[inline]
    fn advance(&mut self) {
        debug_assert_eq!(self.at, self.end);
        if !self.last_run() {
            debug_assert!(self.live <= self.srcs.len());
            let (srcs, live, rest, open) = (self.srcs.as_mut_ptr(), self.live, self.rest & !OPEN, self.rest & OPEN);
            // SAFETY: `srcs[..live]` are initialized elements of the vector
            // (`live <= len` always); the vector is not touched while the
            // merge step runs.
            let c = unsafe {
                if self.is_descending() {
                    cut_run::<Desc, T>(srcs, live, rest, open)
                } else {
                    cut_run::<Asc, T>(srcs, live, rest, open)
                }
            };
            self.live = c.live;
            if c.n > 0 {
                self.set_run(c.run, c.at, c.n, (rest + c.added - c.n) | c.open);
                return;
            }
            // Only open sources were left, and they had nothing more.
            debug_assert!(self.live == 0 && rest + c.added == 0);
        }
        self.release();
    }

    /// Makes `n` records of `run` from position `at` on (in reading
    /// order) the current run, with `rest` records left after it.
    #[inline(always)]
    fn set_run(&mut self, run: Span<T>, at: usize, n: usize, rest: usize) {
        self.ts = run.ts;
        (self.direct, self.indirect) = match run.val {
            ValSrc::Direct(p) => (p, std::ptr::null()),
            ValSrc::Indirect(p) => (std::ptr::null(), p),
        };
        self.len = run.len;
        self.at = at;
        self.end = at.wrapping_add(self.step.wrapping_mul(n));
        self.rest = rest;
        self.set_fast_end();
    }

    /// Folds the next `k <= run_left()` records of the current run, then
    /// moves to the next run if this one is done.
    #[inline]
    fn fold_run<B>(&mut self, k: usize, acc: B, f: impl FnMut(B, Timestamp, &T) -> B) -> B {
        debug_assert!(k <= self.run_left());
        crate::hooks::visit(k);
        let at = self.at;
        let desc = self.is_descending();
        let lo = if desc { at + 1 - k } else { at };
        self.at = at.wrapping_add(self.step.wrapping_mul(k));
        // SAFETY: `[lo, lo + k)` lies within the run's span (the run was
        // cut from it by `cut_run`, `k <= run_left()`), and the snapshot
        // that owns the span's storage is held by `self` (R9) until the
        // `advance` below, after the fold.
        let acc = unsafe { self.run().fold_in(lo, k, desc, acc, f) };
        if self.at == self.end {
            self.advance();
        } else {
            self.set_fast_end();
        }
        acc
    }

    /// Advances by one record and hands it to `f` while the snapshot is
    /// still pinned. Returns `None` when exhausted.
    ///
    /// The fast path — a record of the fast window — is a comparison, the
    /// record's two loads and an increment; everything else (a used-up
    /// run, an indirect payload, the last record) is the inline slow path.
    #[inline(always)]
    pub fn next_with<R>(&mut self, f: impl FnOnce(Timestamp, &T) -> R) -> Option<R> {
        if self.at != self.fast_end {
            return Some(self.take_in_window(f));
        }
        self.next_slow(f)
    }

    /// [`next_with`](Self::next_with)'s fast path alone: the next record
    /// when it lies in the fast window, else `None` with nothing changed
    /// (the caller then calls `next_with`). A record read here is never
    /// the cursor's last, so the cursor still holds its snapshot and at
    /// least one record afterwards. For a caller with a cheaper path of
    /// its own for such rows (the Python iterator's `__next__`).
    #[inline(always)]
    pub fn next_in_window<R>(&mut self, f: impl FnOnce(Timestamp, &T) -> R) -> Option<R> {
        if self.at != self.fast_end {
            return Some(self.take_in_window(f));
        }
        None
    }

    /// Reads the fast window's next record (`at != fast_end`).
    #[inline(always)]
    fn take_in_window<R>(&mut self, f: impl FnOnce(Timestamp, &T) -> R) -> R {
        let i = self.at;
        debug_assert!(i != self.fast_end);
        self.at = i.wrapping_add(self.step);
        crate::hooks::visit(1);
        // SAFETY: `i` is in the fast window (the caller checked `at !=
        // fast_end`): a position of the current run (between `at` and
        // `end`) whose payloads are direct (`direct` is the span's payload
        // array), within its span; the snapshot held by `self` keeps the
        // storage alive (R9) while `f` borrows the payload (the window
        // never holds the cursor's last record, whose read releases the
        // snapshot).
        unsafe { f(*self.ts.add(i), &*self.direct.add(i)) }
    }

    /// [`next_with`](Self::next_with) outside the fast window: cuts the
    /// next run if this one is used up, reads an indirect payload, and
    /// releases the snapshot after the last record. Inline (it must not
    /// see the cursor's address, see the module docs), but its calls are
    /// out of line and cold.
    #[inline(always)]
    fn next_slow<R>(&mut self, f: impl FnOnce(Timestamp, &T) -> R) -> Option<R> {
        if self.at == self.end {
            self.advance();
            if self.at == self.end {
                return None;
            }
        }
        let i = self.at;
        self.at = i.wrapping_add(self.step);
        crate::hooks::visit(1);
        let run = self.run();
        // SAFETY: `i` is a position of the current run (`at != end`), within
        // its span, whose storage the snapshot held by `self` keeps alive
        // (R9) until the `release` below; the payload is borrowed only for
        // the call of `f`.
        let r = unsafe { f(run.ts(i), run.val(i)) };
        if self.at == self.end && self.last_run() {
            self.release();
        } else {
            self.set_fast_end();
        }
        Some(r)
    }

    /// Hands up to `n` records to `f`; returns how many.
    ///
    /// (`#[inline]`: without it, a caller in another codegen unit than the
    /// instance calls it, and `f` is not inlined into the loop over the
    /// run — measured: 2.8 → 5.6 instructions and 0.22 → 1.8 ns per record,
    /// the loop no longer vectorized.)
    #[inline]
    pub fn next_batch_with(&mut self, n: usize, mut f: impl FnMut(Timestamp, &T)) -> usize {
        let mut want = n;
        loop {
            let k = self.run_ready().min(want);
            if k == 0 {
                break;
            }
            self.fold_run(k, (), |(), ts, v| f(ts, v));
            want -= k;
        }
        n - want
    }

    /// Skips up to `n` records without visiting payloads; returns how many.
    #[inline]
    pub fn skip(&mut self, n: usize) -> usize {
        let mut want = n;
        loop {
            let k = self.run_ready().min(want);
            if k == 0 {
                break;
            }
            crate::hooks::visit(k);
            self.at = self.at.wrapping_add(self.step.wrapping_mul(k));
            want -= k;
            if self.at == self.end {
                self.advance();
            } else {
                self.set_fast_end();
            }
        }
        n - want
    }
}

/// The cursors of a snapshot. Written here, beside the cursor they build,
/// so that `snapshot.rs` does not import this file (the cursor owns a
/// snapshot; a snapshot only hands itself over): no import circle in the
/// query layer.
impl<T: Clone + Send + Sync + 'static> Snapshot<T> {
    /// A cursor over `lo ..= hi` (inclusive bounds; empty if `lo > hi`).
    pub fn cursor(&self, lo: Timestamp, hi: Timestamp, order: Order) -> Cursor<T> {
        Cursor::new(self.clone(), lo, hi, order == Order::Desc)
    }

    /// Like [`cursor`](Self::cursor), consuming the snapshot (no clone).
    pub fn into_cursor(self, lo: Timestamp, hi: Timestamp, order: Order) -> Cursor<T> {
        Cursor::new(self, lo, hi, order == Order::Desc)
    }

    /// Records in the half-open range `[t1, t2)`; empty if `t1 >= t2`.
    pub fn range(&self, t1: Timestamp, t2: Timestamp, order: Order) -> Cursor<T> {
        let b = crate::Bounds::half_open(t1, t2);
        self.cursor(b.lo, b.hi, order)
    }

    /// Records with timestamp `>= t` (up to and including `i64::MAX`).
    pub fn since(&self, t: Timestamp, order: Order) -> Cursor<T> {
        self.cursor(t, Timestamp::MAX, order)
    }

    /// Records with timestamp `< t`.
    pub fn until(&self, t: Timestamp, order: Order) -> Cursor<T> {
        let b = crate::Bounds::until(t);
        self.cursor(b.lo, b.hi, order)
    }

    /// Every visible record.
    pub fn all(&self, order: Order) -> Cursor<T> {
        self.cursor(Timestamp::MIN, Timestamp::MAX, order)
    }
}

impl<T: Send + Sync + 'static> Drop for Cursor<T> {
    #[inline(always)]
    fn drop(&mut self) {
        // Moved out and dropped by value (see `release`), so a `for` loop's
        // cursor is not handed by address to the drop glue either.
        self.release();
    }
}

impl<T: Clone + Send + Sync + 'static> Iterator for Cursor<T> {
    type Item = (Timestamp, T);

    /// The current run's next record; the merge step runs (out of line)
    /// only when the run is used up.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_with(|ts, v| (ts, v.clone()))
    }

    /// Exact — the count planned, minus what was handed out — except
    /// while a source collects its records as the merge needs them: then
    /// the records collected, and no upper bound (see
    /// [`remaining`](Cursor::remaining), which counts them all).
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.run_left() + (self.rest & !OPEN);
        (n, if self.rest & OPEN == 0 { Some(n) } else { None })
    }

    /// [`remaining`](Cursor::remaining), without cloning a payload.
    #[inline]
    fn count(self) -> usize {
        self.remaining()
    }

    /// Skips `n` records run by run, without cloning their payloads.
    #[inline]
    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        if Cursor::skip(self, n) < n {
            return None;
        }
        self.next()
    }

    /// Skips to the last record without cloning the others.
    #[inline]
    fn last(mut self) -> Option<Self::Item> {
        let n = self.remaining();
        self.nth(n.checked_sub(1)?)
    }

    /// Walks whole runs (see the module docs). (`try_fold` cannot be
    /// overridden on stable Rust — `std::ops::Try` is unstable — so the
    /// adapters built on it use `next`, which reads the cached run.)
    #[inline]
    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        loop {
            let k = self.run_ready();
            if k == 0 {
                return acc;
            }
            acc = self.fold_run(k, acc, |a, ts, v| f(a, (ts, v.clone())));
        }
    }

    /// Collects run by run (the batch path) into a `Vec` of the exact
    /// size, then hands it to `B` as a `vec::IntoIter`: `Vec` (and
    /// `VecDeque`, `Box<[_]>`, `BTreeMap`, …) take that buffer over without
    /// a copy, so `collect::<Vec<_>>()` costs what the batch API costs.
    /// (`Vec`'s own collection of an iterator that is not `TrustedLen` —
    /// an unstable trait — is a `next` loop that checks the capacity and
    /// stores the length per record.) Other collections read the buffer
    /// once more (one allocation of the range's size more than before).
    #[inline]
    fn collect<B: FromIterator<Self::Item>>(self) -> B {
        B::from_iter(self.into_vec())
    }
}

impl<T: Clone + Send + Sync + 'static> Cursor<T> {
    /// The records still to come, in order, in a `Vec` of exactly that
    /// many (`collect` of this cursor): the runs are walked as by
    /// [`next_batch_with`](Self::next_batch_with), each record written in
    /// place without a capacity test.
    #[inline]
    fn into_vec(mut self) -> Vec<(Timestamp, T)> {
        // Exact, unless a source still collects its records: `reserve`
        // below grows the vector for those.
        let mut out: Vec<(Timestamp, T)> = Vec::with_capacity(self.size_hint().0);
        loop {
            let k = self.run_ready();
            if k == 0 {
                return out;
            }
            // A no-op when the count was exact; it is what makes the
            // writes below sound whatever the count.
            out.reserve(k);
            let (base, mut len) = (out.as_mut_ptr(), out.len());
            self.fold_run(k, (), |(), ts, v| {
                // SAFETY: `len < out.len() + k <= capacity` (reserved
                // above; `fold_run` hands out exactly `k` records).
                unsafe { base.add(len).write((ts, v.clone())) };
                len += 1;
            });
            // SAFETY: the `k` slots after the old length were written
            // above. (If a `clone` panics, the records written before it
            // are leaked, not dropped twice.)
            unsafe { out.set_len(len) };
        }
    }
}

/// Once `next` returns `None` it always does: an exhausted cursor has
/// released its snapshot and has no run.
impl<T: Clone + Send + Sync + 'static> std::iter::FusedIterator for Cursor<T> {}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use crate::{Config, MaintenanceMode, Order, Snapshot, Timelog, Timestamp};

    /// A log whose reads cross every kind of boundary the cursor's fast
    /// path has: small pages (many spans per segment), two overlapping L0
    /// segments, a memtable run and late records in the memtable (runs cut
    /// by the merge every few records), a deleted stretch (a gap inside a
    /// segment), and duplicate timestamps. Returns the log and its records
    /// in ascending (timestamp, insertion) order.
    fn log() -> (Timelog<u64>, Vec<(Timestamp, u64)>) {
        let cfg = Config { maintenance: MaintenanceMode::Disabled, target_page_bytes: 64, ..Config::default() };
        let log = Timelog::with_config(cfg).unwrap();
        let mut all = Vec::new();
        let put = |ts: Timestamp, all: &mut Vec<(Timestamp, u64)>| put_next(&log, ts, all);
        for t in 0..600 {
            put(t, &mut all);
            if t % 7 == 0 {
                put(t, &mut all); // a duplicate timestamp
            }
        }
        log.flush().unwrap();
        for t in 600..1200 {
            put(t, &mut all);
            if t % 13 == 0 {
                put(t - 550, &mut all); // late, overlapping the first segment
            }
        }
        log.flush().unwrap();
        for t in 1200..1800 {
            put(t, &mut all);
            if t % 9 == 0 {
                put(t - 300, &mut all); // late, in the memtable's skiplist
            }
        }
        let _ = log.delete_range(100, 140).unwrap();
        all.retain(|r| !(100..140).contains(&r.0));
        all.sort_by_key(|r| r.0); // stable: insertion order among equal timestamps
        let s = log.stats().unwrap();
        assert!(s.segments_l0 == 2 && s.ooo_records > 0 && s.active_records > 0, "{s:?}");
        // A long read (away from the tombstone: a view serves only ranges
        // no tombstone covers), read in full, builds the memtable's merged
        // view (in shares, R13 (5)): every read below is planned in full,
        // so its counts are exact. (A read that collects late records as it
        // goes has its own fixture, `newer_than_the_view`.)
        log.snapshot().unwrap().range(600, Timestamp::MAX, Order::Desc).for_each(drop);
        (log, all)
    }

    /// Appends `(ts, n)` to `log` and to `all`, `n` the records before it.
    fn put_next(log: &Timelog<u64>, ts: Timestamp, all: &mut Vec<(Timestamp, u64)>) {
        let v = all.len() as u64;
        let _ = log.append(ts, v).unwrap();
        all.push((ts, v));
    }

    fn want(all: &[(Timestamp, u64)], lo: Timestamp, hi: Timestamp, order: Order) -> Vec<(Timestamp, u64)> {
        let mut w: Vec<_> = all.iter().copied().filter(|r| lo <= r.0 && r.0 < hi).collect();
        if order == Order::Desc {
            w.reverse(); // equal timestamps: reverse insertion order
        }
        w
    }

    const ORDERS: [Order; 2] = [Order::Asc, Order::Desc];

    /// `next` across every span and run boundary, both orders: the right
    /// records, `size_hint`/`len` exact after every step, and the snapshot
    /// released exactly when the last record is taken.
    #[test]
    fn next_crosses_every_boundary_with_exact_size_hint() {
        let (log, all) = log();
        let snap = log.snapshot().unwrap();
        for order in ORDERS {
            for (lo, hi) in [(Timestamp::MIN, Timestamp::MAX), (95, 145), (590, 1210), (1199, 1200), (0, 1)] {
                let w = want(&all, lo, hi, order);
                let mut c = snap.range(lo, hi, order);
                assert_eq!(c.size_hint(), (w.len(), Some(w.len())));
                for (i, r) in w.iter().enumerate() {
                    assert!(c.snapshot().is_some(), "pinned until the last record ({order:?} [{lo}, {hi}) at {i})");
                    assert_eq!(c.next(), Some(*r), "{order:?} [{lo}, {hi}) at {i}");
                    let left = w.len() - i - 1;
                    assert_eq!((c.size_hint(), c.remaining(), c.is_exhausted()), ((left, Some(left)), left, left == 0));
                }
                assert!(c.snapshot().is_none(), "taking the last record releases ({order:?} [{lo}, {hi}))");
                assert_eq!(c.next(), None);
                assert_eq!(c.next(), None, "fused");
            }
        }
    }

    /// `peek` names the payload the next read returns, or nothing (at a
    /// run boundary and once exhausted) — across direct runs (segments,
    /// the memtable's run) and indirect ones (late records), both orders;
    /// `peek_window(d)` names the payload `d` records on while the fast
    /// window holds it, and nothing past the window: never past the
    /// current run, an indirect (late) payload, or the cursor's last
    /// record.
    #[test]
    fn peek_and_peek_window_name_the_payloads_ahead() {
        let (log, all) = log();
        let snap = log.snapshot().unwrap();
        for order in ORDERS {
            for (lo, hi) in [(Timestamp::MIN, Timestamp::MAX), (1490, 1510), (7, 8)] {
                let w = want(&all, lo, hi, order);
                let mut c = snap.range(lo, hi, order);
                let (mut named, mut windowed) = (0, 0);
                for (i, r) in w.iter().enumerate() {
                    if let Some(v) = c.peek() {
                        assert_eq!(*v, r.1, "{order:?} [{lo}, {hi}) at {r:?}");
                        named += 1;
                    }
                    let mut seen = 0;
                    for d in 0..40 {
                        if let Some(v) = c.peek_window(d) {
                            assert_eq!(seen, d, "{order:?} [{lo}, {hi}) at {r:?}: the window has no hole");
                            assert_eq!(*v, w[i + d].1, "{order:?} [{lo}, {hi}) at {r:?} + {d}");
                            seen += 1;
                        }
                    }
                    if seen > 0 {
                        windowed += 1;
                        assert!(i + seen < w.len(), "the last record is never in the window");
                    }
                    assert_eq!(c.next(), Some(*r));
                }
                assert_eq!((c.peek(), c.peek_window(0)), (None, None), "exhausted");
                // Only run boundaries name nothing; pages and the
                // memtable's run are windows, late records not.
                assert!(named * 2 > w.len(), "{order:?} [{lo}, {hi}): {named} of {}", w.len());
                if w.len() > 100 {
                    assert!(windowed * 2 > w.len(), "{order:?} [{lo}, {hi}): {windowed} of {}", w.len());
                }
            }
        }
    }

    /// Empty ranges (no data, an inverted or empty interval, a deleted
    /// stretch): nothing is yielded, nothing stays pinned.
    #[test]
    fn empty_ranges_yield_nothing_and_pin_nothing() {
        let (log, _) = log();
        let snap: Snapshot<u64> = log.snapshot().unwrap();
        for order in ORDERS {
            for (lo, hi) in [(5000, 6000), (-10, 0), (7, 7), (100, 140), (101, 102)] {
                let mut c = snap.range(lo, hi, order);
                assert!(c.snapshot().is_none(), "{order:?} [{lo}, {hi})");
                assert_eq!((c.size_hint(), c.remaining(), c.is_exhausted()), ((0, Some(0)), 0, true));
                assert_eq!(c.next(), None);
                assert_eq!(snap.range(lo, hi, order).last(), None);
                assert_eq!(snap.range(lo, hi, order).nth(1), None);
                assert_eq!(snap.range(lo, hi, order).count(), 0);
                assert!(snap.range(lo, hi, order).collect::<Vec<_>>().is_empty());
                assert_eq!(snap.range(lo, hi, order).fold(0, |n, _| n + 1), 0);
            }
        }
    }

    /// Ranges over every kind of source of `log()`: all of it (late
    /// records read through the skiplist's payload pointers, since a
    /// tombstone covers part of the range), the deleted stretch's edges,
    /// the overlap of the two segments with the memtable, one record.
    const RANGES: [(Timestamp, Timestamp); 5] =
        [(Timestamp::MIN, Timestamp::MAX), (95, 145), (590, 1210), (1150, 1800), (1199, 1200)];

    /// How far each test reads with `next` before handing the cursor to
    /// the method under test: every count up to 40 (the pages of `log()`
    /// hold a few records each, so this crosses many run boundaries, where
    /// the next run is cut lazily, by the next read), a few farther, and
    /// all but the last record, and all of them.
    fn prefixes(n: usize) -> impl Iterator<Item = usize> {
        (0..=40).chain([97, 150, n.saturating_sub(1), n]).filter(move |&k| k <= n)
    }

    /// A cursor over `[lo, hi)` of `snap` that has read `prefix` by `next`
    /// (checked record by record): what each test hands to the method
    /// under test.
    fn after_prefix(
        snap: &Snapshot<u64>,
        lo: Timestamp,
        hi: Timestamp,
        order: Order,
        prefix: &[(Timestamp, u64)],
    ) -> super::Cursor<u64> {
        let mut c = snap.range(lo, hi, order);
        for r in prefix {
            assert_eq!(c.next().as_ref(), Some(r));
        }
        c
    }

    /// `collect()` (the batch path into an exact `Vec`, handed over as a
    /// `vec::IntoIter`) into a `Vec`, a `VecDeque`, a `BTreeMap` and a
    /// `HashMap`, after every prefix read by `next`, both orders: the same
    /// records as the reference, and the `Vec` allocated once, exactly.
    #[test]
    fn collect_after_next_matches_reference_in_every_collection() {
        use std::collections::{BTreeMap, HashMap, VecDeque};
        let (log, all) = log();
        let snap = log.snapshot().unwrap();
        for order in ORDERS {
            for (lo, hi) in RANGES {
                let w = want(&all, lo, hi, order);
                for k in prefixes(w.len()) {
                    let at = || after_prefix(&snap, lo, hi, order, &w[..k]);
                    let rest = &w[k..];
                    let v: Vec<_> = at().collect();
                    assert_eq!(v, rest, "{order:?} [{lo}, {hi}) after {k}");
                    assert_eq!(v.capacity(), rest.len(), "exact allocation, {order:?} [{lo}, {hi}) after {k}");
                    let d: VecDeque<_> = at().collect();
                    assert!(d.iter().eq(rest.iter()), "{order:?} [{lo}, {hi}) after {k}");
                    let m: BTreeMap<_, _> = at().map(|(ts, v)| (v, ts)).collect();
                    assert_eq!(m, rest.iter().map(|&(ts, v)| (v, ts)).collect(), "{order:?} [{lo}, {hi}) after {k}");
                    let h: HashMap<_, _> = at().collect::<Vec<_>>().into_iter().map(|(ts, v)| (v, ts)).collect();
                    let h2: HashMap<_, _> = at().map(|(ts, v)| (v, ts)).collect();
                    assert_eq!(h, h2);
                    let b: Box<[_]> = at().collect();
                    assert_eq!(&*b, rest);
                }
            }
        }
    }

    /// The overridden `fold`, `for_each`, `count`, `nth`, `last` and
    /// `collect` agree with `std`'s default implementations (the same
    /// cursor behind an iterator that forwards only `next`) and with the
    /// reference, after every prefix read by `next`, both orders; the
    /// adapters built on `try_fold` (`take`, `position`, `all`) too.
    #[test]
    fn overridden_methods_match_the_defaults() {
        let (log, all) = log();
        let snap = log.snapshot().unwrap();
        for order in ORDERS {
            for (lo, hi) in RANGES {
                let w = want(&all, lo, hi, order);
                for k in prefixes(w.len()) {
                    let ctx = format!("{order:?} [{lo}, {hi}) after {k}");
                    let at = || after_prefix(&snap, lo, hi, order, &w[..k]);
                    // `std`'s defaults, built on `next` alone.
                    let dflt = || {
                        let mut c = at();
                        std::iter::from_fn(move || c.next())
                    };
                    let rest = &w[k..];
                    let hash = |a: u64, (ts, v): (Timestamp, u64)| a.wrapping_mul(31).wrapping_add(ts as u64 ^ v);
                    let want_fold = rest.iter().copied().fold(7, hash);
                    assert_eq!(at().fold(7, hash), want_fold, "fold, {ctx}");
                    assert_eq!(dflt().fold(7, hash), want_fold, "default fold, {ctx}");
                    let mut seen = Vec::new();
                    at().for_each(|r| seen.push(r));
                    assert_eq!(seen, rest, "for_each, {ctx}");
                    assert_eq!((at().count(), dflt().count()), (rest.len(), rest.len()), "count, {ctx}");
                    assert_eq!((at().last(), dflt().last()), (rest.last().copied(), rest.last().copied()), "{ctx}");
                    for n in [0, 1, 2, 17, rest.len().saturating_sub(1), rest.len(), rest.len() + 3] {
                        let mut c = at();
                        let mut d = dflt();
                        assert_eq!(c.nth(n), rest.get(n).copied(), "nth({n}), {ctx}");
                        assert_eq!(d.nth(n), rest.get(n).copied(), "default nth({n}), {ctx}");
                        // Where `nth` left the cursor, the rest follows.
                        let tail = rest.get(n + 1..).unwrap_or(&[]);
                        assert_eq!(c.remaining(), tail.len(), "len after nth({n}), {ctx}");
                        assert_eq!(c.collect::<Vec<_>>(), tail, "after nth({n}), {ctx}");
                    }
                    let third = rest.len() / 3;
                    assert_eq!(at().take(third).collect::<Vec<_>>(), rest[..third], "take, {ctx}");
                    assert_eq!(
                        Iterator::skip(at(), third).fold(7, hash),
                        rest[third..].iter().copied().fold(7, hash),
                        "{ctx}"
                    );
                    let needle = rest.get(third).copied();
                    assert_eq!(at().position(|r| Some(r) == needle), needle.map(|_| third), "position, {ctx}");
                    assert!(at().all(|r| lo <= r.0 && r.0 < hi), "all, {ctx}");
                }
            }
        }
    }

    /// `next`, `next_batch_with`, `skip`, `nth`, `truncate` interleaved at
    /// random, both orders: every step yields the expected records and
    /// keeps `size_hint` exact; `last` and `collect` (one allocation of the
    /// exact size) agree with the reference.
    #[test]
    fn mixed_consumers_keep_position_and_size_hint() {
        let (log, all) = log();
        let snap = log.snapshot().unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n) as usize
        };
        for order in ORDERS {
            let w = want(&all, Timestamp::MIN, Timestamp::MAX, order);
            assert_eq!(snap.all(order).last(), w.last().copied());
            let v: Vec<_> = snap.all(order).collect();
            assert_eq!((v.len(), v.capacity()), (w.len(), w.len()), "collect allocates once, exactly");
            assert_eq!(v, w);
            for round in 0..20 {
                let mut c = snap.all(order);
                let mut i = 0;
                if round % 4 == 3 {
                    let n = rnd(w.len() as u64);
                    c.truncate(n);
                    assert_eq!(c.remaining(), n);
                }
                let end = c.remaining();
                while i < end {
                    match rnd(4) {
                        0 => {
                            assert_eq!(c.next(), Some(w[i]), "{order:?} next at {i}");
                            i += 1;
                        }
                        1 => {
                            let mut got = Vec::new();
                            let k = c.next_batch_with(1 + rnd(60), |ts, v| got.push((ts, *v)));
                            assert_eq!(got, w[i..i + k], "{order:?} batch at {i}");
                            i += k;
                        }
                        2 => i += crate::Cursor::skip(&mut c, rnd(60)),
                        _ => {
                            let n = rnd(40);
                            let r = c.nth(n);
                            assert_eq!(r, w.get(i + n).filter(|_| i + n < end).copied(), "{order:?} nth at {i}");
                            i = (i + n + 1).min(end);
                        }
                    }
                    let left = end.saturating_sub(i);
                    assert_eq!(c.size_hint(), (left, Some(left)), "{order:?} at {i}");
                }
                assert!(c.snapshot().is_none() && c.next().is_none());
            }
        }
    }

    /// A point read (`[t, t]`) planned by `View::point_plan`, and a short
    /// range planned by `View::range_plan`, read what the general plan
    /// (`Cursor::planned`, `View::plan`) reads for the same range, in both
    /// orders, in every state a log goes through — duplicates across a
    /// page boundary and across a run's bucket boundary, overlapping L0
    /// segments, records in a memtable's run and skiplist, deletes over
    /// flushed and unflushed records, after compaction, records of a
    /// timestamp in two memtables' runs, a snapshot older than some of
    /// the run's records, and a late memtable read through its merged view
    /// (`View::viewed_range_plan`).
    #[test]
    fn point_and_range_plans_agree_with_the_general_plan() {
        // Small pages (64 records): runs of equal timestamps cross them.
        let cfg = Config { maintenance: MaintenanceMode::Disabled, target_page_bytes: 1024, ..Config::default() };
        let log: Timelog<u64> = Timelog::with_config(cfg.clone()).unwrap();
        let mut id = 0u64;
        let mut add = |log: &Timelog<u64>, t: Timestamp, n: usize| {
            for _ in 0..n {
                id += 1;
                let _ = log.append(t, id).unwrap();
            }
        };
        for t in 0..300 {
            add(&log, t * 2, (t % 4) as usize + 1);
        }
        // Across pages, and across the run's bucket at position 960 (750
        // records before it).
        add(&log, 700, 250);
        let check_snap = |snap: &Snapshot<u64>, phase: &str| {
            for t in -2..805 {
                for order in ORDERS {
                    let general = |hi: Timestamp| {
                        super::Cursor::planned(snap.clone(), t, hi, order == Order::Desc).collect::<Vec<_>>()
                    };
                    // An empty range (`[t, t - 1]`), a point, then ranges
                    // inside a page, across one (64 records) and across
                    // several.
                    for k in [0, 1, 2, 3, 12, 70, 300] {
                        let got: Vec<_> = snap.range(t, t + k, order).collect();
                        assert_eq!(got, general(t + k - 1), "{phase}: [{t}, {}), {order:?}", t + k);
                    }
                }
            }
        };
        let check = |log: &Timelog<u64>, phase: &str| check_snap(&log.snapshot().unwrap(), phase);
        check(&log, "memtable");
        log.flush().unwrap();
        check(&log, "one L0 segment");
        for t in (30..300).step_by(3) {
            add(&log, t * 2, 2); // the same timestamps again, in the run
        }
        add(&log, 11, 1);
        add(&log, 4, 3); // late, below the run's first record: the skiplist alone
        add(&log, 90, 1); // late, inside the run's bounds
        check(&log, "segment and memtable");
        let _ = log.delete_range(100, 140).unwrap();
        let _ = log.delete_point(700).unwrap();
        add(&log, 120, 2);
        check(&log, "deletes over both");
        log.flush().unwrap();
        check(&log, "two overlapping L0 segments");
        log.compact().unwrap();
        check(&log, "compacted");
        add(&log, 800, 3);
        let snap = log.snapshot().unwrap();
        add(&log, 800, 2); // beyond the snapshot's watermark
        add(&log, 802, 1);
        check_snap(&snap, "a snapshot older than the run's newest records");
        assert_eq!(snap.range(800, 801, Order::Asc).count(), 3);
        drop(snap);
        check(&log, "the run's records at 800, all seen");
        // Small memtables, sealed as they fill: the records of a timestamp
        // end up in two memtables' runs.
        let cfg = Config { memtable_max_bytes: 4096, ..cfg };
        let log: Timelog<u64> = Timelog::with_config(cfg).unwrap();
        for t in 0..400 {
            add(&log, t / 4, 1);
        }
        let st = log.stats().unwrap();
        assert!(st.sealed_runs >= 2 && st.segments_l0 == 0, "{st:?}");
        check(&log, "records at one timestamp in two memtables' runs");
        // A hole in an in-order run, no late record near it: the run's
        // visible positions in a range are two stretches.
        let log: Timelog<u64> =
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for t in 0..400 {
            add(&log, t, 1);
        }
        let _ = log.delete_range(200, 203).unwrap();
        check(&log, "a hole in the run");
        // A memtable with late records whose merged view a full scan built
        // (R13): short ranges inside the view plan as one span of it
        // (`viewed_range_plan`), and read what the general plan reads —
        // also with records after the view (an in-order append past it, a
        // late record newer than it), a tombstone over part of it, a
        // snapshot older than the view, and a flushed segment beside it.
        let log: Timelog<u64> =
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for t in 0..600 {
            add(&log, t, 1);
            if t % 5 == 4 {
                add(&log, t - 3 - (t % 7), 1); // late, by a few positions
            }
        }
        let old = log.snapshot().unwrap();
        add(&log, 590, 1); // late, after `old`: the view is newer than it
        log.snapshot().unwrap().all(Order::Asc).for_each(drop);
        let snap = log.snapshot().unwrap();
        assert!(snap.view().m.active.merged_existing(snap.watermark()).is_some(), "the full scan built the view");
        let n = snap.range(100, 110, Order::Asc).count();
        assert!(
            matches!(snap.view().range_plan(100, 109), super::SpanPlan::One(s) if s.len == n && n > 10),
            "a short range inside a view that serves the reader is one span of it"
        );
        assert!(
            matches!(old.view().range_plan(100, 109), super::SpanPlan::General),
            "a reader older than the view is not served by it"
        );
        check_snap(&snap, "a late memtable read through its view");
        check_snap(&old, "a snapshot older than the view");
        drop((snap, old));
        add(&log, 600, 2); // the run after the view
        check(&log, "the run's records after the view");
        add(&log, 300, 1); // a late record newer than the view
        check(&log, "a late record newer than the view");
        let _ = log.delete_range(250, 260).unwrap();
        check(&log, "a tombstone over the view");
        log.flush().unwrap();
        for t in 601..700 {
            add(&log, t, 1);
            if t % 5 == 4 {
                add(&log, t - 3, 1);
            }
        }
        log.snapshot().unwrap().all(Order::Asc).for_each(drop);
        check(&log, "a viewed memtable beside a flushed segment");
    }

    /// A read whose answer is one span of one source (here: inside one
    /// page of a flushed, compacted log, or of an in-order memtable run)
    /// plans no source vector and never runs the merge step; it reads
    /// like any other cursor in both orders, with `skip`, `truncate`,
    /// `fold` and `next` mixed, and releases its snapshot with its last
    /// record. A read across pages (several spans) still gets the vector.
    #[test]
    fn one_span_reads_plan_no_sources() {
        let log: Timelog<u64> =
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for t in 0..1000 {
            let _ = log.append(t, t as u64 * 10).unwrap();
            let _ = log.append(t, t as u64 * 10 + 1).unwrap(); // two records per timestamp
        }
        let ours = |log: &Timelog<u64>, lo: Timestamp, hi: Timestamp, order: Order| {
            let mut w: Vec<(Timestamp, u64)> =
                (lo.max(0)..hi.min(1000)).flat_map(|t| [(t, t as u64 * 10), (t, t as u64 * 10 + 1)]).collect();
            if order == Order::Desc {
                w.reverse();
            }
            let c = log.range(lo, hi, order).unwrap();
            (w, c)
        };
        for flushed in [false, true] {
            if flushed {
                log.flush().unwrap();
                log.compact().unwrap();
            }
            for order in ORDERS {
                for (lo, hi) in [(500, 501), (10, 13), (0, 1), (999, 1000)] {
                    let (w, c) = ours(&log, lo, hi, order);
                    assert_eq!((c.srcs.capacity(), c.live, c.rest), (0, 0, 0), "{flushed} {order:?} [{lo}, {hi})");
                    assert_eq!(c.collect::<Vec<_>>(), w, "{flushed} {order:?} [{lo}, {hi})");
                    for k in 0..=w.len() {
                        let (w, mut c) = ours(&log, lo, hi, order);
                        assert_eq!(super::Cursor::skip(&mut c, k), k);
                        assert_eq!(c.remaining(), w.len() - k);
                        let mut d = ours(&log, lo, hi, order).1;
                        d.truncate(k);
                        assert_eq!(
                            d.fold(Vec::new(), |mut v, r| {
                                v.push(r);
                                v
                            }),
                            w[..k]
                        );
                        let mut got = Vec::new();
                        while let Some(r) = c.next() {
                            assert!(c.snapshot().is_some() || c.is_exhausted());
                            got.push(r);
                        }
                        assert!(c.snapshot().is_none(), "released with the last record");
                        assert_eq!(got, w[k..]);
                    }
                }
                // The whole memtable run: several buckets, so several spans
                // (flushed, the log fits one page: one span again).
                let (w, c) = ours(&log, Timestamp::MIN, Timestamp::MAX, order);
                assert_eq!(c.srcs.capacity() > 0, !flushed, "{flushed} {order:?}");
                assert_eq!(c.collect::<Vec<_>>(), w);
            }
        }
    }

    /// A memtable whose merged view a long read built, then more records,
    /// late ones among them (a burst of 90 at one timestamp, so that chunk
    /// boundaries fall among equal timestamps); a snapshot taken then, and
    /// more late records after it. Returns the log, the snapshot, and the
    /// records each sees, in ascending (timestamp, insertion) order.
    #[allow(clippy::type_complexity)]
    fn newer_than_the_view() -> (Timelog<u64>, Snapshot<u64>, Vec<(Timestamp, u64)>, Vec<(Timestamp, u64)>) {
        let cfg = Config { maintenance: MaintenanceMode::Disabled, memtable_max_bytes: 64 << 20, ..Config::default() };
        let log = Timelog::with_config(cfg).unwrap();
        let mut all = Vec::new();
        let put = |ts: Timestamp, all: &mut Vec<(Timestamp, u64)>| put_next(&log, ts, all);
        for t in 0..3000 {
            put(if t % 10 == 3 { t - 1 - (t * 7) % 300 } else { t }, &mut all);
        }
        let sorted = |all: &[(Timestamp, u64)]| {
            let mut v = all.to_vec();
            v.sort_by_key(|r| r.0);
            v
        };
        let snap = log.snapshot().unwrap();
        // A full read builds the view, in shares as it reads (R13 (5)).
        let mut desc = snap.all(Order::Desc).collect::<Vec<_>>();
        desc.reverse();
        assert_eq!(desc, sorted(&all), "the long read builds the view");
        for t in 3000..4000 {
            put(if t % 3 == 0 { t - 1 - (t * 13) % 2500 } else { t }, &mut all);
            if t == 3500 {
                for _ in 0..90 {
                    put(1234, &mut all);
                }
            }
        }
        let snap = log.snapshot().unwrap();
        let seen = sorted(&all);
        for t in 0..400 {
            put(t * 9 + 1, &mut all);
        }
        (log, snap, seen, sorted(&all))
    }

    /// An ascending read through a merged view collects the late records
    /// newer than the view as the merge needs them (`plan::OooMore`):
    /// every way of reading such a cursor — a record at a time, in
    /// batches, skipped, truncated part-way, counted, collected — gives
    /// the records a collected read gives, for the live log and for an
    /// older snapshot (which skips the records added since), and the
    /// snapshot is released once the last record is read.
    #[test]
    fn late_records_collected_while_reading_read_as_collected_ones() {
        let (log, old, seen_old, seen_live) = newer_than_the_view();
        let live = log.snapshot().unwrap();
        for order in [Order::Asc, Order::Desc] {
            assert!(live.since(0, order).size_hint().1.is_none(), "the read collects as it goes ({order:?})");
        }
        let bounds =
            [(Timestamp::MIN, Timestamp::MAX), (0, 4000), (1000, 1300), (1234, 1235), (1200, 3600), (2999, 9000)];
        let cases = [(&old, &seen_old), (&live, &seen_live)];
        for ((snap, all), order) in cases.iter().flat_map(|c| [(c, Order::Asc), (c, Order::Desc)]) {
            for &(lo, hi) in &bounds {
                let w = want(all, lo, hi, order);
                let ctx = format!("[{lo}, {hi}) {order:?} w={}", snap.watermark());
                let c = || snap.range(lo, hi, order);
                if c().size_hint().1.is_none() {
                    // Truncated to what is left: nothing collected at once.
                    let mut t = c();
                    t.truncate(w.len());
                    assert!(t.size_hint().1.is_none(), "truncate({}) collects nothing {ctx}", w.len());
                    assert_eq!(t.collect::<Vec<_>>(), w, "after truncate({}) {ctx}", w.len());
                }
                assert_eq!(c().collect::<Vec<_>>(), w, "collect {ctx}");
                assert_eq!((c().remaining(), c().count()), (w.len(), w.len()), "counts {ctx}");
                assert_eq!(c().last(), w.last().copied(), "last {ctx}");
                let mut b = Vec::new();
                let mut cur = c();
                while cur.next_batch_with(7, |ts, v| b.push((ts, *v))) > 0 {}
                assert_eq!(b, w, "batches {ctx}");
                for k in [0, 1, 2, 31, 32, 33, 100, 500, w.len()] {
                    let k = k.min(w.len());
                    // A record at a time, the counts checked as it goes.
                    let mut cur = c();
                    for (i, r) in w[..k].iter().enumerate() {
                        let (lower, upper) = cur.size_hint();
                        assert!(lower <= w.len() - i && upper.is_none_or(|u| u == w.len() - i), "hint {ctx}");
                        assert_eq!(cur.remaining_upto(5), (w.len() - i).min(5), "remaining_upto {ctx}");
                        assert_eq!(cur.next().as_ref(), Some(r), "next {i} {ctx}");
                    }
                    assert_eq!(cur.remaining(), w.len() - k, "remaining after {k} {ctx}");
                    // Truncated part-way: every count is known from then on.
                    let m = (w.len() - k) / 2;
                    let mut t = c();
                    if k > 0 {
                        assert_eq!(t.nth(k - 1).as_ref(), Some(&w[k - 1]), "nth {ctx}");
                    }
                    t.truncate(m);
                    if m < w.len() - k {
                        assert_eq!(t.size_hint(), (m, Some(m)), "hint after truncate {ctx}");
                    }
                    assert_eq!(t.collect::<Vec<_>>(), w[k..k + m], "truncate({m}) after {k} {ctx}");
                    // Skipped, then the rest.
                    let mut sk = c();
                    assert_eq!(crate::Cursor::skip(&mut sk, k), k, "skip {ctx}");
                    assert_eq!(sk.collect::<Vec<_>>(), w[k..], "after skip({k}) {ctx}");
                    // The rest read one by one releases the snapshot at the end.
                    let mut r = Vec::new();
                    r.extend(cur.by_ref());
                    assert_eq!(r, w[k..], "rest after {k} {ctx}");
                    assert!(cur.is_exhausted() && cur.snapshot().is_none(), "released {ctx}");
                }
            }
        }
    }
}
