//! loom: compaction publication and reclamation (R7, R8, R9, R10).
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::{Order, Timelog};
use timelog_verification::*;

/// Two L0 segments and a pending tombstone in the manifest: `[1, 2)` hides
/// record 1 (in the older segment), not record 2.
fn two_segments_and_a_tombstone() -> Arc<Timelog<Id>> {
    let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
    append(&log, 1, 1);
    log.flush().unwrap();
    append(&log, 2, 2);
    append(&log, 3, 3);
    delete(&log, 1, 2);
    log.flush().unwrap();
    log
}

fn history() -> Vec<Vec<Op>> {
    vec![vec![app(1, 1), app(2, 2), app(3, 3), Op::Delete { t1: 1, t2: 2 }]]
}

/// R8/R9/R10: a reader holds a snapshot, a half-read cursor and zero-copy
/// page spans of two L0 segments while the maintainer compacts them into
/// L1 (applying the tombstone physically) and publishes. The reader's view
/// and its spans do not change; the replaced segments are reclaimed only
/// after the reader drops them (their pages are read-tracked), and the
/// retired count falls back to zero.
#[test]
fn reader_vs_compaction_and_reclaim() {
    loom_model("compact/reader_vs_compaction_and_reclaim", || {
        let log = two_segments_and_a_tombstone();
        let maintainer = {
            let log = log.clone();
            thread::spawn(move || log.compact().unwrap())
        };
        let snap = log.snapshot().unwrap();
        let spans = snap.page_spans(i64::MIN, i64::MAX);
        let mut cursor = snap.all(Order::Asc);
        let first = cursor.next();
        drop(snap);
        let rest: Vec<_> = cursor.collect();
        assert_eq!(first, Some((2, 2)));
        assert_eq!(rest, vec![(3, 3)]);
        let physical: Vec<i64> = spans.iter().flat_map(|s| s.timestamps().to_vec()).collect();
        assert!(physical == vec![1, 2, 3] || physical == vec![2, 3], "page spans changed: {physical:?}");
        drop(spans);
        let after = observe(&log, None, 0).1;
        maintainer.join().unwrap();
        finish(&log, &history(), vec![after]);
        let st = log.stats().unwrap();
        assert_eq!((st.segments_l0, st.segments_l1), (0, 1), "{st:?}");
        assert_eq!(st.retired_queue_len, 0, "replaced segments were not reclaimed: {st:?}");
    });
}

/// R10, second guard: a compaction publishes only over a manifest that
/// still holds its inputs. The maintainer mutex makes that check
/// unreachable in the engine, so two compactions race here *without* the
/// mutex: one publishes, the other must drop its output (or find nothing
/// left to compact) — never publish duplicates or drop newer segments.
#[test]
fn compactions_race_without_the_mutex() {
    loom_model("compact/compactions_race_without_the_mutex", || {
        let log = two_segments_and_a_tombstone();
        let other = {
            let log = log.clone();
            thread::spawn(move || {
                log.model_compact_once_unlocked();
            })
        };
        log.model_compact_once_unlocked();
        other.join().unwrap();
        finish(&log, &history(), Vec::new());
        let st = log.stats().unwrap();
        assert_eq!(st.segments_l0 + st.segments_l1, 1, "{st:?}");
    });
}
