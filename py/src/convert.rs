//! Conversions between Python and the engine: timestamps, payloads, errors.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::{TimelogBusyError, TimelogError};

/// A payload: a strong reference to a Python object.
///
/// The engine clones payloads when flush and compaction copy records into
/// new segments. Cloning increments the reference count, which needs an
/// attached thread: every thread that clones is attached already (Python
/// callers, or the maintenance worker, which runs each step inside
/// `Python::try_attach`, see `log.rs`), so `attach` here is the cheap
/// nested case.
pub struct PyObj(pub Py<PyAny>);

impl Clone for PyObj {
    #[inline]
    fn clone(&self) -> Self {
        Python::attach(|py| PyObj(self.0.clone_ref(py)))
    }
}

/// Converts any timestamp-like object to an `i64`, with the errors the
/// Python contract lists.
#[inline]
pub fn coerce_ts(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_exact_instance_of::<PyInt>() {
        return obj.extract::<i64>().map_err(|_| overflow(obj));
    }
    coerce_slow(obj)
}

#[cold]
fn overflow(obj: &Bound<'_, PyAny>) -> PyErr {
    PyOverflowError::new_err(format!(
        "timestamp {} is outside the int64 range [{}, {}]",
        obj.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into()),
        i64::MIN,
        i64::MAX
    ))
}

#[cold]
fn coerce_slow(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("timestamp must be an int, bool not allowed (True/False are not timestamps)"));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Err(PyTypeError::new_err(format!(
            "timestamp must be an int, got float {}; convert it with int(x) or use a finer time_unit (e.g. 'us' or 'ns')",
            obj.repr()?
        )));
    }
    let py = obj.py();
    let dt = py.import("datetime")?;
    if obj.is_instance(&dt.getattr("datetime")?)? || obj.is_instance(&dt.getattr("date")?)? {
        return Err(PyTypeError::new_err(format!(
            "timestamps are integers in the log's time_unit, got {}; convert it, e.g. int(dt.timestamp() * 1000) for time_unit='ms'",
            obj.get_type().name()?
        )));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().map_err(|_| overflow(obj));
    }
    if obj.hasattr("__index__")? {
        let i = obj.call_method0("__index__")?;
        return i.extract::<i64>().map_err(|_| overflow(&i));
    }
    Err(PyTypeError::new_err(format!(
        "timestamp must be an int (or an object with __index__, like numpy.int64), got {}",
        obj.get_type().name()?
    )))
}

/// Maps an engine error to the Python exception the contract names.
pub fn err(e: timelog::Error) -> PyErr {
    use timelog::Error as E;
    match e {
        E::Closed => TimelogError::new_err("Timelog is closed"),
        E::Pinned(_) | E::Corrupt(_) => TimelogError::new_err(e.to_string()),
        E::InvalidConfig(_)
        | E::InvalidRange { .. }
        | E::Unrepresentable(_)
        | E::BelowFloor { .. }
        | E::LengthMismatch { .. } => PyValueError::new_err(e.to_string()),
        other => TimelogError::new_err(other.to_string()),
    }
}

pub fn busy() -> PyErr {
    TimelogBusyError::new_err(
        "write accepted, but sealed data is piling up faster than maintenance flushes it; \
         the write WAS committed: do not retry it — slow down, call flush(), or use busy_policy='flush'",
    )
}

/// Turns a write result into `None` or the busy error.
#[inline]
pub fn write_result(r: timelog::Result<timelog::WriteStatus>) -> PyResult<()> {
    match r {
        Ok(timelog::WriteStatus::Ok) => Ok(()),
        Ok(timelog::WriteStatus::Busy) => Err(busy()),
        Err(e) => Err(err(e)),
    }
}
