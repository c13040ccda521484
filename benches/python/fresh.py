#!/usr/bin/env python3
"""Reads right after late writes: the first reads of a memtable that took
late records, ours against the C package `timelog-lib==1.4.0`, on CPython
3.13.

    python3 benches/python/fresh.py              # 200,000 records, 5 processes each
    python3 benches/python/fresh.py --quick      # 50,000 records, 1 process each
    python3 benches/python/fresh.py --no-install # use the venvs as they are

`shapes.py` warms every read before it times it: it measures a log whose
reads have settled (ours: a late memtable's merged view built). A user
also meets the reads before that — a reader that tails a log
(`next(since(t))`) right after the writes, or the first full scan. Each
process here builds a fresh log (`maintenance="disabled"`, nothing
flushed, every 20th record late by up to 1,000), then times each read the
first time it runs:

- the first `next(since(t))` after the writes, then every one of the
  first 2,000 (random probes): their mean and their slowest;
- the first `list(log.range(t, t+1000))` of a second fresh log;
- the first `list(log.all())` of a third, and the second one;
- ours only (the C package has no descending reads): the first
  `next(log.all(reverse=True))` and the first
  `next(reversed(log.since(t)))`, each of a fresh log.

Each row is the median over the processes (the two packages take turns,
ours first in even processes). Prints ours, C and the speed-up (C time /
ours), marking rows below 1.5x and rows where ours is slower. One read
timed once is noisy on a shared machine: the rows are medians of several
processes, and the mean row sums 2,000 reads. Writes
results/fresh-<date>[-quick].json.
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

# Runs in each venv's interpreter (`-c WORKER N SEED`): prints one JSON
# object, ns per row.
WORKER = r'''
import json, random, sys, time
import timelog

n, seed = int(sys.argv[1]), int(sys.argv[2])

def build():
    log = timelog.Timelog(maintenance="disabled")
    rnd = random.Random(seed)
    for i in range(n):
        log.append(max(0, i - rnd.randint(1, 1000)) if i % 20 == 0 and i > 0 else i, i)
    return log

clock = time.perf_counter_ns
out = {}
log = build()
pr = random.Random(seed + 1)
probes = [pr.randrange(0, n) for _ in range(2000)]
ts = []
for p in probes:
    t0 = clock()
    next(log.since(p))
    ts.append(clock() - t0)
out["first next(since(t))"] = ts[0]
out["next(since(t)), mean of the first 2,000"] = sum(ts) / len(ts)
out["next(since(t)), slowest of the first 2,000"] = max(ts)
del log
log = build()
p = probes[0]
t0 = clock()
list(log.range(p, p + 1000))
out["first list(range(t, t+1000))"] = clock() - t0
del log
log = build()
t0 = clock()
list(log.all())
t1 = clock()
list(log.all())
t2 = clock()
out["first list(log.all())"] = t1 - t0
out["second list(log.all())"] = t2 - t1
# Newest first (ours only: the C package has no descending reads).
try:
    log.all(reverse=True)
except TypeError:
    pass
else:
    del log
    log = build()
    t0 = clock()
    next(log.all(reverse=True))
    out["first next(log.all(reverse=True)) (ours only)"] = clock() - t0
    del log
    log = build()
    t0 = clock()
    next(reversed(log.since(p)))
    out["first next(reversed(log.since(t))) (ours only)"] = clock() - t0
print(json.dumps(out))
'''


def run(venv: Path, n: int, seed: int) -> dict:
    return _venvs.run_worker(venv, WORKER, n, seed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="50,000 records, 1 process each")
    ap.add_argument("--processes", type=int, default=None, help="processes per package (default 5; quick 1)")
    ap.add_argument("--records", type=int, default=None, help="records per log (default 200,000; quick 50,000)")
    ap.add_argument("--no-install", action="store_true", help="use the venvs as they are")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    n = args.records or (50_000 if args.quick else 200_000)
    procs = args.processes or (1 if args.quick else 5)
    ours = _venvs.ensure_ours("3.13", install=not args.no_install)
    c = _venvs.ensure_c(install=not args.no_install)
    table: dict[str, dict[str, list[float]]] = {}
    for k in range(procs):
        order = [("ours", ours), ("c", c)] if k % 2 == 0 else [("c", c), ("ours", ours)]
        for who, venv in order:
            for row, ns in run(venv, n, 7 + k).items():
                table.setdefault(row, {}).setdefault(who, []).append(ns)
    rows, alone = [], []
    for key, v in table.items():
        o = statistics.median(v["ours"])
        if "c" not in v:
            alone.append({"row": key, "ours_ns": o})
            continue
        cc = statistics.median(v["c"])
        rows.append({"row": key, "ours_ns": o, "c_ns": cc, "speedup": cc / o, "meets_target": cc / o >= TARGET})
    print(f"{n:,} records, 5% late, {procs} process(es) per package")
    print(f"{'read':50s} {'ours us':>10s} {'C us':>10s} {'C/ours':>8s}")
    for r in rows:
        mark = "  slower" if r["speedup"] < 1 else ("  < 1.5x" if r["speedup"] < 1.5 else "")
        print(f"{r['row']:50s} {r['ours_ns'] / 1e3:10.2f} {r['c_ns'] / 1e3:10.2f} {r['speedup']:8.2f}{mark}")
    for r in alone:
        print(f"{r['row']:50s} {r['ours_ns'] / 1e3:10.2f}")
    met = sum(r["meets_target"] for r in rows)
    print(f"{met} of {len(rows)} rows at 1.5x C or more")
    out = args.out or HERE / "results" / f"fresh-{_dt.date.today()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"records": n, "processes": procs, "git": _venvs.git_state(), "ours_build": _venvs.build_info(ours)}
    out.write_text(json.dumps({"meta": meta, "rows": rows, "ours_only": alone}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
