//! Time-bucket counts (`histogram`, `count`) against a naive reference:
//! out-of-order records, duplicates, tombstones (also deletes followed by
//! re-inserts), pending sealed memtables, L0 and L1, the live log and old
//! snapshots, bucket widths from 1 (more buckets than records: the walk
//! path) to wider than the range (the binary-search path).

mod common;

use common::{burst, small_config, Model, Rng};
use timelog::{Config, Error, MaintenanceMode, Snapshot, Timelog, MAX_HISTOGRAM_BUCKETS};

fn naive(m: &Model, t1: i64, t2: i64, bucket: i64) -> Vec<u64> {
    let n = ((t2 - t1) as u64).div_ceil(bucket as u64) as usize;
    let mut out = vec![0u64; n];
    for &(t, _) in &m.0 {
        if t1 <= t && t < t2 {
            out[((t - t1) / bucket) as usize] += 1;
        }
    }
    out
}

fn check(snap: &Snapshot<u64>, m: &Model, rng: &mut Rng, lo: i64, hi: i64) {
    for _ in 0..40 {
        let t1 = lo - 50 + rng.below((hi - lo + 100) as u64) as i64;
        let t2 = t1 + rng.below((hi - t1 + 60).max(1) as u64) as i64;
        let bucket = match rng.below(4) {
            0 => 1 + rng.below(3) as i64,
            1 => 1 + rng.below(100) as i64,
            2 => 1 + rng.below(5000) as i64,
            _ => (t2 - t1).max(1) + rng.below(10) as i64,
        };
        let want = naive(m, t1, t2, bucket);
        assert_eq!(snap.histogram(t1, t2, bucket).unwrap(), want, "histogram [{t1}, {t2}) / {bucket}");
        assert_eq!(snap.count(t1, t2), want.iter().sum::<u64>() as usize, "count [{t1}, {t2})");
    }
}

fn scenario(seed: u64) {
    let log: Timelog<u64> = Timelog::with_config(small_config()).unwrap();
    let mut rng = Rng(seed);
    let mut m = Model::default();
    let mut snaps: Vec<(Snapshot<u64>, Model)> = Vec::new();
    let (mut base, mut payload) = (0i64, 0u64);
    for step in 0..30 {
        burst(&log, &mut m, &mut rng, &mut base, &mut payload, 15);
        if rng.below(3) == 0 {
            let a = base - rng.below(3000) as i64;
            let b = a + rng.below(400) as i64;
            let _ = log.delete_range(a, b).unwrap();
            m.delete(a, b);
            // A re-insert inside the deleted range is visible.
            if b > a && rng.below(2) == 0 {
                let _ = log.append(a, 0).unwrap();
                m.0.push((a, 0));
            }
        }
        match rng.below(6) {
            0 | 1 => log.flush().unwrap(),
            2 => log.compact().unwrap(),
            _ => {} // leave sealed memtables pending
        }
        if rng.below(3) == 0 && snaps.len() < 5 {
            snaps.push((log.snapshot().unwrap(), m.clone()));
        }
        if step % 5 == 4 {
            check(&log.snapshot().unwrap(), &m, &mut rng, -2000, base);
            for (s, sm) in &snaps {
                check(s, sm, &mut rng, -2000, base);
            }
            // The log's own one-shot calls read the current state.
            let (t1, t2) = (-2000, base + 1);
            assert_eq!(log.histogram(t1, t2, 97).unwrap(), naive(&m, t1, t2, 97));
            assert_eq!(log.count(t1, t2).unwrap(), naive(&m, t1, t2, t2 - t1).iter().sum::<u64>() as usize);
        }
    }
    let s = log.stats().unwrap();
    assert!(s.pages_total > 3, "{s:?}");
}

#[test]
fn histogram_matches_reference() {
    for seed in [0x9e37_79b9_7f4a_7c15u64, 7, 0xdead_beef] {
        scenario(seed);
    }
}

#[test]
fn histogram_sees_only_its_snapshot() {
    let log: Timelog<u64> =
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    for t in 0..100 {
        let _ = log.append(t, 0).unwrap();
    }
    log.flush().unwrap();
    let snap = log.snapshot().unwrap();
    let _ = log.delete_range(0, 50).unwrap();
    for t in 0..10 {
        let _ = log.append(t, 1).unwrap();
    }
    log.compact().unwrap();
    assert_eq!(snap.histogram(0, 100, 25).unwrap(), vec![25, 25, 25, 25]);
    assert_eq!(log.histogram(0, 100, 25).unwrap(), vec![10, 0, 25, 25]);
    assert_eq!(log.histogram(0, 100, 30).unwrap(), vec![10, 10, 30, 10], "last bucket partial");
    assert_eq!(log.count(0, 100).unwrap(), 60);
    assert_eq!(log.count(5, 5).unwrap(), 0);
}

#[test]
fn histogram_errors_say_what_to_do() {
    let log: Timelog<u64> =
        Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap();
    assert!(matches!(log.histogram(0, 10, 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(log.histogram(0, 10, -3), Err(Error::InvalidArgument(_))));
    assert_eq!(log.histogram(10, 0, 1), Err(Error::InvalidRange { t1: 10, t2: 0 }));
    assert_eq!(log.count(10, 0), Err(Error::InvalidRange { t1: 10, t2: 0 }));
    let too_many = MAX_HISTOGRAM_BUCKETS as i64 + 1;
    let e = log.histogram(0, too_many, 1).unwrap_err();
    assert!(e.to_string().contains("use a bucket width of at least 2"), "{e}");
    assert_eq!(log.histogram(0, 0, 1).unwrap(), Vec::<u64>::new());
    assert_eq!(log.histogram(i64::MIN, i64::MAX, i64::MAX).unwrap(), vec![0, 0, 0]);
    log.close().unwrap();
    assert_eq!(log.histogram(0, 10, 1), Err(Error::Closed));
}
