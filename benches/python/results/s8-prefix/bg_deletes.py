"""Session 8 (prefix cut): `delete_before` CPU per call from Python on a
flushed log, maintenance "background" (and "disabled"), one process per
sample; prints JSON. Run under a venv's python (ours or the C package):

    python bg_deletes.py N M MODE      # N records, M calls, MODE background|disabled|step

background/disabled: ns_per_call is the loop's process CPU per call (the
debt steps the worker ran during the loop included); settled_ns_per_call
adds the CPU of the next second asleep (background: the worker's idle step
runs after 100 ms quiet; so it includes every debt step and the idle step
the deletes caused, wherever they ran, and the worker's wake-ups). step: maintenance disabled, M cuts
of N/(2M) records each, each followed by maint_step() until it returns
False; step_ns lists the CPU of each maint_step() call that did work.

Same shape as retention.py's deletes part (t increasing over the lower
half, each call covering the previous), but with background maintenance,
so the process CPU includes the debt steps the deletes cause while the
loop runs (docs/performance.md, Session 7, the `delete_before` bullet).
"""
import array
import gc
import json
import sys
import time

from timelog import Timelog

n, m, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
log = Timelog(maintenance="disabled" if mode == "step" else mode, busy_policy="flush")
ts = list(range(n))
for i in range(0, n, 100_000):
    c = ts[i:i + 100_000]
    log.bulk_append(array.array("q", c), list(c))
log.flush()
time.sleep(0.2)


def compactions():
    try:
        return log.stats()["operational"]["compactions_total"]
    except Exception:  # the C package's stats() differ
        return None


step = max(1, (n // 2) // m)
keys = [(i + 1) * step for i in range(m)]
f = log.delete_before
if mode == "step":
    steps = []
    for t in keys:
        f(t)
        while True:
            t0 = time.process_time_ns()
            did = log.maint_step()
            t1 = time.process_time_ns()
            if not did:
                break
            steps.append(t1 - t0)
    json.dump({"step_ns": steps, "len": len(log)}, sys.stdout)
    print()
    log.close()
    sys.exit(0)
c0 = compactions()
gc.collect()
gc.disable()
t0 = time.process_time_ns()
for t in keys:
    f(t)
t1 = time.process_time_ns()
c1 = compactions()
# Settle (background): one second asleep (the worker's idle step runs
# after 10 quiet wake-up periods, 100 ms); no polling, which costs CPU too.
w0 = time.perf_counter()
if mode == "background":
    time.sleep(1.0)
t2 = time.process_time_ns()
gc.enable()
c2 = compactions()
out = {"ns_per_call": (t1 - t0) / m, "compactions": None if c0 is None else c1 - c0,
       "settled_ns_per_call": (t2 - t0) / m, "settled_compactions": None if c0 is None else c2 - c0,
       "settle_wall_s": round(time.perf_counter() - w0, 2), "len": len(log)}
log.close()
json.dump(out, sys.stdout)
print()
