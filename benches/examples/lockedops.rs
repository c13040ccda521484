//! What one locked instruction costs on this machine, uncontended (one
//! thread, one cache line it owns): a `fetch_add` (`lock xadd`), a load and
//! a compare-and-swap (`lock cmpxchg`, the shape of the door's entering CAS
//! and the commit), and a plain `Release` store (`mov` on x86-64) for
//! comparison. The floor under every write's protocol (issue 13, item 8:
//! the 20%-late ingest's remaining gap is mostly such instructions —
//! docs/performance.md, "Session 27").
//!
//! ```text
//! cargo run --release -p timelog-benches --example lockedops
//! ```
//!
//! Prints ns per operation for each, three rounds of 50,000,000.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const N: u64 = 50_000_000;

fn per_op(f: impl Fn(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..N {
        f(black_box(i));
    }
    t.elapsed().as_nanos() as f64 / N as f64
}

fn main() {
    let a = black_box(AtomicU64::new(0));
    for _ in 0..3 {
        let xadd = per_op(|i| {
            a.fetch_add(i & 1, Ordering::AcqRel);
        });
        let cas = per_op(|i| {
            let v = a.load(Ordering::Relaxed);
            let _ = a.compare_exchange(v, v + (i & 1), Ordering::AcqRel, Ordering::Relaxed);
        });
        let store = per_op(|i| a.store(i, Ordering::Release));
        println!("fetch_add {xadd:.2} ns, load + CAS {cas:.2} ns, Release store {store:.2} ns");
    }
}
