//! `timelog._timelog.Timelog`: the native log class. It converts arguments
//! and delegates to the engine; it holds no engine logic.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySlice, PyTuple};
use pyo3::IntoPyObjectExt;
use pyo3::{PyTraverseError, PyVisit};

use timelog::{Bounds, Config, Counter, Hooks, MaintenanceMode, Order, Timelog};

use crate::config;
use crate::convert::{coerce_ts, deferred, err, interp, write_result, PyObj};
use crate::gc::Gc;
use crate::iter::PyTimelogIter;
use crate::views::PyPageSpanIter;

type Engine = Timelog<PyObj>;

/// One engine instance of this log (a new one per `reopen`); its
/// configuration is the engine's (`Timelog::config`).
pub(crate) struct State {
    pub(crate) log: Engine,
}

fn build(cfg: Config) -> PyResult<State> {
    // Flush and compaction clone and drop payloads (reference counts) only
    // inside `worker_scope`, attached to the interpreter; `try_attach`
    // skips the step while the interpreter shuts down. (The flush of a
    // memtable without tombstones clones and drops none — it moves them
    // into its segment — and runs outside it, detached: no GIL wait.) Everything else the
    // maintainer does — and every wait of an engine thread — runs detached,
    // and `interp::attach` parks a thread that the interpreter would
    // terminate at exit instead of letting it unwind (see `convert::interp`),
    // so on GIL builds readers are held up only while payload references
    // are copied, never by a publication or a wait.
    let worker_scope: timelog::hooks::Scope = Arc::new(|f: &mut dyn FnMut()| {
        let _ = interp::attach(|py| {
            f();
            deferred::drain(py);
        });
    });
    let blocking_scope: timelog::hooks::Scope = Arc::new(|f: &mut dyn FnMut()| {
        // SAFETY: CPython C API, `PyGILState_Check`: callable from any
        // thread, attached or not, with no precondition (it reads this
        // thread's state and returns 1 when the thread holds an attached
        // thread state, i.e. the GIL on GIL builds).
        if unsafe { pyo3::ffi::PyGILState_Check() } == 1 {
            // SAFETY: pyo3's `Python::assume_attached` contract: the calling
            // thread must be attached to the interpreter — `PyGILState_Check`
            // returned 1 just above, on this thread, and nothing between
            // detached it.
            let py = unsafe { Python::assume_attached() };
            let w = Wait(f);
            released(py, move || w.run());
        } else {
            f();
        }
    });
    // `Hooks` has private fields in the engine's test-hooks build, so it is
    // built from its default and not with a struct literal.
    #[allow(clippy::field_reassign_with_default)]
    let hooks = {
        let mut h = Hooks::default();
        h.worker_scope = Some(worker_scope);
        h.blocking_scope = Some(blocking_scope);
        h
    };
    // SAFETY: `BitwisePayloads::promise`'s contract for `PyObj`: a payload
    // is one pointer to a Python object (`convert::PyObj`), which no
    // `&PyObj` changes; a bitwise copy is the same reference, and the
    // engine drops exactly one of the copies (the flush's heir rule, R8),
    // so the object's reference count stays right. The flush then moves
    // payloads instead of touching every object's count twice.
    let bitwise = unsafe { timelog::BitwisePayloads::promise() };
    // The payload target (the object's header, whose reference count a
    // clone or a release changes) lets a compaction and a page that goes
    // load their objects ahead (`timelog::PayloadTarget`).
    let cfg =
        Config { bitwise_payloads: Some(bitwise), payload_target: Some(timelog::PayloadTarget::of::<PyObj>()), ..cfg };
    let log = Timelog::with_hooks(cfg, hooks).map_err(err)?;
    Ok(State { log })
}

/// Runs `f` detached from the interpreter (engine work that may wait or
/// take long), then releases the payload references the engine dropped
/// meanwhile (see `convert::deferred`).
///
/// Re-attaching after the interpreter started to finalize parks the
/// thread instead of aborting the process (`convert::interp`).
pub(crate) fn released<R>(py: Python<'_>, f: impl FnOnce() -> R + Send) -> R {
    let r = interp::detach(py, f);
    deferred::drain(py);
    r
}

/// A waiting closure of the engine, sent into `Python::detach` (which
/// requires `Ungil`, i.e. `Send`).
struct Wait<'a>(&'a mut dyn FnMut());

// SAFETY: `Send` is needed only by `Python::detach`'s `Ungil` bound; the
// closure never leaves this thread (`detach` runs it on the calling thread
// after `PyEval_SaveThread`, and `PyEval_RestoreThread` follows on the same
// thread). The engine's blocking scope wraps only its own waits (the
// maintainer mutex, condition variables: `Sync` engine state, never a
// Python object), so nothing it touches needs the interpreter (CPython C
// API: no Python object may be used while detached — none is).
unsafe impl Send for Wait<'_> {}

impl Wait<'_> {
    fn run(self) {
        (self.0)()
    }
}

/// A log's engine states: the current one and every one it has had.
pub(crate) struct States {
    /// The current state: always one of the states in `list`.
    cur: AtomicPtr<State>,
    /// Every state this log has had, the current one last. `reopen()` and
    /// `configure()` (rare, and only on a closed log) push a new one; none
    /// is freed before the log itself (and its collector root, which
    /// shares this), so `current()` hands out a plain reference after a
    /// single atomic load — no reference count, no hazard slot on the
    /// per-call paths.
    list: Mutex<Vec<Arc<State>>>,
}

impl States {
    #[inline]
    pub(crate) fn current(&self) -> &State {
        // SAFETY: std's `*const T` dereference contract (non-null, aligned,
        // pointing to a live `T` for the returned lifetime, no `&mut`
        // alias): `cur` only ever holds `Arc::as_ptr` of a state pushed on
        // `self.list`, a list that only grows and is dropped with `self` —
        // so the pointee outlives `&self` — and states are never mutated
        // after construction. The Acquire load pairs with the Release store
        // in `replace` (published after the `Arc` was built).
        unsafe { &*self.cur.load(Ordering::Acquire) }
    }

    /// Installs a new state (the old one stays alive with `self`).
    fn replace(&self, st: State) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let a = Arc::new(st);
        self.cur.store(Arc::as_ptr(&a).cast_mut(), Ordering::Release);
        list.push(a);
    }
}

#[pyclass(frozen, subclass, weakref, name = "Timelog", module = "timelog._timelog")]
#[repr(C)]
pub struct PyTimelog {
    /// Keeps `states`, which every call reads (a writer's `append` too), off
    /// the cache line of the object's reference count, which every reader
    /// of another thread writes: `log.next_ts(t)` and `log[t]` take and drop
    /// a reference to `log` (on free-threaded builds an atomic add on its
    /// shared count, the log being owned by the thread that made it). With
    /// the two on one line, a writer appending beside a reader took that
    /// line from the reader on every append, and the reader took it back on
    /// its next call (docs/threading.md, "Retention"). The object header
    /// ends at byte 32 (free-threaded; 16 with the GIL), its counts at byte
    /// 24; `states` follows `PAD` bytes after it, at least 64 bytes past the
    /// counts however the object is aligned (`repr(C)` keeps this order).
    _pad: [u64; PAD_WORDS],
    /// The engine states (shared with the collector root, `gc`).
    states: Arc<States>,
    /// The log's node in the cycle collector's graph and the links its
    /// readers hold (see `crate::gc`).
    gc: Gc,
    /// Held between `_fork_prepare()` and `_fork_finish()` (see those).
    fork: Mutex<Option<ForkHold>>,
}

/// Words of [`PyTimelog`]'s leading pad: the object header ends at byte 32
/// on free-threaded builds, whose shared reference count occupies bytes
/// 16..24; 7 words put `states` at byte 88, 65 bytes past the count's last
/// byte — on another 64-byte line wherever the object starts (with the GIL:
/// header 16 bytes, count 0..8, `states` at 72).
const PAD_WORDS: usize = 7;

// The class object is the header (`ffi::PyObject`, whose last word is
// `ob_type`, after the counts) followed by the `repr(C)` struct: `states`
// starts 64 bytes or more past the counts' end.
const _: () = {
    let header = std::mem::size_of::<pyo3::ffi::PyObject>();
    let counts_end = header - std::mem::size_of::<*mut pyo3::ffi::PyTypeObject>();
    assert!(header + std::mem::offset_of!(PyTimelog, states) >= counts_end + 64);
};

/// The engine's fork guard, kept between the `os.register_at_fork` hooks.
struct ForkHold(timelog::ForkGuard<'static, PyObj>);

// SAFETY: the guard holds the maintainer mutex's guard (R10; a `MutexGuard`
// is not `Send` because it must be unlocked by the thread that locked it).
// It is taken in the `before` hook of `os.register_at_fork` and released in
// the `after_in_parent` / `after_in_child` hook; CPython's contract for
// those hooks (`PyOS_BeforeFork` / `PyOS_AfterFork_Parent` /
// `PyOS_AfterFork_Child`) is that they run on the thread that calls
// `fork()` — the same thread, or in the child its only surviving copy — so
// the guard is locked and unlocked by one thread. `Send` only lets it sit
// in the `Mutex` field between the two calls.
unsafe impl Send for ForkHold {}

impl PyTimelog {
    fn from_state(py: Python<'_>, st: State) -> PyResult<Self> {
        let a = Arc::new(st);
        let cur = AtomicPtr::new(Arc::as_ptr(&a).cast_mut());
        let states = Arc::new(States { cur, list: Mutex::new(vec![a]) });
        let gc = Gc::new(py, &states)?;
        Ok(Self { _pad: [0; PAD_WORDS], states, gc, fork: Mutex::new(None) })
    }

    #[inline]
    pub(crate) fn state(&self) -> &State {
        self.states.current()
    }

    /// A reference to the collector link for a reader of this log to hold
    /// (see `crate::gc`).
    #[inline]
    pub(crate) fn gc_link(&self, py: Python<'_>) -> PyObj {
        self.gc.link(py)
    }

    /// An iterator over `b` (bounds from the engine's `timelog::Bounds`).
    fn iter_over(&self, py: Python<'_>, b: Bounds, order: Order) -> PyResult<PyTimelogIter> {
        let snap = self.state().log.snapshot().map_err(err)?;
        Ok(PyTimelogIter::new(snap, b.lo, b.hi, order, self.gc_link(py)))
    }

    fn slice_iter(&self, py: Python<'_>, s: &Bound<'_, PySlice>, order: Order) -> PyResult<PyTimelogIter> {
        let [start, stop, step] = slice_parts(s);
        if !step.is_none() && !step_is_one(&step) {
            return Err(PyValueError::new_err(format!(
                "slice step must be None or 1 (timestamps are not positions), got {}; use reversed(log[t1:t2]) for descending order",
                step.repr()?
            )));
        }
        let (start, stop) = slice_bounds(start, stop)?;
        self.iter_over(py, Bounds::slice(start, stop), order)
    }

    pub(crate) fn points<'py>(&self, py: Python<'py>, ts: i64) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let mut res = Ok(());
        self.state()
            .log
            .point_with(ts, |v| {
                if res.is_ok() {
                    res = list.append(v.bind(py));
                }
            })
            .map_err(err)?;
        res?;
        Ok(list)
    }

    fn delete_slice(&self, s: &Bound<'_, PySlice>) -> PyResult<()> {
        let [start, stop, step] = slice_parts(s);
        if !step.is_none() && !step_is_one(&step) {
            return Err(PyValueError::new_err("slice step must be None or 1 in del log[t1:t2]"));
        }
        let (start, stop) = slice_bounds(start, stop)?;
        let (t1, t2) = timelog::bounds::delete_slice(start, stop).map_err(err)?;
        write_result(self.state().log.delete_range(t1, t2))
    }

    /// `reopen(**kwargs)` (also `configure`, named `what` in messages).
    fn reopen_as(&self, what: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let st = self.state();
        if !st.log.is_closed() {
            return Err(crate::TimelogError::new_err(format!(
                "{what} needs a closed log; call close() first, then {what} with the new settings"
            )));
        }
        let cfg = config::parse(kwargs, Some(st.log.config()), what)?;
        self.states.replace(build(cfg)?);
        Ok(())
    }

    fn write_batch(&self, py: Python<'_>, batch: Vec<(i64, PyObj)>) -> PyResult<()> {
        let st = self.state();
        // The engine's batch entry decides how (a run of a memtable's worth
        // or more is published whole, rule R14).
        write_result(write_sized(py, batch.len(), || st.log.append_batch(batch)))
    }
}

/// Runs the write `f` of a batch of `n` records: a large batch (sorted,
/// written, perhaps published as a run) without holding the interpreter;
/// payload moves need no reference-count changes.
fn write_sized<R: Send>(py: Python<'_>, n: usize, f: impl FnOnce() -> R + Send) -> R {
    if n > 4096 {
        released(py, f)
    } else {
        f()
    }
}

/// The payload sequence of `bulk_append`.
enum BulkObjects<'py> {
    List(Bound<'py, PyList>),
    Tuple(Bound<'py, PyTuple>),
}

/// Holds `b` as a [`PyObj`]: its last reference is released through
/// `interp::decref` (see `extend`).
fn own(b: Bound<'_, PyAny>) -> PyObj {
    PyObj::new(b.unbind())
}

/// The next item of `it` (held as a [`PyObj`]), `None` at the end. The
/// iterator may run Python code (a generator): it is advanced through
/// `interp::iter_next`, which parks a daemon thread that the interpreter
/// terminates at exit instead of aborting the process.
fn next_item(it: &Bound<'_, PyAny>) -> PyResult<Option<PyObj>> {
    let py = it.py();
    // SAFETY: `interp::iter_next`'s contract: attached (`it` is a `Bound`)
    // and `it` is a live iterator (made by `input_iter`, i.e.
    // `PyObject_GetIter`). It returns a new reference (owned by the `Py`
    // built from it) or NULL, at the end (no exception set) or on error
    // (exception set: `PyErr::take`).
    let p = unsafe { interp::iter_next(it.as_ptr()) };
    if p.is_null() {
        return match PyErr::take(py) {
            Some(e) => Err(e),
            None => Ok(None),
        };
    }
    // SAFETY: `Bound::from_owned_ptr`'s contract: attached, `p` is a non-null new
    // reference (checked above), ownership passed to the `Py`.
    Ok(Some(PyObj::new(unsafe { Bound::from_owned_ptr(py, p) }.unbind())))
}

/// `iter(o)` for `extend`'s input, held as a [`PyObj`] (its release may
/// run a generator's `finally`). A Python `__iter__` runs through
/// `interp::get_iter` (guarded like `next_item`).
fn input_iter(o: &Bound<'_, PyAny>) -> PyResult<PyObj> {
    // SAFETY: `interp::get_iter`'s contract: attached (`o` is a `Bound`) and
    // `o` is live. It returns a new reference or NULL with an exception set,
    // as `owned_or_err` requires.
    unsafe { owned_or_err(o.py(), interp::get_iter(o.as_ptr())) }
}

/// The new reference `p` as a [`PyObj`], or the exception set when `p` is
/// NULL.
///
/// # Safety
///
/// `p` is a new reference or NULL with an exception set, returned to this
/// attached thread (`py`) by the C API.
unsafe fn owned_or_err(py: Python<'_>, p: *mut pyo3::ffi::PyObject) -> PyResult<PyObj> {
    if p.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `Bound::from_owned_ptr`'s contract: attached, `p` is a non-null
    // new reference (checked above, this function's contract), ownership
    // passed to the `Py`.
    Ok(PyObj::new(unsafe { Bound::from_owned_ptr(py, p) }.unbind()))
}

/// `len(o)` for `extend`'s input, `None` when `o` has no length (the error
/// is cleared). A Python `__len__` runs through `interp::size`.
fn input_len(o: &Bound<'_, PyAny>) -> Option<usize> {
    // SAFETY: `interp::size`'s contract: attached (`o` is a `Bound`) and `o`
    // is live. It returns the length, or -1 with an exception set.
    let n = unsafe { interp::size(o.as_ptr()) };
    if n < 0 {
        drop(PyErr::take(o.py()));
        return None;
    }
    usize::try_from(n).ok()
}

/// `o[i]` of a sequence item of `extend`'s input, held as a [`PyObj`]. A
/// Python `__getitem__` runs through `interp::sequence_item`.
fn input_item(o: &Bound<'_, PyAny>, i: isize) -> PyResult<PyObj> {
    // SAFETY: `interp::sequence_item`'s contract: attached (`o` is a
    // `Bound`) and `o` is live. It returns a new reference or NULL with an
    // exception set, as `owned_or_err` requires.
    unsafe { owned_or_err(o.py(), interp::sequence_item(o.as_ptr(), i)) }
}

/// A slice's `start`, `stop` and `step`, read from the slice object itself.
///
/// Not `getattr("start")`: pyo3 looks such a name up with a string it
/// makes for the call, which CPython's type cache never holds (it compares
/// names by identity), so every lookup takes the slow path — on
/// free-threaded 3.13 under the interpreter-wide type lock. That lock
/// serialized the slice reads of concurrent threads, and a thread that
/// blocked on it detached and re-attached inside the call: at exit, a
/// daemon thread doing so was ended by `pthread_exit` inside pyo3's
/// trampoline, which aborted the process ("FATAL: exception not
/// rethrown"; docs/threading.md, "Shutdown").
fn slice_parts<'py>(s: &Bound<'py, PySlice>) -> [Bound<'py, PyAny>; 3] {
    // SAFETY: `s` is a slice (its type), live and bound: `slice_fields`'
    // contract. Each field is a live object the slice references, and the
    // slice outlives this call (`from_borrowed_ptr`'s contract: a live
    // object, attached); each `Bound` takes a reference of its own.
    unsafe { crate::convert::slice_fields(s.as_ptr()).map(|o| Bound::from_borrowed_ptr(s.py(), o)) }
}

/// The converted `start`, `stop` of a slice (`None` for an open end).
fn slice_bounds(start: Bound<'_, PyAny>, stop: Bound<'_, PyAny>) -> PyResult<(Option<i64>, Option<i64>)> {
    let conv = |v: Bound<'_, PyAny>| if v.is_none() { Ok(None) } else { coerce_ts(&v).map(Some) };
    Ok((conv(start)?, conv(stop)?))
}

/// A batch vector with room for `n` records, or `MemoryError` (counted in
/// `alloc_failures`) when the allocation fails: `n` comes from the
/// caller's `__len__` or buffer, so it can be anything.
fn batch_with_capacity(log: &Engine, n: usize) -> PyResult<Vec<(i64, PyObj)>> {
    let mut v = Vec::new();
    if let Err(e) = v.try_reserve(n) {
        log.note_alloc_failure();
        return Err(pyo3::exceptions::PyMemoryError::new_err(format!(
            "cannot allocate a batch of {n} records ({e}); write it in smaller pieces"
        )));
    }
    Ok(v)
}

/// A slice step of 1: an int or an `__index__` object (numpy.int64(1)), not
/// a bool — `operator.index(step) == 1`, converted as a timestamp is
/// (`coerce_ts` refuses bools).
fn step_is_one(step: &Bound<'_, PyAny>) -> bool {
    coerce_ts(step).is_ok_and(|v| v == 1)
}

/// The count of `tail(n)`/`head(n)`: an int >= 0 (bools refused, as for timestamps).
fn count_arg(what: &str, n: &Bound<'_, PyAny>) -> PyResult<usize> {
    if n.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!("{what}(n) needs an int count, not bool")));
    }
    let n: isize = n.extract()?;
    usize::try_from(n).map_err(|_| PyValueError::new_err(format!("{what}(n) needs n >= 0, got {n}")))
}

fn order_of(reverse: bool) -> Order {
    if reverse {
        Order::Desc
    } else {
        Order::Asc
    }
}

#[pymethods]
impl PyTimelog {
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn py_new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let cfg = config::parse(kwargs, None, "Timelog()")?;
        Self::from_state(py, build(cfg)?)
    }

    // ----- writes -------------------------------------------------------

    /// log[ts] = obj: appends the record `(ts, obj)` (duplicates are kept).
    ///
    /// Raises: TypeError for a slice key (`log[t1:t2] = ...`); TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; ValueError if
    /// `ts` is below the retention floor (`min_ts`); TimelogBusyError if the write was committed but hit backpressure (busy_policy='raise'): do not retry it; TimelogError if the log is closed.
    fn __setitem__(&self, ts: Bound<'_, PyAny>, obj: Bound<'_, PyAny>) -> PyResult<()> {
        if ts.is_instance_of::<PySlice>() {
            return Err(PyTypeError::new_err("log[t1:t2] = ... is not supported; assign one timestamp: log[ts] = obj"));
        }
        write_result(self.state().log.append(coerce_ts(&ts)?, PyObj::new(obj.unbind())))
    }

    /// extend(pairs) | extend(timestamps, objects): appends many records.
    ///
    /// `items` is an iterable of `(ts, obj)` pairs, or with `objects` a sequence of
    /// timestamps parallel to the sequence `objects`. `mostly_ordered` (bool or
    /// None) is the C package's ordering hint and a no-op here: every batch is
    /// sorted stably whatever it says. With `insert_on_error=True` (default)
    /// items whose timestamp cannot be converted are skipped with a RuntimeWarning
    /// (counted in `extend_skipped`); with False the first one raises and nothing
    /// is written. A batch of a memtable's worth or more becomes visible at once
    /// (one sorted run) when the log holds no unflushed memtable data, otherwise
    /// in chunks of about one memtable.
    ///
    /// Raises: ValueError for items that are not pairs, unequal lengths, or a
    /// timestamp below the retention floor; TypeError (insert_on_error=False) for
    /// a bad timestamp or a generator input; TimelogBusyError if the write was committed but hit backpressure (busy_policy='raise'): do not retry it; TimelogError if the log is closed.
    #[pyo3(signature = (items, objects = None, *, mostly_ordered = None, insert_on_error = true))]
    fn extend(
        &self,
        py: Python<'_>,
        items: Bound<'_, PyAny>,
        objects: Option<Bound<'_, PyAny>>,
        mostly_ordered: Option<bool>,
        insert_on_error: bool,
    ) -> PyResult<()> {
        // A documented no-op (docs/python-api.md): every batch is sorted
        // stably by the engine whatever the hint; only its type is checked.
        let _ = mostly_ordered;
        let st = self.state();
        // A closed log raises before any item is converted (the engine's check).
        st.log.check_open().map_err(err)?;
        if !insert_on_error && !items.hasattr("__len__")? {
            return Err(PyTypeError::new_err(
                "extend(insert_on_error=False) validates the whole batch first and needs a sequence, not a generator or iterator; pass list(items)",
            ));
        }
        let mut batch: Vec<(i64, PyObj)> = Vec::new();
        let mut skipped = 0u64;
        // Every object taken from the caller's iterables is held as a
        // `PyObj` (see `own`), the skipped errors too: the last reference to
        // one (an object the iterable made) is released through
        // `interp::decref`, so a `__del__` that re-attaches while the
        // interpreter exits parks a daemon thread instead of aborting the
        // process (docs/threading.md, "Shutdown").
        let mut take = |t: &PyObj, obj: PyObj, batch: &mut Vec<(i64, PyObj)>| -> PyResult<()> {
            match coerce_ts(&t.bind(py)) {
                Ok(ts) => {
                    // The engine's floor rule, item by item: a record below
                    // the floor raises before any warning or count.
                    st.log.check_floor(ts).map_err(err)?;
                    batch.push((ts, obj));
                    Ok(())
                }
                // Skipped, as in the C package: a timestamp that is not an
                // int (TypeError) or outside int64 (OverflowError). Anything
                // else (KeyboardInterrupt, MemoryError, a ValueError from a
                // user __index__) propagates and nothing is written. The
                // error is settled first: asking a lazy one its class would
                // detach and re-attach (`interp::settled`).
                Err(e) if insert_on_error => {
                    let e = interp::settled(py, e);
                    if e.is_instance_of::<PyTypeError>(py) || e.is_instance_of::<pyo3::exceptions::PyOverflowError>(py)
                    {
                        skipped += 1;
                        drop(PyObj::new(e.into_value(py).into_any()));
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
                Err(e) => Err(e),
            }
        };
        match objects {
            Some(objs) => {
                if let (Some(n1), Some(n2)) = (input_len(&items), input_len(&objs)) {
                    if n1 != n2 {
                        return Err(PyValueError::new_err(format!(
                            "extend(timestamps, objects) needs sequences of equal length, got {n1} timestamps and {n2} objects"
                        )));
                    }
                    batch = batch_with_capacity(&st.log, n1)?;
                }
                // Pairwise, like zip(strict=True): a side that ends first
                // (a sequence that shrank during the call, or unsized
                // iterables of different lengths) is an error, never a
                // silent truncation.
                let ts_it = input_iter(&items)?;
                let obj_it = input_iter(&objs)?;
                let (ts_it, obj_it) = (ts_it.bind(py), obj_it.bind(py));
                let mut i = 0usize;
                loop {
                    match (next_item(&ts_it)?, next_item(&obj_it)?) {
                        (Some(t), Some(o)) => take(&t, o, &mut batch)?,
                        (None, None) => break,
                        (t, _) => {
                            let (long, short) =
                                if t.is_some() { ("timestamps", "objects") } else { ("objects", "timestamps") };
                            return Err(PyValueError::new_err(format!(
                                "extend(timestamps, objects): {short} ended after {i} items but {long} has more \
                                 (a sequence changed size during the call, or the lengths differ); nothing was written"
                            )));
                        }
                    }
                    i += 1;
                }
            }
            None => {
                if let Some(n) = input_len(&items) {
                    batch = batch_with_capacity(&st.log, n)?;
                }
                let it = input_iter(&items)?;
                let it = it.bind(py);
                while let Some(item) = next_item(&it)? {
                    let item = item.bind(py);
                    let pair = match item.cast::<PyTuple>() {
                        Ok(t) if t.len() == 2 => (own(t.get_item(0)?), own(t.get_item(1)?)),
                        Ok(_) => return Err(PyValueError::new_err("extend() expects (ts, obj) pairs")),
                        Err(_) => {
                            let seq = item.cast::<pyo3::types::PySequence>();
                            match seq {
                                Ok(_)
                                    if !item.is_instance_of::<pyo3::types::PyString>()
                                        && input_len(&item) == Some(2) =>
                                {
                                    (input_item(&item, 0)?, input_item(&item, 1)?)
                                }
                                _ => return Err(PyValueError::new_err("extend() expects (ts, obj) pairs")),
                            }
                        }
                    };
                    take(&pair.0, pair.1, &mut batch)?;
                }
            }
        }
        if skipped > 0 {
            // The warning comes before the commit: when warnings are errors
            // the call raises and writes nothing (no exception for a write
            // that happened).
            // Filters and `showwarning` may be Python code: through
            // `interp::warn` (guarded like `next_item`).
            let msg = std::ffi::CString::new(format!(
                "extend() skipped {skipped} item(s) whose timestamp could not be converted to int64; pass insert_on_error=False to raise instead"
            ))
            .expect("no NUL in the message");
            // SAFETY: `interp::warn`'s contract: attached (`py`), a warning
            // class (CPython's `PyExc_RuntimeWarning`, a static object) and
            // a NUL-terminated UTF-8 message.
            if unsafe { interp::warn(pyo3::ffi::PyExc_RuntimeWarning, &msg, 2) } < 0 {
                return Err(PyErr::fetch(py));
            }
            st.log.note_extend_skipped(skipped);
        }
        self.write_batch(py, batch)
    }

    /// bulk_append(timestamps, objects): appends `len(objects)` records at once.
    ///
    /// `timestamps` is a C-contiguous buffer of native int64 (numpy int64 array,
    /// `array('q')`, memoryview), read in place; `objects` is a list or tuple of
    /// the same length. `mostly_ordered` is a no-op, as for extend().
    ///
    /// Raises: TypeError if `timestamps` is not an int64 buffer or `objects` not a
    /// list/tuple; ValueError on a length mismatch or a timestamp below the
    /// retention floor; TimelogBusyError if the write was committed but hit backpressure (busy_policy='raise'): do not retry it; TimelogError if the log is closed.
    #[pyo3(signature = (timestamps, objects, *, mostly_ordered = None))]
    fn bulk_append(
        &self,
        py: Python<'_>,
        timestamps: Bound<'_, PyAny>,
        objects: Bound<'_, PyAny>,
        mostly_ordered: Option<bool>,
    ) -> PyResult<()> {
        // A documented no-op, as for extend().
        let _ = mostly_ordered;
        let (objs, n_objs) = if let Ok(l) = objects.cast::<PyList>() {
            (BulkObjects::List(l.clone()), l.len())
        } else if let Ok(t) = objects.cast::<PyTuple>() {
            (BulkObjects::Tuple(t.clone()), t.len())
        } else {
            return Err(PyTypeError::new_err(format!(
                "bulk_append() objects must be a list or tuple, got {}",
                objects.get_type().name()?
            )));
        };
        let st = self.state();
        // One pass from the caller's buffer and sequence into the form the
        // engine writes (a run's pages, or pairs): no copy of the
        // timestamps, no intermediate vector of objects. The engine checks
        // the floor and the lengths (`prepare_parts`).
        let batch = crate::views::with_int64_buffer(&timestamps, |ts| {
            if ts.len() != n_objs {
                return Err(PyValueError::new_err(format!(
                    "bulk_append() length mismatch: {} timestamps but {} objects",
                    ts.len(),
                    n_objs
                )));
            }
            let r = match &objs {
                BulkObjects::List(l) => st.log.prepare_parts(ts, l.iter().map(own)),
                BulkObjects::Tuple(t) => st.log.prepare_parts(ts, t.iter().map(own)),
            };
            r.map_err(|e| match e {
                // The list changed size while it was read (another thread).
                timelog::Error::LengthMismatch { .. } => {
                    PyValueError::new_err("bulk_append() objects changed size during the call")
                }
                e => err(e),
            })
        })?;
        write_result(write_sized(py, batch.len(), || st.log.append_prepared(batch)))
    }

    /// delete(T) deletes the records at T; delete(t1, t2) deletes [t1, t2).
    ///
    /// A delete hides the records written before it; records written afterwards
    /// at those timestamps stay visible.
    ///
    /// Raises: ValueError if t1 > t2, or for delete(T) with T = TL_TS_MAX; TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogBusyError if the write was committed but hit backpressure (busy_policy='raise'): do not retry it; TimelogError if the log is closed.
    #[pyo3(signature = (t1, t2 = None))]
    fn delete(&self, t1: Bound<'_, PyAny>, t2: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        match t2 {
            None => write_result(self.state().log.delete_point(coerce_ts(&t1)?)),
            Some(t2) => self.delete_range(t1, t2),
        }
    }

    /// Deletes every record in the half-open range [t1, t2).
    ///
    /// Raises: ValueError if t1 > t2; TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogBusyError if the write was committed but hit backpressure (busy_policy='raise'): do not retry it; TimelogError if the log is closed.
    fn delete_range(&self, t1: Bound<'_, PyAny>, t2: Bound<'_, PyAny>) -> PyResult<()> {
        write_result(self.state().log.delete_range(coerce_ts(&t1)?, coerce_ts(&t2)?))
    }

    /// del log[ts] deletes the records at ts; del log[t1:t2] deletes [t1, t2).
    ///
    /// Open slice bounds extend to the ends of the timeline; a slice step is rejected.
    ///
    /// Raises: ValueError for a slice step or t1 > t2; TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogBusyError if the write was committed but hit backpressure (busy_policy='raise'): do not retry it; TimelogError if the log is closed.
    fn __delitem__(&self, key: Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(s) = key.cast::<PySlice>() {
            return self.delete_slice(s);
        }
        write_result(self.state().log.delete_point(coerce_ts(&key)?))
    }

    // ----- reads --------------------------------------------------------

    /// log[ts] -> list of the objects at ts; log[t1:t2] -> TimelogIter over [t1, t2).
    ///
    /// Open slice bounds extend to the ends of the timeline; reversed bounds give
    /// an empty iterator.
    ///
    /// Raises: ValueError for a slice step; TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    fn __getitem__<'py>(&self, py: Python<'py>, key: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(s) = key.cast::<PySlice>() {
            return self.slice_iter(py, s, Order::Asc)?.into_bound_py_any(py);
        }
        let ts = coerce_ts(&key)?;
        Ok(self.points(py, ts)?.into_any())
    }

    /// The objects at timestamp `ts`, in insertion order (a new list).
    ///
    /// Raises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    fn at<'py>(&self, py: Python<'py>, ts: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        self.points(py, coerce_ts(&ts)?)
    }

    /// Iterator over the records in [t1, t2), ascending (`reverse=True`: descending).
    ///
    /// The iterator reads one snapshot: the writes committed before this call.
    ///
    /// Raises: ValueError if t1 > t2; TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    #[pyo3(signature = (t1, t2, *, reverse = false))]
    fn range(
        &self,
        py: Python<'_>,
        t1: Bound<'_, PyAny>,
        t2: Bound<'_, PyAny>,
        reverse: bool,
    ) -> PyResult<PyTimelogIter> {
        self.iter_over(py, Bounds::range(coerce_ts(&t1)?, coerce_ts(&t2)?).map_err(err)?, order_of(reverse))
    }

    /// Iterator over the records with a timestamp >= ts (`reverse=True`: descending).
    ///
    /// Raises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    #[pyo3(signature = (ts, *, reverse = false))]
    fn since(&self, py: Python<'_>, ts: Bound<'_, PyAny>, reverse: bool) -> PyResult<PyTimelogIter> {
        self.iter_over(py, Bounds::since(coerce_ts(&ts)?), order_of(reverse))
    }

    /// Iterator over the records with a timestamp < ts (`reverse=True`: descending).
    ///
    /// Raises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    #[pyo3(signature = (ts, *, reverse = false))]
    fn until(&self, py: Python<'_>, ts: Bound<'_, PyAny>, reverse: bool) -> PyResult<PyTimelogIter> {
        self.iter_over(py, Bounds::until(coerce_ts(&ts)?), order_of(reverse))
    }

    /// Iterator over every record, ascending (`reverse=True`: descending).
    ///
    /// Raises: TimelogError if the log is closed.
    #[pyo3(signature = (*, reverse = false))]
    fn all(&self, py: Python<'_>, reverse: bool) -> PyResult<PyTimelogIter> {
        self.iter_over(py, Bounds::ALL, order_of(reverse))
    }

    /// Iterator over the records at exactly `ts`, in insertion order.
    ///
    /// Raises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    fn point(&self, py: Python<'_>, ts: Bound<'_, PyAny>) -> PyResult<PyTimelogIter> {
        self.iter_over(py, Bounds::point(coerce_ts(&ts)?), Order::Asc)
    }

    /// Same as point(ts): iterator over the records at exactly `ts`.
    ///
    /// Raises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    fn equal(&self, py: Python<'_>, ts: Bound<'_, PyAny>) -> PyResult<PyTimelogIter> {
        self.point(py, ts)
    }

    /// iter(log): every record in ascending timestamp order (one snapshot).
    ///
    /// Raises: TimelogError if the log is closed.
    fn __iter__(&self, py: Python<'_>) -> PyResult<PyTimelogIter> {
        self.iter_over(py, Bounds::ALL, Order::Asc)
    }

    /// reversed(log): every record in descending timestamp order (one snapshot).
    ///
    /// Raises: TimelogError if the log is closed.
    fn __reversed__(&self, py: Python<'_>) -> PyResult<PyTimelogIter> {
        self.iter_over(py, Bounds::ALL, Order::Desc)
    }

    /// The newest `n` records, in ascending order (no scan of the rest).
    ///
    /// Raises: TypeError if n is not an int (bools included); ValueError if n < 0; TimelogError if the log is closed.
    fn tail<'py>(&self, py: Python<'py>, n: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let n = count_arg("tail", &n)?;
        let it = self.iter_over(py, Bounds::ALL, Order::Desc)?;
        let list = it.take_list(py, n)?;
        list.reverse()?;
        Ok(list)
    }

    /// The oldest `n` records, in ascending order.
    ///
    /// Raises: TypeError if n is not an int (bools included); ValueError if n < 0; TimelogError if the log is closed.
    fn head<'py>(&self, py: Python<'py>, n: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let n = count_arg("head", &n)?;
        self.iter_over(py, Bounds::ALL, Order::Asc)?.take_list(py, n)
    }

    /// len(log): the number of visible records (deletes applied).
    ///
    /// Raises: TimelogError if the log is closed.
    fn __len__(&self) -> PyResult<usize> {
        self.state().log.len().map_err(err)
    }

    /// ts in log: whether a visible record has timestamp `ts`.
    ///
    /// Raises: TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    fn __contains__(&self, ts: Bound<'_, PyAny>) -> PyResult<bool> {
        let t = coerce_ts(&ts)?;
        self.state().log.contains(t).map_err(err)
    }

    /// The smallest visible timestamp, or None if the log is empty.
    ///
    /// Raises: TimelogError if the log is closed.
    fn min_ts(&self) -> PyResult<Option<i64>> {
        self.state().log.min_ts().map_err(err)
    }

    /// The largest visible timestamp, or None if the log is empty.
    ///
    /// Raises: TimelogError if the log is closed.
    fn max_ts(&self) -> PyResult<Option<i64>> {
        self.state().log.max_ts().map_err(err)
    }

    /// count(t1, t2) -> int
    ///
    /// Number of records in the half-open range ``[t1, t2)``, from the
    /// timestamps alone (no payload is read). Raises ValueError if t1 > t2.
    fn count(&self, t1: Bound<'_, PyAny>, t2: Bound<'_, PyAny>) -> PyResult<usize> {
        self.state().log.count(coerce_ts(&t1)?, coerce_ts(&t2)?).map_err(err)
    }

    /// histogram(t1, t2, bucket, *, numpy=False) -> list[int] | numpy.ndarray
    ///
    /// Records per time bucket of ``[t1, t2)``: bucket ``i`` counts
    /// ``[t1 + i*bucket, min(t1 + (i+1)*bucket, t2))`` (aligned at t1; the
    /// last bucket is partial when bucket does not divide t2 - t1). One
    /// consistent view, deletes respected, payloads never read. Returns a
    /// list of ints, or an int64 numpy array with ``numpy=True``. Raises
    /// ValueError if bucket <= 0, t1 > t2 or the layout has more than
    /// 2**24 buckets.
    #[pyo3(signature = (t1, t2, bucket, *, numpy = false))]
    fn histogram<'py>(
        &self,
        py: Python<'py>,
        t1: Bound<'py, PyAny>,
        t2: Bound<'py, PyAny>,
        bucket: Bound<'py, PyAny>,
        numpy: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (a, b) = (coerce_ts(&t1)?, coerce_ts(&t2)?);
        let w: i64 = bucket.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "histogram() bucket must be an int (a width in the log's time unit), got {}",
                bucket.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        let np = if numpy {
            Some(py.import("numpy").map_err(|_| {
                pyo3::exceptions::PyModuleNotFoundError::new_err(
                    "histogram(numpy=True) needs numpy: pip install numpy (or call histogram() without numpy=True for a list)",
                )
            })?)
        } else {
            None
        };
        let st = self.state();
        // Large layouts are counted without holding the interpreter.
        let many = (i128::from(b) - i128::from(a)) / i128::from(w.max(1)) > 4096;
        let r = if many { released(py, || st.log.histogram(a, b, w)) } else { st.log.histogram(a, b, w) };
        let counts = r.map_err(err)?;
        match np {
            None => Ok(PyList::new(py, counts)?.into_any()),
            Some(np) => {
                let bytes = pyo3::types::PyByteArray::new_with(py, counts.len() * 8, |buf| {
                    for (dst, c) in buf.chunks_exact_mut(8).zip(&counts) {
                        dst.copy_from_slice(&(*c as i64).to_ne_bytes());
                    }
                    Ok(())
                })?;
                np.call_method1("frombuffer", (bytes, np.getattr("int64")?))
            }
        }
    }

    /// arrow(t1=None, t2=None, *, payloads="auto", batch_rows=65536) -> ArrowStream
    ///
    /// The records of ``[t1, t2)`` (a missing bound is unbounded) as an
    /// Arrow record-batch stream (``__arrow_c_stream__``) for pyarrow,
    /// polars or DuckDB, read from a snapshot taken now. Columns: ``ts``
    /// (``timestamp[<time_unit>]``) and ``value`` when the payloads convert
    /// (payloads="auto"; "require" raises TypeError otherwise, "omit"
    /// exports timestamps only). Timestamps are zero-copy when the range is
    /// fully flushed into non-overlapping segments, else copied in batches
    /// of ``batch_rows``. Raises ValueError if t1 > t2.
    #[pyo3(signature = (t1 = None, t2 = None, *, payloads = "auto", batch_rows = crate::arrow::DEFAULT_BATCH_ROWS as isize))]
    fn arrow(
        &self,
        py: Python<'_>,
        t1: Option<Bound<'_, PyAny>>,
        t2: Option<Bound<'_, PyAny>>,
        payloads: &str,
        batch_rows: isize,
    ) -> PyResult<crate::arrow::PyArrowStream> {
        let policy = crate::arrow::Payloads::parse(payloads)?;
        let (t1, t2) = (t1.as_ref().map(coerce_ts).transpose()?, t2.as_ref().map(coerce_ts).transpose()?);
        let b = Bounds::optional(t1, t2).map_err(err)?;
        let snap = self.state().log.snapshot().map_err(err)?;
        crate::arrow::PyArrowStream::new(
            crate::arrow::Source::Range { snap, lo: b.lo, hi: b.hi },
            policy,
            batch_rows,
            Some(self.gc_link(py)),
        )
    }

    /// Arrow PyCapsule interface: every record of the log as a stream of
    /// record batches (``log.arrow()``; see there).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyCapsule>> {
        self.arrow(py, None, None, "auto", crate::arrow::DEFAULT_BATCH_ROWS as isize)?
            .export(py, requested_schema.as_ref())
    }

    /// Zero-copy PageSpans over the flushed records of [t1, t2) (or of everything).
    ///
    /// Pass both bounds or neither. Records still in the memtable are not
    /// included: call flush() first to see them. `kind` is 'segment' (the
    /// only kind, as in the C package: spans of the pages of flushed
    /// segments; each span covers at most one page).
    /// Each span pins its snapshot until closed (span.close(), or `with`).
    ///
    /// Raises: ValueError for one bound only, t1 > t2 or a kind other than 'segment'; TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    #[pyo3(signature = (t1 = None, t2 = None, *, kind = "segment"))]
    fn views(
        &self,
        py: Python<'_>,
        t1: Option<Bound<'_, PyAny>>,
        t2: Option<Bound<'_, PyAny>>,
        kind: &str,
    ) -> PyResult<PyPageSpanIter> {
        // `kind` picks what a span covers; the C package knows one kind,
        // 'segment' (flushed segment pages), and refuses any other.
        if kind != "segment" {
            return Err(PyValueError::new_err(format!(
                "page_spans: kind must be 'segment', got '{kind}' (spans cover the pages of flushed segments)"
            )));
        }
        let b = match (t1, t2) {
            (None, None) => Bounds::ALL,
            (Some(a), Some(b)) => Bounds::optional(Some(coerce_ts(&a)?), Some(coerce_ts(&b)?)).map_err(err)?,
            _ => {
                return Err(PyValueError::new_err(
                    "views() takes both bounds (t1, t2) or neither; use views(t1, t2) or views()",
                ))
            }
        };
        let spans = self.state().log.snapshot().map_err(err)?.page_spans(b.lo, b.hi);
        Ok(PyPageSpanIter::new(spans, Some(self.gc_link(py))))
    }

    /// Same as views(t1, t2, kind=kind), with both bounds required.
    ///
    /// Raises: ValueError if t1 > t2 or for a kind other than 'segment'; TypeError if a timestamp is not an int (or `__index__` object); OverflowError outside int64; TimelogError if the log is closed.
    #[pyo3(signature = (t1, t2, *, kind = "segment"))]
    fn page_spans(
        &self,
        py: Python<'_>,
        t1: Bound<'_, PyAny>,
        t2: Bound<'_, PyAny>,
        kind: &str,
    ) -> PyResult<PyPageSpanIter> {
        self.views(py, Some(t1), Some(t2), kind)
    }

    // ----- maintenance --------------------------------------------------

    // Maintenance runs detached from the interpreter; the engine re-attaches
    // only for the payload phases (see `build`).
    /// Seals the memtable and flushes every sealed memtable into L0 segments.
    ///
    /// Runs without holding the interpreter; readers are never blocked. Changes
    /// where records live, never what a read sees.
    ///
    /// Raises: TimelogError if the log is closed.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let st = self.state();
        released(py, || st.log.flush()).map_err(err)
    }

    /// Compacts: flushes, then merges L0 segments into L1, dropping deleted records.
    ///
    /// Changes where records live, never what a read sees.
    ///
    /// Raises: TimelogError if the log is closed.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        let st = self.state();
        released(py, || st.log.compact()).map_err(err)
    }

    /// Runs one maintenance step (flush or compaction); returns whether it did work.
    ///
    /// For maintenance='disabled' logs, which are maintained by the caller.
    ///
    /// Raises: TimelogError if the log is closed.
    fn maint_step(&self, py: Python<'_>) -> PyResult<bool> {
        let st = self.state();
        // The engine refuses while the worker runs (`Error::WorkerRunning`).
        released(py, || st.log.maint_step()).map_err(err)
    }

    /// Before `os.fork()` (the facade's `os.register_at_fork` hook): stops
    /// the worker and takes the maintainer lock, so the child inherits no
    /// lock held by a thread that does not exist there.
    fn _fork_prepare(&self, py: Python<'_>) {
        let st = self.state();
        let g = released(py, || st.log.fork_prepare());
        // SAFETY: `mem::transmute` between two instances of one type that
        // differ only in lifetime (std's contract: same layout). Extending
        // the borrow is sound because the guard borrows `st`, a state kept
        // alive by `self.states` until `self` is dropped (see `States`),
        // and `Drop for PyTimelog` finishes the guard before anything else
        // is dropped, so the borrow never outlives its referent.
        let g: timelog::ForkGuard<'static, PyObj> = unsafe { std::mem::transmute(g) };
        let old = self.fork.lock().unwrap_or_else(|e| e.into_inner()).replace(ForkHold(g));
        drop(old.map(|h| h.0.finish()));
    }

    /// After `os.fork()`, in the parent and in the child: releases the lock
    /// and restarts the worker if it ran (in the child, a new thread).
    fn _fork_finish(&self) -> PyResult<()> {
        let h = self.fork.lock().unwrap_or_else(|e| e.into_inner()).take();
        match h {
            Some(h) => h.0.finish().map_err(err),
            None => Ok(()),
        }
    }

    /// Starts the background maintenance thread (no-op if it runs).
    ///
    /// Raises: TimelogError if the log is closed.
    fn start_maintenance(&self) -> PyResult<()> {
        self.state().log.start_maintenance().map_err(err)
    }

    /// Stops the background maintenance thread and waits for it (no-op if stopped).
    ///
    /// Raises: TimelogError if the log is closed.
    fn stop_maintenance(&self, py: Python<'_>) -> PyResult<()> {
        let st = self.state();
        // The worker attaches to the interpreter for each step: wait for it detached.
        released(py, || st.log.stop_maintenance()).map_err(err)
    }

    /// Counters and settings, by section: {'storage': {...}, 'memtable': {...}, 'operational': {...}, ...}.
    ///
    /// Each section is a dict of ints, floats or None; see docs/python-api.md.
    ///
    /// Raises: TimelogError if the log is closed.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::stats::to_dict(py, &self.state().log)
    }

    /// Checks the log's internal invariants (ordering, manifest, tombstones).
    ///
    /// Raises: TimelogError if an invariant is broken, or if the log is closed.
    fn validate(&self) -> PyResult<()> {
        self.state().log.validate().map_err(err)
    }

    // ----- lifecycle ----------------------------------------------------

    /// Stops maintenance and releases every record. Idempotent.
    ///
    /// Raises: TimelogError if readers (iterators, PageSpans, object views,
    /// exported memoryviews) still pin snapshots: close them first. Readers
    /// that are garbage (unreachable cycles) are collected first: while
    /// readers pin it, close() runs one `gc.collect()` before refusing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut st = self.state();
        if !st.log.is_closed() && st.log.pinned() > 0 {
            // Readers in unreachable cycles pin the log until a collection
            // frees them (docs/threading.md, "Garbage collection"). The
            // finalizers it runs may close or reopen this log: look again.
            // Through `interp`: the collection runs finalizers, whose
            // Python code may re-attach while the interpreter exits.
            if let Ok(collect) = py.import("gc").and_then(|gc| gc.getattr("collect")) {
                // SAFETY: `interp::call0_discard`'s contract: attached
                // (`py`) and `collect` is a live callable (bound above).
                unsafe { interp::call0_discard(collect.as_ptr()) };
            }
            st = self.state();
        }
        // Detached: the engine refuses while readers are pinned
        // (`Error::Pinned`), then joins the worker, which attaches to the
        // interpreter for its payload phases.
        released(py, || st.log.close()).map_err(|e| match e {
            timelog::Error::Pinned(_) => crate::TimelogError::new_err(format!(
                "{e} (a garbage collection ran first; a reader referenced from a payload it shares with this log \
                 or with another reader is not collected: close it explicitly, or use `with log.range(...) as it:`)"
            )),
            e => err(e),
        })
    }

    /// Makes a closed log usable again, empty, with its settings updated by `kwargs`.
    ///
    /// Takes the constructor's keywords; settings not given take their defaults,
    /// except `min_ts` and `mostly_ordered_default`, which are kept.
    ///
    /// Raises: TimelogError if the log is not closed; TypeError/ValueError for
    /// unknown or invalid settings.
    #[pyo3(signature = (**kwargs))]
    fn reopen(&self, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        self.reopen_as("reopen()", kwargs)
    }

    /// Same as reopen(**kwargs) (the C package's other name for it).
    ///
    /// Raises: as reopen().
    #[pyo3(signature = (**kwargs))]
    fn configure(&self, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        self.reopen_as("configure()", kwargs)
    }

    /// Whether close() was called (and no reopen() since).
    #[getter]
    fn closed(&self) -> bool {
        self.state().log.is_closed()
    }

    /// The time unit of the timestamps: 's', 'ms', 'us' or 'ns'.
    #[getter]
    fn time_unit(&self) -> &'static str {
        self.state().log.config().time_unit.as_str()
    }

    /// 'background' while the maintenance thread runs, else 'disabled'.
    #[getter]
    fn maintenance_mode(&self) -> &'static str {
        let st = self.state();
        if st.log.maintenance_running() {
            MaintenanceMode::Background.as_str()
        } else {
            MaintenanceMode::Disabled.as_str()
        }
    }

    /// What a write does under backpressure: 'raise', 'silent' or 'flush'.
    #[getter]
    fn busy_policy(&self) -> &'static str {
        self.state().log.config().busy_policy.as_str()
    }

    /// How many writes hit backpressure so far.
    #[getter]
    fn busy_events(&self) -> u64 {
        self.state().log.counter(Counter::BusyEvents)
    }

    /// Retired storage structures waiting for their last reader to finish.
    #[getter]
    fn retired_queue_len(&self) -> usize {
        self.state().log.retired_queue_len()
    }

    /// Write batches whose allocation failed and raised MemoryError (any
    /// other allocation failure aborts the process, as Rust does).
    #[getter]
    fn alloc_failures(&self) -> u64 {
        self.state().log.counter(Counter::AllocFailures)
    }

    /// How many extend() items were skipped for an unconvertible timestamp.
    #[getter]
    fn extend_skipped(&self) -> u64 {
        self.state().log.counter(Counter::ExtendSkipped)
    }

    /// The retention floor (writes below are refused), or None.
    #[getter]
    fn min_ts_floor(&self) -> Option<i64> {
        self.state().log.floor()
    }

    /// The default ordering hint of extend() and bulk_append() (a no-op: kept for the C package's API).
    #[getter]
    fn mostly_ordered_default(&self) -> bool {
        self.state().log.config().mostly_ordered_default
    }

    /// Reports the log's collector root and its readers' links (see
    /// `crate::gc`: the root reports the payloads). Lock-free and
    /// allocation-free.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.gc.traverse(&visit)
    }

    /// Breaks reference cycles: drops the log's data and stops its worker
    /// (`Timelog::discard`; retried by a later collection while a
    /// maintenance step holds the maintainer lock).
    fn __clear__(&self) {
        let _ = self.state().log.discard();
    }

    /// A short description: length, time unit and timestamp range.
    fn __repr__(&self) -> PyResult<String> {
        let st = self.state();
        if st.log.is_closed() {
            return Ok("<Timelog closed>".into());
        }
        let n = st.log.len().map_err(err)?;
        let unit = st.log.config().time_unit.as_str();
        Ok(match (st.log.min_ts().map_err(err)?, st.log.max_ts().map_err(err)?) {
            (Some(a), Some(b)) => format!("<Timelog len~{n} time_unit='{unit}' [{a}..{b}]>"),
            _ => format!("<Timelog len~{n} time_unit='{unit}'>"),
        })
    }
}

impl Drop for PyTimelog {
    fn drop(&mut self) {
        if let Some(h) = self.fork.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.0.finish();
        }
        // Garbage collection of an open log closes it (best effort). The
        // worker is told to stop without waiting for it: it may be waiting
        // to attach to the interpreter this thread is attached to.
        let st = self.state();
        st.log.stop_maintenance_detached();
        // At exit, a daemon thread parked by `interp` may hold the
        // maintainer lock for good: do not wait for it, the process ends.
        if interp::finalizing() {
            return;
        }
        let _ = st.log.close();
    }
}
