//! A growable array in a [`Block`]: the arrays of a memtable's merged view
//! (R13, `memtable/merged.rs`).
//!
//! A view of a 100,000-record memtable is three arrays of 800 KB, written
//! once, in order, by the reads that build it, and freed with the
//! memtable. In `Vec`s they came from the C heap, whose large chunks are
//! fresh pages each time (glibc maps them, or trims them back to the
//! kernel once freed at the top of its heap): the first full scan of a
//! fresh 5%-late memtable spent about a third of its time in page faults
//! (session 41, `perf`). In [`Block`]s they take what the engine's other
//! big buffers have (`segment::block`): a fresh mapping faulted in a
//! 16 KiB chunk at a time as the build reaches it ([`Block::prefault_ahead`]),
//! and the block pool, so a log that streams builds each memtable's view
//! into the pages of the last one's. Capacities are rounded up to a power
//! of two ([`class`]), so views of memtables of about the same size take
//! blocks of the same size from the pool; the untouched tail of a fresh
//! block is never resident, and a reused block's is given back when the
//! array is frozen ([`BlockVec::discard_tail`]).

use std::marker::PhantomData;
use std::mem::{align_of, size_of};

use super::block::{self, Block, Keep};

/// A `Vec<U>` whose buffer is a [`Block`] (see the module docs).
pub(crate) struct BlockVec<U> {
    block: Block,
    len: usize,
    cap: usize,
    /// Slots below this are within `cap` and faulted in (or need no
    /// fault-in): an append that stays below it checks nothing else.
    ready: usize,
    _own: PhantomData<U>,
}

/// The capacity a request for `n` slots of `U` gets: `n` rounded up so
/// that the block's bytes are a power of two once they reach
/// [`block::MAP_MIN`] (the sizes the pool is likely to hold again), `n`
/// itself below (heap blocks, which the heap reuses at any size).
fn class<U>(n: usize) -> usize {
    let size = size_of::<U>().max(1);
    let bytes = n.saturating_mul(size);
    if bytes < block::MAP_MIN {
        n
    } else {
        bytes.next_power_of_two() / size
    }
}

impl<U> BlockVec<U> {
    /// An empty array with room for at least `n` slots.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let cap = class::<U>(n);
        Self { block: Block::new(cap * size_of::<U>(), align_of::<U>()), len: 0, cap, ready: 0, _own: PhantomData }
    }

    #[inline(always)]
    fn ptr(&self) -> *mut U {
        self.block.as_ptr().cast()
    }

    /// Makes room for `n` more slots, faulted in: one comparison while
    /// they stay below `ready`.
    #[inline(always)]
    fn room(&mut self, n: usize) {
        if self.len + n > self.ready {
            self.room_slow(n);
        }
    }

    /// [`room`](Self::room) past `ready`: a larger block if the slots do not
    /// fit (rare: a view's capacity is its memtable's record count when
    /// its build starts), and the chunks of [`block::PREFAULT_SLOTS`] the
    /// slots start faulted in ([`Block::prefault_ahead`]; a no-op for a
    /// heap or reused block), up to the end of the last one.
    #[cold]
    fn room_slow(&mut self, n: usize) {
        if self.cap - self.len < n {
            self.grow(n);
        }
        let end = self.len + n;
        let mut c = self.len.next_multiple_of(block::PREFAULT_SLOTS);
        while c < end {
            self.block.prefault_ahead::<U>(0, self.cap, c);
            c += block::PREFAULT_SLOTS;
        }
        self.ready = end.next_multiple_of(block::PREFAULT_SLOTS).min(self.cap);
    }

    /// Moves the slots into a block of the next capacity class with room
    /// for `extra` more.
    fn grow(&mut self, extra: usize) {
        let cap = class::<U>(self.len.saturating_add(extra).max(self.cap.saturating_mul(2)));
        let new = Block::new(cap * size_of::<U>(), align_of::<U>());
        // SAFETY: both blocks hold at least `len` slots of `U`, aligned
        // (`Block::new`), and are distinct allocations; the slots are moved
        // (the old block is freed below without dropping them: a `Block`
        // never drops its contents).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(), new.as_ptr().cast::<U>(), self.len) };
        let mut old = std::mem::replace(&mut self.block, new);
        // Its bytes are dead: the pool may hand it out again (no contents promised).
        old.keep(Keep::Any);
        self.cap = cap;
    }

    /// Appends `v`.
    #[inline]
    pub(crate) fn push(&mut self, v: U) {
        self.room(1);
        // SAFETY: slot `len < cap` lies within the block and holds no
        // value (std pointer API contract).
        unsafe { self.ptr().add(self.len).write(v) };
        self.len += 1;
    }

    /// Appends clones of `src`.
    #[inline]
    pub(crate) fn extend_cloned(&mut self, src: &[U])
    where
        U: Clone,
    {
        self.room(src.len());
        let dst = self.ptr();
        // SAFETY: `clone_into`'s contract: slots `len..len + src.len()` lie
        // within the block (`room` above), hold no value, and cannot
        // overlap `src` (borrowed, not ours); `len` counts what a
        // panicking `clone` leaves, so the array drops exactly that.
        unsafe { super::clone_into(dst, &mut self.len, src, None) };
    }

    /// Appends bitwise copies of `src`.
    ///
    /// # Safety
    ///
    /// The copies may be used, and dropped by this array, alongside the
    /// originals: `U` is plain data (`Copy`-like), or the caller keeps the
    /// array from dropping them (`merged::Vals`: `set_len(0)` first) and
    /// upholds whatever else sharing them requires (the
    /// `BitwisePayloads` promise).
    #[inline]
    pub(crate) unsafe fn extend_bitwise(&mut self, src: &[U]) {
        self.room(src.len());
        // SAFETY: `len + src.len() <= cap` (`room` above), inside the
        // block, which `src` (borrowed, not ours) cannot overlap (std pointer
        // API contract); what sharing the copies needs is the caller's
        // contract.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr().add(self.len), src.len()) };
        self.len += src.len();
    }

    /// Forgets the values past `n` (`n <= len`) without dropping them.
    ///
    /// # Safety
    ///
    /// The caller takes care of those values (they were bitwise copies
    /// nobody must drop, `merged::Vals`).
    pub(crate) unsafe fn set_len(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        self.len = n;
    }

    /// Gives the whole pages past the written slots back to the kernel if
    /// the block came from the pool ([`Block::discard`]): once the array is
    /// complete, so a view built into a larger, resident block holds no
    /// more memory than one built into a fresh block.
    pub(crate) fn discard_tail(&self) {
        let size = size_of::<U>();
        // SAFETY: slots at or past `len` hold no value and are never read
        // before written again (the caller's array is complete; a later
        // `push` writes a slot before anything reads it).
        unsafe { self.block.discard(self.len * size, (self.cap - self.len) * size) };
    }
}

impl<U> std::ops::Deref for BlockVec<U> {
    type Target = [U];
    #[inline(always)]
    fn deref(&self) -> &[U] {
        // SAFETY: the first `len` slots hold values (written by the
        // appends); the pointer is non-null and aligned, dangling only for
        // an empty block (`Block::new`), which a zero-length slice allows.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
    }
}

impl<U> Drop for BlockVec<U> {
    fn drop(&mut self) {
        // SAFETY: the first `len` slots hold values, dropped once, here;
        // the block is freed after (its own `Drop`).
        unsafe { std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.ptr(), self.len)) };
        // Its bytes are dead: the pool may hand it out again.
        self.block.keep(Keep::Any);
    }
}

// SAFETY: a `BlockVec<U>` owns its values as a `Vec<U>` does; `Block` is
// plain owned memory (std `Send`/`Sync` contracts, as for `Vec<U>`).
unsafe impl<U: Send> Send for BlockVec<U> {}
// SAFETY: as above: `&BlockVec<U>` only hands out `&[U]`.
unsafe impl<U: Sync> Sync for BlockVec<U> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends of every kind across prefault chunks and growths read back
    /// what was written, and every value is dropped once.
    #[test]
    fn appends_grow_and_drop_each_value_once() {
        let live = std::sync::Arc::new(());
        let mut v: BlockVec<(u64, std::sync::Arc<()>)> = BlockVec::with_capacity(3);
        let mut want = Vec::new();
        for i in 0..10_000u64 {
            let x = (i, live.clone());
            match i % 3 {
                0 => v.push(x.clone()),
                _ => v.extend_cloned(std::slice::from_ref(&x)),
            }
            want.push(i);
        }
        assert_eq!(v.iter().map(|x| x.0).collect::<Vec<_>>(), want);
        assert_eq!(std::sync::Arc::strong_count(&live), 1 + 10_000);
        drop(v);
        assert_eq!(std::sync::Arc::strong_count(&live), 1);
        let mut p: BlockVec<i64> = BlockVec::with_capacity(100_000);
        let src: Vec<i64> = (0..150_000).collect();
        // SAFETY: plain data.
        unsafe { p.extend_bitwise(&src[..70_000]) };
        // SAFETY: plain data.
        unsafe { p.extend_bitwise(&src[70_000..]) };
        p.discard_tail();
        assert_eq!(&p[..], &src[..]);
    }

    /// Capacities of mapped sizes are powers of two in bytes.
    #[test]
    fn capacity_classes() {
        assert_eq!(class::<u64>(10), 10);
        assert_eq!(class::<u64>(100_000), (1 << 20) / 8);
        assert_eq!(class::<[u8; 24]>(100_000), (4 << 20) / 24);
        assert_eq!(class::<()>(5), 5);
    }
}
