//! Hand-written `METH_FASTCALL` entry points for the per-call hot paths of
//! `Timelog` (`append`, `next_ts`, `prev_ts`, `delete_before`, `cutoff`,
//! `delete_range`).
//!
//! A `#[pymethods]` method goes through pyo3's generic argument parser
//! (`FunctionDescription::extract_arguments_fastcall`, which walks the
//! parameter description and keyword names on every call) and a checked
//! downcast of the receiver. For methods that take one or two positional
//! arguments and are called millions of times per second, that is a large
//! share of the call (see docs/performance.md). These entry points read
//! the vectorcall argument array directly and are installed on the class
//! as ordinary method descriptors ([`install`]), so CPython calls them the
//! way it calls a C extension's methods (`method_vectorcall_FASTCALL_KEYWORDS`,
//! with its own receiver type check).
//!
//! They still run inside pyo3's trampoline (`get_trampoline_function!`):
//! it marks the thread as attached for pyo3 (so dropped `Py` references are
//! released at once, not deferred), turns a Rust panic into a Python
//! exception and restores a returned `PyErr`. Argument errors raise the
//! same `TypeError` texts CPython uses for C functions. The trampoline is
//! reached through `pyo3::impl_` (public but hidden): pyo3 is pinned to
//! 0.28.x (py/Cargo.toml), so a change there shows up as a build error on
//! an upgrade, not silently.

use std::ffi::CStr;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::impl_::trampoline::get_trampoline_function;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use pyo3::Borrowed;

use crate::convert::{coerce_ts, err, write_result, PyObj};
use crate::log::PyTimelog;

type Args = *const *mut ffi::PyObject;

/// The receiver of a method descriptor call.
///
/// # Safety
///
/// `slf` must be the `self` CPython passes to a method descriptor created
/// on `PyTimelog`'s type (see [`install`]): CPython has checked that it is
/// an instance of that type (or a subclass), and it stays alive for the call.
#[inline]
unsafe fn receiver<'a>(py: Python<'_>, slf: *mut ffi::PyObject) -> &'a PyTimelog {
    // SAFETY: per this function's contract `slf` is a live instance of
    // `PyTimelog` (or a subclass) for the whole call; the class is `frozen`,
    // so a shared reference to its Rust value is always allowed.
    unsafe {
        let b: Borrowed<'_, '_, PyAny> = Borrowed::from_ptr(py, slf);
        let b = b.cast_unchecked::<PyTimelog>();
        &*(b.get() as *const PyTimelog)
    }
}

/// Argument `i` of the vectorcall array.
///
/// # Safety
///
/// `i` must be below the number of entries CPython passed (`nargs` plus the
/// keyword values); the array and its objects live for the whole call.
#[inline]
unsafe fn arg<'a, 'py>(py: Python<'py>, args: Args, i: usize) -> Borrowed<'a, 'py, PyAny> {
    // SAFETY: per the contract, `args[i]` is a valid borrowed reference.
    unsafe { Borrowed::from_ptr(py, *args.add(i)) }
}

fn none(py: Python<'_>) -> *mut ffi::PyObject {
    py.None().into_ptr()
}

#[cold]
fn arity(name: &str, want: &str, got: isize) -> PyErr {
    PyTypeError::new_err(format!("{name}() takes {want} positional argument(s) but {got} were given"))
}

#[cold]
fn unexpected_keyword(name: &str, kw: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "{name}() got an unexpected keyword argument {}",
        kw.repr().map(|r| r.to_string()).unwrap_or_default()
    ))
}

/// Whether a keyword name is `ts`.
fn is_ts_keyword(name: &Bound<'_, PyAny>) -> bool {
    name.cast::<PyString>().is_ok_and(|s| s.to_str().is_ok_and(|s| s == "ts"))
}

/// `append(obj)` | `append(obj, ts=T)` | `append(T, obj)`.
unsafe fn append(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: CPython calls this as a method of `PyTimelog` (`install`).
    let log = unsafe { receiver(py, slf) };
    let mut ts = None;
    if !kwnames.is_null() {
        // SAFETY: `kwnames` is the tuple of keyword names of a vectorcall;
        // their values follow the `nargs` positional arguments in `args`.
        let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
        for (i, name) in names.iter().enumerate() {
            if !is_ts_keyword(&name) {
                return Err(unexpected_keyword("append", &name));
            }
            // SAFETY: keyword value `i` sits at `nargs + i` (see above).
            let v = unsafe { arg(py, args, nargs as usize + i) };
            if !v.is_none() {
                ts = Some(v);
            }
        }
    }
    let st = log.state();
    let r = match (nargs, ts) {
        (2, None) => {
            // SAFETY: two positional arguments are present.
            let (t, obj) = unsafe { (arg(py, args, 0), arg(py, args, 1)) };
            st.log.append(coerce_ts(&t)?, PyObj::new(obj.to_owned().unbind()))
        }
        (1, Some(t)) => {
            // SAFETY: one positional argument is present.
            let obj = unsafe { arg(py, args, 0) };
            st.log.append(coerce_ts(&t)?, PyObj::new(obj.to_owned().unbind()))
        }
        (1, None) => {
            // SAFETY: one positional argument is present.
            let obj = unsafe { arg(py, args, 0) };
            st.log.append_now(PyObj::new(obj.to_owned().unbind()))
        }
        (2, Some(_)) => return Err(PyTypeError::new_err(
            "append() takes append(obj), append(obj, ts=T) or append(T, obj), not both a positional timestamp and ts=",
        )),
        (n, _) => return Err(arity("append", "1 or 2", n)),
    };
    write_result(r)?;
    Ok(none(py))
}

/// The single argument `ts` of `next_ts(ts)`, `prev_ts(ts)`,
/// `delete_before(ts)`: positional, or by keyword.
///
/// # Safety
///
/// `args`, `nargs` and `kwnames` are those of a vectorcall.
#[inline]
unsafe fn ts_arg<'a, 'py>(
    py: Python<'py>,
    name: &str,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Borrowed<'a, 'py, PyAny>> {
    if kwnames.is_null() {
        if nargs == 1 {
            // SAFETY: one positional argument is present.
            return Ok(unsafe { arg(py, args, 0) });
        }
        return Err(arity(name, "exactly 1", nargs));
    }
    // SAFETY: a non-null `kwnames` is the tuple of keyword names of this
    // call; their values follow the positional ones.
    let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
    match (nargs, names.len()) {
        (0, 1) => {
            let k = names.get_item(0)?;
            if is_ts_keyword(&k) {
                // SAFETY: the value of keyword 0 follows the 0 positionals.
                Ok(unsafe { arg(py, args, 0) })
            } else {
                Err(unexpected_keyword(name, &k))
            }
        }
        // SAFETY: one positional argument is present (an empty `kwnames`).
        (1, 0) => Ok(unsafe { arg(py, args, 0) }),
        (1, _) => Err(PyTypeError::new_err(format!("{name}() got multiple values for argument 'ts'"))),
        (n, _) => Err(arity(name, "exactly 1", n)),
    }
}

fn opt_ts(py: Python<'_>, r: Option<i64>) -> *mut ffi::PyObject {
    match r {
        // SAFETY: attached (`py`); returns a new reference or NULL with an
        // exception set, which the trampoline reports.
        Some(t) => unsafe { ffi::PyLong_FromLongLong(t) },
        None => none(py),
    }
}

/// The receiver and the converted `ts` argument of `next_ts(ts)`,
/// `prev_ts(ts)` and `delete_before(ts)`.
///
/// # Safety
///
/// As for [`receiver`] and [`ts_arg`]: a vectorcall of a method installed
/// on `PyTimelog`.
#[inline]
unsafe fn log_and_ts<'a>(
    py: Python<'_>,
    name: &str,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<(&'a PyTimelog, i64)> {
    // SAFETY: per this function's contract.
    let (log, t) = unsafe { (receiver(py, slf), ts_arg(py, name, args, nargs, kwnames)?) };
    Ok((log, coerce_ts(&t)?))
}

unsafe fn next_ts(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: a method of `PyTimelog` called through vectorcall (`install`).
    let (log, t) = unsafe { log_and_ts(py, "next_ts", slf, args, nargs, kwnames)? };
    Ok(opt_ts(py, log.state().log.next_ts(t).map_err(err)?))
}

unsafe fn prev_ts(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: a method of `PyTimelog` called through vectorcall (`install`).
    let (log, t) = unsafe { log_and_ts(py, "prev_ts", slf, args, nargs, kwnames)? };
    Ok(opt_ts(py, log.state().log.prev_ts(t).map_err(err)?))
}

unsafe fn delete_before(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: a method of `PyTimelog` called through vectorcall (`install`).
    let (log, t) = unsafe { log_and_ts(py, "delete_before", slf, args, nargs, kwnames)? };
    write_result(log.state().log.delete_before(t))?;
    Ok(none(py))
}

/// `delete_range(t1, t2)`: positional, or by keyword (`t1=`, `t2=`).
unsafe fn delete_range(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    const NAME: &str = "delete_range";
    // SAFETY: a method of `PyTimelog` called through vectorcall (`install`).
    let log = unsafe { receiver(py, slf) };
    if nargs > 2 {
        return Err(arity(NAME, "exactly 2", nargs));
    }
    let mut vals: [Option<Borrowed<'_, '_, PyAny>>; 2] = [None, None];
    for (i, v) in vals.iter_mut().enumerate().take(nargs as usize) {
        // SAFETY: `i < nargs` positional arguments are present.
        *v = Some(unsafe { arg(py, args, i) });
    }
    if !kwnames.is_null() {
        // SAFETY: a non-null `kwnames` is the tuple of keyword names of this
        // call; their values follow the positional ones.
        let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
        for (i, name) in names.iter().enumerate() {
            let slot = match name.cast::<PyString>().ok().and_then(|s| s.to_str().ok().map(str::to_owned)).as_deref() {
                Some("t1") => 0,
                Some("t2") => 1,
                _ => return Err(unexpected_keyword(NAME, &name)),
            };
            if vals[slot].is_some() {
                return Err(PyTypeError::new_err(format!("{NAME}() got multiple values for argument 't{}'", slot + 1)));
            }
            // SAFETY: keyword value `i` sits at `nargs + i`.
            vals[slot] = Some(unsafe { arg(py, args, nargs as usize + i) });
        }
    }
    let [Some(t1), Some(t2)] = vals else {
        let missing = if vals[0].is_none() { "t1" } else { "t2" };
        return Err(PyTypeError::new_err(format!("{NAME}() missing required argument '{missing}'")));
    };
    // `t1 > t2` is the engine's `Error::InvalidRange` (ValueError).
    write_result(log.state().log.delete_range(coerce_ts(&t1)?, coerce_ts(&t2)?))?;
    Ok(none(py))
}

/// Adds the entry points above to `Timelog` as method descriptors.
/// (`cutoff` is `delete_before` under the C package's other name.)
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let ty = py.get_type::<PyTimelog>();
    let methods: [(&'static CStr, ffi::PyCFunctionFastWithKeywords, &'static CStr); 6] = [
        (
            c"append",
            get_trampoline_function!(fastcall_cfunction_with_keywords, append),
            c"append($self, a, b=..., /, *, ts=None)\n--\n\nappend(obj) | append(obj, ts=T) | append(T, obj): appends one record.\n\nappend(obj) stamps it with the current time in the log's time_unit.\n\nRaises: TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; ValueError below the retention floor (min_ts); TimelogBusyError if the write was committed but hit backpressure (busy_policy='raise'): do not retry it; TimelogError if the log is closed.",
        ),
        (
            c"next_ts",
            get_trampoline_function!(fastcall_cfunction_with_keywords, next_ts),
            c"next_ts($self, ts)\n--\n\nThe smallest visible timestamp > ts, or None.\n\nRaises: TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"prev_ts",
            get_trampoline_function!(fastcall_cfunction_with_keywords, prev_ts),
            c"prev_ts($self, ts)\n--\n\nThe largest visible timestamp < ts, or None.\n\nRaises: TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"delete_before",
            get_trampoline_function!(fastcall_cfunction_with_keywords, delete_before),
            c"delete_before($self, ts)\n--\n\nDeletes every record with a timestamp < ts (records written later stay visible).\n\nRaises: TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; TimelogBusyError if the delete was committed but hit backpressure: do not retry it; TimelogError if the log is closed.",
        ),
        (
            c"cutoff",
            get_trampoline_function!(fastcall_cfunction_with_keywords, delete_before),
            c"cutoff($self, ts)\n--\n\nSame as delete_before(ts): deletes every record with a timestamp < ts.\n\nRaises: as delete_before().",
        ),
        (
            c"delete_range",
            get_trampoline_function!(fastcall_cfunction_with_keywords, delete_range),
            c"delete_range($self, t1, t2)\n--\n\nDeletes every record with t1 <= timestamp < t2 (records written later stay visible).\n\nRaises: ValueError if t1 > t2; TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; TimelogBusyError if the delete was committed but hit backpressure: do not retry it; TimelogError if the log is closed.",
        ),
    ];
    for (name, f, doc) in methods {
        // The definition must outlive the type: leak it (once per import).
        let def = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: f },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: doc.as_ptr(),
        }));
        // SAFETY: attached (`py`); `ty` is a live type object and `def`
        // lives forever. PyDescr_NewMethod returns a new reference (or NULL
        // with an exception set, turned into Err by `from_owned_ptr_or_err`).
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(ty.as_ptr().cast::<ffi::PyTypeObject>(), def))?
        };
        ty.setattr(name.to_str().expect("ASCII names"), descr)?;
    }
    Ok(())
}
