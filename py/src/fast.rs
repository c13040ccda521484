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
//! The deletes, `append`, `next_ts`/`prev_ts` and the short reads take
//! their common form (exact `int` timestamps) without pyo3's trampoline,
//! see "deletes outside the trampoline", "appends and neighbours outside
//! the trampoline" and "reads outside the trampoline" below; every other
//! call, and every other entry point, runs inside pyo3's trampoline
//! (`get_trampoline_function!`):
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

use timelog::{Bounds, Order};

use crate::convert::{coerce_ts, err, exact_i64, index_i64, interp, slice_fields, write_result, PyObj};
use crate::iter::PyTimelogIter;
use crate::log::PyTimelog;

type Args = *const *mut ffi::PyObject;

// The contracts every `unsafe` below relies on, cited as [vectorcall] and
// [descriptor] in the SAFETY comments:
//
// [vectorcall] CPython's vectorcall convention for `METH_FASTCALL |
//   METH_KEYWORDS` functions (PEP 590; C API "Vectorcall" and
//   `PyCFunctionFastWithKeywords`): `args` holds `nargs` positional
//   arguments followed by one value per entry of `kwnames`, all borrowed
//   references valid for the whole call; `kwnames` is NULL or a tuple of
//   str (the keyword names), also borrowed for the call.
// [descriptor] A method descriptor made by `PyDescr_NewMethod(type, def)`
//   is called through `method_vectorcall_FASTCALL_KEYWORDS`
//   (Objects/descrobject.c), which checks with `descr_check` that `self`
//   is an instance of `type` (or a subclass) before calling us, and the
//   caller holds a reference to `self` for the call.

/// The receiver of a method descriptor call.
///
/// # Safety
///
/// `slf` must be the `self` CPython passes to a method descriptor created
/// on `PyTimelog`'s type (see [`install`]): CPython has checked that it is
/// an instance of that type (or a subclass), and it stays alive for the call.
#[inline]
unsafe fn receiver<'py>(py: Python<'py>, slf: *mut ffi::PyObject) -> &'py PyTimelog {
    // SAFETY: pyo3's `Borrowed::from_ptr` needs a live object pointer and
    // `cast_unchecked` an instance of the target class: by this function's
    // contract ([descriptor]) `slf` is a live instance of `PyTimelog` (or a
    // subclass) for the whole call. The class is `frozen`, so pyo3 allows a
    // shared reference to its Rust value at any time (no borrow flag), and
    // the object outlives the call.
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
    // SAFETY: [vectorcall]: `args[i]` for `i` below the number of entries
    // (this function's contract) is a borrowed reference valid for the call,
    // which `Borrowed` represents without touching the reference count.
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
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn append(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: [descriptor]: installed on `PyTimelog` by `install`.
    let log = unsafe { receiver(py, slf) };
    let mut ts = None;
    if !kwnames.is_null() {
        // SAFETY: [vectorcall]: a non-null `kwnames` is a tuple (of str),
        // borrowed for the call, so the unchecked cast to `PyTuple` holds.
        let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
        for (i, name) in names.iter().enumerate() {
            if !is_ts_keyword(&name) {
                return Err(unexpected_keyword("append", &name));
            }
            // SAFETY: [vectorcall]: keyword value `i` sits at `nargs + i`,
            // `i < len(kwnames)`.
            let v = unsafe { arg(py, args, nargs as usize + i) };
            if !v.is_none() {
                ts = Some(v);
            }
        }
    }
    let st = log.state();
    let r = match (nargs, ts) {
        (2, None) => {
            // SAFETY: [vectorcall]: `nargs == 2`, so `args[0]`, `args[1]` exist.
            let (t, obj) = unsafe { (arg(py, args, 0), arg(py, args, 1)) };
            st.log.append(coerce_ts(&t)?, PyObj::new(obj.to_owned().unbind()))
        }
        (1, Some(t)) => {
            // SAFETY: [vectorcall]: `nargs == 1`, so `args[0]` exists.
            let obj = unsafe { arg(py, args, 0) };
            st.log.append(coerce_ts(&t)?, PyObj::new(obj.to_owned().unbind()))
        }
        (1, None) => {
            // SAFETY: [vectorcall]: `nargs == 1`, so `args[0]` exists.
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
            // SAFETY: [vectorcall]: `nargs == 1`, so `args[0]` exists.
            return Ok(unsafe { arg(py, args, 0) });
        }
        return Err(arity(name, "exactly 1", nargs));
    }
    // SAFETY: [vectorcall]: a non-null `kwnames` is a tuple (of str),
    // borrowed for the call, so the unchecked cast to `PyTuple` holds.
    let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
    match (nargs, names.len()) {
        (0, 1) => {
            let k = names.get_item(0)?;
            if is_ts_keyword(&k) {
                // SAFETY: [vectorcall]: `nargs == 0` and one keyword, whose
                // value is `args[0]`.
                Ok(unsafe { arg(py, args, 0) })
            } else {
                Err(unexpected_keyword(name, &k))
            }
        }
        // SAFETY: [vectorcall]: `nargs == 1`, so `args[0]` exists.
        (1, 0) => Ok(unsafe { arg(py, args, 0) }),
        (1, _) => Err(PyTypeError::new_err(format!("{name}() got multiple values for argument 'ts'"))),
        (n, _) => Err(arity(name, "exactly 1", n)),
    }
}

fn opt_ts(py: Python<'_>, r: Option<i64>) -> *mut ffi::PyObject {
    match r {
        // SAFETY: CPython C API, `PyLong_FromLongLong`: needs an attached
        // thread (`py`); returns a new reference, or NULL with an exception
        // set — both what a `PyCFunction` returns, and the trampoline passes
        // either on to CPython.
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
unsafe fn log_and_ts<'py>(
    py: Python<'py>,
    name: &str,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<(&'py PyTimelog, i64)> {
    // SAFETY: [descriptor] and [vectorcall], as this function's contract
    // requires of its caller.
    let (log, t) = unsafe { (receiver(py, slf), ts_arg(py, name, args, nargs, kwnames)?) };
    Ok((log, coerce_ts(&t)?))
}

/// `next_ts`: the vectorcall entry point.
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn next_ts(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let (log, t) = unsafe { log_and_ts(py, "next_ts", slf, args, nargs, kwnames)? };
    Ok(opt_ts(py, log.state().log.next_ts(t).map_err(err)?))
}

/// `prev_ts`: the vectorcall entry point.
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn prev_ts(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let (log, t) = unsafe { log_and_ts(py, "prev_ts", slf, args, nargs, kwnames)? };
    Ok(opt_ts(py, log.state().log.prev_ts(t).map_err(err)?))
}

/// `delete_before`: the vectorcall entry point.
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn delete_before(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let (log, t) = unsafe { log_and_ts(py, "delete_before", slf, args, nargs, kwnames)? };
    write_result(log.state().log.delete_before(t))?;
    Ok(none(py))
}

/// `delete_range(t1, t2)`: positional, or by keyword (`t1=`, `t2=`).
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn delete_range(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    const NAME: &str = "delete_range";
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let log = unsafe { receiver(py, slf) };
    // SAFETY: [vectorcall], as this function's contract states.
    let [t1, t2] = unsafe { collect_args(py, NAME, ["t1", "t2"], 2, args, nargs, kwnames)? };
    let t1 = t1.ok_or_else(|| missing(NAME, "t1"))?;
    let t2 = t2.ok_or_else(|| missing(NAME, "t2"))?;
    // `t1 > t2` is the engine's `Error::InvalidRange` (ValueError).
    write_result(log.state().log.delete_range(coerce_ts(&t1)?, coerce_ts(&t2)?))?;
    Ok(none(py))
}

// ----- deletes outside the trampoline ---------------------------------------
//
// `delete_before`, `cutoff` and `delete_range` are called in loops whose
// per-call cost is mostly fixed overhead (issue 10 item 4). Their common
// form — positional exact `int` arguments in int64 range — is handled by
// plain `extern "C"` entry points that do not enter pyo3's trampoline (two
// thread-local accesses for pyo3's attach count, through `__tls_get_addr`
// in a shared library, and the panic trap: about 70 of the call's
// instructions). Only raw C API calls and the engine run there: no
// `Py`/`Bound` is created or dropped, so pyo3's attach count is not needed
// (payloads the engine may drop are `PyObj`, whose drop asks CPython with
// `PyGILState_Check`, not pyo3). Everything else — keywords, other
// argument counts, non-`int` or out-of-range timestamps — goes to the
// trampolined entry points above, unchanged; an engine error or a busy
// status is raised, and a panic turned into pyo3's `PanicException`,
// inside `Python::attach` (cold).

/// Runs a write (a delete or an append) of the fast path and converts its
/// result: `None` on success; otherwise the exception is set and NULL
/// returned.
#[inline]
fn run_delete(f: impl FnOnce() -> timelog::Result<timelog::WriteStatus>) -> *mut ffi::PyObject {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(timelog::WriteStatus::Ok)) => {
            // SAFETY: C API: `Py_None` is the (immortal) `None`; returning it
            // needs a new reference, which `Py_INCREF` takes (the thread is
            // attached: a method call; pyo3-ffi's inline form of the
            // header's, which leaves an immortal count alone).
            unsafe {
                let none = ffi::Py_None();
                ffi::Py_INCREF(none);
                none
            }
        }
        Ok(r) => raise_write(r),
        Err(payload) => raise_panic(payload),
    }
}

#[cold]
#[inline(never)]
fn raise_write(r: timelog::Result<timelog::WriteStatus>) -> *mut ffi::PyObject {
    Python::attach(|py| match write_result(r) {
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
        Ok(()) => none(py),
    })
}

#[cold]
#[inline(never)]
fn raise_panic(payload: Box<dyn std::any::Any + Send>) -> *mut ffi::PyObject {
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic from Rust code".to_string());
    Python::attach(|py| pyo3::panic::PanicException::new_err((msg,)).restore(py));
    std::ptr::null_mut()
}

/// `delete_before(ts)` and `cutoff(ts)`: positional exact `int` here, any
/// other call through the trampolined [`delete_before`].
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe extern "C" fn delete_before_entry(
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    if kwnames.is_null() && nargs == 1 {
        // SAFETY: [vectorcall]: `nargs == 1`, so `args[0]` exists and is live.
        if let Some(t) = unsafe { exact_i64(*args) } {
            // SAFETY: pyo3's `assume_attached` contract: CPython calls a
            // method with the thread attached. [descriptor]: `slf` is a
            // live `PyTimelog`.
            let log = unsafe { receiver(Python::assume_attached(), slf) };
            return run_delete(|| log.state().log.delete_before(t));
        }
    }
    let slow: ffi::PyCFunctionFastWithKeywords =
        get_trampoline_function!(fastcall_cfunction_with_keywords, delete_before);
    // SAFETY: the same vectorcall, passed on unchanged ([descriptor],
    // [vectorcall] hold for it as they did for us).
    unsafe { slow(slf, args, nargs, kwnames) }
}

/// `delete_range(t1, t2)`: positional exact `int`s here, any other call
/// through the trampolined [`delete_range`].
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe extern "C" fn delete_range_entry(
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    if kwnames.is_null() && nargs == 2 {
        // SAFETY: [vectorcall]: `nargs == 2`, so `args[0]` and `args[1]`
        // exist and are live.
        if let (Some(t1), Some(t2)) = unsafe { (exact_i64(*args), exact_i64(*args.add(1))) } {
            // SAFETY: as in `delete_before_entry`.
            let log = unsafe { receiver(Python::assume_attached(), slf) };
            // `t1 > t2` is the engine's `Error::InvalidRange` (ValueError).
            return run_delete(|| log.state().log.delete_range(t1, t2));
        }
    }
    let slow: ffi::PyCFunctionFastWithKeywords =
        get_trampoline_function!(fastcall_cfunction_with_keywords, delete_range);
    // SAFETY: the same vectorcall, passed on unchanged.
    unsafe { slow(slf, args, nargs, kwnames) }
}

// ----- appends and neighbours outside the trampoline (session 7) ----------
//
// `append` is the per-row write (issue 13 item 7) and `next_ts`/`prev_ts`
// are one-value reads called in loops: as for the deletes above, their
// common forms are handled by plain `extern "C"` entry points — `append(obj)`,
// `append(T, obj)` and `append(obj, ts=T)` with `T` an exact `int` in int64
// range, and `next_ts(T)`/`prev_ts(T)` with a positional one. Every other
// call (`ts=None`, other keywords or counts, non-`int` or out-of-range
// timestamps) goes to the trampolined entry points, unchanged. What runs
// here is what runs for the deletes — raw C API calls and the engine —
// plus, for `append`, a `Py_INCREF` of the payload, whose reference is
// then owned by a `PyObj` (no `Py` is dropped). The write's `after_write`
// (sealing, a `busy_policy='flush'` writer step, backpressure) uses only
// the engine's hooks, which go through `convert::interp` and `deferred`
// (the thread's own state, not pyo3's attach count); a payload the engine
// drops (an error after the payload was taken: closed log, below floor) is
// a `PyObj`, released through `interp::decref` (exit-safe). An engine error,
// a busy status and a panic are raised inside `Python::attach` (cold).

/// Whether the keyword names of a vectorcall are exactly `("ts",)`.
///
/// # Safety
///
/// `kwnames` is a vectorcall's non-null `kwnames` ([vectorcall]), on an
/// attached thread.
#[inline]
unsafe fn only_ts_keyword(kwnames: *mut ffi::PyObject) -> bool {
    // SAFETY: [vectorcall]: `kwnames` is a tuple of str, borrowed for the
    // call; `PyTuple_GET_SIZE`/`PyTuple_GET_ITEM` read a live tuple (item 0
    // exists when the size is 1). `PyUnicode_CompareWithASCIIString` takes
    // a str and a NUL-terminated ASCII string and raises no exception (C
    // API docs); the exact-str check before it guards the type.
    unsafe {
        if ffi::PyTuple_GET_SIZE(kwnames) != 1 {
            return false;
        }
        let k = ffi::PyTuple_GET_ITEM(kwnames, 0);
        ffi::PyUnicode_CheckExact(k) != 0 && ffi::PyUnicode_CompareWithASCIIString(k, c"ts".as_ptr()) == 0
    }
}

/// `append` of the fast path: `obj` and its timestamp (`None`: now).
///
/// # Safety
///
/// Called from [`append_entry`]: attached, [descriptor] holds for `slf`,
/// `obj` is a live object borrowed for the call.
#[inline]
unsafe fn run_append(slf: *mut ffi::PyObject, obj: *mut ffi::PyObject, ts: Option<i64>) -> *mut ffi::PyObject {
    run_delete(|| {
        // SAFETY: pyo3's `assume_attached` contract: CPython calls a method
        // with the thread attached. [descriptor]: `slf` is a live
        // `PyTimelog`. `Borrowed::from_ptr`: `obj` is live for the call;
        // `to_owned` takes a new reference (Py_INCREF), which the `PyObj`
        // owns from here on.
        let (log, obj) = unsafe {
            let py = Python::assume_attached();
            (receiver(py, slf), PyObj::new(Borrowed::from_ptr(py, obj).to_owned().unbind()))
        };
        let log = &log.state().log;
        match ts {
            Some(t) => log.append(t, obj),
            None => log.append_now(obj),
        }
    })
}

/// `append(obj)`, `append(T, obj)`, `append(obj, ts=T)` with `T` an exact
/// `int` in int64 range here, and `append(T, obj)` with an `__index__`
/// `T` ([`index_i64`]); any other call through the trampolined
/// [`append`].
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe extern "C" fn append_entry(
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    if kwnames.is_null() {
        if nargs == 1 {
            // SAFETY: [vectorcall]: `nargs == 1`, so `args[0]` exists and is
            // live; [descriptor] for `slf`; attached (a method call).
            return unsafe { run_append(slf, *args, None) };
        }
        if nargs == 2 {
            // SAFETY: [vectorcall]: `nargs == 2`, so `args[0]` and `args[1]`
            // exist and are live; attached (a method call).
            if let Some(t) = unsafe { exact_i64(*args) } {
                // SAFETY: as above; [descriptor] for `slf`.
                return unsafe { run_append(slf, *args.add(1), Some(t)) };
            }
            // SAFETY: as above: `args[0]` is live, attached.
            match unsafe { index_i64(*args) } {
                // SAFETY: as above; [descriptor] for `slf`.
                Some(Ok(t)) => return unsafe { run_append(slf, *args.add(1), Some(t)) },
                Some(Err(())) => return std::ptr::null_mut(),
                None => {}
            }
        }
    } else if nargs == 1 {
        // SAFETY: [vectorcall]: a non-null `kwnames`; with one name, its
        // value is `args[1]` (after the one positional `args[0]`), both live;
        // attached (a method call).
        unsafe {
            if only_ts_keyword(kwnames) {
                if let Some(t) = exact_i64(*args.add(1)) {
                    // [descriptor] for `slf`.
                    return run_append(slf, *args, Some(t));
                }
            }
        }
    }
    let slow: ffi::PyCFunctionFastWithKeywords = get_trampoline_function!(fastcall_cfunction_with_keywords, append);
    // SAFETY: the same vectorcall, passed on unchanged ([descriptor],
    // [vectorcall] hold for it as they did for us).
    unsafe { slow(slf, args, nargs, kwnames) }
}

/// `next_ts(T)` / `prev_ts(T)` of the fast path: the timestamp as a new
/// `int` or `None`, or NULL with the exception set.
///
/// # Safety
///
/// Called from [`next_ts_entry`] / [`prev_ts_entry`]: attached,
/// [descriptor] holds for `slf`.
#[inline]
unsafe fn neighbour_entry(
    slf: *mut ffi::PyObject,
    f: impl FnOnce(&timelog::Timelog<PyObj>) -> timelog::Result<Option<i64>>,
) -> *mut ffi::PyObject {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: as in `delete_before_entry`.
        let log = unsafe { receiver(Python::assume_attached(), slf) };
        f(&log.state().log)
    }));
    match r {
        // SAFETY: CPython C API, `PyLong_FromLongLong`: attached (a method
        // call); returns a new reference, or NULL with an exception set —
        // both what a `PyCFunction` returns.
        Ok(Ok(Some(t))) => unsafe { ffi::PyLong_FromLongLong(t) },
        // SAFETY: C API: `Py_None` is the (immortal) `None`; returning it
        // needs a new reference, which `Py_INCREF` takes (attached).
        Ok(Ok(None)) => unsafe {
            let none = ffi::Py_None();
            ffi::Py_INCREF(none);
            none
        },
        Ok(Err(e)) => raise_read(ReadFail::Engine(e)),
        Err(payload) => raise_panic(payload),
    }
}

/// Defines a raw entry point for a method whose common call is one
/// positional exact `int`: that call runs `$fast` (with `$t` the
/// timestamp) outside pyo3's trampoline; every other call goes to the
/// trampolined `$slow`, unchanged (the pattern of "reads outside the
/// trampoline" and of the deletes).
macro_rules! one_ts_entry {
    ($(#[$doc:meta])* $name:ident, $slow:ident, |$slf:ident, $t:ident| $fast:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// Called only by CPython, through the method descriptor the
        /// module's init creates: [descriptor] and [vectorcall] hold for its
        /// arguments.
        unsafe extern "C" fn $name(
            $slf: *mut ffi::PyObject,
            args: Args,
            nargs: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: [vectorcall]; attached (a method call).
            if let Some($t) = unsafe { one_exact_i64(args, nargs, kwnames) } {
                // SAFETY: [descriptor], attached: a method call.
                return unsafe { $fast };
            }
            let slow: ffi::PyCFunctionFastWithKeywords =
                get_trampoline_function!(fastcall_cfunction_with_keywords, $slow);
            // SAFETY: the same vectorcall, passed on unchanged.
            unsafe { slow($slf, args, nargs, kwnames) }
        }
    };
}

one_ts_entry! {
    /// `next_ts(T)`: a positional exact `int` here, any other call through the
    /// trampolined [`next_ts`].
    next_ts_entry, next_ts, |slf, t| neighbour_entry(slf, |log| log.next_ts(t))
}

one_ts_entry! {
    /// `prev_ts(T)`: a positional exact `int` here, any other call through the
    /// trampolined [`prev_ts`].
    prev_ts_entry, prev_ts, |slf, t| neighbour_entry(slf, |log| log.prev_ts(t))
}

/// Adds the entry points above to `Timelog` as method descriptors.
/// (`cutoff` is `delete_before` under the C package's other name.)
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let methods: [(&'static CStr, ffi::PyCFunctionFastWithKeywords, &'static CStr); 6] = [
        (
            c"append",
            append_entry,
            c"append($self, a, b=..., /, *, ts=None)\n--\n\nappend(obj) | append(obj, ts=T) | append(T, obj): appends one record.\n\nappend(obj) stamps it with the current time in the log's time_unit.\n\nRaises: TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; ValueError below the retention floor (min_ts); TimelogBusyError if the write was committed but hit backpressure (busy_policy='raise'): do not retry it; TimelogError if the log is closed.",
        ),
        (
            c"next_ts",
            next_ts_entry,
            c"next_ts($self, ts)\n--\n\nThe smallest visible timestamp > ts, or None.\n\nRaises: TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"prev_ts",
            prev_ts_entry,
            c"prev_ts($self, ts)\n--\n\nThe largest visible timestamp < ts, or None.\n\nRaises: TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"delete_before",
            delete_before_entry,
            c"delete_before($self, ts)\n--\n\nDeletes every record with a timestamp < ts (records written later stay visible).\n\nRaises: TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; TimelogBusyError if the delete was committed but hit backpressure: do not retry it; TimelogError if the log is closed.",
        ),
        (
            c"cutoff",
            delete_before_entry,
            c"cutoff($self, ts)\n--\n\nSame as delete_before(ts): deletes every record with a timestamp < ts.\n\nRaises: as delete_before().",
        ),
        (
            c"delete_range",
            delete_range_entry,
            c"delete_range($self, t1, t2)\n--\n\nDeletes every record with t1 <= timestamp < t2 (records written later stay visible).\n\nRaises: ValueError if t1 > t2; TypeError if a timestamp is not an int (or __index__ object); OverflowError outside int64; TimelogBusyError if the delete was committed but hit backpressure: do not retry it; TimelogError if the log is closed.",
        ),
    ];
    add_methods(py, methods)
}

/// Installs `methods` on `Timelog` as `METH_FASTCALL | METH_KEYWORDS`
/// method descriptors.
fn add_methods<const N: usize>(
    py: Python<'_>,
    methods: [(&'static CStr, ffi::PyCFunctionFastWithKeywords, &'static CStr); N],
) -> PyResult<()> {
    let ty = py.get_type::<PyTimelog>();
    for (name, f, doc) in methods {
        // The definition must outlive the type: leak it (once per import).
        let def = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: f },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: doc.as_ptr(),
        }));
        // SAFETY: CPython C API, `PyDescr_NewMethod(type, def)`: needs an
        // attached thread (`py`), a live type object (`ty`) and a
        // `PyMethodDef` that outlives the descriptor (`def` is leaked, so it
        // lives forever); returns a new reference, or NULL with an exception
        // set, which `from_owned_ptr_or_err` takes over or turns into `Err`.
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(ty.as_ptr().cast::<ffi::PyTypeObject>(), def))?
        };
        ty.setattr(name.to_str().expect("ASCII names"), descr)?;
    }
    Ok(())
}

// ----- reads (issue 13 item 4) ----------------------------------------------
//
// `range`, `point`/`equal`, `since`, `until`, `all` and `at` through the same
// vectorcall entry points: they took pyo3's generic argument parser (and its
// keyword-only `reverse` handling) on every short read.

/// Collects a vectorcall's arguments into `slots` by position, then by
/// keyword (`names[i]` is the keyword of slot `i`; slots at or beyond
/// `npos` are keyword-only).
///
/// # Safety
///
/// `args`, `nargs` and `kwnames` are those of a vectorcall ([vectorcall]).
unsafe fn collect_args<'a, 'py, const N: usize>(
    py: Python<'py>,
    fname: &str,
    names: [&str; N],
    npos: usize,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<[Option<Borrowed<'a, 'py, PyAny>>; N]> {
    let mut vals: [Option<Borrowed<'a, 'py, PyAny>>; N] = [None; N];
    if nargs as usize > npos {
        let want = match npos {
            0 => "no".to_owned(),
            n if n == N => format!("exactly {n}"),
            n => format!("at most {n}"),
        };
        return Err(arity(fname, &want, nargs));
    }
    for (i, v) in vals.iter_mut().enumerate().take(nargs as usize) {
        // SAFETY: [vectorcall]: `i < nargs`, so `args[i]` exists.
        *v = Some(unsafe { arg(py, args, i) });
    }
    if !kwnames.is_null() {
        // SAFETY: [vectorcall]: a non-null `kwnames` is a tuple (of str),
        // borrowed for the call, so the unchecked cast to `PyTuple` holds.
        let kws = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
        for (i, name) in kws.iter().enumerate() {
            let key = name.cast::<PyString>().ok().and_then(|s| s.to_str().ok().map(str::to_owned));
            let Some(slot) = key.as_deref().and_then(|k| names.iter().position(|n| *n == k)) else {
                return Err(unexpected_keyword(fname, &name));
            };
            if vals[slot].is_some() {
                return Err(PyTypeError::new_err(format!(
                    "{fname}() got multiple values for argument '{}'",
                    names[slot]
                )));
            }
            // SAFETY: [vectorcall]: keyword value `i` sits at `nargs + i`,
            // `i < len(kwnames)`.
            vals[slot] = Some(unsafe { arg(py, args, nargs as usize + i) });
        }
    }
    Ok(vals)
}

#[cold]
fn missing(fname: &str, name: &str) -> PyErr {
    PyTypeError::new_err(format!("{fname}() missing required argument '{name}'"))
}

/// A new `TimelogIter` over `b` in `order`, as a new reference.
fn new_iter(py: Python<'_>, log: &PyTimelog, b: Bounds, order: Order) -> PyResult<*mut ffi::PyObject> {
    let snap = log.state().log.snapshot().map_err(err)?;
    PyTimelogIter::new(snap, b.lo, b.hi, order, log.gc_link(py)).into_object(py)
}

/// `range(t1, t2, *, reverse=False)`: the vectorcall entry point.
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install_reads`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn range(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    const NAME: &str = "range";
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install_reads` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let log = unsafe { receiver(py, slf) };
    let (t1, t2, reverse) = if kwnames.is_null() && nargs == 2 {
        // SAFETY: [vectorcall]: `nargs == 2`, so `args[0]`, `args[1]` exist.
        unsafe { (arg(py, args, 0), arg(py, args, 1), None) }
    } else {
        // SAFETY: [vectorcall], as this function's contract states.
        let [t1, t2, rev] = unsafe { collect_args(py, NAME, ["t1", "t2", "reverse"], 2, args, nargs, kwnames)? };
        (t1.ok_or_else(|| missing(NAME, "t1"))?, t2.ok_or_else(|| missing(NAME, "t2"))?, rev)
    };
    let order = order_arg(NAME, reverse)?;
    new_iter(py, log, Bounds::range(coerce_ts(&t1)?, coerce_ts(&t2)?).map_err(err)?, order)
}

/// The order a `reverse=` keyword asks for (absent: ascending), with
/// pyo3's `bool` extraction, as the `#[pymethods]` signatures had.
fn order_arg(fname: &str, reverse: Option<Borrowed<'_, '_, PyAny>>) -> PyResult<Order> {
    let Some(r) = reverse else { return Ok(Order::Asc) };
    // Settled before it is formatted: printing a lazy error would detach
    // and re-attach (`interp::settled`).
    let rev = r
        .extract::<bool>()
        .map_err(|e| PyTypeError::new_err(format!("{fname}() argument 'reverse': {}", interp::settled(r.py(), e))))?;
    Ok(if rev { Order::Desc } else { Order::Asc })
}

/// `since(ts, *, reverse=False)` and `until(ts, *, reverse=False)`: the
/// arguments, collected and converted.
///
/// # Safety
///
/// `args`, `nargs` and `kwnames` are those of a vectorcall ([vectorcall]).
unsafe fn ts_and_order(
    py: Python<'_>,
    fname: &str,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<(i64, Order)> {
    // SAFETY: [vectorcall], as this function's contract states.
    let [ts, rev] = unsafe { collect_args(py, fname, ["ts", "reverse"], 1, args, nargs, kwnames)? };
    let ts = ts.ok_or_else(|| missing(fname, "ts"))?;
    Ok((coerce_ts(&ts)?, order_arg(fname, rev)?))
}

/// `since` / `until` (`name`): one timestamp and `reverse=`, read as the
/// iterator over `bounds(ts)`.
///
/// # Safety
///
/// As [`since`]: [descriptor] and [vectorcall] hold for the arguments.
unsafe fn half_open(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    name: &str,
    bounds: fn(i64) -> Bounds,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install_reads` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let (log, (t, order)) = unsafe { (receiver(py, slf), ts_and_order(py, name, args, nargs, kwnames)?) };
    new_iter(py, log, bounds(t), order)
}

/// `since(ts, *, reverse=False)`: the vectorcall entry point.
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install_reads`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn since(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: this function's contract, passed on.
    unsafe { half_open(py, slf, args, nargs, kwnames, "since", Bounds::since) }
}

/// `until(ts, *, reverse=False)`: the vectorcall entry point.
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install_reads`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn until(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: this function's contract, passed on.
    unsafe { half_open(py, slf, args, nargs, kwnames, "until", Bounds::until) }
}

/// `all(*, reverse=False)`: the vectorcall entry point.
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install_reads`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn all(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install_reads` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let log = unsafe { receiver(py, slf) };
    // SAFETY: [vectorcall], as this function's contract states.
    let [rev] = unsafe { collect_args(py, "all", ["reverse"], 0, args, nargs, kwnames)? };
    new_iter(py, log, Bounds::ALL, order_arg("all", rev)?)
}

/// `point(ts)` / `equal(ts)`: the vectorcall entry point.
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install_reads`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn point(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install_reads` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let (log, t) = unsafe { log_and_ts(py, "point", slf, args, nargs, kwnames)? };
    new_iter(py, log, Bounds::point(t), Order::Asc)
}

/// `at(ts)`: the objects at `ts`, in insertion order (a new list).
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install_reads`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe fn at(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: [descriptor] and [vectorcall]: installed on `PyTimelog` by
    // `install_reads` as a `METH_FASTCALL | METH_KEYWORDS` method.
    let (log, t) = unsafe { log_and_ts(py, "at", slf, args, nargs, kwnames)? };
    Ok(log.points(py, t)?.into_ptr())
}

// ----- reads outside the trampoline (session 7) -----------------------------
//
// A short read (`for r in log.point(k)`, `log.range(k, k + 10)`) pays a
// fixed cost per call; pyo3's trampoline is part of it (two thread-local
// accesses for pyo3's attach count, through `__tls_get_addr` in a shared
// library, and the panic trap). As for the deletes above, the common form
// — positional exact `int` timestamps in int64 range (and, for `range`,
// `t1 <= t2`) — is handled by plain `extern "C"` entry points; every other
// call goes to the trampolined entry points, unchanged. What runs there:
// the engine (its snapshot and plan; payloads it may drop are `PyObj`,
// released through `interp`), `PyTimelogIter::into_object` for the
// iterator (a kept object reinitialized through the C API, or pyo3's
// `Bound::new`: `tp_alloc` of the class and a write of its contents; it
// drops no `Py`), a `Py_INCREF` of the collector link (`Gc::link`, held as
// a `PyObj`), and `Bound::into_ptr`. No `Py`/`PyErr` is dropped or
// restored outside `Python::attach`: an engine error (closed log), a failed
// allocation and a panic are raised inside it (cold).

/// Why a read of the fast path did not return an iterator.
enum ReadFail {
    Engine(timelog::Error),
    Py(PyErr),
}

#[cold]
#[inline(never)]
fn raise_read(f: ReadFail) -> *mut ffi::PyObject {
    Python::attach(|py| {
        match f {
            ReadFail::Engine(e) => err(e).restore(py),
            ReadFail::Py(e) => e.restore(py),
        }
        std::ptr::null_mut()
    })
}

/// A new `TimelogIter` over `b` in `order`: the new reference, or NULL
/// with the exception set (see "reads outside the trampoline").
///
/// # Safety
///
/// Called from an entry point CPython called as a method of `PyTimelog`:
/// the thread is attached and [descriptor] holds for `slf`.
#[inline]
unsafe fn iter_entry(slf: *mut ffi::PyObject, b: Bounds, order: Order) -> *mut ffi::PyObject {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: pyo3's `assume_attached` contract: CPython calls a method
        // with the thread attached. [descriptor]: `slf` is a live
        // `PyTimelog` for the call (this function's contract).
        let (py, log) = unsafe {
            let py = Python::assume_attached();
            (py, receiver(py, slf))
        };
        let snap = log.state().log.snapshot().map_err(ReadFail::Engine)?;
        PyTimelogIter::new(snap, b.lo, b.hi, order, log.gc_link(py)).into_object(py).map_err(ReadFail::Py)
    }));
    match r {
        Ok(Ok(p)) => p,
        Ok(Err(f)) => raise_read(f),
        Err(payload) => raise_panic(payload),
    }
}

/// The one positional exact `int` argument of a vectorcall in int64 range,
/// if that is how it was called.
///
/// # Safety
///
/// `args`, `nargs` and `kwnames` are those of a vectorcall ([vectorcall]),
/// on an attached thread.
#[inline]
unsafe fn one_exact_i64(args: Args, nargs: ffi::Py_ssize_t, kwnames: *mut ffi::PyObject) -> Option<i64> {
    if kwnames.is_null() && nargs == 1 {
        // SAFETY: [vectorcall]: `nargs == 1`, so `args[0]` exists and is live.
        unsafe { exact_i64(*args) }
    } else {
        None
    }
}

/// `range(t1, t2)`: positional exact `int`s with `t1 <= t2` here, any other
/// call through the trampolined [`range`].
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install_reads`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe extern "C" fn range_entry(
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    if kwnames.is_null() && nargs == 2 {
        // SAFETY: [vectorcall]: `nargs == 2`, so `args[0]` and `args[1]`
        // exist and are live.
        if let (Some(t1), Some(t2)) = unsafe { (exact_i64(*args), exact_i64(*args.add(1))) } {
            if let Ok(b) = Bounds::range(t1, t2) {
                // SAFETY: [descriptor], attached: a method call.
                return unsafe { iter_entry(slf, b, Order::Asc) };
            }
        }
    }
    let slow: ffi::PyCFunctionFastWithKeywords = get_trampoline_function!(fastcall_cfunction_with_keywords, range);
    // SAFETY: the same vectorcall, passed on unchanged ([descriptor],
    // [vectorcall] hold for it as they did for us).
    unsafe { slow(slf, args, nargs, kwnames) }
}

one_ts_entry! {
    /// `point(ts)` / `equal(ts)`: a positional exact `int` here, any other call
    /// through the trampolined [`point`].
    point_entry, point, |slf, t| iter_entry(slf, Bounds::point(t), Order::Asc)
}

one_ts_entry! {
    /// `since(ts)`: a positional exact `int` here, any other call (`reverse=`
    /// included) through the trampolined [`since`].
    since_entry, since, |slf, t| iter_entry(slf, Bounds::since(t), Order::Asc)
}

one_ts_entry! {
    /// `until(ts)`: a positional exact `int` here, any other call (`reverse=`
    /// included) through the trampolined [`until`].
    until_entry, until, |slf, t| iter_entry(slf, Bounds::until(t), Order::Asc)
}

/// `all()`: no arguments here, any other call (`reverse=` included)
/// through the trampolined [`all`].
///
/// # Safety
///
/// Called only by CPython, through the method descriptor [`install_reads`]
/// creates: [descriptor] and [vectorcall] hold for its arguments.
unsafe extern "C" fn all_entry(
    slf: *mut ffi::PyObject,
    args: Args,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    if kwnames.is_null() && nargs == 0 {
        // SAFETY: [descriptor], attached: a method call.
        return unsafe { iter_entry(slf, Bounds::ALL, Order::Asc) };
    }
    let slow: ffi::PyCFunctionFastWithKeywords = get_trampoline_function!(fastcall_cfunction_with_keywords, all);
    // SAFETY: the same vectorcall, passed on unchanged.
    unsafe { slow(slf, args, nargs, kwnames) }
}

/// Adds the read entry points above to `Timelog` as method descriptors,
/// replacing the `#[pymethods]` ones of the same names (same behaviour,
/// same documentation).
pub(crate) fn install_reads(py: Python<'_>) -> PyResult<()> {
    let methods: [(&'static CStr, ffi::PyCFunctionFastWithKeywords, &'static CStr); 7] = [
        (
            c"range",
            range_entry,
            c"range($self, t1, t2, *, reverse=False)\n--\n\nIterator over the records in [t1, t2), ascending (`reverse=True`: descending).\n\nThe iterator reads one snapshot: the writes committed before this call.\n\nRaises: ValueError if t1 > t2; TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"point",
            point_entry,
            c"point($self, ts)\n--\n\nIterator over the records at exactly `ts`, in insertion order.\n\nRaises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"equal",
            point_entry,
            c"equal($self, ts)\n--\n\nSame as point(ts): iterator over the records at exactly `ts`.\n\nRaises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"since",
            since_entry,
            c"since($self, ts, *, reverse=False)\n--\n\nIterator over the records with a timestamp >= ts (`reverse=True`: descending).\n\nRaises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"until",
            until_entry,
            c"until($self, ts, *, reverse=False)\n--\n\nIterator over the records with a timestamp < ts (`reverse=True`: descending).\n\nRaises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
        (
            c"all",
            all_entry,
            c"all($self, *, reverse=False)\n--\n\nIterator over every record, ascending (`reverse=True`: descending).\n\nRaises: TimelogError if the log is closed.",
        ),
        (
            c"at",
            get_trampoline_function!(fastcall_cfunction_with_keywords, at),
            c"at($self, ts)\n--\n\nThe objects at timestamp `ts`, in insertion order (a new list).\n\nRaises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.",
        ),
    ];
    add_methods(py, methods)
}

/// pyo3's `mp_subscript` slot of `Timelog` (its `__getitem__`), kept by
/// [`install_subscript`] for the keys [`subscript`] does not handle itself.
static PYO3_SUBSCRIPT: std::sync::OnceLock<ffi::binaryfunc> = std::sync::OnceLock::new();

/// `log[key]` for the two common keys, without pyo3's wrapper:
/// an exact `int` (the objects at that timestamp, a list) and a slice
/// whose step is `None` (an iterator over `[start, stop)`, open ends
/// allowed), read straight from the slice object's fields (the `#[pymethods]`
/// version looks `start`, `stop` and `step` up by name). Every other key —
/// a slice with a step, an `__index__` object, a bool, anything else —
/// goes to pyo3's `__getitem__`, unchanged, for its conversions and errors.
///
/// # Safety
///
/// Called only by CPython, as `Timelog`'s `mp_subscript` slot ([`install_subscript`]),
/// through pyo3's trampoline: `slf` is a live instance of `Timelog` (or of
/// a Python subclass that did not override `__getitem__`) and `key` a live
/// object, both borrowed for the call.
unsafe fn subscript(py: Python<'_>, slf: *mut ffi::PyObject, key: *mut ffi::PyObject) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: CPython C API: the type checks read only the type of `key`,
    // a live object (this function's contract).
    let (is_int, is_slice) = unsafe { (ffi::PyLong_CheckExact(key) != 0, ffi::PySlice_Check(key) != 0) };
    if is_int {
        // SAFETY: `receiver`'s contract holds (this function's contract);
        // `key` is live and borrowed for the call.
        let (log, k) = unsafe { (receiver(py, slf), Borrowed::from_ptr(py, key)) };
        return Ok(log.points(py, coerce_ts(&k)?)?.into_ptr());
    }
    if is_slice {
        // SAFETY: `key` is a live slice (PySlice_Check): `slice_fields`'
        // contract. The fields are borrowed from the slice, which outlives
        // the call.
        let [start, stop, step] = unsafe { slice_fields(key) };
        // SAFETY: CPython C API: Py_None returns a borrowed pointer to the
        // None singleton (only its address is compared below).
        let none = unsafe { ffi::Py_None() };
        if step == none {
            let conv = |p: *mut ffi::PyObject| -> PyResult<Option<i64>> {
                if p == none {
                    return Ok(None);
                }
                // SAFETY: `p` is a live object borrowed from the slice (above).
                let b = unsafe { Borrowed::from_ptr(py, p) };
                coerce_ts(&b).map(Some)
            };
            let (lo, hi) = (conv(start)?, conv(stop)?);
            // SAFETY: `receiver`'s contract holds (this function's contract).
            let log = unsafe { receiver(py, slf) };
            return new_iter(py, log, Bounds::slice(lo, hi), Order::Asc);
        }
    }
    let f = PYO3_SUBSCRIPT.get().expect("installed before the slot is");
    // SAFETY: pyo3's slot function, called as CPython would call it: an
    // attached thread, the same live receiver and key. It returns a new
    // reference, or NULL with an exception set, which `from_owned_ptr_or_err`
    // takes over or fetches.
    unsafe { Ok(Bound::from_owned_ptr_or_err(py, f(slf, key))?.into_ptr()) }
}

/// The bound of a step-less slice the fast path takes: `None`, or an exact
/// `int` in int64 range (`Some(None)` / `Some(Some(t))`); `None` for any
/// other object (the trampolined [`subscript`] converts it, or raises).
///
/// # Safety
///
/// `p` is a live object and the thread is attached.
#[inline]
unsafe fn slice_bound(p: *mut ffi::PyObject) -> Option<Option<i64>> {
    // SAFETY: C API: Py_None returns a borrowed pointer to the None
    // singleton (only its address is compared).
    if p == unsafe { ffi::Py_None() } {
        return Some(None);
    }
    // SAFETY: this function's contract ([`exact_i64`]'s).
    unsafe { exact_i64(p) }.map(Some)
}

/// `log[key]`, the `mp_subscript` slot: a slice without a step whose
/// bounds are `None` or exact `int`s in int64 range is handled here,
/// outside pyo3's trampoline (see "reads outside the trampoline"); every
/// other key goes to the trampolined [`subscript`], unchanged.
///
/// # Safety
///
/// Called only by CPython, as `Timelog`'s `mp_subscript` slot
/// ([`install_subscript`]): attached, `slf` a live instance of `Timelog`
/// (or of a Python subclass that did not override `__getitem__`) and `key`
/// a live object, both borrowed for the call.
unsafe extern "C" fn subscript_entry(slf: *mut ffi::PyObject, key: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython C API: the type check reads only the type of `key`,
    // a live object (this function's contract); a slice then meets
    // `slice_fields`' contract, and its fields are borrowed from it, which
    // outlives the call. Py_None is the None singleton (its address is
    // compared).
    unsafe {
        if ffi::PySlice_Check(key) != 0 {
            let [start, stop, step] = slice_fields(key);
            if step == ffi::Py_None() {
                if let (Some(lo), Some(hi)) = (slice_bound(start), slice_bound(stop)) {
                    // [descriptor] holds for `slf` as for a method: a live
                    // `PyTimelog` for the call (this function's contract).
                    return iter_entry(slf, Bounds::slice(lo, hi), Order::Asc);
                }
            }
        }
    }
    let slow: ffi::binaryfunc = get_trampoline_function!(binaryfunc, subscript);
    // SAFETY: the same slot call, passed on unchanged (this function's
    // contract is [`subscript`]'s).
    unsafe { slow(slf, key) }
}

/// Installs [`subscript_entry`] (then [`subscript`]) as `Timelog`'s
/// `mp_subscript` slot (pyo3's is kept for the other keys), and as the
/// function its `__getitem__` slot wrapper calls. Called once, by the
/// module's init, right after the class is created and before any
/// instance or subclass exists.
///
/// The wrapper matters as much as the slot: a subclass (the package's own
/// `timelog.Timelog` is one, and so is a user's) gets its `mp_subscript`
/// when it is created, from the `__getitem__` it finds in its bases'
/// dictionaries — for a slot wrapper, the function the wrapper calls
/// (CPython's `update_one_slot`), not the base's slot. With only the slot
/// replaced, every subclass read `log[t1:t2]` through pyo3's `__getitem__`:
/// 2.5× the cost (454 against 181 ns on CPython 3.13), and on free-threaded
/// 3.13 its attribute lookups could block, detach and re-attach inside
/// the call (docs/threading.md, "Shutdown").
pub(crate) fn install_subscript(py: Python<'_>) {
    let ty = py.get_type::<PyTimelog>();
    let tp = ty.as_ptr().cast::<ffi::PyTypeObject>();
    // SAFETY: CPython C API (non-limited: the binding is not built for the
    // stable ABI): a heap type's `tp_as_mapping` points at the mapping
    // methods inside its own heap type object, which lives as long as the
    // type; pyo3 fills `mp_subscript` for `__getitem__`. Writing a slot of
    // a heap type is what `type.__setattr__` does for a dunder
    // (update_slot); it happens before any other thread can use the type
    // (module init, under the import lock, before any instance exists), and
    // Python subclasses made later inherit it (or replace it if they define
    // `__getitem__`). `PyType_Modified` invalidates the caches that may have
    // seen the old slot.
    let old = unsafe {
        let m = (*tp).tp_as_mapping;
        assert!(!m.is_null(), "Timelog defines __getitem__");
        let old = (*m).mp_subscript.expect("Timelog defines __getitem__");
        PYO3_SUBSCRIPT.get_or_init(|| old);
        (*m).mp_subscript = Some(subscript_entry);
        old
    };
    // SAFETY: CPython C API, attached (module init). `tp_dict` of a ready
    // heap type is its dictionary, alive with the type; `PyDict_GetItemString`
    // returns a borrowed reference (or NULL), which the dictionary keeps
    // alive here (nothing else runs). `PyType_Ready` put a slot wrapper for
    // `mp_subscript` there (`add_operators`): an object of type
    // `PyWrapperDescr_Type`, whose C layout is `PyWrapperDescrObject`, and
    // whose `d_wrapped` is the slot function it calls (and that
    // `update_one_slot` copies into subclasses). Both are checked before
    // the write; the field is read only by calls of the wrapper and by the
    // creation of subclasses, neither of which can happen before the module
    // is initialized. Then `PyType_Modified`, as above.
    unsafe {
        let d = ffi::PyDict_GetItemString((*tp).tp_dict, c"__getitem__".as_ptr());
        assert!(
            !d.is_null() && ffi::Py_TYPE(d) == std::ptr::addr_of_mut!(ffi::PyWrapperDescr_Type),
            "Timelog.__getitem__ is the slot wrapper PyType_Ready made"
        );
        let w = d.cast::<ffi::PyWrapperDescrObject>();
        assert_eq!((*w).d_wrapped, old as *mut std::ffi::c_void, "the wrapper calls pyo3's slot");
        (*w).d_wrapped = subscript_entry as *mut std::ffi::c_void;
        ffi::PyType_Modified(tp);
    }
}

/// Whether type `tp`'s `mp_subscript` is [`subscript_entry`] (tests).
#[cfg(feature = "test-hooks")]
pub(crate) fn subscript_is_fast(tp: &Bound<'_, pyo3::types::PyType>) -> bool {
    // SAFETY: CPython C API, attached (`tp` is a `Bound`): a type object's
    // `tp_as_mapping` is NULL or points at its mapping methods, alive with it.
    unsafe {
        let m = (*tp.as_ptr().cast::<ffi::PyTypeObject>()).tp_as_mapping;
        !m.is_null() && (*m).mp_subscript.map(|f| f as *const ()) == Some(subscript_entry as *const ())
    }
}
