#!/usr/bin/env python3
"""Reads of payload objects scattered in memory, ours against the C package
`timelog-lib==1.4.0`, on CPython 3.13.

    python3 benches/python/scattered.py              # 200,000 and 1,000,000 records, 3 processes each
    python3 benches/python/scattered.py --quick      # 50,000 records, 1 process each
    python3 benches/python/scattered.py --no-install # use the venvs as they are

In a long-running process the payloads of consecutive records were
allocated at different times and lie anywhere in memory, in no particular
order relative to their timestamps. Every row a read yields takes a new
reference to its payload: the reference count increment is then a cache
miss unless the payload was loaded ahead. The C package's iterator, and
ours before session 42, paid that miss per row; ours now prefetches the
payload objects 16 rows ahead, and loads them ahead as its collector
traversal visits them and as its pages drop them. `shapes.py` reads
payloads allocated in order, adjacent in memory; here each process builds
a flushed log (`maintenance="disabled"`) whose payloads are distinct
`int` objects (32 bytes each) in one of two layouts:

- `inorder`: record i's payload allocated right after record i-1's;
- `scattered`: the same objects shuffled before they are appended, so
  record i's payload sits anywhere relative to record i+1's.

The reads, each warmed once and then timed as the median of 5 repeats in
the process (the lists they build are freed after the clock stops), in
time per read:

- `for r in log.all(): pass` and `list(log.all())`, the whole log;
- `for r in log.range(t, t+1000): pass` and `list(log.range(t, t+1000))`,
  200 random probes;
- `[r for r in log.range(t, t+10)]` and `list(log.point(t))`, 2,000
  random probes;
- releasing the objects: `gc.collect()` beside the log (median of 5; ours
  reports every payload to the collector, so a full collection reads each
  object), then, timed once, `delete_before(n/2)`, `compact()` and `del
  log` together (the C package's `compact()` leaves the deleted records to
  the log's drop; ours releases them in it).

Each (record count, layout) runs in its own processes; each row is the
median over the processes (the two packages take turns, ours first in
even processes). Prints ours, C and the speed-up (C time / ours), marking
rows below 1.5x and rows where ours is slower, then what each package
loses to the layout (scattered time / in-order time). Writes
results/scattered-<date>[-quick].json.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _venvs  # noqa: E402
import compare  # noqa: E402  (the target)

HERE = _venvs.HERE
TARGET = compare.TARGET
LAYOUTS = ("inorder", "scattered")

# Runs in each venv's interpreter (`-c WORKER N SEED LAYOUT`): prints one
# JSON object, ns per read.
WORKER = r'''
import json, random, statistics, sys, time
import timelog

n, seed, layout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
objs = [int(str(10**9 + i)) for i in range(n)]
if layout == "scattered":
    random.Random(seed).shuffle(objs)
log = timelog.Timelog(maintenance="disabled")
for i in range(n):
    try:
        log.append(i, objs[i])
    except timelog.TimelogBusyError:  # inserted; the sealed memtables wait for a flush
        log.flush()
log.flush()
del objs
pr = random.Random(seed + 1)
long = [pr.randrange(0, n - 1000) for _ in range(200)]
short = [pr.randrange(0, n - 10) for _ in range(2000)]
points = [pr.randrange(0, n) for _ in range(2000)]

def scan_all():
    for r in log.all():
        pass

def scan_long():
    for t in long:
        for r in log.range(t, t + 1000):
            pass

reads = {
    "for r in log.all()": (scan_all, 1),
    "list(log.all())": (lambda: list(log.all()), 1),
    "for r in log.range(t, t+1000)": (scan_long, len(long)),
    "list(log.range(t, t+1000))": (lambda: [list(log.range(t, t + 1000)) for t in long], len(long)),
    "[r for r in log.range(t, t+10)]": (lambda: [[r for r in log.range(t, t + 10)] for t in short], len(short)),
    "list(log.point(t))": (lambda: [list(log.point(t)) for t in points], len(points)),
}
clock = time.perf_counter_ns
out = {}
for name, (f, count) in reads.items():
    f()
    runs = []
    for _ in range(5):
        t0 = clock()
        kept = f()
        runs.append(clock() - t0)
        del kept
    out[f"{layout} | {name}"] = statistics.median(runs) / count
# What releasing the log's objects costs: a full collection beside it
# (ours reports every payload to the collector; median of 5), then, once
# each, deleting and compacting away the older half and dropping the log.
import gc
gc.collect()
runs = []
for _ in range(5):
    t0 = clock()
    gc.collect()
    runs.append(clock() - t0)
out[f"{layout} | gc.collect()"] = statistics.median(runs)
# One row: the C package's compact() leaves the deleted records to the
# log's drop, ours releases them in it.
t0 = clock()
log.delete_before(n // 2)
log.compact()
del log
out[f"{layout} | delete_before, compact, del log"] = clock() - t0
print(json.dumps(out))
'''


def run(venv: Path, n: int, seed: int, layout: str) -> dict:
    return _venvs.run_worker(venv, WORKER, n, seed, layout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="50,000 records, 1 process each")
    ap.add_argument("--processes", type=int, default=None, help="processes per package (default 3; quick 1)")
    ap.add_argument("--records", type=int, default=None, help="one record count (default 200,000 and 1,000,000)")
    ap.add_argument("--no-install", action="store_true", help="use the venvs as they are")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    counts = [args.records] if args.records else ([50_000] if args.quick else [200_000, 1_000_000])
    procs = args.processes or (1 if args.quick else 3)
    ours = _venvs.ensure_ours("3.13", install=not args.no_install)
    c = _venvs.ensure_c(install=not args.no_install)
    table: dict[tuple[int, str], dict[str, list[float]]] = {}
    for k in range(procs):
        order = [("ours", ours), ("c", c)] if k % 2 == 0 else [("c", c), ("ours", ours)]
        for n in counts:
            for layout in LAYOUTS:
                for who, venv in order:
                    for row, ns in run(venv, n, 7 + k, layout).items():
                        table.setdefault((n, row), {}).setdefault(who, []).append(ns)
    rows = []
    for (n, key), v in table.items():
        o, cc = statistics.median(v["ours"]), statistics.median(v["c"])
        rows.append({"records": n, "row": key, "ours_ns": o, "c_ns": cc, "speedup": cc / o,
                     "meets_target": cc / o >= TARGET})
    inorder = {(r["records"], r["row"].split(" | ", 1)[1]): r for r in rows if r["row"].startswith("inorder")}
    for r in rows:
        if r["row"].startswith("scattered"):
            base = inorder[(r["records"], r["row"].split(" | ", 1)[1])]
            r["ours_vs_inorder"] = r["ours_ns"] / base["ours_ns"]
            r["c_vs_inorder"] = r["c_ns"] / base["c_ns"]
    print(f"flushed logs, {procs} process(es) per package")
    print(f"{'records':>9s}  {'read':45s} {'ours us':>10s} {'C us':>10s} {'C/ours':>8s}")
    for r in rows:
        mark = "  slower" if r["speedup"] < 1 else ("  < 1.5x" if r["speedup"] < 1.5 else "")
        print(f"{r['records']:9,d}  {r['row']:45s} {r['ours_ns'] / 1e3:10.2f} {r['c_ns'] / 1e3:10.2f} "
              f"{r['speedup']:8.2f}{mark}")
    met = sum(r["meets_target"] for r in rows)
    print(f"{met} of {len(rows)} rows at 1.5x C or more")
    print("\nwhat the layout costs: scattered time / in-order time")
    print(f"{'records':>9s}  {'read':45s} {'ours':>8s} {'C':>8s}")
    for r in rows:
        if "ours_vs_inorder" in r:
            print(f"{r['records']:9,d}  {r['row']:45s} {r['ours_vs_inorder']:8.2f} {r['c_vs_inorder']:8.2f}")
    out = args.out or HERE / "results" / f"scattered-{_dt.date.today()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"records": counts, "processes": procs, "git": _venvs.git_state(), "ours_build": _venvs.build_info(ours)}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
