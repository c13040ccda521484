//! Entry points for the model-checking suites only: compiled under
//! `cfg(timelog_loom)` / `cfg(timelog_shuttle)`, never in a std build.

use super::Timelog;

impl<T: Clone + Send + Sync + 'static> Timelog<T> {
    /// One compaction *without* the maintainer mutex. R10 serializes
    /// maintainers with that mutex and, independently, lets a compaction
    /// publish only over a manifest that still holds its inputs; with the
    /// mutex held the second guard can never fire, so the suites race two
    /// unlocked compactions to check it on its own
    /// (`loom_compact::compactions_race_without_the_mutex`).
    #[doc(hidden)]
    pub fn model_compact_once_unlocked(&self) -> bool {
        self.inner.compact_once(false)
    }
}
