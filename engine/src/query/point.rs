//! Point lookups and navigation: binary search in each source, no merge.

use super::plan::View;
use crate::memtable::Memtable;
use crate::segment::Segment;
use crate::tombstone::Coverage;
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
        let hide = self.cov().max_seq(ts);
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
                if hide > 0 {
                    // R3: along the run sequences increase, so the records at
                    // `ts` that `hide` hides (sequence below it) come first.
                    let end = run.upper_bound(ts, i, nvis);
                    i = run.seq_upper_bound(hide, i, end);
                }
                while i < nvis && run.ts_at(i) == ts {
                    let seq = run.seq_at(i);
                    if direct {
                        f(run.val_at(i));
                        n += 1;
                    } else {
                        mem.push((seq, run.val_at(i)));
                    }
                    i += 1;
                }
            }
            if direct {
                continue;
            }
            // From key `(ts, hide + 1)`: the hidden records are not visited.
            mt.ooo_range_from(ts, hide.saturating_add(1), ts, |_, seq, v| {
                if seq <= self.w {
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
    /// visibility and tombstones, so it is not searched; and a search stops
    /// as soon as its next candidate is not below the best so far. Inside a
    /// source, a candidate under a tombstone that hides it seeks to the end
    /// of the covered stretch (`Coverage::hidden_end`): deleted records are
    /// never walked one by one.
    pub(crate) fn first_at_or_after(&self, t: Timestamp) -> Option<Timestamp> {
        let cov = self.cov();
        let cov: &Coverage = &cov;
        let mut best: Option<Timestamp> = None;
        // Whether a source with timestamps in `[lo, hi]` may hold a better answer.
        let useful = |best: Option<Timestamp>, lo: Timestamp, hi: Timestamp| hi >= t && best.is_none_or(|b| lo < b);
        let take = |best: &mut Option<Timestamp>, c: Option<Timestamp>| {
            if let Some(c) = c {
                *best = Some(best.map_or(c, |b| b.min(c)));
            }
        };
        // L1 windows are sorted and disjoint: the first one with a visible
        // record holds the L1 minimum. A segment whose part at or after the
        // position reached is hidden whole is passed over by a coverage
        // lookup, without touching its records.
        for s in self.l1_overlapping(t, Timestamp::MAX) {
            if let Some(c) = seg_first(s, t, cov, None) {
                take(&mut best, Some(c));
                break;
            }
        }
        for s in self.m.l0.iter() {
            if useful(best, s.min_ts, s.max_ts) {
                let c = seg_first(s, t, cov, best);
                take(&mut best, c);
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
                    let c = run_first(mt, self.w, t, cov, best);
                    take(&mut best, c);
                }
            }
            // Only records below the best so far can improve it.
            let hi = best.map_or(Timestamp::MAX, |b| b.saturating_sub(1));
            take(&mut best, ooo_first(mt, self.w, t, hi, cov));
        }
        best
    }

    /// Greatest visible timestamp `<= t` (the mirror of
    /// [`first_at_or_after`](Self::first_at_or_after)).
    pub(crate) fn last_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        let cov = self.cov();
        let cov: &Coverage = &cov;
        let mut best: Option<Timestamp> = None;
        let useful = |best: Option<Timestamp>, lo: Timestamp, hi: Timestamp| lo <= t && best.is_none_or(|b| hi > b);
        fn take(best: &mut Option<Timestamp>, c: Option<Timestamp>) {
            if let Some(c) = c {
                *best = Some(best.map_or(c, |b| b.max(c)));
            }
        }
        for s in self.l1_overlapping(Timestamp::MIN, t).iter().rev() {
            if let Some(c) = seg_last(s, t, cov, None) {
                take(&mut best, Some(c));
                break;
            }
        }
        for s in self.m.l0.iter() {
            if useful(best, s.min_ts, s.max_ts) {
                let c = seg_last(s, t, cov, best);
                take(&mut best, c);
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
                    let c = run_last(mt, self.w, t, cov, best);
                    take(&mut best, c);
                }
            }
            let lo = best.map_or(Timestamp::MIN, |b| b.saturating_add(1));
            take(&mut best, ooo_last(mt, self.w, lo, t, cov));
        }
        best
    }
}

/// First visible timestamp of `s` at or after `t` and below `best`. Each
/// hidden candidate seeks past its covered stretch (R8: a tombstone newer
/// than `tomb_applied` hides every record of the segment it covers).
///
/// A segment whose part at or after `t` is hidden whole is passed over by
/// one coverage lookup, without touching its records (segments differ in
/// `tomb_applied`: each is checked against its own).
fn seg_first<T>(s: &Segment<T>, t: Timestamp, cov: &Coverage, best: Option<Timestamp>) -> Option<Timestamp> {
    if cov.hidden_end(t.max(s.min_ts), s.tomb_applied).is_some_and(|e| e > s.max_ts) {
        return None;
    }
    let mut pos = s.lower_bound(t);
    while pos < s.len {
        let ts = s.ts_at(pos);
        if best.is_some_and(|b| ts >= b) {
            return None;
        }
        match cov.hidden_end(ts, s.tomb_applied) {
            Some(e) => pos = s.lower_bound(e),
            None => return Some(ts),
        }
    }
    None
}

/// Mirror of [`seg_first`]: greatest visible timestamp `<= t` above `best`.
fn seg_last<T>(s: &Segment<T>, t: Timestamp, cov: &Coverage, best: Option<Timestamp>) -> Option<Timestamp> {
    if cov.hidden_start(t.min(s.max_ts), s.tomb_applied).is_some_and(|a| a <= s.min_ts) {
        return None;
    }
    let mut end = s.upper_bound(t); // positions [0, end)
    while end > 0 {
        let ts = s.ts_at(end - 1);
        if best.is_some_and(|b| ts <= b) {
            return None;
        }
        match cov.hidden_start(ts, s.tomb_applied) {
            Some(a) => end = s.lower_bound(a),
            None => return Some(ts),
        }
    }
    None
}

/// First visible timestamp of the run at or after `t` and below `best`.
/// Per covered interval `[a, b)` of newest sequence `m`, the hidden records
/// (sequence below `m`) are a prefix of the interval's positions (R3), so
/// one search finds the first visible one or passes the interval.
fn run_first<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    t: Timestamp,
    cov: &Coverage,
    best: Option<Timestamp>,
) -> Option<Timestamp> {
    let run = &mt.run;
    let nvis = run.seq_upper_bound(w, 0, run.len());
    if nvis == 0 {
        return None;
    }
    // R3: no visible run record is newer than the last visible one, so a
    // stretch of tombstones all newer than it hides the run there whole.
    let newest = if cov.is_empty() { SeqNo::MAX } else { run.seq_at(nvis - 1) };
    let mut pos = run.lower_bound(t, 0, nvis);
    while pos < nvis {
        let ts = run.ts_at(pos);
        if best.is_some_and(|b| ts >= b) {
            return None;
        }
        if let Some(e) = cov.hidden_end(ts, newest) {
            pos = run.lower_bound(e, pos, nvis);
            continue;
        }
        match cov.interval_at(ts) {
            Some((_, b, m)) if m > run.seq_at(pos) => {
                let pb = run.lower_bound(b, pos, nvis);
                let pc = run.seq_upper_bound(m - 1, pos, pb);
                if pc < pb {
                    return Some(run.ts_at(pc)).filter(|&c| best.is_none_or(|b| c < b));
                }
                pos = pb;
            }
            _ => return Some(ts),
        }
    }
    None
}

/// Mirror of [`run_first`]: greatest visible timestamp `<= t` above `best`.
fn run_last<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    t: Timestamp,
    cov: &Coverage,
    best: Option<Timestamp>,
) -> Option<Timestamp> {
    let run = &mt.run;
    let nvis = run.seq_upper_bound(w, 0, run.len());
    if nvis == 0 {
        return None;
    }
    let newest = if cov.is_empty() { SeqNo::MAX } else { run.seq_at(nvis - 1) }; // as in `run_first` (R3)
    let mut end = run.upper_bound(t, 0, nvis);
    while end > 0 {
        let ts = run.ts_at(end - 1);
        if best.is_some_and(|b| ts <= b) {
            return None;
        }
        if let Some(a) = cov.hidden_start(ts, newest) {
            end = run.lower_bound(a, 0, end);
            continue;
        }
        match cov.interval_at(ts) {
            // Within one covered interval sequences increase with position
            // (R3), so if the last record there is hidden, all of them are.
            Some((a, _, m)) if m > run.seq_at(end - 1) => end = run.lower_bound(a, 0, end),
            _ => return Some(ts),
        }
    }
    None
}

/// First visible skiplist timestamp in `[lo, hi]`, seeking past covered
/// stretches newer than every skiplist record (see
/// [`for_each_visible_ooo`](super::plan::for_each_visible_ooo)).
fn ooo_first<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    mut lo: Timestamp,
    hi: Timestamp,
    cov: &Coverage,
) -> Option<Timestamp> {
    if mt.ooo_len() == 0 {
        return None;
    }
    let newest = mt.ooo_max_seq();
    loop {
        let (mut found, mut resume) = (None, None);
        mt.ooo_range(lo, hi, |ts, seq, _| {
            if seq > w {
                return true;
            }
            let m = cov.max_seq(ts);
            if m <= seq {
                found = Some(ts);
                return false;
            }
            if m > newest {
                resume = cov.hidden_end(ts, newest);
                return false;
            }
            true
        });
        match (found, resume) {
            (Some(f), _) => return Some(f),
            (None, Some(e)) if e <= hi => lo = e,
            _ => return None,
        }
    }
}

/// Mirror of [`ooo_first`]: greatest visible skiplist timestamp in `[lo, hi]`.
fn ooo_last<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: SeqNo,
    lo: Timestamp,
    mut hi: Timestamp,
    cov: &Coverage,
) -> Option<Timestamp> {
    if mt.ooo_len() == 0 {
        return None;
    }
    let newest = mt.ooo_max_seq();
    loop {
        let (mut found, mut resume) = (None, None);
        mt.ooo_range_rev(lo, hi, |ts, seq, _| {
            if seq > w {
                return true;
            }
            let m = cov.max_seq(ts);
            if m <= seq {
                found = Some(ts);
                return false;
            }
            if m > newest {
                resume = cov.hidden_start(ts, newest);
                return false;
            }
            true
        });
        match (found, resume) {
            (Some(f), _) => return Some(f),
            (None, Some(a)) if a > lo && a > Timestamp::MIN => hi = a - 1,
            _ => return None,
        }
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    //! The per-source seeks against a brute-force reference: a record
    //! `(ts, seq)` is visible under watermark `w` iff `seq <= w` and no
    //! tombstone with a sequence in `(seq, w]` covers `ts` (R7); a segment
    //! record orders as `tomb_applied` (R8).

    use super::*;
    use crate::segment::{Level, SegmentBuilder};
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
            for t in -2..305 {
                for best in [None, Some(t + 3), Some(t + 40)] {
                    let want = vis.iter().copied().find(|&x| x >= t && best.is_none_or(|b| x < b));
                    assert_eq!(seg_first(&s, t, &cov, best), want, "seg_first({t}, {best:?})");
                }
                for best in [None, Some(t - 3), Some(t - 40)] {
                    let want = vis.iter().rev().copied().find(|&x| x <= t && best.is_none_or(|b| x > b));
                    assert_eq!(seg_last(&s, t, &cov, best), want, "seg_last({t}, {best:?})");
                }
            }
            let mut n = 0;
            crate::query::plan::for_each_visible_segment(&s, 20, 250, &cov, |a, b| n += b - a);
            assert_eq!(n, vis.iter().filter(|&&x| (20..=250).contains(&x)).count());
        }
    }

    /// Run and skiplist records interleaved with deletes, so that some
    /// records are newer than the tombstones covering them; every watermark.
    #[test]
    fn memtable_seeks_match_a_scan() {
        let collector = crossbeam_epoch::default_collector().clone();
        let ctr = Arc::new(AtomicUsize::new(0));
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..40 {
            let mt: Memtable<u64> = Memtable::new(1, &collector, &ctr);
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
                    let hi = t + 25;
                    let want = ooo_vis.iter().copied().find(|&x| x >= t && x <= hi);
                    assert_eq!(ooo_first(&mt, w, t, hi, &cov), want, "ooo_first({t}) w={w}");
                    let want = ooo_vis.iter().rev().copied().find(|&x| x <= t && x >= t - 25);
                    assert_eq!(ooo_last(&mt, w, t - 25, t, &cov), want, "ooo_last({t}) w={w}");
                }
                let (mut nr, mut no) = (0, 0);
                crate::query::plan::for_each_visible_run(&mt, w, 5, last - 5, &cov, |a, b| nr += b - a);
                crate::query::plan::for_each_visible_ooo(&mt, w, 5, last - 5, &cov, |_, _, _| no += 1);
                assert_eq!(nr, run_vis.iter().filter(|&&x| 5 <= x && x <= last - 5).count(), "run count w={w}");
                assert_eq!(no, ooo_vis.iter().filter(|&&x| 5 <= x && x <= last - 5).count(), "ooo count w={w}");
            }
        }
    }
}
