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
//! - the manifest publication cell is a small model implementation
//!   (`manifest.rs`): loom cannot look inside arc-swap (the memtable's
//!   out-of-order index, `memtable/ooo.rs`, is the engine's own and runs
//!   as it is, with towers of at most 2 levels);
//! - [`Region`] — a zero-sized no-op in the std build — becomes a
//!   loom-tracked cell standing for a piece of plain memory (a run slot, a
//!   page, a tombstone node, a skiplist node): it is "written" when the memory is
//!   initialized and when it is destroyed, and "read" whenever a reader
//!   touches it, so loom reports a read that is not ordered after the
//!   initialization (a broken publication, R4/R5/R7) or not ordered before
//!   the destruction (a use after reclamation, R6/R9);
//! - `model_sc_fence` (checker builds only) is a `fence(SeqCst)` under
//!   loom, which models `SeqCst` *accesses* as `AcqRel` (loom README,
//!   "Unsupported features") and would otherwise report false
//!   store-buffering outcomes for the Dekker handshake of the model
//!   manifest cell's reader announcement; C11 `SeqCst` accesses already
//!   forbid them. (R1/R2 need no handshake: the writer state is one word,
//!   `memtable/mod.rs`.)
//! - spinning waits yield to the model scheduler on every iteration, and
//!   sizes (run buckets, pages, default memtable bytes) shrink, in the style
//!   of tokio's `loom/mocked.rs`.
//!
//! The event counters of `stats()` (`stats.rs`) stay `std` atomics in every
//! build: they are `Relaxed`, order nothing, and would only multiply the
//! interleavings loom explores.
//!
//! A third std build, for tests only: with the cargo feature
//! `contention-audit` the atomics and `Arc` (and the [`stat`] counters)
//! are the recording wrappers of `audit`, which log the writes the
//! calling thread makes, with their addresses, while it records
//! (`docs/threading.md`, "Contention audit"). Without the feature they are
//! the `std` types themselves.

#[cfg(all(not(timelog_loom), not(timelog_shuttle), not(feature = "contention-audit")))]
mod imp {
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use std::thread;

    /// Spin-loop hint used while waiting for a concurrent writer to finish.
    #[inline]
    pub(crate) fn spin_hint() {
        std::hint::spin_loop();
    }
}

/// The counting build (`--features contention-audit`, std only): the
/// atomics and `Arc` are the recording wrappers of `audit`; everything
/// else is `std`, as in the default build.
#[cfg(all(not(timelog_loom), not(timelog_shuttle), feature = "contention-audit"))]
mod imp {
    pub(crate) use super::audit::{Arc, AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize};
    pub(crate) use std::sync::atomic::{fence, Ordering};
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) use std::thread;

    /// Spin-loop hint used while waiting for a concurrent writer to finish.
    #[inline]
    pub(crate) fn spin_hint() {
        std::hint::spin_loop();
    }
}

#[cfg(timelog_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
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
    pub(crate) use shuttle::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
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
/// every build, so the model checkers do not spend interleavings on them
/// (the `contention-audit` build records them: they are lines a writer writes).
pub(crate) mod stat {
    #[cfg(not(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle))))]
    pub(crate) use std::sync::atomic::{AtomicI64, AtomicUsize};
    // The counting build records them too: they are shared lines a writer writes.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) use super::audit::{AtomicI64, AtomicUsize};
}

/// A cell written once, std in every build: a flushed memtable's heir
/// (`Memtable::set_heir`), written by its flusher before the publication
/// that replaces the memtable, read by the memtable's drop (exclusive) and
/// by payload visits (`visit_parts`), which report the same payloads
/// whether or not they see it. It orders nothing the protocol relies on.
pub(crate) use std::sync::OnceLock;

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
/// (ordered commit of the visible watermark, a seal waiting for the tickets
/// of its memtable to commit, a writer waiting for the door to reopen).
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

/// The contention audit's counting mode (`--features contention-audit`;
/// never under the model checkers): every atomic and `Arc` of the shim is a
/// `#[repr(transparent)]` wrapper of its `std` type that, when the calling
/// thread is recording, logs each write it makes — `store`, `swap`,
/// compare-and-swap (failed ones too: on x86 a `lock cmpxchg` takes the
/// cache line exclusive whatever its outcome), `fetch_*` — with the address
/// written, and each `Arc` creation, clone and drop (a reference-count
/// write in the allocation's header) with the address of the value.
///
/// Recording is per thread ([`record`](audit::record)): other threads' writes never land
/// in the log. Without the feature none of this exists and the shim
/// re-exports `std` (zero cost). What the recording cannot see (arc-swap's
/// own atomics, the `Relaxed` counters of `stats.rs`, plain
/// stores) is listed in `docs/threading.md`, "Contention audit".
#[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
pub mod audit {
    use std::cell::RefCell;
    use std::mem::ManuallyDrop;
    use std::sync::atomic::Ordering;

    /// What a recorded write did.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Op {
        /// `store`.
        Store,
        /// `swap`.
        Swap,
        /// `compare_exchange` / `compare_exchange_weak` / `fetch_update`
        /// (recorded whether or not it succeeds).
        Cas,
        /// `fetch_add`, `fetch_sub`, `fetch_max`, `fetch_min`, `fetch_or`, `fetch_and`.
        Rmw,
        /// `Arc::new`: a new allocation (its header is written by this thread only).
        ArcNew,
        /// A snapshot's allocation taken back out of a park (R9, "Parking"):
        /// this thread owns it alone again, as after `ArcNew` (nothing is
        /// written: the take is the CAS recorded on the park word).
        ArcReuse,
        /// `Arc::clone`: the reference count of the allocation is incremented.
        ArcClone,
        /// `Arc` drop: the reference count is decremented.
        ArcDrop,
    }

    /// One recorded write. For atomics `addr` is the atomic's address and
    /// `len` its size; for `Arc` operations `addr` is the address of the
    /// value (`Arc::as_ptr`) — the counts sit in the allocation's header,
    /// the 16 bytes just before it — and `len` the value's size.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Write {
        /// What kind of write.
        pub op: Op,
        /// The written atomic's address, or the `Arc`'s value address.
        pub addr: usize,
        /// The atomic's size, or the `Arc`'s value size.
        pub len: usize,
    }

    thread_local! {
        static LOG: RefCell<Option<Vec<Write>>> = const { RefCell::new(None) };
    }

    /// Runs `f` with this thread recording; returns its result and the
    /// writes the shim saw this thread make meanwhile, in order. Nested
    /// calls record into the innermost one only.
    pub fn record<R>(f: impl FnOnce() -> R) -> (R, Vec<Write>) {
        let outer = LOG.with(|l| l.borrow_mut().replace(Vec::new()));
        let r = f();
        let log = LOG.with(|l| std::mem::replace(&mut *l.borrow_mut(), outer)).unwrap_or_default();
        (r, log)
    }

    /// Records an allocation's creation or a change of its reference count
    /// made outside [`Arc`] (a snapshot's handle count, `query/snapshot.rs`,
    /// kept in its own allocation as an `Arc`'s is): `addr` and `len` are
    /// the allocation's, as for an `Arc`'s value.
    #[inline]
    pub fn note_count(op: Op, addr: usize, len: usize) {
        debug_assert!(matches!(op, Op::ArcNew | Op::ArcReuse | Op::ArcClone | Op::ArcDrop));
        note(op, addr, len);
    }

    #[inline]
    fn note(op: Op, addr: usize, len: usize) {
        // `try_with`: `Arc`s may drop in other thread-locals' destructors.
        let _ = LOG.try_with(|l| {
            if let Ok(mut g) = l.try_borrow_mut() {
                if let Some(v) = g.as_mut() {
                    v.push(Write { op, addr, len });
                }
            }
        });
    }

    macro_rules! recorded_atomic {
        ($name:ident, $v:ty, $($rmw:ident),*) => {
            /// A recording wrapper of the `std` atomic of the same name.
            #[repr(transparent)]
            #[derive(Default)]
            pub struct $name(std::sync::atomic::$name);

            impl std::fmt::Debug for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    self.0.fmt(f)
                }
            }

            #[allow(missing_docs)] // the std methods of the same names, recording their writes
            impl $name {
                #[inline]
                pub const fn new(v: $v) -> Self {
                    Self(std::sync::atomic::$name::new(v))
                }
                #[inline]
                fn note(&self, op: Op) {
                    note(op, self as *const Self as usize, std::mem::size_of::<Self>());
                }
                #[inline]
                pub fn load(&self, o: Ordering) -> $v {
                    self.0.load(o)
                }
                #[inline]
                pub fn store(&self, v: $v, o: Ordering) {
                    self.note(Op::Store);
                    self.0.store(v, o)
                }
                #[inline]
                pub fn swap(&self, v: $v, o: Ordering) -> $v {
                    self.note(Op::Swap);
                    self.0.swap(v, o)
                }
                #[inline]
                pub fn compare_exchange(&self, c: $v, n: $v, s: Ordering, f: Ordering) -> Result<$v, $v> {
                    self.note(Op::Cas);
                    self.0.compare_exchange(c, n, s, f)
                }
                #[inline]
                pub fn compare_exchange_weak(&self, c: $v, n: $v, s: Ordering, f: Ordering) -> Result<$v, $v> {
                    self.note(Op::Cas);
                    self.0.compare_exchange_weak(c, n, s, f)
                }
                #[inline]
                pub fn fetch_update(
                    &self,
                    s: Ordering,
                    f: Ordering,
                    g: impl FnMut($v) -> Option<$v>,
                ) -> Result<$v, $v> {
                    self.note(Op::Cas);
                    self.0.fetch_update(s, f, g)
                }
                #[inline]
                pub fn get_mut(&mut self) -> &mut $v {
                    self.0.get_mut()
                }
                #[inline]
                pub fn into_inner(self) -> $v {
                    self.0.into_inner()
                }
                $(
                    #[inline]
                    pub fn $rmw(&self, v: $v, o: Ordering) -> $v {
                        self.note(Op::Rmw);
                        self.0.$rmw(v, o)
                    }
                )*
            }
        };
    }

    recorded_atomic!(AtomicUsize, usize, fetch_add, fetch_sub, fetch_max, fetch_min, fetch_or, fetch_and);
    recorded_atomic!(AtomicU64, u64, fetch_add, fetch_sub, fetch_max, fetch_min, fetch_or, fetch_and);
    recorded_atomic!(AtomicI64, i64, fetch_add, fetch_sub, fetch_max, fetch_min, fetch_or, fetch_and);
    recorded_atomic!(AtomicBool, bool, fetch_or, fetch_and);

    /// A recording wrapper of `std::sync::atomic::AtomicPtr`.
    #[repr(transparent)]
    pub struct AtomicPtr<P>(std::sync::atomic::AtomicPtr<P>);

    impl<P> std::fmt::Debug for AtomicPtr<P> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }

    #[allow(missing_docs)] // the std methods of the same names, recording their writes
    impl<P> AtomicPtr<P> {
        #[inline]
        pub const fn new(p: *mut P) -> Self {
            Self(std::sync::atomic::AtomicPtr::new(p))
        }
        #[inline]
        fn note(&self, op: Op) {
            note(op, self as *const Self as usize, std::mem::size_of::<Self>());
        }
        #[inline]
        pub fn load(&self, o: Ordering) -> *mut P {
            self.0.load(o)
        }
        #[inline]
        pub fn store(&self, p: *mut P, o: Ordering) {
            self.note(Op::Store);
            self.0.store(p, o)
        }
        #[inline]
        pub fn swap(&self, p: *mut P, o: Ordering) -> *mut P {
            self.note(Op::Swap);
            self.0.swap(p, o)
        }
        #[inline]
        pub fn compare_exchange(&self, c: *mut P, n: *mut P, s: Ordering, f: Ordering) -> Result<*mut P, *mut P> {
            self.note(Op::Cas);
            self.0.compare_exchange(c, n, s, f)
        }
        #[inline]
        pub fn compare_exchange_weak(&self, c: *mut P, n: *mut P, s: Ordering, f: Ordering) -> Result<*mut P, *mut P> {
            self.note(Op::Cas);
            self.0.compare_exchange_weak(c, n, s, f)
        }
        #[inline]
        pub fn get_mut(&mut self) -> &mut *mut P {
            self.0.get_mut()
        }
        #[inline]
        pub fn into_inner(self) -> *mut P {
            self.0.into_inner()
        }
    }

    /// A recording wrapper of `std::sync::Arc`: creation, clone and drop
    /// are logged with the value's address ([`Op::ArcNew`],
    /// [`Op::ArcClone`], [`Op::ArcDrop`]). It implements arc-swap's
    /// `RefCnt`, so the reference counts arc-swap takes and releases for a
    /// cell of it (the manifest cell) are logged too.
    #[repr(transparent)]
    pub struct Arc<T: ?Sized>(ManuallyDrop<std::sync::Arc<T>>);

    #[allow(missing_docs)] // the std methods of the same names, recording their writes
    impl<T> Arc<T> {
        #[inline]
        pub fn new(v: T) -> Self {
            let a = std::sync::Arc::new(v);
            note(Op::ArcNew, std::sync::Arc::as_ptr(&a) as usize, std::mem::size_of::<T>());
            Self(ManuallyDrop::new(a))
        }
    }

    #[allow(missing_docs)] // the std methods of the same names, recording their writes
    impl<T: ?Sized> Arc<T> {
        #[inline]
        fn note(&self, op: Op) {
            note(op, std::sync::Arc::as_ptr(&self.0) as *const u8 as usize, std::mem::size_of_val::<T>(&self.0));
        }
        #[inline]
        pub fn strong_count(this: &Self) -> usize {
            std::sync::Arc::strong_count(&this.0)
        }
        #[inline]
        pub fn ptr_eq(a: &Self, b: &Self) -> bool {
            std::sync::Arc::ptr_eq(&a.0, &b.0)
        }
        #[inline]
        pub fn as_ptr(this: &Self) -> *const T {
            std::sync::Arc::as_ptr(&this.0)
        }
        /// No count changes (it succeeds only for the one owner): nothing to record.
        #[inline]
        pub fn get_mut(this: &mut Self) -> Option<&mut T> {
            std::sync::Arc::get_mut(&mut this.0)
        }
    }

    #[allow(missing_docs)] // the std methods of the same names (no count changes: nothing to record)
    impl<T> Arc<T> {
        #[inline]
        pub fn into_raw(this: Self) -> *const T {
            let me = ManuallyDrop::new(this);
            // SAFETY: `me` is never dropped, so the std `Arc` read out of it
            // is the one owner of this reference (std `ptr::read` contract).
            std::sync::Arc::into_raw(unsafe { std::ptr::read(&*me.0) })
        }
        /// # Safety
        /// std `Arc::from_raw`'s contract.
        #[inline]
        pub unsafe fn from_raw(ptr: *const T) -> Self {
            // SAFETY: the caller's contract (std `Arc::from_raw`).
            Self(ManuallyDrop::new(unsafe { std::sync::Arc::from_raw(ptr) }))
        }
    }

    impl<T: ?Sized> Clone for Arc<T> {
        #[inline]
        fn clone(&self) -> Self {
            self.note(Op::ArcClone);
            Self(self.0.clone())
        }
    }

    impl<T: ?Sized> Drop for Arc<T> {
        #[inline]
        fn drop(&mut self) {
            self.note(Op::ArcDrop);
            // SAFETY: std API contract of `ManuallyDrop::drop`: the field is
            // dropped exactly once, here, and never used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.0) }
        }
    }

    impl<T: ?Sized> std::ops::Deref for Arc<T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for Arc<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            (**self).fmt(f)
        }
    }

    impl<T: Default> Default for Arc<T> {
        fn default() -> Self {
            Self::new(T::default())
        }
    }

    // SAFETY: arc-swap's `RefCnt` contract: `into_ptr`/`from_ptr` convert
    // without touching the count (std `Arc::into_raw`/`from_raw`), `as_ptr`
    // borrows, and the value never moves (it lives in the `Arc`'s heap
    // allocation). `inc`/`dec` keep their default bodies (clone / drop), so
    // they are recorded.
    unsafe impl<T> arc_swap::RefCnt for Arc<T> {
        type Base = T;
        fn into_ptr(me: Self) -> *mut T {
            let me = ManuallyDrop::new(me);
            // SAFETY: `me` is never dropped, so the std `Arc` read out of it
            // is its one owner of this reference (std `ptr::read` contract).
            let a = unsafe { std::ptr::read(&*me.0) };
            std::sync::Arc::into_raw(a) as *mut T
        }
        fn as_ptr(me: &Self) -> *mut T {
            std::sync::Arc::as_ptr(&me.0) as *mut T
        }
        unsafe fn from_ptr(ptr: *const T) -> Self {
            // SAFETY: arc-swap passes only pointers from `into_ptr` (std
            // `Arc::from_raw` contract), owning the reference they stand for.
            Self(ManuallyDrop::new(unsafe { std::sync::Arc::from_raw(ptr) }))
        }
    }
}
