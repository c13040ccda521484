//! Conversions between Python and the engine: timestamps, payloads, errors.

use std::ptr::NonNull;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};
use pyo3::{ffi, intern, Borrowed};

use crate::{TimelogBusyError, TimelogError};

/// A payload: an owned strong reference to a Python object.
///
/// The engine clones payloads when flush and compaction copy records into
/// new segments. Cloning increments the reference count, which needs an
/// attached thread: every thread that clones is attached already (Python
/// callers, or the maintenance worker, which runs each step inside
/// `Python::try_attach`, see `log.rs`), so `attach` here is the cheap
/// nested case.
///
/// Dropping releases the reference at once when the thread is attached,
/// and otherwise queues it in [`deferred`], which the binding drains at its
/// next attached point (the worker's payload scope, the end of every call
/// that released the interpreter). This replaces pyo3's own pool for
/// payloads: the extension is built with `pyo3_disable_reference_pool`
/// (`.cargo/config.toml`), because with the pool every pyo3 entry point —
/// every method call and every `__next__` — locks one process-wide mutex to
/// look for pending releases, which free-threaded readers contend on.
#[repr(transparent)]
pub struct PyObj(NonNull<ffi::PyObject>);

// SAFETY: std's `Send` contract, with CPython's rule that an object's
// reference count is changed only by a thread attached to the interpreter
// (C API, "Thread State and the Global Interpreter Lock"): a `PyObj` is an
// owned reference, which any thread may hold; its count is changed only by
// an attached thread (clone, drop) or the reference is handed to
// `deferred` (drop while detached), which an attached thread releases.
unsafe impl Send for PyObj {}
// SAFETY: std's `Sync` contract: shared access only reads the pointer
// (`as_ptr`, `as_py`; `bind` needs proof of attachment), never the count.
unsafe impl Sync for PyObj {}

impl PyObj {
    /// Takes ownership of `obj`'s reference.
    #[inline]
    pub fn new(obj: Py<PyAny>) -> Self {
        PyObj(NonNull::new(obj.into_ptr()).expect("a Py is never null"))
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.0.as_ptr()
    }

    /// The object, borrowed for as long as `self`.
    #[inline]
    pub fn bind<'a, 'py>(&'a self, py: Python<'py>) -> Borrowed<'a, 'py, PyAny> {
        // SAFETY: `Borrowed::from_ptr`'s contract: a valid, non-null object
        // pointer that stays alive for `'a` — `self` owns a reference for
        // at least that long — on an attached thread (`py`).
        unsafe { Borrowed::from_ptr(py, self.as_ptr()) }
    }
}

impl PyObj {
    /// The object as a `Py` reference, for `PyVisit::call` (GC traversal).
    #[inline]
    pub fn as_py(&self) -> &Py<PyAny> {
        // SAFETY: layout: `PyObj` and `Py<PyAny>` are both
        // `repr(transparent)` over a non-null pointer to a Python object
        // that owns one reference (pyo3 documents `Py<T>` as such a
        // pointer), so the cast reads the same bits with the same meaning;
        // the borrow lives as long as `self`, which owns that reference, and
        // a `&Py` never releases it (only an owned `Py` does, on drop).
        unsafe { &*(self as *const PyObj).cast::<Py<PyAny>>() }
    }
}

impl Clone for PyObj {
    #[inline]
    fn clone(&self) -> Self {
        let incref = |_py: Python<'_>| {
            // SAFETY: C API: Py_INCREF needs an attached thread (`_py`)
            // and a live object (`self` owns a reference to it).
            unsafe { ffi::Py_INCREF(self.as_ptr()) };
        };
        if interp::attached() {
            // SAFETY: `assume_attached`'s contract: `interp::attached`
            // returned true, so this thread is attached (no subinterpreters).
            incref(unsafe { Python::assume_attached() });
        } else {
            // The engine clones only inside its payload scope (attached);
            // this is the fallback for any other caller.
            interp::attach(incref).expect("a payload is cloned while the interpreter shuts down");
        }
        PyObj(self.0)
    }
}

/// The object a payload refers to: its header holds the reference count
/// a release decrements (`Config::payload_target`, set by `log::build`).
impl timelog::Handle for PyObj {
    #[inline(always)]
    fn target(&self) -> *const u8 {
        self.as_ptr().cast()
    }
}

impl Drop for PyObj {
    #[inline]
    fn drop(&mut self) {
        if interp::attached() {
            // SAFETY: `interp::decref`'s contract: attached (checked just
            // above), and `self` owns this reference, released once (drop).
            unsafe { interp::decref(self.as_ptr()) }
        } else {
            deferred::push(self.0);
        }
    }
}

/// Detaching from and attaching to the interpreter without the risk of
/// `pthread_exit`.
///
/// On CPython before 3.14, a thread that re-attaches (`PyEval_RestoreThread`,
/// `PyGILState_Ensure`) after finalization has started is terminated with
/// `pthread_exit`. glibc implements it as a forced unwind of the thread's
/// stack; when that unwind reaches a Rust frame that catches unwinds (every
/// pyo3 trampoline, every `extern "C"` boundary) the process aborts with
/// "FATAL: exception not rethrown" — what a daemon thread inside `flush()`
/// did at exit. pyo3 0.28's `Python::detach` re-attaches that way (fixed
/// upstream later: PyO3/pyo3#6084, #6085).
///
/// Here every re-attach is a `"C-unwind"` call guarded by [`HangOnUnwind`]:
/// if the interpreter terminates the thread, the first frame the unwind
/// meets is the guard's, whose drop parks the thread forever — what CPython
/// 3.14 itself does with such threads ("hang instead of exit", gh-87135).
/// The thread holds no engine lock at that point (payloads are released
/// and maintainer locks dropped before any re-attach), and the process is
/// exiting anyway. Attaching from a thread that is not attached (the
/// maintenance worker) also checks `Py_IsFinalizing` first and skips the
/// work instead. The binding's calls that may run Python code (which may
/// release and re-attach) are guarded the same way: releasing an object
/// ([`decref`](interp::decref)), `extend`'s input protocol
/// ([`get_iter`](interp::get_iter), [`iter_next`](interp::iter_next),
/// [`size`](interp::size), [`sequence_item`](interp::sequence_item)), its
/// skip warning ([`warn`](interp::warn)), a Python `__index__`
/// ([`number_index`](interp::number_index)) and `close()`'s collection
/// ([`call0_discard`](interp::call0_discard)); docs/threading.md,
/// "Shutdown", lists the calls pyo3 still makes itself.
///
/// pyo3 keeps a per-thread "attached" count that `detach` resets; ours does
/// not, so inside [`detach`] only code that does not rely on pyo3's notion
/// of being attached may run: the engine (whose payloads are [`PyObj`],
/// which checks [`attached`](interp::attached) itself) and [`attach`].
pub mod interp {
    use pyo3::ffi;
    use pyo3::Python;

    mod raw {
        use pyo3::ffi;
        // The same CPython functions pyo3-ffi declares as "C", declared
        // here as "C-unwind": they may end in `pthread_exit`'s forced
        // unwind, which must reach our guard frames instead of being UB.
        #[allow(clashing_extern_declarations)]
        extern "C-unwind" {
            pub(super) fn PyEval_RestoreThread(tstate: *mut ffi::PyThreadState);
            pub(super) fn PyGILState_Ensure() -> ffi::PyGILState_STATE;
            pub(super) fn Py_DecRef(o: *mut ffi::PyObject);
            pub(super) fn PyIter_Next(o: *mut ffi::PyObject) -> *mut ffi::PyObject;
            pub(super) fn PyNumber_Index(o: *mut ffi::PyObject) -> *mut ffi::PyObject;
            pub(super) fn PyObject_CallNoArgs(o: *mut ffi::PyObject) -> *mut ffi::PyObject;
            pub(super) fn PyObject_GetIter(o: *mut ffi::PyObject) -> *mut ffi::PyObject;
            pub(super) fn PyObject_Size(o: *mut ffi::PyObject) -> ffi::Py_ssize_t;
            pub(super) fn PySequence_GetItem(o: *mut ffi::PyObject, i: ffi::Py_ssize_t) -> *mut ffi::PyObject;
            pub(super) fn PyErr_WarnEx(
                category: *mut ffi::PyObject,
                message: *const std::os::raw::c_char,
                stack_level: ffi::Py_ssize_t,
            ) -> std::os::raw::c_int;
            #[cfg(not(Py_3_13))]
            pub(super) fn _Py_IsFinalizing() -> std::os::raw::c_int;
        }
    }

    /// Parks the thread forever if it is unwound (see the module docs).
    struct HangOnUnwind;

    impl Drop for HangOnUnwind {
        fn drop(&mut self) {
            loop {
                std::thread::park();
            }
        }
    }

    /// Runs `f` — a call of a `"C-unwind"` CPython function that may end
    /// the thread with `pthread_exit`'s forced unwind — under a
    /// [`HangOnUnwind`] guard: the unwind stops at the guard and parks the
    /// thread (module docs).
    #[inline(always)]
    fn parked_on_unwind<R>(f: impl FnOnce() -> R) -> R {
        let guard = HangOnUnwind;
        let r = f();
        std::mem::forget(guard);
        r
    }

    /// Releases an owned reference whose release may run arbitrary code
    /// (a payload's `__del__`): if that code re-attaches after finalization
    /// started (say, `time.sleep` on a daemon thread at exit) and CPython
    /// terminates the thread, the unwind stops here and parks the thread,
    /// instead of running Rust drops without the interpreter or aborting.
    ///
    /// # Safety
    ///
    /// The thread is attached and owns the reference `p`.
    #[inline]
    pub unsafe fn decref(p: *mut ffi::PyObject) {
        // SAFETY: C API: Py_DecRef needs an attached thread and an owned,
        // non-NULL reference (this function's contract). It is declared
        // "C-unwind" so that pthread_exit's forced unwind may cross it
        // (CPython < 3.14 ends a thread that re-attaches during
        // finalization that way) and reach the guard.
        parked_on_unwind(|| unsafe { raw::Py_DecRef(p) });
    }

    /// `PyIter_Next(it)` (the next item as a new reference, NULL at the end
    /// or on error), guarded like [`decref`]: the iterator may run Python
    /// code (a generator) that re-attaches while the interpreter exits.
    ///
    /// # Safety
    ///
    /// The thread is attached and `it` is a live iterator object.
    pub unsafe fn iter_next(it: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: C API: PyIter_Next needs an attached thread and an
        // iterator (this function's contract); declared "C-unwind" so that
        // pthread_exit's forced unwind may cross it and reach the guard.
        parked_on_unwind(|| unsafe { raw::PyIter_Next(it) })
    }

    /// `PyNumber_Index(o)` (a new reference, or NULL with an exception),
    /// guarded like [`decref`]: `__index__` may be Python code.
    ///
    /// # Safety
    ///
    /// The thread is attached and `o` is a live object.
    pub unsafe fn number_index(o: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: C API: PyNumber_Index needs an attached thread and a live
        // object (this function's contract); "C-unwind" as above.
        parked_on_unwind(|| unsafe { raw::PyNumber_Index(o) })
    }

    /// `PyObject_GetIter(o)` (`iter(o)`: a new reference, or NULL with an
    /// exception), guarded like [`decref`]: `__iter__` may be Python code.
    ///
    /// # Safety
    ///
    /// The thread is attached and `o` is a live object.
    pub unsafe fn get_iter(o: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: C API: PyObject_GetIter needs an attached thread and a
        // live object (this function's contract); "C-unwind" as above.
        parked_on_unwind(|| unsafe { raw::PyObject_GetIter(o) })
    }

    /// `PyObject_Size(o)` (`len(o)`, or -1 with an exception), guarded like
    /// [`decref`]: `__len__` may be Python code.
    ///
    /// # Safety
    ///
    /// The thread is attached and `o` is a live object.
    pub unsafe fn size(o: *mut ffi::PyObject) -> ffi::Py_ssize_t {
        // SAFETY: C API: PyObject_Size needs an attached thread and a live
        // object (this function's contract); "C-unwind" as above.
        parked_on_unwind(|| unsafe { raw::PyObject_Size(o) })
    }

    /// `PySequence_GetItem(o, i)` (`o[i]`: a new reference, or NULL with an
    /// exception), guarded like [`decref`]: `__getitem__` may be Python code.
    ///
    /// # Safety
    ///
    /// The thread is attached and `o` is a live object.
    pub unsafe fn sequence_item(o: *mut ffi::PyObject, i: ffi::Py_ssize_t) -> *mut ffi::PyObject {
        // SAFETY: C API: PySequence_GetItem needs an attached thread and a
        // live object (this function's contract); "C-unwind" as above.
        parked_on_unwind(|| unsafe { raw::PySequence_GetItem(o, i) })
    }

    /// `PyErr_WarnEx(category, message, stack_level)` (0, or -1 with an
    /// exception when the warning is an error), guarded like [`decref`]:
    /// warning filters and `warnings.showwarning` may be Python code.
    ///
    /// # Safety
    ///
    /// The thread is attached, `category` is a live warning class and
    /// `message` a NUL-terminated UTF-8 string.
    pub unsafe fn warn(
        category: *mut ffi::PyObject,
        message: &std::ffi::CStr,
        stack_level: isize,
    ) -> std::os::raw::c_int {
        // SAFETY: C API: PyErr_WarnEx needs an attached thread, a warning
        // category and a C string (this function's contract); "C-unwind"
        // as above.
        parked_on_unwind(|| unsafe { raw::PyErr_WarnEx(category, message.as_ptr(), stack_level) })
    }

    /// `e` with its exception object made now, without leaving the
    /// interpreter.
    ///
    /// pyo3 0.28 makes a lazy error's object (`PyTypeError::new_err(..)`)
    /// on its first `is_instance_of`, `value`, `get_type` or `into_value`
    /// by detaching and re-attaching with `PyGILState_Ensure` (to order the
    /// threads that normalize one shared error) — a re-attach that ends the
    /// thread with `pthread_exit` once finalization has started, whose
    /// forced unwind then aborts the process at pyo3's trampoline (a daemon
    /// thread whose `extend` skipped an out-of-range timestamp, at exit).
    /// Raising the error and fetching it back makes the same object on this
    /// thread, attached throughout; the result is normalized, so those
    /// methods no longer detach. An error that is already normalized comes
    /// back unchanged.
    pub fn settled(py: Python<'_>, e: pyo3::PyErr) -> pyo3::PyErr {
        e.restore(py);
        pyo3::PyErr::fetch(py)
    }

    /// Calls `f()` and releases the result (an error is cleared): guarded
    /// like [`decref`], for calls that run arbitrary Python code (a
    /// collection's finalizers).
    ///
    /// # Safety
    ///
    /// The thread is attached and `f` is a live callable.
    pub unsafe fn call0_discard(f: *mut ffi::PyObject) {
        // SAFETY: C API: PyObject_CallNoArgs needs an attached thread and a
        // live callable (this function's contract); it returns a new
        // reference or NULL with an exception set, which PyErr_Clear drops
        // (no code of ours runs in between). "C-unwind" as above.
        parked_on_unwind(|| unsafe {
            let r = raw::PyObject_CallNoArgs(f);
            if r.is_null() {
                ffi::PyErr_Clear();
            } else {
                raw::Py_DecRef(r);
            }
        });
    }

    /// Whether this thread is attached to the interpreter.
    ///
    /// Not `PyGILState_Check`: once finalization has started that answers
    /// "attached" for every thread (its check is disabled), so a daemon
    /// thread that the interpreter terminates with a forced unwind — whose
    /// cleanup code releases payloads on the way to our guard — would
    /// release them without the interpreter ("PyThreadState_Get: the
    /// function must be called with the GIL held", seen on 3.13). The
    /// thread's own state answers exactly: on 3.12 and later (free-threaded
    /// builds included) the current thread state is thread-local and set
    /// only while the thread is attached; on 3.11 it is the GIL holder's,
    /// compared with this thread's.
    #[inline]
    pub fn attached() -> bool {
        // SAFETY: C API: PyThreadState_GetUnchecked (pyo3-ffi's compat
        // shim calls _PyThreadState_UncheckedGet before 3.13) returns the
        // current thread state or NULL, from any thread, attached or not,
        // with no error and no precondition.
        let cur = unsafe { ffi::compat::PyThreadState_GetUnchecked() };
        #[cfg(Py_3_12)]
        return !cur.is_null();
        // SAFETY: C API: PyGILState_GetThisThreadState reads this thread's
        // gilstate slot, from any thread, attached or not.
        #[cfg(not(Py_3_12))]
        return !cur.is_null() && cur == unsafe { ffi::PyGILState_GetThisThreadState() };
    }

    /// Whether the interpreter is finalizing (threads that attach now are
    /// terminated or, with our guard, parked).
    pub fn finalizing() -> bool {
        // SAFETY: C API: Py_IsFinalizing (3.13+) and _Py_IsFinalizing
        // read a runtime flag and may be called from any thread, attached
        // or not.
        #[cfg(Py_3_13)]
        return unsafe { ffi::Py_IsFinalizing() } != 0;
        // SAFETY: C API (before 3.13): _Py_IsFinalizing reads the same
        // runtime flag and may be called from any thread.
        #[cfg(not(Py_3_13))]
        return unsafe { raw::_Py_IsFinalizing() } != 0;
    }

    /// Restores `tstate`; parks the thread forever instead of unwinding it.
    ///
    /// # Safety
    ///
    /// `tstate` is this thread's state, saved by `PyEval_SaveThread`.
    unsafe fn restore(tstate: *mut ffi::PyThreadState) {
        // SAFETY: C API: PyEval_RestoreThread must get the state this
        // thread saved with PyEval_SaveThread (this function's contract).
        // Declared "C-unwind": on CPython < 3.14 it may end the thread with
        // pthread_exit during finalization, whose forced unwind must reach
        // the guard (module docs).
        parked_on_unwind(|| unsafe { raw::PyEval_RestoreThread(tstate) });
    }

    /// Runs `f` detached from the interpreter (`Py_BEGIN_ALLOW_THREADS`),
    /// re-attaching safely even during finalization (module docs). `f` is
    /// `Ungil` (without pyo3's `nightly` feature: `Send`), as for pyo3's own
    /// `detach`: it cannot capture a `Python` token or a `Bound` reference.
    pub fn detach<R>(_py: Python<'_>, f: impl FnOnce() -> R + pyo3::marker::Ungil) -> R {
        struct Reattach(*mut ffi::PyThreadState);
        impl Drop for Reattach {
            fn drop(&mut self) {
                // SAFETY: `restore`'s contract: the state saved below by
                // PyEval_SaveThread, on this thread (a guard never moves
                // between threads: it is a local of `detach`).
                unsafe { restore(self.0) }
            }
        }
        // SAFETY: C API: PyEval_SaveThread needs an attached thread (`_py`)
        // and must be paired with PyEval_RestoreThread on the same thread:
        // `Reattach` does it when it drops, also if `f` panics. While
        // detached, `f` cannot use pyo3 APIs that need attachment: it
        // captures no `Python` token and no `Bound` (`Ungil` bound).
        #[cfg(not(all(Py_GIL_DISABLED, not(Py_3_14))))]
        let _r = Reattach(unsafe { ffi::PyEval_SaveThread() });
        // SAFETY: `exit_fence::save_thread`'s contract: attached (`_py`),
        // and the state it returns is restored by `Reattach` as above.
        #[cfg(all(Py_GIL_DISABLED, not(Py_3_14)))]
        let _r = Reattach(unsafe { exit_fence::save_thread(_py) });
        f()
    }

    /// Free-threaded CPython 3.13 only: `PyEval_SaveThread` racing the
    /// interpreter's exit (CPython gh-124878, fixed in 3.14 by gh-130649).
    ///
    /// `PyEval_SaveThread` publishes the thread as detached (`tstate->state`)
    /// and only then reads `tstate->interp` (to release the GIL, a no-op
    /// without one). `Py_FinalizeEx` stops the world — a detached thread
    /// counts as stopped at once — removes every other thread state and
    /// frees it. A daemon thread preempted between those two instructions
    /// of its `PyEval_SaveThread` resumes on freed memory (a NULL `interp`:
    /// SIGSEGV in `drop_gil`, the stack of the CI failure). A thread that
    /// stops at an eval-breaker check instead (`_PyThreadState_Suspend`) is
    /// counted only after it left that code, so it is safe.
    ///
    /// Py_FinalizeEx runs the `atexit` callbacks after joining the
    /// non-daemon threads and right before it stops the world. The fence's
    /// callback (registered on the first detach) sets `EXITING` and waits
    /// until no thread is inside `PyEval_SaveThread`; a thread that sees
    /// `EXITING` before it would detach does not detach: it stays attached
    /// and checks the eval breaker (a call of a Python no-op) until the
    /// exit's stop-the-world suspends it there — where CPython leaves every
    /// daemon thread that runs Python code at exit — or, once `WAIT_MAX`
    /// has passed since the callback ran with no exit (a later atexit
    /// callback that takes long, or joins a daemon thread), detaches after
    /// all, as every thread does from then on: the fence delays a thread
    /// by at most `WAIT_MAX` in all. Dekker pairing (SeqCst): a
    /// thread stores its `in_save` flag and then loads `EXITING`; the
    /// callback stores `EXITING` and then loads every flag; so either the
    /// thread does not detach or the callback waits for its
    /// `PyEval_SaveThread` to return. Exempt: the thread that runs the
    /// callback (it finalizes the interpreter; its state is never freed
    /// under it) and threads inside [`attach`] (the maintenance worker,
    /// which `timelog._stop_workers`, another atexit callback, joins).
    #[cfg(all(Py_GIL_DISABLED, not(Py_3_14)))]
    mod exit_fence {
        use std::cell::Cell;
        use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
        use std::sync::{Arc, Mutex, OnceLock};
        use std::time::{Duration, Instant};

        use pyo3::prelude::*;
        use pyo3::{ffi, Python};

        /// Set by the atexit callback once the interpreter really exits.
        static EXITING: AtomicBool = AtomicBool::new(false);
        /// When the callback set `EXITING`: fenced threads wait until
        /// `WAIT_MAX` after it, and are not fenced any more from then on.
        static EXIT_AT: OnceLock<Instant> = OnceLock::new();
        /// 0: callback not registered, 1: being registered, 2: settled.
        static REGISTERED: AtomicU8 = AtomicU8::new(0);
        /// A Python function whose body is `pass` (one strong reference,
        /// never released): calling it runs an eval-breaker check.
        static NOOP: AtomicPtr<ffi::PyObject> = AtomicPtr::new(std::ptr::null_mut());
        /// Every live thread's `in_save` flag.
        static SLOTS: Mutex<Vec<Arc<AtomicBool>>> = Mutex::new(Vec::new());
        /// How long the callback waits for threads inside PyEval_SaveThread.
        const DRAIN_MAX: Duration = Duration::from_millis(200);
        /// How long after the callback threads wait attached for the exit
        /// to stop them.
        const WAIT_MAX: Duration = Duration::from_secs(1);

        struct Slot(Arc<AtomicBool>);
        impl Drop for Slot {
            fn drop(&mut self) {
                let mut v = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
                v.retain(|a| !Arc::ptr_eq(a, &self.0));
            }
        }
        thread_local! {
            static SLOT: Slot = {
                let a = Arc::new(AtomicBool::new(false));
                SLOTS.lock().unwrap_or_else(|e| e.into_inner()).push(a.clone());
                Slot(a)
            };
            /// > 0: this thread is exempt (see the module docs).
            pub(super) static EXEMPT: Cell<u32> = const { Cell::new(0) };
        }

        /// `PyEval_SaveThread`, fenced against the interpreter's exit.
        ///
        /// # Safety
        ///
        /// The thread is attached (`py`); the caller restores the returned
        /// state with `PyEval_RestoreThread` on this thread.
        pub(super) unsafe fn save_thread(py: Python<'_>) -> *mut ffi::PyThreadState {
            if REGISTERED.load(Ordering::Acquire) != 2 {
                register(py);
            }
            if EXEMPT.with(Cell::get) > 0 {
                // SAFETY: this function's contract (attached).
                return unsafe { ffi::PyEval_SaveThread() };
            }
            // `try_with`: while this thread's locals are destroyed the
            // slot is gone; that thread detaches unfenced, as before.
            let waited = SLOT.try_with(|s| {
                s.0.store(true, Ordering::SeqCst);
                if !EXITING.load(Ordering::SeqCst) {
                    return false;
                }
                s.0.store(false, Ordering::SeqCst);
                true
            });
            if matches!(waited, Ok(true)) {
                wait_for_exit(py);
                // No exit stopped this thread within WAIT_MAX of the
                // callback: detach as usual (unfenced; the callback has
                // returned long ago).
                // SAFETY: this function's contract (attached).
                return unsafe { ffi::PyEval_SaveThread() };
            }
            // SAFETY: this function's contract (attached).
            let t = unsafe { ffi::PyEval_SaveThread() };
            // PyEval_SaveThread has returned: it no longer reads the state.
            let _ = SLOT.try_with(|s| s.0.store(false, Ordering::Release));
            t
        }

        /// Stays attached and checks the eval breaker until the exit's
        /// stop-the-world suspends the thread (it then never returns) or
        /// WAIT_MAX has passed since the callback set `EXITING`.
        fn wait_for_exit(_py: Python<'_>) {
            let noop = NOOP.load(Ordering::Acquire);
            // Set before `EXITING`, which this thread has seen (SeqCst).
            let Some(&at) = EXIT_AT.get() else { return };
            let deadline = at + WAIT_MAX;
            while Instant::now() < deadline {
                if !noop.is_null() {
                    // SAFETY: `call0_discard`'s contract: attached (`_py`),
                    // `noop` is a live callable (a strong reference that is
                    // never released). A stop-the-world request makes the
                    // call suspend the thread in `_PyThreadState_Suspend`.
                    unsafe { super::call0_discard(noop) };
                }
                // Attached, but no GIL here: the stop-the-world's request is
                // seen at the next check, well within its 1 ms polling.
                std::thread::sleep(Duration::from_micros(100));
            }
        }

        /// Registers the atexit callback and makes the no-op (once; errors
        /// leave the fence off, as before it existed). Runs no Python code
        /// (a daemon thread may get here while the interpreter exits, and
        /// code run here could re-attach unguarded — an eval-breaker check
        /// may run any `__del__`): the no-op is compiled, never executed
        /// here, and `atexit` is looked up in `sys.modules`, not imported.
        fn register(py: Python<'_>) {
            if REGISTERED.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return; // another thread registers it (no waiting)
            }
            let r = (|| -> PyResult<()> {
                use pyo3::types::{PyCFunction, PyCode, PyCodeInput, PyDict, PyString};
                let code = PyCode::compile(py, c"pass", c"<timelog exit fence>", PyCodeInput::File)?;
                let globals = PyDict::new(py);
                // SAFETY: C API: PyFunction_New needs an attached thread
                // (`py`), a code object and a dict (both borrowed, alive
                // here); it returns a new reference or NULL with an error.
                let noop =
                    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyFunction_New(code.as_ptr(), globals.as_ptr()))? };
                let name = PyString::new(py, "atexit");
                // SAFETY: C API: PyImport_GetModule needs an attached thread
                // and a str; it returns a new reference, or NULL (with an
                // error only if the lookup itself failed).
                let atexit = unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyImport_GetModule(name.as_ptr())) };
                let Some(atexit) = atexit else {
                    return Err(PyErr::take(py).unwrap_or_else(|| pyo3::exceptions::PyImportError::new_err("atexit")));
                };
                // Before the callback can run: a fenced thread needs it.
                NOOP.store(noop.into_ptr(), Ordering::Release);
                let cb = PyCFunction::new_closure(
                    py,
                    Some(c"_timelog_exit_fence"),
                    None,
                    |args, _kwargs| -> PyResult<()> {
                        on_exit(args.py());
                        Ok(())
                    },
                )?;
                atexit.call_method1("register", (cb,))?;
                Ok(())
            })();
            drop(r); // an error: no fence
            REGISTERED.store(2, Ordering::Release);
        }

        /// The atexit callback.
        fn on_exit(py: Python<'_>) {
            // Only a real exit: `threading._shutdown` (which Py_FinalizeEx
            // calls before the atexit callbacks) sets _SHUTTING_DOWN; a
            // program may also run `atexit._run_exitfuncs()` itself.
            let exiting = py
                .import("threading")
                .and_then(|t| t.getattr("_SHUTTING_DOWN"))
                .and_then(|v| v.is_truthy())
                .unwrap_or(false);
            if !exiting {
                return;
            }
            EXEMPT.with(|e| e.set(e.get() + 1)); // this thread finalizes
            let _ = EXIT_AT.set(Instant::now());
            EXITING.store(true, Ordering::SeqCst);
            let deadline = Instant::now() + DRAIN_MAX;
            loop {
                let busy = SLOTS.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|a| a.load(Ordering::SeqCst));
                if !busy || Instant::now() >= deadline {
                    break;
                }
                // A thread inside PyEval_SaveThread needs a core to finish.
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }

    /// Runs `f` attached: at once if this thread is attached, else after
    /// `PyGILState_Ensure` (released afterwards). `None` when the
    /// interpreter is not initialized or is finalizing: `f` did not run.
    pub fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
        if attached() {
            // SAFETY: `assume_attached`'s contract: attached (checked just
            // above).
            return Some(f(unsafe { Python::assume_attached() }));
        }
        // SAFETY: C API: Py_IsInitialized may be called from any thread,
        // before, during and after the interpreter's life.
        if unsafe { ffi::Py_IsInitialized() } == 0 || finalizing() {
            return None;
        }
        struct Release(ffi::PyGILState_STATE);
        impl Drop for Release {
            fn drop(&mut self) {
                // SAFETY: C API: PyGILState_Release must get the state
                // returned by the PyGILState_Ensure below, on the same
                // thread (a local of `attach`, never moved).
                unsafe { ffi::PyGILState_Release(self.0) }
            }
        }
        // SAFETY: C API: PyGILState_Ensure may be called from any thread
        // once the interpreter is initialized (checked above); if
        // finalization started since the check, CPython < 3.14 ends the
        // thread inside it with pthread_exit, whose forced unwind stops at
        // the guard (declared "C-unwind" for that) and parks the thread.
        let _st = Release(parked_on_unwind(|| unsafe { raw::PyGILState_Ensure() }));
        // A thread that attaches here (the maintenance worker) is exempt
        // from the exit fence: an atexit callback joins it.
        #[cfg(all(Py_GIL_DISABLED, not(Py_3_14)))]
        let _exempt = {
            struct Exempt;
            impl Drop for Exempt {
                fn drop(&mut self) {
                    exit_fence::EXEMPT.with(|e| e.set(e.get() - 1));
                }
            }
            exit_fence::EXEMPT.with(|e| e.set(e.get() + 1));
            Exempt
        };
        // SAFETY: `assume_attached`'s contract: attached by the Ensure above
        // until `_st` drops, after `f` returns.
        Some(f(unsafe { Python::assume_attached() }))
    }
}

/// Payload references released while detached, waiting for an attached
/// thread. Pushing takes a mutex (rare: payloads are normally released by
/// attached threads); checking for pending work is one load of a flag.
pub mod deferred {
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use pyo3::{ffi, Python};

    struct Queue(Vec<NonNull<ffi::PyObject>>);
    // SAFETY: std's `Send` contract, with CPython's rule that reference
    // counts change only on attached threads: the queue only moves owned
    // references between threads; they are released by an attached thread
    // in `drain`.
    unsafe impl Send for Queue {}

    static QUEUE: Mutex<Queue> = Mutex::new(Queue(Vec::new()));
    static PENDING: AtomicBool = AtomicBool::new(false);

    pub(super) fn push(p: NonNull<ffi::PyObject>) {
        QUEUE.lock().unwrap_or_else(|e| e.into_inner()).0.push(p);
        PENDING.store(true, Ordering::Release);
    }

    /// Releases every queued reference (a flag load when there is none).
    #[inline]
    pub fn drain(_py: Python<'_>) {
        if !PENDING.load(Ordering::Acquire) {
            return;
        }
        PENDING.store(false, Ordering::Relaxed);
        let refs = std::mem::take(&mut QUEUE.lock().unwrap_or_else(|e| e.into_inner()).0);
        for p in refs {
            // SAFETY: `interp::decref`'s contract: attached (`_py`), and each
            // entry is an owned reference moved here by `PyObj::drop`,
            // taken out of the queue once (`mem::take` under the mutex).
            unsafe { super::interp::decref(p.as_ptr()) }
        }
    }
}

/// The `int64` value of `o` if it is an exact `int` in range (else `None`:
/// the caller takes the slow path, which raises the right error).
///
/// # Safety
///
/// `o` is a live object and the thread is attached.
#[inline]
pub(crate) unsafe fn exact_i64(o: *mut ffi::PyObject) -> Option<i64> {
    // SAFETY: C API: `PyLong_CheckExact` reads the type of a live object.
    if unsafe { ffi::PyLong_CheckExact(o) } == 0 {
        return None;
    }
    // SAFETY: `o` is a live exact `int` (checked above), attached.
    if let Some(v) = unsafe { crate::ints::read(o) } {
        return Some(v);
    }
    let mut overflow = 0;
    // SAFETY: C API, `PyLong_AsLongLongAndOverflow`: on an `int`, returns
    // the value, or -1 with `overflow` set (no exception) when it does not
    // fit; it has no other failure on an exact `int` (no conversion runs).
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(o, &mut overflow) };
    (overflow == 0).then_some(v)
}

/// A timestamp that is not an exact `int` but whose type has `__index__`
/// (`numpy.int64`, what a loop over a numpy array yields; an `int`
/// subclass): `Some(Ok(t))`, or `Some(Err(()))` with the exception set
/// (`__index__` raised or returned a non-int — CPython's own `TypeError`,
/// as `operator.index` — or an `int` outside int64). `None` for `bool`
/// and for any object without `__index__`, which `coerce_slow` refuses
/// with its messages. The one conversion of such a timestamp: `coerce_ts`
/// (through `coerce_slow`) and `append`'s fast entry (fast.rs, which
/// takes no pyo3 attach count) both call it. `__index__` is called once,
/// through `interp::number_index`: it may be Python code that re-attaches
/// while the interpreter exits (see `interp`).
///
/// # Safety
///
/// `o` is a live object and the thread is attached.
#[inline]
pub(crate) unsafe fn index_i64(o: *mut ffi::PyObject) -> Option<Result<i64, ()>> {
    // SAFETY: C API: the checks read the type of a live object.
    if unsafe { ffi::PyBool_Check(o) != 0 || ffi::PyIndex_Check(o) == 0 } {
        return None;
    }
    // SAFETY: `interp::number_index`'s contract: attached, `o` live. It
    // returns a new reference to an exact `int` (PyNumber_Index, 3.10+)
    // or NULL with the exception set.
    let i = unsafe { interp::number_index(o) };
    if i.is_null() {
        return Some(Err(()));
    }
    // SAFETY: `i` is a live exact `int`, attached.
    let r = match unsafe { exact_i64(i) } {
        Some(t) => Ok(t),
        None => {
            // Raised inside `Python::attach`, as the fast path's other
            // errors (fast.rs, "reads outside the trampoline"): the
            // error's objects are made and dropped there.
            Python::attach(|py| {
                // SAFETY: `i` is live until released below, attached.
                let b = unsafe { Borrowed::from_ptr(py, i) };
                overflow(&b).restore(py);
            });
            Err(())
        }
    };
    // SAFETY: our reference to an exact `int`, whose release runs no code.
    unsafe { ffi::Py_DECREF(i) };
    Some(r)
}

/// The `start`, `stop` and `step` of a slice, read from its fields: the
/// one place they are read (the fast `mp_subscript` entries and pyo3's
/// `__getitem__` path). Never by attribute lookups: those miss CPython's
/// type cache for names made per call, and take the type lock on
/// free-threaded 3.13 (log.rs, `slice_parts`). Each is a live object
/// (`None` for a missing part) borrowed from the slice.
///
/// # Safety
///
/// `s` is a live slice (`PySlice_Check`; `slice` cannot be subclassed, so
/// it has `PySliceObject`'s layout).
#[inline]
pub(crate) unsafe fn slice_fields(s: *mut ffi::PyObject) -> [*mut ffi::PyObject; 3] {
    let p = s.cast::<ffi::PySliceObject>();
    // SAFETY: this function's contract: `PySliceObject`'s layout (the
    // non-limited API); its fields are never NULL and are set once, at
    // creation (slices are immutable), so reading them races with nothing.
    unsafe { [(*p).start, (*p).stop, (*p).step] }
}

/// Converts any timestamp-like object to an `i64`, with the errors the
/// Python contract lists.
#[inline]
pub fn coerce_ts(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_exact_instance_of::<PyInt>() {
        return obj.extract::<i64>().map_err(|_| overflow(obj));
    }
    coerce_slow(obj)
}

#[cold]
pub(crate) fn overflow(obj: &Bound<'_, PyAny>) -> PyErr {
    PyOverflowError::new_err(format!(
        "timestamp {} is outside int64 range [{}, {}]",
        obj.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into()),
        i64::MIN,
        i64::MAX
    ))
}

/// A timestamp that is not an exact `int`: an `int` subclass, an object
/// whose type has `__index__` (`numpy.int64`, the usual one), or an error
/// that says what to do.
///
/// `__index__` is tested by the type's slot (`PyIndex_Check`, what
/// `operator.index` tests), before anything else that is not a type check:
/// a `numpy.int64` timestamp used to pay for `import datetime` and three
/// attribute lookups first, by names pyo3 makes per call (so never in
/// CPython's type cache, and under the type lock on free-threaded 3.13) —
/// 600 ns per `append` against 90 for the C package. The `datetime` test
/// only words the error of a timestamp that is neither.
#[inline(never)]
fn coerce_slow(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("timestamp must be an int, bool not allowed (True/False are not timestamps)"));
    }
    // An `int` subclass too: `PyNumber_Index` takes its value (without
    // calling `__index__`), and an out-of-range one is an `OverflowError`.
    // SAFETY: `index_i64`'s contract: `obj` is live and bound (attached).
    match unsafe { index_i64(obj.as_ptr()) } {
        Some(Ok(t)) => Ok(t),
        Some(Err(())) => Err(PyErr::fetch(obj.py())),
        None => coerce_error(obj),
    }
}

/// The error for a timestamp that is neither an `int` nor has `__index__`.
#[cold]
#[inline(never)]
fn coerce_error(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_instance_of::<PyFloat>() {
        return Err(PyTypeError::new_err(format!(
            "timestamp must be an int, got float {}; convert it with int(x) or use a finer time_unit (e.g. 'us' or 'ns')",
            obj.repr()?
        )));
    }
    let py = obj.py();
    let dt = py.import(intern!(py, "datetime"))?;
    if obj.is_instance(&dt.getattr(intern!(py, "datetime"))?)? || obj.is_instance(&dt.getattr(intern!(py, "date"))?)? {
        return Err(PyTypeError::new_err(format!(
            "timestamps are integers in the log's time_unit, got {}; convert it first, e.g. for time_unit='ms': int(dt.timestamp() * 1000) for a datetime dt, int(datetime.datetime.combine(d, datetime.time(), datetime.timezone.utc).timestamp() * 1000) for a date d (a date has no .timestamp())",
            obj.get_type().name()?
        )));
    }
    Err(PyTypeError::new_err(format!(
        "timestamp must be an int (or an object with __index__, like numpy.int64), got {}",
        obj.get_type().name()?
    )))
}

/// Maps an engine error to the Python exception the contract names.
pub fn err(e: timelog::Error) -> PyErr {
    use timelog::Error as E;
    match e {
        E::Closed => TimelogError::new_err("Timelog is closed"),
        E::Pinned(_) | E::Corrupt(_) | E::WorkerRunning => TimelogError::new_err(e.to_string()),
        E::InvalidConfig(_)
        | E::InvalidRange { .. }
        | E::Unrepresentable(_)
        | E::BelowFloor { .. }
        | E::LengthMismatch { .. }
        | E::InvalidArgument(_) => PyValueError::new_err(e.to_string()),
        other => TimelogError::new_err(other.to_string()),
    }
}

pub fn busy() -> PyErr {
    TimelogBusyError::new_err(
        "write accepted, but sealed data is piling up faster than maintenance flushes it; \
         the write WAS committed: do not retry it — slow down, call flush(), or use busy_policy='flush'",
    )
}

/// Turns a write result into `None` or the busy error.
#[inline]
pub fn write_result(r: timelog::Result<timelog::WriteStatus>) -> PyResult<()> {
    match r {
        Ok(timelog::WriteStatus::Ok) => Ok(()),
        Ok(timelog::WriteStatus::Busy) => Err(busy()),
        Err(e) => Err(err(e)),
    }
}
