//! Flush: a sealed memtable becomes an immutable L0 segment (rule R8).

use crate::sync::Arc;

use super::Maint;
use crate::memtable::Memtable;
use crate::segment::{Level, Segment, SegmentBuilder};
use crate::tombstone::CoverageBuilder;
use crate::tombstone::Tombstone;
use crate::SeqNo;

/// Merges the run and the skiplist of a drained memtable in `(ts, seq)`
/// order, drops the records its own tombstones hide, and builds a segment.
pub(crate) fn build_l0<T: Clone + Send + Sync + 'static>(
    mt: &Memtable<T>,
    bound: SeqNo,
    page_cap: usize,
    id: u64,
    retired: &Arc<crate::sync::AtomicUsize>,
) -> Option<Segment<T>> {
    // R8: a memtable's own tombstones, all of them (it is drained).
    let cov = CoverageBuilder::new().stack(&mt.tombs, SeqNo::MAX).build();
    let run = &mt.run;
    let n = run.len();
    let mut b = SegmentBuilder::new(page_cap);
    let mut i = 0;
    let push = |b: &mut SegmentBuilder<T>, ts: i64, seq: SeqNo, v: &T| {
        debug_assert!(seq <= bound, "R2: a drained memtable holds no sequence above its bound");
        if cov.is_empty() || cov.max_seq(ts) <= seq {
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
    b.finish(id, Level::L0, bound, bound, None, retired)
}

impl<T: Clone + Send + Sync + 'static> Maint<'_, T> {
    /// Flushes the oldest sealed memtable. Caller holds the maintainer lock.
    /// Returns whether it did.
    pub(crate) fn flush_one(&self) -> bool {
        let Some(mt) = self.cat.load().sealed.first().cloned() else {
            return false;
        };
        let bound = mt.seal_bound();
        debug_assert_ne!(bound, u64::MAX, "R2: sealed memtables are published only after the drain");
        let tombs = mt.tombs.to_vec();
        // Payload clones happen inside the payload scope. When every record
        // up to the bound is already committed (the usual case: the drain
        // waited for the writers to leave the memtable, and their commits
        // follow at once), the publication runs in the same payload phase:
        // one entry into the phase — under CPython's GIL, one wait for the
        // interpreter's switch interval while a Python thread runs — instead
        // of two. Otherwise it waits for the commits outside the phase and
        // publishes in a second one (R8, below).
        let mut mt = Some(mt);
        let mut seg: Option<Option<Arc<Segment<T>>>> = None;
        let mut run = None;
        let mut published = false;
        let built = self.hooks.scoped(&mut || {
            let Some(m) = mt.as_ref() else { return };
            let s = build_l0(m, bound, self.cfg.page_records, self.cat.next_id(), self.cat.retired()).map(Arc::new);
            run = Some(s.as_ref().map(|x| (x.len, x.min_ts, x.max_ts)));
            #[cfg(not(timelog_fault = "flush_before_commit"))]
            let committed = self.seq.visible() >= bound;
            #[cfg(timelog_fault = "flush_before_commit")]
            let committed = true;
            if committed {
                self.hooks.pause(crate::hooks::Point::FlushPublish);
                if let Some(m) = mt.take() {
                    self.publish_flush(m, s, bound, &tombs);
                    published = true;
                }
            } else {
                seg = Some(s);
            }
        });
        if !built {
            return false;
        }
        if !published {
            let Some(s) = seg.take() else { return false };
            // R8: a segment carries no per-record sequence, so it may only
            // be published once every record in it is committed. The drain
            // (R2) waited for the writers to leave the memtable, not for
            // their commits: wait until the watermark reaches the bound (a
            // short wait on writers that already inserted). Found by loom
            // (`loom_flush::flush_waits_for_commits`).
            self.seq.wait_visible(bound);
            self.hooks.pause(crate::hooks::Point::FlushPublish);
            // Publishing may drop the last reference to the memtable (and
            // its payloads): inside the payload scope, together with our
            // own references.
            let mut s = Some(s);
            self.hooks.scoped(&mut || {
                let (Some(m), Some(s)) = (mt.take(), s.take()) else { return };
                self.publish_flush(m, s, bound, &tombs);
                published = true;
            });
        }
        if published {
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
