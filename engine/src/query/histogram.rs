//! Time-bucket counts: how many visible records fall in each bucket of
//! `[t1, t2)`, computed from the timestamps alone (no payload is read).
//!
//! Buckets are aligned at `t1`: bucket `i` is
//! `[t1 + i * bucket, min(t1 + (i + 1) * bucket, t2))`, so the last one is
//! partial when `bucket` does not divide `t2 - t1`.
//!
//! Each source is counted on its own, as `View::count` does, and the
//! counts are summed (a record lives in exactly one source):
//!
//! - a segment or a memtable run is first cut into its *visible position
//!   ranges* (the plan's `for_each_visible_segment` / `for_each_visible_run`:
//!   watermark and tombstones, resolved by binary searches); within each
//!   range (cut at page boundaries for segments) the timestamps are
//!   sorted, so each non-empty bucket's count is the distance to its end,
//!   found by a galloping binary search — records between are not visited
//!   (`count_sorted`);
//! - the out-of-order part of a memtable has a per-record visibility test
//!   (its sequences are not ordered), so its visible records in range are
//!   visited (`ooo_walk`, which seeks past stretches hidden whole).
//!
//! The sources and the visibility rule are those of every read
//! (`query::view`: `View::sources`, `Vis`).

use crate::query::dir::Asc;
use crate::query::view::{for_each_visible_run, for_each_visible_segment, ooo_walk, SourceRef, View, Vis};
use crate::segment::Segment;
use crate::tombstone::Coverage;
use crate::{Error, Result, Timestamp};

/// The most buckets one histogram may have (2^24: 128 MiB of counts).
pub const MAX_HISTOGRAM_BUCKETS: usize = 1 << 24;

/// The validated bucket layout of `[t1, t2)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buckets {
    t1: Timestamp,
    t2: Timestamp,
    width: Timestamp,
    n: usize,
}

impl Buckets {
    /// Checks `bucket > 0`, `t1 <= t2` and the bucket-count limit.
    pub(crate) fn new(t1: Timestamp, t2: Timestamp, bucket: Timestamp) -> Result<Self> {
        if bucket <= 0 {
            return Err(Error::InvalidArgument(format!(
                "histogram bucket width must be > 0, got {bucket}; pass the width of one bucket in the log's time unit"
            )));
        }
        if t1 > t2 {
            return Err(Error::InvalidRange { t1, t2 });
        }
        let span = (i128::from(t2) - i128::from(t1)) as u128;
        let n = span.div_ceil(bucket as u128);
        if n > MAX_HISTOGRAM_BUCKETS as u128 {
            let min = span.div_ceil(MAX_HISTOGRAM_BUCKETS as u128);
            return Err(Error::InvalidArgument(format!(
                "histogram of [{t1}, {t2}) with bucket width {bucket} would have {n} buckets, more than the limit of {MAX_HISTOGRAM_BUCKETS}; \
                 use a bucket width of at least {min} or a shorter range"
            )));
        }
        Ok(Self { t1, t2, width: bucket, n: n as usize })
    }

    /// Number of buckets.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// Start of bucket `i` (`i == len()` gives `t2`).
    #[inline]
    fn edge(&self, i: usize) -> Timestamp {
        if i >= self.n {
            return self.t2;
        }
        // The exact value is < t2, so it fits an i64, and i * width <
        // t2 - t1 < 2^64: wrapping u64 arithmetic gives it exactly.
        (self.t1 as u64).wrapping_add((i as u64).wrapping_mul(self.width as u64)) as Timestamp
    }

    /// Bucket of a timestamp in `[t1, t2)`.
    #[inline]
    fn index(&self, ts: Timestamp) -> usize {
        debug_assert!(ts >= self.t1 && ts < self.t2);
        // 0 <= ts - t1 < 2^64: exact as a wrapping u64 difference.
        (ts.wrapping_sub(self.t1) as u64 / self.width as u64) as usize
    }
}

/// Adds the counts of `len` sorted timestamps, all in `[t1, t2)`, read
/// through `ts_at`, to `out`: per non-empty bucket, one galloping search
/// (probes at +1, +2, +4, ..., then a binary search) for the bucket's end.
/// A bucket holding `m` records costs about `2 log2(m)` probes, an empty
/// one nothing; when buckets outnumber records it degrades to one probe per
/// record, a plain walk.
fn count_sorted(b: &Buckets, len: usize, ts_at: impl Fn(usize) -> Timestamp, out: &mut [u64]) {
    let mut i = 0;
    while i < len {
        let k = b.index(ts_at(i));
        let end = b.edge(k + 1);
        // Every position below `lo` holds a timestamp < end.
        let mut lo = i + 1;
        let mut step = 1;
        let mut hi = loop {
            let probe = i + step;
            if probe >= len {
                break len;
            }
            if ts_at(probe) >= end {
                break probe;
            }
            lo = probe + 1;
            step *= 2;
        };
        // First position in [lo, hi) whose timestamp is >= end.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if ts_at(mid) < end {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        out[k] += (lo - i) as u64;
        i = lo;
    }
}

fn count_segment<T>(s: &Segment<T>, b: &Buckets, cov: &Coverage, out: &mut [u64]) {
    for_each_visible_segment(s, b.t1, b.t2 - 1, cov, |a, z| {
        s.pieces(a, z, |_, page, x, y| {
            let ts = &page.timestamps()[x..y];
            count_sorted(b, ts.len(), |i| ts[i], out);
        });
    });
}

impl<T: Send + Sync + 'static> View<'_, T> {
    /// Visible records per bucket of `b` (see the module docs).
    pub(crate) fn histogram(&self, b: &Buckets) -> Vec<u64> {
        let mut out = vec![0u64; b.len()];
        if b.len() == 0 {
            return out;
        }
        let (lo, hi) = (b.t1, b.t2 - 1);
        let cov = self.cov();
        let vis = Vis { w: self.w, cov: &cov };
        self.sources_in(lo, hi, &cov, |src, _| {
            match src {
                SourceRef::L1(segs) => segs.iter().for_each(|s| count_segment(s, b, &cov, &mut out)),
                SourceRef::L0(s) => count_segment(s, b, &cov, &mut out),
                SourceRef::Run(mt) => {
                    let run = &mt.run;
                    for_each_visible_run(mt, &vis, lo, hi, |a, z| {
                        count_sorted(b, z - a, |i| run.ts_at(a + i), &mut out)
                    });
                }
                SourceRef::Ooo(mt) => ooo_walk::<Asc, T>(mt, &vis, lo, hi, |ts, _, _| {
                    out[b.index(ts)] += 1;
                    true
                }),
            }
            true
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_aligned_at_t1_and_the_last_is_partial() {
        let b = Buckets::new(10, 35, 10).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!((b.edge(0), b.edge(1), b.edge(2), b.edge(3)), (10, 20, 30, 35));
        assert_eq!((b.index(10), b.index(19), b.index(20), b.index(34)), (0, 0, 1, 2));
        assert_eq!(Buckets::new(5, 5, 1).unwrap().len(), 0);
    }

    #[test]
    fn extreme_bounds_do_not_overflow() {
        let b = Buckets::new(i64::MIN, i64::MAX, i64::MAX).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b.index(i64::MAX - 1), 2);
        assert_eq!(b.edge(2), i64::MAX - 1);
    }

    #[test]
    fn invalid_layouts_are_refused_with_a_hint() {
        let e = Buckets::new(0, 10, 0).unwrap_err();
        assert!(e.to_string().contains("must be > 0"), "{e}");
        assert_eq!(Buckets::new(10, 0, 1).unwrap_err(), Error::InvalidRange { t1: 10, t2: 0 });
        let e = Buckets::new(0, 1 << 30, 1).unwrap_err();
        assert!(e.to_string().contains("at least 64"), "{e}");
        assert!(Buckets::new(0, MAX_HISTOGRAM_BUCKETS as i64, 1).is_ok());
    }

    #[test]
    fn count_sorted_matches_a_walk() {
        // Sorted timestamps with runs of duplicates and gaps.
        let ts: Vec<i64> = (0..3000i64).map(|i| i / 3 + (i / 700) * 40).collect();
        let t2 = ts[ts.len() - 1] + 1;
        for width in [1, 2, 3, 7, 50, 333, 1000, t2, t2 + 9] {
            let b = Buckets::new(0, t2, width).unwrap();
            let mut want = vec![0u64; b.len()];
            for &t in &ts {
                want[b.index(t)] += 1;
            }
            let mut got = vec![0u64; b.len()];
            count_sorted(&b, ts.len(), |i| ts[i], &mut got);
            assert_eq!(got, want, "width {width}");
        }
    }
}
