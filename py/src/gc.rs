//! The log's node in the cycle collector's graph: how cycles through
//! payloads are collected, including cycles through readers that share the
//! log's data.
//!
//! A payload reference is owned once per engine part (memtable or segment),
//! and a part is shared — through reference-counted manifests and
//! snapshots, which the collector cannot see — by the log and by every
//! reader whose snapshot references it. The collector needs each payload
//! reported by at most as many objects as hold a counted reference to it
//! (or it frees objects still in use), and reported by an object that is
//! reachable whenever any holder of the part is (or it clears a payload a
//! live reader still returns). So the log's payloads are reported by one
//! object that every holder of the log's data references:
//!
//! - [`PyGcRoot`] reports every payload of the current manifest's parts,
//!   each part once, shared or not (`Timelog::for_each_payload`);
//! - the log holds the root and reports it;
//! - every reader (iterator, page span, span iterator, objects view,
//!   timestamps buffer, Arrow stream) holds a [`PyGcLink`] and reports it,
//!   and a link holds and reports the root. A reader still reports, itself,
//!   the payloads of parts only its snapshot holds (parts the log has since
//!   deleted and compacted away: `Snapshot::for_each_owned_payload`), which
//!   the root no longer reports.
//!
//! Then the root is unreachable only when the log and every reader are, and
//! a payload of the log's data is reported exactly once. The links exist
//! for free-threaded builds: a reader takes a counted reference to a link
//! of its thread's stripe instead of to the root, so reader threads do not
//! all write one reference count (GIL builds, where reference counts are
//! plain increments under the GIL, have one link). A link is padded so
//! that two links' counts do not share a cache line.
//!
//! The graph only grows during a collection, never shrinks: payload
//! reference counts change only on attached threads (the engine clones and
//! drops payloads inside its payload scope, attached; a detached drop is
//! deferred), and the publications that *remove* parts from the current
//! manifest (compaction, close, the flush of a memtable with tombstones)
//! run attached too, so the collector — which runs with the GIL held, or
//! with the world stopped on free-threaded builds — never sees a reported
//! part disappear between its traversals. The flush of a memtable without
//! tombstones runs detached (it clones and drops nothing): it moves the
//! memtable's payloads into the segment that replaces it, and a memtable
//! whose payloads were moved reports them as that segment's
//! (`visit_parts`), so a traversal on either side of that publication
//! reports the same payloads, as often.
//! What detached threads publish only adds references that were counted
//! before they became visible: a seal moves a memtable from active to
//! sealed within the current manifest, a detached writer appends records,
//! and a large `extend`/`bulk_append` publishes its batch as a new L0 run
//! (R14) — the batch's references were counted (unreported) all along. A
//! reference that appears between the collector's subtracting and marking
//! passes is then reported by the marking pass only: it is kept, never
//! over-subtracted.

#[cfg(Py_GIL_DISABLED)]
use std::cell::Cell;
#[cfg(Py_GIL_DISABLED)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use crate::convert::PyObj;
use crate::iter::loading_ahead;
use crate::log::States;

/// Links per log: one per reader stripe on free-threaded builds, one on
/// GIL builds (see the module docs).
#[cfg(Py_GIL_DISABLED)]
const LINKS: usize = 16;
#[cfg(not(Py_GIL_DISABLED))]
const LINKS: usize = 1;

/// The collector node that reports a log's current data (module docs).
#[pyclass(frozen, name = "_GcRoot", module = "timelog._timelog")]
pub struct PyGcRoot {
    states: Arc<States>,
}

#[pymethods]
impl PyGcRoot {
    /// Reports every payload of the log's current manifest, each part once
    /// (`Timelog::for_each_payload`). Lock-free and allocation-free.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let mut res = Ok(());
        self.states.current().log.for_each_payload(&mut |vs| {
            if res.is_ok() {
                res = visit_payloads(&visit, vs);
            }
        });
        res
    }

    /// Breaks reference cycles: the root is unreachable only when the log
    /// and all its readers are (module docs), so the data goes
    /// (`Timelog::discard`; retried by a later collection while a
    /// maintenance step holds the maintainer lock).
    fn __clear__(&self) {
        let _ = self.states.current().log.discard();
    }
}

/// A reader's reference to its log's [`PyGcRoot`] (module docs).
#[pyclass(frozen, name = "_GcLink", module = "timelog._timelog")]
pub struct PyGcLink {
    root: Py<PyGcRoot>,
    /// Keeps the next link's header (its reference count) off this one's
    /// cache line.
    _pad: [u64; 8],
}

#[pymethods]
impl PyGcLink {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.root)
    }
}

/// Reports the payload objects `vs` to a traversal, each one's header
/// loading [`AHEAD`](crate::iter::AHEAD) objects before its visit
/// ([`loading_ahead`]): the collector reads every object it is handed
/// (its type, and for a container its own header), and a log's objects
/// may lie anywhere in memory (session 42: a full collection beside a
/// 1,000,000-record log of such objects, see docs/performance.md).
pub(crate) fn visit_payloads(visit: &PyVisit<'_>, vs: &[PyObj]) -> Result<(), PyTraverseError> {
    for v in loading_ahead(vs) {
        visit.call(v.as_py())?;
    }
    Ok(())
}

/// What a log holds of the collector graph: the root and its links.
pub(crate) struct Gc {
    root: Py<PyGcRoot>,
    links: Box<[Py<PyGcLink>]>,
}

impl Gc {
    pub(crate) fn new(py: Python<'_>, states: &Arc<States>) -> PyResult<Self> {
        let root = Py::new(py, PyGcRoot { states: states.clone() })?;
        let links = (0..LINKS)
            .map(|_| Py::new(py, PyGcLink { root: root.clone_ref(py), _pad: [0; 8] }))
            .collect::<PyResult<Box<[_]>>>()?;
        Ok(Gc { root, links })
    }

    /// A new reference to the link of the calling thread's stripe, for a
    /// reader to hold (a [`PyObj`]: released safely from any path, see
    /// `PyObj`'s `Drop`).
    #[inline]
    pub(crate) fn link(&self, py: Python<'_>) -> PyObj {
        PyObj::new(self.links[stripe()].clone_ref(py).into_any())
    }

    /// Reports what the log holds of the graph (the root and every link).
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.root)?;
        for l in self.links.iter() {
            visit.call(l)?;
        }
        Ok(())
    }
}

/// The calling thread's stripe: threads are numbered as they first ask.
#[cfg(not(Py_GIL_DISABLED))]
#[inline]
fn stripe() -> usize {
    0
}

/// The calling thread's stripe: threads are numbered as they first ask,
/// modulo [`LINKS`].
#[cfg(Py_GIL_DISABLED)]
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT.fetch_add(1, Ordering::Relaxed) % LINKS;
        s.set(v);
        v
    })
}
