//! Per-thread stripes: the pin counter (how many snapshots of a log are
//! alive, R9) and the striped hold counts of a manifest (R9, "Holds").
//!
//! Owned by the catalog (`catalog.rs`), which puts one `Arc` of the
//! [`PinCounter`] in every manifest it publishes, so a snapshot reaches the
//! counter through the manifest it holds and releases its pin when its last
//! clone drops (`query/snapshot.rs`). `close()` reads the total. Every
//! manifest carries a [`Holds`] (`manifest.rs`): the striped count of the
//! owned snapshots that hold it, and its retirement. Its own module so that
//! the manifest (which holds both) and the snapshot (which counts on them)
//! depend on it, not on each other.
//!
//! A thread counts on *its* stripe ([`stripe`]), a cache-line-padded word
//! of its own (shared only with the threads assigned the same stripe, round
//! robin): readers on different threads write no common cache line
//! (docs/threading.md, "Contention audit").

use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// Number of stripes.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
pub(crate) const STRIPES: usize = 16;
/// Two stripes under the model checkers: enough for two threads to count
/// on different words (so a retirement sees counted and uncounted stripes),
/// few enough to keep the interleavings small.
#[cfg(any(timelog_loom, timelog_shuttle))]
pub(crate) const STRIPES: usize = 2;

/// This thread's stripe (assigned round-robin on first use; under the
/// model checkers, the model thread's index modulo [`STRIPES`], which is
/// deterministic per execution as the checkers require).
#[inline]
pub(crate) fn stripe() -> usize {
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    {
        use std::cell::Cell;
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        thread_local! {
            static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        STRIPE.with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES);
            }
            s.get()
        })
    }
    #[cfg(timelog_loom)]
    {
        // loom prints its per-execution thread index: "ThreadId(N)".
        let id = format!("{:?}", loom::thread::current().id());
        id.bytes().filter(u8::is_ascii_digit).fold(0usize, |n, d| n * 10 + usize::from(d - b'0')) % STRIPES
    }
    #[cfg(all(timelog_shuttle, not(timelog_loom)))]
    {
        usize::from(shuttle::thread::current().id()) % STRIPES
    }
}

/// Counts the live snapshots of a log, so `close()` can refuse while
/// readers are alive. Clones of a snapshot (a cursor's, a page span's)
/// share its pin: the count is of snapshots taken, not of handles.
///
/// The count is striped over cache-line-padded lines, one chosen per
/// thread ([`stripe`]), so readers taking snapshots on different threads do
/// not write one shared cache line (on free-threaded Python, every short
/// `range()` or `point()` iterator takes a snapshot). `total()` sums the
/// stripes.
///
/// Each line also holds the stripe's *park* (R9, "Parking",
/// docs/protocol.md): one word that is either the address of a parked
/// snapshot — an unused one its last handle left there, pinned and held,
/// for the stripe's next snapshot to take back — or [`empty`]`(g)`, an
/// empty park that accepts snapshots of manifest version `g` only. Every
/// publication raises `g` ([`sweep`](Self::sweep)) and evicts what was
/// parked, so a snapshot of a replaced manifest never stays parked after
/// the publication that replaced it. The counter does not know the
/// snapshot type: it stores and hands back addresses; the catalog turns
/// them back into snapshots.
pub(crate) struct PinCounter {
    stripes: Box<[crossbeam_utils::CachePadded<PinLine>]>,
    /// The log's time unit: the counter is the one per-log object every
    /// manifest (and so every snapshot) reaches, and exporters of
    /// snapshot data (Arrow timestamps) need the unit.
    pub(crate) unit: crate::TimeUnit,
}

/// One stripe's line: its pin count and its park.
struct PinLine {
    count: AtomicUsize,
    /// A parked snapshot's address (even: a `Box` is aligned), or
    /// [`empty`]`(g)` (odd).
    park: AtomicU64,
}

/// The word of an empty park that accepts snapshots of manifest version
/// `gen` (R9, "Parking"). Odd, so never a snapshot's address.
#[inline]
pub(crate) const fn empty(gen: u64) -> u64 {
    gen << 1 | 1
}

/// The generation of a closed log's parks: above every manifest version,
/// so no snapshot parks any more ([`empty`]`(GEN_CLOSED)` is `u64::MAX`).
pub(crate) const GEN_CLOSED: u64 = u64::MAX >> 1;

impl std::fmt::Debug for PinCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinCounter").field("total", &self.total()).field("parked", &self.parked()).finish()
    }
}

impl PinCounter {
    /// A counter whose parks accept snapshots of manifest version `gen`
    /// (the first manifest's).
    pub(crate) fn new(unit: crate::TimeUnit, gen: u64) -> Self {
        Self {
            stripes: (0..STRIPES)
                .map(|_| {
                    crossbeam_utils::CachePadded::new(PinLine {
                        count: AtomicUsize::new(0),
                        park: AtomicU64::new(empty(gen)),
                    })
                })
                .collect(),
            unit,
        }
    }

    /// Counts one snapshot on `stripe` (the caller's, [`stripe`]).
    #[inline]
    pub(crate) fn pin(&self, stripe: usize) {
        self.stripes[stripe].count.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn unpin(&self, stripe: usize) {
        self.stripes[stripe].count.fetch_sub(1, Ordering::Release);
    }

    /// Parks the snapshot at `addr`, of manifest version `version`, on
    /// `stripe` (R9, "Parking"): succeeds only if the park is empty and
    /// accepts that version — i.e. no publication since that manifest's
    /// has swept this stripe. Release: the snapshot's contents and every
    /// read of it by its last handle happen before whoever takes or evicts
    /// it (their CAS is Acquire). On failure the caller still owns it.
    #[inline]
    pub(crate) fn park(&self, stripe: usize, version: u64, addr: u64) -> bool {
        debug_assert_eq!(addr & 1, 0, "a snapshot's address is even");
        let park = &self.stripes[stripe].park;
        // Seeded fault (R9, Parking): a snapshot parks in any empty park,
        // whatever generation the sweeps left there — so a snapshot of a
        // replaced manifest can park after the publication that replaced it
        // swept the stripe, and keeps that manifest alive.
        #[cfg(timelog_fault = "park_ignores_generation")]
        {
            let cur = park.load(Ordering::Relaxed);
            let _ = version;
            return cur & 1 == 1 && park.compare_exchange(cur, addr, Ordering::Release, Ordering::Relaxed).is_ok();
        }
        #[allow(unreachable_code)]
        park.compare_exchange(empty(version), addr, Ordering::Release, Ordering::Relaxed).is_ok()
    }

    /// Takes the snapshot parked on `stripe`, if any, leaving the park
    /// empty for version `current` (the caller's load of the current
    /// manifest version, made before this call). Acquire: see
    /// [`park`](Self::park). The caller owns the returned snapshot and must
    /// check its version (it may be of a manifest replaced meanwhile, R9).
    #[inline]
    pub(crate) fn take(&self, stripe: usize, current: u64) -> Option<u64> {
        let park = &self.stripes[stripe].park;
        let w = park.load(Ordering::Relaxed);
        if w & 1 == 1 {
            return None;
        }
        park.compare_exchange(w, empty(current), Ordering::Acquire, Ordering::Relaxed).ok()
    }

    /// Raises the generation of `stripe`'s park to at least `gen` (never
    /// lowers it), evicting the snapshot parked there if any: `evicted` gets
    /// its address (the caller owns it) and returns its manifest's version.
    /// Lock-free: a failed CAS means another thread parked, took, evicted or
    /// raised meanwhile.
    ///
    /// A parked snapshot parked at its own version's generation, which a
    /// newer publication's sweep may have set above `gen` (this sweep is an
    /// older publication's, arriving late): replacing it by `empty(gen)`
    /// lowered the park, and a snapshot of a replaced manifest could then
    /// park and stay (shuttle's `bulk/runs_writers_reader_maintainer` found
    /// it, session 18: `parked_stale` 1). So an eviction of a newer
    /// snapshot raises the park again, to that snapshot's version, evicting
    /// whatever parked in between.
    pub(crate) fn sweep_stripe(&self, stripe: usize, mut gen: u64, evicted: &mut dyn FnMut(u64) -> u64) {
        let park = &self.stripes[stripe].park;
        let mut w = park.load(Ordering::Acquire);
        loop {
            if w & 1 == 1 && w >> 1 >= gen {
                return; // a newer publication's sweep was here first
            }
            match park.compare_exchange(w, empty(gen), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if w & 1 == 1 {
                        return;
                    }
                    let v = evicted(w);
                    if v <= gen {
                        return;
                    }
                    gen = v;
                    w = park.load(Ordering::Acquire);
                }
                Err(x) => w = x,
            }
        }
    }

    /// [`sweep_stripe`](Self::sweep_stripe) on every stripe: called by
    /// every publication (with the new manifest's version, or the current
    /// one if higher), by `pinned()` and `close()`, and by the catalog's
    /// drop ([`GEN_CLOSED`]).
    pub(crate) fn sweep(&self, gen: u64, evicted: &mut dyn FnMut(u64) -> u64) {
        for stripe in 0..STRIPES {
            self.sweep_stripe(stripe, gen, evicted);
        }
    }

    /// Parked snapshots (racy unless no snapshot is parked, taken or
    /// evicted meanwhile).
    pub(crate) fn parked(&self) -> usize {
        self.stripes.iter().filter(|l| l.park.load(Ordering::Acquire) & 1 == 0).count()
    }

    /// The addresses of the parked snapshots, for a quiescent check (tests
    /// and the model checkers' end-of-scenario check): the caller makes
    /// sure no other thread uses the log meanwhile.
    pub(crate) fn parked_addrs(&self) -> Vec<u64> {
        self.stripes.iter().map(|l| l.park.load(Ordering::Acquire)).filter(|w| w & 1 == 0).collect()
    }

    /// Contention audit (test-only): the bytes of this thread's stripe
    /// (its whole padded cache line), and of all the stripes.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn audit_stripes(&self) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let line = |i: usize| {
            let p = &self.stripes[i] as *const _ as usize;
            p..p + std::mem::size_of_val(&self.stripes[i])
        };
        (line(stripe()), line(0).start..line(STRIPES - 1).end)
    }

    /// Snapshots counted: live ones and parked ones. Exact when no
    /// snapshot is taken or released meanwhile.
    pub(crate) fn total(&self) -> usize {
        // A pin is released on the stripe it was counted on (whatever
        // thread drops it), so no stripe goes below zero and the sum is the
        // number of counted snapshots.
        self.stripes.iter().map(|c| c.count.load(Ordering::Acquire)).sum()
    }
}

/// The high bit of a hold stripe: the manifest was retired (R9, "Holds").
const RETIRED: usize = 1 << (usize::BITS - 1);

/// The striped hold count of one manifest, and its retirement (rule R9,
/// "Holds", docs/protocol.md). Each stripe is a cache-line-padded line
/// holding the count of owned snapshots that hold the manifest on that
/// stripe, plus `E`, per-stripe state of the manifest's readers (the
/// coverage cache, R7), so that everything a reader of the manifest writes
/// is on its own stripe's line.
///
/// - [`try_hold`](Self::try_hold): a reader with a borrow of the manifest
///   (which keeps it alive meanwhile) adds one to its stripe with a CAS
///   that fails once the stripe is `RETIRED`; on failure it takes a real
///   reference instead (rare: only a reader racing a publication).
/// - [`retire`](Self::retire): the publisher that replaced the manifest —
///   having handed one reference to "the holders" — marks every stripe
///   `RETIRED` (`fetch_or`, which returns the count), counts the stripes
///   whose count was not zero, and subtracts from `remaining` its bias less
///   that number. After the mark no stripe count grows (`try_hold`'s CAS
///   fails), so each counted stripe reaches zero exactly once.
/// - [`release`](Self::release): `fetch_sub` of the holder's stripe; the
///   holder that moves a retired stripe from 1 to 0 subtracts one from
///   `remaining`. Whoever brings `remaining` to zero (the publisher or the
///   last holder) owns the holders' reference.
///
/// Only read-modify-writes of single words are involved: the order between
/// a hold and the retirement is the modification order of one stripe (no
/// store→load handshake, so nothing depends on `SeqCst`). Releases are
/// `AcqRel` and so is the publisher's mark, so the one who ends up with the
/// holders' reference has acquired every holder's reads.
pub(crate) struct Holds<E> {
    lines: Box<[crossbeam_utils::CachePadded<HoldLine<E>>]>,
    /// `STRIPES + 1` until retired; see the type docs.
    remaining: crossbeam_utils::CachePadded<AtomicUsize>,
}

/// One stripe's line of a manifest.
pub(crate) struct HoldLine<E> {
    count: AtomicUsize,
    pub(crate) extra: E,
}

impl<E: Default> Default for Holds<E> {
    fn default() -> Self {
        Self {
            lines: (0..STRIPES)
                .map(|_| {
                    crossbeam_utils::CachePadded::new(HoldLine { count: AtomicUsize::new(0), extra: E::default() })
                })
                .collect(),
            remaining: crossbeam_utils::CachePadded::new(AtomicUsize::new(STRIPES + 1)),
        }
    }
}

impl<E> Holds<E> {
    /// This thread's per-stripe state.
    #[inline]
    pub(crate) fn local(&self) -> &E {
        &self.lines[stripe()].extra
    }

    /// Counts a hold on `stripe`; false if the manifest is retired (the
    /// caller must then keep it alive by a reference of its own). The
    /// caller keeps the manifest alive during the call.
    #[inline]
    pub(crate) fn try_hold(&self, stripe: usize) -> bool {
        let c = &self.lines[stripe].count;
        // Seeded fault (R9): the reader ignores the retirement mark and
        // relies on a hold the publisher did not count.
        #[cfg(timelog_fault = "hold_ignore_retired")]
        {
            c.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        #[allow(unreachable_code)]
        {
            // First guess: no other hold on this stripe (the common case:
            // one snapshot at a time per thread) — saves a load.
            let mut v = 0;
            loop {
                if v & RETIRED != 0 {
                    return false;
                }
                // Relaxed: the hold orders nothing by itself (the caller's
                // borrow keeps the manifest alive until it is counted); its
                // place before or after the publisher's mark is the
                // modification order of this one word.
                match c.compare_exchange(v, v + 1, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return true,
                    Err(x) => v = x,
                }
            }
        }
    }

    /// Releases a hold counted on `stripe`. Returns true if the caller now
    /// owns the holders' reference (it was the last holder of a retired
    /// manifest). If it returns false, the manifest may be freed at any
    /// moment: the caller must not touch it again.
    #[inline]
    pub(crate) fn release(&self, stripe: usize) -> bool {
        // AcqRel: Release publishes this holder's reads; Acquire makes the
        // holder that zeroes a retired stripe acquire the earlier holders'
        // releases of it (release sequences of one word).
        let prev = self.lines[stripe].count.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(prev & !RETIRED != 0, "hold released twice");
        if prev != RETIRED | 1 {
            return false;
        }
        // This holder moved a counted stripe to zero (once per stripe: no
        // hold is added after the mark); `remaining` stays above zero until
        // its subtraction, so the manifest is alive here.
        self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Retires the manifest: called once, by the publisher that replaced it,
    /// after it handed one reference to the holders (see the type docs).
    /// Returns true if no hold was left, and the publisher owns the holders'
    /// reference again.
    pub(crate) fn retire(&self) -> bool {
        let mut counted = 0;
        for line in self.lines.iter() {
            // AcqRel: Acquire of the releases before the mark (a stripe
            // found at zero is done with); no hold is counted after it.
            let prev = line.count.fetch_or(RETIRED, Ordering::AcqRel);
            debug_assert!(prev & RETIRED == 0, "manifest retired twice");
            if prev != 0 {
                counted += 1;
            }
        }
        // Seeded fault (R9): the publisher ignores the holds in flight and
        // reclaims at once.
        #[cfg(timelog_fault = "reclaim_early")]
        {
            counted = 0;
        }
        // The bias `STRIPES + 1 - counted` is at least 1, and before this
        // subtraction at most `counted` holders subtracted one each, so no
        // holder saw `remaining` at 1 before it.
        let bias = STRIPES + 1 - counted;
        self.remaining.fetch_sub(bias, Ordering::AcqRel) == bias
    }

    /// Live holds (racy unless no hold is taken or released meanwhile).
    pub(crate) fn total(&self) -> usize {
        self.lines.iter().map(|l| l.count.load(Ordering::Acquire) & !RETIRED).sum()
    }

    /// Whether [`retire`](Self::retire) ran.
    pub(crate) fn is_retired(&self) -> bool {
        self.lines[0].count.load(Ordering::Acquire) & RETIRED != 0
    }

    /// Contention audit (test-only): the bytes of `stripe`'s line (this
    /// thread's if `None`), and of `remaining`'s.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn audit_lines(&self, stripe: Option<usize>) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        fn of<X>(x: &X) -> std::ops::Range<usize> {
            let p = x as *const X as usize;
            p..p + std::mem::size_of_val(x)
        }
        (of(&self.lines[stripe.unwrap_or_else(self::stripe)]), of(&self.remaining))
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;

    /// R9 (Parking): a park accepts a snapshot of its generation only;
    /// a take empties it for the caller's version; sweeps raise the
    /// generation and evict, and never lower it (the older of two racing
    /// publications sweeping last must not let snapshots of the manifest
    /// the newer one replaced park again); a closed counter's parks accept
    /// nothing.
    #[test]
    fn parks_sweeps_and_generations() {
        let p = PinCounter::new(crate::TimeUnit::Millis, 5);
        assert!(!p.park(0, 4, 8), "an older version is refused");
        assert!(p.park(0, 5, 8));
        assert!(!p.park(0, 5, 16), "occupied");
        assert_eq!(p.parked(), 1);
        assert_eq!(p.take(1, 5), None, "another stripe's park is empty");
        assert_eq!(p.take(0, 5), Some(8));
        assert_eq!(p.take(0, 5), None);
        assert!(p.park(0, 5, 8));
        let mut evicted = Vec::new();
        p.sweep(7, &mut |a| {
            evicted.push(a);
            5
        });
        assert_eq!(evicted, vec![8]);
        assert_eq!(p.parked(), 0);
        assert!(!p.park(0, 5, 8) && !p.park(3, 6, 8), "below the swept generation");
        p.sweep_stripe(0, 6, &mut |_| unreachable!());
        assert!(!p.park(0, 6, 8), "a sweep never lowers the generation");
        assert!(p.park(0, 7, 8) && p.park(3, 7, 24));
        assert_eq!(p.parked_addrs(), vec![8, 24]);
        evicted.clear();
        p.sweep(GEN_CLOSED, &mut |a| {
            evicted.push(a);
            7
        });
        assert_eq!(evicted, vec![8, 24]);
        assert!(!p.park(0, 7, 8) && !p.park(0, GEN_CLOSED - 1, 8), "closed");
        assert_eq!(p.stripes[0].park.load(Ordering::Relaxed), u64::MAX);
    }

    /// R9 (Parking): a late sweep (an older publication's, generation 5)
    /// that evicts a snapshot of a newer manifest (10) leaves the park at
    /// 10, not 5 — so no snapshot of a replaced manifest parks after it.
    /// (Shuttle's `bulk/runs_writers_reader_maintainer`, session 18: the
    /// park was left at 5 and a snapshot of manifest 5 stayed parked.)
    #[test]
    fn a_late_sweep_never_lowers_a_park() {
        let p = PinCounter::new(crate::TimeUnit::Millis, 5);
        p.sweep(10, &mut |_| unreachable!("nothing parked"));
        assert!(p.park(1, 10, 8));
        let mut evicted = Vec::new();
        p.sweep_stripe(1, 5, &mut |a| {
            evicted.push(a);
            10
        });
        assert_eq!(evicted, vec![8]);
        assert!(!p.park(1, 5, 16), "a snapshot of the replaced manifest 5 parks");
        assert!(p.park(1, 10, 16));
        assert!(!p.park(1, 9, 24));
    }

    /// R9 (Holds): the publisher reclaims at once when nothing holds.
    #[test]
    fn retire_without_holds_returns_the_reference() {
        let h: Holds<()> = Holds::default();
        assert!(h.try_hold(1));
        assert!(!h.release(1), "a release before the retirement reclaims nothing");
        assert!(h.retire());
        assert!(h.is_retired());
    }

    /// R9 (Holds): counted stripes keep the manifest until the last of
    /// them is released; a hold after the mark falls back; exactly one
    /// party reclaims.
    #[test]
    fn last_counted_release_reclaims_once() {
        let h: Holds<()> = Holds::default();
        assert!(h.try_hold(0) && h.try_hold(0) && h.try_hold(3));
        assert!(!h.retire(), "holds are in flight");
        assert!(!h.try_hold(0) && !h.try_hold(5), "no hold is counted after the mark");
        assert_eq!(h.total(), 3);
        assert!(!h.release(0));
        assert!(!h.release(3), "stripe 3 done, stripe 0 still held");
        assert!(h.release(0), "the last holder reclaims");
        assert_eq!(h.total(), 0);
    }
}
