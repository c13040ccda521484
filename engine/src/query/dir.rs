//! Reading direction: ascending or descending timestamps, as a type.
//!
//! Navigation (`next_ts`/`prev_ts`, `min_ts`/`max_ts`), the skiplist walk
//! and the k-way merge are written once, generic over [`Dir`]; the two
//! implementations ([`Asc`], [`Desc`]) say what "before", "seek to" and
//! "past a hidden stretch" mean in their direction. Monomorphized: no
//! runtime branch on the direction inside a loop.

use crate::segment::Seek;
use crate::tombstone::Coverage;
use crate::{SeqNo, Timestamp};

/// A reading direction.
pub(crate) trait Dir: Copy + 'static {
    /// Whether this is the descending direction.
    const DESC: bool;

    /// Whether timestamp `a` comes strictly before `b` in reading order.
    fn before(a: Timestamp, b: Timestamp) -> bool;

    /// Whether the record key `a` comes strictly before `b` in reading
    /// order (`(ts, seq)`: equal timestamps in insertion order when
    /// ascending, reversed when descending). `seq` is read only on a tie.
    #[inline]
    fn key_before(a_ts: Timestamp, a_seq: impl FnOnce() -> SeqNo, b: (Timestamp, SeqNo)) -> bool {
        if a_ts != b.0 {
            Self::before(a_ts, b.0)
        } else if Self::DESC {
            a_seq() > b.1
        } else {
            a_seq() < b.1
        }
    }

    /// For a source none of whose records orders newer than `newest`
    /// (R7, R8): if the record at `ts` lies in a stretch hidden from all of
    /// them, where reading resumes past the stretch — `Some(Some(t))`: at
    /// timestamps from `t` on (in reading order); `Some(None)`: nowhere.
    /// `None` if `ts` is not in such a stretch.
    fn past_hidden(cov: &Coverage, ts: Timestamp, newest: SeqNo) -> Option<Option<Timestamp>>;

    /// The cut of a sorted sequence where reading from `t` (inclusive)
    /// starts, given its `lower_bound` (first position `>= t`) and
    /// `upper_bound` (first position `> t`): ascending, the candidate is at
    /// the cut; descending, just below it (see [`candidate`](Self::candidate)).
    fn cut(t: Timestamp, lower: impl FnOnce(Timestamp) -> Seek, upper: impl FnOnce(Timestamp) -> Seek) -> Seek;

    /// The timestamp of the [`candidate`](Self::candidate) of cut `c`, if
    /// its search read it ([`Seek`]): ascending the one at the cut,
    /// descending the one just below.
    #[inline]
    fn known(c: &Seek) -> Option<Timestamp> {
        if Self::DESC {
            c.before
        } else {
            c.at
        }
    }

    /// The position read at cut `c` of a sequence of `n`, if any.
    #[inline]
    fn candidate(c: usize, n: usize) -> Option<usize> {
        if Self::DESC {
            c.checked_sub(1)
        } else {
            (c < n).then_some(c)
        }
    }

    /// Position of the `k`-th record in reading order of a span of `len`.
    #[inline]
    fn idx(len: usize, k: usize) -> usize {
        if Self::DESC {
            len - 1 - k
        } else {
            k
        }
    }

    /// The better of two answers (the first in reading order).
    #[inline]
    fn best(a: Timestamp, b: Timestamp) -> Timestamp {
        if Self::before(a, b) {
            a
        } else {
            b
        }
    }
}

/// Ascending timestamps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asc;

/// Descending timestamps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Desc;

impl Dir for Asc {
    const DESC: bool = false;
    #[inline]
    fn before(a: Timestamp, b: Timestamp) -> bool {
        a < b
    }
    #[inline]
    fn past_hidden(cov: &Coverage, ts: Timestamp, newest: SeqNo) -> Option<Option<Timestamp>> {
        // `hidden_end` is exclusive and never passes a record at `MAX`.
        cov.hidden_end(ts, newest).map(Some)
    }
    #[inline]
    fn cut(t: Timestamp, lower: impl FnOnce(Timestamp) -> Seek, _: impl FnOnce(Timestamp) -> Seek) -> Seek {
        lower(t)
    }
}

impl Dir for Desc {
    const DESC: bool = true;
    #[inline]
    fn before(a: Timestamp, b: Timestamp) -> bool {
        a > b
    }
    #[inline]
    fn past_hidden(cov: &Coverage, ts: Timestamp, newest: SeqNo) -> Option<Option<Timestamp>> {
        // `hidden_start` is inclusive: reading resumes just below it.
        cov.hidden_start(ts, newest).map(|a| a.checked_sub(1))
    }
    #[inline]
    fn cut(t: Timestamp, _: impl FnOnce(Timestamp) -> Seek, upper: impl FnOnce(Timestamp) -> Seek) -> Seek {
        upper(t)
    }
}
