//! Errors returned by the engine.

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
    /// `t1 > t2` in a range operation.
    InvalidRange { t1: Timestamp, t2: Timestamp },
    /// A point delete at `i64::MAX` cannot be written as the half-open range `[T, T+1)`.
    Unrepresentable(Timestamp),
    /// A write below the retention floor (`min_ts`).
    BelowFloor { ts: Timestamp, floor: Timestamp },
    /// Two parallel inputs of a bulk write have different lengths.
    LengthMismatch { timestamps: usize, payloads: usize },
    /// `close()` was refused because readers still pin snapshots of the log.
    Pinned(usize),
    /// `validate()` found a broken invariant.
    Corrupt(String),
    /// An argument was out of its domain (e.g. a histogram bucket width `<= 0`).
    InvalidArgument(String),
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
        }
    }
}

impl std::error::Error for Error {}

/// The retention-floor rule of every write: a record at `ts` below `floor`
/// is refused with [`Error::BelowFloor`] (`None`: no floor).
#[inline]
pub fn check_floor(ts: Timestamp, floor: Option<Timestamp>) -> Result<()> {
    match floor {
        Some(floor) if ts < floor => Err(Error::BelowFloor { ts, floor }),
        _ => Ok(()),
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
