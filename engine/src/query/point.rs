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
    pub(crate) fn point(&self, ts: Timestamp, mut f: impl FnMut(&'a T)) -> usize {
        let hide = self.tomb_seq_at(ts);
        let mut n = 0;
        let mut seg = |s: &'a Segment<T>| {
            if ts < s.min_ts || ts > s.max_ts || hide > s.tomb_applied {
                return;
            }
            let (a, b) = (s.lower_bound(ts), s.upper_bound(ts));
            for i in a..b {
                f(s.val_at(i));
                n += 1;
            }
        };
        let l1 = self.l1_overlapping(ts, ts);
        for s in l1.iter().chain(self.m.l0.iter()) {
            seg(s);
        }
        // Memtable records interleave by sequence (run vs skiplist).
        let mut mem: Vec<(SeqNo, &'a T)> = Vec::new();
        for mt in self.memtables() {
            let run = &mt.run;
            let nvis = run.seq_upper_bound(self.w, 0, run.len());
            let (a, b) = (run.lower_bound(ts, 0, nvis), run.upper_bound(ts, 0, nvis));
            for i in a..b {
                let seq = run.seq_at(i);
                if seq > hide {
                    mem.push((seq, run.val_at(i)));
                }
            }
            mt.ooo_range(ts, ts, |_, seq, v| {
                if seq <= self.w && seq > hide {
                    // SAFETY: R6: skiplist nodes live as long as the memtable, which `self.m` holds.
                    mem.push((seq, unsafe { &*v }));
                }
                true
            });
        }
        mem.sort_by_key(|e| e.0);
        for (_, v) in mem {
            f(v);
            n += 1;
        }
        n
    }

    /// Smallest visible timestamp `>= t`.
    pub(crate) fn first_at_or_after(&self, t: Timestamp) -> Option<Timestamp> {
        let cov = self.coverage(t, Timestamp::MAX);
        let mut best: Option<Timestamp> = None;
        let mut take = |c: Option<Timestamp>| {
            if let Some(c) = c {
                best = Some(best.map_or(c, |b| b.min(c)));
            }
        };
        // L1 windows are sorted and disjoint: the first one with a visible
        // record holds the L1 minimum.
        for s in self.l1_overlapping(t, Timestamp::MAX) {
            if let Some(c) = seg_first(s, t, &cov) {
                take(Some(c));
                break;
            }
        }
        for s in self.m.l0.iter() {
            take(seg_first(s, t, &cov));
        }
        for mt in self.memtables() {
            take(run_first(mt, self.w, t, &cov));
            let mut found = None;
            mt.ooo_range(t, Timestamp::MAX, |ts, seq, _| {
                if seq <= self.w && cov.max_seq(ts) <= seq {
                    found = Some(ts);
                    false
                } else {
                    true
                }
            });
            take(found);
        }
        best
    }

    /// Greatest visible timestamp `<= t`.
    pub(crate) fn last_at_or_before(&self, t: Timestamp) -> Option<Timestamp> {
        let cov = self.coverage(Timestamp::MIN, t);
        let mut best: Option<Timestamp> = None;
        fn take(best: &mut Option<Timestamp>, c: Option<Timestamp>) {
            if let Some(c) = c {
                *best = Some(best.map_or(c, |b| b.max(c)));
            }
        }
        for s in self.m.l0.iter() {
            take(&mut best, seg_last(s, t, &cov));
        }
        for s in self.l1_overlapping(Timestamp::MIN, t).iter().rev() {
            if let Some(b) = best {
                if s.max_ts < b {
                    break;
                }
            }
            if let Some(c) = seg_last(s, t, &cov) {
                take(&mut best, Some(c));
                break;
            }
        }
        for mt in self.memtables() {
            take(&mut best, run_last(mt, self.w, t, &cov));
            let mut found = None;
            mt.ooo_range_rev(Timestamp::MIN, t, |ts, seq, _| {
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
