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
        let st = read_beside_a_compaction(&log, &history(), (2, 2), vec![(3, 3)], &[&[1, 2, 3], &[2, 3]]);
        assert_eq!((st.segments_l0, st.segments_l1), (0, 1), "{st:?}");
    });
}

/// The reader side of the compaction scenarios: a snapshot, its page spans
/// and a cursor read once, taken while `log.compact()` runs on another
/// thread; the snapshot is dropped before the cursor finishes. The cursor
/// reads `first` then `rest`, the spans show one of `spans` (before or
/// after the compaction, never a mix), the log then matches `history`, and
/// every replaced segment is reclaimed (retired count back to zero).
/// Returns the final stats for the scenario's own checks.
fn read_beside_a_compaction(
    log: &Arc<Timelog<Id>>,
    history: &[Vec<Op>],
    first: (i64, Id),
    rest: Vec<(i64, Id)>,
    spans: &[&[i64]],
) -> timelog::Stats {
    let maintainer = {
        let log = log.clone();
        thread::spawn(move || log.compact().unwrap())
    };
    let snap = log.snapshot().unwrap();
    let page_spans = snap.page_spans(i64::MIN, i64::MAX);
    let mut cursor = snap.all(Order::Asc);
    let got = cursor.next();
    drop(snap);
    let got_rest: Vec<_> = cursor.collect();
    assert_eq!(got, Some(first));
    assert_eq!(got_rest, rest);
    let physical: Vec<i64> = page_spans.iter().flat_map(|s| s.timestamps().to_vec()).collect();
    assert!(spans.contains(&physical.as_slice()), "page spans changed: {physical:?}");
    drop(page_spans);
    let after = observe(log, None, 0).1;
    maintainer.join().unwrap();
    finish(log, history, vec![after]);
    let st = log.stats().unwrap();
    assert_eq!(st.retired_queue_len, 0, "replaced segments were not reclaimed: {st:?}");
    st
}

/// R8/R9/R10 (moved segments, session 39): a reader holds a snapshot, a
/// half-read cursor and page spans of two L0 segments that are apart (in
/// order, one flush each) while the maintainer compacts them: both move
/// to L1 sharing their pages, nothing copied. The reader's view (records
/// and physical spans) is unchanged, the moved segments' pages are read
/// through the old manifest and the new one alike, and the replaced L0
/// segments are reclaimed once the reader lets go (their pages live on in
/// L1).
#[test]
fn reader_vs_moved_l0_segments() {
    loom_model("compact/reader_vs_moved_l0_segments", || {
        let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
        for t in 1..=4 {
            append(&log, t, t as Id);
            if t % 2 == 0 {
                log.flush().unwrap();
            }
        }
        let all: Vec<i64> = (1..=4).collect();
        let history = vec![(1..=4).map(|t| app(t, t as Id)).collect()];
        let st = read_beside_a_compaction(&log, &history, (1, 1), vec![(2, 2), (3, 3), (4, 4)], &[&all]);
        assert_eq!((st.segments_l0, st.segments_l1, st.records_stored), (0, 2, 4), "{st:?}");
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

/// One L1 segment of three pages (`1..=4`, `5..=8`, `9`: four records a
/// page under the model checkers) and a settled `delete_before`-shaped
/// tombstone `[1, 6)` that cuts inside its second page.
fn three_pages_and_a_prefix_cut() -> Arc<Timelog<Id>> {
    let log = Arc::new(Timelog::<Id>::with_config(model_config(1 << 20)).unwrap());
    for t in 1..=9 {
        append(&log, t, t as Id);
    }
    log.compact().unwrap();
    delete(&log, 1, 6);
    log.flush().unwrap();
    log
}

fn prefix_cut_history() -> Vec<Vec<Op>> {
    let mut ops: Vec<Op> = (1..=9).map(|t| app(t, t as Id)).collect();
    ops.push(Op::Delete { t1: 1, t2: 6 });
    vec![ops]
}

/// R8/R9/R10 (prefix cut): a reader holds a snapshot, a half-read cursor
/// and page spans of a segment while the maintainer compacts it by a
/// prefix cut — the last page shared with the output, the survivors of
/// the straddled page copied, the first page dropped. The reader's view
/// and spans do not change; every page buffer is reclaimed once, after the
/// last segment holding it goes (the shared one outlives the replaced
/// segment), and the retired count falls back to zero.
#[test]
fn reader_vs_prefix_cut() {
    loom_model("compact/reader_vs_prefix_cut", || {
        let log = three_pages_and_a_prefix_cut();
        let all: Vec<i64> = (1..=9).collect();
        let st = read_beside_a_compaction(
            &log,
            &prefix_cut_history(),
            (6, 6),
            vec![(7, 7), (8, 8), (9, 9)],
            &[&all, &[6, 7, 8, 9]],
        );
        assert_eq!((st.segments_l0, st.segments_l1, st.records_stored), (0, 2, 4), "{st:?}");
    });
}
