//! Embedding hooks, and (with the `test-hooks` feature) pause points that
//! hold a maintainer or writer in the middle of a publication so tests can
//! prove that readers never wait for it.

use std::sync::Arc;

/// Runs a closure in a caller-provided context. See [`Hooks`].
pub type Scope = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

/// Places in the protocol where a test can hold a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// A writer has claimed the seal of a full memtable and every ticket of
    /// it committed, but has not published the manifest with the new
    /// active memtable yet.
    SealPublish,
    /// The maintainer has built an L0 segment and is about to publish it.
    FlushPublish,
    /// The maintainer has built L1 segments and is about to publish them.
    CompactPublish,
    /// A delete took its ticket of the active memtable (R1) and has not
    /// pushed its tombstone yet.
    DeleteAdmitted,
}

/// Hooks given to [`Timelog::with_hooks`](crate::Timelog::with_hooks).
///
/// Both scopes exist for payloads whose clone and drop need a context, like
/// Python objects (reference counts need an attached thread):
///
/// - `worker_scope` wraps every phase of flush and compaction that clones or
///   drops payloads (building a segment; publishing a manifest, which may
///   drop the last reference to a replaced memtable or segment). It must run
///   the closure, or not at all (then the step is skipped and retried later;
///   nothing is published), and it must allow being entered from inside
///   itself (a maintenance step runs its flushes, compaction and release in
///   one phase, and those open their own phases: a nested call must just
///   run the closure, as the Python binding's does when already attached).
/// - `blocking_scope` wraps every place where an engine thread may wait for
///   another (a writer waiting for the maintenance worker under
///   backpressure, the test pause points), so a binding can release its
///   interpreter lock there.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Context for the payload phases of flush and compaction.
    pub worker_scope: Option<Scope>,
    /// Context for waits.
    pub blocking_scope: Option<Scope>,
    #[cfg(feature = "test-hooks")]
    pub(crate) gates: Arc<gates::Gates>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").field("worker_scope", &self.worker_scope.is_some()).finish()
    }
}

impl Hooks {
    #[inline]
    pub(crate) fn pause(&self, _p: Point) {
        #[cfg(feature = "test-hooks")]
        if self.gates.is_closed(_p) {
            self.blocking(&mut || self.gates.pass(_p));
        } else {
            self.gates.pass(_p);
        }
    }

    /// Runs `f` in the payload scope; returns whether it ran.
    pub(crate) fn scoped(&self, f: &mut dyn FnMut()) -> bool {
        match &self.worker_scope {
            Some(s) => {
                let mut ran = false;
                s(&mut || {
                    f();
                    ran = true;
                });
                ran
            }
            None => {
                f();
                true
            }
        }
    }

    /// One step of a writer's wait for another writer (or a sealer). After
    /// the spinning phase, the wait yields inside the blocking scope, so a
    /// binding can release an interpreter lock that the awaited thread may
    /// need to finish.
    #[inline]
    pub(crate) fn snooze(&self, b: &mut crate::sync::Backoff) {
        if b.is_long() && self.blocking_scope.is_some() {
            self.blocking(&mut || crate::sync::thread::yield_now());
        } else {
            b.snooze();
        }
    }

    /// Runs `f` (which may wait for another thread) in the blocking scope.
    pub(crate) fn blocking(&self, f: &mut dyn FnMut()) {
        match &self.blocking_scope {
            Some(s) => s(f),
            None => f(),
        }
    }
}

/// Test-only count of the records a read examines one by one (each
/// record whose timestamp or sequence a read loads while walking or
/// binary-searching a source, each skiplist entry, each seek of a source,
/// each record a cursor hands out), per thread. Without the `test-hooks`
/// feature [`visit`] compiles to nothing.
#[cfg(feature = "test-hooks")]
mod visited {
    use std::cell::Cell;
    thread_local! {
        pub(super) static VISITED: Cell<u64> = const { Cell::new(0) };
        pub(super) static WFREE: Cell<u64> = const { Cell::new(0) };
        /// Set while a read takes its share of building a merged view.
        pub(super) static HELPING: Cell<bool> = const { Cell::new(false) };
        pub(super) static HELPED: Cell<u64> = const { Cell::new(0) };
    }
}

/// Counts `n` records visited by the current read (`test-hooks` only);
/// inside [`helping`], by its share of building a merged view.
#[inline(always)]
pub(crate) fn visit(_n: usize) {
    #[cfg(feature = "test-hooks")]
    if visited::HELPING.with(std::cell::Cell::get) {
        visited::HELPED.with(|c| c.set(c.get() + _n as u64));
    } else {
        visited::VISITED.with(|c| c.set(c.get() + _n as u64));
    }
}

/// Runs `f`, a read's share of building a memtable's merged view (R13
/// (5)): what it visits is counted apart ([`take_helped`]), bounded on its
/// own by [`view_help_visits`].
#[inline(always)]
pub(crate) fn helping<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "test-hooks")]
    {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                visited::HELPING.with(|c| c.set(false));
            }
        }
        visited::HELPING.with(|c| c.set(true));
        let _reset = Reset;
        f()
    }
    #[cfg(not(feature = "test-hooks"))]
    f()
}

/// Returns the records visited on this thread by reads' shares of building
/// merged views since the last call, and resets the count (`test-hooks`).
#[cfg(feature = "test-hooks")]
pub fn take_helped() -> u64 {
    visited::HELPED.with(|c| c.replace(0))
}

/// The most records one read visits for its share of a memtable's merged
/// view under construction (R13 (5)), per memtable ([`take_helped`]), when
/// it collected `late` of the memtable's late records itself — so at most
/// a constant factor of its own visits.
#[cfg(feature = "test-hooks")]
pub fn view_help_visits(late: u64) -> u64 {
    crate::memtable::merged::help_visits_max(usize::try_from(late).unwrap_or(usize::MAX)) as u64
}

/// Returns the records visited on this thread since the last call, and
/// resets the count (`test-hooks` feature; for tests that bound the cost
/// of reads under deletes, `engine/tests/delete_reads.rs`).
#[cfg(feature = "test-hooks")]
pub fn take_visited() -> u64 {
    visited::VISITED.with(|c| c.replace(0))
}

/// Counts a one-shot read answered without loading the watermark (R15;
/// `test-hooks` only).
#[inline(always)]
pub(crate) fn wfree_answered() {
    #[cfg(feature = "test-hooks")]
    visited::WFREE.with(|c| c.set(c.get() + 1));
}

/// Returns the one-shot reads this thread answered without the watermark
/// (R15) since the last call, and resets the count (`test-hooks` feature).
#[cfg(feature = "test-hooks")]
pub fn take_wfree_answered() -> u64 {
    visited::WFREE.with(|c| c.replace(0))
}

#[cfg(feature = "test-hooks")]
pub(crate) mod gates {
    use super::Point;
    use std::collections::HashMap;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    #[derive(Default, Debug)]
    struct State {
        closed: HashMap<Point, bool>,
        reached: HashMap<Point, usize>,
    }

    /// Gates that test code closes; a thread reaching a closed gate waits.
    #[derive(Default, Debug)]
    pub struct Gates {
        st: Mutex<State>,
        cv: Condvar,
    }

    impl Gates {
        pub(crate) fn pass(&self, p: Point) {
            let mut st = self.st.lock().unwrap();
            *st.reached.entry(p).or_default() += 1;
            self.cv.notify_all();
            while st.closed.get(&p).copied().unwrap_or(false) {
                st = self.cv.wait(st).unwrap();
            }
        }
        pub(crate) fn is_closed(&self, p: Point) -> bool {
            self.st.lock().unwrap().closed.get(&p).copied().unwrap_or(false)
        }
        pub(crate) fn set(&self, p: Point, closed: bool) {
            let mut st = self.st.lock().unwrap();
            st.closed.insert(p, closed);
            self.cv.notify_all();
        }
        pub(crate) fn reached(&self, p: Point) -> usize {
            self.st.lock().unwrap().reached.get(&p).copied().unwrap_or(0)
        }
        pub(crate) fn wait_reached(&self, p: Point, n: usize, timeout: Duration) -> bool {
            let st = self.st.lock().unwrap();
            let (st, _) =
                self.cv.wait_timeout_while(st, timeout, |s| s.reached.get(&p).copied().unwrap_or(0) < n).unwrap();
            st.reached.get(&p).copied().unwrap_or(0) >= n
        }
    }
}
