//! The pin counter: how many snapshots of a log are alive (R9).
//!
//! Owned by the catalog (`catalog.rs`), which puts one `Arc` of it in every
//! manifest it publishes, so a snapshot reaches the counter through the
//! manifest it holds and releases its pin when its last clone drops
//! (`query/snapshot.rs`). `close()` reads the total. Its own module so that the
//! manifest (which holds it) and the snapshot (which counts on it) both
//! depend on it, not on each other.

use crate::sync::{AtomicUsize, Ordering};

/// Counts the live snapshots of a log, so `close()` can refuse while
/// readers are alive. Clones of a snapshot (a cursor's, a page span's)
/// share its pin: the count is of snapshots taken, not of handles.
///
/// The count is striped over cache-line-padded counters, one chosen per
/// thread, so readers taking snapshots on different threads do not write
/// one shared cache line (on free-threaded Python, every short `range()`
/// or `point()` iterator takes a snapshot). `total()` sums the stripes.
pub(crate) struct PinCounter {
    stripes: Box<[crossbeam_utils::CachePadded<AtomicUsize>]>,
    /// The log's time unit: the counter is the one per-log object every
    /// manifest (and so every snapshot) reaches, and exporters of
    /// snapshot data (Arrow timestamps) need the unit.
    pub(crate) unit: crate::TimeUnit,
}

impl std::fmt::Debug for PinCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinCounter").field("total", &self.total()).finish()
    }
}

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
const PIN_STRIPES: usize = 16;
// One stripe under the model checkers: the protocol, not the striping, is
// what they check (and a thread-local index would be state they cannot see).
#[cfg(any(timelog_loom, timelog_shuttle))]
const PIN_STRIPES: usize = 1;

impl PinCounter {
    pub(crate) fn new(unit: crate::TimeUnit) -> Self {
        Self {
            stripes: (0..PIN_STRIPES).map(|_| crossbeam_utils::CachePadded::new(AtomicUsize::new(0))).collect(),
            unit,
        }
    }

    /// This thread's stripe (assigned round-robin on first use).
    #[inline]
    fn stripe() -> usize {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            use std::cell::Cell;
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            thread_local! {
                static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
            }
            STRIPE.with(|s| {
                if s.get() == usize::MAX {
                    s.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % PIN_STRIPES);
                }
                s.get()
            })
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        0
    }

    /// Counts one snapshot; returns the stripe to release it on.
    #[inline]
    pub(crate) fn pin(&self) -> usize {
        let i = Self::stripe();
        self.stripes[i].fetch_add(1, Ordering::Relaxed);
        i
    }

    #[inline]
    pub(crate) fn unpin(&self, stripe: usize) {
        self.stripes[stripe].fetch_sub(1, Ordering::Release);
    }

    /// Contention audit (test-only): the bytes of this thread's stripe
    /// (its whole padded cache line), and of all the stripes.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn audit_stripes(&self) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let line = |i: usize| {
            let p = &self.stripes[i] as *const _ as usize;
            p..p + std::mem::size_of_val(&self.stripes[i])
        };
        (line(Self::stripe()), line(0).start..line(PIN_STRIPES - 1).end)
    }

    /// Live snapshots. Exact when no snapshot is taken or released
    /// meanwhile (`close()` reads it after making sure of that).
    pub(crate) fn total(&self) -> usize {
        // A pin is released on the stripe it was counted on (whatever
        // thread drops it), so no stripe goes below zero and the sum is the
        // number of live snapshots.
        self.stripes.iter().map(|c| c.load(Ordering::Acquire)).sum()
    }
}
