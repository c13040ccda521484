//! loom: owned snapshots hold their manifest by a striped hold count, and
//! the publisher that replaces it retires it (R9, "Holds").
//!
//! Run with `RUSTFLAGS="--cfg timelog_loom"` (see `verification/run.sh`).
#![cfg(timelog_loom)]

use std::sync::Arc;

use loom::thread;
use timelog::{Snapshot, Timelog};
use timelog_verification::*;

/// R9 (Holds): snapshots race the publication that replaces their
/// manifest (a seal). One, taken before and held across it, outlives it:
/// its hold is counted when the publisher retires the manifest, and its
/// drop reclaims the holders' reference. A reader on the other stripe
/// takes and drops one while the publication happens: counted before the
/// retirement mark, or finding its stripe retired and falling back to a
/// reference of its own (the scenario checks that some execution takes
/// that path). The replaced manifest is reclaimed exactly once (a second
/// reclamation fails its region read, a leaked reference is reported by
/// loom) and never while a holder can read it (each holder's access reads
/// the manifest's `holders_region`, written at the reclamation); the held
/// views do not change.
#[test]
fn snapshots_vs_publication() {
    let before = Snapshot::<Id>::model_hold_fallbacks();
    loom_model("holds/snapshots_vs_publication", || {
        // Every append seals its memtable: a publication.
        let log = Arc::new(Timelog::<Id>::with_config(model_config(RECORD_BYTES)).unwrap());
        append(&log, 1, 1);
        // Main thread: stripe 0; held across the next publication.
        let (old, first) = observe(&log, None, 0);
        let reader = {
            let log = log.clone();
            // Model thread 1: stripe 1.
            thread::spawn(move || {
                let (s, o) = observe(&log, None, 0);
                drop(s);
                o
            })
        };
        append(&log, 2, 2);
        let seen = reader.join().unwrap();
        assert_eq!(read_view(&old), first.view, "a held snapshot changed");
        drop(old);
        finish(&log, &[vec![app(1, 1), app(2, 2)]], vec![first, seen]);
    });
    assert!(
        Snapshot::<Id>::model_hold_fallbacks() > before,
        "no execution raced a hold with the retirement (the fallback path)"
    );
}

/// R9 (Parking): a snapshot parked on the main thread's stripe races the
/// publication of a seal. The main thread takes a snapshot — the parked
/// one, taken back before or after the publication (then of a replaced
/// manifest: freed, a new one taken), or a new one if the sweep evicted it
/// first — reads it and drops it (parking it again, refused if its
/// manifest was replaced meanwhile). Its read is a consistent prefix of
/// the writes; at the end no parked snapshot keeps a replaced manifest
/// (`finish` checks `parked_stale`; the seeded fault
/// `park_ignores_generation` breaks that), and `finish`'s own snapshot —
/// the one parked last, taken back, or a new one — reads everything.
#[test]
fn parked_snapshots_vs_publication() {
    loom_model("holds/parked_snapshots_vs_publication", || {
        // Every append seals its memtable: a publication.
        let log = Arc::new(Timelog::<Id>::with_config(model_config(RECORD_BYTES)).unwrap());
        append(&log, 1, 1);
        // Main thread: stripe 0; its snapshot parks there.
        drop(log.snapshot().unwrap());
        let writer = {
            let log = log.clone();
            // Model thread 1: stripe 1.
            thread::spawn(move || append(&log, 2, 2))
        };
        let (s, seen) = observe(&log, None, 0);
        drop(s);
        writer.join().unwrap();
        finish(&log, &[vec![app(1, 1), app(2, 2)]], vec![seen]);
    });
}
