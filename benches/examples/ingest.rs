//! Instruction-count and CPU-time harness for late-record ingest (issue 13,
//! items 1 and 7): `Timelog::append` of the engine bench's keys
//! (`ooo_keys`: every 20th / 5th record late by 1–1,000 positions), then
//! optionally the flush, each phase in a `measured_*` function so that
//! `valgrind --tool=callgrind --toggle-collect='*measured_*'` counts only it.
//!
//! ```text
//! cargo build --release -p timelog-benches --example ingest
//! valgrind --tool=callgrind --toggle-collect='*measured_append*' \
//!     target/release/examples/ingest timelog 20 1
//! target/release/examples/ingest all 20 9     # CPU time, every structure
//! ```
//!
//! Arguments: what (`timelog`: the appends, `timelog_extend`: one
//! `extend` of the same records instead, `timelog_flush`: the
//! `flush()` after the appends,
//! `btree`: `RwLock<BTreeMap>`, `all`: the three timed in turn), the late
//! percentage (0 = in order), repeats. Prints the median thread CPU time
//! per 100,000 records of each.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::RwLock;

use timelog::{Config, MaintenanceMode, Timelog};
use timelog_benches::{ooo_keys, ordered_keys, thread_cpu_ns, SEED};

const N: usize = 100_000;

fn log() -> Timelog<u64> {
    Timelog::with_config(Config { maintenance: MaintenanceMode::Disabled, ..Config::default() }).unwrap()
}

#[inline(never)]
fn measured_append(log: &Timelog<u64>, keys: &[(i64, u64)]) {
    for &(ts, seq) in keys {
        let _ = log.append(ts, seq).unwrap();
    }
}

/// One `extend` of all the keys (sorted by the engine if late ones are
/// among them): at the default memtable size, 100,000 records take the
/// memtable path (a batch in memtable-sized chunks), not a run.
#[inline(never)]
fn measured_extend(log: &Timelog<u64>, keys: &[(i64, u64)]) {
    let _ = log.extend(keys.iter().copied()).unwrap();
}

#[inline(never)]
fn measured_flush(log: &Timelog<u64>) {
    log.flush().unwrap();
}

#[inline(never)]
fn measured_btree(m: &RwLock<BTreeMap<(i64, u64), u64>>, keys: &[(i64, u64)]) {
    for &(ts, seq) in keys {
        m.write().unwrap().insert((ts, seq), seq);
    }
}

fn run(what: &str, keys: &[(i64, u64)]) -> u64 {
    let t0;
    let t1;
    match what {
        "timelog" => {
            let l = log();
            t0 = thread_cpu_ns();
            measured_append(&l, keys);
            t1 = thread_cpu_ns();
            black_box(&l);
        }
        "timelog_extend" => {
            let l = log();
            t0 = thread_cpu_ns();
            measured_extend(&l, keys);
            t1 = thread_cpu_ns();
            black_box(&l);
        }
        "timelog_flush" => {
            let l = log();
            measured_append(&l, keys);
            t0 = thread_cpu_ns();
            measured_flush(&l);
            t1 = thread_cpu_ns();
            black_box(&l);
        }
        "btree" => {
            let m = RwLock::new(BTreeMap::new());
            t0 = thread_cpu_ns();
            measured_btree(&m, keys);
            t1 = thread_cpu_ns();
            black_box(&m);
        }
        _ => panic!("what: timelog | timelog_extend | timelog_flush | btree | all"),
    }
    t1 - t0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map_or("timelog", |s| s.as_str());
    let pct: u32 = args.get(2).map_or(20, |s| s.parse().unwrap());
    let repeats: usize = args.get(3).map_or(1, |s| s.parse().unwrap());
    let keys = if pct == 0 { ordered_keys(N) } else { ooo_keys(N, pct, SEED) };
    let whats: Vec<&str> = if what == "all" { vec!["timelog", "timelog_flush", "btree"] } else { vec![what] };
    let mut times: Vec<Vec<u64>> = vec![Vec::new(); whats.len()];
    for _ in 0..repeats {
        for (i, w) in whats.iter().enumerate() {
            times[i].push(run(w, &keys));
        }
    }
    for (w, mut t) in whats.iter().zip(times) {
        t.sort_unstable();
        println!(
            "{w:14} {pct:3}% late: median {:.3} ms CPU per {N} (min {:.3})",
            t[t.len() / 2] as f64 / 1e6,
            t[0] as f64 / 1e6
        );
    }
}
