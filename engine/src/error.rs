//! Errors returned by the engine.
//!
//! The engine decides every refusal — a closed log, reversed bounds, the
//! retention floor, readers pinning a close, a manual step while the
//! worker runs — and words its message; a binding maps each variant to its
//! language's exception and shows the message as is.

use std::fmt;

use crate::Timestamp;

/// Everything that can go wrong in a call to the engine.
///
/// Every message says what was wrong and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The log was closed; no operation is possible until it is reopened.
    Closed,
    /// A configuration value was rejected. The message names the knob,
    /// states its rule (see [`config::rule`](crate::config::rule)) and
    /// prints the value given; it is shown as is.
    InvalidConfig(String),
    /// `t1 > t2` in a range operation (see [`Bounds::range`](crate::Bounds::range)).
    InvalidRange {
        /// The range's start, as given.
        t1: Timestamp,
        /// The range's end (exclusive), as given: smaller than `t1`.
        t2: Timestamp,
    },
    /// A point delete at `i64::MAX` (the timestamp carried) cannot be
    /// written as the half-open range `[T, T+1)`.
    Unrepresentable(Timestamp),
    /// A write below the retention floor (`min_ts`).
    BelowFloor {
        /// The refused record's timestamp.
        ts: Timestamp,
        /// The retention floor: the smallest timestamp a write may have.
        floor: Timestamp,
    },
    /// Two parallel inputs of a bulk write have different lengths.
    LengthMismatch {
        /// How many timestamps were given.
        timestamps: usize,
        /// How many payloads were given.
        payloads: usize,
    },
    /// `close()` was refused because readers still pin snapshots of the
    /// log (the number of pinned snapshots carried).
    Pinned(usize),
    /// `validate()` found a broken invariant (described by the message).
    Corrupt(String),
    /// An argument was out of its domain (e.g. a histogram bucket width `<= 0`).
    InvalidArgument(String),
    /// [`maint_step`](crate::Timelog::maint_step) was called while the
    /// background worker runs: manual steps are for logs without a worker.
    WorkerRunning,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("Timelog is closed"),
            Error::InvalidConfig(msg) => f.write_str(msg),
            Error::InvalidRange { t1, t2 } => write!(
                f,
                "invalid range: t1={t1} is greater than t2={t2}; ranges are half-open [t1, t2) with t1 <= t2"
            ),
            Error::Unrepresentable(ts) => write!(
                f,
                "cannot delete the single timestamp {ts}: [ts, ts+1) overflows int64; use delete_range(ts, ...) or cutoff instead"
            ),
            Error::BelowFloor { ts, floor } => write!(
                f,
                "timestamp {ts} is below the retention floor min_ts={floor}; write at or after {floor}, or reopen the log with a lower min_ts"
            ),
            Error::LengthMismatch { timestamps, payloads } => write!(
                f,
                "length mismatch: {timestamps} timestamps but {payloads} payloads; pass sequences of equal length"
            ),
            Error::Pinned(n) => write!(
                f,
                "cannot close: {n} reader(s) are pinned to snapshots of this log (iterators, page spans, object views or exported buffers); \
                 close them (it.close(), span.close(), mv.release()), exhaust them or drop them, then call close() again"
            ),
            Error::Corrupt(msg) => write!(f, "invariant violated: {msg}"),
            Error::InvalidArgument(msg) => f.write_str(msg),
            Error::WorkerRunning => f.write_str(
                "maint_step() is for maintenance='disabled': this log's background worker is running; \
                 call flush() or compact() to force work now, or stop_maintenance() first to step by hand",
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
