//! The manifest: the immutable catalogue of everything a reader can see,
//! and its publication.
//!
//! Every change of the layer structure (seal, flush, compaction) builds a
//! new `Manifest` and publishes it with one atomic compare-and-swap on a
//! [`ManifestCell`] (R5). Readers load the current manifest without any
//! lock; an `Arc` keeps what a long-lived snapshot needs alive, so a
//! snapshot held for minutes pins only the parts it references, never the
//! reclamation of anything else (R9).

use arc_swap::{ArcSwap, Guard};

use crate::memtable::Memtable;
use crate::segment::Segment;
use crate::tombstone::Tombstone;
use crate::SeqNo;
use std::sync::Arc;

pub(crate) struct Manifest<T> {
    pub(crate) version: u64,
    /// The memtable writers insert into.
    pub(crate) active: Arc<Memtable<T>>,
    /// Sealed, drained, not yet flushed memtables, oldest first.
    pub(crate) sealed: Vec<Arc<Memtable<T>>>,
    /// Flushed segments, oldest first; they may overlap in time.
    pub(crate) l0: Vec<Arc<Segment<T>>>,
    /// Compacted segments sorted by window; non-overlapping; all older than L0.
    pub(crate) l1: Vec<Arc<Segment<T>>>,
    /// Tombstones of flushed memtables not yet applied to every segment.
    pub(crate) tombstones: Arc<Vec<Tombstone>>,
    /// Seal bound of the newest flushed memtable.
    pub(crate) flushed_bound: SeqNo,
}

impl<T> std::fmt::Debug for Manifest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("version", &self.version)
            .field("sealed", &self.sealed.len())
            .field("l0", &self.l0.len())
            .field("l1", &self.l1.len())
            .field("tombstones", &self.tombstones.len())
            .finish()
    }
}

impl<T> Manifest<T> {
    /// A copy sharing every part, with a bumped version.
    pub(crate) fn successor(&self) -> Self {
        Self {
            version: self.version + 1,
            active: self.active.clone(),
            sealed: self.sealed.clone(),
            l0: self.l0.clone(),
            l1: self.l1.clone(),
            tombstones: self.tombstones.clone(),
            flushed_bound: self.flushed_bound,
        }
    }

    /// Drops the tombstones that no longer hide anything in any segment:
    /// a tombstone matters only to segments that overlap it and have not
    /// applied it (`tomb_applied < seq`); memtable records are all newer
    /// than manifest tombstones (R7, R8).
    pub(crate) fn retire_applied_tombstones(&mut self) {
        if self.tombstones.is_empty() {
            return;
        }
        let keep: Vec<_> = self
            .tombstones
            .iter()
            .filter(|t| {
                self.l0
                    .iter()
                    .chain(self.l1.iter())
                    .any(|s| s.tomb_applied < t.seq && t.t1 <= s.max_ts && s.min_ts < t.t2)
            })
            .copied()
            .collect();
        if keep.len() != self.tombstones.len() {
            self.tombstones = Arc::new(keep);
        }
    }

    /// Marks as retired every part of `self` that `next` no longer references.
    pub(crate) fn retire_missing_in(&self, next: &Manifest<T>) {
        let has_mt = |m: &Arc<Memtable<T>>| {
            Arc::ptr_eq(m, &next.active) || next.sealed.iter().any(|x| Arc::ptr_eq(x, m))
        };
        if !has_mt(&self.active) {
            self.active.retired.retire();
        }
        for m in &self.sealed {
            if !has_mt(m) {
                m.retired.retire();
            }
        }
        for s in self.l0.iter().chain(self.l1.iter()) {
            if !next
                .l0
                .iter()
                .chain(next.l1.iter())
                .any(|x| Arc::ptr_eq(x, s))
            {
                s.retired.retire();
            }
        }
    }
}

/// The one published pointer to the current manifest (R5).
///
/// Implemented with `arc-swap`: a load is lock-free and, through
/// thread-local debt slots, touches no shared cache line in the common case;
/// a store never waits for readers (it pays their debts by taking a
/// reference for them). See `docs/protocol.md`, "Reclamation".
pub(crate) struct ManifestCell<T> {
    cur: ArcSwap<Manifest<T>>,
}

impl<T> ManifestCell<T> {
    pub(crate) fn new(m: Manifest<T>) -> Self {
        Self {
            cur: ArcSwap::from_pointee(m),
        }
    }

    /// A short-lived borrow of the current manifest (for point reads).
    #[inline]
    pub(crate) fn load(&self) -> Guard<Arc<Manifest<T>>> {
        self.cur.load()
    }

    /// An owned reference to the current manifest (for snapshots).
    #[inline]
    pub(crate) fn load_full(&self) -> Arc<Manifest<T>> {
        self.cur.load_full()
    }

    /// Publishes `next` iff the current manifest is still `expected`.
    /// Returns whether it did.
    pub(crate) fn publish(&self, expected: &Arc<Manifest<T>>, next: Manifest<T>) -> bool {
        let next = Arc::new(next);
        let prev = self.cur.compare_and_swap(expected, next.clone());
        let ok = Arc::ptr_eq(&prev, expected);
        if ok {
            expected.retire_missing_in(&next);
        }
        ok
    }
}
