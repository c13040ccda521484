//! # timelog
//!
//! A lock-free, MVCC, LSM-inspired, in-memory time index: a multimap of
//! `(timestamp: i64, payload: T)` records with snapshot-consistent range
//! and point reads, out-of-order ingest, and sequenced range deletes.
//!
//! ```
//! use timelog::{Config, MaintenanceMode, Order, Timelog};
//!
//! let log: Timelog<&str> = Timelog::with_config(Config {
//!     maintenance: MaintenanceMode::Disabled,
//!     ..Config::default()
//! })?;
//! let _ = log.append(10, "A")?;
//! let _ = log.delete_range(5, 15)?;
//! let _ = log.append(10, "B")?; // later insert at a deleted timestamp: visible
//! let rows: Vec<_> = log.range(0, 20, Order::Asc)?.collect();
//! assert_eq!(rows, vec![(10, "B")]);
//! # Ok::<(), timelog::Error>(())
//! ```
//!
//! ## Layers
//!
//! Writes go to the *active memtable* (an append-only run for in-order
//! records plus a lock-free skiplist for the others). A full memtable is
//! *sealed* by swapping in a fresh one; *flush* turns sealed memtables into
//! immutable L0 segments of pages; *compaction* merges L0 into windowed,
//! non-overlapping L1 segments and drops deleted records physically. The
//! catalogue of all of it — the *manifest* — is immutable and replaced by
//! one atomic compare-and-swap per change. The rules are in
//! `docs/protocol.md` (R1–R10), and the code cites them.
//!
//! # Consistency
//!
//! - Every write (append, bulk write chunk, delete) takes a sequence number
//!   from one counter. The *visible watermark* moves past a sequence only
//!   once every write with a smaller sequence is complete, so what is
//!   visible is always a prefix of the write order.
//! - A [`Snapshot`] is a manifest plus a watermark. It sees exactly the
//!   records and tombstones with a sequence at or below its watermark — no
//!   more, no less — whatever is written, deleted, flushed or compacted
//!   after it was taken. Every cursor, point read and navigation call reads
//!   one snapshot.
//! - A write that returned happens-before every snapshot taken after it
//!   returned (in any thread that synchronizes with the writer): read your
//!   own writes holds. Two concurrent writes are ordered by their sequence.
//! - A delete hides the records whose sequence is smaller than its own; a
//!   record written after the delete is visible even at a deleted timestamp.
//! - Equal timestamps come back in sequence (insertion) order.
//! - A batch written with [`Timelog::extend`] becomes visible in chunks of
//!   about one memtable; each chunk atomically.
//! - `flush` and `compact` change where records live, never what any
//!   snapshot sees.
//!
//! ## Threads
//!
//! `Timelog<T>` is `Send + Sync` for `T: Clone + Send + Sync`; every method
//! takes `&self`. Readers take no lock, never retry and never wait; writers
//! insert without a lock and never wait for readers (a writer may wait a
//! few instructions for an earlier writer's commit, or for a seal it
//! raced). Maintainers (flush, compaction) serialize among themselves.
//!
//! ## Payloads
//!
//! Payloads are stored by value and cloned when flush and compaction copy
//! them into new segments while older snapshots may still read the old
//! ones, so `T: Clone` should be cheap (a reference-counted handle: `Arc`,
//! a Python object reference). They are dropped when the last structure
//! holding them is reclaimed — for deleted records, at the compaction that
//! drops them once no snapshot needs them. A log whose payload type may be
//! shared bitwise (no interior mutability inline: plain data, `Arc`,
//! `String`…) can say so with
//! [`Config::bitwise_payloads`](config::Config::bitwise_payloads) — an
//! `unsafe` promise ([`BitwisePayloads`]) — and its flushes then move the
//! payloads into the segment instead of cloning them (no reference count
//! touched at the flush, none when the memtable goes).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod bounds;
mod catalog;
pub mod config;
pub mod error;
pub mod hooks;
mod maint;
mod manifest;
mod memtable;
mod pin;
mod query;
pub mod segment;
mod sequencer;
pub mod stats;
pub(crate) mod sync;
mod timelog;
mod tombstone;
mod validate;

pub use bounds::Bounds;
pub use config::{
    AdaptiveConfig, BitwisePayloads, BusyPolicy, CompactionConfig, Config, Handle, MaintenanceMode, PayloadTarget,
    TimeUnit,
};
pub use error::{Error, Result};
pub use hooks::{Hooks, Point};
pub use query::cursor::Cursor;
pub use query::histogram::MAX_HISTOGRAM_BUCKETS;
pub use query::snapshot::{Order, PageSpan, Snapshot};
pub use stats::{Counter, Stats};
/// Test-only counting mode of the sync shim (see `docs/threading.md`, "Contention audit").
#[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
pub use sync::audit;
pub use timelog::{ForkGuard, PreparedBatch, Timelog, WriteStatus};
pub use tombstone::Tombstone;

/// Not part of the API (no stability promise): the memtable's out-of-order
/// index on its own, for the benchmark that compares it with
/// crossbeam-skiplist (`benches/benches/skiplist.rs`).
#[doc(hidden)]
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
pub mod bench_internals {
    /// The arena skiplist of a memtable (`memtable/ooo.rs`): insert-only,
    /// keys `(timestamp, sequence)` unique, freed with the index (R6).
    pub struct OooIndex<T>(crate::memtable::ooo::Ooo<T>);

    impl<T> std::fmt::Debug for OooIndex<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("OooIndex").finish_non_exhaustive()
        }
    }

    impl<T: Send + Sync + 'static> Default for OooIndex<T> {
        fn default() -> Self {
            Self(crate::memtable::ooo::Ooo::new())
        }
    }

    impl<T: Send + Sync + 'static> OooIndex<T> {
        /// An empty index.
        pub fn new() -> Self {
            Self::default()
        }
        /// Inserts `v` at `(ts, seq)`; the key must be new.
        pub fn insert(&self, ts: i64, seq: u64, v: T) {
            self.0.insert((ts, seq), v)
        }
        /// Visits `lo <= ts <= hi` ascending until `f` returns false.
        pub fn range<'a>(&'a self, lo: i64, hi: i64, f: impl FnMut(i64, u64, &'a T) -> bool) {
            self.0.range(lo, hi, f)
        }
        /// Visits `lo <= ts <= hi` descending until `f` returns false.
        pub fn range_rev<'a>(&'a self, lo: i64, hi: i64, f: impl FnMut(i64, u64, &'a T) -> bool) {
            self.0.range_rev(lo, hi, f)
        }
        /// Bytes of the arena.
        pub fn bytes(&self) -> usize {
            self.0.bytes()
        }
    }
}

/// A timestamp: a signed 64-bit integer in the log's time unit.
pub type Timestamp = i64;
/// A sequence number: the global order of writes (1, 2, ...; 0 = none).
pub type SeqNo = u64;

/// The examples of the crate's README (`engine/README.md`), compiled and run
/// as doctests (`cargo test --doc -p timelog`); not part of the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
