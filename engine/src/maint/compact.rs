//! Compaction: merge L0 segments (and the L1 windows they touch) into
//! windowed, non-overlapping L1 segments, dropping what tombstones hide.

use crate::sync::Arc;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;

use super::Maint;
use crate::config::Target;
use crate::manifest::Manifest;
use crate::segment::{Level, Segment, SegmentBuilder};
use crate::tombstone::{Coverage, CoverageBuilder};
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

/// The L1 segments of `m` that an output of the merged group overlaps and
/// that the selection neither merges nor drops, if any. Outputs of a segment
/// rewritten alone lie within that segment's own `[min_ts, max_ts]` and
/// overlap nothing else (L1 is disjoint).
fn overlapped_l1<T>(m: &Manifest<T>, sel: &Selection<T>, outputs: &[Arc<Segment<T>>]) -> Option<Vec<Arc<Segment<T>>>> {
    let extra: Vec<_> =
        m.l1.iter()
            .filter(|u| !has(&sel.l1, u) && !has(&sel.dropped, u))
            .filter(|u| outputs.iter().any(|o| o.min_ts <= u.max_ts && u.min_ts <= o.max_ts))
            .cloned()
            .collect();
    (!extra.is_empty()).then_some(extra)
}

/// Whether `v` holds `s` (by identity).
/// Whether no two of `segs` share a timestamp: their `[min_ts, max_ts]`
/// spans are pairwise disjoint.
fn apart<T>(segs: &[Arc<Segment<T>>]) -> bool {
    let mut spans: Vec<_> = segs.iter().map(|s| (s.min_ts, s.max_ts)).collect();
    spans.sort_unstable();
    spans.windows(2).all(|w| w[0].1 < w[1].0)
}

fn has<T>(v: &[Arc<Segment<T>>], s: &Arc<Segment<T>>) -> bool {
    v.iter().any(|x| Arc::ptr_eq(x, s))
}

/// What a compaction is for (R10: which inputs it selects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// L0 reached its trigger: an L0 prefix and the L1 segments it overlaps.
    L0,
    /// Delete debt: only the segments with debt — each L1 one rewritten
    /// alone, the L0 prefix up to the last L0 segment with debt.
    Debt,
    /// `compact()`: all of L0 (up to the input limits) and every segment
    /// with debt.
    All,
}

/// What one compaction consumes (rule R10, "compaction inputs").
///
/// - `l0` (an L0 prefix once `dropped` is set aside, oldest first) and `l1`
///   (the L1 segments overlapping the key range of `l0`) are merged into
///   new L1 segments, split by window;
/// - each segment of `alone` (an L1 segment with delete debt outside that
///   range) is rewritten by itself: its outputs lie within its own
///   `[min_ts, max_ts]`, so L1 stays disjoint whatever lies next to it;
/// - each segment of `dropped` (L0 or L1) is hidden whole by tombstones of
///   the manifest's list it has not applied: it leaves the manifest
///   without being read.
pub(crate) struct Selection<T> {
    pub(crate) l0: Vec<Arc<Segment<T>>>,
    pub(crate) l1: Vec<Arc<Segment<T>>>,
    pub(crate) alone: Vec<Arc<Segment<T>>>,
    pub(crate) dropped: Vec<Arc<Segment<T>>>,
}

impl<T: Clone + Send + Sync + 'static> Maint<'_, T> {
    /// The L1 window in use: the configured one, or the adaptive one
    /// (`Counters::note_flush`). It changes only under the maintainer lock,
    /// which every compaction holds, so one compaction sees one window.
    pub(crate) fn l1_window(&self) -> i64 {
        self.counters.window(self.cfg.window_size)
    }

    fn window(&self, ts: Timestamp) -> i128 {
        window_of(ts, self.cfg.cfg.window_origin, self.l1_window())
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

    /// Picks the inputs (R10, "compaction inputs"; see [`Selection`]).
    ///
    /// - Every segment (L0 or L1) hidden whole by list tombstones it has not
    ///   applied is dropped unread, whatever `pick` is: the list's
    ///   tombstones are settled (R11), so no reader of the successor can see
    ///   any of its records.
    /// - An L0 prefix (oldest first, at most `max_inputs` segments and
    ///   `max_windows` windows; the dropped ones set aside): all of L0 for
    ///   [`Pick::L0`] and [`Pick::All`]; for [`Pick::Debt`] only up to the
    ///   last L0 segment with debt (a prefix, so that the outputs order
    ///   below what stays in L0, R8). With it, the L1 segments that overlap
    ///   its key range `[min, max]`, merged with it.
    /// - For [`Pick::Debt`] and [`Pick::All`], every other L1 segment with
    ///   debt (a list tombstone it has not applied overlaps it), each
    ///   rewritten alone — not its whole window, so a delete rewrites only
    ///   the segments it touches and a compaction's peak memory is the old
    ///   and new copies of those segments only.
    ///
    /// Only overlapping L1 segments are merged (not whole windows), so
    /// in-order ingest does not rewrite the L1 data of the current window
    /// on every compaction. The outputs stay disjoint from the L1 segments
    /// left in place: L1 segments are pairwise disjoint, so one that is not
    /// merged lies entirely outside `[min, max]` and cannot lie between two
    /// merged ones (that one would contain it); merged outputs are split by
    /// window and contain only records of the merged inputs; a segment
    /// rewritten alone yields outputs within its own `[min_ts, max_ts]`.
    pub(crate) fn select(&self, m: &Manifest<T>, pick: Pick) -> Option<Selection<T>> {
        // R8/R11: hiding over the manifest's (settled) list, each segment's
        // records ordering as its `tomb_applied`.
        let cov = (!m.tombstones.is_empty()).then(|| CoverageBuilder::new().list(&m.tombstones).build());
        let hidden_whole = |s: &Segment<T>| {
            cov.as_ref().is_some_and(|c| c.hidden_end(s.min_ts, s.tomb_applied).is_some_and(|e| e > s.max_ts))
        };
        let has_debt =
            |s: &Segment<T>| m.tombstones.iter().any(|t| t.seq > s.tomb_applied && t.t1 <= s.max_ts && s.min_ts < t.t2);
        let dropped: Vec<_> = m.l0.iter().chain(m.l1.iter()).filter(|s| hidden_whole(s)).cloned().collect();
        let kept_l0: Vec<&Arc<Segment<T>>> = m.l0.iter().filter(|s| !has(&dropped, s)).collect();
        let l0_len = match pick {
            Pick::Debt => kept_l0.iter().rposition(|s| has_debt(s)).map_or(0, |i| i + 1),
            Pick::L0 | Pick::All => kept_l0.len(),
        };
        let mut windows: BTreeSet<i128> = BTreeSet::new();
        let mut l0: Vec<Arc<Segment<T>>> = Vec::new();
        for s in kept_l0.into_iter().take(l0_len.min(self.cfg.compaction_max_inputs)) {
            let ws = self.segment_windows(s);
            if !l0.is_empty() && windows.union(&ws).count() > self.cfg.compaction_max_windows {
                break;
            }
            windows.extend(ws);
            l0.push(s.clone());
        }
        let hull = l0.iter().map(|s| (s.min_ts, s.max_ts)).reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        let in_hull = |s: &Segment<T>| hull.is_some_and(|(lo, hi)| s.min_ts <= hi && s.max_ts >= lo);
        let mut l1 = Vec::new();
        let mut alone = Vec::new();
        for s in m.l1.iter().filter(|s| !has(&dropped, s)) {
            if in_hull(s) {
                l1.push(s.clone());
            } else if pick != Pick::L0 && has_debt(s) {
                alone.push(s.clone());
            }
        }
        if l0.is_empty() && l1.is_empty() && alone.is_empty() && dropped.is_empty() {
            return None;
        }
        Some(Selection { l0, l1, alone, dropped })
    }

    /// Merges `l0` (an L0 prefix, oldest first) and `l1` (disjoint L1
    /// segments in key order) into new L1 segments (one or more per window).
    pub(crate) fn build_l1(
        &self,
        m: &Manifest<T>,
        l0: &[Arc<Segment<T>>],
        l1: &[Arc<Segment<T>>],
    ) -> Vec<Arc<Segment<T>>> {
        // R8: compaction applies every tombstone of the manifest's list.
        let cov = CoverageBuilder::new().list(&m.tombstones).build();
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
            /// With the log's payload target, starts loading the data of
            /// the payloads `TARGET_AHEAD` records on in the page, which
            /// their clones will touch (`Target::load_ahead`: a stretch
            /// every few records).
            #[inline(always)]
            fn take(&mut self, target: Option<Target<T>>) -> (&'a Segment<T>, &'a T) {
                let seg = self.segs[self.si];
                let page = &seg.read_pages()[self.pi];
                if let Some(t) = target {
                    t.load_ahead(page.payloads(), self.off);
                }
                let v = &page.payloads()[self.off];
                self.off += 1;
                if self.off == page.len() {
                    self.skip_empty();
                }
                (seg, v)
            }
        }
        let mut srcs: Vec<Src<'_, T>> = Vec::new();
        if !l1.is_empty() {
            srcs.push(Src::new(l1.iter().map(|s| &**s).collect()));
        }
        for s in l0 {
            srcs.push(Src::new(vec![&**s]));
        }
        let seq_hi = l0.iter().chain(l1.iter()).map(|s| s.seq_hi).max().unwrap_or(0);
        let tomb_applied = m.flushed_bound;
        let target = self.cfg.compaction_target_bytes.max(1);
        let rec_bytes = 8 + std::mem::size_of::<T>();
        let no_tombs = cov.is_empty();
        let payload_target = self.cfg.target::<T>();
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
            let (seg, v) = srcs[k].take(payload_target);
            // R7/R8: hidden iff a tombstone newer than what the segment applied covers it.
            if !no_tombs && cov.max_seq(ts) > seg.tomb_applied {
                continue;
            }
            let same_window = wlo <= ts && ts < whi;
            let w = match &cur {
                Some((cw, _)) if same_window => *cw,
                _ => {
                    let w = self.window(ts);
                    (wlo, whi) = window_bounds(w, self.cfg.cfg.window_origin, self.l1_window());
                    w
                }
            };
            let split = match &cur {
                Some((cw, b)) => *cw != w || (b.len() * rec_bytes >= target && last_ts != Some(ts)),
                None => true,
            };
            if split {
                if let Some((cw, b)) = cur.take() {
                    let win = window_bounds(cw, self.cfg.cfg.window_origin, self.l1_window());
                    if let Some(seg) =
                        b.finish(self.cat.next_id(), Level::L1, seq_hi, tomb_applied, Some(win), self.cat.retired())
                    {
                        out.push(Arc::new(seg));
                    }
                }
                cur = Some((w, SegmentBuilder::new(self.cfg.page_records).with_target(self.cfg.target())));
            }
            if let Some((_, b)) = cur.as_mut() {
                b.push(ts, v.clone());
            }
            last_ts = Some(ts);
        }
        if let Some((cw, b)) = cur.take() {
            let win = window_bounds(cw, self.cfg.cfg.window_origin, self.l1_window());
            if let Some(seg) =
                b.finish(self.cat.next_id(), Level::L1, seq_hi, tomb_applied, Some(win), self.cat.retired())
            {
                out.push(Arc::new(seg));
            }
        }
        out
    }

    /// R10, "prefix cut": the compaction of the one segment `s` (an L1
    /// segment rewritten alone, or an L0 prefix of one segment merged with
    /// no L1 segment) when the records the list tombstones it has not
    /// applied hide are a prefix of its positions — a `delete_before` or
    /// `cutoff` it straddles, or tombstones hiding nothing of it (over a
    /// gap) — built without rewriting it: its whole pages above the cut are
    /// shared with it ([`Segment::share_pages`]), and the records of the one
    /// page the cut straddles that survive are copied into a segment of
    /// their own below them. The outputs hold exactly the records a full
    /// rewrite ([`build_l1`](Self::build_l1)) keeps, with the same `seq_hi`,
    /// `tomb_applied` and window; only the segment boundaries differ.
    ///
    /// `None` (rewrite it in full) when the shape does not fit: `s` spans
    /// more than one window of the current grid or more than the target
    /// size (a rewrite would split it), a record past the cut is hidden, or
    /// a run of equal timestamps crosses from the copied page into the
    /// shared ones (L1 segments never share a timestamp, R8).
    ///
    /// Returns the outputs and the number of records copied.
    pub(crate) fn cut_prefix(
        &self,
        m: &Manifest<T>,
        cov: &Coverage,
        s: &Segment<T>,
    ) -> Option<(Vec<Arc<Segment<T>>>, usize)> {
        let w = self.window(s.min_ts);
        if w != self.window(s.max_ts) {
            return None;
        }
        let rec_bytes = 8 + std::mem::size_of::<T>();
        if s.len.saturating_mul(rec_bytes) > self.cfg.compaction_target_bytes.max(1) {
            return None;
        }
        // R8: a record is hidden iff a list tombstone newer than the
        // segment's `tomb_applied` covers it (the test of `build_l1`). The
        // hidden stretch from `min_ts` ends at `e`: positions `..k`.
        let applied = s.tomb_applied;
        let k = match cov.hidden_end(s.min_ts, applied) {
            Some(e) => s.lower_bound(e),
            None => 0,
        };
        if k < s.len {
            // Nothing at or after position `k` may be hidden.
            let rest = cov.overlapping(s.ts_at(k), s.max_ts);
            if rest.iter().any(|&(a, b, sq)| sq > applied && s.lower_bound(a) < s.lower_bound(b)) {
                return None;
            }
        }
        let (p, o) = s.split(k);
        let pages = s.read_pages();
        // The copied part: the survivors of the straddled page (none if the
        // cut falls on a page boundary); the shared part: the pages after it.
        let (copied, shared_from) = match pages.get(p) {
            Some(page) if o > 0 => (&page.timestamps()[o..], p + 1),
            _ => (&[][..], p),
        };
        // Seeded fault (R10, prefix cut): a page below the cut kept.
        #[cfg(timelog_fault = "prefix_cut_keeps_a_page")]
        let shared_from = shared_from.saturating_sub(1);
        if let (Some(&last), Some(next)) = (copied.last(), pages.get(shared_from)) {
            if next.timestamps()[0] == last {
                return None;
            }
        }
        let win = Some(window_bounds(w, self.cfg.cfg.window_origin, self.l1_window()));
        let (seq_hi, tomb_applied, retired) = (s.seq_hi, m.flushed_bound, self.cat.retired());
        let mut out = Vec::new();
        if !copied.is_empty() {
            let mut b = SegmentBuilder::new(self.cfg.page_records).with_target(self.cfg.target());
            b.push_cloned(copied, &pages[p].payloads()[o..]);
            out.extend(b.finish(self.cat.next_id(), Level::L1, seq_hi, tomb_applied, win, retired).map(Arc::new));
        }
        out.extend(
            Segment::share_pages(s, shared_from, self.cat.next_id(), Level::L1, seq_hi, tomb_applied, win, retired)
                .map(Arc::new),
        );
        Some((out, copied.len()))
    }

    /// One compaction of everything due (`compact()` with `with_debt`), or
    /// of L0 only. Caller holds the maintainer lock. Returns whether it
    /// published anything.
    pub(crate) fn compact_once(&self, with_debt: bool) -> bool {
        self.compact_pick(if with_debt { Pick::All } else { Pick::L0 })
    }

    /// One compaction of what `pick` selects (see [`select`](Self::select)).
    /// Caller holds the maintainer lock. Returns whether it published
    /// anything.
    pub(crate) fn compact_pick(&self, pick: Pick) -> bool {
        let mut published = false;
        // One payload phase for the whole compaction: the payload clones of
        // the build, and the publication (which may drop the last reference
        // to a replaced segment) with the drops of what we loaded. Nothing
        // in it waits for another thread (the test pause point waits in the
        // blocking scope). Under CPython's GIL, entering the phase waits for
        // the interpreter's switch interval while a Python thread runs
        // (5 ms): the build and the publication used to be two phases, two
        // such waits per compaction, which made a delete-debt step lag a
        // sliding window by several deletes (docs/performance.md,
        // "Retention", Session 6).
        let ran = self.hooks.scoped(&mut || {
            let start = self.cat.load_full();
            let sel = self.select(&start, pick);
            self.counters.note_selection(sel.as_ref().map(|s| (s.l0.len(), s.l1.len() + s.alone.len())));
            let Some(mut sel) = sel else { return };
            // R8: the coverage of the list, as `build_l1` builds it.
            let cov = CoverageBuilder::new().list(&start.tombstones).build();
            let mut copied = 0usize;
            let merge = |sel: &Selection<T>, copied: &mut usize| {
                if sel.l0.is_empty() && sel.l1.is_empty() {
                    Vec::new()
                } else if sel.l1.is_empty() && apart(&sel.l0) {
                    // L0 segments that share no timestamp (in-order ingest:
                    // one per flush, each after the last) and no L1 one:
                    // each one's records go to L1 as they are, cut where
                    // the shape allows (R10, prefix cut); the others are
                    // merged a stretch at a time, each stretch of them
                    // between two kept whole, so no output's span covers
                    // another's (L1 stays disjoint, R8).
                    let mut by_time: Vec<&Arc<Segment<T>>> = sel.l0.iter().collect();
                    by_time.sort_by_key(|s| s.min_ts);
                    let mut out = Vec::new();
                    let mut stretch: Vec<Arc<Segment<T>>> = Vec::new();
                    let merge_stretch = |stretch: &mut Vec<Arc<Segment<T>>>, out: &mut Vec<_>, copied: &mut usize| {
                        if !stretch.is_empty() {
                            *copied += stretch.iter().map(|s| s.len).sum::<usize>();
                            out.extend(self.build_l1(&start, stretch, &[]));
                            stretch.clear();
                        }
                    };
                    for s in by_time {
                        match self.cut_prefix(&start, &cov, s) {
                            Some((o, n)) => {
                                merge_stretch(&mut stretch, &mut out, copied);
                                *copied += n;
                                out.extend(o);
                            }
                            None => stretch.push(s.clone()),
                        }
                    }
                    merge_stretch(&mut stretch, &mut out, copied);
                    out
                } else {
                    *copied += sel.l0.iter().chain(&sel.l1).map(|s| s.len).sum::<usize>();
                    self.build_l1(&start, &sel.l0, &sel.l1)
                }
            };
            let mut outputs = merge(&sel, &mut copied);
            // Once the adaptive window has changed, L1 holds segments
            // of older window grids, and an output (one new window) can
            // span an L1 segment left out of the merge. Take such a
            // segment in too and rebuild, until no output overlaps what
            // stays in place or is rewritten alone (L1 stays disjoint).
            // With one grid this never happens (see `select`).
            while let Some(extra) = overlapped_l1(&start, &sel, &outputs) {
                sel.alone.retain(|s| !has(&extra, s));
                sel.l1.extend(extra);
                sel.l1.sort_by_key(|s| s.min_ts);
                outputs = merge(&sel, &mut copied);
            }
            // Each segment with debt outside the merge, by itself: its
            // old and new records are all this costs at a time, and only
            // the page a prefix cut straddles when it is one (R10).
            for s in &sel.alone {
                match self.cut_prefix(&start, &cov, s) {
                    Some((out, n)) => {
                        copied += n;
                        outputs.extend(out);
                    }
                    None => {
                        copied += s.len;
                        outputs.extend(self.build_l1(&start, &[], std::slice::from_ref(s)));
                    }
                }
            }
            // The records copied feed a test counter only.
            #[cfg(any(test, feature = "test-hooks"))]
            self.st.compact_records_read.fetch_add(copied as u64, Relaxed);
            #[cfg(not(any(test, feature = "test-hooks")))]
            let _ = copied;
            drop(start);
            self.hooks.pause(crate::hooks::Point::CompactPublish);
            published = self.publish_compaction(&sel, &outputs);
        });
        if ran && published {
            self.counters.compactions_total.fetch_add(1, Relaxed);
            self.counters.note_compaction(true, &self.cfg.adaptive, self.cfg.window_size);
        }
        ran && published
    }

    /// Publishes a compaction's outputs in place of its inputs (R10), over
    /// the current manifest; `false` when an input is gone (`EBUSY`).
    /// Inside the payload phase (the publication may drop the last
    /// reference to a replaced segment).
    fn publish_compaction(&self, sel: &Selection<T>, outputs: &[Arc<Segment<T>>]) -> bool {
        loop {
            let cur = self.cat.load_full();
            // R10: publish only over a manifest that still holds every input
            // (the L0 prefix in order once the dropped segments are set
            // aside, the L1 segments merged or rewritten, the dropped ones).
            #[cfg(not(timelog_fault = "compact_no_check"))]
            {
                let rest: Vec<_> = cur.l0.iter().filter(|s| !has(&sel.dropped, s)).collect();
                let l0_ok = rest.len() >= sel.l0.len() && rest.iter().zip(&sel.l0).all(|(a, b)| Arc::ptr_eq(a, b));
                let l1_ok = sel.l1.iter().chain(&sel.alone).all(|s| has(&cur.l1, s));
                let dropped_ok = sel.dropped.iter().all(|s| has(&cur.l0, s) || has(&cur.l1, s));
                if !(l0_ok && l1_ok && dropped_ok) {
                    self.counters.compaction_publish_ebusy.fetch_add(1, Relaxed);
                    self.counters.note_compaction(false, &self.cfg.adaptive, self.cfg.window_size);
                    return false;
                }
            }
            let mut next = cur.successor();
            next.l0 = cur.l0.iter().filter(|s| !has(&sel.l0, s) && !has(&sel.dropped, s)).cloned().collect();
            let mut l1: Vec<_> = cur
                .l1
                .iter()
                .filter(|s| !has(&sel.l1, s) && !has(&sel.alone, s) && !has(&sel.dropped, s))
                .cloned()
                .collect();
            l1.extend(outputs.iter().cloned());
            l1.sort_by_key(|s| s.min_ts);
            next.l1 = l1;
            // R11: coalesce over the classes of the new segments.
            next.coalesce_tombstones();
            if self.cat.publish_maint(&cur, next) {
                return true;
            }
            // Only a concurrent seal can have changed the manifest; retry over it.
            self.counters.compaction_retries.fetch_add(1, Relaxed);
        }
    }

    /// Fraction of stored records (segments and memtables) that committed
    /// tombstones (`seq <= visible`) hide and that maintenance can drop:
    ///
    /// - segment records hidden by the manifest's list or by memtable
    ///   tombstones (a compaction drops them), so a delete over flushed data
    ///   counts at once, not after the flush of its memtable;
    /// - memtable records hidden by memtable tombstones (their memtable's
    ///   flush drops them, R8, once it is sealed), so a memtable that a
    ///   sliding window deletes behind the writer is sealed and flushed
    ///   while mostly deleted instead of holding its deleted records (and
    ///   their payloads) until it is full. Runs are counted exactly in
    ///   O(log n) per covering interval (sequences increase along a run,
    ///   R3); skiplist records (out-of-order inserts, bounded by
    ///   `ooo_budget_bytes`) are not counted.
    pub(crate) fn delete_debt(&self, m: &Manifest<T>) -> f64 {
        let w = self.seq.visible();
        let mts = || m.sealed.iter().chain(std::iter::once(&m.active));
        let mut total: usize = mts().map(|mt| mt.len()).sum();
        let mut hidden = 0usize;
        // Memtable records: only memtable tombstones can hide them (every
        // list tombstone is older than every memtable record, R7/R8).
        let mut mb = CoverageBuilder::new();
        for mt in mts() {
            mb = mb.stack(&mt.tombs, w);
        }
        if !mb.is_empty() {
            let cov = mb.build();
            hidden += mts().map(|mt| run_hidden(&mt.run, &cov)).sum::<usize>();
        }
        let mut b = CoverageBuilder::new().list(&m.tombstones);
        for mt in mts() {
            b = b.stack(&mt.tombs, w);
        }
        if !b.is_empty() {
            // Every tombstone here is seen by this computation, so the R11
            // coalescing keeps what each one hides in a segment; it also
            // makes the coverage build linear (disjoint intervals).
            let mut applied: Vec<_> = m.l0.iter().chain(m.l1.iter()).map(|s| s.tomb_applied).collect();
            applied.sort_unstable();
            applied.dedup();
            let cov = b.coalesced(&applied).build();
            for s in m.l0.iter().chain(m.l1.iter()) {
                let vis: usize = crate::query::plan::visible_ranges_segment(s, Timestamp::MIN, Timestamp::MAX, &cov)
                    .iter()
                    .map(|r| r.1 - r.0)
                    .sum();
                hidden += s.len - vis;
            }
        }
        total += m.l0.iter().chain(m.l1.iter()).map(|s| s.len).sum::<usize>();
        if total == 0 {
            0.0
        } else {
            hidden as f64 / total as f64
        }
    }
}

/// Records of `run` that `cov` hides (R7: a covering interval of greatest
/// sequence `m` hides the records below `m`; sequences increase along a
/// run, R3, so those are a prefix of the interval's records).
fn run_hidden<T>(run: &crate::memtable::run::Run<T>, cov: &crate::tombstone::Coverage) -> usize {
    let n = run.len();
    if n == 0 {
        return 0;
    }
    let (first, last) = (run.ts_at(0), run.ts_at(n - 1));
    cov.overlapping(first, last)
        .iter()
        .map(|&(a, b, m)| {
            let lo = run.lower_bound(a, 0, n);
            let hi = run.lower_bound(b, lo, n);
            run.seq_upper_bound(m.saturating_sub(1), lo, hi) - lo
        })
        .sum()
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
        log.inner.catalog.load().l1.iter().map(|s| s.id).collect()
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

    fn disabled_log() -> crate::Timelog<u64> {
        crate::Timelog::with_config(crate::Config {
            maintenance: crate::MaintenanceMode::Disabled,
            window_size: 1_000_000,
            ..crate::Config::default()
        })
        .unwrap()
    }

    /// Records compactions read since the last call.
    fn records_read(log: &crate::Timelog<u64>) -> u64 {
        log.inner.maint.compact_records_read.swap(0, Relaxed)
    }

    fn l0_ids(log: &crate::Timelog<u64>) -> Vec<u64> {
        log.inner.catalog.load().l0.iter().map(|s| s.id).collect()
    }

    /// Three L1 segments, [0, 1000), [1000, 2000), [2000, 3000), each
    /// compacted on its own (in-order ingest keeps them apart).
    fn three_l1_segments(log: &crate::Timelog<u64>) -> Vec<u64> {
        for k in 0..3 {
            let _ = log.extend((k * 1000..(k + 1) * 1000).map(|t| (t, t as u64))).unwrap();
            log.compact().unwrap();
        }
        let ids = l1_ids(log);
        assert_eq!(ids.len(), 3);
        records_read(log);
        ids
    }

    /// R10 (compaction inputs): a segment hidden whole by tombstones it has
    /// not applied leaves the manifest unread; a partial delete rewrites
    /// only the segment it touches, not the window.
    #[test]
    fn hidden_segment_is_dropped_unread_and_a_partial_delete_rewrites_only_its_segment() {
        let log = disabled_log();
        let ids = three_l1_segments(&log);
        // Hides all of the first segment.
        let _ = log.delete_before(1000).unwrap();
        log.compact().unwrap();
        assert_eq!(records_read(&log), 0, "the hidden segment was dropped without being read");
        assert_eq!(l1_ids(&log), ids[1..].to_vec(), "the others were not rewritten");
        assert_eq!(log.stats().unwrap().tombstone_count, 0, "the tombstone was retired with it");
        // A delete inside the second segment: that segment alone is rewritten.
        let _ = log.delete_range(1500, 1600).unwrap();
        log.compact().unwrap();
        assert_eq!(records_read(&log), 1000, "one segment read");
        let after = l1_ids(&log);
        assert_eq!(after.len(), 2);
        assert_ne!(after[0], ids[1], "the touched segment was rewritten");
        assert_eq!(after[1], ids[2], "the untouched one (same window) was not");
        // A delete_before over a segment boundary: the covered segment is
        // dropped, the straddled one rewritten alone.
        let _ = log.extend((3000..4000).map(|t| (t, t as u64))).unwrap();
        log.compact().unwrap();
        records_read(&log);
        let ids = l1_ids(&log);
        assert_eq!(ids.len(), 3);
        let _ = log.delete_before(2500).unwrap();
        log.compact().unwrap();
        // R10, prefix cut: only the 500 survivors of the page the cut
        // straddles are copied (one page: [2000, 3000) is 1,000 records).
        assert_eq!(records_read(&log), 500, "only the survivors in [2000, 3000) were copied");
        let after = l1_ids(&log);
        assert_eq!(after.len(), 2);
        assert_eq!(after[1], ids[2]);
        log.validate().unwrap();
        assert_eq!(log.len().unwrap(), 1500);
        let got: Vec<i64> = log.snapshot().unwrap().all(crate::Order::Asc).map(|r| r.0).collect();
        assert_eq!(got, (2500..4000).collect::<Vec<_>>());
    }

    /// In-order ingest, one L0 segment per flush: a compaction moves each
    /// segment to L1 by sharing its pages (R10, prefix cut at 0), and
    /// merges only the segments it cannot (a delete in their middle), a
    /// stretch at a time between the shared ones, so no output spans
    /// another (session 39: one merged output spanned the shared segments
    /// between its inputs, and L1 overlapped). Segments that share a
    /// timestamp are merged as before.
    #[test]
    fn l0_segments_apart_move_to_l1_shared_and_the_rest_merge_between_them() {
        let log = disabled_log();
        for k in 0..5 {
            let _ = log.extend((k * 1000..(k + 1) * 1000).map(|t| (t, t as u64))).unwrap();
            log.flush().unwrap();
        }
        let _ = log.delete_range(1500, 1600).unwrap();
        let _ = log.delete_range(3200, 3300).unwrap();
        let firsts: Vec<*const i64> =
            log.inner.catalog.load().l0.iter().map(|s| s.read_pages()[0].timestamps().as_ptr()).collect();
        assert_eq!(firsts.len(), 5);
        log.compact().unwrap();
        assert_eq!(records_read(&log), 2000, "only the two segments with a delete inside were read");
        let m = log.inner.catalog.load();
        assert!(m.l0.is_empty());
        let l1_firsts: Vec<*const i64> = m.l1.iter().map(|s| s.read_pages()[0].timestamps().as_ptr()).collect();
        for k in [0, 2, 4] {
            assert!(l1_firsts.contains(&firsts[k]), "segment {k}'s pages are shared, not copied");
        }
        drop(m);
        log.validate().unwrap();
        let got: Vec<i64> = log.snapshot().unwrap().all(crate::Order::Asc).map(|r| r.0).collect();
        let want: Vec<i64> = (0..5000).filter(|t| !(1500..1600).contains(t) && !(3200..3300).contains(t)).collect();
        assert_eq!(got, want);

        // Two segments sharing a timestamp (999) are merged, not shared.
        let log = disabled_log();
        let _ = log.extend((0..1000).map(|t| (t, t as u64))).unwrap();
        log.flush().unwrap();
        let _ = log.extend((999..2000).map(|t| (t, t as u64))).unwrap();
        log.flush().unwrap();
        log.compact().unwrap();
        assert_eq!(records_read(&log), 2001);
        log.validate().unwrap();
        assert_eq!(log.len().unwrap(), 2001);
    }

    /// A snapshot taken before a segment is dropped keeps reading it (R9):
    /// dropping publishes a new manifest, the old one holds the segment.
    #[test]
    fn a_snapshot_keeps_a_dropped_segment() {
        let log = disabled_log();
        three_l1_segments(&log);
        let before = log.snapshot().unwrap();
        let _ = log.delete_before(1000).unwrap();
        let between = log.snapshot().unwrap();
        log.compact().unwrap();
        assert_eq!(records_read(&log), 0);
        assert_eq!(before.len(), 3000);
        assert_eq!(between.len(), 2000);
        assert_eq!(before.all(crate::Order::Asc).next(), Some((0, 0)));
        assert_eq!(log.len().unwrap(), 2000);
    }

    /// A debt-triggered step rewrites the segments with debt only: an L0
    /// segment the delete does not touch stays in L0, unread.
    #[test]
    fn debt_step_picks_the_segments_with_debt() {
        let log = disabled_log();
        let _ = log.extend((0..1000).map(|t| (t, t as u64))).unwrap();
        log.compact().unwrap();
        let _ = log.extend((1000..2000).map(|t| (t, t as u64))).unwrap();
        log.flush().unwrap();
        let l0 = l0_ids(&log);
        assert_eq!(l0.len(), 1);
        records_read(&log);
        // 600 of 2,000 stored records hidden: past the default threshold.
        let _ = log.delete_before(600).unwrap();
        assert!(log.stats().unwrap().delete_debt >= log.config().delete_debt_threshold);
        assert!(log.maint_step().unwrap());
        // The L1 segment with debt (a prefix cut: its 400 survivors copied), not the L0 one.
        assert_eq!(records_read(&log), 400, "the L1 segment with debt, not the L0 one");
        assert_eq!(l0_ids(&log), l0, "the L0 segment without debt stayed");
        assert_eq!(log.stats().unwrap().delete_debt, 0.0);
        assert_eq!(log.stats().unwrap().tombstone_count, 0);
        assert!(!log.maint_step().unwrap(), "nothing left to do below the threshold");
        log.validate().unwrap();
        assert_eq!(log.len().unwrap(), 1400);
    }

    /// Records of a memtable hidden by its own deletes are delete debt
    /// (before any flush); the step seals and flushes it, and the flush
    /// drops them (R8): a small segment.
    #[test]
    fn memtable_records_hidden_by_its_own_deletes_are_debt() {
        let log = disabled_log();
        let _ = log.extend((0..1000).map(|t| (t, t as u64))).unwrap();
        assert_eq!(log.stats().unwrap().delete_debt, 0.0);
        let _ = log.delete_before(600).unwrap();
        let d = log.stats().unwrap().delete_debt;
        assert!((d - 0.6).abs() < 1e-9, "600 of 1,000 memtable records hidden: {d}");
        // A later insert at a deleted timestamp is newer than the delete: not debt.
        let _ = log.append(10, 10).unwrap();
        let d = log.stats().unwrap().delete_debt;
        assert!((d - 600.0 / 1001.0).abs() < 1e-9, "{d}");
        assert!(log.maint_step().unwrap());
        let st = log.stats().unwrap();
        assert_eq!((st.active_records, st.segments_l0 + st.segments_l1), (0, 1), "{st:?}");
        assert_eq!(st.records_stored, 401, "the flush dropped the hidden records");
        assert_eq!(st.delete_debt, 0.0);
        assert_eq!(log.len().unwrap(), 401);
        log.validate().unwrap();
    }

    fn adaptive_log(a: crate::AdaptiveConfig, window_size: i64) -> crate::Timelog<u64> {
        crate::Timelog::with_config(crate::Config {
            maintenance: crate::MaintenanceMode::Disabled,
            window_size,
            adaptive: a,
            ..crate::Config::default()
        })
        .unwrap()
    }

    /// The window follows `target_records / density` (alpha 1: the last run).
    #[test]
    fn adaptive_window_follows_the_density() {
        let a = crate::AdaptiveConfig {
            target_records: 100,
            alpha: 1.0,
            warmup_flushes: 1,
            hysteresis_pct: 1,
            ..crate::AdaptiveConfig::default()
        };
        let log = adaptive_log(a, 1_000_000);
        assert_eq!(log.stats().unwrap().window_size, 1_000_000);
        // Density 1 record per unit: 100 records per window of 100.
        let _ = log.extend((0..1000).map(|t| (t, t as u64))).unwrap();
        log.flush().unwrap();
        assert_eq!(log.stats().unwrap().window_size, 100);
        log.compact().unwrap();
        log.validate().unwrap();
        assert_eq!(log.stats().unwrap().l1_windows, 10);
        // Density 10 per unit: window 10, applied to the next compaction.
        let _ = log.extend((0..1000).map(|i| (2000 + i / 10, 1000 + i as u64))).unwrap();
        log.flush().unwrap();
        assert_eq!(log.stats().unwrap().window_size, 10);
        log.compact().unwrap();
        log.validate().unwrap();
        assert_eq!(log.len().unwrap(), 2000);
        // Bounds and quantum.
        let b = crate::AdaptiveConfig { min_window: 300, window_quantum: 250, ..a };
        let log = adaptive_log(b, 1_000_000);
        let _ = log.extend((0..1000).map(|t| (t, t as u64))).unwrap();
        log.flush().unwrap();
        assert_eq!(log.stats().unwrap().window_size, 500, "100 clamped to 300, snapped to a multiple of 250 >= 300");
    }

    /// Hysteresis: a change smaller than `hysteresis_pct` is not applied.
    #[test]
    fn adaptive_window_hysteresis_and_warmup() {
        let a = crate::AdaptiveConfig {
            target_records: 100,
            alpha: 1.0,
            warmup_flushes: 2,
            hysteresis_pct: 50,
            ..crate::AdaptiveConfig::default()
        };
        let log = adaptive_log(a, 100);
        let _ = log.extend((0..1000).map(|t| (t, t as u64))).unwrap();
        log.flush().unwrap();
        assert_eq!(log.stats().unwrap().window_size, 100, "warm-up: one flush is not enough");
        // 100 records over [5000, 5138]: want 139, 39% away from 100: below the hysteresis.
        let _ = log.extend((0..100).map(|i| (5000 + i * 14 / 10, i as u64))).unwrap();
        log.flush().unwrap();
        assert_eq!(log.stats().unwrap().window_size, 100);
        // 100 records over [10_000, 10_396]: want 397, 297% away: applied.
        let _ = log.extend((0..100).map(|i| (10_000 + i * 4, i as u64))).unwrap();
        log.flush().unwrap();
        assert_eq!(log.stats().unwrap().window_size, 397);
    }

    /// Windows changing between compactions (segments of several grids in
    /// L1), with deletes: L1 stays disjoint and windowed, and the contents
    /// (equal timestamps in insertion order) match a model.
    #[test]
    fn adaptive_windows_keep_l1_disjoint_and_contents_exact() {
        let a = crate::AdaptiveConfig {
            target_records: 40,
            alpha: 1.0,
            warmup_flushes: 1,
            hysteresis_pct: 1,
            ..crate::AdaptiveConfig::default()
        };
        let log = adaptive_log(a, 64);
        let mut model: Vec<(i64, u64)> = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut id = 0u64;
        let mut windows = std::collections::BTreeSet::new();
        for round in 0..60 {
            // A run whose density varies from round to round.
            let spread = 1 + rnd(400) as i64;
            let n = 20 + rnd(80);
            let base = rnd(3000) as i64;
            let mut batch = Vec::new();
            for _ in 0..n {
                batch.push((base + rnd(spread as u64) as i64, id));
                id += 1;
            }
            for &(t, v) in &batch {
                let _ = log.append(t, v).unwrap();
                model.push((t, v));
            }
            if round % 7 == 3 {
                let lo = rnd(3000) as i64;
                let hi = lo + rnd(200) as i64;
                let _ = log.delete_range(lo, hi).unwrap();
                model.retain(|&(t, _)| !(lo <= t && t < hi));
            }
            log.flush().unwrap();
            windows.insert(log.stats().unwrap().window_size);
            if round % 3 == 2 {
                log.compact().unwrap();
            } else {
                while log.maint_step().unwrap() {}
            }
            log.validate().unwrap();
        }
        assert!(windows.len() > 3, "the window changed several times: {windows:?}");
        log.compact().unwrap();
        log.validate().unwrap();
        model.sort_by_key(|&(t, _)| t); // stable: insertion order within a timestamp
        let got: Vec<(i64, u64)> = log.snapshot().unwrap().all(crate::Order::Asc).collect();
        assert_eq!(got, model);
    }

    /// A finer window after L1 was built on a coarser one: a compaction
    /// that takes the old segment `a` (delete debt) and `b` (overlapped by
    /// a new record) would write one output over the new window
    /// [900, 1000) spanning `u`, which it did not select. The selection
    /// takes `u` in as well, and L1 stays disjoint.
    #[test]
    fn adaptive_refined_window_takes_in_the_segment_an_output_would_span() {
        let a = crate::AdaptiveConfig {
            target_records: 100,
            alpha: 1.0,
            warmup_flushes: 4,
            hysteresis_pct: 1,
            ..crate::AdaptiveConfig::default()
        };
        let log = adaptive_log(a, 1000);
        for (lo, hi) in [(0, 950), (960, 970), (980, 990)] {
            let _ = log.extend((lo..=hi).map(|t| (t, t as u64))).unwrap();
            log.compact().unwrap();
        }
        assert_eq!(l1_ids(&log).len(), 3, "a, u, b: three L1 segments of window [0, 1000)");
        assert_eq!(log.stats().unwrap().window_size, 1000, "still warming up");
        let _ = log.extend((10_000..10_100).map(|t| (t, t as u64))).unwrap();
        log.flush().unwrap();
        assert_eq!(log.stats().unwrap().window_size, 100, "density 1: windows of 100");
        let _ = log.delete_range(10, 20).unwrap();
        let _ = log.append(985, 1).unwrap();
        log.compact().unwrap();
        log.validate().unwrap();
        assert_eq!(log.len().unwrap(), 951 - 10 + 11 + 11 + 100 + 1);
    }

    // ----- prefix cut (R10) -------------------------------------------------

    /// A log of 16-record pages (so that a few hundred records span many).
    fn small_page_log<T: Clone + Send + Sync + 'static>() -> crate::Timelog<T> {
        crate::Timelog::with_config(crate::Config {
            maintenance: crate::MaintenanceMode::Disabled,
            window_size: 1_000_000,
            target_page_bytes: 16 * (8 + std::mem::size_of::<T>()),
            ..crate::Config::default()
        })
        .unwrap()
    }

    fn flat(segs: &[Arc<Segment<u64>>]) -> Vec<(i64, u64)> {
        segs.iter()
            .flat_map(|s| s.read_pages().iter())
            .flat_map(|p| p.timestamps().iter().copied().zip(p.payloads().iter().copied()))
            .collect()
    }

    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        }
    }

    /// R10, prefix cut: on random segments (runs of equal timestamps,
    /// several pages, one or two L1 segments) under random nested and
    /// overlapping deletes (`delete_before` chains, ranges reaching into or
    /// past the cut, applied in several flushes and compactions so the
    /// segments' `tomb_applied` differ), the cut's outputs hold exactly the
    /// records of the full rewrite, with its `seq_hi`, `tomb_applied`,
    /// level and window, as pairwise disjoint segments whose pages are all
    /// full but the last; it copies less than a page. The log compacted
    /// with it matches a model.
    #[test]
    fn prefix_cut_equals_the_full_rewrite() {
        let mut rnd = xorshift(0x51ed_270b_1f3c_84a7);
        let (mut hits, mut misses, mut shared) = (0, 0, 0);
        for round in 0..300 {
            let log = small_page_log::<u64>();
            let cap = log.inner.cfg.page_records;
            let mut model: Vec<(i64, u64)> = Vec::new();
            let mut t = rnd(50) as i64 - 25;
            let mut id = 0u64;
            for _ in 0..1 + rnd(2) {
                let n = 1 + rnd(300);
                let mut batch = Vec::new();
                for _ in 0..n {
                    t += rnd(3) as i64; // gaps of 0 (equal timestamps) to 2
                    batch.push((t, id));
                    id += 1;
                }
                t += 1;
                model.extend(batch.iter().copied());
                let _ = log.extend(batch).unwrap();
                log.compact().unwrap();
            }
            let (lo, hi) = (model[0].0, model[model.len() - 1].0);
            let span = (hi - lo + 10) as u64;
            let mut cut = lo - 5;
            for k in 0..1 + rnd(5) {
                match rnd(6) {
                    // A delete_before chain: mostly forward, sometimes back (nested).
                    0..=2 => {
                        cut = if rnd(4) == 0 { cut - rnd(20) as i64 } else { cut + rnd(span / 3 + 1) as i64 };
                        let _ = log.delete_before(cut).unwrap();
                        model.retain(|&(ts, _)| ts >= cut);
                    }
                    // A range reaching into the cut from below (overlapping it).
                    3 => {
                        let a = cut - rnd(30) as i64;
                        let b = cut + rnd(10) as i64;
                        let _ = log.delete_range(a, b).unwrap();
                        model.retain(|&(ts, _)| !(a <= ts && ts < b));
                    }
                    // A range anywhere (past the cut: not a prefix), or over nothing.
                    _ => {
                        let a = lo - 5 + rnd(span) as i64;
                        let b = a + rnd(8) as i64;
                        let _ = log.delete_range(a, b).unwrap();
                        model.retain(|&(ts, _)| !(a <= ts && ts < b));
                    }
                }
                if k % 2 == 1 && rnd(2) == 0 {
                    log.compact().unwrap();
                } else {
                    log.flush().unwrap();
                }
            }
            log.flush().unwrap();
            let maint = log.inner.maint();
            let m = log.inner.catalog.load_full();
            let cov = CoverageBuilder::new().list(&m.tombstones).build();
            for s in m.l0.iter().chain(m.l1.iter()) {
                let full = maint.build_l1(&m, &[], std::slice::from_ref(s));
                let Some((out, copied)) = maint.cut_prefix(&m, &cov, s) else {
                    misses += 1;
                    continue;
                };
                hits += 1;
                assert_eq!(flat(&out), flat(&full), "round {round}: records of the cut vs the rewrite");
                assert!(copied < cap, "round {round}: copied {copied} of a page of {cap}");
                for (o, f) in out.iter().zip(std::iter::repeat(full.first()).flatten()) {
                    assert_eq!(
                        (o.level, o.seq_hi, o.tomb_applied, o.window),
                        (f.level, f.seq_hi, f.tomb_applied, f.window),
                        "round {round}"
                    );
                    assert!(o.read_pages().iter().rev().skip(1).all(|p| p.len() == o.page_cap), "round {round}");
                    assert_eq!(o.len, o.read_pages().iter().map(|p| p.len()).sum::<usize>());
                    assert_eq!((o.min_ts, o.max_ts), (o.ts_at(0), o.ts_at(o.len - 1)));
                }
                for w in out.windows(2) {
                    assert!(w[0].max_ts < w[1].min_ts, "round {round}: outputs share a timestamp");
                }
                // The shared part's pages are the input's own buffers.
                if let Some(last) = out.last().filter(|o| o.len > copied) {
                    let p = last.read_pages().last().unwrap();
                    let q = s.read_pages().last().unwrap();
                    assert!(std::ptr::eq(p.timestamps(), q.timestamps()), "round {round}: shared, not copied");
                    shared += 1;
                }
            }
            drop(m);
            log.compact().unwrap();
            log.validate().unwrap();
            let got: Vec<(i64, u64)> = log.snapshot().unwrap().all(crate::Order::Asc).collect();
            assert_eq!(got, model, "round {round}");
        }
        assert!(hits > 100 && misses > 20 && shared > 50, "hits {hits}, misses {misses}, shared {shared}");
    }

    /// A payload that counts the live copies of itself (a clone is one
    /// more, as a Python object's reference).
    struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Counted {
        fn new(live: &std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Self {
            live.fetch_add(1, Relaxed);
            Self(live.clone())
        }
    }
    impl Clone for Counted {
        fn clone(&self) -> Self {
            Self::new(&self.0)
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Relaxed);
        }
    }

    /// R10, prefix cut, and R9: the payloads of the records a cut drops —
    /// whole pages and the hidden part of the page it straddles — are
    /// released when the old segment goes (here at once: nothing else
    /// holds it), the survivors' are kept; a snapshot taken before the cut
    /// keeps reading every old record (the shared pages stay alive with
    /// the new segment, the dropped ones with the old), and when it goes
    /// what the cut dropped is released.
    #[test]
    fn prefix_cut_releases_the_dropped_payloads_only() {
        let live = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let log = small_page_log::<Counted>();
        let cap = log.inner.cfg.page_records as i64;
        let n = 10 * cap;
        let _ = log.extend((0..n).map(|t| (t, Counted::new(&live)))).unwrap();
        log.compact().unwrap();
        assert_eq!(live.load(Relaxed), n as usize);
        assert_eq!(l1_ids_of(&log).len(), 1);
        records_read_of(&log);
        // Cut 3.5 pages: three whole pages and half of the fourth.
        let cut = 3 * cap + cap / 2;
        let _ = log.delete_before(cut).unwrap();
        log.compact().unwrap();
        assert_eq!(records_read_of(&log), (cap - cap / 2) as u64, "only the straddled page's survivors");
        assert_eq!(live.load(Relaxed), (n - cut) as usize, "every hidden payload released, every survivor kept");
        assert_eq!(log.len().unwrap(), (n - cut) as usize);
        log.validate().unwrap();
        // A snapshot across the next cut: it keeps the old segment.
        let before = log.snapshot().unwrap();
        let cut2 = 6 * cap + 3;
        let _ = log.delete_before(cut2).unwrap();
        log.compact().unwrap();
        assert_eq!(live.load(Relaxed), (n - cut + cap - 3) as usize, "the snapshot holds the old segment");
        let old: Vec<i64> = before.all(crate::Order::Asc).map(|r| r.0).collect();
        assert_eq!(old, (cut..n).collect::<Vec<_>>());
        drop(before);
        assert_eq!(live.load(Relaxed), (n - cut2) as usize, "released with the snapshot, survivors kept");
        let now: Vec<i64> = log.snapshot().unwrap().all(crate::Order::Asc).map(|r| r.0).collect();
        assert_eq!(now, (cut2..n).collect::<Vec<_>>());
        drop(log);
        assert_eq!(live.load(Relaxed), 0, "each survivor dropped once");
    }

    fn l1_ids_of<T: Clone + Send + Sync + 'static>(log: &crate::Timelog<T>) -> Vec<u64> {
        log.inner.catalog.load().l1.iter().map(|s| s.id).collect()
    }

    fn records_read_of<T: Clone + Send + Sync + 'static>(log: &crate::Timelog<T>) -> u64 {
        log.inner.maint.compact_records_read.swap(0, Relaxed)
    }

    /// The debt step of a `delete_before` loop over a flushed log (the
    /// shape of `retention.py`'s deletes with background maintenance): the
    /// first step moves the lone L0 segment to L1 by the cut (its pages
    /// shared), each later one copies at most a page; the contents stay
    /// exact.
    #[test]
    fn delete_before_loop_debt_steps_copy_at_most_a_page_each() {
        let log = small_page_log::<u64>();
        let cap = log.inner.cfg.page_records as u64;
        let n = 4000i64;
        let _ = log.extend((0..n).map(|t| (t, t as u64))).unwrap();
        log.flush().unwrap();
        records_read(&log);
        let mut steps = 0;
        for t in 1..=n / 2 {
            let _ = log.delete_before(t).unwrap();
            while log.maint_step().unwrap() {
                steps += 1;
                assert!(records_read(&log) < cap, "a step copied more than a page");
            }
        }
        assert!(steps >= 5, "{steps} debt steps");
        log.validate().unwrap();
        let got: Vec<i64> = log.snapshot().unwrap().all(crate::Order::Asc).map(|r| r.0).collect();
        assert_eq!(got, (n / 2..n).collect::<Vec<_>>());
    }
}
