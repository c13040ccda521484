//! Counters and the `stats()` report.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

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
}

impl Counters {
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
    pub(crate) fn note_flush(&self, run: Option<(usize, Timestamp, Timestamp)>, alpha: f64) {
        self.adaptive_flush_count.fetch_add(1, Relaxed);
        let Some((n, lo, hi)) = run.filter(|r| r.0 > 0) else { return };
        let span = (hi as i128 - lo as i128 + 1) as f64;
        let density = n as f64 / span;
        let old = f64::from_bits(self.adaptive_ewma_bits.load(Relaxed));
        let new = if old == 0.0 { density } else { alpha * density + (1.0 - alpha) * old };
        self.adaptive_ewma_bits.store(new.to_bits(), Relaxed);
    }
}

/// A report of the log's state, as `stats()` returns it. Names follow the
/// Python `stats()` sections (`storage`, `memtable`, `operational`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    // storage
    pub segments_l0: usize,
    pub segments_l1: usize,
    pub pages_total: usize,
    /// Records stored in segments and memtables, before tombstone filtering.
    pub records_estimate: usize,
    pub min_ts: Option<Timestamp>,
    pub max_ts: Option<Timestamp>,
    pub tombstone_count: usize,
    // memtable
    pub active_records: usize,
    pub ooo_records: usize,
    pub sealed_runs: usize,
    // operational
    pub seals_total: u64,
    pub ooo_budget_hits: u64,
    pub backpressure_waits: u64,
    pub flushes_total: u64,
    pub compactions_total: u64,
    pub compaction_retries: u64,
    pub compaction_publish_ebusy: u64,
    pub busy_events: u64,
    pub extend_skipped: u64,
    /// Retired memtables and segments still alive because a snapshot pins them.
    pub retired_queue_len: usize,
    /// Live snapshots (iterators, page spans, explicit snapshots).
    pub pinned_readers: usize,
    // compaction selection
    pub window_size: i64,
    pub window_origin: Timestamp,
    pub max_delta_segments: usize,
    pub delete_debt: f64,
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
    /// Compactions that failed to publish (their inputs changed): the
    /// signal a failure back-off reacts to.
    pub adaptive_failures: u64,
    // sequencing
    pub visible_seq: u64,
    pub manifest_version: u64,
}
