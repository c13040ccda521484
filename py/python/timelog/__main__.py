"""``python -m timelog``: a short demo of the package.

Ingests a few hundred thousand out-of-order events (with a progress line),
runs range, point and tail queries, prints their timings and ``stats()``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from timelog import Timelog, __version__


def _fmt_ns(ns: float) -> str:
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} us"
    return f"{ns / 1_000_000:.2f} ms"


def _timed(fn, repeat: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(repeat):
        fn()
    return (time.perf_counter_ns() - t0) / repeat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m timelog", description=__doc__)
    ap.add_argument("-n", "--events", type=int, default=300_000, help="events to ingest (default 300000)")
    ap.add_argument("--ooo", type=float, default=0.05, help="fraction of out-of-order events (default 0.05)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    n, rng = args.events, random.Random(args.seed)
    tty = sys.stdout.isatty()

    print(f"timelog {__version__} (Rust engine) on Python {sys.version.split()[0]}")
    log = Timelog.for_streaming(time_unit="ms")
    base = 1_700_000_000_000
    chunk = max(1, n // 20)
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        batch = []
        for i in range(start, min(n, start + chunk)):
            ts = base + i * 10
            if rng.random() < args.ooo:
                ts -= rng.randrange(1, 60_000)  # up to a minute late
            batch.append((ts, {"seq": i, "value": i % 97}))
        for ts, ev in batch:
            log.append(ts, ev)
        done = min(n, start + chunk)
        line = f"ingest: {done:>9,}/{n:,} events ({100 * done / n:5.1f}%)"
        print("\r" + line if tty else line, end="" if tty else "\n", flush=True)
    ingest_s = time.perf_counter() - t0
    print(f"{chr(10) if tty else ''}ingested {n:,} events in {ingest_s:.2f} s ({n / ingest_s:,.0f} events/s, {args.ooo:.0%} out of order)")

    log.flush()
    mid = base + (n // 2) * 10
    print("\nqueries (mean of repeated calls):")
    rows = list(log[mid : mid + 10_000])
    print(f"  range [mid, mid+10s)      -> {len(rows):>6} rows  {_fmt_ns(_timed(lambda: list(log[mid : mid + 10_000]), 50))}")
    print(f"  point log[mid]            -> {len(log[mid]):>6} rows  {_fmt_ns(_timed(lambda: log[mid], 20_000))}")
    print(f"  next_ts(mid)              -> {log.next_ts(mid)}  {_fmt_ns(_timed(lambda: log.next_ts(mid), 20_000))}")
    print(f"  tail(100) (newest 100)    -> {len(log.tail(100)):>6} rows  {_fmt_ns(_timed(lambda: log.tail(100), 2_000))}")
    newest = list(reversed(log[mid : mid + 1_000]))[:3]
    print(f"  reversed(log[mid:mid+1s]) -> newest first: {[t for t, _ in newest]}")
    t1 = time.perf_counter()
    total = sum(len(span) for span in log.views())
    print(f"  views(): {total:,} flushed timestamps in {(time.perf_counter() - t1) * 1e3:.1f} ms (zero-copy)")

    log.delete_before(base + (n // 4) * 10)
    log.compact()
    print(f"\nafter delete_before(25%) + compact: len(log) = {len(log):,}")
    print(f"repr: {log!r}")
    stats = log.stats()
    print("\nstats():")
    for section, values in stats.items():
        print(f"  {section}: {values}")
    log.validate()
    log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
