"""``python -m timelog``: a short, self-explaining demo of the package.

Ingests out-of-order events (with progress), runs the typical queries with
their timings, deletes old data by retention, compacts, and ends with what
to try next. ``python -m timelog --help`` lists the options.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import typing  # module-qualified annotations: stubtest sees no foreign names here

from timelog import Timelog, __version__

INTRO = """\
Timelog is an in-memory time index: it keeps (timestamp, object) records
sorted by time while they arrive out of order, answers range and point
queries from consistent snapshots, and deletes old data by time range.
Readers never wait for writers, also on free-threaded Python.
"""

DESCRIPTION = (
    INTRO
    + """
This demo ingests synthetic sensor events (some of them late, i.e. out of
order), runs range, point, navigation and newest-N queries with their
timings, reads the flushed timestamps zero-copy, applies a retention
delete, compacts, and prints the log's statistics.
"""
)

NEXT_STEPS = """\
Try next:
  - help(timelog.Timelog) in Python: every method, its arguments and errors
  - docs/python-api.md in the source tree: the Python API, item by item,
    and the differences from the C timelog package
  - cargo run --release --example service -p timelog (in the source tree):
    the Rust engine embedded in a multi-threaded service
  - python -m timelog -n 1000000 --ooo 0.2: more events, more of them late
"""

MAX_EVENTS = 100_000_000


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of events, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"the number of events must be at least 1, got {n}")
    if n > MAX_EVENTS:
        raise argparse.ArgumentTypeError(f"at most {MAX_EVENTS:,} events (they are held in memory), got {n:,}")
    return n


def _fraction(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0.0 <= x <= 1.0:  # also rejects nan
        hint = f" (did you mean {x / 100:g}, i.e. {x:g}%?)" if 1.0 < x <= 100.0 else ""
        raise argparse.ArgumentTypeError(f"the out-of-order fraction must be between 0 and 1, got {text}{hint}")
    return x


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m timelog",
        description=DESCRIPTION,
        epilog=NEXT_STEPS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "-n",
        "--events",
        type=_positive_int,
        default=300_000,
        metavar="N",
        help="number of events to ingest, at least 1 (default: 300000)",
    )
    ap.add_argument(
        "--ooo",
        type=_fraction,
        default=0.05,
        metavar="FRACTION",
        help="fraction of events that arrive late, between 0 and 1 (default: 0.05 = 5%%)",
    )
    ap.add_argument("--seed", type=int, default=7, help="random seed of the synthetic events (default: 7)")
    return ap


def _fmt_ns(ns: float) -> str:
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} us"
    return f"{ns / 1_000_000:.2f} ms"


def _timed(fn: typing.Callable[[], object], repeat: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(repeat):
        fn()
    return (time.perf_counter_ns() - t0) / repeat


class _Progress:
    """One self-updating line on a terminal; a line per quarter when piped."""

    def __init__(self, out: typing.TextIO, total: int) -> None:
        self.out, self.total = out, total
        self.tty = out.isatty()
        self.next_quarter = 1

    def update(self, done: int) -> None:
        line = f"  ingest: {done:>11,} / {self.total:,} events ({100 * done / self.total:5.1f}%)"
        if self.tty:
            self.out.write("\r" + line)
            self.out.flush()
        elif done * 4 >= self.next_quarter * self.total:
            while done * 4 >= self.next_quarter * self.total:
                self.next_quarter += 1
            self.out.write(line + "\n")
            self.out.flush()

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    n, ooo, rng = args.events, args.ooo, random.Random(args.seed)
    out = sys.stdout

    print(f"timelog {__version__} (Rust engine) on Python {sys.version.split()[0]}\n")
    print(INTRO)
    print(f"This demo ingests {n:,} sensor event{'s' if n != 1 else ''} ({ooo:.0%} of them late), queries them,")
    print("deletes the oldest quarter by retention and compacts.\n")

    log = Timelog.for_streaming(time_unit="ms")
    base = 1_700_000_000_000  # ms since the epoch (November 2023)
    chunk = max(1, min(n // 100, 50_000))
    progress = _Progress(out, n)
    print(f"1. ingest: log.append(ts, event), timestamps in ms, {ooo:.0%} up to a minute late")
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        for i in range(start, stop):
            ts = base + i * 10
            if ooo and rng.random() < ooo:
                ts -= rng.randrange(1, 60_000)
            log.append(ts, {"seq": i, "value": i % 97})
        progress.update(stop)
    progress.finish()
    ingest_s = time.perf_counter() - t0
    print(f"   {n:,} event{'s' if n != 1 else ''} in {ingest_s:.2f} s ({n / ingest_s:,.0f} events/s); len(log) = {len(log):,}\n")

    log.flush()
    mid = base + (n // 2) * 10
    print("2. queries (each the mean of repeated calls; every one reads a consistent snapshot):")
    rows = list(log[mid : mid + 10_000])
    t_range = _fmt_ns(_timed(lambda: list(log[mid : mid + 10_000]), 50))
    print(f"   list(log[mid:mid+10_000])  range [t1, t2), 10 s     -> {len(rows):>6} rows   {t_range}")
    t_point = _fmt_ns(_timed(lambda: log[mid], 20_000))
    print(f"   log[mid]                   objects at one timestamp -> {len(log[mid]):>6} rows   {t_point}")
    t_next = _fmt_ns(_timed(lambda: log.next_ts(mid), 20_000))
    print(f"   log.next_ts(mid)           the next timestamp       -> {log.next_ts(mid)}   {t_next}")
    t_tail = _fmt_ns(_timed(lambda: log.tail(100), 2_000))
    print(f"   log.tail(100)              the newest 100 records   -> {len(log.tail(100)):>6} rows   {t_tail}")
    newest = [t for t, _ in list(reversed(log[mid : mid + 1_000]))[:3]]
    print(f"   reversed(log[mid:mid+1000]) newest first            -> {newest}")
    t1 = time.perf_counter()
    total = 0
    for span in log.views():
        total += len(span.timestamps)
        span.close()
    print(
        f"   log.views()                zero-copy int64 pages    -> {total:,} timestamps in "
        f"{(time.perf_counter() - t1) * 1e3:.1f} ms\n"
    )

    cut = base + (n // 4) * 10
    before = len(log)
    log.delete_before(cut)
    log.compact()
    print("3. retention: log.delete_before(ts) of the oldest quarter, then log.compact()")
    print(f"   len(log): {before:,} -> {len(log):,}; min_ts() = {log.min_ts()}")
    print(f"   repr(log): {log!r}\n")

    print("4. log.stats() (storage layout and maintenance counters):")
    for section, values in log.stats().items():
        print(f"   {section}: {values}")
    log.validate()
    log.close()
    print()
    print(NEXT_STEPS, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
