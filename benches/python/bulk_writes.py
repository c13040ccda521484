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

    python3 benches/python/bulk_writes.py --impl c=PY --impl ours=PY [--impl before=PY] [--repeats 5]

PY is the interpreter of a venv holding that package (compare.py's venvs:
benches/python/.venv-c-3.13, .venv-ours-3.13). Each repeat runs every
implementation once, in rotating order; a row's value is the median over
the repeats of the CPU time of the process (all threads: a background
worker's work in the call counts) of the call alone, in ns/record, GC off.
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


def timing_rows():
    return [f"{op}_{n // 1000}k_{m}" for op in ("bulk_append", "extend") for n in SIZES for m in MAINT]


MEM_ROWS = ["mem_bulk", "mem_extend1"]


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
        if op == "bulk_append":
            args = (np.arange(n, dtype=np.int64), [PAYLOAD] * n)
        else:
            args = ([(t, PAYLOAD) for t in range(n)],)
        log = Timelog(maintenance=maint, busy_policy="flush")
        f = getattr(log, op)
        gc.collect()
        gc.disable()
        t0 = time.process_time_ns()
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
        args = (np.arange(n, dtype=np.int64), [None] * n)
    else:
        args = ([(t, None) for t in range(n)],)
    gc.collect()
    log = Timelog(maintenance="disabled", busy_policy="flush")
    r0 = rss()
    getattr(log, "bulk_append" if row == "mem_bulk" else "extend")(*args)
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
            if timing:
                for r, v in run(py, timing).items():
                    samples[r][name].append(v)
            for r in mem:
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
