"""A memtable's short reads ending within 8 records of their start (a scan of those records, not a search: `for_each_visible_run`), one row at a time: a log built as shapes.py builds SHAPE (200,000 appends, maintenance disabled; `window_*`: delete_before keeping 20,000; `*late5`: 5% late by up to 1,000), warm-up reads, then 7 timings of 2,000 reads of each row and the minimum kept (the host's slow stretches only add time). The bench venv's interpreter with $BEFORE_PYTHONPATH (a directory holding the older build's `timelog` package) first on its path against the same interpreter with the venv's own build, alternating per process. From the repository root: BEFORE_PYTHONPATH=... python3 benches/python/results/s44/ab/pointscan_min.py REPS [SHAPE]"""
import os, statistics, subprocess, sys

WORKER = r'''
import random, sys, time
import timelog
shape = sys.argv[1]
n, window = 200_000, 20_000
log = timelog.Timelog(maintenance="disabled")
rnd = random.Random(7)
late = "late5" in shape
slide = shape.startswith("window")
for i in range(n):
    ts = max(0, i - rnd.randint(1, 1000)) if late and i % 20 == 0 and i > 0 else i
    log.append(ts, i)
    if slide and (i + 1) % 1000 == 0 and i + 1 > window:
        log.delete_before(i + 1 - window)
lo = n - window if slide else 0
rnd = random.Random(3)
probes = [rnd.randrange(lo, n) for _ in range(2000)]
def point():
    for p in probes:
        list(log.point(p))
def range5():
    for p in probes:
        list(log.range(p, p + 5))
def range10():
    for p in probes:
        list(log.range(p, p + 10))
out = []
for f in (point, range5, range10):
    f()
    best = min((lambda t0: (f(), time.perf_counter_ns() - t0)[1])(time.perf_counter_ns()) for _ in range(7))
    out.append(best / len(probes))
print(" ".join(f"{x:.0f}" for x in out))
'''
py = "benches/python/.venv-ours-3.13/bin/python"
envs = {"before": dict(os.environ, PYTHONPATH=os.environ["BEFORE_PYTHONPATH"]), "after": {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}}
reps, shape = int(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "window_inorder")
res = {"before": [], "after": []}
for r in range(reps):
    for who in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
        res[who].append([float(x) for x in subprocess.run([py, "-c", WORKER, shape], capture_output=True, text=True, check=True, env=envs[who]).stdout.split()])
for i, name in enumerate(["list(point(t))", "list(range(t, t+5))", "list(range(t, t+10))"]):
    b = statistics.median(x[i] for x in res["before"]); a = statistics.median(x[i] for x in res["after"])
    print(f"{shape} | {name:22s} before {b:6.0f} ns  after {a:6.0f} ns  {b / a:.2f}x  (before {[round(x[i]) for x in res['before']]}, after {[round(x[i]) for x in res['after']]})")
