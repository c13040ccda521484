//! Compaction: merge L0 segments (and the L1 windows they touch) into
//! windowed, non-overlapping L1 segments, dropping what tombstones hide.

use crate::sync::Arc;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;

use crate::manifest::Manifest;
use crate::segment::{Level, Segment, SegmentBuilder};
use crate::timelog::Inner;
use crate::tombstone::Coverage;
use crate::Timestamp;

/// Window index of `ts`: `floor((ts - origin) / size)`.
#[inline]
pub(crate) fn window_of(ts: Timestamp, origin: Timestamp, size: i64) -> i128 {
    (ts as i128 - origin as i128).div_euclid(size as i128)
}

/// `[start, end)` of window `w`, clamped to `i64`.
pub(crate) fn window_bounds(w: i128, origin: Timestamp, size: i64) -> (Timestamp, Timestamp) {
    let clamp = |x: i128| x.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    let start = origin as i128 + w * size as i128;
    (clamp(start), clamp(start + size as i128))
}

/// What one compaction consumes.
pub(crate) struct Selection<T> {
    pub(crate) l0: Vec<Arc<Segment<T>>>,
    pub(crate) l1: Vec<Arc<Segment<T>>>,
}

impl<T: Clone + Send + Sync + 'static> Inner<T> {
    fn window(&self, ts: Timestamp) -> i128 {
        window_of(ts, self.cfg.cfg.window_origin, self.cfg.window_size)
    }

    /// Picks the inputs: a prefix of L0 (oldest first, at most `max_inputs`
    /// segments and `max_windows` windows), every L1 segment in a window
    /// those touch, and with `with_debt` also the L1 windows holding
    /// records hidden by tombstones not yet applied to them.
    pub(crate) fn select(&self, m: &Manifest<T>, with_debt: bool) -> Option<Selection<T>> {
        let mut windows: BTreeSet<i128> = BTreeSet::new();
        let mut l0 = Vec::new();
        for s in m.l0.iter().take(self.cfg.compaction_max_inputs) {
            let mut ws = BTreeSet::new();
            let mut last = None;
            for p in &s.pages {
                for &ts in p.timestamps() {
                    let w = self.window(ts);
                    if last != Some(w) {
                        ws.insert(w);
                        last = Some(w);
                    }
                }
            }
            if !l0.is_empty() && windows.union(&ws).count() > self.cfg.compaction_max_windows {
                break;
            }
            windows.extend(ws);
            l0.push(s.clone());
        }
        if with_debt {
            for s in &m.l1 {
                if m.tombstones.iter().any(|t| t.seq > s.tomb_applied && t.t1 <= s.max_ts && s.min_ts < t.t2) {
                    windows.insert(self.window(s.min_ts));
                }
            }
        }
        let l1: Vec<_> = m.l1.iter().filter(|s| windows.contains(&self.window(s.min_ts))).cloned().collect();
        if l0.is_empty() && l1.is_empty() {
            return None;
        }
        Some(Selection { l0, l1 })
    }

    /// Merges a selection into new L1 segments (one or more per window).
    pub(crate) fn build_l1(&self, m: &Manifest<T>, sel: &Selection<T>) -> Vec<Arc<Segment<T>>> {
        let mut tombs: Vec<_> = m.tombstones.iter().copied().collect();
        let cov = Coverage::build(&mut tombs, Timestamp::MIN, Timestamp::MAX);
        // Sources, oldest first: L1 (one chain: disjoint windows), then L0 in order.
        struct Src<'a, T> {
            segs: Vec<&'a Segment<T>>,
            si: usize,
            pos: usize,
        }
        let mut srcs: Vec<Src<'_, T>> = Vec::new();
        if !sel.l1.is_empty() {
            srcs.push(Src { segs: sel.l1.iter().map(|s| &**s).collect(), si: 0, pos: 0 });
        }
        for s in &sel.l0 {
            srcs.push(Src { segs: vec![&**s], si: 0, pos: 0 });
        }
        let seq_hi = sel.l0.iter().chain(sel.l1.iter()).map(|s| s.seq_hi).max().unwrap_or(0);
        let tomb_applied = m.flushed_bound;
        let target = self.cfg.compaction_target_bytes.max(1);
        let rec_bytes = 8 + std::mem::size_of::<T>();
        let mut out = Vec::new();
        let mut cur: Option<(i128, SegmentBuilder<T>)> = None;
        let mut last_ts = None;
        loop {
            // Pick the oldest source among the smallest timestamps.
            let mut best: Option<(usize, Timestamp)> = None;
            for (k, s) in srcs.iter().enumerate() {
                if s.si < s.segs.len() {
                    let ts = s.segs[s.si].ts_at(s.pos);
                    if best.is_none_or(|(_, b)| ts < b) {
                        best = Some((k, ts));
                    }
                }
            }
            let Some((k, ts)) = best else { break };
            let s = &mut srcs[k];
            let seg = s.segs[s.si];
            let v = seg.val_at(s.pos);
            s.pos += 1;
            if s.pos == seg.len {
                s.si += 1;
                s.pos = 0;
            }
            // R7/R8: hidden iff a tombstone newer than what the segment applied covers it.
            if cov.max_seq(ts) > seg.tomb_applied {
                continue;
            }
            let w = self.window(ts);
            let split = match &cur {
                Some((cw, b)) => *cw != w || (b.len() * rec_bytes >= target && last_ts != Some(ts)),
                None => true,
            };
            if split {
                if let Some((cw, b)) = cur.take() {
                    let win = window_bounds(cw, self.cfg.cfg.window_origin, self.cfg.window_size);
                    if let Some(seg) =
                        b.finish(self.next_id(), Level::L1, seq_hi, tomb_applied, Some(win), &self.retired)
                    {
                        out.push(Arc::new(seg));
                    }
                }
                cur = Some((w, SegmentBuilder::new(self.cfg.page_records)));
            }
            if let Some((_, b)) = cur.as_mut() {
                b.push(ts, v.clone());
            }
            last_ts = Some(ts);
        }
        if let Some((cw, b)) = cur.take() {
            let win = window_bounds(cw, self.cfg.cfg.window_origin, self.cfg.window_size);
            if let Some(seg) = b.finish(self.next_id(), Level::L1, seq_hi, tomb_applied, Some(win), &self.retired) {
                out.push(Arc::new(seg));
            }
        }
        out
    }

    /// One compaction. Caller holds the maintainer lock. Returns whether it
    /// published anything.
    pub(crate) fn compact_once(&self, with_debt: bool) -> bool {
        let mut work = None;
        // Payload clones (and drops of what we loaded) inside the payload scope.
        let built = self.hooks.scoped(&mut || {
            let start = self.manifest.load_full();
            if let Some(sel) = self.select(&start, with_debt) {
                let outputs = self.build_l1(&start, &sel);
                work = Some((sel, outputs));
            }
        });
        let Some((sel, outputs)) = work.filter(|_| built) else {
            return false;
        };
        self.hooks.pause(crate::hooks::Point::CompactPublish);
        let mut work = Some((sel, outputs));
        let mut published = false;
        let ran = self.hooks.scoped(&mut || {
            let Some((sel, outputs)) = work.take() else { return };
            loop {
                let cur = self.manifest.load_full();
                // R10: publish only over a manifest that still holds every input
                // (the L0 prefix and the L1 segments we merged).
                #[cfg(not(timelog_fault = "compact_no_check"))]
                {
                    let l0_ok =
                        cur.l0.len() >= sel.l0.len() && cur.l0.iter().zip(&sel.l0).all(|(a, b)| Arc::ptr_eq(a, b));
                    let l1_ok = sel.l1.iter().all(|s| cur.l1.iter().any(|x| Arc::ptr_eq(x, s)));
                    if !(l0_ok && l1_ok) {
                        self.counters.compaction_publish_ebusy.fetch_add(1, Relaxed);
                        return;
                    }
                }
                let mut next = cur.successor();
                next.l0 = cur.l0[sel.l0.len().min(cur.l0.len())..].to_vec();
                let mut l1: Vec<_> =
                    cur.l1.iter().filter(|s| !sel.l1.iter().any(|x| Arc::ptr_eq(x, s))).cloned().collect();
                l1.extend(outputs.iter().cloned());
                l1.sort_by_key(|s| s.min_ts);
                next.l1 = l1;
                next.retire_applied_tombstones();
                if self.manifest.publish(&cur, next) {
                    published = true;
                    break;
                }
                // Only a concurrent seal can have changed the manifest; retry over it.
                self.counters.compaction_retries.fetch_add(1, Relaxed);
            }
        });
        if ran && published {
            self.counters.compactions_total.fetch_add(1, Relaxed);
        }
        ran && published
    }

    /// Fraction of stored records hidden by tombstones not yet applied.
    pub(crate) fn delete_debt(&self, m: &Manifest<T>) -> f64 {
        if m.tombstones.is_empty() {
            return 0.0;
        }
        let mut tombs: Vec<_> = m.tombstones.iter().copied().collect();
        let cov = Coverage::build(&mut tombs, Timestamp::MIN, Timestamp::MAX);
        let mut total = 0usize;
        let mut hidden = 0usize;
        for s in m.l0.iter().chain(m.l1.iter()) {
            total += s.len;
            let vis: usize = crate::query::plan::visible_ranges_segment(s, Timestamp::MIN, Timestamp::MAX, &cov)
                .iter()
                .map(|r| r.1 - r.0)
                .sum();
            hidden += s.len - vis;
        }
        if total == 0 {
            0.0
        } else {
            hidden as f64 / total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_floor_toward_negative_infinity() {
        assert_eq!(window_of(0, 0, 10), 0);
        assert_eq!(window_of(9, 0, 10), 0);
        assert_eq!(window_of(10, 0, 10), 1);
        assert_eq!(window_of(-1, 0, 10), -1);
        assert_eq!(window_of(5, 7, 10), -1);
        assert_eq!(window_bounds(-1, 0, 10), (-10, 0));
        assert_eq!(window_bounds(window_of(i64::MAX, 0, 10), 0, 10).1, i64::MAX);
    }
}
