#!/usr/bin/env python3
"""Time-bucket counts: `log.histogram()` against doing it in Python.

    .venvs/py311/bin/python benches/python/histogram.py            # 2M records
    .venvs/py311/bin/python benches/python/histogram.py --quick    # CI: 200k records

Run it with an interpreter where `timelog` (this checkout) and numpy are
installed. For one log of N records (one per timestamp, in order; flushed
and compacted, then with 2% of the records deleted and 1% re-written into
the memtable), it times, over the whole range and for 100 and 10 000
buckets:

  native list    log.histogram(t1, t2, bucket)                      -> list
  native numpy   log.histogram(t1, t2, bucket, numpy=True)          -> int64 array
  python loop    for t, _ in log.range(t1, t2): counts[(t - t1) // bucket] += 1
  numpy views    per span of log.views(t1, t2): np.bincount over the
                 span's timestamps (zero-copy), summed. Physical pages only:
                 it ignores deletes and memtable records, so on the second
                 layout its answer is wrong; it is the fastest thing a user
                 can write in Python and the bar "native" must clear.

Reported: the median of the repeats of each, and the ratios
python loop / native and numpy views / native (targets: >= 10 and >= 1).
Every native result is checked against the Python loop's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from timelog import Timelog


def timed(f, repeats):
    out, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = f()
        out.append(time.perf_counter() - t0)
    return statistics.median(out), res


def python_loop(log, t1, t2, bucket):
    n = -(-(t2 - t1) // bucket)
    counts = [0] * n
    for t, _ in log.range(t1, t2):
        counts[(t - t1) // bucket] += 1
    return counts


def numpy_views(log, t1, t2, bucket):
    n = -(-(t2 - t1) // bucket)
    counts = np.zeros(n, dtype=np.int64)
    with log.views(t1, t2) as it:
        for span in it:
            ts = np.asarray(span.timestamps)
            ts = ts[(ts >= t1) & (ts < t2)]
            counts += np.bincount((ts - t1) // bucket, minlength=n)
            span.close()
    return counts


def layouts(n):
    log = Timelog(maintenance="disabled", busy_policy="flush")
    log.bulk_append(np.arange(n, dtype=np.int64), [None] * n)
    log.flush()
    log.compact()
    yield "flushed+compacted", log
    step = 50
    for a in range(0, n, n // step):
        del log[a : a + n // (step * 50)]  # 2% deleted, in 50 ranges
    rs = np.arange(0, n, 100, dtype=np.int64)
    log.bulk_append(rs, [None] * len(rs))  # 1% re-written, in the memtable
    yield "deletes+memtable", log


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="200k records, 3 repeats")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args()
    n = 200_000 if args.quick else 2_000_000
    repeats = 3 if args.quick else 7
    rows = []
    print(f"records={n} repeats={repeats} python={sys.version.split()[0]}")
    print(f"{'layout':<18} {'buckets':>7} {'native list':>12} {'native np':>10} {'py loop':>9} {'np views':>9} {'loop/nat':>9} {'views/nat':>9}")
    for name, log in layouts(n):
        t1, t2 = 0, n
        for nb in (100, 10_000):
            bucket = -(-(t2 - t1) // nb)
            nat, h = timed(lambda: log.histogram(t1, t2, bucket), repeats)
            natnp, hn = timed(lambda: log.histogram(t1, t2, bucket, numpy=True), repeats)
            loop, ref = timed(lambda: python_loop(log, t1, t2, bucket), max(1, repeats // 2))
            views, _ = timed(lambda: numpy_views(log, t1, t2, bucket), repeats)
            assert h == ref and hn.tolist() == ref, "native histogram differs from the Python loop"
            best = min(nat, natnp)
            row = {
                "layout": name,
                "buckets": nb,
                "native_list_s": nat,
                "native_numpy_s": natnp,
                "python_loop_s": loop,
                "numpy_views_s": views,
                "loop_over_native": loop / best,
                "views_over_native": views / best,
            }
            rows.append(row)
            print(
                f"{name:<18} {nb:>7} {nat * 1e3:>10.3f}ms {natnp * 1e3:>8.3f}ms {loop * 1e3:>7.1f}ms {views * 1e3:>7.3f}ms "
                f"{row['loop_over_native']:>8.0f}x {row['views_over_native']:>8.1f}x"
            )
    log.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": n, "repeats": repeats, "rows": rows}, f, indent=1)
    worst_loop = min(r["loop_over_native"] for r in rows)
    worst_views = min(r["views_over_native"] for r in rows)
    print(f"worst ratios: python loop / native = {worst_loop:.0f}x (target >= 10), numpy views / native = {worst_views:.1f}x (target >= 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
