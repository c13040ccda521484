//! Sequenced tombstones and the coverage map that reads filter with.
//!
//! A tombstone `[t1, t2)` with sequence `s` hides every record whose
//! timestamp it covers and whose sequence is *smaller* than `s` (rule R7).
//! A record written later at a deleted timestamp stays visible.

use std::ptr;

use crate::sync::{AtomicPtr, Ordering, Region, UnsyncGet};
use crate::{SeqNo, Timestamp};

/// A range delete `[t1, t2)` issued with sequence number `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    pub t1: Timestamp,
    pub t2: Timestamp,
    pub seq: SeqNo,
}

impl Tombstone {
    #[inline]
    pub fn covers(&self, ts: Timestamp) -> bool {
        self.t1 <= ts && ts < self.t2
    }
    #[inline]
    pub fn overlaps(&self, t1: Timestamp, t2: Timestamp) -> bool {
        self.t1 < t2 && t1 < self.t2
    }
}

struct Node {
    tomb: Tombstone,
    next: *const Node,
    /// Model checkers: the node's memory (zero-sized no-op in std builds).
    region: Region,
}

/// The tombstones of one memtable: a push-only lock-free stack.
///
/// Nodes are never removed while the memtable lives, so readers may walk
/// the list from the head they loaded (Acquire) without any guard; nodes are
/// freed when the memtable is dropped (rule R6).
pub(crate) struct TombStack {
    head: AtomicPtr<Node>,
}

// SAFETY: nodes are immutable after publication by the Release CAS in `push`
// and freed only in `drop` (`&mut self`), see R6.
unsafe impl Send for TombStack {}
// SAFETY: as above.
unsafe impl Sync for TombStack {}

impl TombStack {
    pub(crate) fn new() -> Self {
        Self { head: AtomicPtr::new(ptr::null_mut()) }
    }

    pub(crate) fn push(&self, tomb: Tombstone) {
        let node = Box::into_raw(Box::new(Node { tomb, next: ptr::null(), region: Region::new() }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: R7: `node` is ours until the CAS below publishes it.
            unsafe { (*node).next = head };
            // R7: the Release CAS publishes the node's contents.
            #[cfg(not(timelog_fault = "tomb_relaxed_push"))]
            let published = Ordering::Release;
            // Seeded fault (R7): a Relaxed publication orders nothing.
            #[cfg(timelog_fault = "tomb_relaxed_push")]
            let published = Ordering::Relaxed;
            match self.head.compare_exchange_weak(head, node, published, Ordering::Relaxed) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire).is_null()
    }

    /// Identity of the stack's current state (its head node; 0 while
    /// empty): nodes are only pushed and live as long as the stack (R6),
    /// so equal identities mean the same tombstones. Keys the read-side
    /// coverage cache (`query::plan::CovCache`, R7).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // the cache is std-only
    pub(crate) fn head_id(&self) -> usize {
        self.head.load(Ordering::Acquire) as usize
    }

    /// Calls `f` for every tombstone pushed so far (newest first).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Tombstone)) {
        let mut p = self.head.load(Ordering::Acquire) as *const Node;
        while !p.is_null() {
            // SAFETY: R6: published nodes are immutable and live until the
            // stack is dropped, which cannot happen while `&self` is held.
            let n = unsafe { &*p };
            n.region.read();
            f(&n.tomb);
            p = n.next;
        }
    }

    pub(crate) fn to_vec(&self) -> Vec<Tombstone> {
        let mut v = Vec::new();
        self.for_each(|t| v.push(*t));
        v.reverse();
        v
    }
}

impl Drop for TombStack {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        let mut p = self.head.unsync_get();
        while !p.is_null() {
            // SAFETY: R6: `&mut self`, nobody else reaches the nodes; each was made by `Box::into_raw`.
            let n = unsafe { Box::from_raw(p) };
            p = n.next as *mut Node;
        }
    }
}

/// Piecewise-constant "newest covering tombstone" function over a range:
/// disjoint, sorted intervals `[start, end)` each with the greatest
/// sequence of the tombstones covering it. A record at `ts` with effective
/// sequence `s` is hidden iff `max_seq(ts) > s` (R7).
#[derive(Debug, Clone, Default)]
pub(crate) struct Coverage {
    pub(crate) ivs: Vec<(Timestamp, Timestamp, SeqNo)>,
}

impl Coverage {
    /// Builds the coverage of `tombs`, clipped to `[lo, hi)`.
    ///
    /// A sweep over the sorted boundaries with a max-heap of the open
    /// tombstones (closed ones are dropped lazily when they reach the top):
    /// O(n log n) whatever the nesting (nested sliding-window deletes all
    /// overlap each other).
    pub(crate) fn build(tombs: &mut Vec<Tombstone>, lo: Timestamp, hi: Timestamp) -> Self {
        tombs.retain(|t| t.t1 < t.t2 && t.overlaps(lo, hi));
        if tombs.is_empty() {
            return Self::default();
        }
        if tombs.len() == 1 {
            let t = tombs[0];
            return Self { ivs: vec![(t.t1.max(lo), t.t2.min(hi), t.seq)] };
        }
        let mut bounds: Vec<Timestamp> = Vec::with_capacity(tombs.len() * 2);
        for t in tombs.iter() {
            bounds.push(t.t1.max(lo));
            bounds.push(t.t2.min(hi));
        }
        bounds.sort_unstable();
        bounds.dedup();
        tombs.sort_unstable_by_key(|t| t.t1);
        let mut ivs: Vec<(Timestamp, Timestamp, SeqNo)> = Vec::new();
        // (seq, end) of the open tombstones; the greatest sequence on top.
        let mut open: std::collections::BinaryHeap<(SeqNo, Timestamp)> = std::collections::BinaryHeap::new();
        let mut next = 0;
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            while next < tombs.len() && tombs[next].t1.max(lo) <= a {
                open.push((tombs[next].seq, tombs[next].t2.min(hi)));
                next += 1;
            }
            while open.peek().is_some_and(|&(_, end)| end <= a) {
                open.pop();
            }
            if let Some(&(m, _)) = open.peek() {
                match ivs.last_mut() {
                    Some(last) if last.1 == a && last.2 == m => last.1 = b,
                    _ => ivs.push((a, b, m)),
                }
            }
        }
        Self { ivs }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ivs.is_empty()
    }

    /// Index of the first interval ending after `ts`.
    #[inline]
    fn first_ending_after(&self, ts: Timestamp) -> usize {
        self.ivs.partition_point(|iv| iv.1 <= ts)
    }

    /// Greatest covering tombstone sequence at `ts` (0 = none).
    pub(crate) fn max_seq(&self, ts: Timestamp) -> SeqNo {
        match self.ivs.get(self.first_ending_after(ts)) {
            Some(&(a, _, s)) if a <= ts => s,
            _ => 0,
        }
    }

    /// The interval containing `ts`, if any.
    pub(crate) fn interval_at(&self, ts: Timestamp) -> Option<(Timestamp, Timestamp, SeqNo)> {
        match self.ivs.get(self.first_ending_after(ts)) {
            Some(&iv) if iv.0 <= ts => Some(iv),
            _ => None,
        }
    }

    /// The intervals that overlap `[lo, hi]` (inclusive), found by binary search.
    pub(crate) fn overlapping(&self, lo: Timestamp, hi: Timestamp) -> &[(Timestamp, Timestamp, SeqNo)] {
        let a = self.first_ending_after(lo);
        let b = self.ivs.partition_point(|iv| iv.0 <= hi);
        &self.ivs[a..b.max(a)]
    }

    /// For a source whose every record orders as sequence `applied` or
    /// less (a segment: `tomb_applied`, R8; a memtable's skiplist: its
    /// greatest record sequence): if `ts` is covered by a tombstone newer
    /// than `applied`, the exclusive end of the run of contiguous intervals
    /// newer than `applied` that starts there — every record of the source
    /// in `[ts, end)` is hidden, so a forward read seeks to `end`. `None`
    /// if `ts` is not hidden. `end` is `Timestamp::MAX` when the run reaches
    /// it (no record can be at or above an exclusive `MAX` bound).
    pub(crate) fn hidden_end(&self, ts: Timestamp, applied: SeqNo) -> Option<Timestamp> {
        let mut i = self.first_ending_after(ts);
        match self.ivs.get(i) {
            Some(&(a, _, m)) if a <= ts && m > applied => {}
            _ => return None,
        }
        let mut end = self.ivs[i].1;
        i += 1;
        while let Some(&(a, b, m)) = self.ivs.get(i) {
            if a != end || m <= applied {
                break;
            }
            end = b;
            i += 1;
        }
        Some(end)
    }

    /// The mirror of [`hidden_end`](Self::hidden_end) for descending reads:
    /// the inclusive start of the run of contiguous intervals newer than
    /// `applied` that covers `ts` (a descending read continues below it).
    pub(crate) fn hidden_start(&self, ts: Timestamp, applied: SeqNo) -> Option<Timestamp> {
        let i = self.first_ending_after(ts);
        match self.ivs.get(i) {
            Some(&(a, _, m)) if a <= ts && m > applied => {}
            _ => return None,
        }
        let mut start = self.ivs[i].0;
        let mut j = i;
        while j > 0 {
            let (_, b, m) = self.ivs[j - 1];
            if b != start || m <= applied {
                break;
            }
            start = self.ivs[j - 1].0;
            j -= 1;
        }
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(t1: i64, t2: i64, seq: u64) -> Tombstone {
        Tombstone { t1, t2, seq }
    }

    #[test]
    fn coverage_takes_the_newest_covering_tombstone() {
        let mut v = vec![t(0, 10, 5), t(5, 20, 3), t(30, 40, 9)];
        let c = Coverage::build(&mut v, i64::MIN, i64::MAX);
        assert_eq!(c.ivs, vec![(0, 10, 5), (10, 20, 3), (30, 40, 9)]);
        assert_eq!(c.max_seq(7), 5);
        assert_eq!(c.max_seq(12), 3);
        assert_eq!(c.max_seq(25), 0);
        assert_eq!(c.max_seq(39), 9);
        assert_eq!(c.max_seq(40), 0);
    }

    #[test]
    fn coverage_clips_and_merges() {
        let mut v = vec![t(i64::MIN, 100, 4), t(50, 60, 2)];
        let c = Coverage::build(&mut v, 0, 55);
        assert_eq!(c.ivs, vec![(0, 55, 4)]);
    }

    #[test]
    fn stack_keeps_every_push() {
        let s = TombStack::new();
        for i in 0..10 {
            s.push(t(i, i + 1, i as u64));
        }
        let v = s.to_vec();
        assert_eq!(v.len(), 10);
        assert_eq!(v[0].t1, 0);
        assert_eq!(v[9].t1, 9);
    }

    /// Reference: the greatest covering sequence by a scan over the tombstones.
    fn naive(v: &[Tombstone], ts: i64) -> u64 {
        v.iter().filter(|t| t.covers(ts)).map(|t| t.seq).max().unwrap_or(0)
    }

    #[test]
    fn coverage_matches_a_scan_under_nested_and_overlapping_tombstones() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for round in 0..300 {
            let n = 1 + rnd(40) as usize;
            let mut v: Vec<Tombstone> = (0..n)
                .map(|i| {
                    // Nested sliding windows (shared start), overlapping and adjacent ranges.
                    let a = if round % 3 == 0 { 0 } else { rnd(100) as i64 };
                    let b = a + rnd(60) as i64;
                    t(a, b, 1 + (i as u64) * 2 + rnd(2))
                })
                .collect();
            let orig = v.clone();
            let c = Coverage::build(&mut v, i64::MIN, i64::MAX);
            for w in c.ivs.windows(2) {
                assert!(w[0].1 <= w[1].0, "sorted and disjoint: {:?}", c.ivs);
                assert!(w[0].1 < w[1].0 || w[0].2 != w[1].2, "adjacent equal pieces merge: {:?}", c.ivs);
            }
            for ts in -2..170 {
                assert_eq!(c.max_seq(ts), naive(&orig, ts), "ts {ts} {orig:?}");
                for applied in [0u64, 10, 30, 60] {
                    let hidden = |x: i64| naive(&orig, x) > applied;
                    match c.hidden_end(ts, applied) {
                        None => assert!(!hidden(ts)),
                        Some(e) => {
                            assert!((ts..e).all(hidden), "hidden_end({ts}, {applied}) = {e}");
                            assert!(!hidden(e), "hidden_end({ts}, {applied}) = {e} stops early");
                        }
                    }
                    match c.hidden_start(ts, applied) {
                        None => assert!(!hidden(ts)),
                        Some(s) => {
                            assert!((s..=ts).all(hidden), "hidden_start({ts}, {applied}) = {s}");
                            assert!(!hidden(s - 1), "hidden_start({ts}, {applied}) = {s} stops early");
                        }
                    }
                }
            }
            let o = c.overlapping(20, 40);
            let want: Vec<_> = c.ivs.iter().copied().filter(|iv| iv.0 <= 40 && iv.1 > 20).collect();
            assert_eq!(o, &want[..]);
        }
    }

    #[test]
    fn coverage_build_is_not_quadratic_in_nested_deletes() {
        // 20,000 nested sliding-window deletes (each covers the previous):
        // one piece, built in well under a second even in debug builds.
        let mut v: Vec<Tombstone> = (0..20_000).map(|i| t(0, 1000 + i, 1 + i as u64)).collect();
        let c = Coverage::build(&mut v, i64::MIN, i64::MAX);
        assert_eq!(c.ivs, vec![(0, 20_999, 20_000)]);
    }
}
