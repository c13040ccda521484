//! `timelog._timelog`: the pyo3 binding of the timelog engine.
//!
//! This crate converts Python arguments, results and errors and delegates
//! to the engine (`engine/`); it holds no engine logic. The module is
//! declared free-threading safe (`gil_used = false`): every class is
//! `frozen` and `Sync`, the log itself is lock-free, and an iterator's
//! state is owned by one call at a time through an ownership flag (a
//! second concurrent call raises `RuntimeError`, see `iter.rs`).

#![expect(missing_debug_implementations, reason = "pyclasses are inspected through their Python repr, not Debug")]

use pyo3::create_exception;
use pyo3::prelude::*;

mod arrow;
mod config;
mod convert;
mod fast;
mod gc;
mod ints;
mod iter;
pub(crate) mod log;
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

/// Test-only hooks (built with the `test-hooks` feature): hold the
/// maintainer or a writer at a publication point.
#[cfg(feature = "test-hooks")]
mod test_hooks {
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use timelog::Point;

    use crate::log::PyTimelog;

    fn point(name: &str) -> PyResult<Point> {
        match name {
            "seal_publish" => Ok(Point::SealPublish),
            "flush_publish" => Ok(Point::FlushPublish),
            "compact_publish" => Ok(Point::CompactPublish),
            _ => Err(PyValueError::new_err("point must be 'seal_publish', 'flush_publish' or 'compact_publish'")),
        }
    }

    /// Closes (`closed=True`) or opens the gate at `point`.
    #[pyfunction]
    pub fn _test_gate(log: &Bound<'_, PyTimelog>, name: &str, closed: bool) -> PyResult<()> {
        log.get().state().log.test_gate(point(name)?, closed);
        Ok(())
    }

    /// Waits (detached) until `point` has been reached `n` times in total.
    #[pyfunction]
    pub fn _test_wait_reached(
        py: Python<'_>,
        log: &Bound<'_, PyTimelog>,
        name: &str,
        n: usize,
        timeout: f64,
    ) -> PyResult<bool> {
        let p = point(name)?;
        let st = log.get().state();
        Ok(crate::log::released(py, || st.log.test_wait_reached(p, n, std::time::Duration::from_secs_f64(timeout))))
    }

    /// Drops `n` new payload references to `obj` while detached from the
    /// interpreter: they are queued (`convert::deferred`), not released.
    #[pyfunction]
    pub fn _test_release_detached(py: Python<'_>, obj: &Bound<'_, PyAny>, n: usize) {
        let refs: Vec<crate::convert::PyObj> =
            (0..n).map(|_| crate::convert::PyObj::new(obj.clone().unbind())).collect();
        crate::convert::interp::detach(py, move || drop(refs));
    }

    /// Releases the queued references (as every attached drain point does).
    #[pyfunction]
    pub fn _test_drain_released(py: Python<'_>) {
        crate::convert::deferred::drain(py);
    }

    /// How many times `point` was reached.
    #[pyfunction]
    pub fn _test_reached(log: &Bound<'_, PyTimelog>, name: &str) -> PyResult<usize> {
        Ok(log.get().state().log.test_reached(point(name)?))
    }

    /// Whether `cls[...]`'s `mp_subscript` slot is the binding's fast
    /// entry (`fast::install_subscript`).
    #[pyfunction]
    pub fn _test_subscript_is_fast(cls: &Bound<'_, pyo3::types::PyType>) -> bool {
        crate::fast::subscript_is_fast(cls)
    }
}

#[pymodule(gil_used = false)]
fn _timelog(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<log::PyTimelog>()?;
    fast::install(py)?;
    fast::install_reads(py)?;
    fast::install_subscript(py);
    m.add_class::<iter::PyTimelogIter>()?;
    iter::install_iternext(py);
    ints::probe(py);
    // Whether rows' timestamps are rewritten in place (`ints`): for the tests.
    m.setattr("_int_reuse", ints::enabled())?;
    m.add_class::<views::PyPageSpan>()?;
    m.add_class::<views::PyPageSpanIter>()?;
    m.add_class::<views::PyObjectsView>()?;
    m.add_class::<arrow::PyArrowStream>()?;
    m.add("TimelogError", py.get_type::<TimelogError>())?;
    m.add("TimelogBusyError", py.get_type::<TimelogBusyError>())?;
    m.add("TL_TS_MIN", i64::MIN)?;
    m.add("TL_TS_MAX", i64::MAX)?;
    m.add_function(wrap_pyfunction!(_coerce_ts, m)?)?;
    // Whether pyo3's global reference pool is compiled in (the build lost
    // the flags of `.cargo/config.toml`, e.g. to a RUSTFLAGS variable);
    // checked by tests/test_packaging.py and the sdist check. Not in `__all__`.
    m.setattr("_pyo3_reference_pool", cfg!(not(pyo3_disable_reference_pool)))?;
    // How the extension was optimized, for the benchmark harnesses' records
    // and the wheel checks: `pgo` is true for a profile-guided build
    // (scripts/pgo.py, the published wheels), false for `pip install .`.
    let build = pyo3::types::PyDict::new(py);
    build.set_item("pgo", cfg!(timelog_pgo))?;
    m.setattr("_build", build)?;
    #[cfg(feature = "test-hooks")]
    {
        m.add_function(wrap_pyfunction!(test_hooks::_test_gate, m)?)?;
        m.add_function(wrap_pyfunction!(test_hooks::_test_wait_reached, m)?)?;
        m.add_function(wrap_pyfunction!(test_hooks::_test_reached, m)?)?;
        m.add_function(wrap_pyfunction!(test_hooks::_test_release_detached, m)?)?;
        m.add_function(wrap_pyfunction!(test_hooks::_test_drain_released, m)?)?;
        m.add_function(wrap_pyfunction!(test_hooks::_test_subscript_is_fast, m)?)?;
        // Test-only names stay out of `__all__` (and out of the stubs).
        let all = m.index()?;
        for name in [
            "_test_gate",
            "_test_wait_reached",
            "_test_reached",
            "_test_release_detached",
            "_test_drain_released",
            "_test_subscript_is_fast",
        ] {
            all.call_method1("remove", (name,))?;
        }
    }
    Ok(())
}
