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

/// One page of a segment: `ts[i]` is the timestamp of `vals[i]`.
#[derive(Debug)]
pub struct Page<T> {
    ts: Box<[Timestamp]>,
    vals: Box<[T]>,
}

impl<T> Page<T> {
    /// The page's timestamps, sorted ascending.
    pub fn timestamps(&self) -> &[Timestamp] {
        &self.ts
    }
    /// The page's payloads, parallel to [`timestamps`](Self::timestamps).
    pub fn payloads(&self) -> &[T] {
        &self.vals
    }
    pub fn len(&self) -> usize {
        self.ts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}

/// Which layer a segment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    L0,
    L1,
}

pub(crate) struct Segment<T> {
    pub(crate) id: u64,
    pub(crate) level: Level,
    pub(crate) pages: Vec<Page<T>>,
    /// Last timestamp of each page, contiguous, for the page search.
    pub(crate) fences: Box<[Timestamp]>,
    pub(crate) page_cap: usize,
    pub(crate) len: usize,
    pub(crate) min_ts: Timestamp,
    pub(crate) max_ts: Timestamp,
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
        self.region.read();
        self.pages[i / self.page_cap].ts[i % self.page_cap]
    }
    #[inline]
    pub(crate) fn val_at(&self, i: usize) -> &T {
        self.region.read();
        &self.pages[i / self.page_cap].vals[i % self.page_cap]
    }

    /// First position whose timestamp is `>= ts`.
    pub(crate) fn lower_bound(&self, ts: Timestamp) -> usize {
        self.region.read();
        if ts <= self.min_ts {
            return 0;
        }
        if ts > self.max_ts {
            return self.len;
        }
        let p = self.fences.partition_point(|&last| last < ts);
        if p == self.pages.len() {
            return self.len;
        }
        p * self.page_cap + self.pages[p].ts.partition_point(|&x| x < ts)
    }

    /// First position whose timestamp is `> ts`.
    pub(crate) fn upper_bound(&self, ts: Timestamp) -> usize {
        self.region.read();
        if ts < self.min_ts {
            return 0;
        }
        if ts >= self.max_ts {
            return self.len;
        }
        let p = self.fences.partition_point(|&last| last <= ts);
        if p == self.pages.len() {
            return self.len;
        }
        p * self.page_cap + self.pages[p].ts.partition_point(|&x| x <= ts)
    }

    /// Visits contiguous page pieces of positions `[lo, hi)`.
    pub(crate) fn pieces(&self, lo: usize, hi: usize, mut f: impl FnMut(usize, &Page<T>, usize, usize)) {
        self.region.read();
        let mut i = lo;
        while i < hi {
            let p = i / self.page_cap;
            let o = i % self.page_cap;
            let page = &self.pages[p];
            let n = (page.ts.len() - o).min(hi - i);
            f(p, page, o, o + n);
            i += n;
        }
    }
}

/// Builds a segment from records pushed in `(ts, seq)` order.
pub(crate) struct SegmentBuilder<T> {
    page_cap: usize,
    pages: Vec<Page<T>>,
    ts: Vec<Timestamp>,
    vals: Vec<T>,
    len: usize,
    min_ts: Timestamp,
    max_ts: Timestamp,
}

impl<T> SegmentBuilder<T> {
    pub(crate) fn new(page_cap: usize) -> Self {
        Self {
            page_cap,
            pages: Vec::new(),
            ts: Vec::with_capacity(page_cap),
            vals: Vec::with_capacity(page_cap),
            len: 0,
            min_ts: Timestamp::MAX,
            max_ts: Timestamp::MIN,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, ts: Timestamp, val: T) {
        debug_assert!(self.len == 0 || ts >= self.max_ts, "segment input must be sorted");
        if self.len == 0 {
            self.min_ts = ts;
        }
        self.max_ts = ts;
        self.ts.push(ts);
        self.vals.push(val);
        self.len += 1;
        if self.ts.len() == self.page_cap {
            self.cut_page();
        }
    }

    fn cut_page(&mut self) {
        let ts = std::mem::replace(&mut self.ts, Vec::with_capacity(self.page_cap));
        let vals = std::mem::replace(&mut self.vals, Vec::with_capacity(self.page_cap));
        self.pages.push(Page { ts: ts.into_boxed_slice(), vals: vals.into_boxed_slice() });
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
        if !self.ts.is_empty() {
            self.cut_page();
        }
        if self.len == 0 {
            return None;
        }
        Some(Segment {
            id,
            level,
            fences: self.pages.iter().map(|p| p.ts[p.ts.len() - 1]).collect(),
            pages: self.pages,
            page_cap: self.page_cap,
            len: self.len,
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            seq_hi,
            tomb_applied,
            window,
            retired: Retired::new(retired),
            region: Region::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(*s.val_at(21), 21);
        let mut n = 0;
        s.pieces(3, 19, |_, p, a, b| {
            assert!(b <= p.len());
            n += b - a;
        });
        assert_eq!(n, 16);
    }
}
