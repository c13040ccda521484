//! Query bounds: how each public form of a range — `[t1, t2)`, "since",
//! "until", a point, a slice with open ends, optional bounds — becomes the
//! inclusive `lo ..= hi` the query layer reads.
//!
//! Owns nothing and upholds no protocol rule: it is arithmetic on
//! timestamps, written once so that the engine's facade, its snapshots and
//! every binding derive the same bounds (and refuse `t1 > t2` with the
//! same [`Error::InvalidRange`]). Anyone may call it.
//!
//! Two conventions meet here. Ranges are half-open `[t1, t2)`, so no
//! half-open range reaches `i64::MAX`; open-ended reads (`since`, a slice
//! without a stop, no upper bound) include it. Reversed bounds are an
//! error for the named range forms (`range`, `count`, `histogram`,
//! deletes, bounds given as a pair) and an empty range for slices
//! (sequence semantics: `log[5:3]` is empty).

use crate::error::{Error, Result};
use crate::Timestamp;

/// Inclusive bounds `lo ..= hi` of a read; empty when `lo > hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Smallest timestamp read.
    pub lo: Timestamp,
    /// Greatest timestamp read (inclusive).
    pub hi: Timestamp,
}

impl Bounds {
    /// Every timestamp, `i64::MIN ..= i64::MAX`.
    pub const ALL: Bounds = Bounds { lo: Timestamp::MIN, hi: Timestamp::MAX };
    /// No timestamp.
    pub const EMPTY: Bounds = Bounds { lo: 1, hi: 0 };

    /// Whether no timestamp is in the bounds.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.lo > self.hi
    }

    /// `[t1, t2)`; empty when `t1 >= t2` (no error: see [`range`](Self::range)).
    #[inline]
    pub fn half_open(t1: Timestamp, t2: Timestamp) -> Self {
        if t1 < t2 {
            Bounds { lo: t1, hi: t2 - 1 }
        } else {
            Self::EMPTY
        }
    }

    /// `[t1, t2)` of a named range (`range`, `count`, `histogram`, a delete):
    /// `t1 > t2` is [`Error::InvalidRange`], `t1 == t2` is empty.
    #[inline]
    pub fn range(t1: Timestamp, t2: Timestamp) -> Result<Self> {
        if t1 > t2 {
            return Err(Error::InvalidRange { t1, t2 });
        }
        Ok(Self::half_open(t1, t2))
    }

    /// Timestamps `>= t`, up to and including `i64::MAX`.
    #[inline]
    pub fn since(t: Timestamp) -> Self {
        Bounds { lo: t, hi: Timestamp::MAX }
    }

    /// Timestamps `< t`.
    #[inline]
    pub fn until(t: Timestamp) -> Self {
        Self::half_open(Timestamp::MIN, t)
    }

    /// Timestamps `> t` (what `next_ts(t)` searches); empty for `i64::MAX`.
    #[inline]
    pub fn after(t: Timestamp) -> Self {
        match t.checked_add(1) {
            Some(lo) => Self::since(lo),
            None => Self::EMPTY,
        }
    }

    /// Exactly `t`.
    #[inline]
    pub fn point(t: Timestamp) -> Self {
        Bounds { lo: t, hi: t }
    }

    /// A slice `[start:stop]`: a missing start is `i64::MIN`, a missing
    /// stop reads through `i64::MAX` (inclusive); reversed or equal bounds
    /// are empty, never an error.
    #[inline]
    pub fn slice(start: Option<Timestamp>, stop: Option<Timestamp>) -> Self {
        let lo = start.unwrap_or(Timestamp::MIN);
        match stop {
            None => Self::since(lo),
            Some(t2) => Self::half_open(lo, t2),
        }
    }

    /// Optional bounds `t1`, `t2` (`None` = unbounded on that side; a
    /// missing `t2` reads through `i64::MAX`). With both given, `t1 > t2`
    /// is [`Error::InvalidRange`].
    #[inline]
    pub fn optional(t1: Option<Timestamp>, t2: Option<Timestamp>) -> Result<Self> {
        if let (Some(a), Some(b)) = (t1, t2) {
            if a > b {
                return Err(Error::InvalidRange { t1: a, t2: b });
            }
        }
        Ok(Self::slice(t1, t2))
    }
}

/// The half-open delete range `[t1, t2)` of a slice delete `del [start:stop]`:
/// a missing start is `i64::MIN`, a missing stop `i64::MAX` (exclusive: a
/// record at exactly `i64::MAX` stays, as no half-open range holds it).
/// `start > stop` is [`Error::InvalidRange`] (a delete does not treat
/// reversed bounds as empty).
#[inline]
pub fn delete_slice(start: Option<Timestamp>, stop: Option<Timestamp>) -> Result<(Timestamp, Timestamp)> {
    let (t1, t2) = (start.unwrap_or(Timestamp::MIN), stop.unwrap_or(Timestamp::MAX));
    if t1 > t2 {
        return Err(Error::InvalidRange { t1, t2 });
    }
    Ok((t1, t2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Timestamp = Timestamp::MIN;
    const MAX: Timestamp = Timestamp::MAX;

    #[test]
    fn half_open_and_named_ranges() {
        assert_eq!(Bounds::half_open(3, 7), Bounds { lo: 3, hi: 6 });
        assert!(Bounds::half_open(7, 7).is_empty());
        assert!(Bounds::half_open(8, 7).is_empty());
        assert_eq!(Bounds::range(8, 7), Err(Error::InvalidRange { t1: 8, t2: 7 }));
        assert!(Bounds::range(7, 7).unwrap().is_empty());
        assert_eq!(Bounds::range(MIN, MAX).unwrap(), Bounds { lo: MIN, hi: MAX - 1 });
    }

    #[test]
    fn open_ends_include_int64_max_and_until_min_is_empty() {
        assert_eq!(Bounds::since(5), Bounds { lo: 5, hi: MAX });
        assert_eq!(Bounds::until(5), Bounds { lo: MIN, hi: 4 });
        assert!(Bounds::until(MIN).is_empty());
        assert_eq!(Bounds::after(5), Bounds { lo: 6, hi: MAX });
        assert!(Bounds::after(MAX).is_empty());
        assert_eq!(Bounds::after(MIN), Bounds { lo: MIN + 1, hi: MAX });
        assert_eq!(Bounds::point(MAX), Bounds { lo: MAX, hi: MAX });
        assert_eq!(Bounds::slice(None, None), Bounds::ALL);
        assert_eq!(Bounds::slice(Some(3), None), Bounds { lo: 3, hi: MAX });
        assert_eq!(Bounds::slice(None, Some(3)), Bounds { lo: MIN, hi: 2 });
        assert!(Bounds::slice(Some(5), Some(3)).is_empty(), "reversed slices are empty");
        assert!(Bounds::slice(None, Some(MIN)).is_empty());
    }

    #[test]
    fn optional_bounds_refuse_reversed_pairs_only() {
        assert_eq!(Bounds::optional(None, None).unwrap(), Bounds::ALL);
        assert_eq!(Bounds::optional(Some(5), Some(3)), Err(Error::InvalidRange { t1: 5, t2: 3 }));
        assert!(Bounds::optional(Some(3), Some(3)).unwrap().is_empty());
        assert!(Bounds::optional(None, Some(MIN)).unwrap().is_empty());
        assert_eq!(Bounds::optional(Some(MAX), None).unwrap(), Bounds::point(MAX));
    }

    #[test]
    fn slice_deletes_are_half_open_and_refuse_reversed_bounds() {
        assert_eq!(delete_slice(None, None), Ok((MIN, MAX)));
        assert_eq!(delete_slice(Some(3), None), Ok((3, MAX)));
        assert_eq!(delete_slice(None, Some(3)), Ok((MIN, 3)));
        assert_eq!(delete_slice(Some(4), Some(3)), Err(Error::InvalidRange { t1: 4, t2: 3 }));
    }
}
