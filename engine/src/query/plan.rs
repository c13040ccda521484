//! Read planning: which sources overlap `[t1, t2)`, and which positions of
//! each are visible under a snapshot (watermark + tombstone coverage).
//!
//! The result is, per source, a list of contiguous *spans* of visible
//! records, so the merge never re-checks tombstones per record and
//! `remaining()` is the sum of span lengths (O(sources), no payload touched).

use crate::manifest::Manifest;
use crate::memtable::{Memtable, RunSlice};
use crate::segment::Segment;
use crate::tombstone::{Coverage, Tombstone};
use crate::{SeqNo, Timestamp};

/// A manifest plus the watermark of a snapshot: what one read sees.
#[derive(Clone, Copy)]
pub(crate) struct View<'a, T> {
    pub(crate) m: &'a Manifest<T>,
    pub(crate) w: SeqNo,
}

/// Per-manifest cache of the coverage of the tombstones a view sees, so
/// that a one-shot read binary-searches one sorted interval list instead of
/// collecting and sorting the tombstones (its cost would otherwise grow
/// with the number of deletes).
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
/// Entries are swapped with `arc-swap` (lock-free loads; a replaced entry
/// is freed when the last read using it ends). Under the model checkers
/// there is no cache: every read builds its coverage (the same function).
#[derive(Default)]
pub(crate) struct CovCache {
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    slots: [arc_swap::ArcSwapOption<CovEntry>; 2],
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
}

static NO_COVERAGE: Coverage = Coverage { ivs: Vec::new() };

/// The coverage one read uses: none, a cached entry, or its own.
pub(crate) enum CovRef {
    Empty,
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    Cached(arc_swap::Guard<Option<std::sync::Arc<CovEntry>>>),
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    Shared(std::sync::Arc<CovEntry>),
    #[cfg(any(timelog_loom, timelog_shuttle))]
    Owned(Coverage),
}

impl std::ops::Deref for CovRef {
    type Target = Coverage;
    #[inline]
    fn deref(&self) -> &Coverage {
        match self {
            CovRef::Empty => &NO_COVERAGE,
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            CovRef::Cached(g) => match g.as_ref() {
                Some(e) => &e.cov,
                None => &NO_COVERAGE,
            },
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            CovRef::Shared(e) => &e.cov,
            #[cfg(any(timelog_loom, timelog_shuttle))]
            CovRef::Owned(c) => c,
        }
    }
}

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
    #[inline]
    pub(crate) fn ts(&self, i: usize) -> Timestamp {
        debug_assert!(i < self.len);
        // SAFETY: R9: the span points into a page, run bucket or owned
        // buffer that the snapshot holding this span keeps alive, and
        // `i < len` stays within the slice it was cut from.
        unsafe { *self.ts.add(i) }
    }
    #[inline]
    pub(crate) fn seq(&self, i: usize) -> SeqNo {
        match self.seq {
            SeqSrc::Const(s) => s,
            // SAFETY: as in `ts` (R9).
            SeqSrc::Arr(p) => unsafe { *p.add(i) },
        }
    }
    #[inline]
    pub(crate) fn val<'s>(&self, i: usize) -> &'s T {
        // SAFETY: as in `ts` (R9); the caller bounds the lifetime by the
        // snapshot that owns the storage.
        unsafe {
            match self.val {
                ValSrc::Direct(p) => &*p.add(i),
                ValSrc::Indirect(p) => &**p.add(i),
            }
        }
    }
}

/// Out-of-order records of a memtable collected for one read.
#[derive(Debug, Default)]
pub(crate) struct OooBuf<T> {
    pub(crate) ts: Vec<Timestamp>,
    pub(crate) seq: Vec<SeqNo>,
    pub(crate) val: Vec<*const T>,
}

/// The spans of a source; one span (a short range inside one page or run
/// bucket, the common case of small reads) is kept inline, without a heap
/// allocation.
#[derive(Debug)]
pub(crate) enum Spans<T> {
    Zero,
    One(Span<T>),
    Many(Vec<Span<T>>),
}

impl<T> Spans<T> {
    fn push(&mut self, s: Span<T>) {
        match self {
            Spans::Zero => *self = Spans::One(s),
            Spans::One(a) => *self = Spans::Many(vec![*a, s]),
            Spans::Many(v) => v.push(s),
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
            Spans::Many(v) => v,
        }
    }
}

/// One source of a read: spans in ascending order, plus owned storage.
#[derive(Debug)]
pub(crate) struct Source<T> {
    pub(crate) spans: Spans<T>,
    pub(crate) buf: Option<Box<OooBuf<T>>>,
    pub(crate) count: usize,
}

impl<T> Source<T> {
    fn new() -> Self {
        Self { spans: Spans::Zero, buf: None, count: 0 }
    }
    fn push(&mut self, s: Span<T>) {
        if s.len > 0 {
            self.count += s.len;
            self.spans.push(s);
        }
    }
}

impl<'a, T: Send + Sync + 'static> View<'a, T> {
    /// All tombstones this view sees (manifest ones are all committed, R7).
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub(crate) fn tombstones(&self) -> Vec<Tombstone> {
        let mut v: Vec<Tombstone> = self.m.tombstones.iter().copied().collect();
        for mt in self.memtables() {
            mt.tombs.for_each(|t| {
                if t.seq <= self.w {
                    v.push(*t);
                }
            });
        }
        v
    }

    /// Coverage of every tombstone this view sees, over all timestamps:
    /// nothing to build when there is no tombstone, the manifest's cached
    /// entry when it matches the view ([`CovCache`]), else built (and
    /// cached when it holds every reachable tombstone).
    pub(crate) fn cov(&self) -> CovRef {
        if self.m.tombstones.is_empty() && self.memtables().all(|mt| mt.tombs.is_empty()) {
            return CovRef::Empty;
        }
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            // R7: the head is read after the view's watermark (see `CovCache`).
            let head = self.m.active.tombs.head_id();
            for slot in &self.m.cov.slots {
                let g = slot.load();
                if g.as_ref().is_some_and(|e| e.serves(self.w, head)) {
                    return CovRef::Cached(g);
                }
            }
            let mut all: Vec<Tombstone> = self.m.tombstones.iter().copied().collect();
            for mt in self.memtables() {
                mt.tombs.for_each(|t| all.push(*t));
            }
            crate::hooks::visit(all.len());
            let n = all.len();
            // Manifest tombstones are all committed (R7, R8).
            all.retain(|t| t.seq <= self.w);
            let complete = all.len() == n;
            let e = std::sync::Arc::new(CovEntry {
                head,
                w_built: self.w,
                max_seq: all.iter().map(|t| t.seq).max().unwrap_or(0),
                complete,
                cov: Coverage::build(&mut all, Timestamp::MIN, Timestamp::MAX),
            });
            self.m.cov.slots[usize::from(!complete)].store(Some(e.clone()));
            CovRef::Shared(e)
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        {
            let mut v = self.tombstones();
            CovRef::Owned(Coverage::build(&mut v, Timestamp::MIN, Timestamp::MAX))
        }
    }

    /// Memtables, oldest first.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &'a Memtable<T>> + 'a {
        self.m.sealed.iter().map(|m| &**m).chain(std::iter::once(&*self.m.active))
    }

    /// L1 segments overlapping `[t1, t2]` (they are sorted and disjoint).
    pub(crate) fn l1_overlapping(&self, t1: Timestamp, t2: Timestamp) -> &'a [crate::sync::Arc<Segment<T>>] {
        let l1 = &self.m.l1;
        let a = l1.partition_point(|s| s.max_ts < t1);
        let b = l1.partition_point(|s| s.min_ts <= t2);
        &l1[a..b.max(a)]
    }

    /// Plans the sources of `[lo, hi]` (inclusive bounds), oldest first,
    /// handing each non-empty one to `out`.
    pub(crate) fn plan(&self, lo: Timestamp, hi: Timestamp, mut out: impl FnMut(Source<T>)) {
        if lo > hi {
            return;
        }
        let (t1, t2) = (lo, hi);
        let cov = self.cov();
        // L1 is one source: its segments are disjoint and sorted.
        let mut l1 = Source::new();
        for s in self.l1_overlapping(t1, t2) {
            segment_spans(s, t1, t2, &cov, &mut l1);
        }
        if l1.count > 0 {
            out(l1);
        }
        for s in &self.m.l0 {
            if s.max_ts < t1 || s.min_ts > t2 {
                continue;
            }
            let mut src = Source::new();
            segment_spans(s, t1, t2, &cov, &mut src);
            if src.count > 0 {
                out(src);
            }
        }
        for mt in self.memtables() {
            let mut src = Source::new();
            run_spans(mt, self.w, t1, t2, &cov, &mut src);
            if src.count > 0 {
                out(src);
            }
            let buf = ooo_collect(mt, self.w, t1, t2, &cov);
            if !buf.ts.is_empty() {
                let mut src = Source::new();
                src.push(Span {
                    ts: buf.ts.as_ptr(),
                    seq: SeqSrc::Arr(buf.seq.as_ptr()),
                    val: ValSrc::Indirect(buf.val.as_ptr()),
                    len: buf.ts.len(),
                });
                // The Vec buffers do not move when the Box moves.
                src.buf = Some(Box::new(buf));
                out(src);
            }
        }
    }

    /// Number of visible records in `[t1, t2]` without building spans of
    /// payloads (used by `len()`).
    pub(crate) fn count(&self, t1: Timestamp, t2: Timestamp) -> usize {
        if t1 > t2 {
            return 0;
        }
        let cov = self.cov();
        let mut n = 0;
        for s in self.l1_overlapping(t1, t2).iter().chain(self.m.l0.iter()) {
            if s.max_ts < t1 || s.min_ts > t2 {
                continue;
            }
            for_each_visible_segment(s, t1, t2, &cov, |a, b| n += b - a);
        }
        for mt in self.memtables() {
            for_each_visible_run(mt, self.w, t1, t2, &cov, |a, b| n += b - a);
            for_each_visible_ooo(mt, self.w, t1, t2, &cov, |_, _, _| n += 1);
        }
        n
    }
}

/// Visible position ranges of a segment within `[t1, t2]`: the positions of
/// the range minus those covered by tombstones newer than `tomb_applied`.
pub(crate) fn visible_ranges_segment<T>(
    s: &Segment<T>,
    t1: Timestamp,
    t2: Timestamp,
    cov: &Coverage,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for_each_visible_segment(s, t1, t2, cov, |a, b| out.push((a, b)));
    out
}

/// [`visible_ranges_segment`] without collecting: calls `f(a, b)` for each
/// non-empty visible range, in ascending order.
pub(crate) fn for_each_visible_segment<T>(
    s: &Segment<T>,
    t1: Timestamp,
    t2: Timestamp,
    cov: &Coverage,
    mut f: impl FnMut(usize, usize),
) {
    let (ta, tb) = (t1.max(s.min_ts), t2.min(s.max_ts));
    // Outside the range, or hidden whole (one coverage lookup, R8).
    if ta > tb || cov.hidden_end(ta, s.tomb_applied).is_some_and(|e| e > tb) {
        return;
    }
    let lo = s.lower_bound(t1);
    let hi = s.upper_bound(t2);
    let mut cur = lo;
    if lo >= hi {
        return;
    }
    // Only the intervals over the segment's part of the range (binary
    // search), and only those newer than what the segment applied (R8):
    // each hides a whole position range, found by two seeks.
    for &(a, b, m) in cov.overlapping(ta, tb) {
        if m <= s.tomb_applied {
            continue;
        }
        let pa = s.lower_bound(a).clamp(lo, hi);
        let pb = s.lower_bound(b).clamp(lo, hi);
        if pa > cur {
            f(cur, pa);
        }
        cur = cur.max(pb);
    }
    if cur < hi {
        f(cur, hi);
    }
}

fn segment_spans<T>(s: &Segment<T>, t1: Timestamp, t2: Timestamp, cov: &Coverage, out: &mut Source<T>) {
    for_each_visible_segment(s, t1, t2, cov, |a, b| {
        s.pieces(a, b, |_, page, x, y| {
            out.push(Span {
                ts: page.timestamps()[x..y].as_ptr(),
                seq: SeqSrc::Const(s.seq_hi),
                val: ValSrc::Direct(page.payloads()[x..y].as_ptr()),
                len: y - x,
            })
        });
    });
}

/// Visible position ranges of a memtable's run within `[t1, t2]`: calls
/// `f(a, b)` for each non-empty one, in ascending order.
pub(crate) fn for_each_visible_run<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    t1: Timestamp,
    t2: Timestamp,
    cov: &Coverage,
    mut f: impl FnMut(usize, usize),
) {
    let run = &mt.run;
    // The run is sorted: skip it without a search when `[t1, t2]` misses
    // its first-to-last span (any visible record lies inside it). The
    // first timestamp is tested before the published length, which the
    // appender writes on every record.
    if run.first_ts() > t2 {
        return;
    }
    let n = run.len();
    if n == 0 || run.ts_at(n - 1) < t1 {
        return;
    }
    // R3: sequences increase along the run, so the records a watermark sees are a prefix.
    let nvis = run.seq_upper_bound(w, 0, n);
    let lo = run.lower_bound(t1, 0, nvis);
    let hi = run.upper_bound(t2, 0, nvis);
    if lo >= hi {
        return;
    }
    let mut cur = lo;
    for &(a, b, m) in cov.overlapping(t1, t2) {
        let pa = run.lower_bound(a, lo, hi).max(cur);
        let pb = run.lower_bound(b, lo, hi);
        if pa >= pb {
            continue;
        }
        // Hidden: sequence < m, a prefix of [pa, pb) since sequences increase.
        let pc = run.seq_upper_bound(m - 1, pa, pb);
        if pc > pa {
            if pa > cur {
                f(cur, pa);
            }
            cur = pc;
        }
    }
    if cur < hi {
        f(cur, hi);
    }
}

fn run_spans<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    t1: Timestamp,
    t2: Timestamp,
    cov: &Coverage,
    out: &mut Source<T>,
) {
    // Allocated only if some range is visible.
    let mut slices: Vec<RunSlice<T>> = Vec::new();
    for_each_visible_run(mt, w, t1, t2, cov, |a, b| mt.run.slices(a, b, &mut slices));
    for s in slices {
        out.push(Span { ts: s.ts, seq: SeqSrc::Arr(s.seq), val: ValSrc::Direct(s.val), len: s.len });
    }
}

fn ooo_collect<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    t1: Timestamp,
    t2: Timestamp,
    cov: &Coverage,
) -> OooBuf<T> {
    let mut buf = OooBuf { ts: Vec::new(), seq: Vec::new(), val: Vec::new() };
    for_each_visible_ooo(mt, w, t1, t2, cov, |ts, seq, v| {
        buf.ts.push(ts);
        buf.seq.push(seq);
        buf.val.push(v);
    });
    buf
}

/// Calls `f` for each visible skiplist record of `mt` in `[t1, t2]`, in
/// `(ts, seq)` order. A covered stretch whose tombstones are all newer
/// than every skiplist record of the memtable (`ooo_max_seq`) hides all of
/// them (R7): the walk seeks past it instead of visiting them. Only where
/// a covering tombstone may be older than some skiplist record (a record
/// inserted after the delete, possibly at a deleted timestamp) are the
/// covered records checked one by one.
pub(crate) fn for_each_visible_ooo<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    t1: Timestamp,
    t2: Timestamp,
    cov: &Coverage,
    mut f: impl FnMut(Timestamp, SeqNo, *const T),
) {
    if mt.ooo_len() == 0 {
        return;
    }
    if cov.is_empty() {
        mt.ooo_range(t1, t2, |ts, seq, v| {
            if seq <= w {
                f(ts, seq, v);
            }
            true
        });
        return;
    }
    let newest = mt.ooo_max_seq();
    let mut lo = t1;
    loop {
        let mut resume = None;
        mt.ooo_range(lo, t2, |ts, seq, v| {
            if seq > w {
                return true;
            }
            let m = cov.max_seq(ts);
            if m <= seq {
                f(ts, seq, v);
                return true;
            }
            if m > newest {
                resume = cov.hidden_end(ts, newest);
                return false;
            }
            true
        });
        match resume {
            Some(e) if e <= t2 => lo = e,
            _ => return,
        }
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;
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
}
