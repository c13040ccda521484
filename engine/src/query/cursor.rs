//! The k-way merge over planned sources, owning its snapshot.

use super::plan::{Source, Span};
use crate::snapshot::Snapshot;
use crate::{SeqNo, Timestamp};

/// Reading position inside one source.
struct SrcCursor<T> {
    src: Source<T>,
    /// Index of the current span (ascending numbering).
    si: usize,
    /// Offset inside the current span; for descending reads, counted from its end.
    pos: usize,
    /// A copy of `src.spans[si]`; `len == 0` once done (planned spans
    /// are never empty).
    cur: Span<T>,
}

impl<T> SrcCursor<T> {
    /// Starts at the first span in reading order; `src` has at least one.
    fn new(src: Source<T>, desc: bool) -> Self {
        let si = if desc { src.spans.len() - 1 } else { 0 };
        let cur = src.spans[si];
        Self { src, si, pos: 0, cur }
    }
    #[inline]
    fn span(&self) -> &Span<T> {
        &self.cur
    }
    /// Moves to the next span in reading order (once per span: kept out
    /// of line so the per-record path stays small). Past the last span,
    /// `cur.len` becomes 0, which `done()` reads.
    #[inline(never)]
    fn next_span(&mut self, desc: bool) {
        self.pos = 0;
        // Descending: walk spans from the last to the first; `si` wraps
        // past zero to `usize::MAX`, past the end like in ascending order.
        self.si = if desc { self.si.wrapping_sub(1) } else { self.si + 1 };
        match self.src.spans.get(self.si) {
            Some(s) => self.cur = *s,
            None => self.cur.len = 0,
        }
    }
    #[inline]
    fn idx(&self, desc: bool) -> usize {
        if desc {
            self.span().len - 1 - self.pos
        } else {
            self.pos
        }
    }
    #[inline]
    fn done(&self) -> bool {
        self.cur.len == 0
    }
    #[inline]
    fn head(&self, desc: bool) -> (Timestamp, SeqNo) {
        let i = self.idx(desc);
        let s = self.span();
        (s.ts(i), s.seq(i))
    }
    #[inline]
    fn advance(&mut self, desc: bool) {
        self.pos += 1;
        if self.pos == self.cur.len {
            self.next_span(desc);
        }
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
pub struct Cursor<T: Send + Sync + 'static> {
    srcs: Vec<SrcCursor<T>>,
    desc: bool,
    remaining: usize,
    snap: Option<Snapshot<T>>,
}

impl<T: Send + Sync + 'static> std::fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("sources", &self.srcs.len())
            .field("descending", &self.desc)
            .field("remaining", &self.remaining)
            .finish()
    }
}

// SAFETY: the raw pointers inside the spans point into storage owned by the
// snapshot the cursor holds (R9); that storage holds `T: Send + Sync`, and
// the cursor only hands out `&T`.
unsafe impl<T: Send + Sync + 'static> Send for Cursor<T> {}
// SAFETY: as above; `&Cursor` exposes only counts.
unsafe impl<T: Send + Sync + 'static> Sync for Cursor<T> {}

impl<T: Send + Sync + 'static> Cursor<T> {
    pub(crate) fn new(snap: Snapshot<T>, lo: Timestamp, hi: Timestamp, desc: bool) -> Self {
        let mut srcs = Vec::new();
        let mut remaining = 0;
        snap.view().plan(lo, hi, |src| {
            remaining += src.count;
            srcs.push(SrcCursor::new(src, desc));
        });
        let mut c = Self { srcs, desc, remaining, snap: Some(snap) };
        if c.remaining == 0 {
            c.release();
        }
        c
    }

    /// Number of records still to come. O(1): counted when planned.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.remaining
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
        self.remaining = self.remaining.min(n);
        if self.remaining == 0 {
            self.release();
        }
    }

    /// Releases the snapshot early; the cursor then yields nothing.
    pub fn release(&mut self) {
        self.srcs.clear();
        self.remaining = 0;
        self.snap = None;
    }

    /// Advances by one record and hands it to `f` while the snapshot is
    /// still pinned. Returns `None` when exhausted.
    #[inline]
    pub fn next_with<R>(&mut self, f: impl FnOnce(Timestamp, &T) -> R) -> Option<R> {
        if self.remaining == 0 {
            return None;
        }
        let desc = self.desc;
        let k = if self.srcs.len() == 1 {
            0
        } else {
            let mut best = usize::MAX;
            let mut best_key = (0, 0);
            for (i, s) in self.srcs.iter().enumerate() {
                if s.done() {
                    continue;
                }
                let key = s.head(desc);
                let better = best == usize::MAX || if desc { key > best_key } else { key < best_key };
                if better {
                    best = i;
                    best_key = key;
                }
            }
            best
        };
        let s = &mut self.srcs[k];
        let i = s.idx(desc);
        let span = *s.span();
        s.advance(desc);
        self.remaining -= 1;
        crate::hooks::visit(1);
        let r = f(span.ts(i), span.val(i));
        if self.remaining == 0 {
            self.release();
        }
        Some(r)
    }

    /// Hands up to `n` records to `f`; returns how many.
    pub fn next_batch_with(&mut self, n: usize, mut f: impl FnMut(Timestamp, &T)) -> usize {
        let take = n.min(self.remaining);
        if self.srcs.len() == 1 {
            // One source (the common case after compaction): walk the spans
            // without comparing heads.
            let desc = self.desc;
            let mut left = take;
            while left > 0 {
                let s = &mut self.srcs[0];
                let span = *s.span();
                let avail = span.len - s.pos;
                let k = avail.min(left);
                for j in 0..k {
                    let i = if desc { span.len - 1 - (s.pos + j) } else { s.pos + j };
                    f(span.ts(i), span.val(i));
                }
                crate::hooks::visit(k);
                left -= k;
                s.pos += k;
                if s.pos == span.len {
                    s.next_span(desc);
                }
            }
            self.remaining -= take;
            if self.remaining == 0 {
                self.release();
            }
            return take;
        }
        for _ in 0..take {
            self.next_with(&mut f);
        }
        take
    }

    /// Skips up to `n` records without visiting payloads.
    pub fn skip(&mut self, n: usize) -> usize {
        let mut k = 0;
        while k < n && self.next_with(|_, _| ()).is_some() {
            k += 1;
        }
        k
    }
}

impl<T: Clone + Send + Sync + 'static> Iterator for Cursor<T> {
    type Item = (Timestamp, T);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_with(|ts, v| (ts, v.clone()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T: Clone + Send + Sync + 'static> ExactSizeIterator for Cursor<T> {}
