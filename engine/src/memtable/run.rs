//! The in-order fast path of the memtable: an append-only run.
//!
//! Records whose timestamp is at or after the run's last timestamp are
//! appended here instead of into the skiplist. The run is a "boxcar"
//! vector: bucket `k` holds `FIRST << k` slots and is allocated once, so a
//! slot never moves and readers can hold pointers into it. Each bucket keeps
//! its timestamps, sequence numbers and payloads in three separate arrays,
//! so that a reader sees contiguous `&[i64]` slices just like in a page,
//! and (std builds) the last timestamp of each complete 64-record block in
//! a fourth, small one: a search reads those fences, then one block, as a
//! segment page's search does (`Run::search_ts`).
//!
//! One appender at a time (rule R3): the right to append is taken in the
//! same compare-and-swap that enters the memtable through the log's door
//! (`memtable/door.rs`, its TAKEN parity), and given back by a store of
//! the door's GIVEN word; a writer that finds it taken inserts into the
//! skiplist instead, so no writer ever waits here. Readers read `len`
//! (Acquire) and then only slots below it (rule R4).

use std::ptr;

use crate::segment::block::Block;
use crate::segment::{Seek, BLOCK};

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
use crate::sync::AtomicBool;
use crate::sync::{AtomicI64, AtomicPtr, AtomicUsize, Ordering, UnsyncGet};
use crate::{SeqNo, Timestamp};

// Under the model checkers buckets start at 4 slots, so that a scenario of a
// few records still crosses bucket boundaries (allocation + publication).
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
const FIRST_SHIFT: u32 = 6; // first bucket: 64 slots
#[cfg(any(timelog_loom, timelog_shuttle))]
const FIRST_SHIFT: u32 = 2; // first bucket: 4 slots
const FIRST: usize = 1 << FIRST_SHIFT;
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
const BUCKETS: usize = 40;
#[cfg(any(timelog_loom, timelog_shuttle))]
const BUCKETS: usize = 16;

/// One bucket: `cap` timestamps, then `cap` sequences, then `cap` payload
/// slots, then (std builds) `cap / BLOCK` *fences* — the last timestamp of
/// each complete [`BLOCK`] of slots, written by the appender with the
/// block's last record, so a search reads a small array and one block
/// (as a segment page's block fences) — in one zeroed [`Block`] (directly mapped from 64 KiB on, so a
/// flushed memtable's buckets go back to the OS when it is dropped, and the
/// unused tail of the last bucket is never resident past the 16 KiB chunk
/// being written; see `segment::block`).
///
/// Timestamps and sequences are written and read as atomics (`Relaxed`:
/// plain moves on the targets we build for), so reading a slot at or past
/// the published length is not undefined behaviour: it yields 0 or a value
/// being written, never a torn or uninitialized one. What makes a slot's
/// value *meaningful* is still R4 (an index below a `len` loaded with
/// Acquire). Payload slots are only reached below a checked `len`
/// ([`Run::val_at`]).
struct Bucket<T> {
    block: Block,
    cap: usize,
    /// Model checkers only: one region per slot, initialized by `push` and
    /// read by every slot access, so loom checks R4 (publication) and R6/R9
    /// (no access once the run is dropped).
    #[cfg(any(timelog_loom, timelog_shuttle))]
    regions: Box<[crate::sync::Region]>,
    _vals: std::marker::PhantomData<T>,
}

impl<T> Bucket<T> {
    /// Byte offset of the sequence array (after the timestamps).
    #[inline(always)]
    fn seqs_offset(cap: usize) -> usize {
        cap * std::mem::size_of::<Timestamp>()
    }

    /// Byte offset of the payload array (after the timestamps and sequences).
    #[inline(always)]
    fn vals_offset(cap: usize) -> usize {
        (Self::seqs_offset(cap) + cap * std::mem::size_of::<SeqNo>()).next_multiple_of(std::mem::align_of::<T>())
    }

    /// Byte offset of the fence array (after the payloads).
    #[inline(always)]
    fn fences_offset(cap: usize) -> usize {
        (Self::vals_offset(cap) + cap * std::mem::size_of::<T>()).next_multiple_of(8)
    }

    fn new(cap: usize) -> Self {
        let size = Self::fences_offset(cap) + cap / BLOCK * 8;
        let align = 8usize.max(std::mem::align_of::<T>());
        Self {
            block: Block::zeroed(size, align),
            cap,
            #[cfg(any(timelog_loom, timelog_shuttle))]
            regions: (0..cap).map(|_| crate::sync::Region::new()).collect(),
            _vals: std::marker::PhantomData,
        }
    }

    /// Slot `o` of the timestamps, as an atomic (see the type). Panics if
    /// `o >= cap`.
    #[inline(always)]
    fn ts_cell(&self, o: usize) -> &AtomicI64Slot {
        assert!(o < self.cap, "run slot out of bounds");
        // SAFETY: `o < cap`: within the block's zeroed timestamp array, 8-aligned;
        // an `i64` slot is a valid `AtomicI64` (same size and alignment, std API contract).
        unsafe { &*self.ts(o).cast::<AtomicI64Slot>() }
    }

    /// Slot `o` of the sequences, as an atomic (see the type). Panics if
    /// `o >= cap`.
    #[inline(always)]
    fn seq_cell(&self, o: usize) -> &AtomicU64Slot {
        assert!(o < self.cap, "run slot out of bounds");
        // SAFETY: as in `ts_cell`, for the sequence array.
        unsafe { &*self.seq(o).cast::<AtomicU64Slot>() }
    }

    /// Slot `o < cap` of the timestamps. Raw: the caller decides whether
    /// the slot may be read (R4) or written (R3).
    #[inline(always)]
    fn ts(&self, o: usize) -> *mut Timestamp {
        debug_assert!(o < self.cap);
        // SAFETY: `o < cap`: within the block's timestamp array (`new`).
        unsafe { self.block.as_ptr().cast::<Timestamp>().add(o) }
    }

    #[inline(always)]
    fn seq(&self, o: usize) -> *mut SeqNo {
        debug_assert!(o < self.cap);
        // SAFETY: `o < cap`: within the block's sequence array (`new`).
        unsafe { self.block.as_ptr().add(Self::seqs_offset(self.cap)).cast::<SeqNo>().add(o) }
    }

    #[inline(always)]
    fn val(&self, o: usize) -> *mut T {
        debug_assert!(o < self.cap);
        // SAFETY: `o < cap`: within the block's payload array (`new`).
        unsafe { self.block.as_ptr().add(Self::vals_offset(self.cap)).cast::<T>().add(o) }
    }

    /// For the appender about to write slot `o`: the chunk of each array
    /// that slot starts is faulted in now, one call instead of a page fault
    /// per page, and never past it, so the bucket's untouched tail stays
    /// non-resident ([`Block::prefault_ahead`]).
    #[inline(always)]
    fn prefault_ahead(&self, o: usize) {
        self.block.prefault_ahead::<Timestamp>(0, self.cap, o);
        self.block.prefault_ahead::<SeqNo>(Self::seqs_offset(self.cap), self.cap, o);
        self.block.prefault_ahead::<T>(Self::vals_offset(self.cap), self.cap, o);
    }

    /// Fence `j < cap / BLOCK`: the timestamp of slot `(j + 1) * BLOCK - 1`.
    /// Raw, like [`ts`](Self::ts): meaningful once that slot is below a
    /// published `len` (R4).
    #[inline(always)]
    fn fence(&self, j: usize) -> *mut Timestamp {
        debug_assert!(j < self.cap / BLOCK);
        // SAFETY: `j < cap / BLOCK`: within the block's fence array (`new`).
        unsafe { self.block.as_ptr().add(Self::fences_offset(self.cap)).cast::<Timestamp>().add(j) }
    }

    /// Writes slot `o` (its chunk faulted in first), and the fence of its
    /// block with the block's last slot.
    ///
    /// # Safety
    ///
    /// R3/R4: the caller is the run's only appender, and slot `o < cap` is
    /// at or past the published length and unwritten, so no reader looks at
    /// it — nor at the fence of its block, read only once `len` covers the
    /// block's last slot — yet.
    #[inline(always)]
    unsafe fn write_slot(&self, o: usize, ts: Timestamp, seq: SeqNo, val: T) {
        self.prefault_ahead(o);
        self.ts_cell(o).store(ts, std::sync::atomic::Ordering::Relaxed);
        self.seq_cell(o).store(seq, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: slot `o < cap` (checked by `ts_cell`), unwritten and ours
        // alone (this function's contract).
        unsafe { self.val(o).write(val) };
        // The block's fence, with its last record: published with it (R4).
        if (o + 1) % BLOCK == 0 {
            // SAFETY: `o / BLOCK < cap / BLOCK` (a complete block); ours
            // alone until `len` covers the slot (this function's contract).
            unsafe { self.fence(o / BLOCK).write(ts) };
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        self.regions[o].init();
    }

    /// A reader touches slot `o` (model checkers: a tracked read; std: nothing).
    #[inline(always)]
    fn read_slot(&self, _o: usize) {
        #[cfg(any(timelog_loom, timelog_shuttle))]
        self.regions[_o].read();
    }

    /// As the run is dropped, with its first `n` slots the only ones ever
    /// written (R3/R4: the appender publishes what it writes before it
    /// returns, and runs no caller code in between) and their payloads
    /// dropped or moved out: zeroes them, so the block is all zero again,
    /// as [`Block::zeroed`] hands it out, and offers it to the block pool
    /// (`segment::block`). Zeroing what was written costs a pass over
    /// resident memory; a fresh block costs a zeroed page from the kernel
    /// per 4 KiB, faulted in, and an unmapping.
    fn recycle(&mut self, n: usize) {
        if self.block.poolable() {
            self.zero_written(n);
            self.block.keep(crate::segment::block::Keep::Zeroed);
        }
    }

    /// Zeroes the first `n` slots of every array (and their fences): with
    /// them the only ones written, the block is all zero again.
    fn zero_written(&mut self, n: usize) {
        debug_assert!(n <= self.cap);
        // SAFETY: `&mut self`: the run is being dropped (R6/R9), no other
        // thread reaches the bucket; each range lies within its array of
        // `cap` slots (`new`), and the payload slots hold no value any more
        // (dropped or moved out by the caller), so writing their bytes
        // drops nothing.
        unsafe {
            ptr::write_bytes(self.ts(0), 0, n);
            ptr::write_bytes(self.seq(0), 0, n);
            ptr::write_bytes(self.val(0).cast::<u8>(), 0, n * std::mem::size_of::<T>());
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            ptr::write_bytes(self.fence(0), 0, n / BLOCK);
        }
    }
}

/// The slot types of the timestamp and sequence arrays: always `std`
/// atomics (like `sync::stat`), so the model checkers spend no
/// interleavings on them; R4 is checked on the slot's `Region` instead.
type AtomicI64Slot = std::sync::atomic::AtomicI64;
type AtomicU64Slot = std::sync::atomic::AtomicU64;

/// A run slot's atomic view, and the plain integer it is stored as.
trait Slot {
    type Plain;
}
impl Slot for AtomicI64Slot {
    type Plain = Timestamp;
}
impl Slot for AtomicU64Slot {
    type Plain = SeqNo;
}

/// Where index `i` lives: (bucket, offset, bucket capacity).
#[inline]
fn locate(i: usize) -> (usize, usize, usize) {
    let j = (i >> FIRST_SHIFT) + 1;
    let k = (usize::BITS - 1 - j.leading_zeros()) as usize;
    let start = FIRST * ((1usize << k) - 1);
    (k, i - start, FIRST << k)
}

/// One slot of the run, located ([`Run::slot_at`]).
pub(crate) struct RunSlot<'r, T> {
    b: &'r Bucket<T>,
    o: usize,
}

impl<T> RunSlot<'_, T> {
    /// Its timestamp (R4, as in [`Run::ts_at`]).
    #[inline]
    pub(crate) fn ts(&self) -> Timestamp {
        self.b.ts_cell(self.o).load(Ordering::Relaxed)
    }

    /// Its sequence (R4, as in [`Run::seq_at`]).
    #[inline]
    pub(crate) fn seq(&self) -> SeqNo {
        self.b.seq_cell(self.o).load(Ordering::Relaxed)
    }
}

/// A contiguous piece of the run: `len` records starting at the given pointers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunSlice<T> {
    pub ts: *const Timestamp,
    pub seq: *const SeqNo,
    pub val: *const T,
    pub len: usize,
}

pub(crate) struct Run<T> {
    buckets: [AtomicPtr<Bucket<T>>; BUCKETS],
    /// The first appended timestamp (the run's minimum), written once by
    /// the first append before its slot is published; `Timestamp::MAX`
    /// before. Readers test it before anything else: a query below it skips
    /// the run without touching the line the appender writes per record.
    first_ts: AtomicI64,
    /// The first timestamp of each bucket, contiguous (std builds): written
    /// by the appender with the bucket's slot 0, before `len` publishes it,
    /// and read only for buckets whose slot 0 lies below a loaded `len`
    /// (R4, as the block fences). A search picks its bucket by counting
    /// the heads below its key — independent loads of one small array, no
    /// branch on each — instead of stepping down bucket by bucket (a load
    /// of the bucket, then of its slot 0, and a branch whose exit a random
    /// key mispredicts).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    heads: [AtomicI64; BUCKETS],
    /// Whether a search opens with its interpolated probe
    /// ([`interpolate`](Self::interpolate)): set by the appender as it opens
    /// each bucket, from a sample of the run so far
    /// ([`interpolation_fits`](crate::segment::interpolation_fits)), read
    /// Relaxed (std builds). It decides only how a search starts, never its
    /// answer: a stale value costs a probe or saves none.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    interp: AtomicBool,
    /// With `interp`, whether the probe opens with its branch-free window
    /// ([`Fit::Window`](crate::segment::Fit::Window)); set and read as
    /// `interp` is, and as harmless when stale.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    window: AtomicBool,
    /// What the appender writes on every record, on a cache line of its own
    /// (readers of older data, who skip the run by `first_ts`, never load it).
    hot: crossbeam_utils::CachePadded<Hot>,
    /// Set as the run is dropped when its payloads were moved out
    /// ([`forget_payloads`](Self::forget_payloads)): the drop then drops none.
    moved: bool,
}

struct Hot {
    /// Number of published slots (R4: written with Release after the slot).
    len: AtomicUsize,
    /// Last appended timestamp; written only by the appender, read by it
    /// and, racily, by writers deciding that a record is late (`before_tail`).
    last_ts: AtomicI64,
}

// SAFETY: slots are written only by the single appender (R3) before `len`
// is published with Release, and read only below a `len` loaded with
// Acquire (R4); payloads are shared across threads as `&T`, hence the
// `Sync` bound on `T`.
unsafe impl<T: Send + Sync> Sync for Run<T> {}
// SAFETY: the run owns its payloads (R6); moving it moves ownership of `T: Send`.
unsafe impl<T: Send> Send for Run<T> {}

impl<T> Run<T> {
    pub(crate) fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            first_ts: AtomicI64::new(Timestamp::MAX),
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            heads: std::array::from_fn(|_| AtomicI64::new(Timestamp::MAX)),
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            interp: AtomicBool::new(true),
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            window: AtomicBool::new(false),
            hot: crossbeam_utils::CachePadded::new(Hot {
                len: AtomicUsize::new(0),
                last_ts: AtomicI64::new(Timestamp::MIN),
            }),
            moved: false,
        }
    }

    /// The appender (R3).
    ///
    /// # Safety
    ///
    /// The caller holds the run's appender right for as long as the
    /// returned value lives (R3: taken by the door's acquiring entering
    /// CAS, given back by a releasing store after the appender is gone) —
    /// or the run is not shared (tests).
    #[inline]
    pub(crate) unsafe fn appender(&self) -> Appender<'_, T> {
        Appender { run: self }
    }

    /// The last appended timestamp (every record of the memtable, late
    /// ones included, is `<=` it once published); a racy hint (R3: only
    /// the appender writes it).
    #[inline]
    pub(crate) fn last_ts_hint(&self) -> Timestamp {
        self.hot.last_ts.load(Ordering::Relaxed)
    }

    /// The run's smallest timestamp, or `Timestamp::MAX` while no record is
    /// published. Every record a snapshot can see is `>=` it (the store
    /// precedes the first slot's publication and so every commit of the
    /// run's records, R4/R5).
    #[inline]
    pub(crate) fn first_ts(&self) -> Timestamp {
        self.first_ts.load(Ordering::Acquire)
    }

    /// Published length (R4).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.hot.len.load(Ordering::Acquire)
    }

    #[inline]
    fn bucket(&self, k: usize) -> &Bucket<T> {
        let p = self.buckets[k].load(Ordering::Acquire);
        // An index past every allocated bucket (a misuse), or a broken
        // publication (the model checkers' seeded faults): a panic, never
        // a null dereference.
        assert!(!p.is_null(), "R4 violated: a slot below `len` lies in an unpublished bucket");
        // SAFETY: non-null: the appender stored the pointer (Release) after
        // building the bucket, and buckets are freed only on drop (R6/R9).
        unsafe { &*p }
    }

    /// Timestamp at `i`. Meaningful for `i < len()` (R4); for a larger `i`
    /// it is 0 or a value being written, or a panic past the allocated
    /// buckets — never undefined behaviour (see [`Bucket`]).
    #[inline]
    pub(crate) fn ts_at(&self, i: usize) -> Timestamp {
        crate::hooks::visit(1);
        let (k, o, _) = locate(i);
        let b = self.bucket(k);
        b.read_slot(o);
        // R4: below a published `len`, the appender's store happens-before this load.
        b.ts_cell(o).load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sequence number at `i`; like [`ts_at`](Self::ts_at).
    #[inline]
    pub(crate) fn seq_at(&self, i: usize) -> SeqNo {
        crate::hooks::visit(1);
        let (k, o, _) = locate(i);
        let b = self.bucket(k);
        b.read_slot(o);
        b.seq_cell(o).load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Slot `i`, located once (its bucket and offset), for a caller that
    /// reads its timestamp and then, maybe, its sequence — another array,
    /// another cache line, loaded only if asked ([`RunSlot`]); like
    /// [`ts_at`](Self::ts_at) for the values past `len()`.
    #[inline]
    pub(crate) fn slot_at(&self, i: usize) -> RunSlot<'_, T> {
        crate::hooks::visit(1);
        let (k, o, _) = locate(i);
        let b = self.bucket(k);
        b.read_slot(o);
        RunSlot { b, o }
    }

    /// Payload at `i`. Panics unless `i < len()` (one more Acquire load of
    /// the length: payloads are read once per returned record, not per
    /// search step).
    #[inline]
    pub(crate) fn val_at(&self, i: usize) -> &T {
        assert!(i < self.len(), "run index {i} past the published length");
        let (k, o, _) = locate(i);
        let b = self.bucket(k);
        b.read_slot(o);
        // SAFETY: `i` is below a published `len` (checked above, R4): the
        // slot was initialized by `push` before that publication and is
        // never written again; the payload lives as long as the run (R6).
        unsafe { &*b.val(o) }
    }

    /// The payloads from `lo` (`< hi <= len()`) to the end of its bucket or
    /// `hi`, whichever comes first: [`slice_at`](Self::slice_at)'s, as a
    /// slice.
    #[inline]
    pub(crate) fn vals_at(&self, lo: usize, hi: usize) -> &[T] {
        assert!(lo < hi && hi <= self.len(), "run slice past the published length");
        let s = self.slice_at(lo, hi);
        // SAFETY: the slots lie below a published `len` (checked above,
        // R4): initialized by `push` before that publication, never written
        // again, alive as long as the run (R6), which `&self` borrows.
        unsafe { std::slice::from_raw_parts(s.val, s.len) }
    }

    /// First index in `[lo, hi)` whose timestamp is `>= ts` (hi if none).
    /// `hi <= len()` (R4).
    pub(crate) fn lower_bound(&self, ts: Timestamp, lo: usize, hi: usize) -> usize {
        self.seek(ts, false, lo, hi).pos
    }

    /// First index in `[lo, hi)` whose timestamp is `> ts`.
    pub(crate) fn upper_bound(&self, ts: Timestamp, lo: usize, hi: usize) -> usize {
        self.seek(ts, true, lo, hi).pos
    }

    /// [`upper_bound`](Self::upper_bound) when `incl`, else
    /// [`lower_bound`](Self::lower_bound), with the timestamps beside the
    /// answer that the search read, within `[lo, hi)` ([`Seek`]; none
    /// under the model checkers, whose search reads cells one by one).
    #[inline]
    pub(crate) fn seek(&self, ts: Timestamp, incl: bool, lo: usize, hi: usize) -> Seek {
        #[cfg(any(timelog_loom, timelog_shuttle))]
        return Seek::pos(self.search(lo, hi, Bucket::ts, |x: &AtomicI64Slot| {
            let x = x.load(Ordering::Relaxed);
            if incl {
                x <= ts
            } else {
                x < ts
            }
        }));
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        self.search_ts(ts, incl, lo, hi)
    }

    /// [`lower_bound`](Self::lower_bound) (`upper_bound` when `incl`) in
    /// std builds: the bucket that holds the answer
    /// ([`answer_bucket`](Self::answer_bucket)), then in it its fences (the partition point over the complete blocks of
    /// the range) and one block of timestamps — independent loads of a
    /// small array and of one block's lines, as a segment's search, not a
    /// binary search's chain of dependent misses over the whole bucket.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    fn search_ts(&self, ts: Timestamp, incl: bool, lo: usize, hi: usize) -> Seek {
        if lo >= hi {
            return Seek::pos(lo);
        }
        if let Some(seek) = self.interpolate(ts, incl, lo, hi) {
            return seek;
        }
        let (b, start, hi) = self.head_bucket(ts, incl, lo, hi);
        // SAFETY: `start <= i < hi <= len`: the bucket's slots `0 .. hi -
        // start`, initialized before `len` was published and never written
        // again (R4); read as plain integers, as a cursor reads a run slice.
        let stamps = unsafe { std::slice::from_raw_parts(b.ts(0).cast_const(), hi - start) };
        // The answer is in `[a, hi]`: past the complete blocks whose fence
        // is below, within the first block whose is not (or the incomplete
        // last one).
        let (a, n) = (start.max(lo) - start, hi - start);
        let (fa, fb) = (a / BLOCK, n / BLOCK);
        // SAFETY: fence `j < fb` was written with slot `(j + 1) * BLOCK - 1
        // < n`, before `len` covered it (R4, the appender's `push`); within
        // the fence array (`fb <= cap / BLOCK`).
        let fences = unsafe { std::slice::from_raw_parts(b.fence(0).cast_const(), fb) };
        let j = fa + crate::segment::fence_count(&fences[fa..], ts, incl);
        let (x, y) = (a.max(j * BLOCK), n.min((j + 1) * BLOCK));
        crate::hooks::visit(1);
        let i = x + crate::segment::count_below(&stamps[x..y], ts, incl);
        // `stamps` holds `[start, hi)`; a neighbour below `lo` is not the
        // caller's to read.
        let first = start.max(lo) - start;
        Seek::within(start + i, &stamps[first..], i - first)
    }

    /// [`search_ts`](Self::search_ts)'s first probe, by interpolation, as
    /// a segment's ([`Segment::interpolate`](crate::segment::Segment)):
    /// the position `ts` would have were the timestamps of `[lo, hi)`
    /// evenly spread between the first and the last, and a gallop from it
    /// within its bucket ([`probe_near`](crate::segment::probe_near)); when
    /// the answer is near the guess, the bucket heads and fences are not
    /// read. Otherwise `None` (an answer on a bucket boundary or at an end
    /// of the range, timestamps spread unevenly there, or a run whose
    /// sample turned the probe off: `interp`), for the general search. For
    /// `lo < hi <= len` (R4: every slot read is published).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    #[inline(always)]
    fn interpolate(&self, ts: Timestamp, incl: bool, lo: usize, hi: usize) -> Option<Seek> {
        if !self.interp.load(Ordering::Relaxed) {
            return None;
        }
        self.probe(ts, incl, lo, hi, self.window.load(Ordering::Relaxed))
    }

    /// [`interpolate`](Self::interpolate) whether or not the run suits it
    /// (what the appender's sample measures).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    #[inline(always)]
    fn probe(&self, ts: Timestamp, incl: bool, lo: usize, hi: usize, window: bool) -> Option<Seek> {
        let lim = crate::segment::below_limit(ts, incl)?;
        let g = self.guess(ts, lim, lo, hi)?;
        let (k, o, cap) = locate(g);
        let b = self.bucket(k);
        if !incl {
            // A lower bound: the payloads' line at the guess starts loading
            // beside the timestamps' (as `Segment::interpolate`'s).
            crate::segment::prefetch(b.val(o));
        }
        let start = g - o;
        // The bucket of `g`, cut to the range.
        let (x, y) = (start.max(lo), (start + cap).min(hi));
        // SAFETY: `lo <= x < y <= hi <= len`, all in bucket `k` (`start <=
        // x`, `y <= start + cap`): published slots, initialized before
        // `len` covered them and never written again (R4); read as plain
        // integers, as `search_ts` reads a bucket.
        let stamps = unsafe { std::slice::from_raw_parts(b.ts(x - start).cast_const(), y - x) };
        let i = crate::segment::probe_near(stamps, lim, g - x, window)?;
        crate::hooks::visit(1);
        Some(Seek::within(x + i, stamps, i))
    }

    /// [`probe`](Self::probe)'s guess of `ts` (`lim`, its
    /// [`below_limit`](crate::segment::below_limit)) in `[lo, hi)`: on the
    /// line through the range's first and last timestamps; `None` when the
    /// answer is at an end of the range (`lim` below the first or at or
    /// above the last).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    #[inline(always)]
    fn guess(&self, ts: Timestamp, lim: Timestamp, lo: usize, hi: usize) -> Option<usize> {
        let (first, last) = (self.slot_at(lo).ts(), self.slot_at(hi - 1).ts());
        if lim < first || lim >= last {
            return None;
        }
        Some(crate::segment::Line::through(lo, first, hi - 1, last).guess(ts, hi).max(lo))
    }

    /// [`answer_bucket`](Self::answer_bucket) of a timestamp search in
    /// std builds, from the bucket heads: the bucket holding `lo`, plus
    /// one for each later bucket up to the one holding `hi - 1` whose
    /// first timestamp is below `ts` (`<= ts` when `incl`) — a prefix of
    /// them, the run being sorted. Each of those buckets starts in `[lo,
    /// hi)`, below `len` (R4): its head was stored before `len` covered
    /// its slot 0.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    #[inline]
    fn head_bucket(&self, ts: Timestamp, incl: bool, lo: usize, hi: usize) -> (&Bucket<T>, usize, usize) {
        let (k_lo, _, _) = locate(lo);
        let (k_hi, _, _) = locate(hi - 1);
        crate::hooks::visit(1);
        let mut k = k_lo;
        if let Some(lim) = crate::segment::below_limit(ts, incl) {
            for h in &self.heads[k_lo + 1..=k_hi] {
                k += crate::segment::flag(h.load(Ordering::Relaxed) <= lim);
            }
        }
        let start = FIRST * ((1usize << k) - 1);
        (self.bucket(k), start, hi.min(start + (FIRST << k)))
    }

    /// First index in `[lo, hi)` whose sequence is `> seq`. Sequence
    /// numbers increase along the run (R3).
    #[inline]
    pub(crate) fn seq_upper_bound(&self, seq: SeqNo, lo: usize, hi: usize) -> usize {
        // Common case, inline: the whole range is visible (one probe).
        if hi > lo && self.seq_at(hi - 1) <= seq {
            return hi;
        }
        self.seq_search(seq, lo, hi)
    }

    /// [`seq_upper_bound`](Self::seq_upper_bound)`(seq, 0, len)` for a
    /// caller that has read `last`, the sequence at `len - 1` (`len > 0`,
    /// published: R4) — after its timestamp, from the slot located once
    /// ([`slot_at`](Self::slot_at)): the whole run when `last` is visible,
    /// without locating that slot again.
    #[inline]
    pub(crate) fn visible_len(&self, seq: SeqNo, len: usize, last: SeqNo) -> usize {
        if last <= seq {
            len
        } else {
            self.seq_search(seq, 0, len)
        }
    }

    /// [`seq_upper_bound`](Self::seq_upper_bound) past its first probe.
    #[inline(never)]
    fn seq_search(&self, seq: SeqNo, lo: usize, hi: usize) -> usize {
        self.search(lo, hi, Bucket::seq, |x: &AtomicU64Slot| x.load(Ordering::Relaxed) <= seq)
    }

    /// First index in `[lo, hi)` (`hi <= len()`, R4) whose slot of the
    /// array `arr` fails `below`, which holds on a prefix (the run is
    /// sorted by timestamp and by sequence, R3): the bucket that holds it
    /// ([`answer_bucket`](Self::answer_bucket)), searched as a slice of
    /// cells — no bucket lookup per probe, as [`ts_at`](Self::ts_at) pays.
    #[inline]
    fn search<A>(
        &self,
        lo: usize,
        hi: usize,
        arr: fn(&Bucket<T>, usize) -> *mut A::Plain,
        below: impl Fn(&A) -> bool,
    ) -> usize
    where
        A: Slot,
    {
        if lo >= hi {
            return lo;
        }
        let cell = |b: &Bucket<T>, o: usize| {
            crate::hooks::visit(1);
            b.read_slot(o);
            // SAFETY: callers pass a slot `o` of a bucket below `len`
            // (`answer_bucket`'s first slot, or `start <= i < hi <= len`
            // below): initialized before `len` was published and never
            // written again (R4); an `A` is the atomic view of the slot's
            // plain integer (same size and alignment, std API contract), as
            // `ts_cell`/`seq_cell`.
            below(unsafe { &*arr(b, o).cast::<A>() })
        };
        let (b, start, hi) = self.answer_bucket(lo, hi, |b| cell(b, 0));
        // The answer is in `[a, hi]`.
        let a = start.max(lo);
        #[cfg(any(timelog_loom, timelog_shuttle))]
        return partition(a, hi, |i| cell(b, i - start));
        // std's branch-free binary search over the bucket's cells.
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            // SAFETY: as in `cell`, for slots `a - start .. hi - start` of
            // the bucket, all below `len` (R4).
            let cells = unsafe { std::slice::from_raw_parts(arr(b, a - start).cast::<A>(), hi - a) };
            a + cells.partition_point(|x| {
                crate::hooks::visit(1);
                below(x)
            })
        }
    }

    /// The bucket that holds the answer of a search of `[lo, hi)` (`lo <
    /// hi <= len()`, R4) whose predicate holds on a prefix, with its first
    /// index and `hi` clipped to it: bucket by bucket, from the one holding
    /// `hi - 1` back, the first that starts at or before `lo` or whose first
    /// slot `first_below` (called only for a bucket starting after `lo`, so
    /// its slot 0 lies in `[lo, hi)`, below `len`) finds below. Buckets
    /// double in size, so a uniformly random key is in the last bucket half
    /// the time, and reads of recent data nearly always.
    #[inline]
    fn answer_bucket(
        &self,
        lo: usize,
        mut hi: usize,
        first_below: impl Fn(&Bucket<T>) -> bool,
    ) -> (&Bucket<T>, usize, usize) {
        let (mut k, _, _) = locate(hi - 1);
        loop {
            let start = FIRST * ((1usize << k) - 1);
            let b = self.bucket(k);
            if start <= lo || first_below(b) {
                return (b, start, hi);
            }
            // Everything from `start` on fails: the answer is at or below it.
            hi = start;
            k -= 1;
        }
    }

    /// Splits `[lo, hi)` into contiguous slices, one per bucket touched.
    /// The pointers are raw: a reader dereferences only slices below a
    /// published `len` (R4), which `hi <= len()` gives (debug-checked).
    pub(crate) fn slices(&self, lo: usize, hi: usize, out: &mut Vec<RunSlice<T>>) {
        let mut i = lo;
        while i < hi {
            let s = self.slice_at(i, hi);
            i += s.len;
            out.push(s);
        }
    }

    /// The first of [`slices`](Self::slices)`(lo, hi)`: positions from `lo`
    /// (`< hi <= len()`) to the end of its bucket or `hi`, whichever comes
    /// first.
    #[inline]
    pub(crate) fn slice_at(&self, lo: usize, hi: usize) -> RunSlice<T> {
        debug_assert!(lo < hi && hi <= self.len(), "a slice past the published length");
        let (k, o, cap) = locate(lo);
        let n = (cap - o).min(hi - lo);
        let b = self.bucket(k);
        #[cfg(any(timelog_loom, timelog_shuttle))]
        for x in o..o + n {
            b.read_slot(x);
        }
        RunSlice { ts: b.ts(o), seq: b.seq(o), val: b.val(o), len: n }
    }
}

/// Generic binary search: first index in `[lo, hi)` for which `pred` is false
/// (pred must be true on a prefix).
#[inline]
pub(crate) fn partition(mut lo: usize, mut hi: usize, pred: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// First index in `[lo, hi)` for which `before` is false (`before` holds
/// on a prefix), probing `lo`, `lo + 1`, `lo + 3`, … before a binary
/// search: `O(log d)` for an answer `d` positions after `lo` (between two
/// late records the run's stretch is short; a short read's end lies a few
/// records after its start).
#[inline]
pub(crate) fn gallop(lo: usize, hi: usize, before: impl Fn(usize) -> bool) -> usize {
    if lo >= hi || !before(lo) {
        return lo;
    }
    // `before(a)` holds: the answer is past `a`.
    let (mut a, mut step) = (lo, 1);
    loop {
        let probe = a + step;
        if probe >= hi || !before(probe) {
            return partition(a + 1, probe.min(hi), before);
        }
        a = probe;
        step *= 2;
    }
}

/// Exclusive right to append to a run (R3), borrowed from the holder of the
/// door's appender right (see [`Run::appender`]).
pub(crate) struct Appender<'a, T> {
    run: &'a Run<T>,
}

impl<T> Appender<'_, T> {
    /// Whether `ts` may be appended (it is not before the last appended one).
    #[inline]
    pub(crate) fn accepts(&self, ts: Timestamp) -> bool {
        ts >= self.run.hot.last_ts.load(Ordering::Relaxed)
    }

    /// Appends one record and publishes it (R4). Caller checked `accepts(ts)`.
    pub(crate) fn push(&mut self, ts: Timestamp, seq: SeqNo, val: T) {
        let i = self.run.hot.len.load(Ordering::Relaxed);
        let (k, o, cap) = locate(i);
        let b = self.bucket(k, cap);
        // SAFETY: `write_slot`'s contract: we are the only appender (R3)
        // and slot `i` (offset `o < cap` of bucket `k`) is at or past the
        // published length, unwritten.
        unsafe { b.write_slot(o, ts, seq, val) };
        self.publish(i, k, o, ts, 1, ts);
    }

    /// Appends the sorted records `recs` yields (the first accepted, see
    /// [`accepts`](Self::accepts)), up to `n` of them, with the sequences
    /// `first, first + 1, ..`: a bucket at a time, its slots written in one
    /// pass and published by one store (R4). Returns how many were
    /// appended (`n`, or fewer if `recs` ended first) and the last
    /// timestamp appended.
    pub(crate) fn extend(
        &mut self,
        recs: &mut impl Iterator<Item = (Timestamp, T)>,
        n: usize,
        first: SeqNo,
    ) -> (usize, Option<Timestamp>) {
        let (mut done, mut last) = (0, None);
        while done < n {
            let i = self.run.hot.len.load(Ordering::Relaxed);
            let (k, o, cap) = locate(i);
            let b = self.bucket(k, cap);
            let room = (cap - o).min(n - done);
            // Seeded fault (R4, bulk): the bucket's part of the batch is
            // published before its slots are written.
            #[cfg(timelog_fault = "run_extend_early_publish")]
            self.run.hot.len.store(i + room, Ordering::Release);
            let (mut m, mut head, mut tail) = (0, 0, 0);
            while m < room {
                let Some((ts, val)) = recs.next() else { break };
                debug_assert!(if m == 0 { self.accepts(ts) } else { ts >= tail }, "a bulk append is sorted");
                if m == 0 {
                    head = ts;
                }
                // SAFETY: as in `push`, for slot `i + m` (offset `o + m <
                // cap`): past the published length `i`, unwritten.
                unsafe { b.write_slot(o + m, ts, first + (done + m) as SeqNo, val) };
                (m, tail) = (m + 1, ts);
            }
            if m == 0 {
                break;
            }
            self.publish(i, k, o, head, m, tail);
            (done, last) = (done + m, Some(tail));
            if m < room {
                break;
            }
        }
        (done, last)
    }

    /// Bucket `k` (of `cap` slots), allocated and published (Release) by
    /// this appender if it is the first to reach it.
    #[inline(always)]
    fn bucket(&self, k: usize, cap: usize) -> &Bucket<T> {
        assert!(k < BUCKETS, "memtable run capacity exhausted");
        let run = self.run;
        let mut b = run.buckets[k].load(Ordering::Acquire);
        if b.is_null() {
            b = Box::into_raw(Box::new(Bucket::new(cap)));
            run.buckets[k].store(b, Ordering::Release);
        }
        // SAFETY: a bucket, once published, lives as long as the run (freed
        // only by its `Drop`), which outlives this borrow of it.
        unsafe { &*b }
    }

    /// R4: publishes the `m` slots written from index `i` (offset `o` of
    /// bucket `k`), whose timestamps run from `head` to `tail`: what a
    /// reader of the new length may read about them first — the bucket's
    /// head and the search's sample when slot 0 of a bucket is among them,
    /// the run's first timestamp for its very first slot, the last
    /// timestamp — then the length, with Release.
    #[inline(always)]
    fn publish(&self, i: usize, k: usize, o: usize, head: Timestamp, m: usize, tail: Timestamp) {
        let run = self.run;
        // The bucket's head, with its slot 0: published with it (R4).
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        if o == 0 {
            run.heads[k].store(head, Ordering::Relaxed);
            // Once per bucket (a doubling): does the run so far suit the
            // interpolated probe? (Its own published slots `[0, i)`.)
            if i > 0 {
                let fit = crate::segment::interpolation_fits(
                    i,
                    |j| run.slot_at(j).ts(),
                    |t| {
                        let g = run.guess(t, crate::segment::below_limit(t, false)?, 0, i)?;
                        run.probe(t, false, 0, i, false).map(|s| s.pos as isize - g as isize)
                    },
                );
                run.interp.store(fit != crate::segment::Fit::Off, Ordering::Relaxed);
                run.window.store(fit == crate::segment::Fit::Window, Ordering::Relaxed);
            }
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        let _ = (k, o);
        if i == 0 {
            // Before the slot is published (R4), so before any commit that
            // makes the record visible: a reader that may see a record of
            // this run sees `first_ts` set.
            run.first_ts.store(head, Ordering::Release);
        }
        run.hot.last_ts.store(tail, Ordering::Relaxed);
        // R4: publish the slots.
        #[cfg(not(timelog_fault = "run_relaxed_publish"))]
        run.hot.len.store(i + m, Ordering::Release);
        // Seeded fault (R4): a Relaxed publication orders nothing.
        #[cfg(timelog_fault = "run_relaxed_publish")]
        run.hot.len.store(i + m, Ordering::Relaxed);
    }
}

impl<T> Run<T> {
    /// For a run whose payloads were moved out (its memtable's heir owns
    /// them, `Memtable::set_heir`), as it is dropped: its drop then frees
    /// the buckets and drops no payload.
    pub(crate) fn forget_payloads(&mut self) {
        self.moved = true;
    }
}

impl<T> Drop for Run<T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return;
        }
        let len = self.hot.len.unsync_get();
        for (k, slot) in self.buckets.iter_mut().enumerate() {
            let p = slot.unsync_get();
            if p.is_null() {
                continue;
            }
            // SAFETY: R6/R9: `&mut self`, no other thread can reach the run;
            // the pointer came from `Box::into_raw` in `push`.
            let mut b = unsafe { Box::from_raw(p) };
            let start = FIRST * ((1usize << k) - 1);
            let n = len.saturating_sub(start).min(FIRST << k);
            if !self.moved {
                // SAFETY: R4: slots below `len` were initialized by `push`
                // and are dropped once, here (unless they were moved out to
                // the memtable's heir, `forget_payloads`: it drops them).
                unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(b.val(0), n)) };
            }
            b.recycle(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_indices_contiguously() {
        let mut expect = (0usize, 0usize);
        for i in 0..100_000 {
            let (k, o, cap) = locate(i);
            assert_eq!((k, o), expect, "index {i}");
            expect = if o + 1 == cap { (k + 1, 0) } else { (k, o + 1) };
        }
    }

    #[test]
    fn append_search_and_slices() {
        let run = Run::new();
        {
            // SAFETY: the run is not shared: this is its only appender.
            let mut a = unsafe { run.appender() };
            for i in 0..1000i64 {
                assert!(a.accepts(i / 3));
                a.push(i / 3, i as u64 + 1, format!("v{i}"));
            }
            assert!(!a.accepts(-1));
        }
        assert_eq!(run.len(), 1000);
        assert_eq!(run.lower_bound(10, 0, 1000), 30);
        assert_eq!(run.upper_bound(10, 0, 1000), 33);
        assert_eq!(run.seq_upper_bound(500, 0, 1000), 500);
        let mut s = Vec::new();
        run.slices(10, 900, &mut s);
        assert_eq!(s.iter().map(|x| x.len).sum::<usize>(), 890);
        assert_eq!(run.val_at(999), "v999");
    }

    /// `extend` appends what one `push` per record appends — timestamps,
    /// sequences, payloads, the searches' fences and bucket heads — across
    /// buckets, after pushes and in pieces that start and end mid-bucket,
    /// and stops where the records end.
    /// A dropped run's mapped bucket goes to the block pool all zero, as
    /// `Block::zeroed` hands it out (the next memtable's bucket of that size
    /// may be this one): zeroing its written slots (timestamps, sequences,
    /// payload slots, fences) leaves every byte zero.
    #[test]
    fn a_bucket_with_its_written_slots_zeroed_is_all_zero() {
        for written in [0usize, 1, 63, 64, 3000, 4096] {
            let mut b = Bucket::<u64>::new(4096);
            for o in 0..written {
                // SAFETY: `write_slot`'s contract: the bucket is ours alone
                // and slot `o` is unwritten.
                unsafe { b.write_slot(o, o as i64 + 1, o as u64 + 7, o as u64 + 9) };
            }
            b.zero_written(written);
            // SAFETY: the block's bytes are initialized (zeroed at
            // allocation, then written) and nothing else reaches them.
            let bytes = unsafe { std::slice::from_raw_parts(b.block.as_ptr(), b.block.size()) };
            assert!(bytes.iter().all(|&x| x == 0), "{written} written: not all zero");
        }
    }

    #[test]
    fn extend_appends_what_push_appends() {
        let n = 9 * FIRST * 4 + 3;
        let ts: Vec<i64> = (0..n as i64).map(|i| i / 3).collect();
        let (one, bulk) = (Run::new(), Run::new());
        {
            // SAFETY: the runs are not shared: these are their only appenders.
            let (mut a, mut b) = unsafe { (one.appender(), bulk.appender()) };
            for (i, &t) in ts.iter().enumerate() {
                a.push(t, i as u64 + 1, format!("v{i}"));
            }
            let mut recs = ts.iter().enumerate().map(|(i, &t)| (t, format!("v{i}")));
            // One push, then pieces of 1, FIRST + 5, 3 * FIRST, ... records.
            let (t0, v0) = recs.next().unwrap();
            b.push(t0, 1, v0);
            let (mut done, mut piece) = (1, 1);
            while done < n {
                let want = piece.min(n - done);
                let (m, last) = b.extend(&mut recs, want, done as u64 + 1);
                assert_eq!((m, last), (want, Some(ts[done + want - 1])));
                done += m;
                piece = piece * 3 + 5;
            }
            assert_eq!(b.extend(&mut recs, 10, n as u64 + 1), (0, None), "the records ended");
        }
        assert_eq!(one.len(), bulk.len());
        for i in 0..n {
            assert_eq!((one.ts_at(i), one.seq_at(i), one.val_at(i)), (bulk.ts_at(i), bulk.seq_at(i), bulk.val_at(i)));
        }
        assert_eq!(one.first_ts(), bulk.first_ts());
        assert_eq!(one.last_ts_hint(), bulk.last_ts_hint());
        for x in [-1, 0, 7, ts[n / 2], ts[n - 1], ts[n - 1] + 1] {
            for incl in [false, true] {
                assert_eq!(one.seek(x, incl, 0, n).pos, bulk.seek(x, incl, 0, n).pos, "seek({x}, {incl})");
            }
        }
    }

    /// The searches (bucket by bucket, then inside one bucket) against
    /// `partition_point` on the flat arrays: every probe, windows `[lo, hi)`
    /// that start and end inside, at and across bucket boundaries, runs of
    /// equal timestamps spanning buckets.
    #[test]
    fn searches_match_flat_search_across_buckets() {
        let n = 5 * FIRST * 8;
        let ts: Vec<i64> = (0..n as i64).map(|i| i / 7 - 3).collect();
        let run = Run::new();
        {
            // SAFETY: the run is not shared: this is its only appender.
            let mut a = unsafe { run.appender() };
            for (i, &t) in ts.iter().enumerate() {
                a.push(t, 2 * i as u64 + 1, i);
            }
        }
        let seq: Vec<u64> = (0..n as u64).map(|i| 2 * i + 1).collect();
        let starts: Vec<usize> = (0..6).map(|k| FIRST * ((1 << k) - 1)).collect();
        let mut edges: Vec<usize> = vec![0, 1, n / 3, n - 1, n];
        for &s in &starts {
            edges.extend([s.saturating_sub(1), s, s + 1].into_iter().filter(|&e| e <= n));
            // Block boundaries inside the bucket (the fences' edges, std builds).
            edges.extend([s + BLOCK - 1, s + BLOCK, s + 3 * BLOCK + 1].into_iter().filter(|&e| e <= n));
        }
        for &lo in &edges {
            for &hi in &edges {
                if lo > hi {
                    continue;
                }
                let (t, q) = (&ts[lo..hi], &seq[lo..hi]);
                for x in -5..(n as i64 / 7 + 3) {
                    assert_eq!(
                        run.lower_bound(x, lo, hi),
                        lo + t.partition_point(|&y| y < x),
                        "lower_bound({x}, {lo}, {hi})"
                    );
                    assert_eq!(
                        run.upper_bound(x, lo, hi),
                        lo + t.partition_point(|&y| y <= x),
                        "upper_bound({x}, {lo}, {hi})"
                    );
                    // A seek's neighbours, where it read them, are the
                    // window's records beside its position.
                    for incl in [false, true] {
                        let k = run.seek(x, incl, lo, hi);
                        let i = k.pos - lo;
                        assert!(k.at.is_none_or(|y| Some(&y) == t.get(i)), "seek({x}, {incl}, {lo}, {hi}).at");
                        assert!(
                            k.before.is_none_or(|y| i > 0 && y == t[i - 1]),
                            "seek({x}, {incl}, {lo}, {hi}).before"
                        );
                    }
                }
                for x in [0u64, 1, 2, 63, 64, 129, 2 * n as u64] {
                    assert_eq!(
                        run.seq_upper_bound(x, lo, hi),
                        lo + q.partition_point(|&y| y <= x),
                        "seq_upper_bound({x})"
                    );
                }
            }
        }
    }

    /// The interpolated first probe of a search answers as the general
    /// search (bucket heads, fences, one block) whenever it answers, for
    /// steady, bursty and skewed timestamps and windows inside the run;
    /// and it answers most searches of a steady run (the shape it exists
    /// for).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    #[test]
    fn interpolated_probe_agrees_with_the_general_search() {
        let n = 40_000usize;
        type Shape = fn(i64) -> i64;
        let shapes: [(&str, Shape); 5] = [
            ("steady", |i| 1_000 + i * 10),
            ("steady, duplicates", |i| i / 3),
            // A run whose late records went to the skiplist: every
            // twentieth timestamp missing, so the answers lie a position
            // or two from the guesses, either way.
            ("steady, one in twenty missing", |i| i + i / 19),
            ("bursts", |i| (i / 700) * 1_000_000 + i % 700),
            ("skewed", |i| i * i),
        ];
        for (name, f) in shapes {
            let ts: Vec<i64> = (0..n as i64).map(f).collect();
            let run = Run::new();
            {
                // SAFETY: the run is not shared: this is its only appender.
                let mut a = unsafe { run.appender() };
                for (i, &t) in ts.iter().enumerate() {
                    a.push(t, i as u64 + 1, i);
                }
            }
            // The appender keeps the probe where it pays only.
            let steady = name.starts_with("steady");
            assert_eq!(run.interp.load(Ordering::Relaxed), steady, "{name}: probe kept");
            // The branch-free window where the answers scatter around the
            // guesses, not where they are the guesses.
            if name == "steady" || name.ends_with("missing") {
                assert_eq!(run.window.load(Ordering::Relaxed), name.ends_with("missing"), "{name}: window");
            }
            for (lo, hi) in [(0, n), (1, n - 1), (FIRST * 3 + 5, n / 2), (n / 2, n / 2 + 3 * BLOCK)] {
                let (mut hits, mut probes) = (0usize, 0usize);
                for j in (lo..hi).step_by(7) {
                    for x in [ts[j] - 1, ts[j], ts[j] + 1] {
                        for incl in [false, true] {
                            probes += 1;
                            let want = lo + ts[lo..hi].partition_point(|&y| if incl { y <= x } else { y < x });
                            // The probe forced on, wherever the run stands.
                            if let Some(k) = run.probe(x, incl, lo, hi, false) {
                                hits += 1;
                                assert_eq!(k.pos, want, "{name}: interpolate({x}, {incl}, {lo}, {hi})");
                                assert_eq!(k.at, ts.get(k.pos).copied(), "{name}: at");
                                assert_eq!(k.before, Some(ts[k.pos - 1]), "{name}: before");
                            }
                            // The branch-free window first: the same answers.
                            if let Some(k) = run.probe(x, incl, lo, hi, true) {
                                assert_eq!(k.pos, want, "{name}: window({x}, {incl}, {lo}, {hi})");
                                assert_eq!(k.before, Some(ts[k.pos - 1]), "{name}: window's before");
                            }
                            assert_eq!(run.seek(x, incl, lo, hi).pos, want, "{name}: seek({x}, {incl}, {lo}, {hi})");
                        }
                    }
                }
                if name == "steady" || name.ends_with("missing") {
                    assert!(hits * 10 >= probes * 9, "{name}: {hits} of {probes} searches interpolated");
                }
            }
        }
    }

    /// Issue 12: reading past the published length is defined: a
    /// timestamp/sequence read gives 0 inside an allocated bucket (zeroed)
    /// or panics past them; a payload read panics.
    #[test]
    fn reads_past_len_are_defined() {
        let run = Run::new();
        {
            // SAFETY: the run is not shared: this is its only appender.
            let mut a = unsafe { run.appender() };
            for i in 0..10i64 {
                a.push(i + 100, i as u64 + 1, i);
            }
        }
        assert_eq!(run.ts_at(9), 109);
        assert_eq!(run.ts_at(10), 0, "an unwritten slot of an allocated bucket reads as 0");
        assert_eq!(run.seq_at(FIRST - 1), 0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.ts_at(FIRST)));
        assert!(r.is_err(), "a slot in an unallocated bucket panics");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *run.val_at(10)));
        assert!(r.is_err(), "a payload past the length panics");
        assert_eq!(*run.val_at(9), 9);
    }
}
