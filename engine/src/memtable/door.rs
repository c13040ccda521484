//! The door: how writers reach the active memtable (R1, R2, R3).
//!
//! A log has one door for its whole life, owned by the catalog. It holds
//! the writers' state word — SEALED, APPENDER, a generation and the count
//! of the writers inside — and a plain pointer to the memtable behind it:
//! the active memtable of the current manifest. A writer *enters* by one
//! read-modify-write of the word; if the value it read was not SEALED, the
//! memtable behind the door cannot be replaced (let alone dropped) until it
//! leaves, because replacing it takes SEALED and waits for the count to
//! reach zero first (R2). So a writer reaches its memtable through one
//! locked instruction and a load, where it used to load the manifest
//! through arc-swap (two more locked instructions, and its thread-local
//! debt list) and then enter the memtable's own word.
//!
//! The word lives as long as the log, so a writer can always touch it: no
//! reclamation question arises for the door itself. The generation (bumped
//! by every [`install`](Door::install)) names which memtable a writer
//! entered, so that the writer can ask, after it left, to seal *that*
//! memtable and no successor.
//!
//! Deletes do not enter ([`admit`](Door::admit)): a delete allocates its
//! sequence first and takes one seqlock look at the door — the word, the
//! pointer, the bound of a seal in progress, the word again — to find the
//! memtable whose `(base, seal bound]` holds that sequence (R1, admission
//! by sequence). The installer marks the word INSTALLING while it replaces
//! the pointer and the bound, so such a look never pairs one memtable's
//! pointer with another's bound.

use super::{run, Entry, Memtable};
use crate::sync::{AtomicPtr, AtomicU64, Backoff, Ordering};
use crate::{SeqNo, Timestamp};

/// `state`: the memtable behind the door is (being) sealed or replaced (R2).
const SEALED: u64 = 1 << 63;
/// `state`: a writer inside holds the run's appender right (R3).
const APPENDER: u64 = 1 << 62;
/// `state`, with SEALED only: the claimant is installing the next memtable
/// (R2): the pointer and the seal's bound are being replaced.
const INSTALLING: u64 = 1 << 61;
/// `state`: one step of the generation (bits 32..61).
const GEN_ONE: u64 = 1 << 32;
/// `state`: the mask of the generation.
const GEN: u64 = INSTALLING - GEN_ONE;
/// `state`: one writer inside (R1).
const WRITER: u64 = 1;
/// `state`: the mask of the writer count (bits 0..32).
const COUNT: u64 = GEN_ONE - 1;

/// The generation part of a state word.
#[inline(always)]
fn gen_of(s: u64) -> u64 {
    s & GEN
}

/// The word and the pointer, on one cache line of their own: a writer
/// reads the pointer right after its read-modify-write of the word (a
/// delete right after its load of it), and readers never touch either.
struct Hot<T> {
    /// SEALED, APPENDER, the generation and the writer count.
    state: AtomicU64,
    /// The memtable behind the door. Written only by the holder of SEALED
    /// ([`install`](Door::install)); read by a writer inside (R1) and by a
    /// delete's seqlock look ([`admit`](Door::admit)).
    mt: AtomicPtr<Memtable<T>>,
    /// The run's last timestamp as its appender last wrote it: a racy hint
    /// that lets a record visibly before the run's tail enter without
    /// asking for the appender right (the memtable cannot be looked at
    /// before entering). Any value is safe: the appender checks again.
    tail: crate::sync::stat::AtomicI64,
    /// While shut: the bound of the seal in progress once its claimant
    /// has taken it ([`Door::set_bound`]), else 0. Read by deletes
    /// admitted by their sequence ([`Door::admit`]).
    bound: AtomicU64,
}

/// The one door to a log's active memtable; see the module docs.
pub(crate) struct Door<T> {
    hot: crossbeam_utils::CachePadded<Hot<T>>,
}

// SAFETY: the door hands out `&Memtable<T>` to writers on any thread, for
// the time they are inside (R1); `Memtable<T>` is shared between threads
// like that through manifests already, which needs `T: Send + Sync`.
unsafe impl<T: Send + Sync> Send for Door<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Door<T> {}

impl<T> std::fmt::Debug for Door<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.hot.state.load(Ordering::Relaxed);
        f.debug_struct("Door")
            .field("sealed", &(s & SEALED != 0))
            .field("generation", &(gen_of(s) >> 32))
            .field("writers", &(s & COUNT))
            .finish()
    }
}

/// A delete's admission by its sequence ([`Door::admit`]).
pub(crate) enum Admit<'a, T> {
    /// Push into this memtable (of this generation of the door, or
    /// [`NO_GEN`] for a memtable being sealed).
    In(&'a Memtable<T>, u64),
    /// The sequence belongs to a sealed memtable not yet flushed, older
    /// than the one behind the door: the one of the current manifest whose
    /// base is below it and whose seal bound is at or above it.
    Earlier,
    /// A seal is in progress: look again.
    Wait,
}

/// [`Written::gen`] of a write into a memtable no longer behind the door:
/// no generation matches it, so the write seals nothing.
pub(crate) const NO_GEN: u64 = u64::MAX;

/// A SeqCst fence under loom, which models SeqCst accesses as AcqRel
/// (`sync` module docs); nothing elsewhere (the SeqCst accesses suffice).
#[inline(always)]
fn sc_fence() {
    #[cfg(any(timelog_loom, timelog_shuttle))]
    crate::sync::model_sc_fence();
}

/// What a sealed-out writer saw: wait with [`Door::wait_reopened`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shut(u64);

/// What a write left behind for the seal policy (`Maint::after_write`),
/// read while the writer was still inside: the memtable may be replaced
/// and dropped once it leaves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Written {
    /// The memtable's approximate size after the write.
    pub(crate) bytes: usize,
    /// Its skiplist's arena bytes.
    pub(crate) ooo: usize,
    /// The generation of the memtable written to ([`Door::seal_begin`]).
    pub(crate) gen: u64,
}

impl<T: Send + Sync + 'static> Door<T> {
    /// A door to `mt`, open, generation 0. The caller keeps `mt` alive as
    /// the current manifest's active memtable (R1).
    pub(crate) fn new(mt: &Memtable<T>) -> Self {
        Self {
            hot: crossbeam_utils::CachePadded::new(Hot {
                state: AtomicU64::new(0),
                mt: AtomicPtr::new(mt as *const Memtable<T> as *mut Memtable<T>),
                tail: crate::sync::stat::AtomicI64::new(Timestamp::MIN),
                bound: AtomicU64::new(0),
            }),
        }
    }

    /// R1 (and R3): enter the memtable behind the door, announcing a
    /// writer and reading SEALED in one read-modify-write of the word.
    /// `Err` means a seal (or a close) is replacing the memtable: wait with
    /// [`wait_reopened`](Self::wait_reopened), without touching the word
    /// again, then retry.
    ///
    /// For a record that may go to the run (and a batch), one CAS
    /// `s -> (s + WRITER) | APPENDER` also takes the appender right when
    /// neither SEALED nor APPENDER is set in `s` (retried while only the
    /// count changed under it: lock-free, each failure is another writer's
    /// success); with APPENDER taken the writer enters without it and
    /// inserts into the skiplist. A late record (visibly before the run's
    /// tail, by the door's hint) enters by one `fetch_add`. (A delete does
    /// not enter: it is admitted by its sequence, [`admit`](Self::admit).)
    ///
    /// No Dekker handshake: the writer's RMW and the sealer's claim are
    /// RMWs of one location, so one precedes the other in its modification
    /// order and each reads the value the other left (R1).
    #[inline]
    pub(crate) fn enter(&self, entry: Entry) -> Result<Entered<'_, T>, Shut> {
        let h = &*self.hot;
        let appender = match entry {
            Entry::Batch => true,
            // A record before the run's tail goes to the skiplist whoever
            // appends: the tail only grows, so the appender would refuse it
            // (no CAS for a late record). Not under loom: one more
            // model-checked load in every write of every scenario, for a
            // shortcut that orders nothing.
            Entry::Record(ts) => cfg!(timelog_loom) || ts >= h.tail.load(Ordering::Relaxed),
        };
        // Seeded fault (R1): a writer ignores SEALED in the value its RMW read.
        #[cfg(not(timelog_fault = "seal_no_recheck"))]
        const CLOSED: u64 = SEALED;
        #[cfg(timelog_fault = "seal_no_recheck")]
        const CLOSED: u64 = 0;
        if appender {
            // Relaxed: a guess for the CAS, which reads the real value.
            let mut s = h.state.load(Ordering::Relaxed);
            while s & (CLOSED | APPENDER) == 0 {
                // Acquire: R3, the previous appender's slots, `last_ts` and
                // `len` (released by its leaving RMW) happen-before our
                // push; R1, the installer's pointer (released by its
                // reopening CAS) is the one we load.
                match h.state.compare_exchange_weak(s, (s + WRITER) | APPENDER, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return Ok(self.entered(WRITER | APPENDER, s, false)),
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
        let prev = h.state.fetch_add(WRITER, Ordering::Acquire);
        if prev & CLOSED != 0 {
            h.state.fetch_sub(WRITER, Ordering::Release);
            return Err(Shut(prev));
        }
        Ok(self.entered(WRITER, prev, rogue))
    }

    #[inline(always)]
    fn entered(&self, held: u64, prev: u64, _rogue: bool) -> Entered<'_, T> {
        let p = self.hot.mt.load(Ordering::Acquire);
        // SAFETY: R1/R2. This writer's entering RMW read a value without
        // SEALED (or, under the seeded fault, ignored it), so it is counted
        // in the word until it leaves: the memtable behind the door is
        // replaced only by the holder of SEALED after the count reached
        // zero (`drain`, then `install`), so `p` stays the current
        // manifest's active memtable — alive, held by that manifest —
        // until this `Entered` is dropped, and `Entered` borrows the door
        // for no longer. The pointer read is the one installed before the
        // reopening CAS that our RMW's Acquire synchronizes with.
        let mt = unsafe { &*p };
        Entered {
            door: self,
            mt,
            held,
            gen: gen_of(prev),
            #[cfg(timelog_fault = "appender_shared")]
            rogue: _rogue,
        }
    }

    /// R1 for a delete, admitted by its sequence `seq` (allocated just
    /// before, SeqCst): which memtable takes it — without entering, no
    /// read-modify-write of the word. One look at the door, a seqlock read:
    /// the word, the pointer and the bound of a seal in progress, an
    /// Acquire fence, the word again (the installer sets INSTALLING before
    /// it clears the bound or stores a new pointer, with Release; a look
    /// across a change, or during an install, is retried).
    ///
    /// Store-buffering handshake with the claimant of a seal (`seal_begin`:
    /// its claim, then its load of `next_seq` for the bound): if the first
    /// load of the word does not see the claim, the claimant's load sees
    /// `seq`, so `seq` is at most the seal bound of the memtable behind the
    /// door, which is therefore not dropped before `seq` commits (every
    /// path that lets a memtable go waits for the watermark to reach its
    /// bound first: a flush before it reads it, a bulk run and `close`
    /// before they publish, R2, R8, R14). So:
    ///
    /// - door open, `seq` above the memtable's base: that memtable
    ///   ([`Admit::In`]);
    /// - door open, `seq` at or below the base: `seq` was allocated before
    ///   the previous seal's bound was taken, and belongs to an older
    ///   memtable, sealed and not yet flushed ([`Admit::Earlier`]: the
    ///   caller finds it in the manifest by its base and bound);
    /// - door shut and the seal's bound published (`set_bound`) at or
    ///   above `seq`: the memtable being sealed (alive until `seq`
    ///   commits: its bound is at least `seq`);
    /// - otherwise ([`Admit::Wait`]): look again (the seal is in progress,
    ///   or `seq` is above its bound and belongs to the next memtable).
    ///
    /// No sequence is ever given back: a delete lands in the memtable whose
    /// `(base, bound]` holds its sequence.
    #[inline]
    pub(crate) fn admit(&self, seq: SeqNo) -> Admit<'_, T> {
        let h = &*self.hot;
        // Seeded fault (R1): the delete's load of the word is not part of
        // the handshake (Relaxed, no fence).
        #[cfg(not(timelog_fault = "delete_admit_relaxed"))]
        sc_fence();
        #[cfg(not(timelog_fault = "delete_admit_relaxed"))]
        let s1 = h.state.load(Ordering::SeqCst);
        #[cfg(timelog_fault = "delete_admit_relaxed")]
        let s1 = h.state.load(Ordering::Relaxed);
        let p = h.mt.load(Ordering::Relaxed);
        let bound = h.bound.load(Ordering::Relaxed);
        crate::sync::fence(Ordering::Acquire);
        let s2 = h.state.load(Ordering::Relaxed);
        // One generation, and not being installed: the pointer and the
        // bound read between the two loads are that generation's (the
        // installer sets INSTALLING before it replaces either, and clears
        // it only when it steps the generation).
        if (s1 ^ s2) & (SEALED | INSTALLING | GEN) != 0 || s1 & INSTALLING != 0 {
            return Admit::Wait;
        }
        let gen = gen_of(s1);
        if s1 & SEALED != 0 {
            if bound == 0 || seq > bound {
                return Admit::Wait;
            }
            // SAFETY: R1 (admission by sequence). The two loads of the word
            // in one shut generation, neither INSTALLING, bracket the
            // pointer's and the bound's: they are that generation's (the
            // installer sets INSTALLING before it replaces either). The memtable was behind
            // the door, alive, when the claim was made; its bound is at
            // least `seq`, and nothing drops it before the watermark
            // reaches its bound, which needs `seq`'s commit.
            return Admit::In(unsafe { &*p }, NO_GEN);
        }
        // SAFETY: R1 (admission by sequence). As above, `p` is the memtable
        // behind the door in the open generation `gen`: the current
        // manifest's active memtable, alive then. By the handshake its seal
        // bound, whenever it is sealed, is at least `seq`, and nothing drops
        // it before the watermark reaches that bound, which needs `seq`'s
        // commit.
        let mt = unsafe { &*p };
        #[cfg(not(timelog_fault = "delete_no_base_check"))]
        if seq <= mt.base() {
            return Admit::Earlier;
        }
        Admit::In(mt, gen)
    }

    /// R2 for the holder of the claim on `x` (the memtable behind the
    /// door): wait for the writers inside to leave ([`drain`](Self::drain)),
    /// record `x`'s seal bound ([`Memtable::finish_seal`]) and publish it to
    /// deletes admitted by their sequence ([`set_bound`](Self::set_bound)).
    /// Returns the bound.
    pub(crate) fn drain_and_bound(&self, x: &Memtable<T>, next_seq: &AtomicU64) -> SeqNo {
        self.drain();
        let bound = x.finish_seal(next_seq);
        self.set_bound(bound);
        bound
    }

    /// R2, for the claimant after its drain: publish the seal's bound to
    /// deletes admitted by their sequence (`admit`), so that one whose
    /// sequence is at or below it lands in the memtable being sealed
    /// without waiting for the door to reopen — a bulk run and `close`
    /// wait for those sequences' commits before they reopen it.
    pub(crate) fn set_bound(&self, bound: SeqNo) {
        self.hot.bound.store(bound, Ordering::Release);
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
    /// behind the door and nobody is sealing it. Returns whether this call
    /// won the claim; from its RMW on, every entering RMW reads SEALED (R1).
    pub(crate) fn seal_begin(&self, gen: u64) -> bool {
        let h = &*self.hot;
        let mut s = h.state.load(Ordering::Relaxed);
        while s & SEALED == 0 && gen_of(s) == gen {
            // SeqCst (and, under loom, a SeqCst fence after it): the
            // claimant's half of R1's handshake with deletes admitted by
            // their sequence — this RMW, then the seal bound's load of
            // `next_seq` (`Memtable::finish_seal`, SeqCst), against the
            // delete's allocation, then its load of this word (`admit`).
            match h.state.compare_exchange_weak(s, s | SEALED, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => {
                    sc_fence();
                    return true;
                }
                Err(now) => s = now,
            }
        }
        false
    }

    /// R2, first half, for a caller holding `mt`: claim the seal if `mt` is
    /// the memtable behind the door (by address: no dereference) and
    /// nobody is sealing it.
    pub(crate) fn seal_begin_if(&self, mt: &Memtable<T>) -> bool {
        let s = self.hot.state.load(Ordering::Acquire);
        // Acquire above: the pointer read is at least the one installed
        // for generation `gen_of(s)`; if it is `mt`, a successful claim
        // from `s` (no install in between: it would have changed the
        // generation) claims `mt`.
        if s & SEALED != 0 || !std::ptr::eq(self.hot.mt.load(Ordering::Relaxed), mt) {
            return false;
        }
        self.seal_begin(gen_of(s))
    }

    /// R2, first half, for `close` and `discard`: claim the seal of
    /// whatever memtable is behind the door, waiting (in `snooze`'s steps)
    /// for a seal in progress to reopen it first. That sealer needs
    /// nothing the caller holds (it takes no engine lock), so the wait is
    /// bounded by one seal.
    pub(crate) fn seal_claim(&self, mut snooze: impl FnMut()) {
        let h = &*self.hot;
        loop {
            let s = h.state.load(Ordering::Relaxed);
            if s & SEALED == 0 && self.seal_begin(gen_of(s)) {
                return;
            }
            snooze();
        }
    }

    /// R2, second half: wait until the writers inside have left. Writers
    /// leave after a bounded insert, so this is a short wait of the sealer
    /// on writers, never on readers. Acquire: a count of zero was written
    /// by the last leaving RMW (Release) of a chain that includes every
    /// writer that entered before SEALED, so their sequence allocations
    /// and inserts happen-before whatever the sealer does next (the seal
    /// bound's load of `next_seq`, the memtable's replacement).
    pub(crate) fn drain(&self) {
        let mut b = Backoff::new();
        // Seeded fault (R2): seal without waiting for the writers inside.
        #[cfg(not(timelog_fault = "seal_no_drain"))]
        while self.hot.state.load(Ordering::Acquire) & COUNT != 0 {
            b.snooze();
        }
        #[cfg(timelog_fault = "seal_no_drain")]
        let _ = &mut b;
    }

    /// R2, last step: put `mt` behind the door and reopen it with the next
    /// generation. Only the holder of SEALED calls this, after `drain` and
    /// after publishing a manifest whose active memtable is `mt` (which
    /// keeps it alive from then on, R1). In three steps, each a CAS, not a
    /// store (a writer that read SEALED may still be undoing its
    /// `fetch_add`: its count must survive):
    ///
    /// 1. INSTALLING set: a delete's seqlock read (`admit`) that loads
    ///    anything stored below sees the word change, or sees INSTALLING
    ///    and looks again;
    /// 2. the seal's bound cleared and `mt` stored (Release: a delete that
    ///    loads the pointer sees step 1 in its second load of the word);
    /// 3. SEALED and INSTALLING cleared and the generation stepped (Release:
    ///    a writer whose entering RMW reads the reopened word loads this
    ///    pointer and sees `mt`'s initialization).
    pub(crate) fn install(&self, mt: &Memtable<T>) {
        let h = &*self.hot;
        let mut s = h.state.load(Ordering::Relaxed);
        loop {
            debug_assert!(s & SEALED != 0, "install without the seal");
            match h.state.compare_exchange_weak(s, s | INSTALLING, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        h.bound.store(0, Ordering::Relaxed);
        h.mt.store(mt as *const Memtable<T> as *mut Memtable<T>, Ordering::Release);
        h.tail.store(Timestamp::MIN, Ordering::Relaxed);
        let mut s = h.state.load(Ordering::Relaxed);
        loop {
            // Seeded fault (R1/R2): the door reopens without releasing the
            // new pointer, so an entering writer may load the sealed one.
            #[cfg(not(timelog_fault = "door_relaxed_install"))]
            let ord = Ordering::Release;
            #[cfg(timelog_fault = "door_relaxed_install")]
            let ord = Ordering::Relaxed;
            let next = (s & COUNT) | (gen_of(s).wrapping_add(GEN_ONE) & GEN);
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

/// A writer inside the door, possibly holding the run's appender right
/// (R1, R3); leaving (and releasing the right) is automatic on drop.
pub(crate) struct Entered<'a, T> {
    door: &'a Door<T>,
    /// The memtable behind the door, alive while this writer is inside.
    pub(crate) mt: &'a Memtable<T>,
    /// What this writer added to the word, and subtracts when it leaves:
    /// `WRITER`, or `WRITER | APPENDER`.
    held: u64,
    /// The generation entered (for [`Written::gen`]).
    gen: u64,
    /// Seeded fault `appender_shared` (R3): appends without the right.
    #[cfg(timelog_fault = "appender_shared")]
    rogue: bool,
}

impl<T> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        // R1/R2 leave, and R3 release, in one read-modify-write: Release, so
        // that the insert (and the sequence it allocated) happens-before the
        // sealer's drain that reads a count of zero, and the appender's slot
        // writes happen-before the next appender's acquiring CAS (an RMW
        // chain on one word continues the release sequence).
        self.door.hot.state.fetch_sub(self.held, Ordering::Release);
    }
}

impl<T: Send + Sync + 'static> Entered<'_, T> {
    /// Inserts one record with a sequence from `alloc`, taken after the
    /// write position is decided (so that the run's sequences increase, R3):
    /// into the run if this writer holds the appender right and `ts` is not
    /// before the run's tail, else into the skiplist.
    #[inline]
    pub(crate) fn insert(&self, ts: Timestamp, val: T, alloc: impl FnOnce() -> SeqNo) -> SeqNo {
        if let Some(mut app) = self.appender() {
            if app.accepts(ts) {
                let seq = alloc();
                app.push(ts, seq, val);
                self.door.hot.tail.store(ts, Ordering::Relaxed);
                return seq;
            }
        }
        let seq = alloc();
        self.mt.insert_ooo(ts, seq, val);
        seq
    }

    /// Inserts a batch (sorted by timestamp) with the consecutive sequences
    /// `first..first+n` from `alloc(n)`.
    pub(crate) fn insert_batch(&self, batch: Vec<(Timestamp, T)>, alloc: impl FnOnce(u64) -> SeqNo) -> (SeqNo, u64) {
        let n = batch.len() as u64;
        let mut app = self.appender();
        let first = alloc(n);
        let mut tail = None;
        for (seq, (ts, val)) in (first..).zip(batch) {
            match app.as_mut() {
                Some(a) if a.accepts(ts) => {
                    a.push(ts, seq, val);
                    tail = Some(ts);
                }
                _ => self.mt.insert_ooo(ts, seq, val),
            }
        }
        if let Some(ts) = tail {
            self.door.hot.tail.store(ts, Ordering::Relaxed);
        }
        (first, n)
    }

    /// What the seal policy needs to know after this write, read while
    /// still inside (the memtable is only known alive until then).
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
        if self.held & APPENDER == 0 {
            return None;
        }
        // SAFETY: R3: this writer set APPENDER in the door's word (its
        // entering CAS saw it clear) and clears it only when it leaves, when
        // the borrowed appender is gone; no other writer can set it
        // meanwhile, and the memtable behind the door does not change while
        // anyone is inside (R1/R2).
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

    /// R1/R2/R3 on the door's word: the appender right goes with the first
    /// in-order entry only, late records and deletes enter without it,
    /// leaving releases exactly what was taken, once SEALED is set no entry
    /// of any kind succeeds, and `install` reopens the door on the next
    /// generation with the new memtable behind it.
    #[test]
    fn the_door_word() {
        let retired = Arc::new(AtomicUsize::new(0));
        let mt: Memtable<u64> = Memtable::new(1, &retired, 0);
        let door = Door::new(&mt);
        let a = door.enter(Entry::Record(5)).expect("open");
        assert_eq!(a.held, WRITER | APPENDER);
        let b = door.enter(Entry::Batch).expect("open");
        assert_eq!(b.held, WRITER, "the appender right is taken: the second writer enters without it");
        assert_eq!(state(&door), 2 | APPENDER);
        // The writer without the right goes to the skiplist, even in order.
        assert_eq!(b.insert(6, 60, || 2), 2);
        assert_eq!(a.insert(5, 50, || 1), 1);
        assert_eq!((mt.run.len(), mt.ooo_len()), (1, 1));
        drop(a);
        assert_eq!(state(&door), 1, "leaving released the appender right and one writer");
        // A record visibly before the run's tail does not ask for the right.
        let late = door.enter(Entry::Record(4)).expect("open");
        assert_eq!(late.held, WRITER);
        assert_eq!(late.insert(4, 40, || 3), 3);
        drop(late);
        let c = door.enter(Entry::Record(7)).expect("open");
        assert_eq!(c.held, WRITER | APPENDER, "the right is free again");
        assert_eq!(c.written().gen, 0);
        drop(c);
        assert!(!door.seal_begin(GEN_ONE), "another generation is not sealed");
        assert!(door.seal_begin(0), "the first sealer wins");
        assert!(!door.seal_begin(0), "one sealer only");
        assert!(!door.seal_begin_if(&mt), "one sealer only");
        assert!(door.is_sealed());
        let mut shut = None;
        for e in [Entry::Record(8), Entry::Record(1), Entry::Batch] {
            shut = Some(door.enter(e).err().expect("entered a sealed door"));
        }
        assert_eq!(state(&door), SEALED | 1, "a refused entry leaves the count as it was");
        drop(b);
        assert_eq!(state(&door), SEALED);
        door.drain();
        let next: Memtable<u64> = Memtable::new(2, &retired, 0);
        assert!(door.is_shut_as(shut.unwrap()));
        door.install(&next);
        assert!(!door.is_shut_as(shut.unwrap()), "reopened");
        assert_eq!(state(&door), GEN_ONE);
        let e = door.enter(Entry::Record(1)).expect("reopened");
        assert!(std::ptr::eq(e.mt, &next), "the new memtable is behind the door");
        assert_eq!(e.held, WRITER | APPENDER, "the tail hint was reset");
        assert_eq!(e.written().gen, GEN_ONE);
        drop(e);
        assert!(!door.seal_begin_if(&mt), "not behind the door any more");
        assert!(door.seal_begin_if(&next));
    }
}
