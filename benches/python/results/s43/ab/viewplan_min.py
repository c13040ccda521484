"""The view-served short-range plan, one row at a time: a window_late5 log (shapes.py's build: 200,000 appends, 5% late by up to 1,000, delete_before keeping 20,000, maintenance disabled), its view built by warm-up reads, then 7 timings of 2,000 reads of each row and the minimum kept (the host's slow stretches only add time). $BEFORE_VENV against the bench venv, alternating per process. From the repository root: BEFORE_VENV=... python3 benches/python/results/s43/ab/viewplan_min.py REPS [SHAPE]"""
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
def list10():
    for p in probes:
        list(log.range(p, p + 10))
def for10():
    for p in probes:
        [r for r in log.range(p, p + 10)]
def list100():
    for p in probes[:500]:
        list(log.range(p, p + 100))
out = []
for f, k in ((list10, 2000), (for10, 2000), (list100, 500)):
    f()
    best = min((lambda t0: (f(), time.perf_counter_ns() - t0)[1])(time.perf_counter_ns()) for _ in range(7))
    out.append(best / k)
print(" ".join(f"{x:.0f}" for x in out))
'''
venvs = {"before": os.environ["BEFORE_VENV"] + "/bin/python", "after": "benches/python/.venv-ours-3.13/bin/python"}
reps, shape = int(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "window_late5")
res = {"before": [], "after": []}
for r in range(reps):
    for who in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
        res[who].append([float(x) for x in subprocess.run([venvs[who], "-c", WORKER, shape], capture_output=True, text=True, check=True).stdout.split()])
for i, name in enumerate(["list(range(t, t+10))", "[r for r in range(t, t+10)]", "list(range(t, t+100))"]):
    b = statistics.median(x[i] for x in res["before"]); a = statistics.median(x[i] for x in res["after"])
    print(f"{shape} | {name:30s} before {b:7.0f} ns  after {a:7.0f} ns  {b / a:.2f}x  (before {[round(x[i]) for x in res['before']]}, after {[round(x[i]) for x in res['after']]})")
