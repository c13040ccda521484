//! Counters and the `stats()` report.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI64, AtomicU64};

use crate::config::AdaptiveResolved;

use crate::Timestamp;

/// Monotonic event counters (Relaxed: they order nothing).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) seals_total: AtomicU64,
    pub(crate) ooo_budget_hits: AtomicU64,
    pub(crate) backpressure_waits: AtomicU64,
    pub(crate) flushes_total: AtomicU64,
    pub(crate) compactions_total: AtomicU64,
    pub(crate) compaction_retries: AtomicU64,
    pub(crate) compaction_publish_ebusy: AtomicU64,
    pub(crate) busy_events: AtomicU64,
    pub(crate) extend_skipped: AtomicU64,
    /// Allocations sized by a caller's input that failed and were reported
    /// as an error instead of aborting (`Timelog::note_alloc_failure`).
    pub(crate) alloc_failures: AtomicU64,
    /// Idle maintenance steps that did work (`Maint::idle_step_with`).
    pub(crate) idle_steps: AtomicU64,
    // compaction selection (`select`, counted by `note_selection`)
    pub(crate) select_calls: AtomicU64,
    pub(crate) select_l0_inputs: AtomicU64,
    pub(crate) select_l1_inputs: AtomicU64,
    pub(crate) select_no_work: AtomicU64,
    // adaptive: the record density of flushed runs (`note_flush`)
    pub(crate) adaptive_flush_count: AtomicU64,
    /// The density EWMA as `f64` bits; 0.0 until the first non-empty flush.
    /// Written only under the maintainer lock (flushes are serialized),
    /// so a load/store pair needs no compare-and-swap.
    pub(crate) adaptive_ewma_bits: AtomicU64,
    /// `adaptive_flush_count` at the last density sample (staleness).
    pub(crate) adaptive_last_sample: AtomicU64,
    /// The adaptive L1 window; 0 until adaptive sizing first sets it (the
    /// configured window is in use until then). Written only under the
    /// maintainer lock, which also covers every compaction that reads it
    /// (`Maint::l1_window` in `maint/compact.rs`), so one compaction sees
    /// one window.
    pub(crate) adaptive_window: AtomicI64,
    /// Consecutive compactions that failed to publish (reset by a success
    /// or a back-off).
    pub(crate) adaptive_failures: AtomicU64,
}

/// One monotonic counter of [`Stats`], read on its own with
/// [`Timelog::counter`](crate::Timelog::counter) (one atomic load, no
/// report built).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Counter {
    /// [`Stats::seals_total`].
    SealsTotal,
    /// [`Stats::ooo_budget_hits`].
    OooBudgetHits,
    /// [`Stats::backpressure_waits`].
    BackpressureWaits,
    /// [`Stats::flushes_total`].
    FlushesTotal,
    /// [`Stats::compactions_total`].
    CompactionsTotal,
    /// [`Stats::compaction_retries`].
    CompactionRetries,
    /// [`Stats::compaction_publish_ebusy`].
    CompactionPublishEbusy,
    /// [`Stats::busy_events`].
    BusyEvents,
    /// [`Stats::extend_skipped`].
    ExtendSkipped,
    /// Allocations sized by a caller's input (a bulk write's batch) that
    /// failed and were reported as an error instead of aborting
    /// ([`Timelog::note_alloc_failure`](crate::Timelog::note_alloc_failure));
    /// any other allocation failure aborts the process, as Rust's
    /// allocator does.
    AllocFailures,
    /// Maintenance steps the background worker ran because the log was
    /// quiet (no write for ten wake-up periods) and still had more than
    /// one read source or tombstones left under `delete_debt_threshold`
    /// (docs/protocol.md, "Delete debt"; docs/performance.md, "Retention").
    /// Counted in the compactions and flushes they publish as well.
    IdleSteps,
    /// [`Stats::select_calls`].
    SelectCalls,
    /// [`Stats::select_l0_inputs`].
    SelectL0Inputs,
    /// [`Stats::select_l1_inputs`].
    SelectL1Inputs,
    /// [`Stats::select_no_work`].
    SelectNoWork,
    /// [`Stats::adaptive_flush_count`].
    AdaptiveFlushCount,
    /// [`Stats::adaptive_failures`].
    AdaptiveFailures,
}

impl Counters {
    /// The current value of one counter (Relaxed: counters order nothing).
    pub(crate) fn get(&self, c: Counter) -> u64 {
        let a = match c {
            Counter::SealsTotal => &self.seals_total,
            Counter::OooBudgetHits => &self.ooo_budget_hits,
            Counter::BackpressureWaits => &self.backpressure_waits,
            Counter::FlushesTotal => &self.flushes_total,
            Counter::CompactionsTotal => &self.compactions_total,
            Counter::CompactionRetries => &self.compaction_retries,
            Counter::CompactionPublishEbusy => &self.compaction_publish_ebusy,
            Counter::BusyEvents => &self.busy_events,
            Counter::ExtendSkipped => &self.extend_skipped,
            Counter::AllocFailures => &self.alloc_failures,
            Counter::IdleSteps => &self.idle_steps,
            Counter::SelectCalls => &self.select_calls,
            Counter::SelectL0Inputs => &self.select_l0_inputs,
            Counter::SelectL1Inputs => &self.select_l1_inputs,
            Counter::SelectNoWork => &self.select_no_work,
            Counter::AdaptiveFlushCount => &self.adaptive_flush_count,
            Counter::AdaptiveFailures => &self.adaptive_failures,
        };
        a.load(Relaxed)
    }

    /// One compaction selection: `Some((l0 inputs, l1 inputs))`, or `None`
    /// when there was nothing to compact.
    pub(crate) fn note_selection(&self, sel: Option<(usize, usize)>) {
        self.select_calls.fetch_add(1, Relaxed);
        match sel {
            Some((l0, l1)) => {
                self.select_l0_inputs.fetch_add(l0 as u64, Relaxed);
                self.select_l1_inputs.fetch_add(l1 as u64, Relaxed);
            }
            None => {
                self.select_no_work.fetch_add(1, Relaxed);
            }
        }
    }

    /// One published flush of `run = (records, min_ts, max_ts)` (`None`:
    /// every record was deleted before the flush). Folds the run's density
    /// — records per time unit over `[min_ts, max_ts]` — into the EWMA with
    /// smoothing `alpha` (the first sample sets it). Caller holds the
    /// maintainer lock.
    ///
    /// With adaptive sizing on (`a.target_records > 0`), then resizes the
    /// L1 window (see [`AdaptiveConfig`](crate::AdaptiveConfig)); `base` is
    /// the configured window.
    pub(crate) fn note_flush(
        &self,
        run: Option<(usize, Timestamp, Timestamp)>,
        alpha: f64,
        a: &AdaptiveResolved,
        base: i64,
    ) {
        let count = self.adaptive_flush_count.fetch_add(1, Relaxed) + 1;
        let sample = run.filter(|r| r.0 > 0).map(|(n, lo, hi)| n as f64 / (hi as i128 - lo as i128 + 1) as f64);
        if let Some(density) = sample {
            let old = f64::from_bits(self.adaptive_ewma_bits.load(Relaxed));
            let new = if old == 0.0 { density } else { alpha * density + (1.0 - alpha) * old };
            self.adaptive_ewma_bits.store(new.to_bits(), Relaxed);
            self.adaptive_last_sample.store(count, Relaxed);
        }
        if a.target_records == 0 {
            return;
        }
        if sample.is_none() {
            let since = count - self.adaptive_last_sample.load(Relaxed);
            if a.stale_flushes > 0 && since >= u64::from(a.stale_flushes) {
                // Stale: drop the estimate; the next sample starts it again.
                self.adaptive_ewma_bits.store(0f64.to_bits(), Relaxed);
            }
            return;
        }
        let ewma = f64::from_bits(self.adaptive_ewma_bits.load(Relaxed));
        if count < u64::from(a.warmup_flushes) || ewma <= 0.0 {
            return;
        }
        let cur = self.window(base);
        let want = adaptive_target(a, ewma);
        let diff = (want as i128 - cur as i128).unsigned_abs();
        if diff * 100 >= u128::from(a.hysteresis_pct) * cur as u128 && want != cur {
            self.adaptive_window.store(want, Relaxed);
        }
    }

    /// The L1 window in use: the adaptive one once set, else `base`.
    pub(crate) fn window(&self, base: i64) -> i64 {
        match self.adaptive_window.load(Relaxed) {
            0 => base,
            w => w,
        }
    }

    /// A compaction's publication: `ok`, or failed because its inputs
    /// changed. Enough consecutive failures grow the adaptive window.
    /// Caller holds the maintainer lock.
    pub(crate) fn note_compaction(&self, ok: bool, a: &AdaptiveResolved, base: i64) {
        if ok {
            self.adaptive_failures.store(0, Relaxed);
            return;
        }
        let f = self.adaptive_failures.fetch_add(1, Relaxed) + 1;
        if a.target_records > 0 && f >= u64::from(a.failure_backoff_threshold) {
            let cur = self.window(base) as i128;
            let grown = (cur + cur * i128::from(a.failure_backoff_pct) / 100).max(cur + 1);
            let grown = grown.clamp(a.min_window as i128, a.max_window as i128) as i64;
            self.adaptive_window.store(grown, Relaxed);
            self.adaptive_failures.store(0, Relaxed);
        }
    }
}

/// The window that holds about `a.target_records` records at `density`
/// records per time unit: clamped to `[min_window, max_window]`, then
/// snapped to the nearest multiple of `window_quantum` within the bounds.
pub(crate) fn adaptive_target(a: &AdaptiveResolved, density: f64) -> i64 {
    let raw = a.target_records as f64 / density;
    // `as` saturates (and maps NaN to 0, clamped below).
    let mut w = (raw.round() as i64).clamp(a.min_window.max(1), a.max_window.max(1));
    let q = a.window_quantum;
    if q > 0 {
        let snapped = ((w as i128 + q as i128 / 2) / q as i128 * q as i128).max(q as i128);
        let lo = (a.min_window.max(1) as i128 + q as i128 - 1) / q as i128 * q as i128;
        let hi = a.max_window as i128 / q as i128 * q as i128;
        w = if lo <= hi { snapped.clamp(lo, hi) as i64 } else { w };
    }
    w
}

/// A report of the log's state, as `stats()` returns it. Names follow the
/// Python `stats()` sections (`storage`, `memtable`, `operational`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    // storage
    /// L0 segments (flushed memtables not yet compacted).
    pub segments_l0: usize,
    /// L1 segments (compacted, windowed, non-overlapping).
    pub segments_l1: usize,
    /// Pages of all segments.
    pub pages_total: usize,
    /// Visible records (what `len()` returns, tombstones applied).
    pub records_estimate: usize,
    /// Records physically stored (segments and memtables), deleted ones
    /// included until a flush or compaction drops them.
    pub records_stored: usize,
    /// Smallest visible timestamp (`None`: no record).
    pub min_ts: Option<Timestamp>,
    /// Greatest visible timestamp (`None`: no record).
    pub max_ts: Option<Timestamp>,
    /// Tombstones held: the manifest's list and those still in memtables.
    pub tombstone_count: usize,
    // memtable
    /// Records in the active memtable (in-order run and out-of-order index).
    pub active_records: usize,
    /// Records of the active memtable that arrived out of order.
    pub ooo_records: usize,
    /// Sealed memtables waiting for a flush (backpressure at
    /// `sealed_max_runs`).
    pub sealed_runs: usize,
    // operational
    /// Memtables sealed since the log was built.
    pub seals_total: u64,
    /// Seals triggered early by the out-of-order budget (`ooo_budget_bytes`).
    pub ooo_budget_hits: u64,
    /// Busy writers that waited for the background worker (`sealed_wait_ms > 0`).
    pub backpressure_waits: u64,
    /// Flushes published (a sealed memtable became an L0 segment).
    pub flushes_total: u64,
    /// Compactions published.
    pub compactions_total: u64,
    /// Compaction publications retried over a manifest a concurrent seal changed.
    pub compaction_retries: u64,
    /// Compactions abandoned because their inputs changed before publication
    /// (the C package's `EBUSY`).
    pub compaction_publish_ebusy: u64,
    /// Writes that hit backpressure (whatever `busy_policy` reported).
    pub busy_events: u64,
    /// Bulk-write items a caller skipped (`Timelog::note_extend_skipped`).
    pub extend_skipped: u64,
    /// Retired memtables and segments still alive because a snapshot pins them.
    pub retired_queue_len: usize,
    /// Live snapshots (iterators, page spans, explicit snapshots).
    pub pinned_readers: usize,
    // compaction selection
    /// The L1 window in use, in the time unit (the adaptive one once set).
    pub window_size: i64,
    /// The windows' alignment (`window_origin` of the configuration).
    pub window_origin: Timestamp,
    /// L0 segments that trigger a compaction (resolved `max_delta_segments`).
    pub max_delta_segments: usize,
    /// Fraction (0.0–1.0) of stored records (memtables included) that
    /// committed tombstones hide and a flush or a compaction can drop;
    /// compared with `delete_debt_threshold` (docs/protocol.md, "Delete debt").
    pub delete_debt: f64,
    /// Distinct L1 windows holding segments.
    pub l1_windows: usize,
    /// Compaction selections made (by `compact()`, `maint_step()` and the worker).
    pub select_calls: u64,
    /// L0 segments those selections took as inputs.
    pub select_l0_inputs: u64,
    /// L1 segments those selections took as inputs (rewritten windows).
    pub select_l1_inputs: u64,
    /// Selections that found nothing to compact.
    pub select_no_work: u64,
    // adaptive
    /// EWMA of the record density of flushed runs (records per time unit).
    pub adaptive_ewma_density: f64,
    /// Flushes observed by the density estimate.
    pub adaptive_flush_count: u64,
    /// Consecutive compactions that failed to publish (their inputs
    /// changed) since the last success or back-off.
    pub adaptive_failures: u64,
    // sequencing
    /// The visible watermark: every write with a sequence up to it is visible.
    pub visible_seq: u64,
    /// Version of the current manifest (incremented by every publication).
    pub manifest_version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, MaintenanceMode, Timelog};

    #[test]
    fn one_counter_reads_what_the_report_says() {
        let log: Timelog<u32> =
            Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
        for i in 0..100 {
            let _ = log.append(i, 0).unwrap();
        }
        let _ = log.delete_range(10, 20).unwrap();
        log.note_extend_skipped(3);
        log.note_alloc_failure();
        log.compact().unwrap();
        let s = log.stats().unwrap();
        let pairs = [
            (Counter::SealsTotal, s.seals_total),
            (Counter::OooBudgetHits, s.ooo_budget_hits),
            (Counter::BackpressureWaits, s.backpressure_waits),
            (Counter::FlushesTotal, s.flushes_total),
            (Counter::CompactionsTotal, s.compactions_total),
            (Counter::CompactionRetries, s.compaction_retries),
            (Counter::CompactionPublishEbusy, s.compaction_publish_ebusy),
            (Counter::BusyEvents, s.busy_events),
            (Counter::ExtendSkipped, s.extend_skipped),
            (Counter::SelectCalls, s.select_calls),
            (Counter::SelectL0Inputs, s.select_l0_inputs),
            (Counter::SelectL1Inputs, s.select_l1_inputs),
            (Counter::SelectNoWork, s.select_no_work),
            (Counter::AdaptiveFlushCount, s.adaptive_flush_count),
            (Counter::AdaptiveFailures, s.adaptive_failures),
        ];
        for (c, v) in pairs {
            assert_eq!(log.counter(c), v, "{c:?}");
        }
        assert_eq!((log.counter(Counter::ExtendSkipped), log.counter(Counter::AllocFailures)), (3, 1));
        assert!(log.counter(Counter::FlushesTotal) > 0 && log.counter(Counter::CompactionsTotal) > 0);
        assert_eq!(log.retired_queue_len(), s.retired_queue_len);
    }

    #[test]
    fn writes_below_the_floor_are_refused_by_one_rule() {
        let log: Timelog<u32> = Timelog::with_config(Config {
            maintenance: MaintenanceMode::Disabled,
            min_ts: Some(10),
            ..Config::default()
        })
        .unwrap();
        assert_eq!(log.check_floor(9), Err(crate::Error::BelowFloor { ts: 9, floor: 10 }));
        assert_eq!(log.check_floor(10), Ok(()));
        assert_eq!(log.append(9, 0), Err(crate::Error::BelowFloor { ts: 9, floor: 10 }));
    }
}
