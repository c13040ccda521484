//! The one synchronization shim of the engine.
//!
//! Every atomic, `Arc`, mutex, condition variable and thread the protocol
//! uses is imported from here, never from `std` directly. Under
//! `--cfg timelog_loom` the names resolve to loom's model-checked
//! primitives, under `--cfg timelog_shuttle` to shuttle's, and otherwise to
//! `std`. This way the code that the model checkers explore is the same
//! code that runs in production (see `docs/verification.md`).

#[cfg(all(not(timelog_loom), not(timelog_shuttle)))]
mod imp {
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::{Condvar, Mutex};
    pub(crate) use std::thread;

    /// Spin-loop hint used while waiting for a concurrent writer to finish.
    #[inline]
    pub(crate) fn spin_hint() {
        std::hint::spin_loop();
    }
}

#[cfg(timelog_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Condvar, Mutex};
    pub(crate) use loom::thread;

    #[inline]
    pub(crate) fn spin_hint() {
        loom::thread::yield_now();
    }
}

#[cfg(all(timelog_shuttle, not(timelog_loom)))]
mod imp {
    pub(crate) use shuttle::sync::atomic::{
        AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use shuttle::sync::{Condvar, Mutex};
    pub(crate) use shuttle::thread;

    #[inline]
    pub(crate) fn spin_hint() {
        shuttle::thread::yield_now();
    }
}

#[allow(unused_imports)]
pub(crate) use imp::*;

/// Back-off for the few places where one writer waits for another writer
/// (ordered commit of the visible watermark, draining a memtable at seal).
/// Spins briefly, then yields the CPU so a descheduled peer can finish.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self { step: 0 }
    }

    #[inline]
    pub(crate) fn snooze(&mut self) {
        if self.step < 6 {
            for _ in 0..(1u32 << self.step) {
                spin_hint();
            }
        } else {
            thread::yield_now();
        }
        self.step = self.step.saturating_add(1);
    }
}
