//! `stats()` as a dict of sections.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use timelog::{Counter, Timelog};

use crate::convert::PyObj;

/// The `stats()` dict of `log`: the engine's report and configuration.
pub fn to_dict<'py>(py: Python<'py>, log: &Timelog<PyObj>) -> PyResult<Bound<'py, PyDict>> {
    let s = &log.stats().map_err(crate::convert::err)?;
    let cfg = log.config();
    let d = PyDict::new(py);
    let storage = PyDict::new(py);
    storage.set_item("segments_l0", s.segments_l0)?;
    storage.set_item("segments_l1", s.segments_l1)?;
    storage.set_item("pages_total", s.pages_total)?;
    storage.set_item("records_estimate", s.records_estimate)?;
    storage.set_item("min_ts", s.min_ts)?;
    storage.set_item("max_ts", s.max_ts)?;
    storage.set_item("tombstone_count", s.tombstone_count)?;
    d.set_item("storage", storage)?;
    let mem = PyDict::new(py);
    mem.set_item("active_records", s.active_records)?;
    mem.set_item("ooo_records", s.ooo_records)?;
    mem.set_item("sealed_runs", s.sealed_runs)?;
    d.set_item("memtable", mem)?;
    let op = PyDict::new(py);
    op.set_item("seals_total", s.seals_total)?;
    op.set_item("ooo_budget_hits", s.ooo_budget_hits)?;
    op.set_item("backpressure_waits", s.backpressure_waits)?;
    op.set_item("flushes_total", s.flushes_total)?;
    op.set_item("compactions_total", s.compactions_total)?;
    op.set_item("compaction_retries", s.compaction_retries)?;
    op.set_item("compaction_publish_ebusy", s.compaction_publish_ebusy)?;
    op.set_item("busy_events", s.busy_events)?;
    op.set_item("extend_skipped", s.extend_skipped)?;
    op.set_item("retired_queue_len", s.retired_queue_len)?;
    op.set_item("pinned_readers", s.pinned_readers)?;
    op.set_item("alloc_failures", log.counter(Counter::AllocFailures))?;
    d.set_item("operational", op)?;
    let cs = PyDict::new(py);
    // The C package's keys first, with its meaning; then ours.
    cs.set_item("select_calls", s.select_calls)?;
    cs.set_item("select_l0_inputs", s.select_l0_inputs)?;
    cs.set_item("select_l1_inputs", s.select_l1_inputs)?;
    cs.set_item("select_no_work", s.select_no_work)?;
    cs.set_item("window_size", s.window_size)?;
    cs.set_item("window_origin", s.window_origin)?;
    cs.set_item("max_delta_segments", s.max_delta_segments)?;
    cs.set_item("l1_windows", s.l1_windows)?;
    cs.set_item("delete_debt", s.delete_debt)?;
    cs.set_item("delete_debt_threshold", cfg.delete_debt_threshold)?;
    cs.set_item("target_bytes", cfg.compaction.target_bytes)?;
    cs.set_item("max_inputs", cfg.compaction.max_inputs)?;
    cs.set_item("max_windows", cfg.compaction.max_windows)?;
    d.set_item("compaction_selection", cs)?;
    let a = &cfg.adaptive;
    let ad = PyDict::new(py);
    // The C package's keys: the L1 window in use, the density EWMA of
    // flushed runs (records per time unit), flushes observed, and
    // compactions that failed to publish.
    ad.set_item("window", s.window_size)?;
    ad.set_item("ewma_density", s.adaptive_ewma_density)?;
    ad.set_item("flush_count", s.adaptive_flush_count)?;
    ad.set_item("failures", s.adaptive_failures)?;
    ad.set_item("enabled", a.target_records > 0)?;
    // Adaptive window sizing is in effect (the window follows the density).
    ad.set_item("active", a.target_records > 0)?;
    ad.set_item("window_size", s.window_size)?;
    ad.set_item("target_records", a.target_records)?;
    ad.set_item("min_window", a.min_window)?;
    ad.set_item("max_window", a.max_window)?;
    ad.set_item("hysteresis_pct", a.hysteresis_pct)?;
    ad.set_item("window_quantum", a.window_quantum)?;
    ad.set_item("alpha", a.alpha)?;
    ad.set_item("warmup_flushes", a.warmup_flushes)?;
    ad.set_item("stale_flushes", a.stale_flushes)?;
    ad.set_item("failure_backoff_threshold", a.failure_backoff_threshold)?;
    ad.set_item("failure_backoff_pct", a.failure_backoff_pct)?;
    d.set_item("adaptive", ad)?;
    let c = PyDict::new(py);
    c.set_item("time_unit", cfg.time_unit.as_str())?;
    c.set_item("maintenance", cfg.maintenance.as_str())?;
    c.set_item("busy_policy", cfg.busy_policy.as_str())?;
    c.set_item("min_ts", cfg.min_ts)?;
    c.set_item("mostly_ordered_default", cfg.mostly_ordered_default)?;
    d.set_item("config", c)?;
    Ok(d)
}
