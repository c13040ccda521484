//! One-shot reads beside a retention writer, in Rust (the engine's part of
//! issue 10's 3.13t reader-scaling cells, without the interpreter).
//!
//! ```text
//! cargo build --release -p timelog-benches --example contend
//! target/release/examples/contend next_ts writer [disabled]
//! ```
//!
//! A log of 1,000,000 flushed and compacted records (even timestamps
//! below 2,000,000). Beside the reading main thread runs either a spinning
//! thread (`idle`) or a retention writer (`writer`): appends from
//! 4,000,000 up, and every 2,048 appends `delete_range(4,000,000, t -
//! 20,000)`, a sliding window over the new data. The reader calls `next_ts`,
//! `point` (`point_with`) or `range` (`range(k, k + 1)` drained) at random
//! `k` for 1.5 s and prints the wall time per read. Maintenance is
//! background unless `disabled` is given. Compare `idle` and `writer` in
//! the same session, alternating, several times.
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use timelog::{Config, Order, Timelog};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (op, beside) = (a[0].as_str(), a[1].as_str());
    let mut cfg = Config::default();
    match a.get(2).map(String::as_str) {
        Some("disabled") => cfg.maintenance = timelog::MaintenanceMode::Disabled,
        // One memtable for the whole run: no seal, no flush, no publication.
        Some("bigmem") => cfg.memtable_max_bytes = 8 << 30,
        _ => {}
    }
    let log: Timelog<u64> = Timelog::with_config(cfg.clone()).unwrap();
    // `other`: the appender writes to this log instead (same config).
    let other: Timelog<u64> = Timelog::with_config(cfg).unwrap();
    for i in 0..1_000_000i64 {
        let _ = log.append(i * 2, i as u64).unwrap();
    }
    log.flush().unwrap();
    log.compact().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("writer".into())
            .spawn_scoped(s, || {
                let mut t = 4_000_000i64;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if beside == "writer" || beside == "appender" || beside == "other" {
                        let w = if beside == "other" { &other } else { &log };
                        let _ = w.append(t, 1).unwrap();
                        n += 1;
                        if beside == "writer" && n.is_multiple_of(2048) && t - 20_000 > 4_000_000 {
                            let _ = log.delete_range(4_000_000, t - 20_000).unwrap();
                        }
                        t += 1;
                    } else {
                        black_box(&mut n);
                        n = n.wrapping_mul(31).wrapping_add(1);
                    }
                }
            })
            .unwrap();
        let mut x = 12345u64;
        let cpu0 = thread_cpu_ns();
        let t0 = Instant::now();
        let mut ops = 0u64;
        let mut acc = 0i64;
        while t0.elapsed() < Duration::from_millis(1500) {
            for _ in 0..256 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = (x % 2_000_000) as i64;
                acc = acc.wrapping_add(match op {
                    "next_ts" => log.next_ts(k).unwrap().unwrap_or(0),
                    "point" => log.point_with(k, |v| acc ^= *v as i64).unwrap() as i64,
                    _ => log.range(k, k + 1, Order::Asc).unwrap().count() as i64,
                });
                ops += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        let cpu = thread_cpu_ns() - cpu0;
        let st = log.stats().unwrap();
        println!(
            "{op} beside {beside}: {:.1} ns/op wall, {:.1} ns/op reader CPU ({acc}); seals {}, flushes {}, compactions {}",
            t0.elapsed().as_nanos() as f64 / ops as f64,
            cpu as f64 / ops as f64,
            st.seals_total,
            st.flushes_total,
            st.compactions_total
        );
    });
}

/// This thread's CPU time (`/proc/thread-self/schedstat`: nanoseconds on a
/// CPU), so that time the reader spends descheduled (two cores, three busy
/// threads with the maintenance worker) is not counted.
fn thread_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace().next().and_then(|v| v.parse().ok()).expect("schedstat's first field")
}
