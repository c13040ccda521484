//! Point lookups and navigation: binary search in each source, no merge.

use super::plan::View;
use crate::memtable::Memtable;
use crate::segment::Segment;
use crate::tombstone::Coverage;
use crate::{SeqNo, Timestamp};

impl<'a, T: Send + Sync + 'static> View<'a, T> {
    /// Greatest visible tombstone sequence covering `ts` (0 = none).
    pub(crate) fn tomb_seq_at(&self, ts: Timestamp) -> SeqNo {
        let mut m = 0;
        for t in self.m.tombstones.iter() {
            if t.covers(ts) {
                m = m.max(t.seq);
            }
        }
        for mt in self.memtables() {
            mt.tombs.for_each(|t| {
                if t.seq <= self.w && t.covers(ts) {
                    m = m.max(t.seq);
                }
            });
        }
        m
    }

    /// Visits the visible records at exactly `ts`, in insertion order.
    /// Returns how many there were.
    ///
    /// Sources whose `[min, max]` cannot contain `ts` are skipped before any
    /// search: segments by their bounds, memtable runs by their first and
    /// last record (the run is sorted). The out-of-order skiplist has no
    /// cheap bound; it is skipped only while empty (`ooo_range`).
    pub(crate) fn point(&self, ts: Timestamp, mut f: impl FnMut(&'a T)) -> usize {
        let hide = self.tomb_seq_at(ts);
        let mut n = 0;
        for s in self.l1_overlapping(ts, ts).iter().chain(self.m.l0.iter()) {
            if ts < s.min_ts || ts > s.max_ts || hide > s.tomb_applied {
                continue;
            }
            n += s.for_each_at(ts, &mut f);
        }
        // Memtables are visited oldest first: every record of a sealed
        // memtable has a smaller sequence than every record of a later one
        // (R2), so insertion order only needs a merge inside one memtable,
        // where run and skiplist records interleave by sequence.
        let mut mem: Vec<(SeqNo, &'a T)> = Vec::new();
        for mt in self.memtables() {
            let run = &mt.run;
            // `first_ts` first: a point below the run (reads of older data
            // beside an appender) never loads the appender's hot line.
            let len = if run.first_ts() <= ts { run.len() } else { 0 };
            // Sequences increase along the run (R3): if the skiplist holds
            // nothing a snapshot may see (`ooo_len` is counted before the
            // commit, R5), the run's records are already in insertion order.
            let direct = mt.ooo_len() == 0;
            if len > 0 && ts <= run.ts_at(len - 1) {
                let nvis = run.seq_upper_bound(self.w, 0, len);
                let mut i = run.lower_bound(ts, 0, nvis);
                while i < nvis && run.ts_at(i) == ts {
                    let seq = run.seq_at(i);
                    if seq > hide {
                        if direct {
                            f(run.val_at(i));
                            n += 1;
                        } else {
                            mem.push((seq, run.val_at(i)));
                        }
                    }
                    i += 1;
                }
            }
            if direct {
                continue;
            }
            mt.ooo_range(ts, ts, |_, seq, v| {
                if seq <= self.w && seq > hide {
                    // SAFETY: R6: skiplist nodes live as long as the memtable, which `self.m` holds.
                    mem.push((seq, unsafe { &*v }));
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

    /// Smallest visible timestamp `>= t`.
    ///
    /// L1 first (its first visible record at or after `t` is usually the
    /// answer), then every other source only if its bounds can improve on
    /// the best so far: a source whose smallest timestamp is `>= best`, or
    /// whose greatest is `< t`, holds no better answer whatever its
    /// visibility and tombstones, so it is not searched.
    pub(crate) fn first_at_or_after(&self, t: Timestamp) -> Option<Timestamp> {
        let cov = self.coverage(t, Timestamp::MAX);
        let mut best: Option<Timestamp> = None;
        // Whether a source with timestamps in `[lo, hi]` may hold a better answer.
        let useful = |best: Option<Timestamp>, lo: Timestamp, hi: Timestamp| hi >= t && best.is_none_or(|b| lo < b);
        let take = |best: &mut Option<Timestamp>, c: Option<Timestamp>| {
            if let Some(c) = c {
                *best = Some(best.map_or(c, |b| b.min(c)));
            }
        };
        // L1 windows are sorted and disjoint: the first one with a visible
        // record holds the L1 minimum.
        for s in self.l1_overlapping(t, Timestamp::MAX) {
            if let Some(c) = seg_first(s, t, &cov) {
                take(&mut best, Some(c));
                break;
            }
        }
        for s in self.m.l0.iter() {
            if useful(best, s.min_ts, s.max_ts) {
                take(&mut best, seg_first(s, t, &cov));
            }
        }
        for mt in self.memtables() {
            if best == Some(t) {
                break; // nothing is smaller
            }
            let run = &mt.run;
            // `first_ts` first (see `point`): a run starting at or above the
            // best answer so far cannot improve it.
            let first = run.first_ts();
            if best.is_none_or(|b| first < b) {
                let len = run.len();
                if len > 0 && useful(best, first, run.ts_at(len - 1)) {
                    take(&mut best, run_first(mt, self.w, t, &cov));
                }
            }
            // Only records below the best so far can improve it.
            let hi = best.map_or(Timestamp::MAX, |b| b.saturating_sub(1));
            let mut found = None;
            mt.ooo_range(t, hi, |ts, seq, _| {
                if seq <= self.w && cov.max_seq(ts) <= seq {
                    found = Some(ts);
                    false
                } else {
                    true
                }
            });
            take(&mut best, found);
        }
        best
    }

    /// Greatest visible timestamp `<= t` (the mirror of
    /// [`first_at_or_after`](Self::first_at_or_after)).
    pub(crate) fn last_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        let cov = self.coverage(Timestamp::MIN, t);
        let mut best: Option<Timestamp> = None;
        let useful = |best: Option<Timestamp>, lo: Timestamp, hi: Timestamp| lo <= t && best.is_none_or(|b| hi > b);
        fn take(best: &mut Option<Timestamp>, c: Option<Timestamp>) {
            if let Some(c) = c {
                *best = Some(best.map_or(c, |b| b.max(c)));
            }
        }
        for s in self.l1_overlapping(Timestamp::MIN, t).iter().rev() {
            if let Some(c) = seg_last(s, t, &cov) {
                take(&mut best, Some(c));
                break;
            }
        }
        for s in self.m.l0.iter() {
            if useful(best, s.min_ts, s.max_ts) {
                take(&mut best, seg_last(s, t, &cov));
            }
        }
        for mt in self.memtables() {
            if best == Some(t) {
                break; // nothing is greater
            }
            let run = &mt.run;
            // A run starting above `t` holds nothing `<= t`.
            let first = run.first_ts();
            if first <= t {
                let len = run.len();
                if len > 0 && useful(best, first, run.ts_at(len - 1)) {
                    take(&mut best, run_last(mt, self.w, t, &cov));
                }
            }
            let lo = best.map_or(Timestamp::MIN, |b| b.saturating_add(1));
            let mut found = None;
            mt.ooo_range_rev(lo, t, |ts, seq, _| {
                if seq <= self.w && cov.max_seq(ts) <= seq {
                    found = Some(ts);
                    false
                } else {
                    true
                }
            });
            take(&mut best, found);
        }
        best
    }
}

fn seg_first<T>(s: &Segment<T>, t: Timestamp, cov: &Coverage) -> Option<Timestamp> {
    let mut pos = s.lower_bound(t);
    while pos < s.len {
        let ts = s.ts_at(pos);
        match cov.interval_at(ts) {
            Some((_, b, m)) if m > s.tomb_applied => pos = s.lower_bound(b),
            _ => return Some(ts),
        }
    }
    None
}

fn seg_last<T>(s: &Segment<T>, t: Timestamp, cov: &Coverage) -> Option<Timestamp> {
    let mut end = s.upper_bound(t); // positions [0, end)
    while end > 0 {
        let ts = s.ts_at(end - 1);
        match cov.interval_at(ts) {
            Some((a, _, m)) if m > s.tomb_applied => end = s.lower_bound(a),
            _ => return Some(ts),
        }
    }
    None
}

fn run_first<T: Send + Sync + 'static>(mt: &Memtable<T>, w: SeqNo, t: Timestamp, cov: &Coverage) -> Option<Timestamp> {
    let run = &mt.run;
    let nvis = run.seq_upper_bound(w, 0, run.len());
    let mut pos = run.lower_bound(t, 0, nvis);
    while pos < nvis {
        let ts = run.ts_at(pos);
        match cov.interval_at(ts) {
            Some((_, b, m)) if m > run.seq_at(pos) => {
                let pb = run.lower_bound(b, pos, nvis);
                let pc = run.seq_upper_bound(m - 1, pos, pb);
                if pc < pb {
                    return Some(run.ts_at(pc));
                }
                pos = pb;
            }
            _ => return Some(ts),
        }
    }
    None
}

fn run_last<T: Send + Sync + 'static>(mt: &Memtable<T>, w: SeqNo, t: Timestamp, cov: &Coverage) -> Option<Timestamp> {
    let run = &mt.run;
    let nvis = run.seq_upper_bound(w, 0, run.len());
    let mut end = run.upper_bound(t, 0, nvis);
    while end > 0 {
        let ts = run.ts_at(end - 1);
        match cov.interval_at(ts) {
            // Within one covered interval sequences increase with position,
            // so if the last record there is hidden, all of them are.
            Some((a, _, m)) if m > run.seq_at(end - 1) => end = run.lower_bound(a, 0, end),
            _ => return Some(ts),
        }
    }
    None
}
