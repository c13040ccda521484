//! Maintenance: flush (sealed memtable -> L0) and compaction (L0 -> L1).
//! The background worker loop lives with the log (`timelog.rs`).

pub(crate) mod compact;
pub(crate) mod flush;
