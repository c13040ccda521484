//! The k-way merge over planned sources, owning its snapshot.
//!
//! The merge emits *runs*: it picks the source whose head comes first, and
//! finds — by galloping (probes at +1, +2, +4, …, then a binary search)
//! inside that source's current span — how many of its records come
//! before the runner-up's head. Those records are handed out without any
//! further comparison. In-order data (one source, or disjoint ones) is one
//! run per span; data with late records costs one gallop per switch
//! between sources instead of a comparison of every head per record.
//!
//! The current run is cached in the cursor (`run`, `at`, `left`): `next`
//! takes the next record from it, and only re-plans (the next gallop) when
//! it is empty. The batch API, `Iterator::fold` and `skip` consume whole
//! runs at a time.

use super::dir::{Asc, Desc, Dir};
use super::plan::{SeqSrc, Source, Span, ValSrc};
use crate::query::snapshot::Snapshot;
use crate::{SeqNo, Timestamp};

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

impl<T> SrcCursor<T> {
    /// Starts at the first span in reading order; `src` has at least one.
    fn new(src: Source<T>, desc: bool) -> Self {
        let si = if desc { src.spans.len() - 1 } else { 0 };
        let cur = src.spans[si];
        Self { src, si, pos: 0, cur }
    }

    /// Moves to the next span in reading order. Past the last span,
    /// `cur.len` becomes 0, which `done()` reads.
    #[inline]
    fn next_span<D: Dir>(&mut self) {
        self.pos = 0;
        // Descending: walk spans from the last to the first; `si` wraps
        // past zero to `usize::MAX`, past the end like in ascending order.
        self.si = if D::DESC { self.si.wrapping_sub(1) } else { self.si + 1 };
        match self.src.spans.get(self.si) {
            Some(s) => self.cur = *s,
            None => self.cur.len = 0,
        }
    }

    #[inline]
    fn done(&self) -> bool {
        self.cur.len == 0
    }

    /// The key `(ts, seq)` of the next record in reading order (not done).
    #[inline]
    fn head<D: Dir>(&self) -> (Timestamp, SeqNo) {
        let i = D::idx(self.cur.len, self.pos);
        // SAFETY: `pos < len` while not done, and the cursor holding this
        // source holds the snapshot that owns the span's storage (R9).
        unsafe { (self.cur.ts(i), self.cur.seq(i)) }
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
/// references (see `docs/protocol.md`, R9); dropping or exhausting it
/// releases them.
///
/// Among equal timestamps, records come in insertion (sequence) order when
/// ascending and in reverse insertion order when descending.
///
/// Reading one record at a time ([`Iterator::next`], [`next_with`](Self::next_with))
/// costs about what a batch ([`next_batch_with`](Self::next_batch_with))
/// costs per record: both take records from the cursor's current run (see
/// the module docs); [`Iterator::fold`] (and so `for_each`, `sum`, …) walks
/// whole runs.
pub struct Cursor<T: Send + Sync + 'static> {
    /// The span of the current run (`left` records from `at` on, moving by
    /// `step`: 1, or `usize::MAX` — minus one, wrapping — descending).
    run: Span<T>,
    at: usize,
    left: usize,
    step: usize,
    /// Records not yet moved into a run (bounded by `truncate`).
    rest: usize,
    /// The sources with records left, beyond those of the current run.
    srcs: Vec<SrcCursor<T>>,
    /// The source the current run was cut from, once it has nothing else
    /// left (it may own the run's storage: `Source::buf`).
    spent: Option<SrcCursor<T>>,
    desc: bool,
    snap: Option<Snapshot<T>>,
}

impl<T: Send + Sync + 'static> std::fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("sources", &self.srcs.len())
            .field("descending", &self.desc)
            .field("remaining", &self.remaining())
            .finish()
    }
}

// SAFETY: the raw pointers inside the spans point into storage owned by the
// snapshot the cursor holds (R9); that storage holds `T: Send + Sync`, and
// the cursor only hands out `&T`.
unsafe impl<T: Send + Sync + 'static> Send for Cursor<T> {}
// SAFETY: as above; `&Cursor` exposes only counts.
unsafe impl<T: Send + Sync + 'static> Sync for Cursor<T> {}

/// The run of a cursor that has none (never read: `left == 0`).
fn no_run<T>() -> Span<T> {
    Span { ts: std::ptr::null(), seq: SeqSrc::Const(0), val: ValSrc::Direct(std::ptr::null()), len: 0 }
}

impl<T: Send + Sync + 'static> Cursor<T> {
    pub(crate) fn new(snap: Snapshot<T>, lo: Timestamp, hi: Timestamp, desc: bool) -> Self {
        let mut srcs = Vec::new();
        let mut rest = 0;
        snap.view().plan(lo, hi, |src| {
            rest += src.count;
            srcs.push(SrcCursor::new(src, desc));
        });
        let mut c = Self {
            run: no_run(),
            at: 0,
            left: 0,
            step: if desc { usize::MAX } else { 1 },
            rest,
            srcs,
            spent: None,
            desc,
            snap: Some(snap),
        };
        if rest == 0 {
            c.release();
        }
        c
    }

    /// Number of records still to come. O(1): counted when planned.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.left + self.rest
    }

    /// Whether the cursor reads in descending timestamp order.
    pub fn is_descending(&self) -> bool {
        self.desc
    }

    /// The snapshot this cursor reads (`None` once exhausted or closed).
    pub fn snapshot(&self) -> Option<&Snapshot<T>> {
        self.snap.as_ref()
    }

    /// Yields at most `n` more records.
    pub fn truncate(&mut self, n: usize) {
        if n < self.left {
            self.left = n;
            self.rest = 0;
        } else {
            self.rest = self.rest.min(n - self.left);
        }
        self.release_if_done();
    }

    /// Releases the snapshot early; the cursor then yields nothing.
    pub fn release(&mut self) {
        self.srcs.clear();
        self.spent = None;
        self.left = 0;
        self.rest = 0;
        self.run = no_run();
        self.snap = None;
    }

    /// Releases the snapshot once the last record was handed out, so that
    /// an exhausted cursor pins nothing (R9).
    #[inline]
    fn release_if_done(&mut self) {
        if self.left == 0 && self.rest == 0 && self.snap.is_some() {
            self.release();
        }
    }

    /// Makes the next run current; `false` (releasing the snapshot) if no
    /// record is left. Called only with `left == 0`.
    #[inline(never)]
    fn refill(&mut self) -> bool {
        debug_assert_eq!(self.left, 0);
        if self.rest == 0 {
            self.release();
            return false;
        }
        if self.desc {
            self.refill_in::<Desc>();
        } else {
            self.refill_in::<Asc>();
        }
        true
    }

    /// The merge step: the source whose head comes first wins, and its
    /// records before the runner-up's head become the run.
    fn refill_in<D: Dir>(&mut self) {
        let (k, runner) = if self.srcs.len() == 1 {
            (0, None)
        } else {
            let mut win = 0;
            let mut win_key = self.srcs[0].head::<D>();
            let mut second: Option<(Timestamp, SeqNo)> = None;
            for (i, s) in self.srcs.iter().enumerate().skip(1) {
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
        };
        let s = &self.srcs[k];
        let n = match runner {
            None => s.cur.len - s.pos,
            Some(r) => s.run_before::<D>(r),
        };
        let n = n.min(self.rest);
        let s = &mut self.srcs[k];
        self.run = s.cur;
        self.at = D::idx(s.cur.len, s.pos);
        self.left = n;
        self.rest -= n;
        s.pos += n;
        if s.pos == s.cur.len {
            s.next_span::<D>();
            if s.done() {
                // A finished source leaves the merge; it is kept until the
                // next refill, as its owned buffer (a skiplist source) may
                // hold the run just cut.
                self.spent = Some(self.srcs.swap_remove(k));
            }
        }
    }

    /// Folds the next `k <= left` records of the current run.
    #[inline]
    fn fold_run<B>(&mut self, k: usize, acc: B, f: impl FnMut(B, Timestamp, &T) -> B) -> B {
        debug_assert!(k <= self.left);
        crate::hooks::visit(k);
        let at = self.at;
        let lo = if self.desc { at + 1 - k } else { at };
        self.at = at.wrapping_add(self.step.wrapping_mul(k));
        self.left -= k;
        // SAFETY: `[lo, lo + k)` lies within the run's span (the run was
        // cut from it by `refill_in`, `k <= left`), and the snapshot that
        // owns the span's storage is held by `self` (R9), which the
        // borrow of `self.run` keeps alive for the call.
        unsafe { self.run.fold_in(lo, k, self.desc, acc, f) }
    }

    /// Advances by one record and hands it to `f` while the snapshot is
    /// still pinned. Returns `None` when exhausted.
    #[inline]
    pub fn next_with<R>(&mut self, f: impl FnOnce(Timestamp, &T) -> R) -> Option<R> {
        if self.left == 0 && !self.refill() {
            return None;
        }
        let i = self.at;
        self.at = i.wrapping_add(self.step);
        self.left -= 1;
        crate::hooks::visit(1);
        // SAFETY: `i` is the next position of the current run (within its
        // span), whose storage the snapshot held by `self` keeps alive
        // (R9); the payload is borrowed only for the call of `f`.
        let r = unsafe { f(self.run.ts(i), self.run.val(i)) };
        if self.left == 0 {
            self.release_if_done();
        }
        Some(r)
    }

    /// Hands up to `n` records to `f`; returns how many.
    pub fn next_batch_with(&mut self, n: usize, mut f: impl FnMut(Timestamp, &T)) -> usize {
        let take = n.min(self.remaining());
        let mut want = take;
        while want > 0 {
            if self.left == 0 && !self.refill() {
                break;
            }
            let k = self.left.min(want);
            self.fold_run(k, (), |(), ts, v| f(ts, v));
            want -= k;
        }
        self.release_if_done();
        take - want
    }

    /// Skips up to `n` records without visiting payloads; returns how many.
    pub fn skip(&mut self, n: usize) -> usize {
        let take = n.min(self.remaining());
        let mut want = take;
        while want > 0 {
            if self.left == 0 && !self.refill() {
                break;
            }
            let k = self.left.min(want);
            crate::hooks::visit(k);
            self.at = self.at.wrapping_add(self.step.wrapping_mul(k));
            self.left -= k;
            want -= k;
        }
        self.release_if_done();
        take - want
    }
}

impl<T: Clone + Send + Sync + 'static> Iterator for Cursor<T> {
    type Item = (Timestamp, T);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_with(|ts, v| (ts, v.clone()))
    }

    /// Exact: the count planned, minus what was handed out.
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }

    /// O(1), without cloning a payload.
    fn count(self) -> usize {
        self.remaining()
    }

    /// Skips `n` records run by run, without cloning their payloads.
    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        if Cursor::skip(self, n) < n {
            return None;
        }
        self.next()
    }

    /// Walks whole runs (see the module docs). (`try_fold` cannot be
    /// overridden on stable Rust — `std::ops::Try` is unstable — so the
    /// adapters built on it use `next`, which reads the cached run.)
    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        while self.left > 0 || self.refill() {
            acc = self.fold_run(self.left, acc, |a, ts, v| f(a, (ts, v.clone())));
        }
        acc
    }
}

impl<T: Clone + Send + Sync + 'static> ExactSizeIterator for Cursor<T> {}
