//! The door: how writers reach the active memtable, and where their
//! sequences come from (R1, R2, R3, R5).
//!
//! A log has one door for its whole life, owned by the catalog. It holds
//! the writers' state word — SEALED, TAKEN (the parity of the appender
//! rights taken, R3), a generation and the count of *tickets* taken from
//! the memtable behind it — beside it GIVEN (the parity of the rights
//! given back) and a plain pointer to that memtable: the active memtable
//! of the current manifest. A writer (a record, a batch or a delete)
//! *enters* by one read-modify-write of the word that takes its tickets:
//! if the value it read was not SEALED, its sequences are the memtable's
//! base plus those tickets (`base + t + 1` for the `t`-th ticket), so a
//! sequence is handed out by the same locked instruction that admits the
//! writer — no sequence counter of its own.
//! The memtable cannot be replaced before every ticket taken from it is
//! committed: the sealer's claim (R2) reads the number of tickets `E` from
//! the word, and replacing the memtable waits for the visible watermark to
//! reach `base + E` (R5), which needs each ticket holder's commit; a
//! writer commits after its insert, so everything it did to the memtable —
//! the pointer's load included — happens-before the replacement. There is
//! no leaving read-modify-write: the commit is the writer's last step.
//!
//! The word lives as long as the log, so a writer can always touch it: no
//! reclamation question arises for the door itself. The generation (bumped
//! by every [`install`](Door::install)) names which memtable a writer
//! entered, so that the writer can ask, after its commit, to seal *that*
//! memtable and no successor.

use super::{run, Entry, Memtable};
use crate::sync::{AtomicPtr, AtomicU64, Ordering};
use crate::{SeqNo, Timestamp};

/// `state`: the memtable behind the door is (being) sealed or replaced (R2).
const SEALED: u64 = 1 << 63;
/// `state`: the parity of the appender rights taken so far (R3). The
/// right is free when it equals [`Hot::given`], the parity of those given
/// back: taking it flips this bit in the entering CAS, giving it back is a
/// plain store of the new parity to `given` — no read-modify-write (until
/// session 27 the right was a bit set by the CAS and cleared by a
/// `fetch_sub`: one locked instruction more per in-order append, ~6 ns of
/// its ~24 on the machines this is measured on).
const TAKEN: u64 = 1 << 62;
/// `state`: one step of the generation (bits 36..62).
const GEN_ONE: u64 = 1 << 36;
/// `state`: the mask of the generation.
const GEN: u64 = TAKEN - GEN_ONE;
/// `state`: the mask of the tickets taken from the memtable behind the
/// door (bits 0..36: 68 billion sequences per memtable; entries refused
/// while it is sealed add theirs too, one per waiting writer, and the
/// install resets the count).
const TICKETS: u64 = GEN_ONE - 1;

/// The generation part of a state word.
#[inline(always)]
fn gen_of(s: u64) -> u64 {
    s & GEN
}

/// The word and the pointer, on one cache line of their own: a writer
/// reads the pointer right after its read-modify-write of the word, and
/// readers never touch either.
struct Hot<T> {
    /// SEALED, TAKEN, the generation and the tickets taken.
    state: AtomicU64,
    /// The parity of the appender rights given back (0 or [`TAKEN`]):
    /// stored (Release) only by the holder of the right, as it gives it
    /// back (R3).
    given: AtomicU64,
    /// The memtable behind the door. Written only by the holder of SEALED
    /// ([`install`](Door::install)); read by a writer that took a ticket
    /// (R1).
    mt: AtomicPtr<Memtable<T>>,
    /// The run's last timestamp as its appender last wrote it: a racy hint
    /// that lets a record visibly before the run's tail enter without
    /// asking for the appender right (the memtable cannot be looked at
    /// before entering). Any value is safe: the appender checks again.
    tail: crate::sync::stat::AtomicI64,
}

/// The one door to a log's active memtable; see the module docs.
pub(crate) struct Door<T> {
    hot: crossbeam_utils::CachePadded<Hot<T>>,
}

// SAFETY: the door hands out `&Memtable<T>` to writers on any thread, for
// the time they hold uncommitted tickets (R1); `Memtable<T>` is shared
// between threads like that through manifests already, which needs
// `T: Send + Sync`.
unsafe impl<T: Send + Sync> Send for Door<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Door<T> {}

impl<T> std::fmt::Debug for Door<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.hot.state.load(Ordering::Relaxed);
        f.debug_struct("Door")
            .field("sealed", &(s & SEALED != 0))
            .field("generation", &(gen_of(s) / GEN_ONE))
            .field("tickets", &(s & TICKETS))
            .finish()
    }
}

/// What a sealed-out writer saw: wait with [`Door::wait_reopened`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shut(u64);

/// What a write left behind for the seal policy (`Maint::after_write`),
/// read before its commit: the memtable may be replaced and dropped once
/// it committed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Written {
    /// The memtable's approximate size after the write.
    pub(crate) bytes: usize,
    /// Its skiplist's arena bytes.
    pub(crate) ooo: usize,
    /// The generation of the memtable written to ([`Door::seal_begin`]).
    pub(crate) gen: u64,
}

/// The claim of a seal (R2): the tickets taken from the memtable behind
/// the door before it, whose sequences the memtable's seal bound covers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claim {
    tickets: u64,
}

impl Claim {
    /// The seal bound of `x`, the memtable the claim is on: the greatest
    /// sequence any ticket of it carries.
    pub(crate) fn bound<T: Send + Sync + 'static>(self, x: &Memtable<T>) -> SeqNo {
        x.base() + self.tickets
    }

    /// R2 for the claimant, after the claim on `x`: record `x`'s seal bound
    /// and wait until the watermark reaches it — every ticket taken from
    /// `x` committed, so its holders are done with `x` and with the door's
    /// pointer (they commit last) and gave back the appender right. Only
    /// then may the claimant replace `x` behind the door. Returns the bound.
    pub(crate) fn seal<T: Send + Sync + 'static>(
        self,
        x: &Memtable<T>,
        seq: &crate::sequencer::Sequencer,
        hooks: &crate::hooks::Hooks,
    ) -> SeqNo {
        let bound = self.bound(x);
        x.set_seal_bound(bound);
        // Seeded fault (R2): replace the memtable without waiting for the
        // tickets taken from it.
        #[cfg(not(timelog_fault = "seal_no_drain"))]
        seq.wait_visible(bound, hooks);
        #[cfg(timelog_fault = "seal_no_drain")]
        let _ = (seq, hooks);
        bound
    }
}

impl<T: Send + Sync + 'static> Door<T> {
    /// A door to `mt`, open, generation 0. The caller keeps `mt` alive as
    /// the current manifest's active memtable (R1).
    pub(crate) fn new(mt: &Memtable<T>) -> Self {
        Self {
            hot: crossbeam_utils::CachePadded::new(Hot {
                state: AtomicU64::new(0),
                given: AtomicU64::new(0),
                mt: AtomicPtr::new(mt as *const Memtable<T> as *mut Memtable<T>),
                tail: crate::sync::stat::AtomicI64::new(Timestamp::MIN),
            }),
        }
    }

    /// R1 (and R3): enter the memtable behind the door, taking the entry's
    /// tickets (one, or a batch's length) and reading SEALED in one
    /// read-modify-write of the word. `Err` means a seal (or a close) is
    /// replacing the memtable: wait with
    /// [`wait_reopened`](Self::wait_reopened), without touching the word
    /// again, then retry.
    ///
    /// For a record that may go to the run (and a batch), one CAS
    /// `s -> (s + n) ^ TAKEN` also takes the appender right when SEALED is
    /// clear in `s` and its TAKEN parity equals GIVEN's (the right is
    /// free; retried while only the tickets changed under it: lock-free,
    /// each failure is another writer's success); with the right taken the
    /// writer enters without it and inserts into the skiplist. A late
    /// record (visibly before the run's tail, by the door's hint) and a
    /// delete enter by one `fetch_add`; a `fetch_add` that read SEALED is
    /// not undone (the install resets the tickets).
    ///
    /// No Dekker handshake: the writer's RMW and the sealer's claim are
    /// RMWs of one location, so one precedes the other in its modification
    /// order and each reads the value the other left (R1): either the
    /// claim's ticket count includes the writer's, or the writer read
    /// SEALED.
    #[inline]
    pub(crate) fn enter(&self, entry: Entry) -> Result<Entered<'_, T>, Shut> {
        let h = &*self.hot;
        let (appender, n) = match entry {
            Entry::Batch(n) => (true, n),
            // A record before the run's tail goes to the skiplist whoever
            // appends: the tail only grows, so the appender would refuse it
            // (no CAS for a late record). Not under loom: one more
            // model-checked load in every write of every scenario, for a
            // shortcut that orders nothing.
            Entry::Record(ts) => (cfg!(timelog_loom) || ts >= h.tail.load(Ordering::Relaxed), 1),
            Entry::Delete => (false, 1),
        };
        debug_assert!((1..TICKETS / 2).contains(&n), "an entry takes 1 to 2^35 tickets");
        // Seeded fault (R1): a writer ignores SEALED in the value its RMW read.
        #[cfg(not(timelog_fault = "seal_no_recheck"))]
        const CLOSED: u64 = SEALED;
        #[cfg(timelog_fault = "seal_no_recheck")]
        const CLOSED: u64 = 0;
        if appender {
            // Acquire, this load and the CAS's failure: R3's argument (see
            // `free`) needs the value of `state` read before `given` to
            // synchronize with the entering CAS that wrote it.
            let mut s = h.state.load(Ordering::Acquire);
            while s & CLOSED == 0 && self.free(s) {
                // AcqRel: Acquire, R1 (the installer's pointer, released by
                // its reopening CAS, is the one we load); Release, R3 (our
                // load of `given` happens-before any entering writer's that
                // reads our value of `state`).
                let taken = (s + n) ^ TAKEN;
                match h.state.compare_exchange_weak(s, taken, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Ok(self.entered(Some(taken & TAKEN), s, n, false)),
                    Err(now) => s = now,
                }
            }
            if s & CLOSED != 0 {
                return Err(Shut(s));
            }
        }
        // Seeded fault (R3): a writer that found the right taken appends anyway.
        let rogue = cfg!(timelog_fault = "appender_shared") && appender;
        // Acquire: as above (the installer's pointer, the appender's
        // writes for a reasoning that need not tell the entries apart).
        let prev = h.state.fetch_add(n, Ordering::Acquire);
        if prev & CLOSED != 0 {
            return Err(Shut(prev));
        }
        Ok(self.entered(None, prev, n, rogue))
    }

    /// R3: whether the appender right is free in `s`, a value of `state`
    /// read with Acquire: its TAKEN parity equals GIVEN's.
    ///
    /// Why one bit is enough, for a writer `E` whose entering CAS from `s`
    /// succeeds: let `s` carry the parity of `k` rights taken. The word's
    /// tickets only grow within a generation (and an install changes the
    /// generation), so no value repeats: `E`'s CAS succeeding means no
    /// right was taken between its load of `s` and the CAS, and `given`
    /// then counts `k - 1` or `k` rights given back (the `k + 1`-th is
    /// given back only after it is taken). It counts at least `k - 1`: the
    /// `k`-th taker read `k - 1` from `given` before its CAS (Release),
    /// with which `E`'s Acquire read of `s` synchronizes (every later
    /// change of `state` is a read-modify-write, continuing that CAS's
    /// release sequence), so `E`'s later load of `given` reads that value
    /// or a later one (read-read coherence). The parity then tells `k - 1`
    /// (taken: `E` enters without the right) from `k` (free). And the
    /// `k`-th holder's Release store of `given`, read by `E`'s Acquire
    /// load, orders its slots, `last_ts` and `len` before `E`'s push (R3).
    #[inline(always)]
    fn free(&self, s: u64) -> bool {
        s & TAKEN == self.hot.given.load(Ordering::Acquire)
    }

    #[inline(always)]
    fn entered(&self, right: Option<u64>, prev: u64, n: u64, _rogue: bool) -> Entered<'_, T> {
        let p = self.hot.mt.load(Ordering::Acquire);
        // SAFETY: R1/R2. This writer's entering RMW read a value without
        // SEALED (or, under the seeded fault, ignored it), so the claim of
        // the seal that replaces the memtable behind the door comes later
        // in the word's modification order and counts this writer's
        // tickets: the memtable is replaced (`install`) only after the
        // watermark reached a bound at or above them, which needs this
        // writer's commit, and the commit follows every use of `p` (the
        // `Entered` is dropped before it, and `Written` is read before
        // that): so `p` stays the current manifest's active memtable —
        // alive, held by that manifest — while this `Entered` lives, and
        // `Entered` borrows the door for no longer. The pointer read is
        // the one installed before the reopening CAS that our RMW's
        // Acquire synchronizes with, and the next one is stored only after
        // our commit (Release) is read by the sealer's wait (Acquire): this
        // load happens-before that store, so it cannot read it.
        let mt = unsafe { &*p };
        Entered {
            door: self,
            mt,
            right,
            gen: gen_of(prev),
            first: mt.base() + (prev & TICKETS) + 1,
            n,
            #[cfg(timelog_fault = "appender_shared")]
            rogue: _rogue,
        }
    }

    /// Waits, in `snooze`'s steps, until the door is reopened after the
    /// seal a writer was refused by (R1: a new memtable is installed).
    pub(crate) fn wait_reopened(&self, shut: Shut, mut snooze: impl FnMut()) {
        while self.is_shut_as(shut) {
            snooze();
        }
    }

    /// Whether the door is still shut in the generation `shut` saw.
    #[inline]
    fn is_shut_as(&self, shut: Shut) -> bool {
        let s = self.hot.state.load(Ordering::Acquire);
        s & SEALED != 0 && gen_of(s) == gen_of(shut.0)
    }

    /// R2, first half, for a writer after its write: claim the seal of the
    /// memtable of generation `gen` (the one it wrote to), if it is still
    /// behind the door and nobody is sealing it. Returns the claim if this
    /// call won it; from its RMW on, every entering RMW reads SEALED (R1).
    pub(crate) fn seal_begin(&self, gen: u64) -> Option<Claim> {
        let h = &*self.hot;
        let mut s = h.state.load(Ordering::Relaxed);
        while s & SEALED == 0 && gen_of(s) == gen {
            // Acquire: the installer's pointer and the memtable's `base`
            // (read by `Claim::bound` through the pointer the claimant
            // loads) were released by the reopening CAS.
            match h.state.compare_exchange_weak(s, s | SEALED, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(Claim { tickets: s & TICKETS }),
                Err(now) => s = now,
            }
        }
        None
    }

    /// R2, first half, for a caller holding `mt`: claim the seal if `mt` is
    /// the memtable behind the door (by address: no dereference) and
    /// nobody is sealing it.
    pub(crate) fn seal_begin_if(&self, mt: &Memtable<T>) -> Option<Claim> {
        let s = self.hot.state.load(Ordering::Acquire);
        // Acquire above: the pointer read is at least the one installed
        // for generation `gen_of(s)`; if it is `mt`, a successful claim
        // from `s` (no install in between: it would have changed the
        // generation) claims `mt`.
        if s & SEALED != 0 || !std::ptr::eq(self.hot.mt.load(Ordering::Relaxed), mt) {
            return None;
        }
        self.seal_begin(gen_of(s))
    }

    /// R2, first half, for `close` and `discard`: claim the seal of
    /// whatever memtable is behind the door, waiting (in `snooze`'s steps)
    /// for a seal in progress to reopen it first. That sealer needs
    /// nothing the caller holds (it takes no engine lock), so the wait is
    /// bounded by one seal.
    pub(crate) fn seal_claim(&self, mut snooze: impl FnMut()) -> Claim {
        let h = &*self.hot;
        loop {
            let s = h.state.load(Ordering::Relaxed);
            if s & SEALED == 0 {
                if let Some(c) = self.seal_begin(gen_of(s)) {
                    return c;
                }
            }
            snooze();
        }
    }

    /// The greatest sequence handed out so far, if `active` is behind the
    /// open door (`validate`, for a log at rest: its base plus its
    /// tickets); `None` otherwise. Compares the pointer by address only.
    pub(crate) fn issued(&self, active: &Memtable<T>) -> Option<SeqNo> {
        let s = self.hot.state.load(Ordering::Acquire);
        let behind = std::ptr::eq(self.hot.mt.load(Ordering::Acquire), active);
        (behind && s & SEALED == 0).then(|| active.base() + (s & TICKETS))
    }

    /// R2, last step: put `mt` behind the door and reopen it with the next
    /// generation and no ticket taken. Only the holder of SEALED calls
    /// this, after the watermark reached the seal's bound (so every ticket
    /// of the replaced memtable was committed, and its holders are done
    /// with it and gave back the appender right) and after publishing a
    /// manifest whose active memtable is `mt` (which keeps it alive from
    /// then on, R1). The pointer first, then the word by a CAS (refused
    /// entries may still be adding tickets): Release, so a writer whose
    /// entering RMW reads the reopened word loads this pointer and sees
    /// `mt`'s initialization.
    pub(crate) fn install(&self, mt: &Memtable<T>) {
        let h = &*self.hot;
        h.mt.store(mt as *const Memtable<T> as *mut Memtable<T>, Ordering::Relaxed);
        h.tail.store(Timestamp::MIN, Ordering::Relaxed);
        let mut s = h.state.load(Ordering::Relaxed);
        loop {
            debug_assert!(s & SEALED != 0, "install without the seal");
            debug_assert!(
                s & TAKEN == h.given.load(Ordering::Relaxed),
                "R3: the appender right is given back before the commit"
            );
            // Seeded fault (R1/R2): the door reopens without releasing the
            // new pointer, so an entering writer may load the sealed one.
            #[cfg(not(timelog_fault = "door_relaxed_install"))]
            let ord = Ordering::Release;
            #[cfg(timelog_fault = "door_relaxed_install")]
            let ord = Ordering::Relaxed;
            // The TAKEN parity carries over: it equals GIVEN's (above).
            let next = (gen_of(s).wrapping_add(GEN_ONE) & GEN) | (s & TAKEN);
            match h.state.compare_exchange_weak(s, next, ord, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// Whether the memtable behind the door is being sealed (tests, debug).
    #[cfg(test)]
    pub(crate) fn is_sealed(&self) -> bool {
        self.hot.state.load(Ordering::Acquire) & SEALED != 0
    }
}

/// A writer that took tickets of the memtable behind the door, possibly
/// holding the run's appender right (R1, R3): the right is given back on
/// drop, which the writer's path does before its commit (R2: the commit
/// is its last access to the memtable and its right).
pub(crate) struct Entered<'a, T> {
    door: &'a Door<T>,
    /// The memtable behind the door, alive until this writer's commit.
    pub(crate) mt: &'a Memtable<T>,
    /// If this writer holds the run's appender right: the TAKEN parity its
    /// entering CAS left, which giving the right back stores in GIVEN (R3).
    right: Option<u64>,
    /// The generation entered (for [`Written::gen`]).
    gen: u64,
    /// The first of this writer's sequences (`first .. first + n`).
    first: SeqNo,
    /// How many sequences this writer holds.
    n: u64,
    /// Seeded fault `appender_shared` (R3): appends without the right.
    #[cfg(timelog_fault = "appender_shared")]
    rogue: bool,
}

impl<T> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        if let Some(parity) = self.right {
            // R3, giving the right back: a plain store — only the holder
            // writes GIVEN — with Release, so that the appender's slot
            // writes, `last_ts` and `len` happen-before the push of the
            // next appender, whose Acquire load reads this value (`free`).
            // Seeded fault (R3): the store is Relaxed, ordering nothing.
            #[cfg(not(timelog_fault = "appender_relaxed_give"))]
            self.door.hot.given.store(parity, Ordering::Release);
            #[cfg(timelog_fault = "appender_relaxed_give")]
            self.door.hot.given.store(parity, Ordering::Relaxed);
        }
    }
}

impl<T: Send + Sync + 'static> Entered<'_, T> {
    /// This writer's first sequence (its only one, but for a batch).
    #[inline]
    pub(crate) fn seq(&self) -> SeqNo {
        self.first
    }

    /// Inserts one record with this writer's sequence: into the run if
    /// this writer holds the appender right and `ts` is not before the
    /// run's tail, else into the skiplist. (The run's sequences increase,
    /// R3: each appender took its ticket in the RMW that took the right,
    /// after the previous appender gave it back.)
    #[inline]
    pub(crate) fn insert(&self, ts: Timestamp, val: T) -> SeqNo {
        debug_assert_eq!(self.n, 1);
        let seq = self.first;
        if self.mt.place(self.appender().as_mut(), ts, seq, val) {
            self.door.hot.tail.store(ts, Ordering::Relaxed);
        }
        seq
    }

    /// Inserts a batch (sorted by timestamp) with this writer's consecutive
    /// sequences `first .. first + n` (`n` = the batch's length, the
    /// tickets it entered with). The records before the run's tail go to
    /// the skiplist one by one; from the first one the run accepts (if
    /// this writer holds the appender right), the sorted rest is appended
    /// to the run in bulk — each of them is at or after it.
    pub(crate) fn insert_batch(&self, batch: Vec<(Timestamp, T)>) -> (SeqNo, u64) {
        let n = batch.len() as u64;
        debug_assert_eq!(n, self.n, "a batch enters with one ticket per record");
        let mut app = self.appender();
        let mut recs = batch.into_iter();
        let mut seq = self.first;
        while let Some(&(ts, _)) = recs.as_slice().first() {
            if let Some(app) = app.as_mut().filter(|a| a.accepts(ts)) {
                let left = recs.len();
                let (m, tail) = app.extend(&mut recs, left, seq);
                debug_assert_eq!(m, left, "a vector's records all come");
                if let Some(ts) = tail {
                    self.door.hot.tail.store(ts, Ordering::Relaxed);
                }
                break;
            }
            let (ts, val) = recs.next().expect("the record just looked at");
            self.mt.insert_ooo(ts, seq, val);
            seq += 1;
        }
        (self.first, n)
    }

    /// What the seal policy needs to know after this write, read before
    /// the commit (the memtable is only known alive until then).
    #[inline]
    pub(crate) fn written(&self) -> Written {
        let (bytes, ooo) = self.mt.bytes_and_ooo();
        Written { bytes, ooo, gen: self.gen }
    }

    /// The run's appender, if this writer holds the right (R3).
    #[inline]
    fn appender(&self) -> Option<run::Appender<'_, T>> {
        #[cfg(timelog_fault = "appender_shared")]
        if self.rogue {
            // SAFETY: none: the seeded fault breaks R3 on purpose (model builds).
            return Some(unsafe { self.mt.run.appender() });
        }
        self.right?;
        // SAFETY: R3: this writer took the right by its entering CAS (which
        // flipped TAKEN from a value equal to GIVEN: free, `Door::free`)
        // and gives it back only when it is dropped, when the borrowed
        // appender is gone; no other writer's CAS can take it meanwhile
        // (TAKEN differs from GIVEN until then), and the memtable behind
        // the door does not change before this writer commits (R1/R2).
        Some(unsafe { self.mt.run.appender() })
    }
}

#[cfg(all(test, not(timelog_loom), not(timelog_shuttle)))]
mod tests {
    use super::*;
    use crate::sync::{Arc, AtomicUsize};

    fn state<T>(d: &Door<T>) -> u64 {
        d.hot.state.load(Ordering::Relaxed)
    }

    /// A batch entered with the appender right: its records before the
    /// run's tail go to the skiplist, the rest (sorted) to the run, each
    /// with its own sequence of the batch's block, in order.
    #[test]
    fn a_batch_splits_at_the_runs_tail() {
        let retired = Arc::new(AtomicUsize::new(0));
        let mt: Memtable<u64> = Memtable::new(1, &retired, 0).above(100);
        let door = Door::new(&mt);
        let a = door.enter(Entry::Record(10)).expect("open");
        assert_eq!(a.insert(10, 1), 101);
        drop(a);
        let b = door.enter(Entry::Batch(5)).expect("open");
        assert_eq!(b.right, Some(0), "the right is free: the batch takes it");
        assert_eq!(b.insert_batch(vec![(3, 2), (9, 3), (10, 4), (10, 5), (12, 6)]), (102, 5));
        drop(b);
        assert_eq!((mt.run.len(), mt.ooo_len()), (4, 2));
        let run: Vec<_> = (0..4).map(|i| (mt.run.ts_at(i), mt.run.seq_at(i), *mt.run.val_at(i))).collect();
        assert_eq!(run, [(10, 101, 1), (10, 104, 4), (10, 105, 5), (12, 106, 6)]);
        let mut late = Vec::new();
        mt.ooo_range(i64::MIN, i64::MAX, |ts, seq, v| {
            late.push((ts, seq, *v));
            true
        });
        assert_eq!(late, [(3, 102, 2), (9, 103, 3)]);
        assert_eq!(door.hot.tail.load(Ordering::Relaxed), 12);
    }

    /// R1/R2/R3 on the door's word: every entry takes its tickets (its
    /// sequences: the memtable's base plus one per ticket, in the word's
    /// order), the appender right goes with the first in-order entry only
    /// and comes back on drop, late records and deletes take no right,
    /// once SEALED is set no entry of any kind succeeds, the claim counts
    /// every ticket taken before it, and `install` reopens the door on the
    /// next generation, with no ticket taken, and the new memtable behind
    /// it.
    #[test]
    fn the_door_word() {
        let retired = Arc::new(AtomicUsize::new(0));
        let mt: Memtable<u64> = Memtable::new(1, &retired, 0).above(100);
        let door = Door::new(&mt);
        let a = door.enter(Entry::Record(5)).expect("open");
        assert_eq!((a.right, a.seq()), (Some(TAKEN), 101));
        let b = door.enter(Entry::Batch(3)).expect("open");
        assert_eq!((b.right, b.seq()), (None, 102), "the appender right is taken: the batch enters without it");
        assert_eq!(state(&door), 4 | TAKEN);
        assert!(!door.free(state(&door)));
        // The writer without the right goes to the skiplist, even in order.
        assert_eq!(b.insert_batch(vec![(6, 60), (7, 70), (8, 80)]), (102, 3));
        assert_eq!(a.insert(5, 50), 101);
        assert_eq!((mt.run.len(), mt.ooo_len()), (1, 3));
        drop(a);
        assert_eq!(state(&door), 4 | TAKEN, "dropping gave back the appender right, not the tickets");
        assert!(door.free(state(&door)), "GIVEN caught up with TAKEN");
        // A record visibly before the run's tail does not ask for the right.
        let late = door.enter(Entry::Record(4)).expect("open");
        assert_eq!((late.right, late.seq()), (None, 105));
        assert_eq!(late.insert(4, 40), 105);
        drop(late);
        let d = door.enter(Entry::Delete).expect("open");
        assert_eq!((d.right, d.seq()), (None, 106), "a delete takes a ticket and no right");
        drop(d);
        let c = door.enter(Entry::Record(9)).expect("open");
        assert_eq!((c.right, c.seq()), (Some(0), 107), "the right is free again: taken, TAKEN back to 0");
        assert!(!door.free(state(&door)));
        assert_eq!(c.written().gen, 0);
        drop(c);
        assert!(door.seal_begin(GEN_ONE).is_none(), "another generation is not sealed");
        let claim = door.seal_begin(0).expect("the first sealer wins");
        assert_eq!(claim.bound(&mt), 107, "the claim counts every ticket taken before it");
        assert!(door.seal_begin(0).is_none(), "one sealer only");
        assert!(door.seal_begin_if(&mt).is_none(), "one sealer only");
        assert!(door.is_sealed());
        assert_eq!(door.issued(&mt), None, "shut");
        let mut shut = None;
        for e in [Entry::Record(8), Entry::Record(1), Entry::Batch(2), Entry::Delete] {
            shut = Some(door.enter(e).err().expect("entered a sealed door"));
        }
        drop(b);
        let next: Memtable<u64> = Memtable::new(2, &retired, 0).above(claim.bound(&mt));
        assert!(door.is_shut_as(shut.unwrap()));
        door.install(&next);
        assert!(!door.is_shut_as(shut.unwrap()), "reopened");
        assert_eq!(state(&door), GEN_ONE, "the next generation, no ticket taken (the refused ones are gone)");
        let e = door.enter(Entry::Record(1)).expect("reopened");
        assert!(std::ptr::eq(e.mt, &next), "the new memtable is behind the door");
        assert_eq!((e.right, e.seq()), (Some(TAKEN), 108), "the tail hint was reset; sequences continue");
        assert_eq!(e.written().gen, GEN_ONE);
        drop(e);
        assert_eq!(door.issued(&next), Some(108));
        assert!(door.seal_begin_if(&mt).is_none(), "not behind the door any more");
        assert!(door.seal_begin_if(&next).is_some());
    }

    /// R3 across an install: the TAKEN parity carries over, whichever it
    /// is, so the right given back before the seal is free behind the next
    /// memtable, and taking it flips the parity again.
    #[test]
    fn the_appender_right_survives_an_install_with_either_parity() {
        let retired = Arc::new(AtomicUsize::new(0));
        // Boxed: the door compares and keeps their addresses.
        let mut mts: Vec<Box<Memtable<u64>>> = vec![Box::new(Memtable::new(1, &retired, 0))];
        let door = Door::new(&mts[0]);
        let mut seq = 0;
        for round in 0..4 {
            let a = door.enter(Entry::Record(10)).expect("open");
            seq += 1;
            let want = if round % 2 == 0 { TAKEN } else { 0 };
            assert_eq!((a.right, a.seq()), (Some(want), seq), "round {round}: the parity flips per right taken");
            let b = door.enter(Entry::Record(10)).expect("open");
            seq += 1;
            assert_eq!(b.right, None, "round {round}: taken until given back");
            drop((a, b));
            let cur = mts.last().expect("one");
            let claim = door.seal_begin_if(cur).expect("behind the door");
            let next = Box::new(Memtable::new(round + 2, &retired, 0).above(claim.bound(cur)));
            door.install(&next);
            mts.push(next);
            assert_eq!(state(&door) & TAKEN, want, "round {round}: the install carries TAKEN over");
            assert!(door.free(state(&door)), "round {round}: free behind the new memtable");
        }
    }
}
