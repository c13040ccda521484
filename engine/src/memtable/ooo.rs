//! The out-of-order index of a memtable: an insert-only lock-free skiplist
//! keyed by `(timestamp, sequence)`, whose nodes live in an arena owned by
//! the index (the LevelDB/RocksDB memtable design).
//!
//! - **Insert-only (R6).** Nothing is ever unlinked. A node — key, payload,
//!   height, and a tower of `height` next pointers — is bump-allocated from
//!   the index's [`Arena`] and freed (its payload dropped) only when the
//!   index itself is dropped, i.e. when no manifest and no snapshot holds
//!   the memtable (R9). So readers need no epoch pin and no reference
//!   count per step, and hand out `&T` for as long as they borrow the index.
//! - **Publication.** A node's fields are written before it is linked; it is
//!   linked bottom-up, each level by one compare-and-swap of its
//!   predecessor's next pointer with `Release` (level 0 first: a node is in
//!   the index once level 0 links it; the upper levels are shortcuts).
//!   Readers load every next pointer with `Acquire`, so whatever reaches a
//!   node sees its fields (R6; the same publication argument as R4).
//! - **Concurrent inserters.** Several writers insert at once (a memtable
//!   has one run appender and any number of late writers, R3). A lost CAS
//!   re-searches from the predecessor it had at that level — still before
//!   the key, since nothing is removed.
//! - **Finger.** Late records are mostly late by a few positions, so each
//!   insert starts from a racy *hint*: per level, the last node linked at
//!   that level. The insert climbs from level 0 to the first level whose
//!   hint brackets its key (hint before the key, hint's successor not),
//!   and searches down from there: `O(log d)` for a record `d` positions
//!   from the last insert, `O(log n)` otherwise. A hint is only a starting
//!   point: it is validated (its key compared) before use, and any node
//!   before the key is a correct starting point because nothing is removed.
//! - **Filter.** Beside the list, a fixed bitmap of the timestamps
//!   inserted (one bit per timestamp hash, [`FILTER_WORDS`] words, set by
//!   a `fetch_or` before the node is linked — so before the insert's
//!   commit, R5). A reader whose watermark covers a record loaded that
//!   watermark with `Acquire` after the record's commit, so it sees the
//!   record's bit: a clear bit proves that no record it can see is at that
//!   timestamp, and a point read of the memtable skips the list's search
//!   (R6, "filter"). With 5% late records most point reads of a memtable
//!   hit the run, and the search was a third of their cost (docs/performance.md,
//!   "Session 15"). A set bit proves nothing (another timestamp's hash, or
//!   a record the reader cannot see yet): the search runs as before. With
//!   50,000 late records in a memtable about half the bits are set, and
//!   the filter skips fewer searches as more come; it never changes an
//!   answer.
//! - **Keys are unique** (a sequence is allocated once), so no two nodes
//!   compare equal. Heights come from a hash of the key (branching factor 4,
//!   at most [`MAX_HEIGHT`]): deterministic, with no random state shared or
//!   kept per thread — which also keeps a loom execution reproducible.
//!
//! Under the model checkers the same code runs through the `sync` shim with
//! a lower height cap — 2 under shuttle, with a branching factor of 2 so
//! small scenarios build towers of both heights; 1 under loom, without the
//! finger, to keep its scenarios within CI's budget — and every node
//! carries a [`Region`], read on
//! every access, so loom reports a reader that reaches a node whose
//! initialization it is not ordered after (a broken publication) and a
//! node dropped while a reader may still reach it (R6/R9).

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::ptr;

use crate::sync::{stat, AtomicPtr, AtomicU64, AtomicUsize, Ordering, Region, UnsyncGet, MODEL};
use crate::{SeqNo, Timestamp};

/// A key: unique, since a sequence is allocated once.
pub(crate) type Key = (Timestamp, SeqNo);

/// The tallest tower (RocksDB's default; with branching 4 it serves
/// `4^12` = 16 M records per memtable at full speed). 2 under shuttle; 1
/// under loom (a sorted linked list: the upper levels and the finger
/// multiplied the interleavings of every loom scenario with a late record
/// past CI's budget — `docs/verification.md`).
pub(crate) const MAX_HEIGHT: usize = if cfg!(timelog_loom) {
    1
} else if MODEL {
    2
} else {
    12
};

/// Whether inserts start from the finger (module docs). Off under loom
/// only (see [`MAX_HEIGHT`]); shuttle and the std tests run it.
const FINGER: bool = !cfg!(timelog_loom);

/// log2 of the branching factor: a node reaches level `i` with probability
/// `2^-(BRANCH_BITS * i)`.
const BRANCH_BITS: u32 = if MODEL { 1 } else { 2 };

/// The first chunk of an arena; each next one doubles, up to [`MAX_CHUNK`]
/// (a memtable with a handful of late records pays a small chunk, a busy
/// one few allocations).
const MIN_CHUNK: usize = if MODEL { 256 } else { 4 << 10 };
const MAX_CHUNK: usize = 256 << 10;

/// Words of the timestamp filter (module docs): 1,024 (64 Kbit, 8 KiB per
/// memtable) in std builds, 2 under the model checkers (few atomics for
/// loom to track; collisions there only send reads to the search).
const FILTER_WORDS: usize = if MODEL { 2 } else { 1024 };
const FILTER_BITS_LOG2: u32 = (FILTER_WORDS * 64).trailing_zeros();
const _: () = assert!(FILTER_WORDS.is_power_of_two());

/// The filter word and bit of timestamp `ts` (a multiplicative hash: late
/// records cluster near the run's tail, so nearby timestamps must spread).
#[inline]
fn filter_bit(ts: Timestamp) -> (usize, u64) {
    let h = (ts as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FILTER_BITS_LOG2);
    ((h / 64) as usize, 1 << (h % 64))
}

/// The level-0 link's success ordering. Seeded fault (R6 publication):
/// `Relaxed`, so a reader may reach a node before its fields are visible.
#[cfg(not(timelog_fault = "skiplist_relaxed_link"))]
const LINK0: Ordering = Ordering::Release;
#[cfg(timelog_fault = "skiplist_relaxed_link")]
const LINK0: Ordering = Ordering::Relaxed;

/// A node. Allocated in the arena with room for `height` next pointers
/// after it (`tower` marks where they start).
#[repr(C)]
struct Node<T> {
    key: Key,
    height: usize,
    /// Written (created) by the inserter before the node is linked; read
    /// on every access (loom's check of the publication, R6).
    region: Region,
    val: T,
    tower: [AtomicPtr<Node<T>>; 0],
}

impl<T> Node<T> {
    /// Bytes of a node with `height` next pointers, rounded up to the
    /// node's alignment (so that consecutive nodes in a chunk stay aligned).
    fn size(height: usize) -> usize {
        let raw = std::mem::size_of::<Self>() + height * std::mem::size_of::<AtomicPtr<Self>>();
        raw.next_multiple_of(std::mem::align_of::<Self>())
    }

    /// Next pointer `i` of node `p`.
    ///
    /// # Safety
    ///
    /// `p` is a node of an index the caller borrows (alive: R6), and
    /// `i < p.height`; the tower was initialized before `p` was published
    /// (the `Release` link the caller's `Acquire` load synchronized with).
    #[inline(always)]
    unsafe fn next<'a>(p: *mut Self, i: usize) -> &'a AtomicPtr<Self> {
        // SAFETY: the caller's contract: `p` is a live node allocated with
        // room for `height > i` pointers after `tower` (`Node::size`), all
        // initialized before it was linked. The pointer keeps the
        // provenance of the whole arena chunk (never narrowed to a `&Node`).
        unsafe { &*(ptr::addr_of!((*p).tower) as *const AtomicPtr<Self>).add(i) }
    }

    /// The key of node `p`.
    ///
    /// # Safety
    ///
    /// `p` is a node of a borrowed index reached through an `Acquire` load
    /// of a link or hint (R6).
    #[inline(always)]
    unsafe fn key(p: *mut Self) -> Key {
        // SAFETY: the caller's contract: `p` is alive (R6) and its fields
        // were written before the `Release` that published it.
        unsafe {
            (*p).region.read();
            (*p).key
        }
    }
}

/// Height of the node for `key`: a hash of the key (unique) decides,
/// `P(height > i) = 2^-(BRANCH_BITS * i)`.
#[inline]
fn height_of(key: Key) -> usize {
    // splitmix64 of both halves.
    let mut z = (key.0 as u64) ^ key.1.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let h = 1 + (z.trailing_zeros() / BRANCH_BITS) as usize;
    if h > MAX_HEIGHT {
        MAX_HEIGHT
    } else {
        h
    }
}

/// Bits of a chunk's bump word that hold its offset; the bits above count
/// the bumps (one per node: the index's length without a counter of its
/// own).
const OFF_BITS: u32 = 40;
/// One bump of one node: `BUMP | size`.
const BUMP: u64 = 1 << OFF_BITS;
/// `Chunk::fit` before the chunk's first bump that did not fit.
const OPEN: u64 = u64::MAX;

/// One block of arena memory. `used` packs the bumps made (above
/// `OFF_BITS`) and the offset (below), which may run past `cap` (a failed
/// bump); the bytes below `min(offset, cap)` are handed out. Offsets only
/// grow, so the bumps that fit are the first ones: the first that does not
/// fit (the one whose offset was `<= cap`) stores their number in `fit`.
struct Chunk {
    base: *mut u8,
    cap: usize,
    used: AtomicU64,
    /// The nodes in the chunk once a bump did not fit, [`OPEN`] before.
    fit: AtomicU64,
    /// The chunk that was current before this one (all are freed together).
    prev: *mut Chunk,
}

/// A concurrent bump allocator: nodes of one index, freed all at once when
/// the index drops (R6). A node is claimed by one `fetch_add` on the
/// current chunk; a full chunk is replaced by one CAS of `cur`.
pub(crate) struct Arena {
    cur: AtomicPtr<Chunk>,
    align: usize,
    /// Bytes of the chunks that were filled and replaced (their unused
    /// tails included): std counter, any value is safe (`sync::stat`).
    full: stat::AtomicUsize,
    /// Bumps of the chunks that were replaced, counted by the replacer
    /// (`len_hint` only): std counter, any value is safe.
    full_bumps: stat::AtomicUsize,
}

impl Arena {
    fn new(align: usize) -> Self {
        Self {
            cur: AtomicPtr::new(ptr::null_mut()),
            align: align.max(16),
            full: stat::AtomicUsize::new(0),
            full_bumps: stat::AtomicUsize::new(0),
        }
    }

    fn layout(&self, cap: usize) -> Layout {
        Layout::from_size_align(cap, self.align).expect("arena chunk layout")
    }

    /// `size` bytes (a multiple of the arena's alignment), aligned,
    /// uninitialized, owned by the caller until the arena drops.
    fn alloc(&self, size: usize) -> *mut u8 {
        let mut c = self.cur.load(Ordering::Acquire);
        loop {
            // SAFETY: a chunk published by the `AcqRel` CAS below (its
            // header written before), freed only when the arena drops (R6).
            if let Some(ch) = unsafe { c.as_ref() } {
                let w = ch.used.fetch_add(BUMP | size as u64, Ordering::Relaxed);
                let off = (w & (BUMP - 1)) as usize;
                if off <= ch.cap && size <= ch.cap - off {
                    // SAFETY: `[off, off + size)` lies inside the chunk and
                    // this `fetch_add` gave it to us alone.
                    return unsafe { ch.base.add(off) };
                }
                if off <= ch.cap {
                    // The chunk's first bump that does not fit (offsets
                    // only grow): the `w >> OFF_BITS` bumps before it are
                    // its nodes, for good. Before any read that can see
                    // a node of a later chunk: this insert's own commit
                    // (R5) comes after this store.
                    ch.fit.store(w >> OFF_BITS, Ordering::Relaxed);
                }
            }
            // No chunk yet, or it is full: a new one, its first `size`
            // bytes ours; the loser of a race frees its chunk and retries.
            // SAFETY: as above.
            let prev_cap = unsafe { c.as_ref() }.map_or(0, |ch| ch.cap);
            let cap = (prev_cap * 2).clamp(MIN_CHUNK, MAX_CHUNK).max(size);
            let layout = self.layout(cap);
            // SAFETY: std `alloc` contract: `layout` has a non-zero size.
            let base = unsafe { alloc::alloc(layout) };
            if base.is_null() {
                alloc::handle_alloc_error(layout);
            }
            let new = Box::into_raw(Box::new(Chunk {
                base,
                cap,
                used: AtomicU64::new(BUMP | size as u64),
                fit: AtomicU64::new(OPEN),
                prev: c,
            }));
            match self.cur.compare_exchange(c, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    self.full.fetch_add(prev_cap, Ordering::Relaxed);
                    // SAFETY: as above.
                    let bumps = unsafe { c.as_ref() }.map_or(0, |ch| ch.bumps());
                    self.full_bumps.fetch_add(bumps, Ordering::Relaxed);
                    return base;
                }
                Err(actual) => {
                    // SAFETY: `new` was never published; we own it and its memory.
                    let lost = unsafe { Box::from_raw(new) };
                    // SAFETY: allocated just above with this layout.
                    unsafe { alloc::dealloc(lost.base, layout) };
                    c = actual;
                }
            }
        }
    }
}

impl Arena {
    /// Bytes handed out: every replaced chunk whole, and the claimed part
    /// of the current one (its unused tail is not counted, so the figure
    /// grows with the records, not by a chunk at a time). Inlined: every
    /// write reads it for the seal policy (`Memtable::bytes_and_ooo`).
    #[inline]
    fn bytes(&self) -> usize {
        let c = self.cur.load(Ordering::Acquire);
        // SAFETY: as in `alloc` (R6).
        let cur =
            unsafe { c.as_ref() }.map_or(0, |ch| ((ch.used.load(Ordering::Relaxed) & (BUMP - 1)) as usize).min(ch.cap));
        self.full.load(Ordering::Relaxed) + cur
    }

    /// Nodes allocated: exact once no allocation is in flight; while one
    /// is, it may count that node, or a bump that did not fit (never
    /// fewer than the nodes of the inserts that returned, R5). A walk of
    /// the chunks.
    fn len(&self) -> usize {
        let mut n = 0;
        let mut c = self.cur.load(Ordering::Acquire);
        // SAFETY: as in `alloc` (R6).
        while let Some(ch) = unsafe { c.as_ref() } {
            n += ch.bumps();
            c = ch.prev;
        }
        n
    }

    /// About `len()`, in two loads (heuristics only).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // `late_hint` reads a std counter there
    fn len_hint(&self) -> usize {
        let c = self.cur.load(Ordering::Acquire);
        // SAFETY: as in `alloc` (R6).
        self.full_bumps.load(Ordering::Relaxed) + unsafe { c.as_ref() }.map_or(0, |ch| ch.bumps())
    }

    /// No node was ever allocated. A node's allocation happens before its
    /// insert returns (and so before its commit, R5): a reader that can see
    /// a node finds the arena non-empty.
    fn is_empty(&self) -> bool {
        self.cur.load(Ordering::Acquire).is_null()
    }
}

impl Chunk {
    /// The nodes in the chunk: its bumps, or the ones that fit once one did not.
    fn bumps(&self) -> usize {
        Self::nodes(self.used.load(Ordering::Relaxed), self.fit.load(Ordering::Relaxed))
    }

    /// [`bumps`](Self::bumps) from the values of `used` and `fit`.
    #[inline]
    fn nodes(used: u64, fit: u64) -> usize {
        (if fit == OPEN { used >> OFF_BITS } else { fit }) as usize
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return; // a model checker's report: leak rather than touch model state
        }
        let mut c = self.cur.unsync_get();
        while !c.is_null() {
            // SAFETY: `&mut self`: nobody else reaches the chunks (R6); each
            // came from `Box::into_raw` in `alloc` and is freed once.
            let ch = unsafe { Box::from_raw(c) };
            // SAFETY: allocated in `alloc` with this layout.
            unsafe { alloc::dealloc(ch.base, self.layout(ch.cap)) };
            c = ch.prev;
        }
    }
}

/// The index. `head` is the tower of a virtual first node (a null
/// predecessor below stands for it).
pub(crate) struct Ooo<T> {
    head: [AtomicPtr<Node<T>>; MAX_HEIGHT],
    /// Height of the tallest tower linked or being linked (`>= 1`);
    /// `Relaxed`: a reader that misses a raise searches from a lower level.
    height: AtomicUsize,
    /// The finger: per level, the last node linked at that level (stored
    /// `Release` after the node is linked there, loaded `Acquire`). Racy:
    /// validated before use (module docs).
    hint: [AtomicPtr<Node<T>>; MAX_HEIGHT],
    arena: Arena,
    /// The timestamp filter (module docs, "Filter").
    filter: Box<[AtomicU64]>,
    /// Set as the memtable is dropped when its payloads were moved out
    /// (`forget_payloads`): the drop then leaves them alone.
    payloads_moved: bool,
    _own: PhantomData<T>,
}

// SAFETY: the index owns its payloads (`T: Send`) and frees them only in
// `drop` (`&mut self`, R6); its raw pointers point into its own arena.
unsafe impl<T: Send> Send for Ooo<T> {}
// SAFETY: nodes are immutable once published by a `Release` link and read
// through `Acquire` loads (R6); readers get `&T` of `T: Sync` payloads;
// concurrent inserts synchronize through the links' CAS and the arena's
// atomics.
unsafe impl<T: Send + Sync> Sync for Ooo<T> {}

impl<T: Send + Sync + 'static> Ooo<T> {
    pub(crate) fn new() -> Self {
        Self {
            head: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            height: AtomicUsize::new(1),
            hint: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            arena: Arena::new(std::mem::align_of::<Node<T>>()),
            filter: (0..FILTER_WORDS).map(|_| AtomicU64::new(0)).collect(),
            payloads_moved: false,
            _own: PhantomData,
        }
    }

    /// Whether the index may hold a record at `ts` that a reader can see:
    /// `false` proves it holds none with a sequence at or below the
    /// reader's watermark, for a caller whose watermark was loaded with
    /// `Acquire` before this call (R5; R6, "filter": the bit is set before
    /// the node is linked, hence before its commit). One `Relaxed` load:
    /// the watermark's `Acquire` orders the bit's `fetch_or` before it.
    #[inline]
    pub(crate) fn may_hold(&self, ts: Timestamp) -> bool {
        let (w, b) = filter_bit(ts);
        self.filter[w].load(Ordering::Relaxed) & b != 0
    }

    /// Bytes of arena memory this index holds: its nodes (key, inline
    /// payload, tower sized by height) and the unused tails of the chunks
    /// it filled (see `Arena::bytes`).
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        self.arena.bytes()
    }

    /// Records in the index (see `Arena::len`: exact once no insert is in
    /// flight, never fewer than the inserts that returned).
    pub(crate) fn len(&self) -> usize {
        self.arena.len()
    }

    /// About `len()`, in two loads (heuristics only).
    #[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))] // `late_hint` reads a std counter there
    pub(crate) fn len_hint(&self) -> usize {
        self.arena.len_hint()
    }

    /// No record was ever inserted (or is being inserted). Never true for a
    /// reader that can see a record (R5).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.arena.is_empty()
    }

    /// Contention audit (test-only): the byte range of the timestamp filter.
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn audit_filter_range(&self) -> std::ops::Range<usize> {
        let f = self.filter.as_ptr() as usize;
        f..f + std::mem::size_of_val(&*self.filter)
    }

    /// Contention audit (test-only): the byte ranges of the arena — each
    /// chunk's memory (the nodes) and its header (the bump counter).
    #[cfg(all(feature = "contention-audit", not(timelog_loom), not(timelog_shuttle)))]
    pub(crate) fn audit_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut v = Vec::new();
        let mut c = self.arena.cur.load(Ordering::Acquire);
        // SAFETY: chunks are published by the arena's `AcqRel` CAS, their
        // headers immutable but for `used`, and freed only with the index (R6).
        while let Some(ch) = unsafe { c.as_ref() } {
            v.push(ch.base as usize..ch.base as usize + ch.cap);
            let h = ch as *const Chunk as usize;
            v.push(h..h + std::mem::size_of::<Chunk>());
            c = ch.prev;
        }
        v
    }

    /// The link after `p` at `level` (`p` null: the head).
    #[inline(always)]
    fn next(&self, p: *mut Node<T>, level: usize) -> &AtomicPtr<Node<T>> {
        if p.is_null() {
            &self.head[level]
        } else {
            // SAFETY: every non-null predecessor here was reached through an
            // `Acquire` load at a level `>= level` (so its height exceeds
            // `level`) of this index, which we borrow (R6).
            unsafe { Node::next(p, level) }
        }
    }

    /// From `x` (before `key`, or the head), walks `level` forward: the last
    /// node before `key` and its successor there.
    #[inline]
    fn walk(&self, mut x: *mut Node<T>, key: Key, level: usize) -> (*mut Node<T>, *mut Node<T>) {
        loop {
            let n = self.next(x, level).load(Ordering::Acquire);
            // SAFETY: `n` came from an `Acquire` load of a link of this index (R6).
            if !n.is_null() && unsafe { Node::key(n) } < key {
                x = n;
            } else {
                return (x, n);
            }
        }
    }

    /// The predecessors and successors of `key` at levels `0..h`, starting
    /// from the finger (module docs).
    fn splice(
        &self,
        key: Key,
        h: usize,
        preds: &mut [*mut Node<T>; MAX_HEIGHT],
        succs: &mut [*mut Node<T>; MAX_HEIGHT],
    ) {
        let top = self.top().max(h);
        // The lowest level whose hint brackets the key; else the head at the top.
        let (mut level, mut x) = (top - 1, ptr::null_mut());
        for i in (0..top).take_while(|_| FINGER) {
            let p = self.hint[i].load(Ordering::Acquire);
            // SAFETY: a hint is a node of this index, stored `Release` after
            // it was linked at level `i` (so its height exceeds `i`), R6.
            if p.is_null() || unsafe { Node::key(p) } >= key {
                continue; // after the key: a higher (older, taller) hint may do
            }
            // SAFETY: as above.
            let n = unsafe { Node::next(p, i) }.load(Ordering::Acquire);
            // SAFETY: an `Acquire`-loaded link of this index (R6).
            if n.is_null() || unsafe { Node::key(n) } >= key {
                (level, x) = (i, p);
                break;
            }
        }
        let start = level;
        loop {
            let (p, n) = self.walk(x, key, level);
            (preds[level], succs[level]) = (p, n);
            x = p;
            if level == 0 {
                break;
            }
            level -= 1;
        }
        // Levels above the start that the new tower needs (a quarter of the
        // inserts): a search from the head down to them. Not from their
        // hints: a hint left by a record late by a lot lies before the key
        // but may be far from it (measured: a walk of thousands of nodes).
        if h > start + 1 {
            let mut x = ptr::null_mut();
            for i in (start + 1..top).rev() {
                let (p, n) = self.walk(x, key, i);
                if i < h {
                    (preds[i], succs[i]) = (p, n);
                }
                x = p;
            }
        }
    }

    /// Inserts `val` at `key` (unique). Lock-free: concurrent inserts
    /// retry only the level whose CAS they lost.
    pub(crate) fn insert(&self, key: Key, val: T) {
        // R6, "filter": the bit first, so it precedes the link and the
        // commit (Relaxed: the commit's Release orders it for readers).
        // Seeded fault (R6, filter): the bit is never set, so a point read
        // skips a late record it must see.
        #[cfg(not(timelog_fault = "ooo_filter_unset"))]
        {
            let (w, b) = filter_bit(key.0);
            self.filter[w].fetch_or(b, Ordering::Relaxed);
        }
        let h = height_of(key);
        let node = self.arena.alloc(Node::<T>::size(h)) as *mut Node<T>;
        // SAFETY: `node` is fresh arena memory of `Node::size(h)` bytes,
        // aligned for `Node<T>`, ours alone until linked below.
        unsafe {
            ptr::write(node, Node { key, height: h, region: Region::new(), val, tower: [] });
            let tower = ptr::addr_of_mut!((*node).tower) as *mut AtomicPtr<Node<T>>;
            for i in 0..h {
                ptr::write(tower.add(i), AtomicPtr::new(ptr::null_mut()));
            }
        }
        let mut cur = self.top();
        while h > cur {
            match self.height.compare_exchange_weak(cur, h, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(a) => cur = a,
            }
        }
        let mut preds = [ptr::null_mut(); MAX_HEIGHT];
        let mut succs = [ptr::null_mut(); MAX_HEIGHT];
        self.splice(key, h, &mut preds, &mut succs);
        for level in 0..h {
            let order = if level == 0 { LINK0 } else { Ordering::Release };
            loop {
                // SAFETY: our node, `level < h`.
                unsafe { Node::next(node, level) }.store(succs[level], Ordering::Relaxed);
                // R6: the `Release` CAS publishes the node's fields (and this
                // level's next pointer) to every `Acquire` load that reaches it.
                match self.next(preds[level], level).compare_exchange(succs[level], node, order, Ordering::Acquire) {
                    Ok(_) => break,
                    // Lost a race at this level: the predecessor is still
                    // before `key` (nothing is removed): search on from it.
                    Err(_) => (preds[level], succs[level]) = self.walk(preds[level], key, level),
                }
            }
        }
        // The finger: linked at every level below `h` by now.
        for hint in self.hint[..h].iter().take_while(|_| FINGER) {
            hint.store(node, Ordering::Release);
        }
    }

    /// The list's height (a constant where towers have one level).
    #[inline(always)]
    fn top(&self) -> usize {
        if MAX_HEIGHT == 1 {
            1
        } else {
            self.height.load(Ordering::Relaxed)
        }
    }

    /// The smallest timestamp in the index (`None`: empty).
    pub(crate) fn first_ts(&self) -> Option<Timestamp> {
        let n = self.head[0].load(Ordering::Acquire);
        // SAFETY: `n` came from an `Acquire` load of a link of this index (R6).
        (!n.is_null()).then(|| unsafe { Node::key(n) }.0)
    }

    /// The first node with key `>= key` (null: none).
    fn seek(&self, key: Key) -> *mut Node<T> {
        let mut x = ptr::null_mut();
        let mut level = self.top() - 1;
        loop {
            let (p, n) = self.walk(x, key, level);
            if level == 0 {
                return n;
            }
            x = p;
            level -= 1;
        }
    }

    /// The last node with key `< key` (null: none).
    fn seek_before(&self, key: Key) -> *mut Node<T> {
        let mut x = ptr::null_mut();
        for level in (0..self.top()).rev() {
            x = self.walk(x, key, level).0;
        }
        x
    }

    /// Visits the records with `ts >= lo` in ascending order until
    /// `ts > hi` or `f` returns false.
    #[inline]
    pub(crate) fn range<'a>(&'a self, lo: Timestamp, hi: Timestamp, f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool) {
        self.range_from((lo, 0), hi, f)
    }

    /// Like `range`, from the key `from` (a seek, not a walk).
    pub(crate) fn range_from<'a>(
        &'a self,
        from: Key,
        hi: Timestamp,
        mut f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool,
    ) {
        crate::hooks::visit(1);
        let mut n = self.seek(from);
        while !n.is_null() {
            crate::hooks::visit(1);
            // SAFETY: `n` was reached through `Acquire` loads of this index's
            // links: its fields are published and it lives as long as the
            // index, which `'a` borrows (R6).
            let (ts, seq) = unsafe { Node::key(n) };
            if ts > hi {
                break;
            }
            // SAFETY: as above: the payload is never moved or dropped before
            // the index (R6), so a `&'a T` stays valid for the borrow.
            let v: &'a T = unsafe { &(*n).val };
            if !f(ts, seq, v) {
                break;
            }
            // SAFETY: as above; level 0 exists in every tower.
            n = unsafe { Node::next(n, 0) }.load(Ordering::Acquire);
        }
    }

    /// The backward step of a descending read, in a list whose towers
    /// point forward only: visits, in ascending order, the records with a
    /// key in `[start, to)`, where `start` is the key of the last node
    /// before `to` at the level whose towers stand about `budget` nodes
    /// apart (branching factor), or `from` if that node is not after it —
    /// always `from` when `budget` is `usize::MAX`. Returns `start` when it
    /// is after `from` (records before it may be left), else `None`. One
    /// search and a walk of about `budget` nodes, where [`range_rev`]
    /// searches once per node.
    ///
    /// [`range_rev`]: Self::range_rev
    pub(crate) fn range_back<'a>(
        &'a self,
        from: Key,
        to: Key,
        budget: usize,
        mut f: impl FnMut(Timestamp, SeqNo, &'a T),
    ) -> Option<Key> {
        crate::hooks::visit(1);
        let top = self.top();
        let mut x = ptr::null_mut();
        let mut stop = top - 1;
        if budget != usize::MAX {
            stop = ((budget.max(1).ilog2() / BRANCH_BITS) as usize).min(top - 1);
            for level in (stop..top).rev() {
                x = self.walk(x, to, level).0;
            }
        }
        // SAFETY: `x` came from an `Acquire` load of a link of this index (R6).
        let key = (!x.is_null()).then(|| unsafe { Node::key(x) });
        let (mut n, start) = match key {
            // Seeded fault (verification/faults.sh): the walk starts after
            // the node whose key it returns, so that node's record is lost.
            #[cfg(timelog_fault = "ooo_range_back_skips_start")]
            Some(k) if k >= from => (self.next(x, 0).load(Ordering::Acquire), (k > from).then_some(k)),
            #[cfg(not(timelog_fault = "ooo_range_back_skips_start"))]
            Some(k) if k >= from => (x, (k > from).then_some(k)),
            // Before `from` (or the head): on down to `from`'s successor.
            _ => {
                for level in (0..=stop).rev() {
                    x = self.walk(x, from, level).0;
                }
                (self.next(x, 0).load(Ordering::Acquire), None)
            }
        };
        while !n.is_null() {
            crate::hooks::visit(1);
            // SAFETY: as in `range_from` (R6).
            let (ts, seq) = unsafe { Node::key(n) };
            if (ts, seq) >= to {
                break;
            }
            // SAFETY: as in `range_from` (R6).
            f(ts, seq, unsafe { &(*n).val });
            // SAFETY: as in `range_from`; level 0 exists in every tower.
            n = unsafe { Node::next(n, 0) }.load(Ordering::Acquire);
        }
        start
    }

    /// Visits the records with `ts <= hi` in descending order until
    /// `ts < lo` or `f` returns false. Each step is a search for the last
    /// node before the current one (`O(log n)`: towers point forward only).
    pub(crate) fn range_rev<'a>(
        &'a self,
        lo: Timestamp,
        hi: Timestamp,
        mut f: impl FnMut(Timestamp, SeqNo, &'a T) -> bool,
    ) {
        crate::hooks::visit(1);
        // Sequences never reach `SeqNo::MAX` (the counter starts at 1 and
        // a block is reserved before use), so this is "every key at `hi`".
        let mut bound = (hi, SeqNo::MAX);
        loop {
            let n = self.seek_before(bound);
            if n.is_null() {
                return;
            }
            crate::hooks::visit(1);
            // SAFETY: as in `range_from` (R6).
            let (ts, seq) = unsafe { Node::key(n) };
            if ts < lo {
                return;
            }
            // SAFETY: as in `range_from` (R6).
            let v: &'a T = unsafe { &(*n).val };
            if !f(ts, seq, v) {
                return;
            }
            bound = (ts, seq);
        }
    }
}

impl<T> Ooo<T> {
    /// For an index whose payloads were moved out (its memtable's heir
    /// owns them, `Memtable::set_heir`), as it is dropped: its drop then
    /// frees the nodes' memory and drops no payload.
    pub(crate) fn forget_payloads(&mut self) {
        self.payloads_moved = true;
    }
}

impl<T> Drop for Ooo<T> {
    fn drop(&mut self) {
        if crate::sync::unwinding() {
            return; // a model checker's report: leak rather than touch model state
        }
        // Nothing to drop in a node (a plain payload, or one moved out, and
        // std atomics): the memory goes with the arena, and the walk is
        // skipped (session 20: 3.5% of a 20%-late ingest + flush of `u64`s).
        let moved = self.payloads_moved;
        if (moved || !std::mem::needs_drop::<T>())
            && !std::mem::needs_drop::<Region>()
            && !std::mem::needs_drop::<AtomicPtr<Node<T>>>()
        {
            return;
        }
        // In allocation order, chunk by chunk: a node's bytes follow the
        // previous node's in its chunk, so the walk reads memory in order
        // (linked in key order, allocated in arrival order, the list's
        // walk was a cache miss per node: session 23).
        let mut c = self.arena.cur.unsync_get();
        while !c.is_null() {
            // SAFETY: `&mut self` (R6: the memtable is dropped, no reader or
            // writer reaches it, R9): each chunk came from `Box::into_raw`
            // in `Arena::alloc` and is freed by the arena's own drop, after
            // this one.
            let ch = unsafe { &mut *c };
            let nodes = Chunk::nodes(ch.used.unsync_get(), ch.fit.unsync_get());
            let mut p = ch.base;
            for _ in 0..nodes {
                // SAFETY: the chunk's nodes are its first `nodes` bumps,
                // laid out from `base` one after the other (`Arena::alloc`:
                // offsets only grow, each bump's size is `Node::size` of its
                // node's height, a multiple of the node's alignment); every
                // one was initialized and linked before its insert returned
                // (an insert cannot fail between its bump and its link), and
                // is dropped here once — but for a payload moved out to the
                // memtable's heir (`forget_payloads`), which owns it and
                // drops it itself. The memory itself goes with the arena.
                unsafe {
                    let node = p as *mut Node<T>;
                    let h = (*node).height;
                    let tower = ptr::addr_of_mut!((*node).tower) as *mut AtomicPtr<Node<T>>;
                    for i in 0..h {
                        ptr::drop_in_place(tower.add(i));
                    }
                    if moved {
                        // The payload belongs to the heir (`forget_payloads`).
                        ptr::drop_in_place(ptr::addr_of_mut!((*node).region));
                    } else {
                        ptr::drop_in_place(node);
                    }
                    p = p.add(Node::<T>::size(h));
                }
            }
            c = ch.prev;
        }
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use std::sync::atomic::{AtomicUsize as StdUsize, Ordering::Relaxed};
    use std::sync::Arc as StdArc;

    use super::*;

    fn all(o: &Ooo<u64>) -> Vec<(Timestamp, SeqNo, u64)> {
        let mut v = Vec::new();
        o.range(Timestamp::MIN, Timestamp::MAX, |ts, seq, x| {
            v.push((ts, seq, *x));
            true
        });
        v
    }

    fn rev(o: &Ooo<u64>, lo: Timestamp, hi: Timestamp) -> Vec<(Timestamp, SeqNo, u64)> {
        let mut v = Vec::new();
        o.range_rev(lo, hi, |ts, seq, x| {
            v.push((ts, seq, *x));
            true
        });
        v
    }

    /// A reproducible shuffle-ish stream: mostly increasing, some records
    /// late by a few positions, some by a lot.
    fn late_keys(n: u64) -> Vec<Key> {
        let mut s = 0x1234_5678u64;
        (1..=n)
            .map(|seq| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let ts = seq as i64 * 10;
                let ts = match s % 20 {
                    0 => ts - 5_000,
                    1..=3 => ts - (s % 50) as i64,
                    _ => ts,
                };
                (ts, seq)
            })
            .collect()
    }

    #[test]
    fn ordered_by_key_whatever_the_insert_order() {
        let o = Ooo::new();
        let keys = late_keys(5_000);
        for &(ts, seq) in &keys {
            o.insert((ts, seq), seq);
        }
        let mut want: Vec<_> = keys.iter().map(|&(ts, seq)| (ts, seq, seq)).collect();
        want.sort();
        assert_eq!(all(&o), want);
        let mut back = rev(&o, Timestamp::MIN, Timestamp::MAX);
        back.reverse();
        assert_eq!(back, want);
    }

    /// The filter (R6, "filter"): every inserted timestamp's bit is set
    /// (a point read never skips a record), and with 5,000 late records,
    /// clustered as late records are, a timestamp never inserted finds its
    /// bit clear most of the time (what the point reads gain).
    #[test]
    fn filter_holds_every_insert_and_few_others() {
        let o = Ooo::new();
        let keys = late_keys(5_000);
        for &(ts, seq) in &keys {
            assert!(
                !o.may_hold(ts) || keys.iter().take_while(|k| k.1 < seq).any(|k| filter_bit(k.0) == filter_bit(ts))
            );
            o.insert((ts, seq), seq);
            assert!(o.may_hold(ts), "inserted {ts}");
        }
        assert!(keys.iter().all(|&(ts, _)| o.may_hold(ts)));
        let inserted: std::collections::HashSet<Timestamp> = keys.iter().map(|k| k.0).collect();
        let probes: Vec<Timestamp> = (0..60_000).map(|i| i + 3).filter(|t| !inserted.contains(t)).collect();
        let false_pos = probes.iter().filter(|&&t| o.may_hold(t)).count();
        assert!(false_pos * 10 < probes.len(), "{false_pos} of {} absent timestamps pass the filter", probes.len());
    }

    #[test]
    fn equal_timestamps_order_by_sequence() {
        let o = Ooo::new();
        for seq in [5u64, 2, 9, 1, 7] {
            o.insert((3, seq), seq * 10);
        }
        o.insert((2, 100), 1);
        o.insert((4, 0), 2);
        let seqs: Vec<SeqNo> = all(&o).iter().filter(|r| r.0 == 3).map(|r| r.1).collect();
        assert_eq!(seqs, vec![1, 2, 5, 7, 9]);
        // A seek into the middle of equal timestamps.
        let mut from = Vec::new();
        o.range_from((3, 6), 3, |_, seq, v| {
            from.push((seq, *v));
            true
        });
        assert_eq!(from, vec![(7, 70), (9, 90)]);
        assert_eq!(rev(&o, 3, 3).iter().map(|r| r.1).collect::<Vec<_>>(), vec![9, 7, 5, 2, 1]);
    }

    #[test]
    fn range_bounds_are_inclusive_and_stop_early() {
        let o = Ooo::new();
        for ts in (0..100).rev() {
            o.insert((ts, ts as u64 + 1), ts as u64);
        }
        let got: Vec<Timestamp> = all(&o).iter().map(|r| r.0).collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        let mut r = Vec::new();
        o.range(10, 20, |ts, _, _| {
            r.push(ts);
            true
        });
        assert_eq!(r, (10..=20).collect::<Vec<_>>());
        assert_eq!(rev(&o, 10, 20).iter().map(|r| r.0).collect::<Vec<_>>(), (10..=20).rev().collect::<Vec<_>>());
        // Outside the keys, empty, early stop.
        assert!(rev(&o, 200, 300).is_empty());
        assert!(rev(&o, -10, -1).is_empty());
        let mut n = 0;
        o.range(Timestamp::MIN, Timestamp::MAX, |_, _, _| {
            n += 1;
            n < 3
        });
        assert_eq!(n, 3);
        let mut last = None;
        o.range_rev(Timestamp::MIN, Timestamp::MAX, |ts, _, _| {
            last = Some(ts);
            false
        });
        assert_eq!(last, Some(99));
        // Extreme keys.
        o.insert((Timestamp::MIN, 1_000), 0);
        o.insert((Timestamp::MAX, 1_001), 0);
        assert_eq!(all(&o).first().map(|r| r.0), Some(Timestamp::MIN));
        assert_eq!(rev(&o, Timestamp::MAX, Timestamp::MAX).len(), 1);
    }

    #[test]
    fn empty_index_visits_nothing() {
        let o: Ooo<u64> = Ooo::new();
        assert!(all(&o).is_empty());
        assert!(rev(&o, Timestamp::MIN, Timestamp::MAX).is_empty());
        assert_eq!(o.bytes(), 0, "no arena chunk before the first insert");
        assert!(o.is_empty());
        assert_eq!((o.len(), o.len_hint()), (0, 0));
    }

    #[test]
    fn concurrent_inserts_from_threads() {
        let o = Ooo::new();
        let threads = 4u64;
        let per = 20_000u64;
        std::thread::scope(|s| {
            for t in 0..threads {
                let o = &o;
                s.spawn(move || {
                    for i in 0..per {
                        // Interleaved, partly late timestamps; unique sequences.
                        let seq = i * threads + t + 1;
                        let ts = (i as i64) * 3 - (seq % 7) as i64 * ((t % 2) as i64 + 1);
                        o.insert((ts, seq), seq);
                    }
                });
            }
            // A reader scanning while they insert: always sorted.
            let o = &o;
            s.spawn(move || {
                for _ in 0..20 {
                    let v = all(o);
                    assert!(v.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
                }
            });
        });
        let v = all(&o);
        assert_eq!(v.len() as u64, threads * per);
        // The arena's count: exact once the inserts returned, across the
        // chunks that concurrent bumps overflowed.
        assert_eq!(o.len() as u64, threads * per);
        assert!(v.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        let mut seqs: Vec<u64> = v.iter().map(|r| r.1).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=threads * per).collect::<Vec<_>>());
        assert!(v.iter().all(|r| r.1 == r.2));
    }

    /// A payload counting its drops.
    struct Counted(StdArc<StdUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn drop_runs_every_destructor_once() {
        let drops = StdArc::new(StdUsize::new(0));
        let n = 3_000u64;
        {
            let o = Ooo::new();
            for &(ts, seq) in &late_keys(n) {
                o.insert((ts, seq), Counted(drops.clone()));
            }
            // The arena counts the nodes, plus under a node's size of tail
            // per filled chunk.
            let nodes: usize = late_keys(n).iter().map(|&k| Node::<Counted>::size(height_of(k))).sum();
            assert!(o.bytes() >= nodes && o.bytes() < nodes + 64 * Node::<Counted>::size(MAX_HEIGHT), "{}", o.bytes());
            assert_eq!(drops.load(Relaxed), 0, "nothing is dropped while the index lives (R6)");
        }
        assert_eq!(drops.load(Relaxed), n as usize);
    }

    /// The drop walks the arena in allocation order (session 23): with
    /// concurrent inserters, whose bumps race at every chunk's end (the
    /// ones that do not fit leave no node), every payload is dropped
    /// exactly once — each counted on its own, so a double drop cannot
    /// hide a missed one.
    #[test]
    fn drop_after_concurrent_inserts_drops_each_payload_once() {
        struct One(StdArc<Vec<StdUsize>>, usize);
        impl Drop for One {
            fn drop(&mut self) {
                self.0[self.1].fetch_add(1, Relaxed);
            }
        }
        let (threads, per) = (4usize, 5_000usize);
        let counts: StdArc<Vec<StdUsize>> = StdArc::new((0..threads * per).map(|_| StdUsize::new(0)).collect());
        {
            let o = StdArc::new(Ooo::new());
            let hs: Vec<_> = (0..threads)
                .map(|t| {
                    let (o, counts) = (o.clone(), counts.clone());
                    std::thread::spawn(move || {
                        for i in 0..per {
                            let id = t * per + i;
                            // Interleaved keys: the threads insert into one region.
                            o.insert(((i * threads + t) as i64, id as u64 + 1), One(counts.clone(), id));
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(o.len(), threads * per);
            assert!(counts.iter().all(|c| c.load(Relaxed) == 0), "nothing is dropped while the index lives (R6)");
        }
        let wrong: Vec<_> = counts.iter().enumerate().filter(|(_, c)| c.load(Relaxed) != 1).map(|(i, _)| i).collect();
        assert!(wrong.is_empty(), "payloads not dropped exactly once: {:?}", &wrong[..wrong.len().min(10)]);
    }

    #[test]
    fn heights_follow_the_branching_factor() {
        let n = 100_000u64;
        let mut at = [0usize; MAX_HEIGHT + 1];
        for seq in 1..=n {
            at[height_of((seq as i64, seq))] += 1;
        }
        // About 3/4 of the towers have height 1, 3/16 height 2.
        assert!((70_000..80_000).contains(&at[1]), "{at:?}");
        assert!((16_000..21_000).contains(&at[2]), "{at:?}");
        assert_eq!(at[0], 0);
    }

    #[test]
    fn arena_grows_and_large_payloads_fit() {
        let o = Ooo::new();
        for seq in 1..=100u64 {
            o.insert((seq as i64, seq), [seq; 2048]); // 16 KiB payloads: bigger than a first chunk
        }
        let mut n = 0u64;
        o.range(Timestamp::MIN, Timestamp::MAX, |ts, _, v| {
            n += 1;
            assert!(v.iter().all(|&x| x == ts as u64));
            true
        });
        assert_eq!(n, 100);
        assert_eq!(o.len(), 100, "one count per node, across chunks sized for big nodes");
        assert!(o.bytes() >= 100 * 16 * 1024);
    }

    /// The count of nodes in the arena's bump words: exact after every
    /// insert, across chunk boundaries (every node height, so that bumps
    /// of several sizes overflow chunks).
    #[test]
    fn len_counts_every_insert_across_chunks() {
        let o = Ooo::new();
        for (i, k) in late_keys(20_000).into_iter().enumerate() {
            assert_eq!(o.len(), i);
            o.insert(k, k.1);
            assert!(!o.is_empty());
        }
        assert_eq!(o.len(), 20_000);
        assert_eq!(o.len_hint(), 20_000, "single-threaded: the hint is exact too");
        assert_eq!(all(&o).len(), 20_000);
    }
}
