#!/usr/bin/env python3
"""Bulk writes, side by side: one `bulk_append(int64 ndarray, list)` or one
`extend(list of pairs)` call of N records into a fresh log, N = 200,000 and
1,000,000, `maintenance="disabled"` and `"background"` (busy_policy
"flush", as compare.py's write rows), for up to three packages in one run:
the C package `timelog-lib` 1.4.0 and one or two builds of ours (e.g. the
code before and after a change). Plus resident bytes per record after one
such call of 1,000,000 `None` payloads and `flush()`, no `malloc_trim`
(compare.py's `mem_bulk`; `mem_extend1` is one `extend` call instead of
10k-pair calls), each in a fresh process.

`batches_*` rows are a stream: `bulk_append` in 10,000-record calls (each
smaller than a memtable, so the memtable path, with flushes and
compactions in the call's log as the stream goes), 200,000 to 2,000,000
records into one fresh log; `mem_batches` is its resident bytes per record
after 1,000,000 `None` payloads and `flush()`.

    python3 benches/python/bulk_writes.py --impl c=PY --impl ours=PY [--impl before=PY] [--repeats 5]

PY is the interpreter of a venv holding that package (compare.py's venvs:
benches/python/.venv-c-3.13, .venv-ours-3.13). Each repeat runs every
implementation once, in rotating order; a row's value is the median over
the repeats of the CPU time of the process (all threads: a background
worker's work in the call counts) of the call alone, in ns/record, GC off;
every row runs in a fresh process.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

SIZES = (200_000, 1_000_000)
MAINT = ("disabled", "background")
PAYLOAD = {"event": "tick"}


BATCH = 10_000


def timing_rows():
    one_call = [f"{op}_{n // 1000}k_{m}" for op in ("bulk_append", "extend") for n in SIZES for m in MAINT]
    return one_call + [f"batches_{n // 1000}k_{m}" for n in SIZES + (2_000_000,) for m in MAINT]


MEM_ROWS = ["mem_bulk", "mem_extend1", "mem_batches"]


def chunks(np, n, payload):
    """`bulk_append` arguments of `n` records in BATCH-record calls."""
    return [(np.arange(i, min(i + BATCH, n), dtype=np.int64), [payload] * (min(i + BATCH, n) - i))
            for i in range(0, n, BATCH)]


def worker(rows):
    import numpy as np
    from timelog import Timelog

    out = {}
    for row in rows:
        if row.startswith("mem_"):
            out[row] = mem_row(row, np, Timelog)
            continue
        op, size, maint = row.rsplit("_", 2)
        n = int(size[:-1]) * 1000
        log = Timelog(maintenance=maint, busy_policy="flush")
        if op == "batches":
            calls, f = chunks(np, n, PAYLOAD), log.bulk_append
        elif op == "bulk_append":
            calls, f = [(np.arange(n, dtype=np.int64), [PAYLOAD] * n)], log.bulk_append
        else:
            calls, f = [([(t, PAYLOAD) for t in range(n)],)], log.extend
        gc.collect()
        gc.disable()
        t0 = time.process_time_ns()
        for args in calls:
            f(*args)
        t1 = time.process_time_ns()
        gc.enable()
        assert len(log) == n
        log.close()
        out[row] = (t1 - t0) / n
    print(json.dumps(out))


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mem_row(row, np, Timelog):
    n = 1_000_000
    if row == "mem_bulk":
        calls = [(np.arange(n, dtype=np.int64), [None] * n)]
    elif row == "mem_batches":
        calls = chunks(np, n, None)
    else:
        calls = [([(t, None) for t in range(n)],)]
    gc.collect()
    log = Timelog(maintenance="disabled", busy_policy="flush")
    f = log.extend if row == "mem_extend1" else log.bulk_append
    r0 = rss()
    for args in calls:
        f(*args)
    log.flush()
    r1 = rss()
    assert len(log) == n
    return (r1 - r0) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", action="append", default=[], help="NAME=PYTHON (repeatable)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", default=None, help="comma-separated subset")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help="JSON output path")
    a = ap.parse_args()
    if a.worker:
        worker(a.worker.split(","))
        return
    impls = [tuple(s.split("=", 1)) for s in a.impl]
    rows = a.rows.split(",") if a.rows else timing_rows() + MEM_ROWS
    timing = [r for r in rows if not r.startswith("mem_")]
    mem = [r for r in rows if r.startswith("mem_")]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    samples = {r: {name: [] for name, _ in impls} for r in rows}

    def run(py, rs):
        cmd = [py, os.path.abspath(__file__), "--worker", ",".join(rs)]
        res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
        return json.loads(res.stdout.strip().splitlines()[-1])

    for rep in range(a.repeats):
        k = rep % len(impls)
        for name, py in impls[k:] + impls[:k]:
            # Every row in a process of its own: run after other rows in one
            # process, the first `batches` row read ~190 ns/record for both
            # packages (session 39), against ~16-21 alone.
            for r in timing + mem:
                samples[r][name].append(run(py, [r])[r])
        print(f"[bulk_writes] repeat {rep + 1}/{a.repeats}", file=sys.stderr, flush=True)
    names = [n for n, _ in impls]
    med = {r: {n: statistics.median(samples[r][n]) for n in names} for r in rows}
    head = "| row | " + " | ".join(names) + " | " + " | ".join(f"C / {n}" for n in names if n != "c") + " |"
    print(head)
    print("|" + "---|" * (1 + len(names) + len([n for n in names if n != "c"])))
    for r in rows:
        unit = "B/rec" if r.startswith("mem_") else "ns/rec"
        vals = " | ".join(f"{med[r][n]:.1f}" for n in names)
        ratios = " | ".join(f"{med[r]['c'] / med[r][n]:.2f}x" for n in names if n != "c") if "c" in names else ""
        print(f"| {r} ({unit}) | {vals} | {ratios} |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "repeats": a.repeats, "samples": samples,
                       "median": med}, f, indent=1)


if __name__ == "__main__":
    main()
