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

    /// The windows a segment's records fall in.
    fn segment_windows(&self, s: &Segment<T>) -> BTreeSet<i128> {
        let mut ws = BTreeSet::new();
        let (first, last) = (self.window(s.min_ts), self.window(s.max_ts));
        if first == last {
            // The common case (a segment within one window): no per-record work.
            ws.insert(first);
            return ws;
        }
        for p in s.read_pages() {
            let ts = p.timestamps();
            let (Some(&a), Some(&b)) = (ts.first(), ts.last()) else { continue };
            let (wa, wb) = (self.window(a), self.window(b));
            if wa == wb {
                ws.insert(wa);
                continue;
            }
            let mut last = None;
            for &t in ts {
                let w = self.window(t);
                if last != Some(w) {
                    ws.insert(w);
                    last = Some(w);
                }
            }
        }
        ws
    }

    /// Picks the inputs: a prefix of L0 (oldest first, at most `max_inputs`
    /// segments and `max_windows` windows); the L1 segments that overlap
    /// the key range `[min, max]` of those L0 inputs; and with `with_debt`
    /// every L1 segment of a window holding records hidden by tombstones
    /// not yet applied to them.
    ///
    /// Only overlapping L1 segments are rewritten (not whole windows), so
    /// in-order ingest does not rewrite the L1 data of the current window
    /// on every compaction. The outputs stay disjoint from the L1 segments
    /// left in place: L1 segments are pairwise disjoint, so one that is not
    /// selected lies entirely outside `[min, max]` and cannot lie between
    /// two selected ones (that one would contain it); outputs are split by
    /// window and contain only records of the selected inputs.
    pub(crate) fn select(&self, m: &Manifest<T>, with_debt: bool) -> Option<Selection<T>> {
        let mut windows: BTreeSet<i128> = BTreeSet::new();
        let mut l0 = Vec::new();
        for s in m.l0.iter().take(self.cfg.compaction_max_inputs) {
            let ws = self.segment_windows(s);
            if !l0.is_empty() && windows.union(&ws).count() > self.cfg.compaction_max_windows {
                break;
            }
            windows.extend(ws);
            l0.push(s.clone());
        }
        let hull =
            l0.iter().map(|s: &Arc<Segment<T>>| (s.min_ts, s.max_ts)).reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        let mut debt: BTreeSet<i128> = BTreeSet::new();
        if with_debt {
            for s in &m.l1 {
                if m.tombstones.iter().any(|t| t.seq > s.tomb_applied && t.t1 <= s.max_ts && s.min_ts < t.t2) {
                    debt.insert(self.window(s.min_ts));
                }
            }
        }
        let l1: Vec<_> = m
            .l1
            .iter()
            .filter(|s| {
                hull.is_some_and(|(lo, hi)| s.min_ts <= hi && s.max_ts >= lo) || debt.contains(&self.window(s.min_ts))
            })
            .cloned()
            .collect();
        if l0.is_empty() && l1.is_empty() {
            return None;
        }
        Some(Selection { l0, l1 })
    }

    /// Merges a selection into new L1 segments (one or more per window).
    pub(crate) fn build_l1(&self, m: &Manifest<T>, sel: &Selection<T>) -> Vec<Arc<Segment<T>>> {
        let mut tombs: Vec<_> = m.tombstones.iter().copied().collect();
        let cov = Coverage::build(&mut tombs, Timestamp::MIN, Timestamp::MAX);
        // Sources, oldest first: L1 (one chain: disjoint), then L0 in order.
        // Each walks its segments page by page (no index division per record).
        struct Src<'a, T> {
            segs: Vec<&'a Segment<T>>,
            si: usize,
            pi: usize,
            off: usize,
        }
        impl<'a, T> Src<'a, T> {
            fn new(segs: Vec<&'a Segment<T>>) -> Self {
                let mut s = Src { segs, si: 0, pi: 0, off: 0 };
                s.skip_empty();
                s
            }
            fn skip_empty(&mut self) {
                while self.si < self.segs.len() {
                    let pages = self.segs[self.si].read_pages();
                    if self.pi < pages.len() && self.off < pages[self.pi].len() {
                        return;
                    }
                    self.off = 0;
                    self.pi += 1;
                    if self.pi >= pages.len() {
                        self.pi = 0;
                        self.si += 1;
                    }
                }
            }
            fn head(&self) -> Option<Timestamp> {
                let seg = self.segs.get(self.si)?;
                Some(seg.read_pages()[self.pi].timestamps()[self.off])
            }
            /// The current record's segment and payload; moves past it.
            fn take(&mut self) -> (&'a Segment<T>, &'a T) {
                let seg = self.segs[self.si];
                let page = &seg.read_pages()[self.pi];
                let v = &page.payloads()[self.off];
                self.off += 1;
                if self.off == page.len() {
                    self.skip_empty();
                }
                (seg, v)
            }
        }
        let mut srcs: Vec<Src<'_, T>> = Vec::new();
        if !sel.l1.is_empty() {
            srcs.push(Src::new(sel.l1.iter().map(|s| &**s).collect()));
        }
        for s in &sel.l0 {
            srcs.push(Src::new(vec![&**s]));
        }
        let seq_hi = sel.l0.iter().chain(sel.l1.iter()).map(|s| s.seq_hi).max().unwrap_or(0);
        let tomb_applied = m.flushed_bound;
        let target = self.cfg.compaction_target_bytes.max(1);
        let rec_bytes = 8 + std::mem::size_of::<T>();
        let no_tombs = cov.is_empty();
        let mut out = Vec::new();
        let mut cur: Option<(i128, SegmentBuilder<T>)> = None;
        // Bounds `[lo, hi)` of the current window, so the window is computed
        // only when a record leaves it.
        let (mut wlo, mut whi) = (Timestamp::MAX, Timestamp::MIN);
        let mut last_ts = None;
        loop {
            // Pick the oldest source among the smallest timestamps.
            let mut best: Option<(usize, Timestamp)> = None;
            for (k, s) in srcs.iter().enumerate() {
                if let Some(ts) = s.head() {
                    if best.is_none_or(|(_, b)| ts < b) {
                        best = Some((k, ts));
                    }
                }
            }
            let Some((k, ts)) = best else { break };
            let (seg, v) = srcs[k].take();
            // R7/R8: hidden iff a tombstone newer than what the segment applied covers it.
            if !no_tombs && cov.max_seq(ts) > seg.tomb_applied {
                continue;
            }
            let same_window = wlo <= ts && ts < whi;
            let w = match &cur {
                Some((cw, _)) if same_window => *cw,
                _ => {
                    let w = self.window(ts);
                    (wlo, whi) = window_bounds(w, self.cfg.cfg.window_origin, self.cfg.window_size);
                    w
                }
            };
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
                if self.publish_maint(&cur, next) {
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

    fn l1_ids(log: &crate::Timelog<u64>) -> Vec<u64> {
        log.inner.manifest.load().l1.iter().map(|s| s.id).collect()
    }

    /// In-order ingest within one window: a compaction rewrites only the
    /// L1 segments its L0 inputs overlap, so older L1 segments survive
    /// untouched (no rewrite of the whole window per compaction).
    #[test]
    fn compaction_keeps_disjoint_l1_segments() {
        let log: crate::Timelog<u64> = crate::Timelog::with_config(crate::Config {
            maintenance: crate::MaintenanceMode::Disabled,
            window_size: 1_000_000,
            ..crate::Config::default()
        })
        .unwrap();
        let _ = log.extend((0..1000).map(|t| (t, t as u64))).unwrap();
        log.compact().unwrap();
        let first = l1_ids(&log);
        assert_eq!(first.len(), 1);
        let _ = log.extend((1000..2000).map(|t| (t, t as u64))).unwrap();
        log.compact().unwrap();
        let second = l1_ids(&log);
        assert_eq!(second.len(), 2, "the new data became its own L1 segment");
        assert_eq!(second[0], first[0], "the older L1 segment was not rewritten");
        // A late record between them merges with the segment it overlaps only.
        let _ = log.append(500, 7).unwrap();
        log.compact().unwrap();
        let third = l1_ids(&log);
        assert_eq!(third.len(), 2);
        assert_ne!(third[0], second[0], "the overlapped segment was rewritten");
        assert_eq!(third[1], second[1], "the other one was not");
        log.validate().unwrap();
        assert_eq!(log.len().unwrap(), 2001);
        assert_eq!(log.point(500).unwrap(), vec![500, 7]);
    }
}
