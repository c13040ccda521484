//! Shared workload generators for the timelog benchmarks (see `benches/`).
//!
//! Every structure under test is fed the same `(ts, seq)` keys: `ts` is the
//! record's timestamp, `seq` its position in the write order (1, 2, ...),
//! which also serves as the `u64` payload. All generators are seeded and
//! deterministic, so two runs (and two structures) see identical input.

/// SplitMix64: a tiny, fast, seedable generator (no dependency needed).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi]` (inclusive; slight modulo bias is irrelevant here).
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Seed of every generator in the benches.
pub const SEED: u64 = 0x7157_E106_2024_0001;

/// How far back (in timestamp units) an out-of-order record may go.
pub const MAX_BACK: u64 = 1_000;

/// `n` in-order records: `ts = i`, `seq = i + 1`.
pub fn ordered_keys(n: usize) -> Vec<(i64, u64)> {
    (0..n).map(|i| (i as i64, i as u64 + 1)).collect()
}

/// `n` records, `pct`% of them out of order: every `k = 100 / pct`-th
/// record goes back a random distance in `[1, MAX_BACK]` (clamped at 0)
/// from where it would have been; the others are `ts = i`. `seq = i + 1`.
/// Equal timestamps occur (a late record may land on an existing one);
/// the `(ts, seq)` keys are unique.
pub fn ooo_keys(n: usize, pct: u32, seed: u64) -> Vec<(i64, u64)> {
    assert!((1..=100).contains(&pct));
    let k = (100 / pct) as usize;
    let mut rng = Rng::new(seed ^ pct as u64);
    (0..n)
        .map(|i| {
            let ts = if i > 0 && i % k == 0 { (i as i64 - rng.range(1, MAX_BACK) as i64).max(0) } else { i as i64 };
            (ts, i as u64 + 1)
        })
        .collect()
}

/// `count` random timestamps in `[0, hi)`.
pub fn random_ts(count: usize, hi: i64, seed: u64) -> Vec<i64> {
    let mut rng = Rng::new(seed);
    (0..count).map(|_| rng.range(0, hi as u64 - 1) as i64).collect()
}

/// This thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`): what
/// the examples' harnesses report, since other tenants of a shared machine
/// distort wall time.
pub fn thread_cpu_ns() -> u64 {
    let mut t = std::mem::MaybeUninit::<[i64; 2]>::uninit();
    extern "C" {
        fn clock_gettime(id: i32, ts: *mut [i64; 2]) -> i32;
    }
    // SAFETY: libc `clock_gettime` contract: a valid clock id (3,
    // CLOCK_THREAD_CPUTIME_ID on Linux) and a writable timespec.
    let t = unsafe {
        clock_gettime(3, t.as_mut_ptr());
        t.assume_init()
    };
    t[0] as u64 * 1_000_000_000 + t[1] as u64
}

/// Whether `--quick` was passed (criterion's flag; the growth bench honours it too).
pub fn quick_mode() -> bool {
    std::env::args().any(|a| a == "--quick")
}

/// Whether `TIMELOG_BENCH_FULL=1` asks for the largest sizes.
pub fn full_mode() -> bool {
    std::env::var("TIMELOG_BENCH_FULL").is_ok_and(|v| v == "1")
}

/// A cycling index over a pre-generated list of inputs.
#[derive(Debug, Clone, Default)]
pub struct Cycle(usize);

impl Cycle {
    #[inline]
    pub fn next<'a, X>(&mut self, xs: &'a [X]) -> &'a X {
        let x = &xs[self.0];
        self.0 += 1;
        if self.0 == xs.len() {
            self.0 = 0;
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic_and_shaped() {
        assert_eq!(ooo_keys(10_000, 5, SEED), ooo_keys(10_000, 5, SEED));
        let k = ooo_keys(100_000, 20, SEED);
        let late = k.windows(2).filter(|w| w[1].0 < w[0].0).count();
        assert!((19_000..=20_001).contains(&late), "{late}");
        let k = ooo_keys(100_000, 5, SEED);
        let late = k.windows(2).filter(|w| w[1].0 < w[0].0).count();
        assert!((4_900..=5_001).contains(&late), "{late}");
        let o = ordered_keys(5);
        assert_eq!(o[4], (4, 5));
    }
}
