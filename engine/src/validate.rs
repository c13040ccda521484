//! `validate()`: the engine's structural invariants, checked on demand.
//!
//! Reads the catalog and the sequencer; called by the facade
//! (`Timelog::validate`) only.

use crate::sync::Arc;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::sequencer::Sequencer;

fn fail<T>(msg: String) -> Result<T> {
    Err(Error::Corrupt(msg))
}

/// Checks the invariants of the catalog's current manifest against the
/// sequencer's watermark; returns the first violation.
pub(crate) fn validate<T: Clone + Send + Sync + 'static>(catalog: &Catalog<T>, seq: &Sequencer) -> Result<()> {
    let m = catalog.load_full();
    let visible = seq.visible();
    if let Some(issued) = catalog.door().issued(&m.active) {
        if visible > issued {
            return fail(format!("visible watermark {visible} is above the last sequence handed out {issued}"));
        }
    }
    // Segments: sorted pages, correct bounds and page capacities.
    for s in m.l0.iter().chain(m.l1.iter()) {
        let mut n = 0;
        let mut prev = i64::MIN;
        for (i, p) in s.pages.iter().enumerate() {
            if p.is_empty() || (i + 1 < s.pages.len() && p.len() != s.page_cap) {
                return fail(format!("segment {} page {i} has {} records (capacity {})", s.id, p.len(), s.page_cap));
            }
            for &ts in p.timestamps() {
                if ts < prev {
                    return fail(format!("segment {} is not sorted at page {i}", s.id));
                }
                prev = ts;
            }
            if p.timestamps().len() != p.payloads().len() {
                return fail(format!("segment {} page {i}: timestamps and payloads differ in length", s.id));
            }
            n += p.len();
        }
        if n != s.len || s.ts_at(0) != s.min_ts || s.ts_at(s.len - 1) != s.max_ts {
            return fail(format!("segment {} length or bounds are stale", s.id));
        }
        if s.tomb_applied > visible || s.seq_hi > visible {
            return fail(format!("segment {} claims sequences above the visible watermark", s.id));
        }
    }
    // L1: windowed, sorted, non-overlapping.
    for w in m.l1.windows(2) {
        if w[0].max_ts >= w[1].min_ts {
            return fail(format!(
                "L1 segments {} [{}, {}] and {} [{}, {}] overlap",
                w[0].id, w[0].min_ts, w[0].max_ts, w[1].id, w[1].min_ts, w[1].max_ts
            ));
        }
    }
    for s in &m.l1 {
        if let Some((a, b)) = s.window {
            if s.min_ts < a || (s.max_ts >= b && b != i64::MAX) {
                return fail(format!("L1 segment {} exceeds its window [{a}, {b})", s.id));
            }
        } else {
            return fail(format!("L1 segment {} has no window", s.id));
        }
    }
    // Age order: L1 < L0 (in order) < sealed (in order) < active.
    let l1_hi = m.l1.iter().map(|s| s.seq_hi).max().unwrap_or(0);
    let mut prev = l1_hi;
    for s in &m.l0 {
        if s.seq_hi < prev {
            return fail(format!("L0 segment {} is older than a segment before it", s.id));
        }
        prev = s.seq_hi;
    }
    for mt in &m.sealed {
        let b = mt.seal_bound();
        if b == u64::MAX || !mt.is_sealed() {
            return fail(format!("sealed memtable {} was published before its drain", mt.id));
        }
        if b < prev {
            return fail(format!("sealed memtable {} has a bound below an older layer", mt.id));
        }
        prev = b;
    }
    if m.sealed.iter().any(|x| Arc::ptr_eq(x, &m.active)) {
        return fail("the active memtable is also listed as sealed".into());
    }
    // Memtable runs: sorted by timestamp with increasing sequences (R3).
    for mt in m.sealed.iter().chain(std::iter::once(&m.active)) {
        let run = &mt.run;
        let n = run.len();
        for i in 1..n {
            if run.ts_at(i) < run.ts_at(i - 1) || run.seq_at(i) <= run.seq_at(i - 1) {
                return fail(format!("memtable {} run out of order at {i}", mt.id));
            }
        }
    }
    Ok(())
}
