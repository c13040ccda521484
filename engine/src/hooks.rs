//! Embedding hooks, and (with the `test-hooks` feature) pause points that
//! hold a maintainer or writer in the middle of a publication so tests can
//! prove that readers never wait for it.

use std::sync::Arc;

/// Runs one unit of background maintenance inside a caller-provided
/// context. The Python binding uses it to attach the worker thread to the
/// interpreter, so payload reference counts can be changed from it.
pub type WorkerScope = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

/// Places in the protocol where a test can hold a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// A writer has claimed the seal of a full memtable and drained it, but
    /// has not published the manifest with the new active memtable yet.
    SealPublish,
    /// The maintainer has built an L0 segment and is about to publish it.
    FlushPublish,
    /// The maintainer has built L1 segments and is about to publish them.
    CompactPublish,
}

/// Hooks given to [`Timelog::with_hooks`](crate::Timelog::with_hooks).
#[derive(Clone, Default)]
pub struct Hooks {
    /// Context for every maintenance step of the background worker.
    pub worker_scope: Option<WorkerScope>,
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
        self.gates.pass(_p);
    }

    pub(crate) fn scoped(&self, f: &mut dyn FnMut()) {
        match &self.worker_scope {
            Some(s) => s(f),
            None => f(),
        }
    }
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
