//! `TimelogIter`: a Python iterator that owns its snapshot.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use timelog::{Cursor, Order, Snapshot};

use crate::convert::PyObj;
use crate::views::PyPageSpanIter;

struct IterState {
    cursor: Option<Cursor<PyObj>>,
    /// Kept for `view()` and `reversed()` until the iterator is exhausted or closed.
    snap: Option<Snapshot<PyObj>>,
    lo: i64,
    hi: i64,
    order: Order,
    /// Yielded so far (so `reversed(it)` can return exactly what is left).
    taken: usize,
}

impl IterState {
    fn release(&mut self) {
        self.cursor = None;
        self.snap = None;
    }
}

/// Iterator over `(ts, obj)` records of one snapshot, in timestamp order.
#[pyclass(frozen, name = "TimelogIter", module = "timelog._timelog")]
pub struct PyTimelogIter {
    st: Mutex<IterState>,
}

/// Builds the `(ts, obj)` tuple.
#[inline]
pub(crate) fn pair<'py>(py: Python<'py>, ts: i64, v: &PyObj) -> Bound<'py, PyTuple> {
    // SAFETY: the thread is attached (`py`). PyTuple_New(2) returns a new
    // reference to a fresh tuple no one else can see yet (NULL only when
    // out of memory, checked); PyTuple_SET_ITEM steals the two new
    // references we pass (PyLong_FromLongLong's, and the INCREF'd payload).
    unsafe {
        let t = pyo3::ffi::PyTuple_New(2);
        assert!(!t.is_null(), "out of memory building a (ts, obj) tuple");
        pyo3::ffi::PyTuple_SET_ITEM(t, 0, pyo3::ffi::PyLong_FromLongLong(ts));
        let p = v.0.as_ptr();
        pyo3::ffi::Py_INCREF(p);
        pyo3::ffi::PyTuple_SET_ITEM(t, 1, p);
        Bound::from_owned_ptr(py, t).cast_into_unchecked()
    }
}

impl PyTimelogIter {
    pub(crate) fn new(snap: Snapshot<PyObj>, lo: i64, hi: i64, order: Order) -> Self {
        let cursor = snap.cursor(lo, hi, order);
        let mut st = IterState { cursor: Some(cursor), snap: Some(snap), lo, hi, order, taken: 0 };
        if st.cursor.as_ref().is_some_and(|c| c.remaining() == 0) {
            st.release();
        }
        Self { st: Mutex::new(st) }
    }

    /// Locks this iterator's own state. Another thread using the same
    /// iterator at the same time waits detached from the interpreter, so
    /// it can never deadlock with a thread that needs to attach.
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, IterState> {
        loop {
            match self.st.try_lock() {
                Ok(g) => return g,
                Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => py.detach(std::thread::yield_now),
            }
        }
    }

    pub(crate) fn take_list<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        let mut st = self.lock(py);
        let list = PyList::empty(py);
        let Some(c) = st.cursor.as_mut() else {
            return Ok(list);
        };
        let mut res = Ok(());
        let k = c.next_batch_with(n, |ts, v| {
            if res.is_ok() {
                res = list.append(pair(py, ts, v));
            }
        });
        res?;
        st.taken += k;
        if st.cursor.as_ref().is_some_and(|c| c.remaining() == 0) {
            st.release();
        }
        Ok(list)
    }
}

#[pymethods]
impl PyTimelogIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyTuple>> {
        let mut st = self.lock(py);
        let c = st.cursor.as_mut()?;
        match c.next_with(|ts, v| pair(py, ts, v)) {
            Some(t) => {
                st.taken += 1;
                if st.cursor.as_ref().is_some_and(|c| c.remaining() == 0) {
                    st.release();
                }
                Some(t)
            }
            None => {
                st.release();
                None
            }
        }
    }

    /// Rows still to come (exact; no scan).
    fn __len__(&self, py: Python<'_>) -> usize {
        self.lock(py).cursor.as_ref().map_or(0, |c| c.remaining())
    }

    /// Up to `n` `(ts, obj)` tuples.
    fn next_batch<'py>(&self, py: Python<'py>, n: isize) -> PyResult<Bound<'py, PyList>> {
        if n < 0 {
            return Err(PyValueError::new_err(format!("next_batch(n) needs n >= 0, got {n}")));
        }
        self.take_list(py, n as usize)
    }

    /// The rest of this iterator in the opposite order (same snapshot).
    fn __reversed__(&self, py: Python<'_>) -> PyTimelogIter {
        let st = self.lock(py);
        let rev = match st.order {
            Order::Asc => Order::Desc,
            Order::Desc => Order::Asc,
        };
        let remaining = st.cursor.as_ref().map_or(0, |c| c.remaining());
        match st.snap.clone() {
            Some(snap) if remaining > 0 => {
                // What this iterator has not yielded yet is exactly the first
                // `remaining` records of the opposite walk.
                let it = PyTimelogIter::new(snap, st.lo, st.hi, rev);
                let mut s = it.st.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(c) = s.cursor.as_mut() {
                    c.truncate(remaining);
                }
                drop(s);
                it
            }
            _ => PyTimelogIter {
                st: Mutex::new(IterState { cursor: None, snap: None, lo: st.lo, hi: st.hi, order: rev, taken: 0 }),
            },
        }
    }

    /// A `PageSpanIter` over the same range and snapshot.
    fn view(&self, py: Python<'_>) -> PyPageSpanIter {
        let st = self.lock(py);
        match &st.snap {
            Some(s) => PyPageSpanIter::new(s.page_spans(st.lo, st.hi)),
            None => PyPageSpanIter::new(Vec::new()),
        }
    }

    fn close(&self, py: Python<'_>) {
        self.lock(py).release();
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.lock(py).snap.is_none()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let st = self.lock(py);
        let dir = if st.order == Order::Desc { " descending" } else { "" };
        match &st.cursor {
            Some(c) => format!("<TimelogIter{dir} remaining={}>", c.remaining()),
            None => format!("<TimelogIter{dir} closed>"),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }
}
