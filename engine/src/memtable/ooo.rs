//! The out-of-order index of a memtable: records keyed by `(timestamp,
//! sequence)`, insert-only (R6), read concurrently.
//!
//! The std build wraps a lock-free `crossbeam-skiplist`. That structure is
//! trusted, not checked: loom cannot look inside it (nor inside
//! crossbeam-epoch). Under the model checkers it is replaced by a small
//! model with the same interface and the same guarantees the protocol
//! relies on — an insert is published by one Release CAS, a reader finds a
//! record only through an Acquire load that synchronizes with it, nothing
//! is removed before the memtable is dropped — so that the code around it
//! is the real protocol code (see `docs/verification.md`).

use crate::{SeqNo, Timestamp};

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod imp {
    use crossbeam_epoch::{self as epoch, Collector};
    use crossbeam_skiplist::base::SkipList;

    use super::*;

    pub(crate) struct Ooo<T> {
        list: SkipList<(Timestamp, SeqNo), T>,
    }

    impl<T: Send + Sync + 'static> Ooo<T> {
        pub(crate) fn new(collector: &Collector) -> Self {
            Self { list: SkipList::new(collector.clone()) }
        }

        #[inline]
        pub(crate) fn insert(&self, key: (Timestamp, SeqNo), val: T) {
            let guard = &epoch::pin();
            self.list.insert(key, val, guard).release(guard);
        }

        /// Visits the records with `ts >= lo` in ascending order until
        /// `ts > hi` or `f` returns false.
        #[inline]
        pub(crate) fn range(&self, lo: Timestamp, hi: Timestamp, f: impl FnMut(Timestamp, SeqNo, *const T) -> bool) {
            self.range_from((lo, 0), hi, f)
        }

        /// Like `range`, from the key `from` (a seek, not a walk).
        #[inline]
        pub(crate) fn range_from(
            &self,
            from: (Timestamp, SeqNo),
            hi: Timestamp,
            mut f: impl FnMut(Timestamp, SeqNo, *const T) -> bool,
        ) {
            let guard = &epoch::pin();
            crate::hooks::visit(1);
            let mut e = self.list.lower_bound(std::ops::Bound::Included(&from), guard);
            while let Some(entry) = e {
                crate::hooks::visit(1);
                let &(ts, seq) = entry.key();
                if ts > hi {
                    break;
                }
                if !f(ts, seq, entry.value() as *const T) {
                    break;
                }
                e = entry.next();
            }
        }

        /// Visits the records with `ts <= hi` in descending order until
        /// `ts < lo` or `f` returns false.
        #[inline]
        pub(crate) fn range_rev(
            &self,
            lo: Timestamp,
            hi: Timestamp,
            mut f: impl FnMut(Timestamp, SeqNo, *const T) -> bool,
        ) {
            let guard = &epoch::pin();
            crate::hooks::visit(1);
            let mut e = self.list.upper_bound(std::ops::Bound::Included(&(hi, SeqNo::MAX)), guard);
            while let Some(entry) = e {
                crate::hooks::visit(1);
                let &(ts, seq) = entry.key();
                if ts < lo {
                    break;
                }
                if !f(ts, seq, entry.value() as *const T) {
                    break;
                }
                e = entry.prev();
            }
        }
    }
}

#[cfg(any(timelog_loom, timelog_shuttle))]
mod imp {
    //! Model: a copy-on-write sorted vector. Each insert publishes a new
    //! immutable version (Release CAS on `head`); readers load `head`
    //! (Acquire) and binary-search it. Old versions and every payload stay
    //! allocated until the index is dropped (R6), so a reader may keep
    //! `*const T` for as long as it holds the memtable.

    use std::ptr;

    use crossbeam_epoch::Collector;

    use super::*;
    use crate::sync::{AtomicPtr, Ordering, Region, UnsyncGet};

    type Entry<T> = ((Timestamp, SeqNo), *const T);

    struct Version<T> {
        entries: Vec<Entry<T>>,
        /// The payload this version added (each payload is owned once).
        added: Option<Box<T>>,
        prev: *mut Version<T>,
        /// Initialized by the inserter before the CAS; read by every reader.
        region: Region,
    }

    pub(crate) struct Ooo<T> {
        head: AtomicPtr<Version<T>>,
    }

    // SAFETY: versions are immutable once published by the Release CAS in
    // `insert` and freed only in `drop` (`&mut self`), R6; readers get
    // `&T` of `T: Sync` payloads.
    unsafe impl<T: Send + Sync> Sync for Ooo<T> {}
    // SAFETY: the index owns its payloads (`T: Send`); versions are freed only in `drop` (R6).
    unsafe impl<T: Send> Send for Ooo<T> {}

    impl<T: Send + Sync + 'static> Ooo<T> {
        pub(crate) fn new(_collector: &Collector) -> Self {
            Self { head: AtomicPtr::new(ptr::null_mut()) }
        }

        fn current(&self) -> Option<&Version<T>> {
            let p = self.head.load(Ordering::Acquire);
            // SAFETY: R6: a published version is freed only when the index
            // is dropped, which cannot happen while `&self` is held.
            let v = unsafe { p.as_ref() }?;
            v.region.read();
            Some(v)
        }

        pub(crate) fn insert(&self, key: (Timestamp, SeqNo), val: T) {
            let mut added = Box::new(val);
            let vp: *const T = &*added;
            let mut cur = self.head.load(Ordering::Acquire);
            loop {
                // SAFETY: as in `current` (R6).
                let mut entries = match unsafe { cur.as_ref() } {
                    Some(v) => {
                        v.region.read();
                        v.entries.clone()
                    }
                    None => Vec::new(),
                };
                let pos = entries.partition_point(|e| e.0 < key);
                entries.insert(pos, (key, vp));
                let next =
                    Box::into_raw(Box::new(Version { entries, added: Some(added), prev: cur, region: Region::new() }));
                match self.head.compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return,
                    Err(actual) => {
                        // SAFETY: `next` was never published (R6: only a successful CAS publishes); it is ours.
                        let mut lost = unsafe { Box::from_raw(next) };
                        added = lost.added.take().expect("set above");
                        cur = actual;
                    }
                }
            }
        }

        pub(crate) fn range(&self, lo: Timestamp, hi: Timestamp, f: impl FnMut(Timestamp, SeqNo, *const T) -> bool) {
            self.range_from((lo, 0), hi, f)
        }

        pub(crate) fn range_from(
            &self,
            from: (Timestamp, SeqNo),
            hi: Timestamp,
            mut f: impl FnMut(Timestamp, SeqNo, *const T) -> bool,
        ) {
            let Some(v) = self.current() else { return };
            let start = v.entries.partition_point(|e| e.0 < from);
            for &((ts, seq), p) in &v.entries[start..] {
                if ts > hi || !f(ts, seq, p) {
                    break;
                }
            }
        }

        pub(crate) fn range_rev(
            &self,
            lo: Timestamp,
            hi: Timestamp,
            mut f: impl FnMut(Timestamp, SeqNo, *const T) -> bool,
        ) {
            let Some(v) = self.current() else { return };
            let end = v.entries.partition_point(|e| e.0 <= (hi, SeqNo::MAX));
            for &((ts, seq), p) in v.entries[..end].iter().rev() {
                if ts < lo || !f(ts, seq, p) {
                    break;
                }
            }
        }
    }

    impl<T> Drop for Ooo<T> {
        fn drop(&mut self) {
            if crate::sync::unwinding() {
                return;
            }
            let mut p = self.head.unsync_get();
            while !p.is_null() {
                // SAFETY: R6: `&mut self`, nobody else reaches the versions; each
                // came from `Box::into_raw` in `insert` and is freed once.
                let v = unsafe { Box::from_raw(p) };
                p = v.prev;
            }
        }
    }
}

pub(crate) use imp::Ooo;
