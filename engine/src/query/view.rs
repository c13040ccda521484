//! What one read sees: a [`View`] (a manifest and a watermark), its
//! sources, and the one visibility rule of the query layer.
//!
//! Every read — cursor planning, `count`, `histogram`, point reads,
//! navigation (`next_ts`/`prev_ts`) and first/last (`min_ts`/`max_ts`) —
//! goes through the two things defined here:
//!
//! - **one source enumeration**, [`View::sources`]: L1 (its overlapping
//!   segments, one source), the overlapping L0 segments oldest first, then
//!   each memtable (sealed ones oldest first, then the active one) as its
//!   in-order run and its out-of-order skiplist;
//! - **one visibility predicate**, [`Vis`]: a record `(ts, seq)` is visible
//!   iff `seq <= w` (R5) and no tombstone the view sees with a sequence in
//!   `(seq, w]` covers `ts` (R7); a segment record orders as its segment's
//!   `tomb_applied` (R8). Its per-source forms — position ranges of a
//!   segment ([`for_each_visible_segment`]) and of a run
//!   ([`for_each_visible_run`]), a seeking walk of a skiplist
//!   ([`ooo_walk`]) — apply the same rule to a whole source at once,
//!   seeking past covered stretches (issue 10: `O(log n)` per stretch).

use crate::manifest::Manifest;
use crate::memtable::run::RunSlot;
use crate::memtable::Memtable;
use crate::query::dir::Asc;
use crate::query::dir::Dir;
use crate::segment::Segment;
use crate::tombstone::{CovRef, Coverage, CoverageBuilder, Settled, Span};
use crate::{SeqNo, Timestamp};

/// A manifest plus the watermark of a snapshot: what one read sees.
#[derive(Clone, Copy)]
pub(crate) struct View<'a, T> {
    pub(crate) m: &'a Manifest<T>,
    pub(crate) w: SeqNo,
}

/// The visibility rule of one read: the view's watermark and the coverage
/// of the tombstones it sees. The only place the query layer decides
/// whether a record is visible (see the module docs).
#[derive(Clone, Copy)]
pub(crate) struct Vis<'c> {
    pub(crate) w: SeqNo,
    pub(crate) cov: &'c Coverage,
}

impl Vis<'_> {
    /// Whether the record `(ts, seq)` is visible: committed under the
    /// watermark (R5) and not covered by a tombstone newer than it that
    /// the view sees (R7). A segment record passes its segment's
    /// `tomb_applied` as `seq` (R8; always `<= w`: a snapshot that can
    /// load a segment has `w >= flushed_bound >= tomb_applied`).
    #[inline]
    pub(crate) fn visible(&self, ts: Timestamp, seq: SeqNo) -> bool {
        seq <= self.w && self.cov.max_seq(ts) <= seq
    }

    /// The newest covering sequence at `ts` (0 = none): records at `ts`
    /// with a smaller sequence are hidden (R7).
    #[inline]
    pub(crate) fn hiding(&self, ts: Timestamp) -> SeqNo {
        self.cov.max_seq(ts)
    }

    /// Whether a covering interval of sequence `m` hides records that
    /// order as `seq` (R7, R8).
    #[inline]
    pub(crate) fn hides(m: SeqNo, seq: SeqNo) -> bool {
        m > seq
    }
}

/// One source of a read, as [`View::sources`] hands them out.
pub(crate) enum SourceRef<'a, T> {
    /// The L1 segments overlapping the range: sorted and pairwise
    /// disjoint (R8), so one source.
    L1(&'a [crate::sync::Arc<Segment<T>>]),
    /// One L0 segment overlapping the range.
    L0(&'a Segment<T>),
    /// A memtable's in-order run.
    Run(&'a Memtable<T>),
    /// A memtable's out-of-order skiplist (right after its run).
    Ooo(&'a Memtable<T>),
}

impl<'a, T: Send + Sync + 'static> View<'a, T> {
    /// The sources that may hold a record of `[lo, hi]` (inclusive),
    /// oldest first, handed to `f` until it returns false: L1 (if some
    /// segment overlaps), the L0 segments whose bounds overlap, then per
    /// memtable (sealed ones oldest first, then the active one) its run and
    /// its skiplist — each of which readers bound cheaply themselves (the
    /// run by its first and last record, the skiplist by its length).
    /// Every visible record lies in exactly one. (Plain loops rather than
    /// an iterator chain: one-shot reads are a few hundred nanoseconds, and
    /// a chain of adapters was measured to cost a tenth of them.)
    #[inline]
    pub(crate) fn sources(&self, lo: Timestamp, hi: Timestamp, mut f: impl FnMut(SourceRef<'a, T>) -> bool) {
        self.sources_skipping(lo, hi, None, |src, _| f(src))
    }

    /// [`sources`](Self::sources) for a read using coverage `cov`, each
    /// source handed with its visible bounds when known. When `cov` is the
    /// manifest's settled one ([`Settled`]), a segment is judged by its
    /// first and last *visible* timestamps instead of its stored ones: the
    /// L0 segments with nothing visible in `[lo, hi]` (those hidden whole
    /// among them) are not handed out, each one that is comes with those
    /// bounds, and the L1 slice does not start or end with such a segment.
    /// A read never looks at a segment with nothing visible for it,
    /// however many a delete stream left (every visible record of
    /// `[lo, hi]` still lies in exactly one source handed out).
    #[inline]
    pub(crate) fn sources_in(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        cov: &CovRef<'_>,
        f: impl FnMut(SourceRef<'a, T>, Option<(Timestamp, Timestamp)>) -> bool,
    ) {
        self.sources_skipping(lo, hi, cov.settled(), f)
    }

    /// The segment sources of [`sources_in`](Self::sources_in) alone
    /// (L1's slice, then the L0 segments, cut by the settled bounds as it
    /// cuts them), for a read that walks the memtables itself after these
    /// ([`memtables`](Self::memtables), oldest first): its memtable arms
    /// are then code of their own, inlined, not arms of a closure called
    /// from six places and so kept out of line (about 50 instructions of a
    /// `next_ts` over a memtable were that closure's prologues and
    /// epilogues). `false` when the walk ends here: `f` stopped it, or
    /// `[lo, hi]` is empty.
    #[inline]
    pub(crate) fn segments_in(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        cov: &CovRef<'_>,
        mut f: impl FnMut(SourceRef<'a, T>, Option<(Timestamp, Timestamp)>) -> bool,
    ) -> bool {
        self.segments_skipping(lo, hi, cov.settled(), &mut f)
    }

    #[inline]
    fn sources_skipping(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        skip: Option<&Settled>,
        mut f: impl FnMut(SourceRef<'a, T>, Option<(Timestamp, Timestamp)>) -> bool,
    ) {
        if !self.segments_skipping(lo, hi, skip, &mut f) {
            return;
        }
        for mt in self.m.sealed.iter() {
            if !f(SourceRef::Run(mt), None) || !f(SourceRef::Ooo(mt), None) {
                return;
            }
        }
        let mt: &'a Memtable<T> = &self.m.active;
        if f(SourceRef::Run(mt), None) {
            f(SourceRef::Ooo(mt), None);
        }
    }

    /// The segment part of [`sources_skipping`](Self::sources_skipping):
    /// `false` when the walk ends here (see [`segments_in`](Self::segments_in)).
    #[inline]
    fn segments_skipping(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        skip: Option<&Settled>,
        f: &mut impl FnMut(SourceRef<'a, T>, Option<(Timestamp, Timestamp)>) -> bool,
    ) -> bool {
        if lo > hi {
            return false;
        }
        let mut l1 = self.l1_overlapping(lo, hi);
        if let Some(st) = skip {
            // The bounds of the slice: it starts at index `a` of `m.l1`.
            let a = self.l1_index(l1);
            let vis = &st.l1_vis[a..a + l1.len()];
            let useful = |b: &Option<(Timestamp, Timestamp)>| b.is_some_and(|(x, y)| y >= lo && x <= hi);
            let x = vis.iter().position(useful).unwrap_or(vis.len());
            let y = vis.iter().rposition(useful).map_or(x, |y| y + 1);
            l1 = &l1[x..y.max(x)];
        }
        if !l1.is_empty() && !f(SourceRef::L1(l1), None) {
            return false;
        }
        match skip {
            Some(st) => {
                for &(i, x, y) in st.l0_live.iter() {
                    if y >= lo && x <= hi && !f(SourceRef::L0(&self.m.l0[i]), Some((x, y))) {
                        return false;
                    }
                }
            }
            None => {
                for s in self.m.l0.iter() {
                    if s.max_ts >= lo && s.min_ts <= hi && !f(SourceRef::L0(s), None) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Coverage of every tombstone this view sees, over all timestamps:
    /// nothing to build when there is no tombstone; the manifest's settled
    /// entry when no memtable holds one (this thread's stripe builds it
    /// once per manifest and then reads it without a hold: [`Settled`],
    /// R7); else this thread's stripe of the manifest's coverage cache
    /// ([`CovCache`](crate::tombstone::CovCache), R7, R9 "Holds") serves it
    /// or builds it with the one builder ([`CoverageBuilder`]): the
    /// manifest's list plus each memtable's stack up to the watermark (R7).
    #[inline]
    pub(crate) fn cov(&self) -> CovRef<'a> {
        // R7: the stacks are read after the view's watermark was loaded; an
        // empty stack holds no tombstone the view sees (see `CovCache`).
        if Self::stacks_empty(self.m) {
            return Self::cov_settled(self.m);
        }
        self.cov_cached()
    }

    /// Whether no memtable of `m` holds a tombstone (a push in progress
    /// counts as one).
    #[inline(always)]
    fn stacks_empty(m: &Manifest<T>) -> bool {
        m.active.tombs.is_empty() && m.sealed.iter().all(|mt| mt.tombs.is_empty())
    }

    /// The coverage of `m` when no memtable holds a tombstone: none, or the
    /// manifest's list through the stripe's settled entry (R7).
    #[inline(always)]
    fn cov_settled(m: &'a Manifest<T>) -> CovRef<'a> {
        if m.tombstones.is_empty() {
            return CovRef::Empty;
        }
        m.cov_cache().settled(|| settle(m))
    }

    /// The coverage of a watermark-free read of `m` (R15) that reads from
    /// `probe` on, if it does not depend on the watermark, with the span it
    /// leaves out: when no memtable tombstone may cover `probe` — by the
    /// stacks' spans, [`Span::EMPTY`] when no stack holds one — the settled
    /// coverage (as [`cov`](Self::cov) with empty stacks; the caller then
    /// checks that the span covers no answer, R15 "span"); else the
    /// stripe's complete entry if the active stack has not grown since its
    /// walk ([`CovCache::complete_at`](crate::tombstone::CovCache::complete_at)),
    /// which leaves nothing out. Read before the memtables' records (R15's
    /// order).
    #[inline(always)]
    pub(crate) fn cov_wfree(m: &'a Manifest<T>, probe: Timestamp) -> Option<(CovRef<'a>, Span)> {
        #[cfg(not(timelog_fault = "wfree_ignores_stacks"))]
        let span = m.sealed.iter().fold(m.active.tombs.span(), |s, mt| s.union(mt.tombs.span()));
        // Seeded fault (R15): the memtables' tombstones are left out.
        #[cfg(timelog_fault = "wfree_ignores_stacks")]
        let span = Span::EMPTY;
        if !span.covers(probe) {
            return Some((Self::cov_settled(m), span));
        }
        m.cov_cache().complete_at(&m.active.tombs).map(|c| (c, Span::EMPTY))
    }

    /// [`cov`](Self::cov) when a memtable holds a tombstone: the stripe's
    /// coverage cache.
    #[inline(never)]
    fn cov_cached(&self) -> CovRef<'a> {
        let (m, w) = (self.m, self.w);
        m.cov_cache().get(w, &m.active.tombs, || {
            let b = m
                .sealed
                .iter()
                .fold(CoverageBuilder::new().list(&m.tombstones), |b, mt| b.sealed(&mt.tombs, w, mt.seal_bound()));
            b.stack(&m.active.tombs, w)
        })
    }

    /// Memtables, oldest first.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &'a Memtable<T>> + 'a {
        self.m.sealed.iter().map(|m| &**m).chain(std::iter::once(&*self.m.active))
    }

    /// The index in `m.l1` of the first segment of `sub`, a subslice of it.
    #[inline]
    pub(crate) fn l1_index(&self, sub: &[crate::sync::Arc<Segment<T>>]) -> usize {
        (sub.as_ptr() as usize - self.m.l1.as_ptr() as usize)
            / std::mem::size_of::<crate::sync::Arc<Segment<T>>>().max(1)
    }

    /// Number of visible records in `[t1, t2]` without building spans of
    /// payloads (`count`, `len`). Over the whole timeline with the settled
    /// coverage, the segments' part is the settled entry's count (fixed for
    /// the manifest, [`Settled`]): only the memtables are counted.
    pub(crate) fn count(&self, t1: Timestamp, t2: Timestamp) -> usize {
        if t1 > t2 {
            return 0;
        }
        let cov = self.cov();
        let vis = Vis { w: self.w, cov: &cov };
        let mut n = 0;
        let whole = (t1, t2) == (Timestamp::MIN, Timestamp::MAX);
        // Over the whole timeline, a memtable that no delete touched is
        // counted by its tickets ([`deletes_reach`](Self::deletes_reach)).
        let reach = if whole { self.deletes_reach() } else { None };
        let by_tickets = |mt: &Memtable<T>| whole && reach.is_none_or(|d| d < mt.base());
        if let Some(st) = cov.settled().filter(|_| whole) {
            n = st.seg_visible;
            for mt in self.memtables() {
                if by_tickets(mt) {
                    n += mt.tickets_upto(self.w);
                } else {
                    count_memtable(mt, &vis, t1, t2, &mut n);
                }
            }
            return n;
        }
        let seg = |s: &Segment<T>, n: &mut usize| for_each_visible_segment(s, t1, t2, &cov, |a, b| *n += b - a);
        // The memtable whose run and skiplist were counted through its view.
        let mut viewed: *const Memtable<T> = std::ptr::null();
        self.sources_in(t1, t2, &cov, |src, _| {
            match src {
                SourceRef::L1(segs) => segs.iter().for_each(|s| seg(s, &mut n)),
                SourceRef::L0(s) => seg(s, &mut n),
                // The whole memtable, none of whose records a tombstone
                // hides: its tickets (no walk of its late records).
                SourceRef::Run(mt) if by_tickets(mt) => {
                    n += mt.tickets_upto(self.w);
                    viewed = mt as *const Memtable<T>;
                }
                SourceRef::Run(mt) => match count_viewed(mt, &vis, t1, t2) {
                    Some(k) => {
                        n += k;
                        viewed = mt as *const Memtable<T>;
                    }
                    None => for_each_visible_run(mt, &vis, t1, t2, |a, b| n += b - a),
                },
                // Counted with the run: through the view, or by its tickets.
                SourceRef::Ooo(mt) if std::ptr::eq(viewed, mt) => {}
                SourceRef::Ooo(mt) => ooo_walk::<Asc, T>(mt, &vis, t1, t2, |_, _, _| {
                    n += 1;
                    true
                }),
            }
            true
        });
        n
    }

    /// The greatest base of the view's memtables whose tombstone stack is
    /// not empty (a push in progress counts as a tombstone); `None` if
    /// every stack is empty. A memtable with a greater base is one no
    /// delete of the view touched, nor any newer memtable: every ticket of
    /// it at or below the watermark is a record, and no tombstone the view
    /// sees hides one — a tombstone hides only older records (R7), and
    /// every tombstone outside the memtables came from a flushed memtable,
    /// older than it. Read after the view's watermark was loaded (R7: an
    /// empty stack holds no tombstone the view sees). So
    /// [`Memtable::tickets_upto`] counts the view's records of such a
    /// memtable. One look at each stack per count. Seeded fault
    /// `count_ignores_deletes`: the stacks not looked at.
    #[inline]
    fn deletes_reach(&self) -> Option<SeqNo> {
        #[cfg(timelog_fault = "count_ignores_deletes")]
        return None;
        #[cfg(not(timelog_fault = "count_ignores_deletes"))]
        self.memtables().filter(|y| !y.tombs.is_empty()).map(|y| y.base()).max()
    }

    /// L1 segments overlapping `[t1, t2]` (they are sorted and disjoint).
    pub(crate) fn l1_overlapping(&self, t1: Timestamp, t2: Timestamp) -> &'a [crate::sync::Arc<Segment<T>>] {
        let l1 = &self.m.l1;
        let a = l1.partition_point(|s| s.max_ts < t1);
        let b = l1.partition_point(|s| s.min_ts <= t2);
        &l1[a..b.max(a)]
    }
}

/// The visible records of memtable `mt` in `[t1, t2]`, added to `n`.
fn count_memtable<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    vis: &Vis<'_>,
    t1: Timestamp,
    t2: Timestamp,
    n: &mut usize,
) {
    if let Some(k) = count_viewed(mt, vis, t1, t2) {
        *n += k;
        return;
    }
    for_each_visible_run(mt, vis, t1, t2, |a, b| *n += b - a);
    ooo_walk::<Asc, T>(mt, vis, t1, t2, |_, _, _| {
        *n += 1;
        true
    });
}

/// The visible records of memtable `mt` in `[t1, t2]`, run and skiplist
/// together, through a merged view that exists and serves the reader
/// (R13), without visiting the late records one by one (issue 10's bound):
/// two binary searches of the view plus the run's positions after it.
/// `None` (count the usual way) where a tombstone the reader sees covers
/// part of the range (the view holds records, not visibility), where no
/// view serves the reader, or where the skiplist may hold records newer
/// than the view in the range (its late floor, R13 (6), is at or below
/// `t2`): they would have to be found one by one. Builds nothing.
fn count_viewed<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    vis: &Vis<'_>,
    t1: Timestamp,
    t2: Timestamp,
) -> Option<usize> {
    if mt.ooo_is_empty() || !vis.cov.overlapping(t1, t2).is_empty() {
        return None;
    }
    let m = mt.merged_existing(vis.w)?;
    if mt.late_floor(m.w).is_some_and(|floor| floor <= t2) {
        return None;
    }
    // Every record of the view is visible to the reader (`m.w <= w`, no
    // covering tombstone); the run's positions after it have sequences
    // `> m.w` (R3) and are counted from the run.
    let (a, b) = m.bounds(t1, t2);
    let mut n = b - a;
    for_each_visible_run(mt, vis, t1, t2, |a, b| n += b.saturating_sub(a.max(m.run_n)));
    Some(n)
}

/// Builds the settled entry of manifest `m` (see [`Settled`]; only for a
/// view none of whose memtables holds a tombstone, so that the manifest's
/// list is all it sees): the list's coverage and, per segment, its first
/// and last visible timestamps and how many of its records are visible.
/// Once per stripe and manifest: per segment, a pair of seeks per covering
/// interval over it.
fn settle<T: Send + Sync + 'static>(m: &Manifest<T>) -> Settled {
    let b = CoverageBuilder::new().list(&m.tombstones);
    crate::hooks::visit(m.tombstones.len());
    let cov = b.build();
    let mut seg_visible = 0;
    let mut bounds = |s: &Segment<T>| {
        let (mut first, mut last) = (None, 0);
        for_each_visible_segment(s, Timestamp::MIN, Timestamp::MAX, &cov, |a, b| {
            seg_visible += b - a;
            first = first.or(Some(a));
            last = b - 1;
        });
        first.map(|a| (s.ts_at(a), s.ts_at(last)))
    };
    let l0_live = m.l0.iter().enumerate().filter_map(|(i, s)| bounds(s).map(|(x, y)| (i, x, y))).collect();
    let l1_vis = m.l1.iter().map(|s| bounds(s)).collect();
    Settled { cov, l0_live, l1_vis, seg_visible }
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

/// The visibility rule over a segment (R8: every record orders as
/// `tomb_applied`, so a covering interval newer than it hides a whole
/// position range, found by two seeks): calls `f(a, b)` for each
/// non-empty visible position range within `[t1, t2]`, in ascending order.
#[inline(always)]
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
    let hi = s.upper_bound_from(lo, t2);
    let mut cur = lo;
    if lo >= hi {
        return;
    }
    // Only the intervals over the segment's part of the range (binary
    // search), and only those newer than what the segment applied (R8).
    for &(a, b, m) in cov.overlapping(ta, tb) {
        if !Vis::hides(m, s.tomb_applied) {
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

/// The run's length (every record appended, committed or not), its last
/// slot, located, and that slot's timestamp, if the run's bounds meet
/// `[t1, t2]` (R3: sorted: any record of the range lies between its first
/// and last timestamps); `None` otherwise. `first_ts` first: a read below the run (of older data
/// beside an appender) never loads the appender's hot line. The last
/// slot's sequence (another cache line) is loaded only by a caller that
/// asks for it (`RunSlot::seq`, for
/// [`Run::visible_len`](crate::memtable::run::Run::visible_len)).
#[inline(always)]
pub(crate) fn run_tail_in<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    t1: Timestamp,
    t2: Timestamp,
) -> Option<(usize, RunSlot<'_, T>, Timestamp)> {
    let run = &mt.run;
    if run.first_ts() > t2 {
        return None;
    }
    let len = run.len();
    if len == 0 {
        return None;
    }
    let slot = run.slot_at(len - 1);
    let last = slot.ts();
    (t1 <= last).then_some((len, slot, last))
}

/// The visibility rule over a memtable's run: calls `f(a, b)` for each
/// non-empty visible position range within `[t1, t2]`, in ascending order.
/// Sequences increase along the run (R3), so the records the watermark
/// admits are a prefix (R5), and inside a covering interval of sequence
/// `m` the hidden ones (sequence below `m`, R7) are a prefix of its
/// positions: each interval costs a few searches.
#[inline(always)]
pub(crate) fn for_each_visible_run<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    vis: &Vis<'_>,
    t1: Timestamp,
    t2: Timestamp,
    mut f: impl FnMut(usize, usize),
) {
    let run = &mt.run;
    // The run is sorted: skip it without a search when `[t1, t2]` misses
    // its first-to-last span (any visible record lies inside it). The
    // last slot is located once, for its timestamp and its sequence.
    let Some((n, slot, last)) = run_tail_in(mt, t1, t2) else { return };
    let nvis = run.visible_len(vis.w, n, slot.seq());
    let lo = run.lower_bound(t1, 0, nvis);
    // A short read (a point above all) ends a few records after it starts:
    // one probe `NEAR` records on says whether to scan only up to it or to
    // search the rest of the run (one probe more than a search of the
    // whole run).
    const NEAR: usize = 8;
    let p = lo + NEAR;
    let hi = if p >= nvis {
        run.upper_bound(t2, lo, nvis)
    } else if run.ts_at(p) > t2 {
        // The end lies within `NEAR` records of the start: a scan of them
        // (a point read: two loads), not a search, as a point read's
        // `run_point` scans its equal run.
        let mut k = lo;
        while k < p && run.ts_at(k) <= t2 {
            k += 1;
        }
        k
    } else if (if nvis == n { last } else { run.ts_at(nvis - 1) }) <= t2 {
        // A read to the end of the run (`since(t)`, `all()`): no search,
        // as a segment's `upper_bound_from` tests its `max_ts`.
        nvis
    } else {
        run.upper_bound(t2, p + 1, nvis)
    };
    if lo >= hi {
        return;
    }
    let mut cur = lo;
    for &(a, b, m) in vis.cov.overlapping(t1, t2) {
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

/// Walks the skiplist of `mt` over `[lo, hi]` in direction `D`.
fn ooo_dir<'a, D: Dir, T: Send + Sync + 'static>(
    mt: &'a Memtable<T>,
    lo: Timestamp,
    hi: Timestamp,
    f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool,
) {
    if D::DESC {
        mt.ooo_range_rev(lo, hi, f)
    } else {
        mt.ooo_range(lo, hi, f)
    }
}

/// The visibility rule over a memtable's skiplist: calls `f(ts, seq, v)`
/// for each visible record in `[lo, hi]`, in `(ts, seq)` order of
/// direction `D`, until `f` returns false. Its sequences are not ordered,
/// so each record is tested ([`Vis::visible`]); but a covered stretch
/// whose tombstones are all newer than every skiplist record of the
/// memtable (`ooo_max_seq`) hides all of them (R7): the walk seeks past it
/// instead of visiting them. Only where a covering tombstone may be older
/// than some skiplist record (a record inserted after the delete, possibly
/// at a deleted timestamp) are the covered records checked one by one.
#[inline(always)]
pub(crate) fn ooo_walk<'a, D: Dir, T: Send + Sync + 'static>(
    mt: &'a Memtable<T>,
    vis: &Vis<'_>,
    mut lo: Timestamp,
    mut hi: Timestamp,
    mut f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool,
) {
    if mt.ooo_is_empty() {
        return;
    }
    let newest = mt.ooo_max_seq();
    loop {
        let (mut resume, mut stopped) = (None, false);
        ooo_dir::<D, T>(mt, lo, hi, |ts, seq, v| {
            if vis.visible(ts, seq) {
                stopped = !f(ts, seq, v);
                return !stopped;
            }
            if seq <= vis.w {
                if let Some(r) = D::past_hidden(vis.cov, ts, newest) {
                    resume = Some(r);
                    return false;
                }
            }
            true
        });
        match resume {
            Some(Some(t)) if !stopped && lo <= t && t <= hi => {
                if D::DESC {
                    hi = t;
                } else {
                    lo = t;
                }
            }
            _ => return,
        }
    }
}
