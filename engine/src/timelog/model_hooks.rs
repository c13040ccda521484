//! Entry points for the model-checking suites only: compiled under
//! `cfg(timelog_loom)` / `cfg(timelog_shuttle)`, never in a std build.

use super::Timelog;
use crate::error::Result;
use crate::{SeqNo, Timestamp};

impl<T: Clone + Send + Sync + 'static> Timelog<T> {
    /// One compaction *without* the maintainer mutex. R10 serializes
    /// maintainers with that mutex and, independently, lets a compaction
    /// publish only over a manifest that still holds its inputs; with the
    /// mutex held the second guard can never fire, so the suites race two
    /// unlocked compactions to check it on its own
    /// (`loom_compact::compactions_race_without_the_mutex`).
    #[doc(hidden)]
    pub fn model_compact_once_unlocked(&self) -> bool {
        self.inner.maint().compact_once(false)
    }

    /// [`len`](Self::len), and the watermark of the one-shot view it read:
    /// the same `with_view` (the catalog's snapshot function, R5) and the
    /// same query, so the suites can check the result against the prefix
    /// of that length (`loom_oneshot`).
    #[doc(hidden)]
    pub fn model_len(&self) -> Result<(SeqNo, usize)> {
        self.with_view(|v| (v.w, Self::len_in(&v)))
    }

    /// [`next_ts`](Self::next_ts) — the public read, which skips the
    /// watermark when its answer does not need it (R15) — between two
    /// loads of the watermark: `(before, answer, after)`. The answer must
    /// be the one of some watermark in `[before, after]` (`loom_oneshot`):
    /// everything committed before the first load happens-before the read,
    /// and nothing it returns was committed after the second.
    #[doc(hidden)]
    pub fn model_next_ts(&self, t: Timestamp) -> Result<(SeqNo, Option<Timestamp>, SeqNo)> {
        self.between_watermarks(|| self.next_ts(t))
    }

    /// [`point`](Self::point) between two loads of the watermark (see
    /// `model_next_ts`).
    #[doc(hidden)]
    pub fn model_point(&self, ts: Timestamp) -> Result<(SeqNo, Vec<T>, SeqNo)> {
        self.between_watermarks(|| self.point(ts))
    }

    /// `read` between two loads of the watermark: `(before, its answer, after)`.
    fn between_watermarks<R>(&self, read: impl FnOnce() -> Result<R>) -> Result<(SeqNo, R, SeqNo)> {
        let before = self.inner.seq.visible();
        let r = read()?;
        Ok((before, r, self.inner.seq.visible()))
    }
}
