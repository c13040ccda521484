//! The public facade: [`Timelog`] and the write path that ties the
//! components together.
//!
//! The engine's core is three components, each in its own module, each the
//! only owner of its state (see `docs/architecture.md`):
//!
//! - the **sequencer** (`sequencer.rs`): sequence allocation, the completion
//!   ring, the visible watermark — R5;
//! - the **catalog** (`catalog.rs`): the manifest cell, pins, publication,
//!   the graveyard of replaced manifests, and the one snapshot function
//!   every read starts from — R5 (snapshots, publication), R9, R12;
//! - the **maintainer** (`maint/`): seal, flush and compaction policy and
//!   scheduling, the worker thread, backpressure — R2, R8, R10, R11, R12.
//!
//! This module owns only the lifecycle (`closed`, the retention floor, the
//! worker's join handle) and the order of a write: check, enter the active
//! memtable through the catalog's door (R1), allocate and insert (R3, R4),
//! leave, commit (R5), then let the
//! maintainer seal and apply backpressure. Reads go to the catalog's
//! snapshot function and hand the view to the query layer.

use std::sync::atomic::Ordering::Relaxed;
#[cfg(feature = "test-hooks")]
use std::time::Duration;

use crate::bounds::Bounds;
use crate::catalog::Catalog;
use crate::config::{Config, MaintenanceMode, Resolved};
use crate::error::{Error, Result};
use crate::hooks::Hooks;
pub use crate::maint::WriteStatus;
use crate::maint::{Maint, MaintGuard, Maintainer};
use crate::manifest::Manifest;
use crate::memtable::door::{Entered, Written};
use crate::memtable::{Entry, Memtable};
use crate::query::cursor::Cursor;
use crate::query::dir::{Asc, Desc};
use crate::query::plan::View;
use crate::query::snapshot::{Order, PageSpan, Snapshot};
use crate::segment::Segment;
use crate::sequencer::Sequencer;
use crate::stats::{Counters, Stats};
use crate::sync::{Arc, AtomicBool, AtomicI64, Backoff, Mutex, Ordering};
use crate::tombstone::Tombstone;
use crate::Timestamp;

/// What the log's handles and its worker thread share: the three
/// components, and what every one of them reads (configuration, counters,
/// hooks). Each field is owned by the component named in its type; this
/// struct only holds them together.
pub(crate) struct Inner<T> {
    pub(crate) cfg: Resolved,
    /// R5: sequence allocation and the visible watermark.
    pub(crate) seq: Sequencer,
    /// The manifest cell, pins, publication, the snapshot function.
    pub(crate) catalog: Catalog<T>,
    /// Seal, flush, compaction, the worker, backpressure.
    pub(crate) maint: Maintainer,
    pub(crate) counters: Counters,
    pub(crate) hooks: Hooks,
    closed: AtomicBool,
    floor: AtomicI64,
}

impl<T> std::fmt::Debug for Inner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("seq", &self.seq).field("catalog", &self.catalog).finish()
    }
}

/// A lock-free, MVCC, in-memory time index of `(timestamp, payload)` records.
///
/// Every method takes `&self`: share it as `Arc<Timelog<T>>` between any
/// number of reader and writer threads. Readers never take a lock and never
/// wait; writers never wait for readers. See the crate docs for the
/// consistency guarantees.
pub struct Timelog<T: Clone + Send + Sync + 'static> {
    pub(crate) inner: Arc<Inner<T>>,
    worker: Mutex<Option<crate::sync::thread::JoinHandle<()>>>,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for Timelog<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timelog").field("inner", &self.inner).finish()
    }
}

/// A bulk write checked and laid out by [`Timelog::prepare_parts`], to be
/// written by [`Timelog::append_prepared`]. It holds the batch's payloads
/// and touches no log state: dropping it drops them and writes nothing.
pub struct PreparedBatch<T>(Prepared<T>);

impl<T> std::fmt::Debug for PreparedBatch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let form = match &self.0 {
            Prepared::Records(_) => "records",
            Prepared::Run(_) => "run",
        };
        f.debug_struct("PreparedBatch").field("form", &form).field("len", &self.len()).finish()
    }
}

impl<T> PreparedBatch<T> {
    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        match &self.0 {
            Prepared::Records(b) => b.len(),
            Prepared::Run(s) => s.len,
        }
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The forms of a [`PreparedBatch`].
enum Prepared<T> {
    /// Pairs sorted by timestamp (stably), for the batch-append entry.
    Records(Vec<(Timestamp, T)>),
    /// The pages of an unpublished run (R14), built by this catalog.
    Run(Box<Segment<T>>),
}

/// What [`Inner::publish_run`] did with a run (R14).
enum RunOutcome<T> {
    /// Published: the batch is committed and visible.
    Published,
    /// Not published (the log was not in the state R14 needs); no sequence
    /// was taken: the records take the memtable path.
    Refused(Box<Segment<T>>),
}

impl<T: Clone + Send + Sync + 'static> Inner<T> {
    /// The maintainer at work on this log.
    #[inline]
    pub(crate) fn maint(&self) -> Maint<'_, T> {
        Maint {
            st: &self.maint,
            cfg: &self.cfg,
            seq: &self.seq,
            cat: &self.catalog,
            counters: &self.counters,
            hooks: &self.hooks,
        }
    }

    #[inline]
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The retention-floor rule of every write (the only copy): a record
    /// at `ts` below the floor is refused with [`Error::BelowFloor`].
    #[inline]
    fn check_floor(&self, ts: Timestamp) -> Result<()> {
        let floor = self.floor.load(Relaxed);
        if ts < floor {
            Err(Error::BelowFloor { ts, floor })
        } else {
            Ok(())
        }
    }

    /// Runs `f` inside the active memtable, entered through the door (R1;
    /// for `entry`, with the run's appender right if it was free, R3),
    /// retrying across seals. Returns, besides `f`'s result, what the seal
    /// policy needs to know about the memtable written to ([`Written`]),
    /// read before the `Entered` is dropped (which gives back the appender
    /// right) — all before the caller commits: once the writer's tickets
    /// are committed, that memtable may be replaced and dropped.
    #[inline]
    fn with_active<R>(&self, entry: Entry, mut f: impl FnMut(&Entered<'_, T>) -> R) -> (R, Written) {
        let door = self.catalog.door();
        let mut b = Backoff::new();
        loop {
            match door.enter(entry) {
                // The `Entered` is dropped at the end of this arm: before
                // the caller commits.
                Ok(e) => return (f(&e), e.written()),
                // R1/R2: the active memtable is being sealed. Wait for the
                // sealer to reopen the door without touching the word
                // again (R2: the install resets the tickets it counts).
                Err(shut) => door.wait_reopened(shut, || self.hooks.snooze(&mut b)),
            }
        }
    }

    fn append(&self, ts: Timestamp, val: T) -> Result<WriteStatus> {
        self.check_open()?;
        self.check_floor(ts)?;
        let mut val = Some(val);
        #[cfg(not(timelog_fault = "commit_before_insert"))]
        let (seq, w) = self.with_active(Entry::Record(ts), |e| e.insert(ts, val.take().expect("inserted once")));
        #[cfg(not(timelog_fault = "commit_before_insert"))]
        self.seq.commit(seq, 1, &self.hooks);
        // Seeded fault (R5): the watermark passes the write before its insert.
        #[cfg(timelog_fault = "commit_before_insert")]
        let (_, w) = self.with_active(Entry::Record(ts), |e| {
            self.seq.commit(e.seq(), 1, &self.hooks);
            e.insert(ts, val.take().expect("inserted once"))
        });
        Ok(self.maint().after_write(w))
    }

    fn insert_sorted(&self, batch: Vec<(Timestamp, T)>) -> Result<WriteStatus> {
        if batch.is_empty() {
            return Ok(WriteStatus::Ok);
        }
        let maint = self.maint();
        let insert = |part: Vec<(Timestamp, T)>| {
            let len = part.len() as u64;
            let mut part = Some(part);
            let ((first, n), w) =
                self.with_active(Entry::Batch(len), |e| e.insert_batch(part.take().expect("inserted once")));
            self.seq.commit(first, n, &self.hooks);
            maint.after_write(w)
        };
        // Chunks of about one memtable, so a huge batch seals as it goes. A
        // batch that fits is inserted as is (no copy); larger ones are cut
        // from the front by one iterator (`split_off` would copy the whole
        // remaining tail for every chunk: quadratic).
        let chunk = self.cfg.memtable_records::<T>().max(1024);
        if batch.len() <= chunk {
            return Ok(insert(batch));
        }
        let mut status = WriteStatus::Ok;
        let mut records = batch.into_iter();
        loop {
            let next: Vec<_> = records.by_ref().take(chunk).collect();
            if next.is_empty() {
                return Ok(status);
            }
            if insert(next) == WriteStatus::Busy {
                status = WriteStatus::Busy;
            }
        }
    }

    /// The batch-append entry: a batch already sorted by timestamp (stably)
    /// and checked against the floor. A batch of at least a memtable's
    /// worth of records (and a page's) is published as a sorted run (R14,
    /// [`append_run`](Self::append_run)); a smaller one goes through the
    /// active memtable ([`insert_sorted`](Self::insert_sorted)).
    ///
    /// Why the threshold: a batch that fits in a memtable is inserted
    /// without a seal and is flushed together with the writes around it
    /// (one segment for many batches); publishing it as a run of its own
    /// would add an L0 segment per batch — a source every read merges and
    /// compaction rewrites — and would seal the active memtable (a short
    /// wait of concurrent writers, R2) for every call. From a memtable's
    /// worth on, the memtable path pays a seal per memtable and a second
    /// copy of every record at flush; the run path copies each record once.
    fn append_batch(&self, batch: Vec<(Timestamp, T)>) -> Result<WriteStatus> {
        if batch.len() >= self.run_min_records() {
            return self.append_run(batch);
        }
        self.insert_sorted(batch)
    }

    /// The smallest batch published as a run (R14; see `append_batch`):
    /// the records of a full memtable, and at least one full page — below
    /// a page, a segment's fixed costs (its page block, fence arrays, a
    /// source in every read's merge, an L0 slot towards the compaction
    /// trigger) outweigh the copy a run saves. At the defaults the
    /// memtable decides (174,762 records of 8-byte payloads, against
    /// 16,384 per page); tiny test memtables keep the memtable path.
    #[inline]
    fn run_min_records(&self) -> usize {
        self.cfg.memtable_records::<T>().max(self.cfg.page_records).max(2)
    }

    /// R14: a bulk write published as an immutable sorted run. The batch
    /// (sorted, floor-checked) is moved into the pages of an L0 segment
    /// outside every lock and before any sequence is taken; then the run
    /// is sequenced and published ([`publish_run`](Self::publish_run)). When
    /// the log is not in the state R14 needs (a sealed memtable not yet
    /// flushed, or an active memtable that holds anything), the records
    /// are moved back out and take the memtable path.
    fn append_run(&self, batch: Vec<(Timestamp, T)>) -> Result<WriteStatus> {
        if !self.run_publishable() {
            return self.insert_sorted(batch);
        }
        let Some(seg) =
            Segment::from_sorted(batch, self.cfg.page_records, self.catalog.next_id(), self.catalog.retired())
        else {
            return Ok(WriteStatus::Ok);
        };
        self.append_built_run(seg)
    }

    /// R14: publishes the run `seg` a bulk write built; when the log is
    /// not in the state R14 needs, its records are moved back out and take
    /// the memtable path.
    fn append_built_run(&self, seg: Segment<T>) -> Result<WriteStatus> {
        match self.publish_run(seg) {
            RunOutcome::Published => {
                // L0 grew: the worker decides whether to compact.
                self.maint().kick_worker();
                Ok(WriteStatus::Ok)
            }
            RunOutcome::Refused(seg) => self.insert_sorted((*seg).into_records()),
        }
    }

    /// The first half of a bulk write of parallel inputs
    /// ([`Timelog::prepare_parts`]): checks and lays the batch out as it
    /// will be written. Sorted and at least a memtable's worth over a
    /// flushed log (R14 (1), checked now and again at publication): the
    /// pages of a run, built straight from the inputs; otherwise a vector
    /// of pairs, sorted stably, for [`append_batch`](Self::append_batch).
    fn prepare_parts(&self, ts: &[Timestamp], vals: &mut impl Iterator<Item = T>) -> Result<Prepared<T>> {
        self.check_open()?;
        // One pass when the batch is sorted: its least timestamp is its first.
        let sorted = ts.is_sorted();
        if let Some(&min) = if sorted { ts.first() } else { ts.iter().min() } {
            self.check_floor(min)?;
        }
        let short = |got| Error::LengthMismatch { timestamps: ts.len(), payloads: got };
        if sorted && ts.len() >= self.run_min_records() && self.run_publishable() {
            let seg = Segment::from_sorted_parts(
                ts,
                vals,
                self.cfg.page_records,
                self.catalog.next_id(),
                self.catalog.retired(),
            )
            .map_err(short)?;
            return Ok(seg.map_or(Prepared::Records(Vec::new()), |s| Prepared::Run(Box::new(s))));
        }
        let mut batch = Vec::with_capacity(ts.len());
        batch.extend(ts.iter().copied().zip(vals));
        if batch.len() < ts.len() {
            return Err(short(batch.len()));
        }
        if !sorted {
            batch.sort_by_key(|r| r.0);
        }
        Ok(Prepared::Records(batch))
    }

    /// The second half ([`Timelog::append_prepared`]). The floor is
    /// checked again (it may have risen since the batch was prepared),
    /// against the batch's least timestamp.
    fn append_prepared(&self, batch: Prepared<T>) -> Result<WriteStatus> {
        self.check_open()?;
        match &batch {
            Prepared::Records(b) => b.first().map_or(Ok(()), |r| self.check_floor(r.0))?,
            Prepared::Run(seg) => self.check_floor(seg.min_ts)?,
        }
        match batch {
            Prepared::Records(b) if b.is_empty() => Ok(WriteStatus::Ok),
            Prepared::Records(b) => self.append_batch(b),
            // A run is published only by the log whose catalog built it
            // (its segment id and retirement count are that catalog's).
            Prepared::Run(seg) if seg.counts_into(self.catalog.retired()) => self.append_built_run(*seg),
            Prepared::Run(seg) => self.append_batch(seg.into_records()),
        }
    }

    /// R14 (1), checked without sealing anything: no sealed memtable and an
    /// empty active one.
    fn run_publishable(&self) -> bool {
        let m = self.catalog.load();
        let ok = m.sealed.is_empty() && m.active.is_empty();
        self.maint().release_guard(m);
        ok
    }

    /// R14: sequences and publishes the run `seg` (see docs/protocol.md).
    fn publish_run(&self, mut seg: Segment<T>) -> RunOutcome<T> {
        let m = self.catalog.load_full();
        let x = m.active.clone();
        let door = self.catalog.door();
        // (1) Only over a manifest with no sealed memtable and an empty
        // active memtable `x`, which this call seals (R2: one sealer wins
        // the door's claim, and only while `x` is behind it). No other
        // thread can add a sealed memtable from here on: only the sealer
        // of the active memtable does, and that is this call.
        // (`m` is released before the seal: once `x` is sealed, writers
        // wait for this call's publication, and a last reference would be
        // released in the payload scope.)
        let flushed = m.sealed.is_empty() && x.is_empty();
        self.release_arc(m);
        // (Claimed only over a flushed log: a claim is given back only by
        // an install.)
        let claim = if flushed { door.seal_begin_if(&x) } else { None };
        let Some(claim) = claim else {
            return RunOutcome::Refused(Box::new(seg));
        };
        // (2) R2: every ticket taken from `x` before the claim is committed
        // once the watermark reaches its bound; none can be taken after it.
        let bound = claim.seal(&x, &self.seq, &self.hooks);
        if !x.is_empty() {
            let fresh = self.catalog.new_memtable(bound);
            // A writer entered `x` between the check and the seal: `x` is
            // sealed like a full memtable (R2) and the batch takes the
            // memtable path.
            self.publish_plain_seal(&x, &fresh);
            return RunOutcome::Refused(Box::new(seg));
        }
        // (3) Every sequence is a ticket of the memtable behind the door
        // (R1), or a run's block handed out by the claimant: with the door
        // shut, no successor installed and every sequence up to `x`'s
        // bound committed, the block `bound + 1 ..= bound + n` lies above
        // every record and tombstone reachable now and below every later
        // one (the successor's base is its last sequence).
        let n = seg.len as u64;
        let first = bound + 1;
        let last = bound + n;
        let fresh = self.catalog.new_memtable(last);
        seg.set_run_seqs(last);
        let seg = Arc::new(seg);
        // (4) Commit before publication: a segment has no per-record
        // sequence to filter with (R8), so every snapshot that can load the
        // run must have `W >= last`. A snapshot of an older manifest caps
        // its watermark at `x`'s seal bound (R5), below `first`.
        #[cfg(not(timelog_fault = "run_publish_before_commit"))]
        self.seq.commit(first, n, &self.hooks);
        // (5) One CAS: `x` leaves, `fresh` becomes active, the run becomes
        // the newest L0 segment and the flushed bound (`Manifest::with_run`).
        // A lost CAS (a compaction or flush published meanwhile) rebuilds
        // over the new manifest; nothing else replaces `x` while this call
        // holds the door's claim (`close` and `discard` claim it too).
        loop {
            let cur = self.catalog.load_full();
            debug_assert!(Arc::ptr_eq(&cur.active, &x), "only the door's claimant replaces the active memtable");
            let next = cur.with_run(fresh.clone(), seg.clone());
            let ok = self.catalog.publish(&cur, next, self.maint().worker_running());
            self.release_arc(cur);
            if ok {
                break;
            }
        }
        // (6) R2's last step: `fresh` (now held by the published manifest)
        // goes behind the door, which reopens.
        door.install(&fresh);
        // Seeded fault (R14): the run is published before its block is
        // committed.
        #[cfg(timelog_fault = "run_publish_before_commit")]
        self.seq.commit(first, n, &self.hooks);
        RunOutcome::Published
    }

    /// Publishes `x` (sealed and drained) as sealed, with `fresh` active,
    /// and reopens the door on `fresh`: the second half of an ordinary seal
    /// (R2), for a run that found `x` written to after its check.
    fn publish_plain_seal(&self, x: &Arc<Memtable<T>>, fresh: &Arc<Memtable<T>>) {
        self.maint().publish_seal(x, fresh, |m| self.release_arc(m));
    }

    /// Drops a manifest reference inside the payload scope: a bulk write
    /// may run outside it (a binding releases its interpreter for it), and
    /// this reference may be the last one of a manifest a maintainer
    /// replaced meanwhile (R12; as `insert_sorted` releases its guards).
    fn release_arc(&self, m: Arc<crate::manifest::Manifest<T>>) {
        if Arc::strong_count(&m) == 1 {
            let mut m = Some(m);
            self.hooks.scoped(&mut || drop(m.take()));
        }
    }

    fn push_tombstone(&self, t1: Timestamp, t2: Timestamp) -> Result<WriteStatus> {
        self.check_open()?;
        if Bounds::range(t1, t2)?.is_empty() {
            return Ok(WriteStatus::Ok);
        }
        // R1: a delete takes one ticket of the memtable behind the door, as
        // a record does (without the appender right), pushes its tombstone
        // there and commits.
        let (seq, w) = self.with_active(Entry::Delete, |e| {
            self.hooks.pause(crate::hooks::Point::DeleteAdmitted);
            e.mt.push_tombstone(Tombstone { t1, t2, seq: e.seq() });
            e.seq()
        });
        self.seq.commit(seq, 1, &self.hooks);
        let maint = self.maint();
        let step_aside = maint.note_delete();
        let status = maint.after_write(w);
        if step_aside {
            maint.yield_to_worker();
        }
        Ok(status)
    }
}

impl<T: Clone + Send + Sync + 'static> Timelog<T> {
    /// A log with the default configuration (background maintenance).
    pub fn new() -> Self {
        Self::with_config(Config::default()).expect("the default configuration is valid")
    }

    /// A log with `config`, validated.
    pub fn with_config(config: Config) -> Result<Self> {
        Self::with_hooks(config, Hooks::default())
    }

    /// A log with `config` and embedding [`Hooks`].
    pub fn with_hooks(config: Config, hooks: Hooks) -> Result<Self> {
        let cfg = config.resolve(std::mem::size_of::<T>())?;
        crate::config::PayloadTarget::check::<T>(config.payload_target)?;
        let records = cfg.memtable_records::<T>();
        let inner = Arc::new(Inner {
            cfg,
            seq: Sequencer::new(),
            catalog: Catalog::new(config.time_unit, records, config.bitwise_payloads.is_some()),
            maint: Maintainer::new(),
            counters: Counters::default(),
            hooks,
            closed: AtomicBool::new(false),
            floor: AtomicI64::new(config.min_ts.unwrap_or(Timestamp::MIN)),
        });
        let log = Self { inner, worker: Mutex::new(None) };
        if config.maintenance == MaintenanceMode::Background {
            log.start_maintenance()?;
        }
        Ok(log)
    }

    /// The configuration the log was built with.
    pub fn config(&self) -> &Config {
        &self.inner.cfg.cfg
    }

    // ----- writes -------------------------------------------------------

    /// Appends one record. On `Err` nothing was written; on `Ok` the record
    /// is committed (also when the status is [`WriteStatus::Busy`]).
    pub fn append(&self, ts: Timestamp, val: T) -> Result<WriteStatus> {
        self.inner.append(ts, val)
    }

    /// Appends a record stamped with the current wall-clock time.
    pub fn append_now(&self, val: T) -> Result<WriteStatus> {
        self.inner.append(self.inner.cfg.cfg.time_unit.now(), val)
    }

    /// Appends many records. The batch is validated first (nothing is
    /// written if a timestamp is below the floor), sorted stably by
    /// timestamp if needed (equal timestamps keep their order) and written:
    /// a batch of at least a memtable's (and a page's) worth of records as one immutable
    /// sorted run, each record copied once and the whole batch committed
    /// atomically (rule R14 of `docs/protocol.md`; when the log has an
    /// unflushed sealed memtable or a non-empty active one, as below);
    /// a smaller batch through the active memtable, in memtable-sized
    /// chunks, each committed atomically.
    pub fn extend<I: IntoIterator<Item = (Timestamp, T)>>(&self, records: I) -> Result<WriteStatus> {
        self.append_batch(records.into_iter().collect())
    }

    /// [`extend`](Self::extend) of a vector, taken as is (sorted in place
    /// if needed, never copied before it is written): the engine's
    /// batch-append entry.
    pub fn append_batch(&self, mut batch: Vec<(Timestamp, T)>) -> Result<WriteStatus> {
        self.inner.check_open()?;
        batch.iter().try_for_each(|r| self.inner.check_floor(r.0))?;
        if !batch.windows(2).all(|w| w[0].0 <= w[1].0) {
            batch.sort_by_key(|r| r.0);
        }
        if batch.is_empty() {
            return Ok(WriteStatus::Ok);
        }
        self.inner.append_batch(batch)
    }

    /// Appends parallel timestamps and payloads, as [`extend`](Self::extend)
    /// does: `payloads` yields one payload per timestamp, in order. A
    /// sorted batch written as a run goes from the inputs straight into
    /// the run's pages (no vector of pairs between).
    ///
    /// [`Error::LengthMismatch`] when the lengths differ: nothing is
    /// written, and every payload taken is dropped.
    pub fn extend_from_parts<I>(&self, timestamps: &[Timestamp], payloads: I) -> Result<WriteStatus>
    where
        I: IntoIterator<Item = T>,
    {
        self.append_prepared(self.prepare_parts(timestamps, payloads)?)
    }

    /// The first half of [`extend_from_parts`](Self::extend_from_parts):
    /// checks the batch (the log is open, no timestamp below the floor,
    /// the lengths match) and takes every payload into the form the batch
    /// will be written in, without changing the log; the second half is
    /// [`append_prepared`](Self::append_prepared). For a caller that must
    /// take the payloads in one context and write them in another (the
    /// Python binding takes them holding the interpreter and writes
    /// without it).
    ///
    /// A batch prepared as a run is published as one if the log is still
    /// flushed when it is appended (R14), and otherwise takes the memtable
    /// path. A batch appended to another log than the one that prepared it
    /// is written to it, through its memtables.
    pub fn prepare_parts<I>(&self, timestamps: &[Timestamp], payloads: I) -> Result<PreparedBatch<T>>
    where
        I: IntoIterator<Item = T>,
    {
        let mut vals = payloads.into_iter();
        // An iterator that knows its length is checked before any payload
        // is taken; any other when it ends.
        match vals.size_hint() {
            (k, Some(hi)) if k == hi && k != timestamps.len() => {
                return Err(Error::LengthMismatch { timestamps: timestamps.len(), payloads: k });
            }
            _ => {}
        }
        let batch = self.inner.prepare_parts(timestamps, &mut vals)?;
        match vals.count() {
            0 => Ok(PreparedBatch(batch)),
            more => Err(Error::LengthMismatch { timestamps: timestamps.len(), payloads: timestamps.len() + more }),
        }
    }

    /// Writes a batch made by [`prepare_parts`](Self::prepare_parts) (see
    /// [`extend`](Self::extend) for how). [`Error::Closed`] if the log was
    /// closed meanwhile, [`Error::BelowFloor`] if its floor rose above the
    /// batch's least timestamp meanwhile (the batch is dropped, nothing is
    /// written).
    pub fn append_prepared(&self, batch: PreparedBatch<T>) -> Result<WriteStatus> {
        self.inner.append_prepared(batch.0)
    }

    /// Deletes `[t1, t2)` (records written afterwards stay visible).
    pub fn delete_range(&self, t1: Timestamp, t2: Timestamp) -> Result<WriteStatus> {
        self.inner.push_tombstone(t1, t2)
    }

    /// Deletes everything before `t`.
    pub fn delete_before(&self, t: Timestamp) -> Result<WriteStatus> {
        self.inner.push_tombstone(Timestamp::MIN, t)
    }

    /// Deletes the records at exactly `ts`.
    pub fn delete_point(&self, ts: Timestamp) -> Result<WriteStatus> {
        let t2 = ts.checked_add(1).ok_or(Error::Unrepresentable(ts))?;
        self.inner.push_tombstone(ts, t2)
    }

    /// Raises the retention floor to `floor`: deletes everything below it
    /// and refuses later writes below it. A lower value than the current
    /// floor is ignored.
    pub fn set_floor(&self, floor: Timestamp) -> Result<WriteStatus> {
        self.inner.check_open()?;
        self.inner.floor.fetch_max(floor, Relaxed);
        self.delete_before(floor)
    }

    /// The retention floor, if any.
    pub fn floor(&self) -> Option<Timestamp> {
        let f = self.inner.floor.load(Relaxed);
        (f != Timestamp::MIN).then_some(f)
    }

    /// Records that `n` items of a bulk write were skipped by the caller
    /// (the Python `extend(insert_on_error=True)` counter).
    pub fn note_extend_skipped(&self, n: u64) {
        self.inner.counters.extend_skipped.fetch_add(n, Relaxed);
    }

    // ----- reads --------------------------------------------------------

    /// A snapshot of the log now.
    pub fn snapshot(&self) -> Result<Snapshot<T>> {
        self.inner.check_open()?;
        Ok(self.inner.catalog.snapshot(&self.inner.seq))
    }

    /// A cursor over `b` of a snapshot taken now.
    pub fn cursor(&self, b: Bounds, order: Order) -> Result<Cursor<T>> {
        Ok(self.snapshot()?.into_cursor(b.lo, b.hi, order))
    }

    /// Records in `[t1, t2)`; `t1 > t2` is an error, `t1 == t2` empty
    /// ([`Bounds::range`]).
    pub fn range(&self, t1: Timestamp, t2: Timestamp, order: Order) -> Result<Cursor<T>> {
        self.cursor(Bounds::range(t1, t2)?, order)
    }

    /// Records at or after `t` ([`Bounds::since`]).
    pub fn since(&self, t: Timestamp, order: Order) -> Result<Cursor<T>> {
        self.cursor(Bounds::since(t), order)
    }

    /// Records before `t` ([`Bounds::until`]).
    pub fn until(&self, t: Timestamp, order: Order) -> Result<Cursor<T>> {
        self.cursor(Bounds::until(t), order)
    }

    /// Every record.
    pub fn all(&self, order: Order) -> Result<Cursor<T>> {
        self.cursor(Bounds::ALL, order)
    }

    /// A short-lived view for one-shot reads, from the same snapshot
    /// function as [`snapshot`](Self::snapshot) (`Catalog::read`, R5): no
    /// reference count on the shared manifest is taken (arc-swap debt
    /// slot), no pin is counted.
    #[inline]
    fn with_view<R>(&self, f: impl FnOnce(crate::query::plan::View<'_, T>) -> R) -> Result<R> {
        self.inner.check_open()?;
        let r = self.inner.catalog.read(&self.inner.seq);
        Ok(f(r.view()))
    }

    /// Visits the payloads at exactly `ts` in insertion order; returns how many.
    pub fn point_with(&self, ts: Timestamp, mut f: impl FnMut(&T)) -> Result<usize> {
        self.inner.check_open()?;
        Ok(self.inner.catalog.read_wfree(
            &self.inner.seq,
            &mut f,
            |m, f| View::point_wfree(m, ts, f),
            |v, f| v.point(ts, f),
        ))
    }

    /// The payloads at exactly `ts`, in insertion order.
    pub fn point(&self, ts: Timestamp) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.point_with(ts, |v| out.push(v.clone()))?;
        Ok(out)
    }

    /// Whether a visible record has timestamp `ts`: a point read that
    /// stops at the first visible record it finds.
    pub fn contains(&self, ts: Timestamp) -> Result<bool> {
        self.inner.check_open()?;
        Ok(self.inner.catalog.read_wfree(
            &self.inner.seq,
            &mut (),
            |m, _| View::point_wfree(m, ts, |_| ()).map(|n| n > 0),
            |v, _| v.contains(ts),
        ))
    }

    /// Smallest visible timestamp `> t`.
    pub fn next_ts(&self, t: Timestamp) -> Result<Option<Timestamp>> {
        self.nav_read(Bounds::after(t), true)
    }

    /// The first (`first_in`) or last (`last_in`) visible timestamp of
    /// `b`, read without the watermark when the answer does not need it
    /// (R15, [`Catalog::read_wfree`](crate::catalog::Catalog::read_wfree)).
    #[inline]
    fn nav_read(&self, b: Bounds, asc: bool) -> Result<Option<Timestamp>> {
        self.inner.check_open()?;
        if b.is_empty() {
            return Ok(None);
        }
        let wfree = |m: &Manifest<T>| {
            if asc {
                View::nav_wfree::<Asc>(m, b.lo).map(|r| r.filter(|&t| t <= b.hi))
            } else {
                View::nav_wfree::<Desc>(m, b.hi).map(|r| r.filter(|&t| t >= b.lo))
            }
        };
        let read = |v: View<'_, T>| if asc { Self::first_in(&v, b) } else { Self::last_in(&v, b) };
        Ok(self.inner.catalog.read_wfree(&self.inner.seq, &mut (), |m, _| wfree(m), |v, _| read(v)))
    }

    /// Smallest visible timestamp in `b`.
    #[inline]
    fn first_in(v: &crate::query::plan::View<'_, T>, b: Bounds) -> Option<Timestamp> {
        if b.is_empty() {
            return None;
        }
        v.first_at_or_after(b.lo).filter(|&t| t <= b.hi)
    }

    /// Greatest visible timestamp in `b`.
    #[inline]
    fn last_in(v: &crate::query::plan::View<'_, T>, b: Bounds) -> Option<Timestamp> {
        if b.is_empty() {
            return None;
        }
        v.last_at_or_before(b.hi).filter(|&t| t >= b.lo)
    }

    /// Greatest visible timestamp `< t`: the last of [`Bounds::until`]`(t)`.
    pub fn prev_ts(&self, t: Timestamp) -> Result<Option<Timestamp>> {
        self.nav_read(Bounds::until(t), false)
    }

    /// Smallest visible timestamp.
    pub fn min_ts(&self) -> Result<Option<Timestamp>> {
        self.nav_read(Bounds::ALL, true)
    }

    /// Greatest visible timestamp.
    pub fn max_ts(&self) -> Result<Option<Timestamp>> {
        self.with_view(|v| Self::last_in(&v, Bounds::ALL))
    }

    /// Number of visible records.
    pub fn len(&self) -> Result<usize> {
        self.with_view(|v| Self::len_in(&v))
    }

    /// `len` in a view (shared with the model checkers' twin).
    #[inline]
    fn len_in(v: &crate::query::plan::View<'_, T>) -> usize {
        Self::count_in(v, Bounds::ALL)
    }

    /// Visible records in `b` (0 when `b` is empty).
    #[inline]
    fn count_in(v: &crate::query::plan::View<'_, T>, b: Bounds) -> usize {
        if b.is_empty() {
            0
        } else {
            v.count(b.lo, b.hi)
        }
    }

    /// Number of visible records in `[t1, t2)`, read from one consistent
    /// view without touching payloads; `t1 > t2` is an error, `t1 == t2` is 0
    /// ([`Bounds::range`]).
    pub fn count(&self, t1: Timestamp, t2: Timestamp) -> Result<usize> {
        let b = Bounds::range(t1, t2)?;
        self.with_view(|v| Self::count_in(&v, b))
    }

    /// Visible records per time bucket of `[t1, t2)`, from one consistent
    /// view; see [`Snapshot::histogram`] for the bucket layout and errors.
    pub fn histogram(&self, t1: Timestamp, t2: Timestamp, bucket: Timestamp) -> Result<Vec<u64>> {
        let b = crate::query::histogram::Buckets::new(t1, t2, bucket)?;
        self.with_view(|v| v.histogram(&b))
    }

    /// Whether no record is visible.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.min_ts()?.is_none())
    }

    /// Zero-copy spans of flushed pages overlapping `[t1, t2)` (`None`
    /// bounds = unbounded, [`Bounds::slice`]: a reversed or empty range has
    /// no spans).
    pub fn page_spans(&self, t1: Option<Timestamp>, t2: Option<Timestamp>) -> Result<Vec<PageSpan<T>>> {
        let b = Bounds::slice(t1, t2);
        if b.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.snapshot()?.page_spans(b.lo, b.hi))
    }

    // ----- maintenance --------------------------------------------------

    /// Seals the active memtable and flushes every sealed one into L0, so
    /// that page views see every write made before the call. The memory
    /// the flushed memtables held goes back to the operating system (with
    /// the process's pool of freed buffers, kept for reuse while logs
    /// stream writes: `segment::block`).
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        let _settle = crate::segment::block::settle();
        let maint = self.inner.maint();
        maint.seal_active();
        maint.flush_sealed();
        Ok(())
    }

    /// Flushes, then compacts all of L0 and every L1 window with pending
    /// deletes into L1, dropping deleted records (and their payloads).
    pub fn compact(&self) -> Result<()> {
        let _settle = crate::segment::block::settle();
        self.flush()?;
        self.inner.maint().compact_all();
        Ok(())
    }

    /// One unit of maintenance (flush a few sealed memtables, or one
    /// compaction when triggered). Returns whether it did any work.
    ///
    /// Manual steps are for logs without a background worker (as in the C
    /// package): while the worker runs, [`Error::WorkerRunning`] (call
    /// [`flush`](Self::flush) or [`compact`](Self::compact) to force work,
    /// or [`stop_maintenance`](Self::stop_maintenance) first).
    pub fn maint_step(&self) -> Result<bool> {
        self.inner.check_open()?;
        if self.maintenance_running() {
            return Err(Error::WorkerRunning);
        }
        Ok(self.inner.maint().step())
    }

    /// Starts the background worker (idempotent).
    pub fn start_maintenance(&self) -> Result<()> {
        self.inner.check_open()?;
        let mut slot = self.worker.lock().unwrap();
        if slot.is_some() {
            return Ok(());
        }
        self.inner.maint.worker_starting();
        let inner = self.inner.clone();
        let h = crate::sync::thread::Builder::new()
            .name("timelog-maint".into())
            .spawn(move || inner.maint().run_worker())
            .map_err(|e| Error::InvalidConfig(format!("cannot start the maintenance thread: {e}")))?;
        *slot = Some(h);
        Ok(())
    }

    /// Stops the background worker and waits for it (idempotent). Called
    /// on the worker thread itself (from code a payload release runs), it
    /// tells the worker to stop and returns: the worker exits when the
    /// current step ends. [`Error::Closed`] on a closed log (whose worker
    /// [`close`](Self::close) already stopped).
    pub fn stop_maintenance(&self) -> Result<()> {
        self.inner.check_open()?;
        self.stop_worker();
        Ok(())
    }

    /// [`stop_maintenance`](Self::stop_maintenance) whether closed or not
    /// (for `close`, `fork_prepare` and `Drop`).
    fn stop_worker(&self) {
        let h = self.worker.lock().unwrap().take();
        if let Some(h) = h {
            self.inner.maint.request_stop();
            if h.thread().id() != crate::sync::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Tells the background worker to stop without waiting for it to finish
    /// its current step (it exits on its own; the data it still references
    /// is released when it does). For owners that must not block, like a
    /// Python finalizer.
    pub fn stop_maintenance_detached(&self) {
        let h = self.worker.lock().unwrap().take();
        if h.is_some() {
            self.inner.maint.request_stop();
        }
    }

    /// Whether the background worker runs.
    pub fn maintenance_running(&self) -> bool {
        self.worker.lock().unwrap().is_some()
    }

    /// Prepares the log for a `fork()` of the process: stops the
    /// background worker (waiting for its current step) and takes the
    /// maintainer lock, so the child inherits neither a worker that does not
    /// exist there nor a maintainer lock held by a thread that does not
    /// exist there. Call [`ForkGuard::finish`] after the fork, in the parent
    /// and in the child: it releases the lock and restarts the worker if it
    /// was running. Writes and reads stay possible meanwhile (a write that
    /// needs the maintainer lock — `busy_policy = Flush` without a worker —
    /// waits for `finish`).
    pub fn fork_prepare(&self) -> ForkGuard<'_, T> {
        let restart = self.maintenance_running();
        self.stop_worker();
        let maint = self.inner.maint().lock();
        ForkGuard { log: self, maint: Some(maint), restart }
    }

    /// Visits every payload the parts of the log's current state hold: the
    /// records of every memtable and segment of the current manifest, each
    /// part once, whether or not snapshots share it — one visit per
    /// reference the current manifest's parts own. Parts that only older
    /// manifests (snapshots, maintenance steps in flight) hold are not
    /// visited: a snapshot reports those it alone holds
    /// ([`Snapshot::for_each_owned_payload`](crate::Snapshot::for_each_owned_payload)).
    ///
    /// For a cycle collector's traversal (Python's `tp_traverse`): the
    /// binding reports these from one collector node that every reader of
    /// the log references, so a payload is reported once and its reporter
    /// is reachable whenever any holder of the log's data is. Takes no lock
    /// and allocates nothing; it may run while writers and maintainers
    /// work (records being appended meanwhile may or may not be visited;
    /// nothing is visited twice).
    ///
    /// Each call of `f` gets a stretch of payloads contiguous in memory (a
    /// page's, a run bucket's; a late record alone), so that a visitor
    /// whose payloads point elsewhere can start loading their targets
    /// ahead of its visits ([`prefetch`](crate::segment::prefetch); the
    /// Python binding's full collection of a 1,000,000-record log whose
    /// objects lie anywhere in memory, docs/performance.md).
    pub fn for_each_payload(&self, f: &mut dyn FnMut(&[T])) {
        if self.inner.closed.load(Ordering::Acquire) {
            return;
        }
        self.inner.catalog.for_each_payload(f);
    }

    /// Drops everything the log holds and marks it closed, like
    /// [`close`](Self::close) but without waiting and whatever snapshots
    /// are alive (they keep what they reference). For a cycle collector's
    /// clear step (Python's `tp_clear`): returns `false`, doing nothing,
    /// when a maintainer holds the maintainer lock (try again later).
    pub fn discard(&self) -> bool {
        let Some(g) = self.inner.maint().try_lock() else {
            return false;
        };
        self.inner.closed.store(true, Ordering::Release);
        self.stop_maintenance_detached();
        self.inner.catalog.publish_empty(&self.inner.seq, &self.inner.hooks);
        drop(g);
        true
    }

    // ----- lifecycle ----------------------------------------------------

    /// Live snapshots (cursors, page spans, explicit snapshots).
    ///
    /// Exact while no snapshot is taken or dropped meanwhile: the unused
    /// snapshots the log keeps for reuse (R9, "Parking") are released
    /// first, and snapshots of the current state are not kept for reuse
    /// again until the log's next change.
    pub fn pinned(&self) -> usize {
        self.inner.catalog.evict_parked();
        self.inner.catalog.pins().total()
    }

    /// Test hook: parked snapshots (R9, "Parking") whose manifest is no
    /// longer the current one. Always 0 when no other thread uses the log:
    /// every publication evicts them. Read only when nothing else uses the
    /// log (the model checkers' end-of-scenario check, tests).
    #[doc(hidden)]
    pub fn parked_stale(&self) -> usize {
        self.inner.catalog.parked_stale()
    }

    /// Discards all data and refuses every later operation with
    /// [`Error::Closed`]. Refused with [`Error::Pinned`] while snapshots are
    /// alive. Closing twice is fine.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let n = self.pinned();
        if n > 0 {
            return Err(Error::Pinned(n));
        }
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop_worker();
        let _g = self.inner.maint().lock();
        // Publish an empty manifest: the old one, and everything only it
        // referenced, is dropped as soon as in-flight one-shot reads end.
        self.inner.catalog.publish_empty(&self.inner.seq, &self.inner.hooks);
        // The freed pages and buckets may go to the process's block pool
        // (at most its bound), for the next log's: `segment::block`.
        Ok(())
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// [`Error::Closed`] if the log is closed, as every operation checks
    /// first; for callers that convert their input before calling a
    /// write (a binding's batch), so a closed log is reported before any
    /// conversion error.
    pub fn check_open(&self) -> Result<()> {
        self.inner.check_open()
    }

    // ----- introspection ------------------------------------------------

    /// Counters and layer sizes; [`Error::Closed`] on a closed log.
    pub fn stats(&self) -> Result<Stats> {
        let i = &self.inner;
        i.check_open()?;
        let m = i.catalog.load();
        let c = &i.counters;
        let segs = m.l0.iter().chain(m.l1.iter());
        // A `close` racing this report empties the reads: no error then.
        let (min_ts, max_ts) = (self.min_ts().unwrap_or(None), self.max_ts().unwrap_or(None));
        let mut tombstone_count = m.tombstones.len();
        let mut mem_records = 0;
        for mt in m.sealed.iter().chain(std::iter::once(&m.active)) {
            mt.tombs.for_each(|_| tombstone_count += 1);
            mem_records += mt.len();
        }
        let windows: std::collections::BTreeSet<_> = m.l1.iter().map(|s| s.window).collect();
        Ok(Stats {
            segments_l0: m.l0.len(),
            segments_l1: m.l1.len(),
            pages_total: segs.clone().map(|s| s.pages.len()).sum(),
            records_estimate: self.len().unwrap_or(0),
            records_stored: segs.map(|s| s.len).sum::<usize>() + mem_records,
            min_ts,
            max_ts,
            tombstone_count,
            active_records: m.active.len(),
            ooo_records: m.active.ooo_len(),
            sealed_runs: m.sealed.len(),
            seals_total: c.seals_total.load(Relaxed),
            ooo_budget_hits: c.ooo_budget_hits.load(Relaxed),
            backpressure_waits: c.backpressure_waits.load(Relaxed),
            flushes_total: c.flushes_total.load(Relaxed),
            compactions_total: c.compactions_total.load(Relaxed),
            compaction_retries: c.compaction_retries.load(Relaxed),
            compaction_publish_ebusy: c.compaction_publish_ebusy.load(Relaxed),
            busy_events: c.busy_events.load(Relaxed),
            extend_skipped: c.extend_skipped.load(Relaxed),
            retired_queue_len: i.catalog.retired().load(Relaxed),
            // Parked snapshots (R9, "Parking") are no readers.
            pinned_readers: i.catalog.pins().total().saturating_sub(i.catalog.pins().parked()),
            window_size: i.maint().l1_window(),
            window_origin: i.cfg.cfg.window_origin,
            max_delta_segments: i.cfg.max_delta_segments,
            delete_debt: i.maint().delete_debt(&m),
            l1_windows: windows.len(),
            select_calls: c.select_calls.load(Relaxed),
            select_l0_inputs: c.select_l0_inputs.load(Relaxed),
            select_l1_inputs: c.select_l1_inputs.load(Relaxed),
            select_no_work: c.select_no_work.load(Relaxed),
            adaptive_ewma_density: f64::from_bits(c.adaptive_ewma_bits.load(Relaxed)),
            adaptive_flush_count: c.adaptive_flush_count.load(Relaxed),
            adaptive_failures: c.adaptive_failures.load(Relaxed),
            visible_seq: i.seq.visible(),
            manifest_version: m.version,
        })
    }

    /// Contention audit (test-only, `contention-audit`): named byte ranges
    /// of the log's shared structures, for classifying the writes
    /// [`crate::audit::record`] logs. `Arc`-held parts are given from their
    /// value's address (where the recorded `Arc` operations point).
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub fn audit_regions(&self) -> Vec<(String, std::ops::Range<usize>)> {
        fn of<X: ?Sized>(x: &X) -> std::ops::Range<usize> {
            let p = x as *const X as *const u8 as usize;
            p..p + std::mem::size_of_val(x)
        }
        let i = &*self.inner;
        let m = i.catalog.load();
        let (own, all) = i.catalog.pins().audit_stripes();
        let mut v = vec![
            ("pins: this thread's stripe".to_string(), own),
            ("pins: all stripes".to_string(), all),
            ("door".to_string(), of(i.catalog.door())),
            ("log: Inner".to_string(), of(i)),
            ("log: retired counter".to_string(), of(&**i.catalog.retired())),
            ("manifest".to_string(), of(&**m)),
            ("manifest: tombstone list".to_string(), of(&*m.tombstones)),
            ("manifest: pin counter".to_string(), of(&*m.pins)),
            ("manifest: this thread's stripe".to_string(), m.holds.audit_lines(None).0),
            ("manifest: holds remaining".to_string(), m.holds.audit_lines(None).1),
            ("memtable: active".to_string(), of(&*m.active)),
        ];
        v.extend(m.active.ooo_audit_ranges().into_iter().map(|r| ("memtable: active skiplist arena".to_string(), r)));
        v.push(("memtable: active skiplist filter".to_string(), m.active.ooo_audit_filter_range()));
        v.extend(i.seq.audit_regions());
        v.extend(m.sealed.iter().enumerate().map(|(k, x)| (format!("memtable: sealed[{k}]"), of(&**x))));
        v.extend(m.l0.iter().enumerate().map(|(k, x)| (format!("segment: l0[{k}]"), of(&**x))));
        v.extend(m.l1.iter().enumerate().map(|(k, x)| (format!("segment: l1[{k}]"), of(&**x))));
        v
    }

    /// Checks the engine's invariants; returns the first violation
    /// ([`Error::Corrupt`]), or [`Error::Closed`] on a closed log.
    pub fn validate(&self) -> Result<()> {
        self.inner.check_open()?;
        crate::validate::validate(&self.inner.catalog, &self.inner.seq)
    }

    #[cfg(feature = "test-hooks")]
    /// Test hook: close (`true`) or open the gate at `p`.
    pub fn test_gate(&self, p: crate::hooks::Point, closed: bool) {
        self.inner.hooks.gates.set(p, closed);
    }

    #[cfg(feature = "test-hooks")]
    /// Test hook: wait until `n` threads have reached `p` in total.
    pub fn test_wait_reached(&self, p: crate::hooks::Point, n: usize, timeout: Duration) -> bool {
        self.inner.hooks.gates.wait_reached(p, n, timeout)
    }

    #[cfg(feature = "test-hooks")]
    /// Test hook: how many times `p` was reached.
    pub fn test_reached(&self, p: crate::hooks::Point) -> usize {
        self.inner.hooks.gates.reached(p)
    }

    #[cfg(feature = "test-hooks")]
    /// Test hook: seal the active memtable now (from this thread).
    pub fn test_seal_active(&self) -> bool {
        self.inner.maint().seal_active()
    }
}

/// What [`Timelog::fork_prepare`] holds across a `fork()`: the maintainer
/// lock, and whether to restart the worker.
#[must_use = "call finish() after the fork, in the parent and in the child"]
pub struct ForkGuard<'a, T: Clone + Send + Sync + 'static> {
    log: &'a Timelog<T>,
    maint: Option<MaintGuard<'a, T>>,
    restart: bool,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for ForkGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkGuard").field("restart", &self.restart).finish()
    }
}

impl<T: Clone + Send + Sync + 'static> ForkGuard<'_, T> {
    /// Releases the maintainer lock and restarts the background worker if
    /// it ran before the fork (in the child: a new thread).
    pub fn finish(mut self) -> Result<()> {
        drop(self.maint.take());
        if self.restart && !self.log.is_closed() {
            self.log.start_maintenance()?;
        }
        Ok(())
    }
}

impl<T: Clone + Send + Sync + 'static> Default for Timelog<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + Sync + 'static> Drop for Timelog<T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        self.stop_worker();
    }
}

#[cfg(any(timelog_loom, timelog_shuttle))]
mod model_hooks;

// Accessors for the binding
impl<T: Clone + Send + Sync + 'static> Timelog<T> {
    /// One counter's current value (one atomic load; no [`Stats`] is built).
    pub fn counter(&self, c: crate::stats::Counter) -> u64 {
        self.inner.counters.get(c)
    }

    /// Retired memtables and segments still alive because a snapshot pins
    /// them ([`Stats::retired_queue_len`] without building the report).
    pub fn retired_queue_len(&self) -> usize {
        self.inner.catalog.retired().load(Relaxed)
    }

    /// Records that an allocation sized by the caller's input failed and
    /// was reported as an error ([`Counter::AllocFailures`](crate::stats::Counter::AllocFailures)).
    pub fn note_alloc_failure(&self) {
        self.inner.counters.alloc_failures.fetch_add(1, Relaxed);
    }

    /// Checks `ts` against the retention floor ([`Error::BelowFloor`]), as
    /// every write does; for callers that refuse a batch item by item.
    pub fn check_floor(&self, ts: Timestamp) -> Result<()> {
        self.inner.check_floor(ts)
    }
}
