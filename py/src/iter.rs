//! `TimelogIter`: a Python iterator that owns its snapshot.
//!
//! An iterator takes no lock. Its state is owned by one call at a time
//! through an ownership flag (on free-threaded builds one compare-and-swap
//! to take it, one store to give it back; on GIL builds, where every call
//! holds the GIL, a plain read and two stores): a second call that finds it taken — another thread
//! driving the same iterator at the same moment, or code run by the first
//! call (a garbage collector's finalizer) re-entering it — raises
//! `RuntimeError` at once, as CPython's generators do ("generator already
//! executing"). Payloads and tuples the state lets go of are released
//! after the flag is given back, so a `__del__` they run may use the
//! iterator.
//!
//! Per row, a `for` loop calls the type's `tp_iternext` slot, which is
//! [`iternext`] (installed over pyo3's by [`install_iternext`]): no pyo3
//! trampoline, no receiver check, no locked instruction on GIL builds, and
//! the result tuple refilled in place when the loop has let go of it.

use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use timelog::{Cursor, Order, Snapshot};

use crate::convert::{interp, PyObj};
use crate::views::PyPageSpanIter;

/// How many rows ahead of the one it returns the iterator starts loading
/// a payload object ([`PyTimelogIter::next_row`]; the first ones as it is
/// made; [`next_batch_ahead`]; [`loading_ahead`], for a collector's
/// traversal and the loops over a page's payloads): each row raises its
/// payload's reference count, and objects a long-running process
/// allocated at different times lie anywhere in memory, a cache miss each.
/// Sixteen rows cover a miss with a row's own work (session 42,
/// `benches/python/scattered.py` and its A/B in results/s42: a
/// 1,000,000-row `for` loop over such objects 4.1–4.8× faster, 1,000-row
/// reads 3.8–4.0×; 6 to 16 rows ahead all within 20% of each other;
/// in-order objects unchanged within the noise, at about 12 more
/// instructions a row).
pub(crate) const AHEAD: usize = 16;

/// `c.next_batch_with(n, f)`, starting to load each payload object
/// [`AHEAD`] rows before `f` gets it (see there): the batch is taken
/// `AHEAD` rows at a time, and before each stretch is handed out the
/// stretch after it starts loading ([`Cursor::peek_window`]: in place
/// payloads of the current run; late records and the first rows of the
/// next run are not loaded ahead).
pub(crate) fn next_batch_ahead(c: &mut Cursor<PyObj>, n: usize, mut f: impl FnMut(i64, &PyObj)) -> usize {
    prefetch_window(c, 0..AHEAD);
    let mut done = 0;
    while done < n {
        let k = (n - done).min(AHEAD);
        prefetch_window(c, AHEAD..AHEAD + k);
        let got = c.next_batch_with(k, &mut f);
        done += got;
        if got < k {
            break;
        }
    }
    done
}

/// The objects of `vs` in order, each one's header starting to load
/// [`AHEAD`] items before it is yielded: for the loops over a page's
/// payloads (a collector's traversal, Arrow exports, a span's objects
/// view).
pub(crate) fn loading_ahead(vs: &[PyObj]) -> impl ExactSizeIterator<Item = &PyObj> {
    for v in vs.iter().take(AHEAD) {
        timelog::segment::prefetch(v.as_ptr());
    }
    vs.iter().enumerate().map(move |(i, v)| {
        if let Some(next) = vs.get(i + AHEAD) {
            timelog::segment::prefetch(next.as_ptr());
        }
        v
    })
}

/// Starts loading the payload objects of the rows `d` places after the
/// cursor's next one, for `d` in `ds`, while the fast window holds them.
#[inline(always)]
fn prefetch_window(c: &Cursor<PyObj>, ds: std::ops::Range<usize>) {
    for d in ds {
        let Some(v) = c.peek_window(d) else { break };
        timelog::segment::prefetch(v.as_ptr());
    }
}

struct IterState {
    /// The cursor owns the snapshot (`view()` and `reversed()` read it
    /// through the cursor); `None` once exhausted or closed.
    cursor: Option<Cursor<PyObj>>,
    lo: i64,
    hi: i64,
    order: Order,
    /// Records of the whole walk of `[lo, hi]` in `order` over the
    /// snapshot, when this iterator yields only a stretch of it (one made
    /// by `reversed()`); `None` when it yields the walk from `skip` on
    /// (then the walk has `skip + taken + remaining` records: counted when
    /// asked, as the cursor may count some by walking them).
    total: Option<usize>,
    /// Records of that walk before this iterator's first one (an iterator
    /// made by `reversed()` starts inside the walk).
    skip: usize,
    /// Yielded so far (so `reversed(it)` can return exactly what is left).
    taken: usize,
    /// The last two tuples `__next__` returned, for reuse (see [`Recycler`]).
    spare: Recycler,
    /// The log's collector link (`crate::gc`), held with the snapshot and
    /// released with it (an exhausted or closed iterator no longer ties
    /// the log's data to itself). A `PyObj`, so that it is released safely
    /// from the `tp_iternext` slot (see [`iternext`]).
    link: Option<PyObj>,
}

impl IterState {
    /// The state of an iterator over `cursor`. An empty read keeps
    /// nothing: no cursor (its snapshot is already released) and no link.
    /// Built in one expression (no field changed afterwards), so that an
    /// inlined caller writes the state (about 200 bytes) once, where it
    /// ends up, instead of building it and copying it (a `memcpy` call per
    /// iterator, measured).
    #[inline(always)]
    fn new(cursor: Option<Cursor<PyObj>>, lo: i64, hi: i64, order: Order, link: Option<PyObj>) -> Self {
        let (cursor, link) = match cursor {
            Some(c) if !c.is_exhausted() => (Some(c), link),
            _ => (None, None),
        };
        IterState { cursor, lo, hi, order, total: None, skip: 0, taken: 0, spare: Recycler::default(), link }
    }

    /// The snapshot, while the iterator is not exhausted or closed.
    fn snapshot(&self) -> Option<&Snapshot<PyObj>> {
        self.cursor.as_ref().and_then(|c| c.snapshot())
    }

    /// Takes the cursor (and snapshot) and the spare tuples out, for the
    /// caller to drop once ownership is given back (they may hold the last
    /// reference to a payload, whose `__del__` could use this iterator).
    fn release(&mut self) -> Released {
        Released(self.cursor.take(), std::mem::take(&mut self.spare), self.link.take())
    }
}

/// What [`IterState::release`] took out; dropped after ownership ends.
struct Released(
    #[allow(dead_code)] Option<Cursor<PyObj>>,
    #[allow(dead_code)] Recycler,
    #[allow(dead_code)] Option<PyObj>,
);

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
    /// Released only by `Drop` (as `PyObj`): `ManuallyDrop` keeps the
    /// compiler's drop glue for `Py` (a read of pyo3's thread-local attach
    /// counter per iterator, even for empty slots) out of the path.
    slots: std::mem::ManuallyDrop<[Option<Py<PyTuple>>; 2]>,
    /// Which slot the next refill tries (GIL builds only: free-threaded
    /// builds never refill).
    #[cfg_attr(Py_GIL_DISABLED, allow(dead_code))]
    turn: usize,
    /// Per slot: whether this code untracked the slot's tuple (see
    /// [`set_tracking`]), so that a refill with another atomic payload
    /// makes no call. An untracked tuple stays untracked: CPython tracks a
    /// tuple only when it makes one (or refills its own, in `zip` and
    /// alike), and nothing else tracks the tuples of this iterator. (Were
    /// one tracked behind our back, the flag would only leave it tracked:
    /// the collector's state before this change.)
    #[cfg_attr(Py_GIL_DISABLED, allow(dead_code))]
    untracked: [bool; 2],
    /// Refills in a row that found their slot's tuple still referenced by
    /// the caller (it keeps its rows: `list(it)`, a comprehension), reset
    /// by a refill that succeeds.
    #[cfg_attr(Py_GIL_DISABLED, allow(dead_code))]
    kept: u8,
    /// Rows left to make without keeping a spare: after [`KEPT_STREAK`]
    /// kept rows in a row a spare is one more reference to take, and a
    /// replaced one to release, per row, with no refill to pay for them
    /// (callgrind: 9,447 → 9,370 instructions per `list(log.range(t, t +
    /// 10))`, session 29); set to [`PAUSE`] then, so that a caller that
    /// changes its pattern mid-way is followed within that many rows. Also
    /// set when the caller asks for the length (see
    /// [`expect_kept`](Recycler::expect_kept)).
    #[cfg_attr(Py_GIL_DISABLED, allow(dead_code))]
    pause: u8,
}

/// Kept rows in a row after which [`Recycler`] stops keeping spares.
#[cfg(not(Py_GIL_DISABLED))]
const KEPT_STREAK: u8 = 2;

/// Rows a [`Recycler`] makes without spares before it tries again.
#[cfg(not(Py_GIL_DISABLED))]
const PAUSE: u8 = 32;

impl Drop for Recycler {
    /// A spare tuple may hold the last reference to a payload (the
    /// snapshot that also held it is released first), so each is released
    /// through [`PyObj`]: `interp::decref` when attached — a payload's
    /// `__del__` that re-attaches while the interpreter exits parks this
    /// thread instead of aborting the process — or the deferred queue.
    fn drop(&mut self) {
        // Every slot is emptied here, so `ManuallyDrop` leaks nothing.
        for slot in self.slots.iter_mut() {
            if let Some(t) = slot.take() {
                drop(PyObj::new(t.into_any()));
            }
        }
    }
}

impl Recycler {
    /// The caller asked for the iterator's length, as `list(it)`,
    /// `tuple(it)` and `list.extend(it)` do before they collect every row:
    /// no spare is kept for the next [`PAUSE`] rows (the caller keeps
    /// them, so a spare would never be refilled). Without this, a short
    /// read collected by `list` paid for two spares and four rows of
    /// bookkeeping before the recycler saw its rows kept (callgrind: about
    /// 250 of the 9,400 instructions of `list(log.range(t, t + 10))`,
    /// session 34). A `for` loop asks for no length.
    #[inline(always)]
    fn expect_kept(&mut self) {
        #[cfg(not(Py_GIL_DISABLED))]
        {
            self.pause = PAUSE;
        }
    }

    /// A `(ts, v)` tuple: a refilled spare when one is uniquely ours,
    /// else a new one (kept as a spare). Objects the refill replaces are
    /// pushed to `dead`, to be released after the iterator is unlocked.
    #[cfg_attr(Py_GIL_DISABLED, allow(unused_variables, unused_mut))]
    #[inline(always)]
    fn pair<'py>(&mut self, py: Python<'py>, ts: i64, v: &PyObj, dead: &mut Dead) -> Bound<'py, PyTuple> {
        #[cfg(not(Py_GIL_DISABLED))]
        {
            if self.pause > 0 {
                self.pause -= 1;
                return new_pair(py, ts, v).0;
            }
            self.refill(py, ts, v, dead)
        }
        #[cfg(Py_GIL_DISABLED)]
        pair(py, ts, v)
    }

    /// [`pair`](Self::pair) outside a pause: a spare refilled, or a new
    /// tuple kept as one.
    #[cfg(not(Py_GIL_DISABLED))]
    #[inline(never)]
    fn refill<'py>(&mut self, py: Python<'py>, ts: i64, v: &PyObj, dead: &mut Dead) -> Bound<'py, PyTuple> {
        let k = self.turn;
        let slot = &mut self.slots[k];
        self.turn ^= 1;
        if let Some(t) = slot.as_ref() {
            let p = t.as_ptr();
            // SAFETY: CPython C API, GIL build only (see the type
            // docs): every call below needs an attached thread (`py`).
            // `Py_REFCNT(p) == 1` with the GIL held means `slot` holds
            // the only reference, so no other code can observe the
            // tuple while we refill it (PyLong_FromLongLong allocates
            // an int, which runs no Python code and no collection).
            // The C API reserves PyTuple_SET_ITEM for tuples no one
            // else can see yet; a tuple whose only reference we hold is
            // one (CPython's zip, enumerate and dict.items() iterators
            // refill their result tuple under the same test).
            // PyTuple_GET_ITEM returns borrowed references; the tuple
            // owns them, and since PyTuple_SET_ITEM "steals" the new
            // item and does not release the old one, each replaced
            // item is released here, once: item 0 at once with
            // Py_DECREF — it is an exact `int` made by
            // PyLong_FromLongLong (only this code fills these
            // tuples), whose deallocation runs no Python code — unless
            // `ints::refill` rewrote it in place (its contract: that
            // int, referenced by this tuple that only we can reach;
            // it then stays item 0, nothing is released or stolen),
            // and the payload through `release_soon`
            // (its contract: GIL build, attached, owned reference). The new items are new references
            // (PyLong_FromLongLong's result, checked non-NULL, and the
            // payload after Py_INCREF; `v` keeps it alive meanwhile).
            // The tuple's tracking by the cycle collector is then set
            // for its new payload (see [`set_tracking`]: the old
            // payload may have been atomic and the new one a
            // container, or the reverse); the tuple is a GC object and
            // an exact tuple whose items are set, only we can reach it
            // (count 1), and `untracked[k]` is its flag, as that
            // function requires.
            unsafe {
                if pyo3::ffi::Py_REFCNT(p) == 1 {
                    // The timestamp: the old `int` rewritten in place
                    // when only this tuple holds it (`ints::refill`:
                    // item 0 is an exact int made by
                    // PyLong_FromLongLong, and the tuple, ours alone,
                    // holds it), else a new one.
                    let old = pyo3::ffi::PyTuple_GET_ITEM(p, 0);
                    if !crate::ints::refill(old, ts) {
                        let n = pyo3::ffi::PyLong_FromLongLong(ts);
                        assert!(!n.is_null(), "out of memory converting a timestamp");
                        pyo3::ffi::Py_DECREF(old);
                        pyo3::ffi::PyTuple_SET_ITEM(p, 0, n);
                    }
                    release_soon(pyo3::ffi::PyTuple_GET_ITEM(p, 1), dead);
                    let obj = v.as_ptr();
                    pyo3::ffi::Py_INCREF(obj);
                    pyo3::ffi::PyTuple_SET_ITEM(p, 1, obj);
                    set_tracking(p, obj, &mut self.untracked[k]);
                    self.kept = 0;
                    return t.bind(py).clone();
                }
            }
            self.kept += 1;
            if self.kept == KEPT_STREAK {
                // The caller keeps its rows: no spare for a while (the
                // slots keep theirs, released with the recycler).
                self.kept = 0;
                self.pause = PAUSE;
                return new_pair(py, ts, v).0;
            }
        }
        let (t, untracked) = new_pair(py, ts, v);
        self.untracked[k] = untracked;
        if let Some(old) = slot.replace(t.clone().unbind()) {
            dead.push(old.into_ptr());
        }
        t
    }
}

/// Releases `p`, a payload reference taken out of a spare tuple (see
/// [`Recycler::pair`]): at once when it is not the last reference — a
/// plain decrement that cannot free anything, so it runs no code while the
/// iterator is owned — else through `dead`, after ownership ends (the
/// object's deallocation may run a `__del__` that uses this iterator).
/// The common case (the snapshot still holds the payload) saves a call to
/// `Py_DecRef` per row.
///
/// # Safety
///
/// GIL build, attached, and `p` is an owned reference.
#[cfg(not(Py_GIL_DISABLED))]
#[inline]
unsafe fn release_soon(p: *mut pyo3::ffi::PyObject, dead: &mut Dead) {
    // SAFETY: CPython C API, GIL build (this function's contract): the
    // attached thread holds the GIL, so no other thread changes the count
    // between the read and the decrement; a count above 1 with one of them
    // ours stays above 0 after Py_DECREF, which then only decrements (no
    // deallocation, no code run). Immortal objects report a huge count and
    // Py_DECREF leaves them alone.
    unsafe {
        if pyo3::ffi::Py_REFCNT(p) > 1 {
            pyo3::ffi::Py_DECREF(p);
        } else {
            dead.push(p);
        }
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

    /// Releases the references through `interp::decref`: one may be the
    /// last reference to a payload (the iterator's snapshot, released just
    /// before at the end of the walk, held the other), whose `__del__` may
    /// re-attach while the interpreter exits.
    #[inline(always)]
    fn release(self, py: Python<'_>) {
        if self.n != 0 {
            self.release_all(py);
        }
    }

    #[cold]
    #[inline(never)]
    fn release_all(self, _py: Python<'_>) {
        for &p in &self.refs[..self.n] {
            // SAFETY: `interp::decref`'s contract: attached (`_py`), and
            // each pointer is an owned reference moved out of a tuple or a
            // spare slot (see `Recycler::pair`), released once, here.
            unsafe { interp::decref(p) }
        }
    }
}

/// Iterator over `(ts, obj)` records of one snapshot, in timestamp order.
#[pyclass(frozen, name = "TimelogIter", module = "timelog._timelog")]
pub struct PyTimelogIter {
    /// Set while one call owns `st` (see the module docs).
    busy: AtomicBool,
    st: UnsafeCell<IterState>,
}

// SAFETY: std's `Sync` contract (shared references may be used from
// several threads at once): `st` is only reached through an `Owned` guard,
// which exists for one caller at a time — on free-threaded builds the
// `busy` flag is taken with an Acquire compare-and-swap and given back with
// a Release store, so each owner's accesses happen after the previous
// owner's (the same acquire/release pairing as a mutex); on GIL builds
// every use of an iterator is by a thread holding the GIL (all its methods
// and slots run attached and none detaches; pyo3 refuses to import the
// module in a subinterpreter, the only place another GIL exists), so the
// flag's read and write happen with no other thread running, and the GIL's
// release/acquire orders successive owners (see `try_own`). `IterState`
// itself is `Send`.
unsafe impl Sync for PyTimelogIter {}

/// Exclusive access to an iterator's state (see the module docs).
struct Owned<'a> {
    it: &'a PyTimelogIter,
}

impl Owned<'_> {
    fn st(&mut self) -> &mut IterState {
        // SAFETY: `UnsafeCell::get`'s aliasing rule: this guard is the only
        // owner of the state (it took `busy`, see `Sync` above), and the
        // `&mut self` borrow keeps the reference unique for its lifetime.
        unsafe { &mut *self.it.st.get() }
    }
}

impl Drop for Owned<'_> {
    fn drop(&mut self) {
        self.it.busy.store(false, Ordering::Release);
    }
}

/// The message of the `RuntimeError` a call raises when another call owns
/// the iterator.
const IN_USE: &CStr = c"TimelogIter already executing: another thread (or code run by this iterator's own call, like a __del__) is using it; an iterator is for one thread at a time, so give each thread its own (log[t1:t2] is cheap)";

/// Another call owns the iterator (see the module docs).
struct InUse;

impl From<InUse> for PyErr {
    #[cold]
    fn from(_: InUse) -> PyErr {
        in_use()
    }
}

#[cold]
fn in_use() -> PyErr {
    PyRuntimeError::new_err(IN_USE.to_str().expect("ASCII message"))
}

/// Whether a tuple holding `p` (and an exact `int`, the timestamp) can
/// never be part of a reference cycle: CPython's own test for untracking a
/// tuple (`_PyTuple_MaybeUntrack`, which the cycle collector runs on the
/// tuples it examines, on GIL and free-threaded builds alike), item by
/// item `!_PyObject_GC_MAY_BE_TRACKED(item)`: `p` is not a GC object (its
/// type lacks `Py_TPFLAGS_HAVE_GC`: `int`, `float`, `str`, `bytes`,
/// `None`, `bool`, ... — such objects are never traversed, so no cycle the
/// collector could find goes through them), or `p` is an exact tuple the
/// collector does not track (tuples are immutable, so one that holds
/// nothing trackable stays so). One case is treated more conservatively
/// than CPython: a type whose objects are GC objects only per instance
/// (`tp_is_gc`, which only `type` objects have) counts as trackable. The
/// timestamp, an exact `int`, is never a GC object.
///
/// # Safety
///
/// `p` is a live object; attached.
#[inline(always)]
unsafe fn untrackable(p: *mut pyo3::ffi::PyObject) -> bool {
    // SAFETY: CPython C API (non-limited build), attached (this function's
    // contract): Py_TYPE reads the live object's type; PyType_IS_GC reads
    // its `tp_flags` (HAVE_GC is fixed when a type is created, and
    // `__class__` assignment refuses to change it); PyObject_GC_IsTracked
    // takes any object and is called only on an exact tuple, a GC object.
    unsafe {
        let tp = pyo3::ffi::Py_TYPE(p);
        pyo3::ffi::PyType_IS_GC(tp) == 0
            || (tp == std::ptr::addr_of_mut!(pyo3::ffi::PyTuple_Type) && pyo3::ffi::PyObject_GC_IsTracked(p) == 0)
    }
}

/// Sets whether the cycle collector tracks `t`, a refilled `(ts, obj)`
/// tuple: untracked when `obj` is [`untrackable`] (the tuple can never be
/// part of a cycle: the collector would untrack it itself the first time
/// it examined it, after traversing it; doing it at once spares a young
/// collection that traversal), tracked otherwise. `untracked` is the
/// slot's flag (see [`Recycler`]): set when this code untracked `t`, so
/// that an atomic payload after an atomic one costs no call.
///
/// # Safety
///
/// Attached; `t` is an exact tuple (a GC object) whose items are set and
/// which no other code can see or change during the call (a spare whose
/// only reference is ours, see [`Recycler::pair`]); `obj` is its item 1;
/// `untracked` is true only if `t` was untracked by this code since
/// (see [`Recycler`]: it then still is).
#[cfg(not(Py_GIL_DISABLED))]
#[inline(always)]
unsafe fn set_tracking(t: *mut pyo3::ffi::PyObject, obj: *mut pyo3::ffi::PyObject, untracked: &mut bool) {
    // SAFETY: CPython C API, attached (this function's contract).
    // PyObject_GC_UnTrack accepts a GC object tracked or not (it checks);
    // PyObject_GC_Track requires a GC object that is not tracked, checked
    // first with PyObject_GC_IsTracked, and one whose items are all set
    // (a collection may traverse it at once): they are. Changing the
    // tracking of an object no other code can reach needs no more (GIL
    // build: the GIL is held). An untracked tuple with an untrackable item
    // is a state CPython's own collector creates (`_PyTuple_MaybeUntrack`). The flag
    // only ever skips an UnTrack (idempotent; skipping it wrongly would
    // leave a tuple tracked, which is always safe); Track is decided by
    // PyObject_GC_IsTracked alone (the collector may have untracked a
    // tuple whose payload was a tuple it untracked meanwhile).
    unsafe {
        if untrackable(obj) {
            if !*untracked {
                pyo3::ffi::PyObject_GC_UnTrack(t.cast());
                *untracked = true;
            }
        } else {
            if pyo3::ffi::PyObject_GC_IsTracked(t) == 0 {
                pyo3::ffi::PyObject_GC_Track(t.cast());
            }
            *untracked = false;
        }
    }
}

/// Builds the `(ts, obj)` tuple, untracked by the cycle collector when
/// `obj` is atomic (see `set_tracking`).
#[inline]
pub(crate) fn pair<'py>(py: Python<'py>, ts: i64, v: &PyObj) -> Bound<'py, PyTuple> {
    new_pair(py, ts, v).0
}

/// [`pair`], and whether the tuple was untracked.
#[inline(always)]
fn new_pair<'py>(py: Python<'py>, ts: i64, v: &PyObj) -> (Bound<'py, PyTuple>, bool) {
    // SAFETY: CPython C API; every call needs an attached thread (`py`).
    // PyTuple_New(2) returns a new reference to a fresh tuple no one else
    // can see yet, or NULL when out of memory (checked); PyTuple_SET_ITEM
    // may only fill a fresh tuple's slots and steals the references passed,
    // which are new ones: PyLong_FromLongLong's result (checked non-NULL)
    // and the payload after Py_INCREF (`v` keeps it alive meanwhile).
    // PyObject_GC_UnTrack takes a GC object (a tuple is one, tracked by
    // PyTuple_New) and is called once both items are set, while the tuple
    // is still ours alone, which is all a change of tracking needs: on GIL
    // builds the GIL is held; on free-threaded builds UnTrack clears a bit
    // of the object's own `ob_gc_bits`, which only its owner writes outside
    // a stop-the-world collection (the collector runs with every other
    // thread stopped: it never sees a half-done change). An untracked tuple
    // whose items are not GC objects is a state CPython's own collector
    // creates (`_PyTuple_MaybeUntrack`, run by both builds' collectors).
    // `Bound::from_owned_ptr` takes over the tuple's new reference, and the
    // object is a tuple, as `cast_into_unchecked` requires.
    unsafe {
        let t = pyo3::ffi::PyTuple_New(2);
        assert!(!t.is_null(), "out of memory building a (ts, obj) tuple");
        let n = pyo3::ffi::PyLong_FromLongLong(ts);
        assert!(!n.is_null(), "out of memory converting a timestamp");
        pyo3::ffi::PyTuple_SET_ITEM(t, 0, n);
        let p = v.as_ptr();
        pyo3::ffi::Py_INCREF(p);
        pyo3::ffi::PyTuple_SET_ITEM(t, 1, p);
        // PyTuple_New returns a tracked tuple: only untracking applies.
        let untrack = untrackable(p);
        if untrack {
            pyo3::ffi::PyObject_GC_UnTrack(t.cast());
        }
        (Bound::from_owned_ptr(py, t).cast_into_unchecked(), untrack)
    }
}

impl PyTimelogIter {
    #[inline(always)]
    pub(crate) fn new(snap: Snapshot<PyObj>, lo: i64, hi: i64, order: Order, link: PyObj) -> Self {
        let cursor = snap.into_cursor(lo, hi, order);
        if let Some(v) = cursor.peek() {
            // The first row's payload gets its reference count raised when
            // it is returned; its header starts loading now, while this
            // iterator is made and handed to the caller — and so do the
            // next rows' up to the distance `next_row` keeps.
            timelog::segment::prefetch(v.as_ptr());
            prefetch_window(&cursor, 1..AHEAD);
        }
        Self::from_state(IterState::new(Some(cursor), lo, hi, order, Some(link)))
    }

    /// This iterator as a Python object (a new reference): on GIL builds a
    /// deallocated one from the [`freelist`] when it holds one, else a new
    /// one (pyo3's `Bound::new`, as for every `#[pymethods]` read).
    #[inline(always)]
    pub(crate) fn into_object(self, py: Python<'_>) -> PyResult<*mut pyo3::ffi::PyObject> {
        #[cfg(not(Py_GIL_DISABLED))]
        // SAFETY: `freelist::pop`'s contract: attached (`py`), GIL build.
        if let Some(obj) = unsafe { freelist::pop() } {
            // SAFETY: CPython C API, attached. `obj` is an instance of this
            // class that `dealloc` dropped the value of and kept instead of
            // freeing (`freelist::push`'s contract): its memory and its
            // type field are unchanged, no other code can reach it, and it
            // is untracked. Its type is this class's, which lives as long
            // as the process (pyo3's type cache keeps a reference to it, as
            // does the module). PyObject_Init makes it a new object of that
            // type with one reference, and takes the reference to the type
            // an instance holds (released by `dealloc`). [`value_slot`] is the
            // address of the class's Rust value inside it, dropped, so
            // `ptr::write` fills it without dropping anything; the class's
            // other fields (pyo3's) are unchanged since the object was
            // first made (a `frozen`, `Send` class with no dict or weakref
            // slot keeps no per-instance state there). Once the value is
            // set the object is tracked, as `PyType_GenericAlloc` tracks a
            // new instance of a GC type (the collector may traverse it at
            // once: it is whole).
            unsafe {
                pyo3::ffi::PyObject_Init(obj, pyo3::ffi::Py_TYPE(obj));
                std::ptr::write(value_slot(py, obj), self);
                pyo3::ffi::PyObject_GC_Track(obj.cast());
            }
            return Ok(obj);
        }
        Ok(Bound::new(py, self)?.into_ptr())
    }

    #[inline(always)]
    fn from_state(st: IterState) -> Self {
        Self { busy: AtomicBool::new(false), st: UnsafeCell::new(st) }
    }

    /// Takes ownership of the state, or `None` if a call holds it.
    ///
    /// Free-threaded builds take the flag with a compare-and-swap: two
    /// threads may call at the same instant. GIL builds only read and set
    /// it (no locked instruction per row): every caller holds the GIL (all
    /// methods of this class run attached, none detaches while it owns the
    /// state), and the GIL changes hands only when a thread releases it, so
    /// no other call can run between the read and the write; a call that
    /// finds the flag set — re-entry from code run inside the owning call,
    /// or another thread that got the GIL while that code ran — still
    /// raises. The GIL's hand-over orders each owner's accesses after the
    /// previous owner's, as the Acquire/Release pair does without it.
    #[inline]
    fn try_own(&self) -> Option<Owned<'_>> {
        #[cfg(Py_GIL_DISABLED)]
        let taken = self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok();
        #[cfg(not(Py_GIL_DISABLED))]
        let taken = !self.busy.load(Ordering::Relaxed) && {
            self.busy.store(true, Ordering::Relaxed);
            true
        };
        // Not `then_some`: it would build (and drop) a guard even when the
        // flag was not taken, and dropping a guard gives the flag back.
        if taken {
            Some(Owned { it: self })
        } else {
            None
        }
    }

    /// Takes ownership of the state, or raises `RuntimeError`.
    fn own(&self) -> PyResult<Owned<'_>> {
        self.try_own().ok_or_else(in_use)
    }

    /// The next `(ts, obj)` row, or `None` once exhausted; `InUse`, with no
    /// change, when another call owns the iterator.
    ///
    /// The common row, a record of the cursor's fast window, is read here:
    /// it is never the cursor's last record, so the state keeps its
    /// cursor and nothing is released but what a refilled spare replaced.
    /// Every other row goes through [`next_row_slow`](Self::next_row_slow).
    ///
    /// Each row starts loading the object of the row [`AHEAD`] places on,
    /// whose reference count that row's tuple will raise.
    #[inline]
    fn next_row<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyTuple>>, InUse> {
        let mut own = self.try_own().ok_or(InUse)?;
        let st = own.st();
        let mut dead = Dead::default();
        let spares = &mut st.spare;
        let c = st.cursor.as_mut();
        if let Some(v) = c.as_ref().and_then(|c| c.peek_window(AHEAD)) {
            timelog::segment::prefetch(v.as_ptr());
        }
        if let Some(t) = c.and_then(|c| c.next_in_window(|ts, v| spares.pair(py, ts, v, &mut dead))) {
            st.taken += 1;
            // Ownership given back first (see `next_row_slow`).
            drop(own);
            dead.release(py);
            return Ok(Some(t));
        }
        Ok(self.next_row_slow(py, own))
    }

    /// [`next_row`](Self::next_row) for any row, with the state owned.
    #[inline(never)]
    fn next_row_slow<'py>(&self, py: Python<'py>, mut own: Owned<'_>) -> Option<Bound<'py, PyTuple>> {
        let mut dead = Dead::default();
        let mut spare = None;
        let out = {
            let st = own.st();
            let c = st.cursor.as_mut()?;
            let spares = &mut st.spare;
            let out = c.next_with(|ts, v| spares.pair(py, ts, v, &mut dead));
            if out.is_some() {
                st.taken += 1;
            }
            if st.cursor.as_ref().is_none_or(Cursor::is_exhausted) {
                spare = Some(st.release());
            }
            drop(own);
            out
        };
        // Ownership given back: releasing a payload may run arbitrary
        // `__del__` code, which may use this iterator.
        drop(spare);
        dead.release(py);
        out
    }

    pub(crate) fn take_list<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        let mut own = self.own()?;
        let st = own.st();
        let Some(c) = st.cursor.as_mut() else {
            return Ok(PyList::empty(py));
        };
        // Exact: the list is allocated at its final size and filled by
        // index (no append, no regrowth). (A cursor collecting late records
        // as it reads counts at most `n` of them here.)
        let want = c.remaining_upto(n);
        // SAFETY: CPython C API, attached (`py`). PyList_New(want) returns
        // a new reference to a list of `want` NULL slots, or NULL with an
        // exception set (then `Err`). Its contract: the list must not be
        // exposed to Python code before every slot is set with
        // PyList_SET_ITEM. It is not: it stays local until returned, each
        // slot below `k` is set exactly once with a new reference (which
        // SET_ITEM steals), and if the cursor yielded fewer than `want` rows
        // (it does not: the count is exact) the unset tail is cut off
        // first. (A collection triggered by a tuple allocation meanwhile
        // traverses it safely: list traversal skips NULL slots, as for
        // CPython's own lists under construction.)
        let list = unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyList_New(want as isize))? };
        let lp = list.as_ptr();
        let mut i = 0usize;
        let k = next_batch_ahead(c, want, |ts, v| {
            // SAFETY: PyList_SET_ITEM's contract: `lp` is a list, the index
            // is in bounds (`i < want`: next_batch_ahead yields at most
            // `want` rows), the slot is still NULL (each index is set once),
            // and the item is a new reference, which it steals.
            unsafe { pyo3::ffi::PyList_SET_ITEM(lp, i as isize, pair(py, ts, v).into_ptr()) };
            i += 1;
        });
        if k < want {
            // SAFETY: PyList_SetSlice(list, lo, hi, NULL) deletes the slice
            // (C API docs); attached (`py`); the bounds are within the list,
            // and the deleted slots are the never-set (NULL) tail, which
            // list_ass_slice releases with Py_XDECREF (NULL-safe).
            unsafe { pyo3::ffi::PyList_SetSlice(lp, k as isize, want as isize, std::ptr::null_mut()) };
        }
        st.taken += k;
        let mut spare = None;
        if st.cursor.as_ref().is_some_and(Cursor::is_exhausted) {
            spare = Some(st.release());
        }
        drop(own);
        drop(spare);
        // SAFETY: `cast_into_unchecked` needs a list: it is one (PyList_New),
        // and every slot is set (see above).
        Ok(unsafe { list.cast_into_unchecked() })
    }
}

#[pymethods]
impl PyTimelogIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// `it.__next__()` (a `for` loop calls the `tp_iternext` slot,
    /// [`iternext`], which does the same without pyo3's wrapper).
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        Ok(self.next_row(py)?)
    }

    /// Rows still to come (exact; no scan).
    fn __len__(&self) -> PyResult<usize> {
        Ok(self.own()?.st().cursor.as_ref().map_or(0, |c| c.remaining()))
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
    fn __reversed__(&self) -> PyResult<PyTimelogIter> {
        let mut own = self.own()?;
        let st = own.st();
        let rev = match st.order {
            Order::Asc => Order::Desc,
            Order::Desc => Order::Asc,
        };
        let link = st.link.clone();
        if st.total.is_none() && st.skip + st.taken == 0 {
            // Nothing yielded yet: the whole walk the other way, with
            // nothing to count (a cursor may count records by walking them).
            let (lo, hi) = (st.lo, st.hi);
            let snap = st.snapshot().cloned();
            drop(own);
            let cursor = snap.map(|s| s.into_cursor(lo, hi, rev));
            let link = cursor.as_ref().and(link);
            return Ok(PyTimelogIter::from_state(IterState::new(cursor, lo, hi, rev, link)));
        }
        let remaining = st.cursor.as_ref().map_or(0, |c| c.remaining());
        let Some(snap) = st.snapshot().filter(|_| remaining > 0).cloned() else {
            return Ok(PyTimelogIter::from_state(IterState::new(None, st.lo, st.hi, rev, None)));
        };
        // What this iterator has not yielded yet are the records at
        // positions [pos, pos + remaining) of its walk, `pos` = skip +
        // taken; in the opposite walk of the same range and snapshot they
        // are those at [total - pos - remaining, total - pos).
        let (lo, hi) = (st.lo, st.hi);
        let total = st.total.unwrap_or(st.skip + st.taken + remaining);
        let skip = total - (st.skip + st.taken) - remaining;
        drop(own);
        let mut cursor = snap.into_cursor(lo, hi, rev);
        debug_assert_eq!(cursor.remaining(), total, "the same range of the same snapshot");
        Cursor::skip(&mut cursor, skip);
        cursor.truncate(remaining);
        let mut rst = IterState::new(Some(cursor), lo, hi, rev, link);
        rst.total = Some(total);
        rst.skip = skip;
        Ok(PyTimelogIter::from_state(rst))
    }

    /// A PageSpanIter over the flushed pages of the same range and snapshot.
    ///
    /// Records still in the memtable are not included (flush() first).
    fn view(&self) -> PyResult<PyPageSpanIter> {
        let mut own = self.own()?;
        let st = own.st();
        let spans = match st.snapshot() {
            Some(s) => s.page_spans(st.lo, st.hi),
            None => Vec::new(),
        };
        let link = st.link.clone();
        drop(own);
        Ok(PyPageSpanIter::new(spans, link))
    }

    /// Releases the iterator's snapshot (its pin on the log) early. Idempotent.
    fn close(&self) -> PyResult<()> {
        let mut own = self.own()?;
        let released = own.st().release();
        drop(own);
        drop(released);
        Ok(())
    }

    /// Whether the iterator was closed or exhausted (it no longer pins a snapshot).
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        Ok(self.own()?.st().snapshot().is_none())
    }

    /// Direction and rows remaining.
    fn __repr__(&self) -> String {
        let Some(mut own) = self.try_own() else {
            return "<TimelogIter executing>".into();
        };
        let st = own.st();
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
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    /// Reports the log's collector link (`crate::gc`), the spare tuples and
    /// the payloads only this iterator's snapshot holds (see
    /// `Snapshot::for_each_owned_payload`). The state is skipped while a
    /// call owns the iterator (a collection triggered inside it): reporting
    /// less is safe, the collector then keeps the objects.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Some(mut own) = self.try_own() else { return Ok(()) };
        let st = own.st();
        if let Some(l) = &st.link {
            visit.call(l.as_py())?;
        }
        for t in st.spare.slots.iter().flatten() {
            visit.call(t)?;
        }
        let mut res = Ok(());
        if let Some(snap) = st.snapshot() {
            snap.for_each_owned_payload(&mut |vs| {
                if res.is_ok() {
                    res = crate::gc::visit_payloads(&visit, vs);
                }
            });
        }
        res
    }

    /// Breaks reference cycles: releases the snapshot and the spare tuples.
    fn __clear__(&self) {
        let Some(mut own) = self.try_own() else { return };
        let released = own.st().release();
        drop(own);
        drop(released);
    }
}

/// The type's `tp_iternext` slot: what a `for` loop, `next()`, `list()`
/// and every C-level consumer call per row.
///
/// pyo3's slot for `__next__` goes through its trampoline (a thread-local
/// attach counter up and down, a panic trap) and a checked downcast of the
/// receiver; this one calls [`PyTimelogIter::next_row`] directly. What the
/// trampoline provides is kept: a panic becomes a Python exception
/// (`PanicException`, as pyo3 raises), and the one error of the path
/// (another call owns the iterator) is raised with `PyErr_SetString`.
/// pyo3's attach counter is not needed: nothing on this path uses it —
/// payloads are released through `PyObj`, which asks CPython with
/// `PyGILState_Check`; tuples and ints through the C API; no `Py<T>` is
/// cloned or dropped, and no pyo3 `PyErr` is made (restoring one drops
/// `Py` references, which pyo3 would leak without the counter). The panic
/// path, cold, attaches through pyo3 first. `it.__next__()` stays pyo3's
/// method and runs the same body.
///
/// # Safety
///
/// Installed by [`install_iternext`] as `tp_iternext` of `TimelogIter`:
/// CPython calls it attached, with a live instance of that type (the class
/// is not subclassable), borrowed for the call.
unsafe extern "C" fn iternext(slf: *mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject {
    // SAFETY: `Python::assume_attached`'s contract: the thread is attached
    // — CPython calls a type slot only from an attached thread.
    let py = unsafe { Python::assume_attached() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: [`value_slot`]'s contract: CPython passes the iterator
        // itself (this function's contract), alive for the call, so its
        // value is initialized and outlives the reference. The class is
        // `frozen`, so pyo3 allows a shared reference to its Rust value at
        // any time (no borrow flag).
        let it = unsafe { &*value_slot(py, slf) };
        it.next_row(py).map(|o| o.map_or(std::ptr::null_mut(), Bound::into_ptr))
    }));
    match r {
        Ok(Ok(p)) => p,
        Ok(Err(InUse)) => {
            raise_in_use();
            std::ptr::null_mut()
        }
        Err(payload) => {
            raise_panic(payload, "panic in TimelogIter.__next__");
            std::ptr::null_mut()
        }
    }
}

/// The type's `sq_length` and `mp_length` slots: `len(it)`, and the
/// length hint that `list(it)`, `tuple(it)` and `list.extend` ask for once
/// per read to size their result (`PyObject_LengthHint`).
///
/// pyo3's slot for `__len__` goes through its trampoline: pyo3's attach
/// counter up and down (two thread-local accesses through
/// `__tls_get_addr`), a panic trap and a checked downcast of the receiver,
/// about 100 of the 3,800 instructions of a `list(log.point(t))`
/// (callgrind). This one reads the count as `__len__` does, under the
/// iterator's ownership flag (another call owning the iterator raises the
/// same `RuntimeError`), with what [`iternext`] keeps of the trampoline:
/// a panic becomes a `PanicException`. `it.__len__()` stays pyo3's method
/// and returns the same.
///
/// # Safety
///
/// Installed by [`install_iternext`] as `sq_length` and `mp_length` of
/// `TimelogIter`: CPython calls them attached, with a live instance of
/// that type (the class is not subclassable), borrowed for the call.
unsafe extern "C" fn length(slf: *mut pyo3::ffi::PyObject) -> pyo3::ffi::Py_ssize_t {
    // SAFETY: `Python::assume_attached`'s contract: CPython calls a type
    // slot only from an attached thread.
    let py = unsafe { Python::assume_attached() };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: [`value_slot`]'s contract, as in `iternext`: CPython
        // passes the live iterator itself; the class is `frozen`.
        let it = unsafe { &*value_slot(py, slf) };
        let mut own = it.try_own()?;
        let st = own.st();
        st.spare.expect_kept();
        Some(st.cursor.as_ref().map_or(0, |c| c.remaining()))
    }));
    match r {
        // A count of records in memory is far below `isize::MAX`.
        Ok(Some(n)) => pyo3::ffi::Py_ssize_t::try_from(n).unwrap_or(pyo3::ffi::Py_ssize_t::MAX),
        Ok(None) => {
            raise_in_use();
            -1
        }
        Err(payload) => {
            raise_panic(payload, "panic in TimelogIter.__len__");
            -1
        }
    }
}

/// Sets the `RuntimeError` of a call that found the iterator owned by
/// another (see [`IN_USE`]), from a slot outside pyo3's trampoline.
#[cold]
#[inline(never)]
fn raise_in_use() {
    // SAFETY: CPython C API, attached (the slots that call this are
    // called attached): PyErr_SetString takes a borrowed exception type
    // (the static PyExc_RuntimeError) and a NUL-terminated UTF-8 message,
    // and sets the error.
    unsafe { pyo3::ffi::PyErr_SetString(pyo3::ffi::PyExc_RuntimeError, IN_USE.as_ptr()) };
}

/// The message of a caught panic (`what` when it has none).
#[cold]
fn panic_message(payload: Box<dyn std::any::Any + Send>, what: &str) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| what.to_owned())
}

/// Raises a caught panic as pyo3 raises one (`PanicException`), from a
/// slot outside pyo3's trampoline.
#[cold]
#[inline(never)]
fn raise_panic(payload: Box<dyn std::any::Any + Send>, what: &str) {
    let msg = panic_message(payload, what);
    Python::attach(|py| pyo3::panic::PanicException::new_err(msg).restore(py));
}

/// The type's `tp_dealloc` slot: what every short read pays once, when
/// its iterator goes.
///
/// pyo3's (`tp_dealloc_with_gc`) untracks the object, then enters a
/// trampoline (pyo3's attach counter up and down through
/// `__tls_get_addr`, a panic trap), looks the type object and its
/// `tp_free` up through pyo3's type machinery, drops the Rust value and
/// frees the object — and never releases the reference to the (heap) type
/// that `PyType_GenericAlloc` took for the instance (pyo3 0.28.3: the
/// type's reference count grows by one per iterator ever made). This one
/// does what the C API asks of a heap type's deallocator
/// (`PyObject_GC_UnTrack`, the object's own cleanup, `tp_free`, then
/// `Py_DECREF` of the type) with the Rust value dropped in place between.
/// Dropping the value needs no pyo3 attach counter: its parts are the
/// engine cursor (payloads are `PyObj`), the spare tuples (released as
/// `PyObj`, see [`Recycler`]'s `Drop`) and the collector link (a
/// `PyObj`), each released through `interp::decref` — exit-safe, as in
/// every other path that lets go of the state. A panic while dropping is
/// reported as pyo3 reports one in a destructor (an unraisable
/// `PanicException`, written inside `Python::attach`), and the object is
/// freed all the same.
///
/// # Safety
///
/// Installed by [`install_iternext`] as `tp_dealloc` of `TimelogIter`:
/// CPython calls it attached, once, with an instance of that type (the
/// class is not subclassable) whose reference count reached zero.
unsafe extern "C" fn dealloc(slf: *mut pyo3::ffi::PyObject) {
    // SAFETY: CPython C API, attached (this function's contract):
    // PyObject_GC_UnTrack takes a GC object that is tracked or not (the
    // type has Py_TPFLAGS_HAVE_GC: pyo3 sets it for a class with
    // `__traverse__`); untracking first keeps a collection run by the
    // drops below from seeing a half-dropped object.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(slf.cast()) };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `Python::assume_attached`'s contract: CPython calls a
        // type slot attached. [`value_slot`]'s contract: `slf` is an
        // instance of the class (this function's contract).
        // `ptr::drop_in_place` drops the value exactly once: no reference
        // to the object remains (count zero), CPython calls tp_dealloc
        // once, and this slot replaces pyo3's, which would drop it too.
        unsafe { std::ptr::drop_in_place(value_slot(Python::assume_attached(), slf)) }
    }));
    // SAFETY: CPython C API, attached: the object's type is a heap type
    // (pyo3 creates classes with PyType_FromSpec) whose `tp_free` is set
    // (PyObject_GC_Del for a GC type). `freelist::push`'s contract: GIL
    // build, attached; `slf` is an instance of the class whose value was
    // just dropped (a value whose drop panicked is freed, not kept), whose
    // reference count is zero and which is untracked (above). Kept or
    // freed, nothing here uses it afterwards. The instance owned a
    // reference to its heap type (taken by `PyType_GenericAlloc`, or by
    // `PyObject_Init` for a kept object reused); the type outlives the
    // instance through the module's and pyo3's own references, so
    // `Py_DECREF` after the free is the C API's order for heap types ("Heap
    // types should also decrement the reference count of their type",
    // tp_dealloc). A kept object no longer holds one: its reuse takes a new
    // one.
    unsafe {
        let tp = pyo3::ffi::Py_TYPE(slf);
        #[cfg(not(Py_GIL_DISABLED))]
        let kept = r.is_ok() && freelist::push(slf);
        #[cfg(Py_GIL_DISABLED)]
        let kept = false;
        if let Err(payload) = r {
            dealloc_panic(payload);
        }
        if !kept {
            let free = (*tp).tp_free.expect("a heap type has tp_free");
            free(slf.cast());
        }
        pyo3::ffi::Py_DECREF(tp.cast());
    }
}

/// The address of the class's Rust value inside `obj`, with the
/// provenance of the whole object.
///
/// # Safety
///
/// `obj` is an instance of `TimelogIter` (live, or with a reference count
/// of zero: nothing here reads or changes the count or the value).
#[inline(always)]
unsafe fn value_slot(py: Python<'_>, obj: *mut pyo3::ffi::PyObject) -> *mut PyTimelogIter {
    // SAFETY: pyo3's `Borrowed::from_ptr` needs a non-null object pointer
    // (it does not touch the reference count) and `cast_unchecked` an
    // instance of the class (this function's contract); `get` only
    // computes the address of the Rust value inside the object (pyo3's
    // layout for the class). That offset is then applied to `obj` itself,
    // so the pointer has the provenance of the whole object.
    unsafe {
        let b: pyo3::Borrowed<'_, '_, PyAny> = pyo3::Borrowed::from_ptr(py, obj);
        let v = b.cast_unchecked::<PyTimelogIter>().get() as *const PyTimelogIter;
        let off = v.cast::<u8>().offset_from(obj.cast::<u8>());
        obj.cast::<u8>().offset(off).cast::<PyTimelogIter>()
    }
}

/// Deallocated iterators kept for reuse (GIL builds): a short read
/// (`for r in log.point(k)`) makes and drops one iterator per call, and
/// pyo3's allocation (`object_new`, `PyType_GenericAlloc`: a `memset`,
/// the collector's link) and CPython's `PyObject_GC_Del` were about 300 of
/// the read's ~2,150 instructions (callgrind), 15-20 ns of its time
/// (docs/performance.md, "Session 18"). As CPython's own freelists
/// (tuples, floats), [`dealloc`] keeps up to [`MAX`](freelist::MAX) objects
/// whose value it dropped, and [`PyTimelogIter::into_object`] reinitializes
/// one (`PyObject_Init`, the value written in place, tracked).
///
/// Kept objects are memory only: untracked (the collector never sees
/// them), with no value and no reference to their type (the type's count
/// stays one per live instance); at interpreter exit they are left to the
/// process, as pyo3 leaves its type objects.
/// Free-threaded builds do not keep any: their collector finds objects by
/// walking the allocator's heaps rather than through the tracked list, and
/// a per-thread list would need a thread-local access per call; each read
/// allocates there, from the calling thread's own `mimalloc` heap.
#[cfg(not(Py_GIL_DISABLED))]
mod freelist {
    use std::cell::UnsafeCell;

    use pyo3::ffi::PyObject;

    /// Objects kept at most: a loop of short reads needs one at a time
    /// (the previous read's iterator goes before the next is made, or
    /// right after), nested loops one per level.
    pub(super) const MAX: usize = 32;

    struct List {
        n: usize,
        objs: [*mut PyObject; MAX],
    }

    /// The list, touched only by attached threads of a GIL build.
    struct GilOnly(UnsafeCell<List>);

    // SAFETY: std's `Sync` contract: the list is only reached through
    // `pop` and `push`, whose callers are attached on a GIL build (their
    // contracts), so at most one thread runs them at any time (the GIL:
    // pyo3 refuses subinterpreters, the only other GIL), and neither runs
    // Python code or releases the GIL while it holds the reference. The
    // GIL's hand-over orders one thread's accesses after another's.
    unsafe impl Sync for GilOnly {}

    static FREE: GilOnly = GilOnly(UnsafeCell::new(List { n: 0, objs: [std::ptr::null_mut(); MAX] }));

    /// A kept object, if any (see the module docs for its state).
    ///
    /// # Safety
    ///
    /// Attached, on a GIL build.
    #[inline(always)]
    pub(super) unsafe fn pop() -> Option<*mut PyObject> {
        // SAFETY: `GilOnly`: this thread holds the GIL (this function's
        // contract); the reference ends before the function returns.
        let l = unsafe { &mut *FREE.0.get() };
        if l.n == 0 {
            return None;
        }
        l.n -= 1;
        Some(l.objs[l.n])
    }

    /// Keeps `obj` for reuse; `false` (nothing kept) when the list is full.
    ///
    /// # Safety
    ///
    /// Attached, on a GIL build; `obj` is an instance of `TimelogIter`
    /// whose reference count reached zero, which is untracked and whose
    /// value was dropped; if kept, the caller neither frees nor uses it
    /// again (only `pop` hands it out).
    #[inline(always)]
    pub(super) unsafe fn push(obj: *mut PyObject) -> bool {
        // SAFETY: as in `pop`.
        let l = unsafe { &mut *FREE.0.get() };
        if l.n == MAX {
            return false;
        }
        l.objs[l.n] = obj;
        l.n += 1;
        true
    }
}

/// A panic while dropping an iterator, reported as pyo3's deallocator
/// reports one (cold).
#[cold]
#[inline(never)]
fn dealloc_panic(payload: Box<dyn std::any::Any + Send>) {
    let msg = panic_message(payload, "panic while dropping a TimelogIter");
    Python::attach(|py| pyo3::panic::PanicException::new_err(msg).write_unraisable(py, None));
}

/// Replaces `TimelogIter`'s `tp_iternext` (pyo3's trampoline to
/// `__next__`) with [`iternext`], its length slots (pyo3's trampoline to
/// `__len__`) with [`length`], and its `tp_iter` (pyo3's trampoline to
/// `__iter__`, which every `for r in log.range(..)` calls once) with
/// CPython's own `PyObject_SelfIter` (a new reference to the iterator, as
/// `__iter__` returns; what CPython's own iterators use), and its
/// `tp_dealloc` with [`dealloc`]. Called once, by
/// the module's init, right after the class is created and before any
/// instance exists. `it.__iter__()`, `it.__next__()` and `it.__len__()`
/// stay pyo3's methods and return the same.
pub(crate) fn install_iternext(py: Python<'_>) {
    let ty = py.get_type::<PyTimelogIter>();
    let tp = ty.as_ptr().cast::<pyo3::ffi::PyTypeObject>();
    // SAFETY: CPython C API (non-limited: the binding is not built for the
    // stable ABI): `tp_iternext` and `tp_iter` are fields of the type
    // object, which lives as long as the module (as are `sq_length` and
    // `mp_length`: `PyType_FromSpec` points `tp_as_sequence` and
    // `tp_as_mapping` at tables inside the heap type object itself, so
    // no other type shares them; as is `tp_dealloc`;
    // replacing it before any instance exists means every instance is
    // freed by the deallocator it was made for); `PyObject_SelfIter` has
    // the `getiterfunc` signature and `length` the `lenfunc` one,
    // `PyObject_SelfIter` needs only an attached thread (CPython
    // calls slots attached) and takes no lock. Writing a slot of a heap type is what
    // `type.__setattr__` does for a dunder (update_slot); it must happen
    // before any other thread can use the type: module init runs under the
    // import lock, and no instance exists yet (`TimelogIter` has no
    // constructor and the log's methods are not reachable before init
    // returns). `PyType_Modified` invalidates the method caches that may
    // have seen the old slot.
    unsafe {
        (*tp).tp_iternext = Some(iternext);
        (*tp).tp_iter = Some(pyo3::ffi::PyObject_SelfIter);
        (*tp).tp_dealloc = Some(dealloc);
        // `__len__` gives the class both length slots (pyo3 sets them on
        // the heap type's own sequence and mapping tables).
        let (sq, mp) = ((*tp).tp_as_sequence, (*tp).tp_as_mapping);
        assert!(!sq.is_null() && !mp.is_null(), "TimelogIter has __len__");
        (*sq).sq_length = Some(length);
        (*mp).mp_length = Some(length);
        pyo3::ffi::PyType_Modified(tp);
    }
}
