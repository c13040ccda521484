//! Point lookups and navigation: binary searches in each source, no merge.
//!
//! Both walk the sources of [`View::sources`] and decide visibility by
//! [`Vis`] (module `query::view`); navigation is written once for both
//! directions ([`Dir`]): `next_ts`/`min_ts` are [`View::nav`]`::<Asc>`,
//! `prev_ts`/`max_ts` are `nav::<Desc>`.

use super::dir::{Asc, Desc, Dir};
use super::plan::ooo_may_hold;
use super::view::{ooo_walk, run_tail_in, SourceRef, View, Vis};
use crate::manifest::Manifest;
use crate::memtable::merged::Merged;
use crate::memtable::Memtable;
use crate::segment::{Seek, Segment};
use crate::tombstone::CovRef;
use crate::{SeqNo, Timestamp};

impl<'a, T: Send + Sync + 'static> View<'a, T> {
    /// Visits the visible records at exactly `ts`, in insertion order.
    /// Returns how many there were.
    ///
    /// Sources whose `[min, max]` cannot contain `ts` are skipped before any
    /// search: segments by their bounds, memtable runs by their first and
    /// last record (the run is sorted). The out-of-order skiplist has no
    /// cheap bound; it is skipped only while empty (`ooo_range`). Deleted
    /// records at `ts` are never visited: a segment under a newer tombstone
    /// is skipped whole (R8), and in a memtable the hidden records at `ts`
    /// (sequence below the newest covering tombstone, R7) are skipped by a
    /// search — a prefix of the equal-timestamp run (R3), a key range of the
    /// skiplist (keyed by `(ts, seq)`).
    pub(crate) fn point(&self, ts: Timestamp, mut f: impl FnMut(&'a T)) -> usize {
        let cov = self.cov();
        let vis = Vis { w: self.w, cov: &cov };
        let hide = vis.hiding(ts);
        let mut n = 0;
        // Memtables are visited oldest first: every record of a sealed
        // memtable has a smaller sequence than every record of a later one
        // (R2), so insertion order only needs a merge inside one memtable,
        // where run and skiplist records interleave by sequence.
        let mut mem: Vec<(SeqNo, &'a T)> = Vec::new();
        let go_on = self.segments_in(ts, ts, &cov, |src, _| {
            match src {
                SourceRef::L1(segs) => segs.iter().for_each(|s| n += seg_point(s, &vis, ts, &mut f)),
                SourceRef::L0(s) => n += seg_point(s, &vis, ts, &mut f),
                SourceRef::Run(_) | SourceRef::Ooo(_) => debug_assert!(false, "segments_in hands out segments only"),
            }
            true
        });
        if !go_on {
            return n;
        }
        for mt in self.memtables() {
            // Sequences increase along the run (R3): if the skiplist holds
            // nothing this view sees at `ts` — empty (its nodes are counted
            // before the commit, R5), or its filter clear there (R6
            // "filter": `self.w` was loaded with Acquire) — the run's
            // records are already in insertion order: no buffer, no sort.
            if !mt.ooo_may_hold(ts) {
                run_point(mt, &vis, ts, hide, false, |_, v| {
                    f(v);
                    n += 1;
                });
                continue;
            }
            if let Some(m) = point_view(mt, &vis, ts, hide) {
                // The view's records at `ts` (sequences `<= m.w`, in order:
                // it is sorted by `(ts, seq)`), then the run's newer ones
                // (positions from `m.run_n`, sequences above `m.w`, R3):
                // insertion order, and no search of the skiplist.
                let (a, b) = m.bounds(ts, ts);
                m.val[a..b].iter().for_each(&mut f);
                n += b - a;
                run_point(mt, &vis, ts, 0, true, |seq, v| {
                    if seq > m.w {
                        f(v);
                        n += 1;
                    }
                });
                continue;
            }
            run_point(mt, &vis, ts, hide, true, |seq, v| mem.push((seq, v)));
            // The skiplist from key `(ts, hide + 1)`: the hidden records
            // are not visited.
            mt.ooo_range_from(ts, hide.saturating_add(1), ts, |_, seq, v| {
                if vis.visible(ts, seq) {
                    mem.push((seq, v));
                }
                true
            });
            mem.sort_by_key(|e| e.0);
            for (_, v) in mem.drain(..) {
                f(v);
                n += 1;
            }
        }
        n
    }

    /// Whether a visible record has timestamp `ts`: [`point`](Self::point)'s
    /// reads, stopping at the first visible record. A memtable's run is
    /// read before its skiplist, so a timestamp the run holds is answered
    /// without asking the skiplist's filter, and without reading its view
    /// or searching it where the filter says yes (on 7.3% of a 5%-late
    /// memtable's lookups). Where the run holds none, the view's records
    /// at `ts` are all visible when [`point_view`] serves the reader, and
    /// the skiplist is otherwise searched from `(ts, hide + 1)` for a
    /// visible record.
    pub(crate) fn contains(&self, ts: Timestamp) -> bool {
        let cov = self.cov();
        let vis = Vis { w: self.w, cov: &cov };
        let hide = vis.hiding(ts);
        let mut found = false;
        let seen = |s: &Segment<T>| seg_point(s, &vis, ts, &mut |_| ()) > 0;
        self.segments_in(ts, ts, &cov, |src, _| {
            found = match src {
                SourceRef::L1(segs) => segs.iter().any(|s| seen(s)),
                SourceRef::L0(s) => seen(s),
                SourceRef::Run(_) | SourceRef::Ooo(_) => unreachable!("segments_in hands out segments only"),
            };
            !found
        });
        found
            || self.memtables().any(|mt| {
                let mut any = false;
                run_point(mt, &vis, ts, hide, false, |_, _| any = true);
                any || (mt.ooo_may_hold(ts)
                    && match point_view(mt, &vis, ts, hide) {
                        Some(m) => {
                            let (a, b) = m.bounds(ts, ts);
                            a < b
                        }
                        None => {
                            let mut hit = false;
                            mt.ooo_range_from(ts, hide.saturating_add(1), ts, |_, seq, _| {
                                hit = vis.visible(ts, seq);
                                !hit
                            });
                            hit
                        }
                    })
            })
    }

    /// Smallest visible timestamp `>= t`.
    pub(crate) fn first_at_or_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.nav::<Asc>(t)
    }

    /// Greatest visible timestamp `<= t`.
    pub(crate) fn last_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        self.nav::<Desc>(t)
    }

    /// The first visible timestamp from `t` on (inclusive) in direction
    /// `D`: the smallest `>= t` ascending, the greatest `<= t` descending.
    ///
    /// L1 first (its first visible record in reading order is usually the
    /// answer), then every other source only if its bounds can improve on
    /// the best so far: a source whose nearest timestamp is not before the
    /// best, or which lies wholly behind `t`, holds no better answer
    /// whatever its visibility and tombstones, so it is not searched; and a
    /// search stops as soon as its next candidate is not before the best so
    /// far. Inside a source, a candidate under a tombstone that hides it
    /// seeks past the covered stretch ([`Dir::past_hidden`]): deleted
    /// records are never walked one by one.
    pub(crate) fn nav<D: Dir>(&self, t: Timestamp) -> Option<Timestamp> {
        let cov = self.cov();
        self.nav_in::<D, false>(t, &cov).flatten()
    }

    /// [`nav`](Self::nav) with the coverage `cov`. With `WFREE` (a
    /// watermark-free read, R15: `self.w` is then no watermark and only
    /// segment records are judged by it, which every view sees), a memtable
    /// source that may hold a better answer — by its bounds or by a record
    /// of its skiplist in the range, committed or not — is not read:
    /// `None`, the read is undecided. Without `WFREE`, always `Some` (a
    /// parameter of the type, so the ordinary read compiles without the
    /// checks).
    fn nav_in<D: Dir, const WFREE: bool>(&self, t: Timestamp, cov: &CovRef<'_>) -> Option<Option<Timestamp>> {
        let vis = Vis { w: self.w, cov };
        let (lo, hi) = if D::DESC { (Timestamp::MIN, t) } else { (t, Timestamp::MAX) };
        // The timestamp of `[a, b]` read first in direction `D`.
        let near = |a: Timestamp, b: Timestamp| if D::DESC { b } else { a };
        // Whether a source with timestamps in `[a, b]` may hold a better answer.
        let useful = |best: Option<Timestamp>, a: Timestamp, b: Timestamp| {
            b >= lo && a <= hi && best.is_none_or(|x| D::before(near(a, b), x))
        };
        let take = |best: &mut Option<Timestamp>, c: Option<Timestamp>| {
            if let Some(c) = c {
                *best = Some(best.map_or(c, |b| D::best(b, c)));
            }
        };
        let mut best: Option<Timestamp> = None;
        let mut undecided = false;
        // The settled coverage knows each segment's visible bounds.
        let settled = cov.settled();
        let go_on = self.segments_in(lo, hi, cov, |src, vb| {
            if best == Some(t) {
                return false; // nothing comes before `t`
            }
            match src {
                // L1 windows are sorted and disjoint: the first one in
                // reading order with a visible record holds the L1 answer.
                // A segment whose part from `t` on is hidden whole is passed
                // over by a coverage lookup (or, settled, by its visible
                // bounds), without touching its records.
                SourceRef::L1(segs) => {
                    let base = settled.map_or(0, |_| self.l1_index(segs));
                    let first = |(j, s): (usize, &crate::sync::Arc<Segment<T>>)| match settled {
                        Some(st) => st.l1_vis[base + j].and_then(|b| seg_nav::<D, T>(s, t, &vis, None, Some(b))),
                        None => seg_nav::<D, T>(s, t, &vis, None, None),
                    };
                    let mut it = segs.iter().enumerate();
                    let c = if D::DESC { it.rev().find_map(first) } else { it.find_map(first) };
                    take(&mut best, c);
                }
                SourceRef::L0(s) => {
                    let (a, b) = vb.unwrap_or((s.min_ts, s.max_ts));
                    if useful(best, a, b) {
                        let c = seg_nav::<D, T>(s, t, &vis, best, vb);
                        take(&mut best, c);
                    }
                }
                SourceRef::Run(_) | SourceRef::Ooo(_) => debug_assert!(false, "segments_in hands out segments only"),
            }
            true
        });
        if !go_on {
            return Some(best);
        }
        // The memtables, oldest first, each its run, then its skiplist.
        for mt in self.memtables() {
            if best == Some(t) {
                break; // nothing comes before `t`
            }
            // Whether the run arm read the memtable's merged view: its
            // skiplist records are all in it (`nav_view`), its skiplist is
            // passed.
            let mut viewed = false;
            let run = &mt.run;
            // `first_ts` first (see `point`): a run that cannot improve on
            // the answer by its smallest timestamp alone is passed without
            // loading the appender's hot line.
            let first = run.first_ts();
            if first <= hi && (D::DESC || best.is_none_or(|b| first < b)) {
                #[cfg(not(timelog_fault = "wfree_reads_run"))]
                if WFREE {
                    undecided = true;
                    break;
                }
                if let Some(m) = nav_view(mt, &vis) {
                    let c = merged_nav::<D, T>(m, t, best);
                    take(&mut best, c);
                    viewed = true;
                } else {
                    let len = run.len();
                    if len > 0 {
                        let slot = run.slot_at(len - 1);
                        if useful(best, first, slot.ts()) {
                            let c = run_nav::<D, T>(mt, (len, slot.seq()), t, &vis, best);
                            take(&mut best, c);
                        }
                    }
                }
            }
            if viewed {
                continue;
            }
            if best == Some(t) {
                break;
            }
            // The skiplist: only records before the best so far can
            // improve it.
            let (a, b) = match best {
                None => (lo, hi),
                Some(x) if D::DESC => (x.saturating_add(1), hi),
                Some(x) => (lo, x.saturating_sub(1)),
            };
            if WFREE {
                // Any record in `[a, b]`, committed or not (R15).
                let mut any = false;
                mt.ooo_range(a, b, |_, _, _| {
                    any = true;
                    false
                });
                if any {
                    undecided = true;
                    break;
                }
                continue;
            }
            let mut found = None;
            ooo_walk::<D, T>(mt, &vis, a, b, |ts, _, _| {
                found = Some(ts);
                false
            });
            take(&mut best, found);
        }
        (!undecided).then_some(best)
    }

    /// A watermark-free [`point`](Self::point) of manifest `m` (R15):
    /// `None` — before any call of `f` — when the answer may depend on the
    /// watermark (a memtable may hold a record at `ts`, or the coverage of
    /// its tombstones is not known without it); the caller then reads with
    /// one. The coverage is decided first, then the memtables (R15's order).
    #[inline]
    pub(crate) fn point_wfree(m: &'a Manifest<T>, ts: Timestamp, mut f: impl FnMut(&'a T)) -> Option<usize> {
        // Early, by a run's first timestamp and a skiplist's filter only
        // (no search): a point a memtable may hold reads with the
        // watermark, without taking the coverage, and searches the skiplist
        // once (in `point`). A point at or after a run's first timestamp is
        // most often in it (a read of recent records): the run's length and
        // last timestamp are left to `point`, which reads them anyway (as
        // `nav_wfree` does). Not R15's check, which follows the coverage.
        // R15: only segment records are judged; every view sees them (R8).
        let view = View { m, w: SeqNo::MAX };
        let may_hold = |mt: &Memtable<T>| mt.run.first_ts() <= ts || mt.ooo_may_hold(ts);
        if may_hold(&m.active) || m.sealed.iter().any(|mt| may_hold(mt)) {
            return None;
        }
        // The settled coverage only where no memtable tombstone may cover
        // `ts` (R15 "span"): nothing left out can hide the answer.
        let (cov, _) = Self::cov_wfree(m, ts)?;
        let holds = |mt: &Memtable<T>| run_tail_in(mt, ts, ts).is_some() || ooo_may_hold(mt, ts);
        if holds(&m.active) || m.sealed.iter().any(|mt| holds(mt)) {
            return None;
        }
        let vis = Vis { w: SeqNo::MAX, cov: &cov };
        let mut n = 0;
        // The memtables were shown above to hold nothing at `ts`.
        view.segments_in(ts, ts, &cov, |src, _| {
            match src {
                SourceRef::L1(segs) => segs.iter().for_each(|s| n += seg_point(s, &vis, ts, &mut f)),
                SourceRef::L0(s) => n += seg_point(s, &vis, ts, &mut f),
                SourceRef::Run(_) | SourceRef::Ooo(_) => debug_assert!(false, "segments_in hands out segments only"),
            }
            true
        });
        Some(n)
    }

    /// A watermark-free [`nav`](Self::nav) of manifest `m` (R15): `None`
    /// when the answer may depend on the watermark.
    #[inline]
    pub(crate) fn nav_wfree<D: Dir>(m: &'a Manifest<T>, t: Timestamp) -> Option<Option<Timestamp>> {
        // Early, by the runs' first timestamps alone: a run that starts at
        // or before `t` likely holds the answer, or a record before it (a
        // read of recent records) — read with the watermark at once, without
        // taking the coverage or searching the segments twice. Not R15's
        // check, which follows the coverage (`nav_in`).
        // R15: only segment records are judged; every view sees them (R8).
        let view = View { m, w: SeqNo::MAX };
        if view.memtables().any(|mt| mt.run.first_ts() <= t) {
            return None;
        }
        let (cov, span) = Self::cov_wfree(m, t)?;
        let r = view.nav_in::<D, true>(t, &cov)?;
        // R15 "span": the tombstones `cov` left out only hide more, so an
        // answer none of them may cover is the answer (and none stays none).
        #[cfg(not(timelog_fault = "wfree_span_unchecked"))]
        if r.is_some_and(|a| span.covers(a)) {
            return None;
        }
        #[cfg(timelog_fault = "wfree_span_unchecked")]
        let _ = span;
        Some(r)
    }
}

/// The records of segment `s` at exactly `ts`, unless a tombstone newer
/// than what the segment applied covers `ts` (then none: R8).
#[inline]
fn seg_point<'a, T>(s: &'a Segment<T>, vis: &Vis<'_>, ts: Timestamp, f: &mut impl FnMut(&'a T)) -> usize {
    if vis.visible(ts, s.tomb_applied) {
        s.for_each_at(ts, f)
    } else {
        0
    }
}

/// The records of the run at exactly `ts` that the view sees, in position
/// (= sequence, R3) order: the visible prefix of the run (R5), then the
/// records at `ts` minus those `hide` hides, a prefix of them (R3, R7);
/// with their sequences if `with_seq` (0 otherwise).
fn run_point<'a, T: Send + Sync + 'static>(
    mt: &'a Memtable<T>,
    vis: &Vis<'_>,
    ts: Timestamp,
    hide: SeqNo,
    with_seq: bool,
    mut f: impl FnMut(SeqNo, &'a T),
) {
    let run = &mt.run;
    let Some((len, last, _)) = run_tail_in(mt, ts, ts) else { return };
    let nvis = run.visible_len(vis.w, len, last.seq());
    let mut i = run.lower_bound(ts, 0, nvis);
    if hide > 0 {
        let end = run.upper_bound(ts, i, nvis);
        i = run.seq_upper_bound(hide, i, end);
    }
    // The equal run, a bucket's slice at a time: one slot lookup per
    // slice, not one per timestamp, sequence and payload read.
    while i < nvis {
        let s = run.slice_at(i, nvis);
        let mut k = 0;
        // SAFETY: `slice_at`'s contract: its `len` positions from `i` are
        // below the published `nvis <= len` (R4), so initialized before
        // that publication and never written again; the payloads live as
        // long as the run (R6), which `'a` borrows.
        unsafe {
            while k < s.len && *s.ts.add(k) == ts {
                // The sequence only for a merge with the skiplist's
                // records: its array is another cache line (a miss, in a
                // large run).
                f(if with_seq { *s.seq.add(k) } else { 0 }, &*s.val.add(k));
                k += 1;
            }
        }
        if k < s.len {
            return;
        }
        i += k;
    }
}

/// A merged view of `mt` that holds every late record a point read at `ts`
/// can see (R13), as `count_viewed` finds one for a count: one exists and
/// serves the reader (`merged_existing`: `m.w <= w`), no tombstone the
/// reader sees covers `ts` (`hide == 0`: the view holds records, not
/// their visibility), and the skiplist holds no record newer than the view
/// at `ts` (its late floor, R13 (6), is above `ts`, or there is none).
/// Then the view's records at `ts` are every run and skiplist record
/// there with a sequence `<= m.w`, all visible to the reader, and the
/// rest are the run's positions after the view's. A point read through it
/// makes a search of a sorted array (interpolated) instead of the
/// skiplist's (about 18 cache misses per search, session 32). Builds
/// nothing.
#[inline]
fn point_view<'a, T: Send + Sync + 'static>(
    mt: &'a Memtable<T>,
    vis: &Vis<'_>,
    ts: Timestamp,
    hide: SeqNo,
) -> Option<&'a crate::memtable::merged::Merged<T>> {
    if hide != 0 {
        return None;
    }
    let m = mt.merged_existing(vis.w)?;
    mt.late_floor(m.w).is_none_or(|floor| floor > ts).then_some(m)
}

/// The first visible timestamp of `s` from `t` on in direction `D`, if it
/// comes before `best`. Each hidden candidate seeks past its covered
/// stretch (R8: a tombstone newer than `tomb_applied` hides every record
/// of the segment it covers).
///
/// A segment whose part from `t` on is hidden whole is passed over by one
/// coverage lookup, without touching its records (segments differ in
/// `tomb_applied`: each is checked against its own). With its visible
/// bounds `vb` (its first and last visible timestamps, from the settled
/// coverage: [`Settled`](crate::tombstone::Settled)), a `t` outside them
/// is answered without a search: the nearer bound, or nothing.
fn seg_nav<D: Dir, T>(
    s: &Segment<T>,
    t: Timestamp,
    vis: &Vis<'_>,
    best: Option<Timestamp>,
    vb: Option<(Timestamp, Timestamp)>,
) -> Option<Timestamp> {
    if let Some((x, y)) = vb {
        let (near, far) = if D::DESC { (y, x) } else { (x, y) };
        // `t` at or before the first visible record in reading order: it
        // is the answer; past the last one: there is none.
        if !D::before(near, t) {
            return best.is_none_or(|b| D::before(near, b)).then_some(near);
        }
        if D::before(far, t) {
            return None;
        }
    }
    let (start, far) = if D::DESC { (t.min(s.max_ts), s.min_ts) } else { (t.max(s.min_ts), s.max_ts) };
    match D::past_hidden(vis.cov, start, s.tomb_applied) {
        Some(None) => return None,
        Some(Some(r)) if D::before(far, r) => return None,
        _ => {}
    }
    let lower = |x: Timestamp| s.seek(x, false);
    let upper = |x: Timestamp| s.seek(x, true);
    let mut c = D::cut(t, lower, upper);
    while let Some(i) = D::candidate(c.pos, s.len) {
        let ts = D::known(&c).unwrap_or_else(|| s.ts_at(i));
        if best.is_some_and(|b| !D::before(ts, b)) {
            return None;
        }
        match D::past_hidden(vis.cov, ts, s.tomb_applied) {
            None => return Some(ts),
            Some(None) => return None,
            Some(Some(r)) => c = D::cut(r, lower, upper),
        }
    }
    None
}

/// The merged view of `mt` (R13) if it holds exactly the memtable's
/// records that `vis` sees, so that navigation reads it alone, one search
/// instead of the run's search and a walk of the skiplist (which, with 5%
/// late records, a `next_ts` whose answer is late pays 5% of the time, a
/// chain of node misses): no tombstone the view sees (the view holds
/// records, not visibility), and a view that holds every record the
/// reader sees ([`Memtable::merged_exact`]). Never builds a view.
#[inline]
fn nav_view<'a, T: Send + Sync + 'static>(mt: &'a Memtable<T>, vis: &Vis<'_>) -> Option<&'a Merged<T>> {
    if !vis.cov.is_empty() {
        return None;
    }
    mt.merged_exact(vis.w)
}

impl<T: Send + Sync + 'static> View<'_, T> {
    /// Whether navigation reads the active memtable through its merged
    /// view alone (`nav_view`), for tests of that path.
    #[cfg(test)]
    pub(crate) fn nav_reads_view(&self) -> bool {
        let cov = self.cov();
        nav_view(&self.m.active, &Vis { w: self.w, cov: &cov }).is_some()
    }
}

/// The first timestamp of view `m` from `t` on in direction `D`, if it
/// comes before `best` (every record of the view is visible: `nav_view`).
#[inline]
fn merged_nav<D: Dir, T>(m: &Merged<T>, t: Timestamp, best: Option<Timestamp>) -> Option<Timestamp> {
    let c = D::cut(t, |x| m.seek(x, false), |x| m.seek(x, true));
    let i = D::candidate(c.pos, m.len())?;
    let ts = D::known(&c).unwrap_or(m.ts[i]);
    best.is_none_or(|b| D::before(ts, b)).then_some(ts)
}

/// The first visible timestamp of the run from `t` on in direction `D`, if
/// it comes before `best`. No visible run record is newer than the last
/// visible one (R3), so a stretch of tombstones all newer than it hides
/// the run there whole (one seek); elsewhere, per covered interval `[a, b)`
/// of newest sequence `m`, the hidden records (sequence below `m`) are a
/// prefix of the interval's positions (R3), so one search passes them.
/// `(len, last_seq)` is a published length of the run (R4), the caller's,
/// `len > 0`, and the sequence at `len - 1`.
fn run_nav<D: Dir, T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    (len, last_seq): (usize, SeqNo),
    t: Timestamp,
    vis: &Vis<'_>,
    best: Option<Timestamp>,
) -> Option<Timestamp> {
    let run = &mt.run;
    let nvis = run.visible_len(vis.w, len, last_seq);
    if nvis == 0 {
        return None;
    }
    let lower = |x: Timestamp| run.seek(x, false, 0, nvis);
    let upper = |x: Timestamp| run.seek(x, true, 0, nvis);
    let mut c = D::cut(t, lower, upper);
    let newest = if vis.cov.is_empty() { SeqNo::MAX } else { run.seq_at(nvis - 1) };
    while let Some(i) = D::candidate(c.pos, nvis) {
        let ts = D::known(&c).unwrap_or_else(|| run.ts_at(i));
        if best.is_some_and(|b| !D::before(ts, b)) {
            return None;
        }
        if vis.cov.is_empty() {
            // Nothing hidden: the first candidate is the answer.
            return Some(ts);
        }
        match D::past_hidden(vis.cov, ts, newest) {
            None => {}
            Some(None) => return None,
            Some(Some(r)) => {
                c = D::cut(r, lower, upper);
                continue;
            }
        }
        match vis.cov.interval_at(ts) {
            Some((a, b, m)) if Vis::hides(m, run.seq_at(i)) => {
                // The hidden prefix of the interval's positions: ascending,
                // continue at its end (the first record with sequence `>= m`,
                // visible there, or past the interval); descending, the
                // candidate is in it, so everything of the interval up to
                // it is hidden: continue below the interval.
                c = Seek::pos(if D::DESC {
                    run.lower_bound(a, 0, c.pos)
                } else {
                    let pb = run.lower_bound(b, i, nvis);
                    run.seq_upper_bound(m - 1, i, pb)
                });
            }
            _ => return Some(ts),
        }
    }
    None
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    //! The per-source seeks against a brute-force reference: a record
    //! `(ts, seq)` is visible under watermark `w` iff `seq <= w` and no
    //! tombstone with a sequence in `(seq, w]` covers `ts` (R7); a segment
    //! record orders as `tomb_applied` (R8).

    use super::*;
    use crate::segment::{Level, SegmentBuilder};
    use crate::tombstone::Coverage;

    fn vis_of(cov: &Coverage, w: SeqNo) -> Vis<'_> {
        Vis { w, cov }
    }
    fn seg_first<T>(s: &Segment<T>, t: Timestamp, cov: &Coverage, best: Option<Timestamp>) -> Option<Timestamp> {
        seg_nav::<Asc, T>(s, t, &vis_of(cov, SeqNo::MAX), best, None)
    }
    fn seg_last<T>(s: &Segment<T>, t: Timestamp, cov: &Coverage, best: Option<Timestamp>) -> Option<Timestamp> {
        seg_nav::<Desc, T>(s, t, &vis_of(cov, SeqNo::MAX), best, None)
    }
    /// The run's length and the sequence at its last slot, as `nav_in`
    /// passes them (the tests' runs are not empty).
    fn tail(mt: &Memtable<u64>) -> (usize, SeqNo) {
        let len = mt.run.len();
        (len, mt.run.seq_at(len - 1))
    }
    fn run_first(
        mt: &Memtable<u64>,
        w: SeqNo,
        t: Timestamp,
        cov: &Coverage,
        best: Option<Timestamp>,
    ) -> Option<Timestamp> {
        run_nav::<Asc, u64>(mt, tail(mt), t, &vis_of(cov, w), best)
    }
    fn run_last(
        mt: &Memtable<u64>,
        w: SeqNo,
        t: Timestamp,
        cov: &Coverage,
        best: Option<Timestamp>,
    ) -> Option<Timestamp> {
        run_nav::<Desc, u64>(mt, tail(mt), t, &vis_of(cov, w), best)
    }
    fn ooo_nav<D: Dir>(
        mt: &Memtable<u64>,
        w: SeqNo,
        lo: Timestamp,
        hi: Timestamp,
        cov: &Coverage,
    ) -> Option<Timestamp> {
        let mut found = None;
        ooo_walk::<D, u64>(mt, &vis_of(cov, w), lo, hi, |ts, _, _| {
            found = Some(ts);
            false
        });
        found
    }
    fn ooo_first(mt: &Memtable<u64>, w: SeqNo, lo: Timestamp, hi: Timestamp, cov: &Coverage) -> Option<Timestamp> {
        ooo_nav::<Asc>(mt, w, lo, hi, cov)
    }
    fn ooo_last(mt: &Memtable<u64>, w: SeqNo, lo: Timestamp, hi: Timestamp, cov: &Coverage) -> Option<Timestamp> {
        ooo_nav::<Desc>(mt, w, lo, hi, cov)
    }
    use crate::sync::{Arc, AtomicUsize};
    use crate::tombstone::Tombstone;

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn cov_of(tombs: &[Tombstone], w: SeqNo) -> Coverage {
        let mut v: Vec<Tombstone> = tombs.iter().copied().filter(|t| t.seq <= w).collect();
        Coverage::build(&mut v, Timestamp::MIN, Timestamp::MAX)
    }

    fn hidden(tombs: &[Tombstone], w: SeqNo, ts: Timestamp, seq: SeqNo) -> bool {
        seq > w || tombs.iter().any(|t| t.seq <= w && t.seq > seq && t.covers(ts))
    }

    #[test]
    fn segment_seeks_match_a_scan() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let ctr = Arc::new(AtomicUsize::new(0));
        for round in 0..60 {
            let mut b = SegmentBuilder::new(1 + rng.below(70) as usize);
            let mut ts: Vec<Timestamp> = (0..1 + rng.below(400)).map(|_| rng.below(300) as i64).collect();
            ts.sort();
            for &t in &ts {
                b.push(t, t);
            }
            let applied = 50;
            let s = b.finish(1, Level::L0, applied, applied, None, &ctr).unwrap();
            // Older tombstones (applied) and newer ones, nested and overlapping.
            let tombs: Vec<Tombstone> = (0..rng.below(30))
                .map(|i| {
                    let a = if round % 2 == 0 { 0 } else { rng.below(300) as i64 };
                    Tombstone { t1: a, t2: a + rng.below(120) as i64, seq: 40 + i * 3 }
                })
                .collect();
            let w = 1000;
            let cov = cov_of(&tombs, w);
            let vis: Vec<Timestamp> = ts.iter().copied().filter(|&t| !hidden(&tombs, w, t, applied)).collect();
            // The visible bounds a settled coverage hands with the segment.
            let vb = vis.first().map(|&a| (a, *vis.last().unwrap()));
            for t in -2..305 {
                for best in [None, Some(t + 3), Some(t + 40)] {
                    let want = vis.iter().copied().find(|&x| x >= t && best.is_none_or(|b| x < b));
                    assert_eq!(seg_first(&s, t, &cov, best), want, "seg_first({t}, {best:?})");
                    let got = seg_nav::<Asc, _>(&s, t, &vis_of(&cov, SeqNo::MAX), best, vb);
                    assert_eq!(got, want, "seg_first({t}, {best:?}) within {vb:?}");
                }
                for best in [None, Some(t - 3), Some(t - 40)] {
                    let want = vis.iter().rev().copied().find(|&x| x <= t && best.is_none_or(|b| x > b));
                    assert_eq!(seg_last(&s, t, &cov, best), want, "seg_last({t}, {best:?})");
                    let got = seg_nav::<Desc, _>(&s, t, &vis_of(&cov, SeqNo::MAX), best, vb);
                    assert_eq!(got, want, "seg_last({t}, {best:?}) within {vb:?}");
                }
            }
            let mut n = 0;
            crate::query::view::for_each_visible_segment(&s, 20, 250, &cov, |a, b| n += b - a);
            assert_eq!(n, vis.iter().filter(|&&x| (20..=250).contains(&x)).count());
        }
    }

    /// Run and skiplist records interleaved with deletes, so that some
    /// records are newer than the tombstones covering them; every watermark.
    #[test]
    fn memtable_seeks_match_a_scan() {
        let ctr = Arc::new(AtomicUsize::new(0));
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..40 {
            let mt: Memtable<u64> = Memtable::new(1, &ctr, 0);
            let mut seq: SeqNo = 0;
            let mut recs: Vec<(Timestamp, SeqNo)> = Vec::new();
            let mut tombs: Vec<Tombstone> = Vec::new();
            let mut last = 0i64;
            for _ in 0..300 {
                seq += 1;
                match rng.below(10) {
                    // In order: the run (sequences increase along it, R3).
                    0..=5 => {
                        last += rng.below(3) as i64;
                        let s = mt.insert(last, 0, || seq);
                        recs.push((last, s));
                    }
                    // Out of order: the skiplist.
                    6..=7 => {
                        let t = rng.below(last.max(1) as u64 + 1) as i64 - 1;
                        let s = mt.insert(t, 0, || seq);
                        recs.push((t, s));
                    }
                    _ => {
                        let a = if round % 2 == 0 { 0 } else { rng.below(last.max(1) as u64) as i64 };
                        let t = Tombstone { t1: a, t2: a + rng.below(80) as i64, seq };
                        mt.push_tombstone(t);
                        tombs.push(t);
                    }
                }
            }
            for w in [seq / 3, seq * 2 / 3, seq] {
                let cov = cov_of(&tombs, w);
                let mut vis: Vec<Timestamp> =
                    recs.iter().filter(|r| !hidden(&tombs, w, r.0, r.1)).map(|r| r.0).collect();
                vis.sort();
                let run_len = mt.run.len();
                let run_vis: Vec<Timestamp> = (0..run_len)
                    .map(|i| (mt.run.ts_at(i), mt.run.seq_at(i)))
                    .filter(|r| !hidden(&tombs, w, r.0, r.1))
                    .map(|r| r.0)
                    .collect();
                let mut ooo_vis = vis.clone();
                for t in &run_vis {
                    let i = ooo_vis.iter().position(|x| x == t).unwrap();
                    ooo_vis.remove(i);
                }
                for t in -2..last + 3 {
                    for best in [None, Some(t + 2), Some(t + 30)] {
                        let want = run_vis.iter().copied().find(|&x| x >= t && best.is_none_or(|b| x < b));
                        assert_eq!(run_first(&mt, w, t, &cov, best), want, "run_first({t}, {best:?}) w={w}");
                    }
                    for best in [None, Some(t - 2), Some(t - 30)] {
                        let want = run_vis.iter().rev().copied().find(|&x| x <= t && best.is_none_or(|b| x > b));
                        assert_eq!(run_last(&mt, w, t, &cov, best), want, "run_last({t}, {best:?}) w={w}");
                    }
                    // The run's records at `t` (their equal runs cross the
                    // bucket boundaries at 64 and 192 in some rounds).
                    let want: Vec<SeqNo> = (0..run_len)
                        .map(|i| (mt.run.ts_at(i), mt.run.seq_at(i)))
                        .filter(|r| r.0 == t && !hidden(&tombs, w, r.0, r.1))
                        .map(|r| r.1)
                        .collect();
                    let (v, mut got) = (vis_of(&cov, w), Vec::new());
                    run_point(&mt, &v, t, v.hiding(t), true, |seq, _| got.push(seq));
                    assert_eq!(got, want, "run_point({t}) w={w}");
                    let hi = t + 25;
                    let want = ooo_vis.iter().copied().find(|&x| x >= t && x <= hi);
                    assert_eq!(ooo_first(&mt, w, t, hi, &cov), want, "ooo_first({t}) w={w}");
                    let want = ooo_vis.iter().rev().copied().find(|&x| x <= t && x >= t - 25);
                    assert_eq!(ooo_last(&mt, w, t - 25, t, &cov), want, "ooo_last({t}) w={w}");
                }
                let (mut nr, mut no) = (0, 0);
                crate::query::view::for_each_visible_run(&mt, &vis_of(&cov, w), 5, last - 5, |a, b| nr += b - a);
                ooo_walk::<Asc, u64>(&mt, &vis_of(&cov, w), 5, last - 5, |_, _, _| {
                    no += 1;
                    true
                });
                assert_eq!(nr, run_vis.iter().filter(|&&x| 5 <= x && x <= last - 5).count(), "run count w={w}");
                assert_eq!(no, ooo_vis.iter().filter(|&&x| 5 <= x && x <= last - 5).count(), "ooo count w={w}");
            }
        }
    }

    /// A point read of a late memtable goes through its merged view
    /// (`point_view`) exactly when the view holds every late record at
    /// `ts` the reader sees: not while the skiplist holds a record newer
    /// than the view at or below `ts` (its late floor), nor under a
    /// tombstone; and it answers as the reference either way
    /// (`memtable::merged`'s `newer_late_records_are_read_from_their_floor`
    /// checks the answers over many watermarks).
    #[test]
    fn point_reads_use_a_complete_view_only() {
        use crate::{Config, MaintenanceMode, Order, Snapshot, Timelog};
        let log: Timelog<u64> =
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for i in 0..2_000i64 {
            let ts = if i % 10 == 5 { i - 33 } else { i };
            let _ = log.append(ts, i as u64).unwrap();
        }
        let s0 = log.snapshot().unwrap();
        s0.all(Order::Desc).for_each(drop); // a full read builds the view at s0 (in shares)
        let uses = |s: &Snapshot<u64>, ts: Timestamp| {
            let v = s.view();
            let cov = v.cov();
            let vis = Vis { w: v.w, cov: &cov };
            point_view(&v.m.active, &vis, ts, vis.hiding(ts)).is_some()
        };
        let point = |s: &Snapshot<u64>, ts: Timestamp| {
            let mut got = Vec::new();
            s.point_with(ts, |&v| got.push(v));
            got
        };
        assert!(uses(&s0, 972), "the view holds the late record at 972");
        assert_eq!(point(&s0, 972), vec![972, 1_005], "the run's record, then the late one (i = 1005)");
        // Newer records in the run only: the view still holds every late
        // record; the run's newer ones follow the view's.
        let _ = log.append(2_000, 9).unwrap();
        let s1 = log.snapshot().unwrap();
        assert!(uses(&s1, 972) && uses(&s1, 2_000));
        assert_eq!(point(&s1, 2_000), vec![9]);
        // Above the skiplist's greatest timestamp its filter is not asked
        // (`Memtable::ooo_ts_bounds`): a point read there never searches the
        // skiplist.
        assert!((1_963..3_000).all(|t| !s1.view().m.active.ooo_may_hold(t)), "nothing late above 1962");
        // Below it the filter can collide (late records elsewhere set the
        // bits) at a timestamp only the run holds: such a read takes the
        // view's route and finds the run's record in the view. (Here the
        // timestamps are scrambled within steps of 2^20, so that the
        // filter's hash, which spreads evenly spaced ones apart, collides
        // below the greatest; each late record is one after the run's
        // record 33 places back.)
        let tsof = |i: i64| (i << 20) | ((i.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 29) & 0xF_FFFF);
        let log2: Timelog<u64> =
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for i in 0..4_000i64 {
            let ts = if i % 10 == 5 { tsof(i - 33) + 1 } else { tsof(i) };
            let _ = log2.append(ts, i as u64).unwrap();
        }
        let w0 = log2.snapshot().unwrap();
        w0.all(Order::Desc).for_each(drop); // builds the view (in shares)
        let collide: Vec<i64> =
            (40..3_900).filter(|&i| i % 10 != 5 && w0.view().m.active.ooo_may_hold(tsof(i))).take(3).collect();
        assert_eq!(collide.len(), 3, "filter collisions");
        for &i in &collide {
            assert!(uses(&w0, tsof(i)), "point({}) through the view", tsof(i));
            assert_eq!(point(&w0, tsof(i)), vec![i as u64], "point({}) through the view", tsof(i));
        }
        // Under a tombstone the view (records, not visibility) is not used.
        let _ = log.delete_range(970, 980).unwrap();
        let s2 = log.snapshot().unwrap();
        assert!(!uses(&s2, 972) && uses(&s2, 1_500));
        assert!(point(&s2, 972).is_empty());
        // A late record newer than the view: from its floor on (the floor
        // is conservative: at or below 1000), the skiplist is searched.
        let _ = log.append(1_000, 7).unwrap();
        let s3 = log.snapshot().unwrap();
        assert!(!uses(&s3, 1_000) && !uses(&s3, 1_500));
        assert_eq!(point(&s3, 1_000), vec![1_000, 7], "the run's record, then the newer late one");
    }

    /// `contains` (which stops at the first visible record, a memtable's
    /// run before its skiplist) answers as a point read counts, at every
    /// timestamp and at every step: late records without a view and with
    /// one, a tombstone over run and skiplist records, records written at
    /// deleted timestamps after the delete, a late record newer than the
    /// view, a sealed memtable, and flushed segments beside a memtable.
    #[test]
    fn contains_answers_as_a_point_read_counts() {
        use crate::{Config, MaintenanceMode, Order, Snapshot, Timelog};
        let log: Timelog<u64> = Timelog::with_config(Config {
            maintenance: MaintenanceMode::Disabled,
            memtable_max_bytes: 64 << 10,
            ..Config::default()
        })
        .unwrap();
        let check = |s: &Snapshot<u64>, step: &str| {
            for t in -5..1_300 {
                let mut n = 0;
                s.point_with(t, |_| n += 1);
                assert_eq!(s.contains(t), n > 0, "{step}: contains({t})");
            }
        };
        let mut snaps = Vec::new();
        for i in 0..1_000i64 {
            let ts = if i % 10 == 5 { i - 37 } else { i };
            let _ = log.append(ts, i as u64).unwrap();
        }
        snaps.push((log.snapshot().unwrap(), "late, no view"));
        let _ = log.snapshot().unwrap().all(Order::Asc).count();
        snaps.push((log.snapshot().unwrap(), "late, view built"));
        let _ = log.delete_range(300, 420).unwrap();
        snaps.push((log.snapshot().unwrap(), "a tombstone"));
        for t in [310, 350, 355, 419] {
            let _ = log.append(t, 7).unwrap(); // late, at deleted timestamps
        }
        snaps.push((log.snapshot().unwrap(), "records after the delete"));
        let _ = log.append(500, 8).unwrap();
        snaps.push((log.snapshot().unwrap(), "a late record newer than the view"));
        for i in 1_000..1_200i64 {
            let _ = log.append(if i % 7 == 0 { i - 150 } else { i }, i as u64).unwrap();
        }
        snaps.push((log.snapshot().unwrap(), "more memtables"));
        log.flush().unwrap();
        for i in 1_200..1_300i64 {
            let _ = log.append(if i % 9 == 0 { i - 400 } else { i }, i as u64).unwrap();
        }
        snaps.push((log.snapshot().unwrap(), "segments and a late memtable"));
        for (s, step) in &snaps {
            check(s, step);
        }
        for t in -5..1_300 {
            assert_eq!(log.contains(t).unwrap(), !log.point(t).unwrap().is_empty(), "log.contains({t})");
        }
    }
}
