use std::time::Instant;
use timelog::{Config, MaintenanceMode, Order, Timelog};

fn build(stream: bool, bg: bool) -> Timelog<u64> {
    let log: Timelog<u64> = Timelog::with_config(Config {
        maintenance: if bg { MaintenanceMode::Background } else { MaintenanceMode::Disabled },
        ..Config::default()
    })
    .unwrap();
    for t in 0..200_000i64 {
        let _ = log.append(t, t as u64).unwrap();
    }
    log.flush().unwrap();
    let base = 2_000_000i64;
    let n = 2_000_000i64;
    if stream {
        for i in 0..n {
            let t = base + i;
            let _ = log.append(t, i as u64);
            if i % 5000 == 4999 && t - 20_000 > base {
                let _ = log.delete_range(base, t - 20_000);
            }
        }
    } else {
        for i in (n - 20_000)..n {
            let _ = log.append(base + i, i as u64);
        }
    }
    log.flush().unwrap();
    log
}

fn time(name: &str, log: &Timelog<u64>) {
    let k = 200_000;
    let t0 = Instant::now();
    let mut acc = 0i64;
    for i in 0..k {
        acc += log.next_ts((i * 7919) % 199_000).unwrap().unwrap();
    }
    let ns = t0.elapsed().as_nanos() as f64 / k as f64;
    let t0 = Instant::now();
    for i in 0..k {
        acc += log.prev_ts((i * 7919) % 199_000 + 1).unwrap().unwrap();
    }
    let pns = t0.elapsed().as_nanos() as f64 / k as f64;
    let t0 = Instant::now();
    for i in 0..k {
        acc += log.point((i * 7919) % 199_000).unwrap().len() as i64;
    }
    let ptns = t0.elapsed().as_nanos() as f64 / k as f64;
    let t0 = Instant::now();
    for _ in 0..1000 {
        acc += log.len().unwrap() as i64;
    }
    let lns = t0.elapsed().as_nanos() as f64 / 1000.0;
    let t0 = Instant::now();
    for i in 0..2000 {
        let s = (i * 7919) % 198_000;
        acc += log.range(s, s + 1000, Order::Asc).unwrap().count() as i64;
    }
    let rns = t0.elapsed().as_nanos() as f64 / 2000.0;
    println!("{name}: next {ns:.0} prev {pns:.0} point {ptns:.0} len {lns:.0} range1000 {rns:.0} ns ({acc}) {:?}", log.stats().tombstone_count);
}

#[test]
#[ignore]
fn timing() {
    let f = build(false, false);
    time("fresh", &f);
    let s = build(true, false);
    time("stream", &s);
    let s = build(true, true);
    time("stream-bg", &s);
}
