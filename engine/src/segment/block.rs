//! Large fixed-size buffers that go back to the operating system when freed.
//!
//! Memtable run buckets and segment pages are the engine's big, short- or
//! medium-lived allocations: a flush frees a whole memtable, a compaction
//! frees the pages it rewrote. (So are a memtable's merged view's arrays,
//! which live with it: `blockvec.rs`, since session 41.) Taken from the C heap (glibc `malloc`), they
//! fragment it: glibc serves a large request with `mmap` only until the
//! first such chunk is freed, then raises its mmap threshold to that size
//! (up to 32 MiB) and serves the next ones from the `brk` heap, whose free
//! space below a live chunk stays resident — so resident memory follows the
//! high-water mark of every transient buffer ever held, not what is live
//! (measured: 10–14 MiB of free heap held under a 100,000-record sliding
//! window, docs/performance.md, "Memory").
//!
//! A [`Block`] of at least [`MAP_MIN`] bytes is mapped directly
//! (`mmap`/`munmap`, Linux), so its memory is returned when it is freed and
//! its untouched tail (the unused slots of a run bucket, of a segment's
//! last page) is never resident. A writer that fills one in order faults
//! its pages in a 16 KiB chunk at a time as it reaches them
//! ([`Block::prefault_ahead`]), one call instead of a fault per page, so
//! at most the rest of the chunk being written is resident past its
//! records.
//! Smaller blocks come from the global
//! allocator. The process-wide malloc settings are left alone. Under the
//! model checkers every block comes from the global allocator.
//!
//! A freed mapped block whose owner marked it reusable ([`Block::keep`])
//! goes to a small process-wide pool instead of back to the kernel, and the
//! next block of the same size is taken from there, or, failing one, cut
//! from a larger pooled block at a page boundary (session 47): a log that
//! streams writes frees a memtable's run buckets at each flush and its L0
//! pages at each compaction, and allocates the same sizes again right
//! after — and a flush of several sealed memtables writes each segment's
//! pages into the buckets of the memtable flushed before it — and the
//! kernel's side of a fresh mapping (the `mmap`, a zeroed page per fault,
//! the `munmap` and its TLB shootdown) was about half of the CPU of a
//! stream of 10,000-record `bulk_append` calls (session 39, `perf`). The
//! pool is bounded ([`pool::MAX_BYTES`]) and is emptied back to the kernel
//! when a log settles: an explicit `flush()` or `compact()` runs as a
//! [`Settle`] (the pool is emptied and keeps nothing until it ends, so
//! the memtables it flushes are unmapped, not zeroed for a reuse that
//! will not come), and [`release_pool`] runs when the background worker
//! has finished its idle work; a block freed after that (a reader letting
//! go of a flushed memtable late) is unmapped, not kept, until the next
//! block is allocated. So memory freed by a flush is still returned to the OS once
//! a log is flushed (issue 13, item 6); what a busy stream keeps is at
//! most the pool's bound, the memory it is about to use again. `close()`
//! leaves the pool as it is, like an allocator's free lists: a process
//! that opens logs one after another (tests, a log per request, a
//! benchmark's repeats) writes the next one into the last one's pages
//! (session 39: 500,000 records in 10,000-record calls, a log per repeat,
//! 18–25 → 11–13 ns a record); it holds at most the bound after its last
//! log closes (the C package, measured the same way, held 33 MiB after
//! closing a 1,000,000-record log, ours 13).

use std::alloc::Layout;
use std::ptr::NonNull;

/// Blocks of at least this many bytes are mapped directly (16 pages: the
/// syscall and the page faults are amortized over at least 8,192 slots of 8
/// bytes; below it the heap's reuse of small chunks is the better deal).
pub(crate) const MAP_MIN: usize = 64 << 10;

/// Page size assumed for the alignment of mapped blocks (mmap returns
/// page-aligned addresses; 4 KiB is the smallest page on Linux).
const MAP_ALIGN: usize = 4096;

/// An owned, uninitialized, fixed-size buffer of `size` bytes aligned to
/// `align`. Its contents are the owner's business (it never drops them).
pub(crate) struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    mapped: bool,
    /// Taken from the pool: its pages are resident and hold what its last
    /// owner left (zero if taken by [`zeroed`](Self::zeroed)).
    reused: bool,
    /// What the owner promised for the pool when it is dropped ([`keep`](Self::keep)).
    keep: Keep,
}

/// What a dropped mapped block may be pooled as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Keep {
    /// Unmapped (the default).
    No,
    /// Pooled for [`Block::new`], which promises no contents.
    Any,
    /// Pooled for [`Block::zeroed`] too: every byte is zero again.
    Zeroed,
}

// SAFETY: a `Block` is plain owned memory (like `Box<[MaybeUninit<u8>]>`);
// what lives in it, and so whether it may be shared, is decided by its
// owner's own `Send`/`Sync` bounds (std API contract of raw allocations).
unsafe impl Send for Block {}
// SAFETY: as above; `&Block` only hands out the base pointer.
unsafe impl Sync for Block {}

impl Block {
    /// A block of `size` bytes aligned to `align` (a power of two). Aborts
    /// through [`std::alloc::handle_alloc_error`] when memory is exhausted.
    pub(crate) fn new(size: usize, align: usize) -> Self {
        Self::alloc(size, align, false)
    }

    /// Like [`new`](Self::new), every byte zero (a mapped block is zero
    /// already: the kernel's fresh pages).
    pub(crate) fn zeroed(size: usize, align: usize) -> Self {
        Self::alloc(size, align, true)
    }

    fn alloc(size: usize, align: usize, zeroed: bool) -> Self {
        let layout = Layout::from_size_align(size, align).expect("block layout");
        if size == 0 {
            // A dangling, aligned pointer: nothing is ever read or written
            // through it (zero slots, or zero-sized slots).
            let ptr = NonNull::new(align as *mut u8).expect("alignment is non-zero");
            return Self { ptr, layout, mapped: false, reused: false, keep: Keep::No };
        }
        if size >= MAP_MIN && layout.align() <= MAP_ALIGN {
            // A pooled block of this size is page-aligned, as a fresh mapping is.
            if let Some(ptr) = pool::take(size, zeroed) {
                return Self { ptr, layout, mapped: true, reused: true, keep: Keep::No };
            }
            if let Some(ptr) = map(layout) {
                return Self { ptr, layout, mapped: true, reused: false, keep: Keep::No };
            }
        }
        // SAFETY: `layout` has a non-zero size (checked above) (std::alloc API contract).
        let p = unsafe {
            if zeroed {
                std::alloc::alloc_zeroed(layout)
            } else {
                std::alloc::alloc(layout)
            }
        };
        let Some(ptr) = NonNull::new(p) else { std::alloc::handle_alloc_error(layout) };
        Self { ptr, layout, mapped: false, reused: false, keep: Keep::No }
    }

    /// The first byte.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Whether the block was mapped directly (returned to the OS on drop).
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        self.mapped
    }

    /// Whether [`keep`](Self::keep) would pool the block now (a mapped
    /// block, while the pool is armed): an owner that must prepare the
    /// contents first (zero them) asks before it does the work.
    #[inline]
    pub(crate) fn poolable(&self) -> bool {
        self.mapped && pool::armed()
    }

    /// Its size in bytes.
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.layout.size()
    }

    /// Tests: a mapped block of `size` bytes as the pool hands one out
    /// reused, every byte 0xAB (what a last owner left) and resident.
    #[cfg(all(test, target_os = "linux"))]
    pub(crate) fn reused_for_test(size: usize, align: usize) -> Self {
        let layout = Layout::from_size_align(size, align).expect("block layout");
        let b = Self { ptr: map(layout).expect("mmap"), layout, mapped: true, reused: true, keep: Keep::No };
        // SAFETY: the block owns `size` writable bytes.
        unsafe { std::ptr::write_bytes(b.as_ptr(), 0xAB, size) };
        b
    }

    /// Marks the block for the pool when it is dropped (a mapped block
    /// only; a heap block is freed to the heap either way). The owner
    /// calls it once it is done with the contents, e.g. in its `Drop`:
    /// [`Keep::Zeroed`] promises that every byte is zero again (what
    /// [`zeroed`](Self::zeroed) hands out), [`Keep::Any`] promises
    /// nothing. The pool takes the block if it has room:
    /// its budget counts a block's whole size, resident or not (a block's
    /// untouched pages stay non-resident through a reuse until written).
    pub(crate) fn keep(&mut self, keep: Keep) {
        self.keep = keep;
    }

    /// Returns the whole pages inside bytes `[off, off + len)` of a block
    /// taken from the pool to the kernel (`madvise(MADV_DONTNEED)`: they
    /// read as zero again and are not resident until written), so a reused
    /// block written only in part holds no more resident memory than a
    /// fresh one: the tail of a segment's short last page. A no-op for
    /// other blocks (a fresh mapping's untouched pages were never
    /// resident).
    ///
    /// # Safety
    ///
    /// No reference to those bytes is alive, and none is read before it is
    /// written again (their contents change to zero).
    pub(crate) unsafe fn discard(&self, off: usize, len: usize) {
        if !self.reused {
            return;
        }
        debug_assert!(off + len <= self.layout.size());
        // SAFETY: `[off, off + len)` lies inside the block (asserted
        // above, the caller's array); no reference covers it and nothing
        // reads it before writing it (this function's contract), and
        // MADV_DONTNEED on a private anonymous mapping makes the pages read
        // as zero afterwards (madvise(2)). A failure leaves them resident,
        // nothing else.
        unsafe { self.advise_pages(off, off + len, Advice::DontNeed) };
    }

    /// `madvise` with `advice` over the whole pages inside bytes `[lo,
    /// hi)` of the block (Linux; nothing elsewhere, nor when no whole page
    /// lies inside). A failure is ignored: both advices are a hint
    /// ([`prefault`](Self::prefault)) or a release of memory
    /// ([`discard`](Self::discard)).
    ///
    /// # Safety
    ///
    /// `hi <= size`, and what `advice` does to those pages is allowed by
    /// the caller's own contract (`discard`'s: no reference to them, none
    /// read before written again; `POPULATE_WRITE` changes no byte).
    #[inline]
    unsafe fn advise_pages(&self, lo: usize, hi: usize, advice: Advice) {
        #[cfg(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle))))]
        {
            const PAGE: usize = MAP_ALIGN;
            let base = self.ptr.as_ptr() as usize;
            let (start, end) = ((base + lo).next_multiple_of(PAGE), (base + hi) / PAGE * PAGE);
            if end > start {
                let advice = match advice {
                    Advice::PopulateWrite => libc::MADV_POPULATE_WRITE,
                    Advice::DontNeed => libc::MADV_DONTNEED,
                };
                // SAFETY: `[start, end)` lies inside this block's mapping
                // (`hi <= size`), and the advice's effect on it is the
                // caller's to allow (this function's contract).
                let _ = unsafe { libc::madvise(start as *mut libc::c_void, end - start, advice) };
            }
        }
        #[cfg(not(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle)))))]
        let _ = (lo, hi, advice);
    }
}

/// What [`Block::advise_pages`] asks of the kernel.
#[derive(Clone, Copy)]
enum Advice {
    /// `MADV_POPULATE_WRITE`: fault the pages in now (Linux 5.14 and later).
    PopulateWrite,
    /// `MADV_DONTNEED`: give the pages back; they read as zero.
    DontNeed,
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.layout.size() == 0 {
            return;
        }
        if self.mapped {
            if self.keep != Keep::No && pool::give(self.ptr, self.layout.size(), self.keep == Keep::Zeroed) {
                return;
            }
            unmap(self.ptr, self.layout.size());
            return;
        }
        // SAFETY: allocated in `new` by `std::alloc::alloc` with this layout, freed once (std::alloc API contract).
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

#[cfg(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle))))]
fn map(layout: Layout) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with no address hint touches no
    // existing memory; failure is reported as MAP_FAILED (mmap(2) contract).
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            layout.size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None; // fall back to the heap
    }
    NonNull::new(p.cast())
}

/// `size` rounded up to whole pages of the system's size: what a mapping of
/// `size` bytes spans, and so where the pool may cut a block
/// (`pool::Pool::take`).
#[cfg(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle))))]
fn span(size: usize) -> usize {
    // SAFETY: sysconf reads a constant of the process (sysconf(3)); a
    // failure (-1) falls back to the smallest Linux page.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    size.next_multiple_of(usize::try_from(page).unwrap_or(MAP_ALIGN).max(MAP_ALIGN))
}

#[cfg(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle))))]
fn unmap(ptr: NonNull<u8>, size: usize) {
    // SAFETY: `ptr..ptr+size` covers whole pages of a mapping made by `map`
    // (all of it, or a piece the pool cut at page boundaries, `span`) that
    // the dropped block or the pool owns alone, unmapped once: munmap(2)
    // unmaps every page the range touches, and a piece's last page is its
    // own (the pool cuts after `span(size)` bytes).
    let r = unsafe { libc::munmap(ptr.as_ptr().cast(), size) };
    debug_assert_eq!(r, 0, "munmap of an owned mapping failed");
}

#[cfg(not(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle)))))]
fn map(_layout: Layout) -> Option<NonNull<u8>> {
    None
}

#[cfg(not(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle)))))]
fn unmap(_ptr: NonNull<u8>, _size: usize) {
    unreachable!("no block is mapped on this platform");
}

/// Slots of an array a writer that fills it in order faults in at a time
/// ([`Block::prefault_ahead`]): 16 KiB (four pages) of 8-byte slots.
pub(crate) const PREFAULT_SLOTS: usize = 2048;

impl Block {
    /// For a writer that fills an array of this block in order: when slot
    /// `i` of the `cap`-slot array of `U` at byte offset `off` starts a
    /// chunk of [`PREFAULT_SLOTS`], has the kernel allocate that chunk's
    /// whole pages now, in one call, instead of one page fault per page as
    /// each is first written (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14 and
    /// later). Only a fresh mapped block (a heap block's pages are mostly
    /// resident already, and so are a pooled block's, which its last owner
    /// wrote), and never past the chunk being written: the
    /// untouched tail of a block stays non-resident, as before. A hint: it
    /// changes no byte (madvise(2): "as if manually writing to each page;
    /// however, avoid the actual memory access"); a failure (an older
    /// kernel) leaves the pages to fault in as they are written. Measured
    /// (session 22, a throwaway harness, medians of 50): 2.4 MB faulted in
    /// by writes 485 µs, populated first 245 µs.
    #[inline(always)]
    pub(crate) fn prefault_ahead<U>(&self, off: usize, cap: usize, i: usize) {
        // `&`, not `&&`: one branch for both flags (callgrind: the short circuit
        // cost `Appender::push` 2.4 instructions a record, session 39).
        if i % PREFAULT_SLOTS == 0 && (self.mapped & !self.reused) {
            self.prefault(
                off,
                cap * std::mem::size_of::<U>(),
                i * std::mem::size_of::<U>(),
                PREFAULT_SLOTS * std::mem::size_of::<U>(),
            );
        }
    }

    /// [`prefault_ahead`](Self::prefault_ahead) in bytes: the pages inside
    /// `[from, from + chunk)` of the array of `len` bytes at `off`.
    #[cold]
    fn prefault(&self, off: usize, len: usize, from: usize, chunk: usize) {
        // SAFETY: the range ends within the caller's array (`off + len`
        // bytes, within the block), and MADV_POPULATE_WRITE reads and
        // writes no byte the program sees (madvise(2), quoted above).
        unsafe { self.advise_pages(off + from, off + (from + chunk).min(len), Advice::PopulateWrite) };
    }
}

/// Returns every pooled block to the kernel (module docs): a log has
/// settled (an explicit `flush()` or `compact()`, or the worker's idle
/// work done), so nothing is about to reuse them. Until the
/// next block is allocated, a freed block is unmapped, not pooled.
pub(crate) fn release_pool() {
    pool::release();
}

/// An explicit `flush()` or `compact()` in progress (module docs): while
/// one lives the pool is disarmed and no allocation arms it, so what the
/// flush or compaction frees is unmapped at once; it is emptied as the
/// settle starts and again as it ends (a block another thread gave it in
/// between).
#[must_use = "the pool stays disarmed only while the guard lives"]
pub(crate) struct Settle(());

/// Starts a [`Settle`].
pub(crate) fn settle() -> Settle {
    pool::settle(true);
    pool::release();
    Settle(())
}

impl Drop for Settle {
    fn drop(&mut self) {
        pool::settle(false);
        pool::release();
    }
}

/// The pool of freed mapped blocks (module docs). Behind a mutex that is
/// only ever *tried* (`try_lock`), like the tombstone stacks' pool: a
/// thread that finds it taken maps or unmaps instead, so no reader, writer
/// or maintainer waits for another (design.md's lock-freedom), and a
/// process forked while another thread held it never waits on it either
/// (its child just stops pooling). Not in the model checkers' builds (no
/// block is mapped there, and a static would outlive one execution).
#[cfg(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle))))]
mod pool {
    use std::ptr::NonNull;

    // The `sync` shim's types (std ones in these builds; the contention
    // audit's recording wrappers with `contention-audit`), as every atomic
    // and mutex of the engine.
    use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering};

    /// Bytes of freed blocks the pool keeps at most: a default memtable's
    /// run buckets (4 MiB of records: about 6 MiB of buckets, the last one
    /// partly used) and a compaction's worth of 256 KiB pages.
    pub(super) const MAX_BYTES: usize = 16 << 20;

    struct Pooled {
        addr: usize,
        size: usize,
        zeroed: bool,
    }

    struct Held {
        blocks: Vec<Pooled>,
        bytes: usize,
    }

    pub(super) struct Pool {
        held: Mutex<Held>,
        /// Whether freed blocks are kept: set by every allocation of a
        /// mapped block, cleared by [`release`](Self::release) (module docs).
        armed: AtomicBool,
        max_bytes: usize,
    }

    /// The process's pool.
    static POOL: Pool = Pool::new(MAX_BYTES);

    /// Explicit flushes and compactions in progress ([`super::Settle`]):
    /// while any runs, an allocation does not arm the pool.
    static SETTLING: AtomicUsize = AtomicUsize::new(0);

    impl Pool {
        pub(super) const fn new(max_bytes: usize) -> Self {
            Self { held: Mutex::new(Held { blocks: Vec::new(), bytes: 0 }), armed: AtomicBool::new(false), max_bytes }
        }

        /// A kept block of at least `size` bytes (all zero if `zeroed`);
        /// arms the pool unless `settling`.
        ///
        /// A block of the same size in pages is taken whole. Failing one, a
        /// larger block is cut: its first pages are handed out and the rest
        /// stays in the pool as a block of its own (or is unmapped, if
        /// shorter than [`MAP_MIN`](super::MAP_MIN)) — a mapping's pages
        /// are unmapped range by range as each piece is freed (munmap(2)
        /// takes any whole pages of a mapping). So a flush writes its
        /// segment pages into the run buckets of the memtable flushed just
        /// before it instead of into fresh pages from the kernel: with
        /// maintenance disabled, a writer whose busy help flushes eight
        /// sealed memtables in one call (issue 13's 2M `bulk_append` row)
        /// had all eight segments' pages faulted in fresh. Among larger
        /// blocks, a request that needs no zeros takes one that is not
        /// zeroed first (only a zeroed block serves both kinds), then the
        /// smallest.
        pub(super) fn take(&self, size: usize, zeroed: bool, settling: bool) -> Option<NonNull<u8>> {
            if !settling && !self.armed.load(Ordering::Relaxed) {
                self.armed.store(true, Ordering::Relaxed);
            }
            let span = super::span(size);
            let mut h = self.held.try_lock().ok()?;
            let i = (h.blocks.iter().enumerate())
                .filter(|(_, b)| b.size >= span && (b.zeroed || !zeroed))
                .min_by_key(|(_, b)| (b.size != span, b.zeroed && !zeroed, b.size))?
                .0;
            let b = h.blocks.swap_remove(i);
            h.bytes -= b.size;
            let rest = Pooled { addr: b.addr + span, size: b.size - span, zeroed: b.zeroed };
            let spare = if rest.size >= super::MAP_MIN {
                h.bytes += rest.size;
                h.blocks.push(rest);
                None
            } else {
                Some(rest)
            };
            drop(h);
            if let Some(r) = spare.filter(|r| r.size > 0) {
                super::unmap(NonNull::new(r.addr as *mut u8).expect("pooled block"), r.size);
            }
            NonNull::new(b.addr as *mut u8)
        }

        /// Keeps the freed block at `ptr` (`size` bytes, all zero if
        /// `zeroed`) if the pool is armed, has room and is free; whether it
        /// did (else the caller unmaps it). The pool counts it in whole pages.
        pub(super) fn give(&self, ptr: NonNull<u8>, size: usize, zeroed: bool) -> bool {
            if !self.armed.load(Ordering::Relaxed) {
                return false;
            }
            let size = super::span(size);
            let Ok(mut h) = self.held.try_lock() else { return false };
            if h.bytes + size > self.max_bytes {
                return false;
            }
            h.bytes += size;
            h.blocks.push(Pooled { addr: ptr.as_ptr() as usize, size, zeroed });
            true
        }

        /// Disarms the pool and unmaps what it holds. The lock is tried a
        /// few times (it is held for a few instructions at a time); if it
        /// stays taken, the blocks stay for the next release.
        pub(super) fn release(&self) {
            self.armed.store(false, Ordering::Relaxed);
            for _ in 0..64 {
                if let Ok(mut h) = self.held.try_lock() {
                    let blocks = std::mem::take(&mut h.blocks);
                    h.bytes = 0;
                    drop(h);
                    for b in blocks {
                        super::unmap(NonNull::new(b.addr as *mut u8).expect("pooled block"), b.size);
                    }
                    return;
                }
                std::thread::yield_now();
            }
        }

        /// Bytes held now.
        #[cfg(test)]
        pub(super) fn bytes(&self) -> usize {
            self.held.lock().unwrap().bytes
        }
    }

    pub(super) fn take(size: usize, zeroed: bool) -> Option<NonNull<u8>> {
        POOL.take(size, zeroed, SETTLING.load(Ordering::Relaxed) > 0)
    }

    /// Whether a freed block may be kept now (an owner that must prepare
    /// it first asks, `Block::poolable`).
    pub(super) fn armed() -> bool {
        POOL.armed.load(Ordering::Relaxed)
    }

    /// One more (`true`) or one fewer settle in progress.
    pub(super) fn settle(start: bool) {
        if start {
            SETTLING.fetch_add(1, Ordering::Relaxed);
        } else {
            SETTLING.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub(super) fn give(ptr: NonNull<u8>, size: usize, zeroed: bool) -> bool {
        POOL.give(ptr, size, zeroed)
    }

    pub(super) fn release() {
        POOL.release();
    }
}

/// No pool where no block is mapped (module docs).
#[cfg(not(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle)))))]
mod pool {
    use std::ptr::NonNull;

    pub(super) fn armed() -> bool {
        false
    }

    pub(super) fn settle(_start: bool) {}

    pub(super) fn take(_size: usize, _zeroed: bool) -> Option<NonNull<u8>> {
        None
    }

    pub(super) fn give(_ptr: NonNull<u8>, _size: usize, _zeroed: bool) -> bool {
        false
    }

    pub(super) fn release() {}
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Prefaulting chunks of a mapped block's array keeps every byte
    /// written before and writes none itself: a block filled in order
    /// with prefaults ahead reads back what was written, the rest zero.
    #[test]
    fn prefault_ahead_changes_no_byte() {
        let cap = 8 * PREFAULT_SLOTS + 100; // over MAP_MIN: a mapped block
        let b = Block::zeroed(8 + cap * 8, 8);
        assert_eq!(b.is_mapped(), cfg!(target_os = "linux"));
        let arr = |i: usize| {
            // SAFETY: slot `i < cap` of the `u64` array at offset 8.
            unsafe { b.as_ptr().add(8).cast::<u64>().add(i) }
        };
        for i in 0..5 * PREFAULT_SLOTS + 7 {
            b.prefault_ahead::<u64>(8, cap, i);
            // SAFETY: as above.
            unsafe { arr(i).write(i as u64 + 1) };
        }
        b.prefault_ahead::<u64>(8, cap, 7 * PREFAULT_SLOTS);
        for i in 0..cap {
            let want = if i < 5 * PREFAULT_SLOTS + 7 { i as u64 + 1 } else { 0 };
            // SAFETY: as above.
            assert_eq!(unsafe { arr(i).read() }, want, "slot {i}");
        }
    }

    #[test]
    fn small_blocks_use_the_heap_large_ones_are_mapped_on_linux() {
        let s = Block::new(1024, 8);
        assert!(!s.is_mapped());
        let l = Block::new(MAP_MIN, 8);
        assert_eq!(l.is_mapped(), cfg!(target_os = "linux"));
        assert_eq!(l.as_ptr() as usize % 8, 0);
        // Writable over its whole size.
        // SAFETY: the block owns MAP_MIN writable bytes.
        unsafe { std::ptr::write_bytes(l.as_ptr(), 0xAB, MAP_MIN) };
        let h = Block::zeroed(4096, 8);
        // SAFETY: the block owns 4096 zeroed bytes.
        assert!(unsafe { std::slice::from_raw_parts(h.as_ptr(), 4096) }.iter().all(|&b| b == 0));
        let z = Block::new(0, 16);
        assert_eq!(z.as_ptr() as usize % 16, 0);
    }

    /// Whether each 4 KiB page of `[p, p + len)` (page-aligned) is resident.
    #[cfg(target_os = "linux")]
    pub(crate) fn resident_pages(p: *const u8, len: usize) -> Vec<bool> {
        let mut v = vec![0u8; len.div_ceil(4096)];
        // SAFETY: `[p, p + len)` is a mapping of the caller's; mincore
        // writes one byte per page into `v`, which has room (mincore(2)).
        let r = unsafe { libc::mincore(p as *mut libc::c_void, len, v.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore");
        v.iter().map(|b| b & 1 == 1).collect()
    }

    /// The pool keeps freed blocks only while armed (by an allocation) and
    /// within its bound, hands a block back only for a size it holds (none
    /// larger here: `pool_cuts_larger_blocks_at_page_boundaries`), a
    /// `zeroed` request only a zeroed one, and a release unmaps what it
    /// holds and disarms it.
    #[cfg(target_os = "linux")]
    #[test]
    fn pool_keeps_exact_sizes_within_its_bound_until_released() {
        let size = MAP_MIN;
        let pool = pool::Pool::new(3 * size);
        let mapped = || map(Layout::from_size_align(size, 8).unwrap()).expect("mmap");
        let a = mapped();
        assert!(!pool.give(a, size, true), "a pool no allocation armed keeps nothing");
        unmap(a, size);
        assert!(pool.take(size, false, true).is_none(), "a settling take does not arm it");
        let b = mapped();
        assert!(!pool.give(b, size, false), "still disarmed");
        unmap(b, size);
        assert!(pool.take(size, false, false).is_none(), "an empty pool");
        let (z, any, c) = (mapped(), mapped(), mapped());
        assert!(pool.give(z, size, true));
        assert!(pool.give(any, size, false));
        assert!(pool.give(c, size, false));
        let d = mapped();
        assert!(!pool.give(d, size, false), "past the bound");
        unmap(d, size);
        assert_eq!(pool.bytes(), 3 * size);
        assert!(pool.take(size + 4096, false, false).is_none(), "another size");
        assert_eq!(pool.take(size, true, false), Some(z), "a zeroed request takes the zeroed block only");
        assert!(pool.take(size, true, false).is_none());
        assert!(pool.take(size, false, false).is_some());
        assert_eq!(pool.bytes(), size);
        pool.release();
        assert_eq!(pool.bytes(), 0);
        let e = mapped();
        assert!(!pool.give(e, size, false), "a release disarms the pool");
        unmap(e, size);
    }

    /// With no block of its size in pages, a request cuts a larger one:
    /// it gets the first pages, the rest stays pooled as its own block (or
    /// is dropped, if under `MAP_MIN`); a request that needs no zeros
    /// takes a block that is not zeroed before a zeroed one; each piece is
    /// unmapped on its own.
    #[cfg(target_os = "linux")]
    #[test]
    fn pool_cuts_larger_blocks_at_page_boundaries() {
        let big = 3 * MAP_MIN;
        let pool = pool::Pool::new(16 * MAP_MIN);
        let mapped = |size: usize| map(Layout::from_size_align(size, 8).unwrap()).expect("mmap");
        assert!(pool.take(MAP_MIN, false, false).is_none(), "arms the pool");
        let (z, any) = (mapped(big), mapped(big));
        // SAFETY: the block owns `big` writable bytes.
        unsafe { std::ptr::write_bytes(any.as_ptr(), 0xAB, big) };
        assert!(pool.give(z, big, true));
        assert!(pool.give(any, big, false));
        // A size that is not a whole number of pages: cut after its span.
        let n = MAP_MIN + 100;
        let a = pool.take(n, false, false).expect("cut from the block that is not zeroed");
        assert_eq!(a, any);
        assert_eq!(pool.bytes(), 2 * big - span(n));
        let b = pool.take(MAP_MIN, false, false).expect("the rest of the same block");
        assert_eq!(b.as_ptr() as usize, any.as_ptr() as usize + span(n));
        assert!(resident_pages(b.as_ptr(), MAP_MIN)[0], "the piece handed out is the old block's");
        // What was left of `any` after this cut is under MAP_MIN: not kept
        // (unmapped; not checked by address: another test thread may map
        // the hole at once).
        assert!(big - span(n) - MAP_MIN < MAP_MIN);
        assert_eq!(pool.bytes(), big, "only the zeroed block is pooled");
        let c = pool.take(MAP_MIN, true, false).expect("a zeroed request cuts the zeroed block");
        assert_eq!(c, z);
        // SAFETY: the piece `c` owns MAP_MIN bytes of a zeroed block.
        assert!(unsafe { std::slice::from_raw_parts(c.as_ptr(), MAP_MIN) }.iter().all(|&x| x == 0));
        assert_eq!(pool.bytes(), big - MAP_MIN);
        // Each piece goes back to the kernel on its own.
        for (p, size) in [(a, n), (b, MAP_MIN), (c, MAP_MIN)] {
            unmap(p, size);
        }
        pool.release();
        assert_eq!(pool.bytes(), 0);
    }

    /// A block taken from the pool: `discard` gives the whole pages inside
    /// the range back (they read zero and are not resident) and leaves the
    /// bytes of the pages it only partly covers as they were; on a fresh
    /// block it does nothing.
    #[cfg(target_os = "linux")]
    #[test]
    fn discard_returns_the_whole_pages_of_a_reused_block() {
        let size = 16 * 4096;
        let layout = Layout::from_size_align(size, 8).unwrap();
        let mut b = Block { ptr: map(layout).expect("mmap"), layout, mapped: true, reused: false, keep: Keep::No };
        // SAFETY: the block owns `size` writable bytes.
        unsafe { std::ptr::write_bytes(b.as_ptr(), 0xAB, size) };
        // SAFETY: nothing reads the range before writing it (below: only
        // after checking it was left alone).
        unsafe { b.discard(100, 8 * 4096) };
        assert!(resident_pages(b.as_ptr(), size).iter().all(|&r| r), "a fresh block's discard is a no-op");
        b.reused = true;
        // SAFETY: as above; the test reads the bytes back on purpose.
        unsafe { b.discard(100, 8 * 4096) };
        let res = resident_pages(b.as_ptr(), size);
        // Bytes [100, 100 + 32768): whole pages 1..8 go, pages 0 and 8 stay.
        assert_eq!(res, (0..16).map(|p| !(1..8).contains(&p)).collect::<Vec<_>>());
        // SAFETY: the block's `size` bytes are mapped and initialized (zero pages read as zero).
        let bytes = unsafe { std::slice::from_raw_parts(b.as_ptr(), size) };
        assert!(bytes[..4096].iter().all(|&x| x == 0xAB));
        assert!(bytes[4096..8 * 4096].iter().all(|&x| x == 0));
        assert!(bytes[8 * 4096..].iter().all(|&x| x == 0xAB));
    }
}
