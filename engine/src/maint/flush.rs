//! Flush: a sealed memtable becomes an immutable L0 segment (rule R8).

use crate::sync::Arc;

use super::Maint;
use crate::memtable::ooo::Key;
use crate::memtable::run::gallop;
use crate::memtable::{Memtable, RunSlice};
use crate::segment::{Level, Segment, SegmentBuilder, Take};
use crate::tombstone::CoverageBuilder;
use crate::tombstone::Tombstone;
use crate::SeqNo;

/// Merges the run and the skiplist of a drained memtable in `(ts, seq)`
/// order, drops the records its own tombstones hide, and builds a segment
/// into `pages` (an empty builder: the page capacity and the log's payload
/// target).
///
/// Without tombstones (the usual flush) every record goes into the
/// segment. If the log's payloads may be shared bitwise
/// ([`Config::bitwise_payloads`](crate::Config::bitwise_payloads), which the
/// Python binding promises for its object references) they are *moved*
/// there — bitwise copies, no clone — and the segment becomes the
/// memtable's heir ([`Memtable::set_heir`]): it owns them from then on,
/// and the memtable, which older snapshots may still read, keeps it alive
/// and drops none of them. Otherwise they are cloned (a payload with
/// interior mutability inline must not have two bitwise copies in use:
/// session 41's regression test in `tests/snapshot_isolation.rs`). Either
/// way the run is read as its contiguous bucket slices: between two
/// skiplist records, the stretch of run records before the next one is
/// pushed in one pass that tests and copies each record when it is short,
/// and found by a galloping search and pushed in bulk past [`SHORT`]
/// records, so an in-order record costs no per-record bound check or
/// bucket lookup. With tombstones the records they hide stay the
/// memtable's, and the others are cloned.
pub(crate) fn build_l0<T: Clone + Send + Sync + 'static>(
    mt: &Memtable<T>,
    bound: SeqNo,
    pages: SegmentBuilder<T>,
    id: u64,
    retired: &Arc<crate::sync::AtomicUsize>,
) -> Option<Arc<Segment<T>>> {
    if mt.tombs.is_empty() {
        let take = if moves_payloads(mt) { Take::Move } else { Take::Clone };
        // Leaked, not dropped, if anything below panics: with `Take::Move`,
        // until the heir is set the memtable owns the payloads, and the
        // builder's copies of them must not be dropped (the memtable's
        // readers still use them); with `Take::Clone` a panicking clone
        // leaks the clones made so far, nothing else.
        let mut b = std::mem::ManuallyDrop::new(pages);
        let mut run = RunStretches::new(mt, take);
        mt.ooo_range(i64::MIN, i64::MAX, |ts, seq, v| {
            debug_assert!(seq <= bound, "R2: a drained memtable holds no sequence above its bound");
            run.push_before(&mut b, (ts, seq));
            // SAFETY: `Take::Move`'s contract, when moving: the skiplist
            // record is visited once (`ooo_range` over the whole key
            // space), and the memtable drops no payload once its heir is
            // set below, before the builder's segment can drop anything
            // (it is not shared before, and the heir keeps it alive for as
            // long as the memtable's readers may read the originals); the
            // log's `BitwisePayloads` promise lets those readers' `&T` and
            // the segment's copy coexist.
            unsafe { b.push_one(ts, v, take) };
            true
        });
        run.push_before(&mut b, (i64::MAX, SeqNo::MAX));
        let seg = Arc::new(std::mem::ManuallyDrop::into_inner(b).finish(id, Level::L0, bound, bound, None, retired)?);
        if let Take::Move = take {
            mt.set_heir(seg.clone());
        }
        return Some(seg);
    }
    // R8: a memtable's own tombstones, all of them (it is drained).
    let cov = CoverageBuilder::new().stack(&mt.tombs, SeqNo::MAX).build();
    let mut b = pages;
    let run = &mt.run;
    let n = run.len();
    let mut i = 0;
    let push = |b: &mut SegmentBuilder<T>, ts: i64, seq: SeqNo, v: &T| {
        debug_assert!(seq <= bound, "R2: a drained memtable holds no sequence above its bound");
        if cov.max_seq(ts) <= seq {
            b.push(ts, v.clone());
        }
    };
    mt.ooo_range(i64::MIN, i64::MAX, |ts, seq, v| {
        while i < n && (run.ts_at(i), run.seq_at(i)) < (ts, seq) {
            push(&mut b, run.ts_at(i), run.seq_at(i), run.val_at(i));
            i += 1;
        }
        push(&mut b, ts, seq, v);
        true
    });
    while i < n {
        push(&mut b, run.ts_at(i), run.seq_at(i), run.val_at(i));
        i += 1;
    }
    b.finish(id, Level::L0, bound, bound, None, retired).map(Arc::new)
}

/// Whether the flush of drained memtable `mt` moves its payloads into the
/// segment (`build_l0`) — it then clones and drops none, and runs outside
/// the payload scope (`Maint::flush_one`): without tombstones every record
/// goes into the segment, and the log's
/// [`BitwisePayloads`](crate::BitwisePayloads) promise
/// (`Memtable::is_bitwise`) allows two bitwise copies of a payload in use
/// at once. The one test both decisions use.
fn moves_payloads<T: Send + Sync + 'static>(mt: &Memtable<T>) -> bool {
    mt.is_bitwise() && mt.tombs.is_empty()
}

/// Run records between two late records pushed one by one before the
/// flush switches to a search and a bulk copy ([`RunStretches::push_before`]).
/// With 20% late records a stretch averages four.
const SHORT: usize = 16;

/// The run of a drained memtable as a cursor over its bucket slices.
struct RunStretches<'a, T> {
    slices: Vec<RunSlice<T>>,
    /// Current slice and the position in it.
    k: usize,
    o: usize,
    /// How the payloads go into the segment (`build_l0`).
    take: Take,
    _mt: std::marker::PhantomData<&'a Memtable<T>>,
}

impl<'a, T: Clone + Send + Sync + 'static> RunStretches<'a, T> {
    fn new(mt: &'a Memtable<T>, take: Take) -> Self {
        let mut slices = Vec::new();
        mt.run.slices(0, mt.run.len(), &mut slices);
        Self { slices, k: 0, o: 0, take, _mt: std::marker::PhantomData }
    }

    /// Pushes every run record with a key below `key` not pushed yet, its
    /// payload moved (`build_l0`: the memtable's heir will own it) or
    /// cloned, as `take` says.
    fn push_before(&mut self, b: &mut SegmentBuilder<T>, key: Key) {
        while let Some(s) = self.slices.get(self.k) {
            // SAFETY: the slices lie below the run's published length (R4:
            // `slices` was given `len()`, loaded Acquire), whose slots were
            // written before that publication and are never written again;
            // the run lives as long as the memtable we borrow for `'a` (R6).
            let (ts, seq, vals) = unsafe {
                (
                    std::slice::from_raw_parts(s.ts, s.len),
                    std::slice::from_raw_parts(s.seq, s.len),
                    std::slice::from_raw_parts(s.val, s.len),
                )
            };
            let o = self.o;
            let before = |i: usize| (ts[i], seq[i]) < key;
            // A short stretch (late records a few positions apart) in one
            // pass; past `SHORT` records, the rest by a galloping search
            // and a bulk copy.
            let look = (s.len - o).min(SHORT);
            // SAFETY: `Take::Move`'s contract, when moving — each run
            // record is pushed once (the cursor moves past what was
            // pushed), the memtable drops none of them once `build_l0`
            // sets its heir, before the segment is shared, and the log's
            // `BitwisePayloads` promise lets its readers' `&T` and the
            // segment's copy coexist.
            let pushed = unsafe { b.push_while(&ts[o..o + look], &vals[o..o + look], |i| before(o + i), self.take) };
            let mut end = o + pushed;
            if end == o + look && end < s.len {
                let from = end;
                end = gallop(from, s.len, before);
                // SAFETY: as above, for the records `from..end`, after the
                // ones just pushed.
                unsafe { b.push_taken(&ts[from..end], &vals[from..end], self.take) };
            }
            if end < s.len {
                self.o = end;
                return;
            }
            (self.k, self.o) = (self.k + 1, 0);
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Maint<'_, T> {
    /// Flushes the oldest sealed memtable. Caller holds the maintainer lock.
    /// Returns whether it did.
    ///
    /// Once published, the replaced manifests whose drop frees memory only
    /// go at once (`Catalog::drop_unburdened`): the flushed memtable is
    /// freed before the caller's next flush, whose segment pages then reuse
    /// its run buckets, instead of when the caller releases the lock
    /// (every caller flushes in a loop: a call that flushes eight sealed
    /// memtables wrote all eight segments into fresh pages, session 47).
    pub(crate) fn flush_one(&self) -> bool {
        let Some(mt) = self.cat.load().sealed.first().cloned() else {
            return false;
        };
        let bound = mt.seal_bound();
        debug_assert_ne!(bound, u64::MAX, "R2: sealed memtables are published only after the drain");
        // R8: a segment carries no per-record sequence, so it may only be
        // published once every record in it is committed. Since session 25
        // the seal itself waits for the watermark to reach the bound before
        // it publishes the memtable as sealed (R2: every ticket of it
        // committed), so this returns at once; it stays as the rule's own
        // guard. (Found by loom, `loom_flush::flush_waits_for_commits`,
        // when the seal waited only for the writers to leave; the seeded
        // fault `flush_before_commit` that removed it can no longer
        // produce a bug and was retired.)
        self.seq.wait_visible(bound, self.hooks);
        let tombs = mt.tombs.to_vec();
        let moves = moves_payloads(&mt);
        let mut mt = Some(mt);
        let mut run = None;
        let mut published = false;
        let mut flush = || {
            let Some(m) = mt.as_ref() else { return };
            let pages = SegmentBuilder::new(self.cfg.page_records).with_target(self.cfg.target());
            let s = build_l0(m, bound, pages, self.cat.next_id(), self.cat.retired());
            run = Some(s.as_ref().map(|x| (x.len, x.min_ts, x.max_ts)));
            self.hooks.pause(crate::hooks::Point::FlushPublish);
            if let Some(m) = mt.take() {
                self.publish_flush(m, s, bound, &tombs);
                published = true;
            }
        };
        if moves {
            // Without tombstones the payloads are moved, not cloned
            // (`build_l0`), and the publication drops nothing (the replaced
            // manifest goes to the graveyard, R12; the references dropped
            // here are never the last): no payload is cloned or dropped, so
            // the flush runs outside the payload scope — under CPython's
            // GIL, without waiting for the interpreter (up to its switch
            // interval while a Python thread runs), in parallel with the
            // writers that filled the memtable.
            flush();
        } else if !self.hooks.scoped(&mut flush) {
            // Clones happen inside the payload scope, and the publication
            // runs in the same payload phase: one entry into the phase.
            return false;
        }
        if published {
            self.cat.drop_unburdened();
            self.counters.flushes_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.counters.note_flush(run.flatten(), self.cfg.adaptive_alpha, &self.cfg.adaptive, self.cfg.window_size);
        }
        published
    }

    /// Publishes a flushed memtable's segment (`None`: every record was
    /// deleted) in place of the memtable, with its tombstones joining the
    /// manifest's list. Inside the payload phase.
    fn publish_flush(&self, mt: Arc<Memtable<T>>, seg: Option<Arc<Segment<T>>>, bound: SeqNo, tombs: &[Tombstone]) {
        loop {
            let cur = self.cat.load_full();
            assert!(
                cur.sealed.first().is_some_and(|m| Arc::ptr_eq(m, &mt)),
                "R10: only the maintainer removes sealed memtables"
            );
            let mut next = cur.successor();
            next.sealed.remove(0);
            if let Some(s) = &seg {
                next.l0.push(s.clone());
            }
            if !tombs.is_empty() {
                let mut all: Vec<_> = cur.tombstones.iter().copied().collect();
                all.extend_from_slice(tombs);
                next.tombstones = Arc::new(all);
            }
            next.flushed_bound = bound;
            // R11: the list is settled (every reader of `next` has a
            // watermark at or above `bound`, R8): coalesce it.
            next.coalesce_tombstones();
            if self.cat.publish_maint(&cur, next) {
                return;
            }
        }
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;
    use crate::tombstone::Tombstone;

    #[test]
    fn gallop_finds_the_first_false() {
        let v: Vec<u32> = (0..300).collect();
        for lo in [0usize, 1, 5, 100, 299, 300] {
            for cut in 0..=300u32 {
                let want = if (lo as u32) >= cut { lo } else { cut as usize };
                assert_eq!(gallop(lo, 300, |i| v[i] < cut), want, "lo {lo} cut {cut}");
            }
        }
    }

    /// `(timestamp, payload)` records.
    type Records = Vec<(i64, u64)>;

    /// Flushes a memtable built from `keys` (sequences in insertion order),
    /// its payloads moved (`bitwise`) or cloned: the segment's records, and
    /// the expected ones.
    fn flushed(keys: &[i64], tombs: &[(i64, i64)], bitwise: bool) -> (Records, Records) {
        let retired = Arc::new(crate::sync::AtomicUsize::new(0));
        let mt = Memtable::new(1, &retired, 0).bitwise(bitwise);
        let mut seq = 0;
        let mut all = Vec::new();
        for &ts in keys {
            seq += 1;
            mt.insert(ts, seq, || seq);
            all.push((ts, seq));
        }
        for &(t1, t2) in tombs {
            seq += 1;
            mt.push_tombstone(Tombstone { t1, t2, seq });
        }
        assert!(mt.ooo_len() > 0 && mt.run.len() > 0, "both sources in use");
        let s = build_l0(&mt, seq, SegmentBuilder::new(7), 1, &retired).expect("records");
        assert_eq!(mt.heir().is_some(), bitwise && tombs.is_empty(), "moved payloads have an heir");
        let got =
            s.pages.iter().flat_map(|p| p.timestamps().iter().copied().zip(p.payloads().iter().copied())).collect();
        all.sort_unstable();
        let want = all.into_iter().filter(|&(ts, _)| !tombs.iter().any(|&(a, b)| a <= ts && ts < b)).collect();
        (got, want)
    }

    #[test]
    fn flush_merges_run_and_skiplist_in_key_order() {
        // Late records between every stretch, before the run's first, after
        // runs of equal timestamps, and across the run's buckets (64, 128, …).
        let mut keys = Vec::new();
        for i in 0..2_000i64 {
            keys.push(i / 3);
            match i % 7 {
                0 => keys.push(i / 3 - 5),
                3 => keys.push(i / 3),
                5 => keys.push(-1 - i),
                _ => {}
            }
        }
        for bitwise in [true, false] {
            let (got, want) = flushed(&keys, &[], bitwise);
            assert_eq!(got, want);
            // Page boundaries every 7 records: bulk stretches span pages.
            let (got, want) = flushed(&(0..500).chain([3, 2, 1]).chain(500..1_000).collect::<Vec<_>>(), &[], bitwise);
            assert_eq!(got, want);
        }
        // With tombstones: the per-record path.
        let (got, want) = flushed(&keys, &[(10, 20), (-50, -40)], true);
        assert_eq!(got, want);
        // Stretches of every length from 0 to 3 * SHORT between late
        // records: one pass, then a search and a bulk copy for the rest.
        let mut stretches = Vec::new();
        let mut t = 0;
        for gap in 0..3 * SHORT as i64 {
            stretches.extend(t..t + gap);
            t += gap;
            stretches.push(t - gap / 2 - 1);
        }
        for bitwise in [true, false] {
            let (got, want) = flushed(&stretches, &[], bitwise);
            assert_eq!(got, want);
        }
    }
}
