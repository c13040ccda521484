//! `timelog._timelog`: the pyo3 binding of the timelog engine.
//!
//! This crate converts Python arguments, results and errors and delegates
//! to the engine (`engine/`); it holds no engine logic. The module is
//! declared free-threading safe (`gil_used = false`): every class is
//! `frozen` and `Sync`, the log itself is lock-free, and the per-iterator
//! state is guarded by the iterator's own mutex.

#![expect(missing_debug_implementations, reason = "pyclasses are inspected through their Python repr, not Debug")]

use pyo3::create_exception;
use pyo3::prelude::*;

mod config;
mod convert;
mod iter;
mod log;
mod stats;
mod views;

create_exception!(
    timelog._timelog,
    TimelogError,
    pyo3::exceptions::PyException,
    "Base class of the errors timelog raises."
);
create_exception!(
    timelog._timelog,
    TimelogBusyError,
    TimelogError,
    "A write was accepted (committed) but hit backpressure. Do not retry it."
);

#[pyfunction]
fn _coerce_ts(x: &Bound<'_, PyAny>) -> PyResult<i64> {
    convert::coerce_ts(x)
}

#[pymodule(gil_used = false)]
fn _timelog(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<log::PyTimelog>()?;
    m.add_class::<iter::PyTimelogIter>()?;
    m.add_class::<views::PyPageSpan>()?;
    m.add_class::<views::PyPageSpanIter>()?;
    m.add_class::<views::PyObjectsView>()?;
    m.add("TimelogError", py.get_type::<TimelogError>())?;
    m.add("TimelogBusyError", py.get_type::<TimelogBusyError>())?;
    m.add("TL_TS_MIN", i64::MIN)?;
    m.add("TL_TS_MAX", i64::MAX)?;
    m.add_function(wrap_pyfunction!(_coerce_ts, m)?)?;
    Ok(())
}
