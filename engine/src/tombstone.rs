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
    pub(crate) fn build(tombs: &mut Vec<Tombstone>, lo: Timestamp, hi: Timestamp) -> Self {
        tombs.retain(|t| t.t1 < t.t2 && t.overlaps(lo, hi));
        if tombs.is_empty() {
            return Self::default();
        }
        // Sweep over the boundaries; the tombstone count is small in
        // practice (compaction retires applied ones), so an O(n^2) worst
        // case over distinct boundaries is bounded by n log n + n * active.
        let mut bounds: Vec<Timestamp> = Vec::with_capacity(tombs.len() * 2);
        for t in tombs.iter() {
            bounds.push(t.t1.max(lo));
            bounds.push(t.t2.min(hi));
        }
        bounds.sort_unstable();
        bounds.dedup();
        tombs.sort_unstable_by_key(|t| t.t1);
        let mut ivs: Vec<(Timestamp, Timestamp, SeqNo)> = Vec::new();
        let mut active: Vec<Tombstone> = Vec::new();
        let mut next = 0;
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            while next < tombs.len() && tombs[next].t1.max(lo) <= a {
                active.push(tombs[next]);
                next += 1;
            }
            active.retain(|t| t.t2 > a);
            if let Some(m) = active.iter().map(|t| t.seq).max() {
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

    /// Greatest covering tombstone sequence at `ts` (0 = none).
    pub(crate) fn max_seq(&self, ts: Timestamp) -> SeqNo {
        let i = self.ivs.partition_point(|iv| iv.1 <= ts);
        match self.ivs.get(i) {
            Some(&(a, _, s)) if a <= ts => s,
            _ => 0,
        }
    }

    /// The interval containing `ts`, if any.
    pub(crate) fn interval_at(&self, ts: Timestamp) -> Option<(Timestamp, Timestamp, SeqNo)> {
        let i = self.ivs.partition_point(|iv| iv.1 <= ts);
        match self.ivs.get(i) {
            Some(&iv) if iv.0 <= ts => Some(iv),
            _ => None,
        }
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
}
