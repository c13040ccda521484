//! A memtable's *late floor* (rule R13 (6)): where in time its skiplist's
//! records newer than a merged view can be.
//!
//! A reader that reads a memtable through its merged view (R13) reads, beside
//! it, the skiplist records newer than the view: sequences in `(m.w, w']`.
//! The skiplist orders its records by `(ts, seq)`, not by sequence, so
//! finding them meant walking every late record in the read's range and
//! testing its sequence — most of the cost of a read right after a write
//! to a memtable with late records (docs/performance.md, session 24).
//!
//! The floor cuts the memtable's sequences (those above its base) into
//! [`EPOCHS`] *epochs* of `1 << shift` sequences each, the last one
//! open-ended, and keeps per epoch the least timestamp of a skiplist record
//! whose sequence falls in it. A reader with a view at `m.w` takes the
//! least over the epochs from the one holding `m.w + 1` up to the one
//! holding the skiplist's greatest sequence ([`LateFloor::least`]): no
//! skiplist record newer than the view has an earlier timestamp, so a read
//! that ends before that floor skips the skiplist, and one that reaches it
//! walks the skiplist only from there. Records arrive late by a little
//! (a late record's timestamp is near the run's tail at its write), so the
//! floor of the records written since a view is near the tail too, and a
//! read of older data — most of a memtable — walks nothing.
//!
//! - **Lowered by the writer before its commit** (R5), like the skiplist's
//!   greatest sequence (`Memtable::ooo_max_seq`): a `Relaxed` load of the
//!   epoch and, only when the record's timestamp is below it, a `Relaxed`
//!   `fetch_min` ([`LateFloor::lower`]). A writer of late records in
//!   increasing time order — the usual shape — pays a load, not a locked
//!   instruction.
//! - **Why a reader sees it**: a reader whose watermark includes the record
//!   acquired its commit (R5), so its load of the epoch happens after the
//!   writer's load or `fetch_min`. By read-read and write-read coherence
//!   it reads the value the writer's access read or wrote, or one later in
//!   the epoch's modification order; every write of an epoch is a
//!   `fetch_min`, so later values are never higher: the reader reads at
//!   most the record's timestamp. (A writer that skipped its `fetch_min`
//!   read a value no higher than its timestamp, written before it.)
//! - **Conservative**: an epoch also holds sequences at or below the
//!   view's watermark, and a memtable with more sequences than the epochs
//!   cover puts the rest in its last epoch. The floor is then lower than
//!   it needs to be, which costs a read a longer walk, never a record.
//! - **Sized per log** ([`LateFloor::shift_for`]): the epochs cover the
//!   records of a memtable at `memtable_max_bytes`, so a view (rebuilt
//!   once the memtable grew by half of it) is followed by at most about
//!   half the epochs.

use crate::sync::{AtomicI64, Ordering};
use crate::{SeqNo, Timestamp};

/// Epochs per memtable. Under the model checkers 4 (see
/// [`LateFloor::shift_for`]).
pub(crate) const EPOCHS: usize = if crate::sync::MODEL { 4 } else { 64 };

/// Per epoch of sequences, the least timestamp of a skiplist record in it
/// (see the module docs).
pub(crate) struct LateFloor {
    /// An epoch is `1 << shift` sequences.
    shift: u32,
    /// `Timestamp::MAX` for an epoch no skiplist record has reached.
    min_ts: [AtomicI64; EPOCHS],
}

impl LateFloor {
    /// A floor with no record below `Timestamp::MAX`, of epochs of
    /// `1 << shift` sequences.
    pub(crate) fn new(shift: u32) -> Self {
        Self { shift, min_ts: std::array::from_fn(|_| AtomicI64::new(Timestamp::MAX)) }
    }

    /// The shift of epochs that cover `records` sequences together. Under
    /// the model checkers 1 whatever the size: epochs of two sequences, so
    /// that a scenario of a few writes spans all four, the last one
    /// open-ended, and two late writers can share one.
    pub(crate) fn shift_for(records: usize) -> u32 {
        if crate::sync::MODEL {
            return 1;
        }
        records.div_ceil(EPOCHS).max(1).next_power_of_two().trailing_zeros()
    }

    /// The epoch of the memtable's sequence number `rel` (counted from 0
    /// above its base); the last epoch holds every sequence past the rest.
    #[inline(always)]
    fn epoch(&self, rel: SeqNo) -> usize {
        usize::try_from(rel >> self.shift).map_or(EPOCHS - 1, |e| e.min(EPOCHS - 1))
    }

    /// A writer, before its record's commit (R5): the record of relative
    /// sequence `rel` is at `ts`.
    #[inline]
    pub(crate) fn lower(&self, rel: SeqNo, ts: Timestamp) {
        let e = &self.min_ts[self.epoch(rel)];
        #[cfg(not(timelog_fault = "late_floor_store"))]
        if ts < e.load(Ordering::Relaxed) {
            e.fetch_min(ts, Ordering::Relaxed);
        }
        // Seeded fault: the epoch lowered by a load and a store — two
        // writers of one epoch race, and the later store may raise it.
        #[cfg(timelog_fault = "late_floor_store")]
        if ts < e.load(Ordering::Relaxed) {
            e.store(ts, Ordering::Relaxed);
        }
    }

    /// At most the timestamp of every skiplist record with a relative
    /// sequence in `[from, upto]` that a reader which acquired its commit
    /// can see (see the module docs); `Timestamp::MAX` if none was written.
    #[inline]
    pub(crate) fn least(&self, from: SeqNo, upto: SeqNo) -> Timestamp {
        let (a, b) = (self.epoch(from), self.epoch(upto));
        self.min_ts[a..=b.max(a)].iter().map(|e| e.load(Ordering::Relaxed)).min().unwrap_or(Timestamp::MAX)
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn epochs_cover_the_records_they_are_sized_for() {
        for records in [0, 1, 63, 64, 65, 1000, 174_762, 1 << 20] {
            let shift = LateFloor::shift_for(records);
            let covered = EPOCHS << shift;
            assert!(covered >= records, "{records} records, {covered} covered");
            assert!(records <= EPOCHS || covered < 2 * records.next_power_of_two(), "{records}: epochs twice too wide");
        }
    }

    #[test]
    fn least_is_the_minimum_over_the_epochs_asked() {
        let f = LateFloor::new(2); // 4 sequences an epoch
        assert_eq!(f.least(0, u64::MAX), Timestamp::MAX, "no record yet");
        f.lower(1, 50); // epoch 0
        f.lower(5, 70); // epoch 1
        f.lower(6, 60); // epoch 1: lowered
        f.lower(7, 90); // epoch 1: not raised
        f.lower(9, 80); // epoch 2
        f.lower(u64::MAX, 75); // past every epoch: the last one
        assert_eq!(f.least(0, 3), 50);
        assert_eq!(f.least(4, 7), 60);
        assert_eq!(f.least(4, 11), 60);
        assert_eq!(f.least(8, 11), 80);
        assert_eq!(f.least(8, u64::MAX), 75, "the last epoch holds the rest");
        assert_eq!(f.least(12, 15), Timestamp::MAX, "an epoch no record reached");
        assert_eq!(f.least(0, u64::MAX), 50);
    }
}
