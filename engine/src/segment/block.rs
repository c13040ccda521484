//! Large fixed-size buffers that go back to the operating system when freed.
//!
//! Memtable run buckets and segment pages are the engine's big, short- or
//! medium-lived allocations: a flush frees a whole memtable, a compaction
//! frees the pages it rewrote. Taken from the C heap (glibc `malloc`), they
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
            return Self { ptr, layout, mapped: false };
        }
        if size >= MAP_MIN && layout.align() <= MAP_ALIGN {
            if let Some(ptr) = map(layout) {
                return Self { ptr, layout, mapped: true };
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
        Self { ptr, layout, mapped: false }
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
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.layout.size() == 0 {
            return;
        }
        if self.mapped {
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

#[cfg(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle))))]
fn unmap(ptr: NonNull<u8>, size: usize) {
    // SAFETY: `ptr..ptr+size` is exactly a mapping made by `map` and owned
    // by the dropped block, unmapped once (munmap(2) contract).
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
    /// later). Only a mapped block (a heap block's pages are mostly
    /// resident already), and never past the chunk being written: the
    /// untouched tail of a block stays non-resident, as before. A hint: it
    /// changes no byte (madvise(2): "as if manually writing to each page;
    /// however, avoid the actual memory access"); a failure (an older
    /// kernel) leaves the pages to fault in as they are written. Measured
    /// (session 22, a throwaway harness, medians of 50): 2.4 MB faulted in
    /// by writes 485 µs, populated first 245 µs.
    #[inline(always)]
    pub(crate) fn prefault_ahead<U>(&self, off: usize, cap: usize, i: usize) {
        if i % PREFAULT_SLOTS == 0 && self.mapped {
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
        #[cfg(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle))))]
        {
            const PAGE: usize = 4096;
            let base = self.ptr.as_ptr() as usize + off;
            let start = (base + from).next_multiple_of(PAGE);
            let end = (base + (from + chunk).min(len)) / PAGE * PAGE;
            if end > start {
                // SAFETY: `[start, end)` lies inside this block's mapping
                // (the caller's array, `off + len` bytes, is within it).
                // MADV_POPULATE_WRITE reads and writes no byte the program
                // sees (madvise(2), quoted above); a failure is ignored.
                let _ = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) };
            }
        }
        #[cfg(not(all(target_os = "linux", not(any(timelog_loom, timelog_shuttle)))))]
        let _ = (off, len, from, chunk);
    }
}

#[cfg(test)]
mod tests {
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
}
