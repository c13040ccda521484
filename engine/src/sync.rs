//! The one synchronization shim of the engine.
//!
//! Every atomic, `Arc`, mutex, condition variable, cell and thread the
//! protocol uses is imported from here, never from `std` directly. Under
//! `--cfg timelog_loom` the names resolve to loom's model-checked
//! primitives, under `--cfg timelog_shuttle` to shuttle's, and otherwise to
//! `std`. This way the code that the model checkers explore is the same
//! code that runs in production (see `docs/verification.md`).
//!
//! What differs under the checker cfgs (and only there):
//!
//! - the memtable's out-of-order index and the manifest publication cell
//!   are small model implementations (`memtable/ooo.rs`, `manifest.rs`):
//!   loom cannot look inside crossbeam-skiplist or arc-swap;
//! - [`Region`] — a zero-sized no-op in the std build — becomes a
//!   loom-tracked cell standing for a piece of plain memory (a run slot, a
//!   page, a tombstone node): it is "written" when the memory is
//!   initialized and when it is destroyed, and "read" whenever a reader
//!   touches it, so loom reports a read that is not ordered after the
//!   initialization (a broken publication, R4/R5/R7) or not ordered before
//!   the destruction (a use after reclamation, R6/R9);
//! - [`model_sc_fence`] is a `fence(SeqCst)` under loom, which models
//!   `SeqCst` *accesses* as `AcqRel` (loom README, "Unsupported features")
//!   and would otherwise report false store-buffering outcomes for the R1/R2
//!   Dekker handshake; C11 `SeqCst` accesses already forbid them, so the std
//!   build needs (and has) no fence;
//! - spinning waits yield to the model scheduler on every iteration, and
//!   sizes (run buckets, pages, default memtable bytes) shrink, in the style
//!   of tokio's `loom/mocked.rs`.
//!
//! The event counters of `stats()` (`stats.rs`) stay `std` atomics in every
//! build: they are `Relaxed`, order nothing, and would only multiply the
//! interleavings loom explores.

#[cfg(all(not(timelog_loom), not(timelog_shuttle)))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use std::thread;

    /// Spin-loop hint used while waiting for a concurrent writer to finish.
    #[inline]
    pub(crate) fn spin_hint() {
        std::hint::spin_loop();
    }

    /// No-op: `SeqCst` accesses already give the store→load order (see the module docs).
    #[inline(always)]
    pub(crate) fn model_sc_fence() {}
}

#[cfg(timelog_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use loom::thread;

    #[inline]
    pub(crate) fn spin_hint() {
        loom::thread::yield_now();
    }

    /// Loom models `SeqCst` accesses as `AcqRel`; a `SeqCst` fence restores
    /// the store→load order that C11 gives `SeqCst` accesses (module docs).
    #[inline]
    pub(crate) fn model_sc_fence() {
        loom::sync::atomic::fence(Ordering::SeqCst);
    }
}

#[cfg(all(timelog_shuttle, not(timelog_loom)))]
mod imp {
    pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use shuttle::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use shuttle::thread;

    #[inline]
    pub(crate) fn spin_hint() {
        shuttle::thread::yield_now();
    }

    /// Shuttle is sequentially consistent: nothing to add.
    #[inline(always)]
    pub(crate) fn model_sc_fence() {}
}

#[allow(unused_imports)]
pub(crate) use imp::*;

/// Heuristic and statistics counters (memtable size estimates that decide
/// when to seal, `stats()` counters): `Relaxed`, ordering nothing, and any
/// value they hold is safe for the protocol. They stay `std` atomics in
/// every build, so the model checkers do not spend interleavings on them.
pub(crate) mod stat {
    pub(crate) use std::sync::atomic::AtomicUsize;
}

// Plain (non-atomic) storage — run buckets, pages — is raw memory owned by
// a `segment::block::Block`, not a cell type of this shim: it hands out
// contiguous `&[i64]` slices (spans), which loom's cell (a tracking header
// next to the value) would break. Loom still checks every access to such
// storage, through the [`Region`] that shadows it.

/// Whether this is a model-checking build (loom or shuttle).
pub(crate) const MODEL: bool = cfg!(any(timelog_loom, timelog_shuttle));

/// Model builds only: whether this thread is unwinding from a failure the
/// checker reported. Destructors then leak instead of touching
/// model-checked state again: a second panic would abort the whole test
/// binary and hide the report. Always false (and free) in the std build.
#[inline(always)]
pub(crate) fn unwinding() -> bool {
    MODEL && std::thread::panicking()
}

/// Reads an atomic through `&mut` (no other thread can reach it): the
/// std `get_mut`, which loom spells differently.
pub(crate) trait UnsyncGet {
    type Value;
    fn unsync_get(&mut self) -> Self::Value;
}

macro_rules! unsync_get {
    ($($t:ident => $v:ty),*) => {$(
        impl UnsyncGet for $t {
            type Value = $v;
            #[inline(always)]
            fn unsync_get(&mut self) -> $v {
                #[cfg(not(timelog_loom))]
                {
                    *self.get_mut()
                }
                #[cfg(timelog_loom)]
                {
                    self.with_mut(|v| *v)
                }
            }
        }
    )*};
}
unsync_get!(AtomicUsize => usize, AtomicU64 => u64);

impl<P> UnsyncGet for AtomicPtr<P> {
    type Value = *mut P;
    #[inline(always)]
    fn unsync_get(&mut self) -> *mut P {
        #[cfg(not(timelog_loom))]
        {
            *self.get_mut()
        }
        #[cfg(timelog_loom)]
        {
            self.with_mut(|v| *v)
        }
    }
}

impl UnsyncGet for AtomicBool {
    type Value = bool;
    #[inline(always)]
    fn unsync_get(&mut self) -> bool {
        #[cfg(not(timelog_loom))]
        {
            *self.get_mut()
        }
        #[cfg(timelog_loom)]
        {
            // SAFETY: `&mut self`: no other thread can access the atomic (drop paths, R6/R9).
            unsafe { self.unsync_load() }
        }
    }
}

/// A stand-in, for the model checkers, for a piece of plain memory that is
/// initialized once, then read concurrently, then destroyed (module docs).
///
/// In the std build it is zero-sized and every method is a no-op, so adding
/// one to a struct changes neither its layout nor its code.
#[derive(Debug)]
pub(crate) struct Region {
    #[cfg(timelog_loom)]
    dead: loom::cell::UnsafeCell<bool>,
    #[cfg(all(timelog_shuttle, not(timelog_loom)))]
    dead: std::sync::atomic::AtomicBool,
}

impl Default for Region {
    fn default() -> Self {
        Self::new()
    }
}

impl Region {
    /// A live region; creating it counts as initializing it (in this thread).
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(timelog_loom)]
            dead: loom::cell::UnsafeCell::new(false),
            #[cfg(all(timelog_shuttle, not(timelog_loom)))]
            dead: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Initializes the memory this region stands for (after creating the
    /// region): every later read must be ordered after this (R4, R5, R7).
    #[inline(always)]
    #[cfg_attr(not(any(timelog_loom, timelog_shuttle)), allow(dead_code))]
    pub(crate) fn init(&self) {
        #[cfg(timelog_loom)]
        self.dead.with_mut(|d| {
            // SAFETY: loom's tracked pointer to the flag, valid in this closure (R4-R9 shadow).
            assert!(!unsafe { *d }, "write to reclaimed memory (R6/R9)");
        });
        #[cfg(all(timelog_shuttle, not(timelog_loom)))]
        assert!(!self.dead.load(std::sync::atomic::Ordering::Relaxed), "write to reclaimed memory (R6/R9)");
    }

    /// Reads the memory: must be ordered after the initialization and
    /// before the destruction (R4-R9). Panics on a read after reclamation.
    #[inline(always)]
    pub(crate) fn read(&self) {
        #[cfg(timelog_loom)]
        self.dead.with(|d| {
            // SAFETY: loom's tracked pointer to the flag, valid in this closure (R4-R9 shadow).
            assert!(!unsafe { *d }, "read of reclaimed memory (R6/R9)");
        });
        #[cfg(all(timelog_shuttle, not(timelog_loom)))]
        assert!(!self.dead.load(std::sync::atomic::Ordering::Relaxed), "read of reclaimed memory (R6/R9)");
    }

    /// Marks the memory reclaimed: a write that every read must precede.
    #[inline(always)]
    #[cfg_attr(not(any(timelog_loom, timelog_shuttle)), allow(dead_code))]
    pub(crate) fn kill(&self) {
        #[cfg(timelog_loom)]
        self.dead.with_mut(|d| {
            // SAFETY: loom's tracked pointer to the flag, valid in this closure (R6/R9 shadow).
            unsafe { *d = true };
        });
        #[cfg(all(timelog_shuttle, not(timelog_loom)))]
        self.dead.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(any(timelog_loom, timelog_shuttle))]
impl Drop for Region {
    fn drop(&mut self) {
        // Destruction is a write: loom checks that every read of the region
        // happened-before it (R9: nothing is freed while reachable). Skipped
        // while unwinding from a reported failure, to keep its message.
        if !std::thread::panicking() {
            self.kill();
        }
    }
}

/// Back-off for the few places where one writer waits for another writer
/// (ordered commit of the visible watermark, draining a memtable at seal).
/// Spins briefly, then yields the CPU so a descheduled peer can finish.
/// Under the model checkers every step is one yield to the scheduler.
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
        if MODEL {
            thread::yield_now();
            return;
        }
        if self.step < 6 {
            for _ in 0..(1u32 << self.step) {
                spin_hint();
            }
        } else {
            thread::yield_now();
        }
        self.step = self.step.saturating_add(1);
    }

    /// Whether this wait has gone on past the spinning phase.
    #[inline]
    pub(crate) fn is_long(&self) -> bool {
        self.step >= 12
    }
}

// Seeded-fault builds (`verification/faults.sh`) add `--cfg timelog_fault=...`
// to this crate only (through a rustc wrapper, so the dependencies are built
// once) and name the fault in `TIMELOG_FAULT`: reading the variable here
// makes cargo rebuild the crate whenever the fault changes.
#[cfg(any(timelog_loom, timelog_shuttle))]
const _: Option<&str> = option_env!("TIMELOG_FAULT");
