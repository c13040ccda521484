//! A service-style example: several writer and reader threads sharing one
//! `Arc<Timelog<_>>`, with background maintenance, retention and a final
//! report. Run with `cargo run --release --example service`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use timelog::{Config, Order, Timelog, WriteStatus};

/// What a service might store per event: a cheap-to-clone handle.
#[derive(Clone, Debug)]
struct Event {
    source: u32,
    value: Arc<str>,
}

fn main() -> Result<(), timelog::Error> {
    let log: Arc<Timelog<Event>> = Arc::new(Timelog::with_config(Config {
        memtable_max_bytes: 1 << 20,
        ..Config::default() // background maintenance, time unit ms
    })?);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));

    // Writers: each appends events at "now", some of them late (out of order).
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (log, stop, written, busy) = (log.clone(), stop.clone(), written.clone(), busy.clone());
            thread::spawn(move || {
                let value: Arc<str> = Arc::from(format!("sensor-{w}"));
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let now = log.config().time_unit.now();
                    let ts = if i % 20 == 0 { now - 5_000 } else { now };
                    match log.append(ts, Event { source: w, value: value.clone() }) {
                        Ok(WriteStatus::Ok) => {}
                        // Committed, but maintenance is behind: back off a little.
                        Ok(WriteStatus::Busy) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                            thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => panic!("write failed: {e}"),
                    }
                    written.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();

    // Readers: dashboards querying the last second, newest first, plus point lookups.
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (log, stop) = (log.clone(), stop.clone());
            thread::spawn(move || {
                let mut queries = 0u64;
                let mut rows = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let now = log.config().time_unit.now();
                    // One snapshot for a consistent dashboard: count and newest 10.
                    let snap = log.snapshot().expect("open");
                    let last_second = snap.count(now - 1_000, i64::MAX);
                    let newest: Vec<_> = snap.since(now - 1_000, Order::Desc).take(10).collect();
                    assert!(newest.windows(2).all(|w| w[0].0 >= w[1].0));
                    if let Some(&(ts, _)) = newest.first() {
                        let mut n = 0;
                        snap.point_with(ts, |_| n += 1);
                        assert!(n >= 1);
                    }
                    rows += last_second as u64;
                    queries += 1;
                }
                (queries, rows)
            })
        })
        .collect();

    // Retention: keep the last 2 seconds.
    let retention = {
        let (log, stop) = (log.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(200));
                let cutoff = log.config().time_unit.now() - 2_000;
                let _ = log.delete_before(cutoff).expect("open");
            }
        })
    };

    let started = Instant::now();
    thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    let mut queries = 0;
    for r in readers {
        queries += r.join().expect("reader").0;
    }
    retention.join().expect("retention");

    let secs = started.elapsed().as_secs_f64();
    let stats = log.stats()?;
    println!(
        "writes:  {} ({:.0}/s), busy signals: {}",
        written.load(Ordering::Relaxed),
        written.load(Ordering::Relaxed) as f64 / secs,
        busy.load(Ordering::Relaxed)
    );
    println!("queries: {queries} ({:.0}/s)", queries as f64 / secs);
    println!("visible records (last ~2 s kept): {}", log.len()?);
    println!(
        "layers: {} L0 + {} L1 segments, {} sealed memtables; seals {}, flushes {}, compactions {}",
        stats.segments_l0,
        stats.segments_l1,
        stats.sealed_runs,
        stats.seals_total,
        stats.flushes_total,
        stats.compactions_total
    );
    log.validate()?;
    let sources: std::collections::BTreeSet<u32> = log.all(Order::Asc)?.map(|(_, e)| e.source).collect();
    println!("sources seen: {sources:?}; sample value: {:?}", log.all(Order::Desc)?.next().map(|(_, e)| e.value));
    Ok(())
}
