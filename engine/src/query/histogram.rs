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
//!   watermark and tombstones, resolved by binary searches); then, since
//!   its timestamps are sorted, the position of every bucket edge inside
//!   the source is found by one binary search, and a bucket's count is the
//!   overlap of `[edge_i, edge_i+1)` with the visible ranges — no record is
//!   visited. When a source has fewer records than about eight per spanned
//!   bucket, walking its timestamps is cheaper than searching, and it is
//!   walked instead;
//! - the out-of-order part of a memtable has a per-record visibility test
//!   (its sequences are not ordered), so its records in range are visited.

use crate::memtable::Memtable;
use crate::query::plan::{for_each_visible_run, for_each_visible_segment, View};
use crate::segment::Segment;
use crate::tombstone::Coverage;
use crate::{Error, Result, Timestamp};

/// The most buckets one histogram may have (2^24: 128 MiB of counts).
pub const MAX_HISTOGRAM_BUCKETS: usize = 1 << 24;

/// Walk a source instead of searching it when it has fewer than this many
/// records per spanned bucket (a search costs about log2(len) probes).
const WALK_PER_BUCKET: usize = 8;

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
        // < t2 for i < n, so it fits an i64.
        (i128::from(self.t1) + i as i128 * i128::from(self.width)) as Timestamp
    }

    /// Bucket of a timestamp in `[t1, t2)`.
    #[inline]
    fn index(&self, ts: Timestamp) -> usize {
        debug_assert!(ts >= self.t1 && ts < self.t2);
        ((i128::from(ts) - i128::from(self.t1)) / i128::from(self.width)) as usize
    }
}

/// Adds the counts of one sorted source to `out`.
///
/// `ranges` are its visible position ranges (ascending, disjoint, non-empty),
/// all holding timestamps in `[t1, t2)`; `ts_at(i)` reads the timestamp at
/// position `i`; `lower_bound(t, lo, hi)` is the first position in `[lo, hi)`
/// whose timestamp is `>= t`.
fn count_sorted(
    b: &Buckets,
    ranges: &[(usize, usize)],
    ts_at: impl Fn(usize) -> Timestamp,
    lower_bound: impl Fn(Timestamp, usize, usize) -> usize,
    walk: impl Fn(usize, usize, &mut dyn FnMut(Timestamp)),
    out: &mut [u64],
) {
    let (Some(&(lo, _)), Some(&(_, hi))) = (ranges.first(), ranges.last()) else {
        return;
    };
    let (i0, i1) = (b.index(ts_at(lo)), b.index(ts_at(hi - 1)));
    let k = i1 - i0 + 1;
    let records: usize = ranges.iter().map(|&(a, z)| z - a).sum();
    if records < k.saturating_mul(WALK_PER_BUCKET) {
        for &(a, z) in ranges {
            walk(a, z, &mut |ts| out[b.index(ts)] += 1);
        }
        return;
    }
    // p[j]: first position of bucket i0 + j (p[0] = lo, p[k] = hi).
    let mut p = Vec::with_capacity(k + 1);
    p.push(lo);
    for j in 1..k {
        let prev = p[j - 1];
        p.push(lower_bound(b.edge(i0 + j), prev, hi));
    }
    p.push(hi);
    let mut j = 0;
    for &(a, z) in ranges {
        let mut x = a;
        while x < z {
            while p[j + 1] <= x {
                j += 1;
            }
            let y = z.min(p[j + 1]);
            out[i0 + j] += (y - x) as u64;
            x = y;
        }
    }
}

fn count_segment<T>(s: &Segment<T>, b: &Buckets, cov: &Coverage, out: &mut [u64]) {
    let mut ranges = Vec::new();
    for_each_visible_segment(s, b.t1, b.t2 - 1, cov, |a, z| ranges.push((a, z)));
    count_sorted(
        b,
        &ranges,
        |i| s.ts_at(i),
        |t, _, _| s.lower_bound(t),
        |a, z, f| s.pieces(a, z, |_, page, x, y| page.timestamps()[x..y].iter().for_each(|&t| f(t))),
        out,
    );
}

fn count_memtable<T: Send + Sync + 'static>(
    mt: &Memtable<T>,
    w: crate::SeqNo,
    b: &Buckets,
    cov: &Coverage,
    out: &mut [u64],
) {
    let (lo, hi) = (b.t1, b.t2 - 1);
    let mut ranges = Vec::new();
    for_each_visible_run(mt, w, lo, hi, cov, |a, z| ranges.push((a, z)));
    let run = &mt.run;
    count_sorted(
        b,
        &ranges,
        |i| run.ts_at(i),
        |t, a, z| run.lower_bound(t, a, z),
        |a, z, f| (a..z).for_each(|i| f(run.ts_at(i))),
        out,
    );
    let no_cov = cov.is_empty();
    mt.ooo_range(lo, hi, |ts, seq, _| {
        if seq <= w && (no_cov || cov.max_seq(ts) <= seq) {
            out[b.index(ts)] += 1;
        }
        true
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
        let cov = self.coverage(lo, hi);
        for s in self.l1_overlapping(lo, hi).iter().chain(self.m.l0.iter()) {
            if s.max_ts < lo || s.min_ts > hi {
                continue;
            }
            count_segment(s, b, &cov, &mut out);
        }
        for mt in self.memtables() {
            count_memtable(mt, self.w, b, &cov, &mut out);
        }
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
    fn count_sorted_search_and_walk_agree() {
        // 1000 sorted timestamps 0, 0, 1, 1, ... with two hidden ranges.
        let ts: Vec<i64> = (0..1000).map(|i| i / 2).collect();
        let ranges = [(3usize, 100usize), (150, 151), (400, 999)];
        let lb = |t: i64, a: usize, z: usize| a + ts[a..z].partition_point(|&x| x < t);
        let walk = |a: usize, z: usize, f: &mut dyn FnMut(i64)| ts[a..z].iter().for_each(|&t| f(t));
        for width in [1, 3, 7, 50, 499, 500] {
            let b = Buckets::new(0, 500, width).unwrap();
            let mut want = vec![0u64; b.len()];
            for &(a, z) in &ranges {
                for &t in &ts[a..z] {
                    want[b.index(t)] += 1;
                }
            }
            let mut got = vec![0u64; b.len()];
            count_sorted(&b, &ranges, |i| ts[i], lb, walk, &mut got);
            assert_eq!(got, want, "width {width}");
        }
    }
}
