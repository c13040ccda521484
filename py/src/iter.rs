//! `TimelogIter`: a Python iterator that owns its snapshot.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use timelog::{Cursor, Order, Snapshot};

use crate::convert::PyObj;
use crate::views::PyPageSpanIter;

struct IterState {
    /// The cursor owns the snapshot (`view()` and `reversed()` read it
    /// through the cursor); `None` once exhausted or closed.
    cursor: Option<Cursor<PyObj>>,
    lo: i64,
    hi: i64,
    order: Order,
    /// Yielded so far (so `reversed(it)` can return exactly what is left).
    taken: usize,
    /// The last two tuples `__next__` returned, for reuse (see [`Recycler`]).
    spare: Recycler,
}

impl IterState {
    fn new(cursor: Option<Cursor<PyObj>>, lo: i64, hi: i64, order: Order) -> Self {
        IterState { cursor, lo, hi, order, taken: 0, spare: Recycler::default() }
    }

    /// The snapshot, while the iterator is not exhausted or closed.
    fn snapshot(&self) -> Option<&Snapshot<PyObj>> {
        self.cursor.as_ref().and_then(|c| c.snapshot())
    }

    /// Drops the cursor and snapshot. The spare tuples are handed back for
    /// the caller to drop after unlocking (they may hold the last
    /// reference to a payload, whose `__del__` could use this iterator).
    fn release(&mut self) -> Recycler {
        self.cursor = None;
        std::mem::take(&mut self.spare)
    }
}

/// Reuse of result tuples in `__next__`, as CPython's own `zip`,
/// `enumerate` and `dict.items()` iterators do.
///
/// In `for r in it:` the loop variable still holds the tuple of the
/// previous row when the next one is requested, but the one before that
/// has been released: if its only reference left is ours, it is refilled
/// in place instead of allocating a new tuple (which is nearly a third of
/// the cost of a row). Tuples the caller kept are never touched. Only on
/// GIL builds: on free-threaded builds a reference count of 1 read from
/// another thread than the tuple's owner does not prove uniqueness, so
/// every row gets a fresh tuple there.
#[derive(Default)]
struct Recycler {
    slots: [Option<Py<PyTuple>>; 2],
    turn: usize,
}

impl Recycler {
    /// A `(ts, v)` tuple: a refilled spare when one is uniquely ours,
    /// else a new one (kept as a spare). Objects the refill replaces are
    /// pushed to `dead`, to be released after the iterator is unlocked.
    #[cfg_attr(Py_GIL_DISABLED, allow(unused_variables, unused_mut))]
    fn pair<'py>(&mut self, py: Python<'py>, ts: i64, v: &PyObj, dead: &mut Dead) -> Bound<'py, PyTuple> {
        #[cfg(not(Py_GIL_DISABLED))]
        {
            let slot = &mut self.slots[self.turn];
            self.turn ^= 1;
            if let Some(t) = slot.as_ref() {
                let p = t.as_ptr();
                // SAFETY: attached, GIL build (see the type docs). A
                // reference count of 1 means `slot` holds the only
                // reference: no one else can observe the tuple while we
                // refill it. SET_ITEM overwrites without releasing, so the
                // old items (owned references) move to `dead`; the new
                // items are new references (PyLong_FromLongLong's result,
                // the INCREF'd payload). A tuple the collector untracked
                // (all-atomic items) is tracked again, since the new
                // payload may be a container.
                unsafe {
                    if pyo3::ffi::Py_REFCNT(p) == 1 {
                        let n = pyo3::ffi::PyLong_FromLongLong(ts);
                        assert!(!n.is_null(), "out of memory converting a timestamp");
                        dead.push(pyo3::ffi::PyTuple_GET_ITEM(p, 0));
                        dead.push(pyo3::ffi::PyTuple_GET_ITEM(p, 1));
                        pyo3::ffi::PyTuple_SET_ITEM(p, 0, n);
                        let obj = v.as_ptr();
                        pyo3::ffi::Py_INCREF(obj);
                        pyo3::ffi::PyTuple_SET_ITEM(p, 1, obj);
                        if pyo3::ffi::PyObject_GC_IsTracked(p) == 0 {
                            pyo3::ffi::PyObject_GC_Track(p.cast());
                        }
                        return t.bind(py).clone();
                    }
                }
            }
            let t = pair(py, ts, v);
            if let Some(old) = slot.replace(t.clone().unbind()) {
                dead.push(old.into_ptr());
            }
            t
        }
        #[cfg(Py_GIL_DISABLED)]
        pair(py, ts, v)
    }
}

/// Owned references to release once the iterator's lock is dropped (at
/// most two per row; no allocation).
struct Dead {
    refs: [*mut pyo3::ffi::PyObject; 2],
    n: usize,
}

impl Default for Dead {
    fn default() -> Self {
        Dead { refs: [std::ptr::null_mut(); 2], n: 0 }
    }
}

impl Dead {
    #[cfg_attr(Py_GIL_DISABLED, allow(dead_code))]
    fn push(&mut self, p: *mut pyo3::ffi::PyObject) {
        self.refs[self.n] = p;
        self.n += 1;
    }

    fn release(self, _py: Python<'_>) {
        for &p in &self.refs[..self.n] {
            // SAFETY: attached (`_py`); each pointer is an owned reference
            // moved out of a tuple or a spare slot (see `Recycler::pair`).
            unsafe { pyo3::ffi::Py_DECREF(p) }
        }
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
        let p = v.as_ptr();
        pyo3::ffi::Py_INCREF(p);
        pyo3::ffi::PyTuple_SET_ITEM(t, 1, p);
        Bound::from_owned_ptr(py, t).cast_into_unchecked()
    }
}

impl PyTimelogIter {
    pub(crate) fn new(snap: Snapshot<PyObj>, lo: i64, hi: i64, order: Order) -> Self {
        let cursor = snap.into_cursor(lo, hi, order);
        let mut st = IterState::new(Some(cursor), lo, hi, order);
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
        let Some(c) = st.cursor.as_mut() else {
            return Ok(PyList::empty(py));
        };
        // `remaining()` is exact: the list is allocated at its final size
        // and filled by index (no append, no regrowth).
        let want = n.min(c.remaining());
        // SAFETY: attached (`py`). PyList_New(want) returns a new list of
        // `want` NULL slots (NULL only when out of memory: Err). Each slot
        // below `k` is set once with a new reference (SET_ITEM steals it);
        // if the cursor yielded fewer than `want` rows (it does not: the
        // count is exact), the unset tail is cut off before the list is
        // returned, so no one ever sees a NULL item.
        let list = unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyList_New(want as isize))? };
        let lp = list.as_ptr();
        let mut i = 0usize;
        let k = c.next_batch_with(want, |ts, v| {
            // SAFETY: `i < want` (next_batch_with yields at most `want`).
            unsafe { pyo3::ffi::PyList_SET_ITEM(lp, i as isize, pair(py, ts, v).into_ptr()) };
            i += 1;
        });
        if k < want {
            // SAFETY: deletes the never-set (NULL) tail; list_ass_slice
            // releases items with Py_XDECREF.
            unsafe { pyo3::ffi::PyList_SetSlice(lp, k as isize, want as isize, std::ptr::null_mut()) };
        }
        st.taken += k;
        let mut spare = None;
        if st.cursor.as_ref().is_some_and(|c| c.remaining() == 0) {
            spare = Some(st.release());
        }
        drop(st);
        drop(spare);
        // SAFETY: every slot is set (see above).
        Ok(unsafe { list.cast_into_unchecked() })
    }
}

#[pymethods]
impl PyTimelogIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyTuple>> {
        let mut dead = Dead::default();
        let mut spare = None;
        let out = {
            let mut guard = self.lock(py);
            let st = &mut *guard;
            let c = st.cursor.as_mut()?;
            let spares = &mut st.spare;
            let out = c.next_with(|ts, v| spares.pair(py, ts, v, &mut dead));
            if out.is_some() {
                st.taken += 1;
            }
            if st.cursor.as_ref().is_none_or(|c| c.remaining() == 0) {
                spare = Some(st.release());
            }
            out
        };
        // Unlocked: releasing a payload may run arbitrary `__del__` code.
        drop(spare);
        dead.release(py);
        out
    }

    /// Rows still to come (exact; no scan).
    fn __len__(&self, py: Python<'_>) -> usize {
        self.lock(py).cursor.as_ref().map_or(0, |c| c.remaining())
    }

    /// Up to `n` next `(ts, obj)` tuples, as a list (empty once exhausted).
    ///
    /// Raises: ValueError if n < 0.
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
        match st.snapshot().cloned() {
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
            _ => PyTimelogIter { st: Mutex::new(IterState::new(None, st.lo, st.hi, rev)) },
        }
    }

    /// A PageSpanIter over the flushed pages of the same range and snapshot.
    ///
    /// Records still in the memtable are not included (flush() first).
    fn view(&self, py: Python<'_>) -> PyPageSpanIter {
        let st = self.lock(py);
        match st.snapshot() {
            Some(s) => PyPageSpanIter::new(s.page_spans(st.lo, st.hi)),
            None => PyPageSpanIter::new(Vec::new()),
        }
    }

    /// Releases the iterator's snapshot (its pin on the log) early. Idempotent.
    fn close(&self, py: Python<'_>) {
        let spare = self.lock(py).release();
        drop(spare);
    }

    /// Whether the iterator was closed or exhausted (it no longer pins a snapshot).
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.lock(py).snapshot().is_none()
    }

    /// Direction and rows remaining.
    fn __repr__(&self, py: Python<'_>) -> String {
        let st = self.lock(py);
        let dir = if st.order == Order::Desc { " descending" } else { "" };
        match &st.cursor {
            Some(c) => format!("<TimelogIter{dir} remaining={}>", c.remaining()),
            None => format!("<TimelogIter{dir} closed>"),
        }
    }

    /// `with log.range(...) as it:` returns the iterator itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the iterator at the end of the `with` block (exceptions propagate).
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }
}
