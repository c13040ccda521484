//! Conversions between Python and the engine: timestamps, payloads, errors.

use std::ptr::NonNull;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};
use pyo3::{ffi, Borrowed};

use crate::{TimelogBusyError, TimelogError};

/// A payload: an owned strong reference to a Python object.
///
/// The engine clones payloads when flush and compaction copy records into
/// new segments. Cloning increments the reference count, which needs an
/// attached thread: every thread that clones is attached already (Python
/// callers, or the maintenance worker, which runs each step inside
/// `Python::try_attach`, see `log.rs`), so `attach` here is the cheap
/// nested case.
///
/// Dropping releases the reference at once when the thread is attached,
/// and otherwise queues it in [`deferred`], which the binding drains at its
/// next attached point (the worker's payload scope, the end of every call
/// that released the interpreter). This replaces pyo3's own pool for
/// payloads: the extension is built with `pyo3_disable_reference_pool`
/// (`.cargo/config.toml`), because with the pool every pyo3 entry point —
/// every method call and every `__next__` — locks one process-wide mutex to
/// look for pending releases, which free-threaded readers contend on.
pub struct PyObj(NonNull<ffi::PyObject>);

// SAFETY: a `PyObj` is an owned reference to a Python object, which any
// thread may hold; its reference count is changed only by an attached
// thread (clone, drop) or handed to `deferred` (drop while detached).
unsafe impl Send for PyObj {}
// SAFETY: shared access only reads the pointer (`as_ptr`, `bind`).
unsafe impl Sync for PyObj {}

impl PyObj {
    /// Takes ownership of `obj`'s reference.
    #[inline]
    pub fn new(obj: Py<PyAny>) -> Self {
        PyObj(NonNull::new(obj.into_ptr()).expect("a Py is never null"))
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.0.as_ptr()
    }

    /// The object, borrowed for as long as `self`.
    #[inline]
    pub fn bind<'a, 'py>(&'a self, py: Python<'py>) -> Borrowed<'a, 'py, PyAny> {
        // SAFETY: `self` owns a reference, so the object lives at least as
        // long as the borrow; `py` proves the thread is attached.
        unsafe { Borrowed::from_ptr(py, self.as_ptr()) }
    }
}

impl Clone for PyObj {
    #[inline]
    fn clone(&self) -> Self {
        Python::attach(|_py| {
            // SAFETY: attached (`_py`); `self` keeps the object alive.
            unsafe { ffi::Py_INCREF(self.as_ptr()) };
            PyObj(self.0)
        })
    }
}

impl Drop for PyObj {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: PyGILState_Check only reads this thread's state; it is 1
        // exactly when this thread is attached to the interpreter (we do
        // not support subinterpreters, which disable the check).
        if unsafe { ffi::PyGILState_Check() } == 1 {
            // SAFETY: attached, and we own this reference.
            unsafe { ffi::Py_DECREF(self.as_ptr()) }
        } else {
            deferred::push(self.0);
        }
    }
}

/// Payload references released while detached, waiting for an attached
/// thread. Pushing takes a mutex (rare: payloads are normally released by
/// attached threads); checking for pending work is one load of a flag.
pub mod deferred {
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use pyo3::{ffi, Python};

    struct Queue(Vec<NonNull<ffi::PyObject>>);
    // SAFETY: the queue only moves owned references between threads; they
    // are released by an attached thread in `drain`.
    unsafe impl Send for Queue {}

    static QUEUE: Mutex<Queue> = Mutex::new(Queue(Vec::new()));
    static PENDING: AtomicBool = AtomicBool::new(false);

    pub(super) fn push(p: NonNull<ffi::PyObject>) {
        QUEUE.lock().unwrap_or_else(|e| e.into_inner()).0.push(p);
        PENDING.store(true, Ordering::Release);
    }

    /// Releases every queued reference (a flag load when there is none).
    #[inline]
    pub fn drain(_py: Python<'_>) {
        if !PENDING.load(Ordering::Acquire) {
            return;
        }
        PENDING.store(false, Ordering::Relaxed);
        let refs = std::mem::take(&mut QUEUE.lock().unwrap_or_else(|e| e.into_inner()).0);
        for p in refs {
            // SAFETY: attached (`_py`); each entry is an owned reference
            // moved here by `PyObj::drop`.
            unsafe { ffi::Py_DECREF(p.as_ptr()) }
        }
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
        "timestamp {} is outside int64 range [{}, {}]",
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
            "timestamps are integers in the log's time_unit, got {}; convert it first, e.g. for time_unit='ms': int(dt.timestamp() * 1000) for a datetime dt, int(datetime.datetime.combine(d, datetime.time(), datetime.timezone.utc).timestamp() * 1000) for a date d (a date has no .timestamp())",
            obj.get_type().name()?
        )));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().map_err(|_| overflow(obj));
    }
    if obj.hasattr("__index__")? {
        // operator.index semantics: CPython's own TypeError when __index__
        // returns a non-int ("__index__ returned non-int (type str)").
        // SAFETY: attached (`obj` is bound); PyNumber_Index returns a new
        // reference or NULL with an exception set.
        let i = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyNumber_Index(obj.as_ptr()))? };
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
