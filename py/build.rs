//! Exposes pyo3's interpreter cfgs (notably `Py_GIL_DISABLED` for
//! free-threaded CPython) to this crate.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
