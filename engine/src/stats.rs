//! Counters and the `stats()` report.

use std::sync::atomic::AtomicU64;

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
    /// Records physically stored (segments and memtables), deleted ones
    /// included until a flush or compaction drops them.
    pub records_stored: usize,
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
    // sequencing
    pub visible_seq: u64,
    pub manifest_version: u64,
}
