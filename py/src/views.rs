//! Zero-copy page views: `PageSpan`, `PageSpanIter`, `PageSpanObjectsView`,
//! and the int64 buffer reader of `bulk_append`.

use std::collections::VecDeque;
use std::ffi::CStr;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use pyo3::exceptions::{PyBufferError, PyIndexError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyMemoryView, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use timelog::PageSpan;

use crate::convert::PyObj;

type Span = Arc<PageSpan<PyObj>>;

/// Runs `f` over a C-contiguous buffer of native int64, in place (no copy).
pub(crate) fn with_int64_buffer<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[i64]) -> PyResult<R>) -> PyResult<R> {
    let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::zeroed();
    // SAFETY: CPython C API, `PyObject_GetBuffer(obj, view, flags)`: the
    // thread is attached (`obj` is a `Bound`), `obj` is a live object and
    // `view` points to writable storage for one `Py_buffer`, which the call
    // fills on success (return 0) and leaves unowned on failure (-1 with an
    // exception set). On success the buffer protocol requires exactly one
    // `PyBuffer_Release` — done below, on every path.
    let rc = unsafe {
        ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_FORMAT | ffi::PyBUF_C_CONTIGUOUS)
    };
    if rc != 0 {
        // Distinguish "not a buffer" from "a non-contiguous buffer".
        let e = PyErr::take(obj.py());
        // SAFETY: CPython C API, `PyObject_CheckBuffer(obj)`: needs an
        // attached thread and a live object (`obj` is a `Bound`); it only
        // reads the type's buffer slot and cannot fail.
        let supports = unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } != 0;
        if supports {
            return Err(PyValueError::new_err(format!(
                "bulk_append() needs a C-contiguous int64 buffer ({}); pass numpy.ascontiguousarray(ts, dtype=numpy.int64)",
                e.map(|e| e.to_string()).unwrap_or_default()
            )));
        }
        return Err(PyTypeError::new_err(format!(
            "bulk_append() timestamps must be a contiguous int64 buffer, not {}; build one with numpy.asarray(ts, dtype=numpy.int64) or array.array('q', ts)",
            obj.get_type().name()?
        )));
    }
    // SAFETY: `MaybeUninit::assume_init` needs initialized contents:
    // `PyObject_GetBuffer` returned 0, and its contract is that every field
    // of the `Py_buffer` is then filled in by the exporter.
    let mut view = unsafe { view.assume_init() };
    let fmt = if view.format.is_null() {
        "B".to_owned()
    } else {
        // SAFETY: `CStr::from_ptr` needs a NUL-terminated string alive for
        // the borrow: the buffer protocol documents `Py_buffer.format` as a
        // NUL-terminated struct-module format string (or NULL, excluded
        // above) owned by the exporter until `PyBuffer_Release`, which comes
        // after this copy.
        unsafe { CStr::from_ptr(view.format) }.to_string_lossy().into_owned()
    };
    let ok_fmt = matches!(fmt.trim_start_matches(['@', '=', '<', '>', '!']), "q" | "l" | "Q" | "L")
        && !fmt.starts_with('>')
        && !fmt.starts_with('!');
    let signed = !fmt.ends_with('Q') && !fmt.ends_with('L');
    let result = if view.ndim != 1 {
        Err(PyValueError::new_err(format!(
            "bulk_append() timestamps must be a 1-D buffer, got {} dimensions; pass arr.ravel() (or numpy.atleast_1d(ts) for one scalar)",
            view.ndim
        )))
    } else if view.itemsize != 8 || !ok_fmt || !signed {
        Err(PyValueError::new_err(format!(
            "bulk_append() timestamps must be native int64 (format 'q', itemsize 8), got format {fmt:?} with itemsize {}; convert with numpy.asarray(ts, dtype=numpy.int64)",
            view.itemsize
        )))
    } else {
        let n = (view.len / 8) as usize;
        if n == 0 {
            f(&[])
        } else if !(view.buf as *const i64).is_aligned() {
            Err(PyValueError::new_err(
                "bulk_append() needs an 8-byte aligned int64 buffer; pass numpy.ascontiguousarray(ts)",
            ))
        } else {
            // SAFETY: `slice::from_raw_parts` needs `n` initialized, aligned
            // `i64`s, unaliased by writes for the borrow. The buffer
            // protocol guarantees `len` readable bytes at `buf` until
            // `PyBuffer_Release` (below, after `f` returns), C-contiguous
            // (requested with `PyBUF_C_CONTIGUOUS`); format and item size
            // (int64) and alignment were checked above. A writable exporter
            // (numpy) could be written by another thread meanwhile — the
            // same race every C extension reading a buffer accepts; `f`
            // only copies the values out.
            f(unsafe { std::slice::from_raw_parts(view.buf as *const i64, n) })
        }
    };
    // SAFETY: CPython C API, `PyBuffer_Release(view)`: called once for the
    // one successful `PyObject_GetBuffer` above, attached (`obj` is a
    // `Bound`), with the same `Py_buffer`.
    unsafe { ffi::PyBuffer_Release(&mut view) };
    result
}

fn closed_err() -> PyErr {
    PyValueError::new_err("PageSpan is closed")
}

/// A zero-copy view of (part of) one flushed page.
#[pyclass(frozen, name = "PageSpan", module = "timelog._timelog")]
pub struct PyPageSpan {
    span: ArcSwapOption<PageSpan<PyObj>>,
    exports: Arc<AtomicUsize>,
    /// The log's collector link (`crate::gc`; `None` for an empty read).
    link: Option<PyObj>,
}

impl PyPageSpan {
    fn get(&self) -> PyResult<Span> {
        self.span.load_full().ok_or_else(closed_err)
    }
}

#[pymethods]
impl PyPageSpan {
    /// Read-only memoryview (format 'q', int64) over the span's timestamps, zero-copy.
    ///
    /// The memoryview (and arrays made from it, e.g. numpy.asarray) pins the
    /// snapshot until released (mv.release()).
    ///
    /// Raises: ValueError if the span was closed.
    #[getter]
    fn timestamps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        let span = self.get()?;
        let n = span.len() as isize;
        let exp = Bound::new(py, TsExport { span, shape: n, stride: 8, exports: self.exports.clone() })?;
        PyMemoryView::from(exp.as_any())
    }

    /// Lazy sequence view of the span's payloads (same order as `timestamps`).
    ///
    /// Raises: ValueError if the span was closed.
    fn objects(&self) -> PyResult<PyObjectsView> {
        Ok(PyObjectsView { span: self.get()?, link: self.link.clone() })
    }

    /// The span's timestamps as a new list of ints.
    ///
    /// Raises: ValueError if the span was closed.
    fn copy_timestamps(&self) -> PyResult<Vec<i64>> {
        Ok(self.get()?.timestamps().to_vec())
    }

    /// Timestamp of the first record of the span.
    ///
    /// Raises: ValueError if the span was closed.
    #[getter]
    fn start_ts(&self) -> PyResult<i64> {
        Ok(self.get()?.timestamps()[0])
    }

    /// Timestamp of the last record (as in the C package; same as `last_ts`).
    ///
    /// Raises: ValueError if the span was closed.
    #[getter]
    fn end_ts(&self) -> PyResult<i64> {
        self.last_ts()
    }

    /// Timestamp of the last record of the span.
    ///
    /// Raises: ValueError if the span was closed.
    #[getter]
    fn last_ts(&self) -> PyResult<i64> {
        Ok(*self.get()?.timestamps().last().expect("a span is never empty"))
    }

    /// Number of records in the span (same as len(span)).
    ///
    /// Raises: ValueError if the span was closed.
    fn len(&self) -> PyResult<usize> {
        Ok(self.get()?.len())
    }

    fn __len__(&self) -> PyResult<usize> {
        self.len()
    }

    /// Releases the span's snapshot pin. Idempotent.
    ///
    /// Raises: BufferError if a memoryview of `timestamps` is still exported
    /// (release it first).
    fn close(&self) -> PyResult<()> {
        let n = self.exports.load(Ordering::Acquire);
        if n > 0 {
            return Err(PyBufferError::new_err(format!(
                "cannot close PageSpan: {n} memoryview(s) of its timestamps are still exported; release them (mv.release() or del) first"
            )));
        }
        self.span.store(None);
        Ok(())
    }

    /// Whether close() was called.
    #[getter]
    fn closed(&self) -> bool {
        self.span.load().is_none()
    }

    /// `with span:` returns the span itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the span at the end of the `with` block (exceptions propagate).
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    /// Reports the log's collector link (`crate::gc`) and the span's
    /// payloads when only this span holds them
    /// (`PageSpan::for_each_owned_payload`). Lock-free.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(l) = &self.link {
            visit.call(l.as_py())?;
        }
        let g = self.span.load();
        match g.as_ref() {
            Some(s) if Arc::strong_count(s) == 1 => visit_span(s, &visit),
            _ => Ok(()),
        }
    }

    /// Breaks reference cycles: releases the span (as `close()` does; a
    /// memoryview still exported keeps its own reference).
    fn __clear__(&self) {
        drop(self.span.swap(None));
    }

    /// Arrow PyCapsule interface: the timestamps as a zero-copy Arrow
    /// `timestamp[<time_unit>]` array (`int64` if `requested_schema` asks
    /// for it). The exported array keeps the page alive on its own.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        crate::arrow::span_array(py, self.get()?, requested_schema.as_ref())
    }

    /// Arrow PyCapsule interface: the type of `__arrow_c_array__`.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyCapsule>> {
        crate::arrow::span_schema(py, &self.get()?)
    }

    /// Timestamp range and length of the span.
    fn __repr__(&self) -> String {
        match self.span.load_full() {
            Some(s) => format!("<PageSpan len={} [{}..{}]>", s.len(), s.timestamps()[0], s.timestamps()[s.len() - 1]),
            None => "<PageSpan closed>".into(),
        }
    }
}

/// The buffer exporter behind `PageSpan.timestamps`.
#[pyclass(frozen, name = "_TimestampBuffer", module = "timelog._timelog")]
pub struct TsExport {
    span: Span,
    shape: isize,
    stride: isize,
    exports: Arc<AtomicUsize>,
}

#[pymethods]
impl TsExport {
    /// `bf_getbuffer`.
    ///
    /// # Safety
    ///
    /// Called by CPython's buffer protocol with `view` pointing to a
    /// `Py_buffer` to fill (or NULL, refused).
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("null Py_buffer"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("PageSpan timestamps are read-only"));
        }
        let this = slf.get();
        let ts = this.span.timestamps();
        // SAFETY: CPython's `bf_getbuffer` contract: `view` points to a
        // `Py_buffer` the caller owns for us to fill (checked non-null), and
        // on success `view->obj` must be a new strong reference to the
        // exporter (`into_ptr` gives one), released by `PyBuffer_Release`.
        // Every pointer we store must stay valid until `bf_releasebuffer`:
        // `buf` points into a published page, never written again and
        // kept alive by `this.span`'s snapshot (R8, R9); `shape`/`strides`
        // point to fields of `slf`, kept alive by `view->obj`; `format` is
        // a static C string. `readonly = 1` with `PyBUF_WRITABLE` refused.
        unsafe {
            (*view).obj = slf.clone().into_any().into_ptr();
            (*view).buf = ts.as_ptr() as *mut std::ffi::c_void;
            (*view).len = (ts.len() * 8) as isize;
            (*view).readonly = 1;
            (*view).itemsize = 8;
            (*view).format = if flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT {
                c"q".as_ptr() as *mut _
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                &this.shape as *const isize as *mut isize
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                &this.stride as *const isize as *mut isize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        this.exports.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// `bf_releasebuffer`: one export fewer.
    ///
    /// # Safety
    ///
    /// Called by CPython's `PyBuffer_Release` once per successful
    /// `__getbuffer__`; `_view` is not read.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reports the payloads of `span` that only it holds to a GC traversal.
fn visit_span(span: &PageSpan<PyObj>, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
    let mut res = Ok(());
    span.for_each_owned_payload(&mut |vs| res = crate::gc::visit_payloads(visit, vs));
    res
}

/// Lazy sequence of a span's payloads.
#[pyclass(frozen, sequence, name = "PageSpanObjectsView", module = "timelog._timelog")]
pub struct PyObjectsView {
    span: Span,
    /// The log's collector link (`crate::gc`).
    link: Option<PyObj>,
}

#[pymethods]
impl PyObjectsView {
    fn __len__(&self) -> usize {
        self.span.len()
    }

    /// The payload at position `i` (negative counts from the end).
    ///
    /// The view keeps its own reference to the span's records: it stays usable
    /// after span.close() (and pins the snapshot until it is dropped).
    ///
    /// Raises: IndexError out of range.
    fn __getitem__<'py>(&self, py: Python<'py>, i: isize) -> PyResult<Bound<'py, PyAny>> {
        let n = self.span.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(PyIndexError::new_err(format!("PageSpanObjectsView index {i} out of range for length {n}")));
        }
        Ok(self.span.payloads()[j as usize].bind(py).to_owned())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Iterates lazily over a tuple of borrowed references (no payload copy).
        let t = PyTuple::new(py, crate::iter::loading_ahead(self.span.payloads()).map(|p| p.bind(py)))?;
        t.as_any().try_iter().map(|it| it.into_any())
    }

    /// The payloads as a new list.
    fn copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, crate::iter::loading_ahead(self.span.payloads()).map(|p| p.bind(py)))
    }

    /// Length of the view.
    fn __repr__(&self) -> String {
        format!("<PageSpanObjectsView len={}>", self.span.len())
    }

    /// Reports the log's collector link (`crate::gc`) and the payloads
    /// when only this view holds its span.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(l) = &self.link {
            visit.call(l.as_py())?;
        }
        if Arc::strong_count(&self.span) == 1 {
            return visit_span(&self.span, &visit);
        }
        Ok(())
    }
}

/// Iterator of `PageSpan`s of one snapshot.
#[pyclass(frozen, name = "PageSpanIter", module = "timelog._timelog")]
pub struct PyPageSpanIter {
    spans: Mutex<Option<VecDeque<Span>>>,
    /// The log's collector link (`crate::gc`).
    link: Option<PyObj>,
}

impl PyPageSpanIter {
    pub(crate) fn new(spans: Vec<PageSpan<PyObj>>, link: Option<PyObj>) -> Self {
        Self { spans: Mutex::new(Some(spans.into_iter().map(Arc::new).collect())), link }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<VecDeque<Span>>> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyPageSpanIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self) -> Option<PyPageSpan> {
        let mut g = self.lock();
        let q = g.as_mut()?;
        match q.pop_front() {
            Some(s) => Some(PyPageSpan {
                span: ArcSwapOption::from(Some(s)),
                exports: Arc::new(AtomicUsize::new(0)),
                link: self.link.clone(),
            }),
            None => {
                *g = None;
                None
            }
        }
    }

    fn __len__(&self) -> usize {
        self.lock().as_ref().map_or(0, |q| q.len())
    }

    /// Arrow PyCapsule interface: one record batch per remaining span
    /// (`ts` zero-copy, `value` when the payloads convert), without
    /// consuming the iterator. Physical pages: no tombstone filtering.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyCapsule>> {
        let spans: Vec<Span> = self.lock().as_ref().map(|q| q.iter().cloned().collect()).unwrap_or_default();
        crate::arrow::PyArrowStream::new(
            crate::arrow::Source::Spans(spans),
            crate::arrow::Payloads::Auto,
            crate::arrow::DEFAULT_BATCH_ROWS as isize,
            self.link.clone(),
        )?
        .export(py, requested_schema.as_ref())
    }

    /// Releases the spans not yet yielded. Idempotent.
    fn close(&self) {
        // Dropped after unlocking: the last reference to a payload may run
        // a `__del__` that uses this iterator.
        let spans = self.lock().take();
        drop(spans);
    }

    /// Whether close() was called or every span was yielded.
    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_none()
    }

    /// Reports the payloads of a span only this iterator holds. Skipped if
    /// the state is locked (a collection inside one of its calls).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(l) = &self.link {
            visit.call(l.as_py())?;
        }
        let Ok(g) = self.spans.try_lock() else { return Ok(()) };
        for s in g.iter().flatten() {
            if Arc::strong_count(s) == 1 {
                visit_span(s, &visit)?;
            }
        }
        Ok(())
    }

    /// Breaks reference cycles: releases the spans.
    fn __clear__(&self) {
        self.close();
    }

    /// `with log.views() as spans:` returns the iterator itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the iterator at the end of the `with` block (exceptions propagate).
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> bool {
        self.close();
        false
    }
}
