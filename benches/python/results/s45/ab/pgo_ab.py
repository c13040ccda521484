"""Builds of the same code side by side (session 45: profile-guided vs not):
each VARIANT is a directory holding an unpacked wheel (its `timelog`
package), put first on the path of the 3.13 bench venv's interpreter. Per
process: a log built as shapes.py builds SHAPE (200,000 appends,
maintenance disabled; `window_*`: delete_before keeping 20,000; `*late5`: 5%
late by up to 1,000; `flushed_*`: flushed and compacted), the appends' CPU
time per record, then for each read 7 timings of 2,000 reads (100 for the
1,000-row list) and the minimum kept. Variants alternate per process, REPS
processes each; prints medians and minimums over processes, and each
variant's ratio to the first. From the repository root:
    python3 benches/python/results/s45/ab/pgo_ab.py REPS SHAPE DIR_A DIR_B ...
Unpack a wheel with `python3 -m zipfile -e WHEEL DIR`."""
import os, statistics, subprocess, sys
WORKER = r'''
import random, sys, time, itertools
import timelog
shape = sys.argv[1]
n, window = 200_000, 20_000
t0 = time.process_time_ns()
log = timelog.Timelog(maintenance="disabled")
rnd = random.Random(7)
late = "late5" in shape
slide = shape.startswith("window")
for i in range(n):
    ts = max(0, i - rnd.randint(1, 1000)) if late and i % 20 == 0 and i > 0 else i
    log.append(ts, i)
    if slide and (i + 1) % 1000 == 0 and i + 1 > window:
        log.delete_before(i + 1 - window)
build = (time.process_time_ns() - t0) / n
if shape.startswith("flushed"):
    log.flush(); log.compact()
lo = n - window if slide else 0
rnd = random.Random(3)
probes = [rnd.randrange(lo, n) for _ in range(2000)]
few = probes[:100]
def get():
    for p in probes: log[p]
def point():
    for p in probes: list(log.point(p))
def nts():
    for p in probes: log.next_ts(p)
def range10():
    for p in probes: list(log.range(p, p + 10))
def for10():
    for p in probes: [r for r in log.range(p, p + 10)]
def range1000():
    for p in few: list(log.range(p, p + 1000))
out = [build]
for f, k in ((get, 2000), (point, 2000), (nts, 2000), (range10, 2000), (for10, 2000), (range1000, 100)):
    f()
    best = min((lambda t0: (f(), time.perf_counter_ns() - t0)[1])(time.perf_counter_ns()) for _ in range(7))
    out.append(best / k)
print(" ".join(f"{x:.1f}" for x in out))
'''
NAMES = ["append(cpu)", "log[t]", "list(point)", "next_ts", "list(range10)", "for range10", "list(range1000)"]
py = "benches/python/.venv-ours-3.13/bin/python"
reps, shape, variants = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
res = {v: [] for v in variants}
for r in range(reps):
    order = variants if r % 2 == 0 else variants[::-1]
    for v in order:
        env = dict(os.environ, PYTHONPATH=v)
        res[v].append([float(x) for x in subprocess.run([py, "-c", WORKER, shape], capture_output=True, text=True, check=True, env=env).stdout.split()])
base = variants[0]
for i, name in enumerate(NAMES):
    b = statistics.median(x[i] for x in res[base]); bm = min(x[i] for x in res[base])
    line = f"{shape:16s} {name:16s} {os.path.basename(base)}: med {b:8.1f} min {bm:8.1f}"
    for v in variants[1:]:
        a = statistics.median(x[i] for x in res[v]); am = min(x[i] for x in res[v])
        line += f" | {os.path.basename(v)}: med {a:8.1f} ({b/a:.3f}x) min {am:8.1f} ({bm/am:.3f}x)"
    print(line, flush=True)
