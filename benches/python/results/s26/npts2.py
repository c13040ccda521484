import time, numpy as np, timelog, gc
log = timelog.Timelog(maintenance="disabled", busy_policy="flush")
n = 200000
ts = [np.int64(i) for i in range(n)]
pts = list(range(n))
gc.disable()
def run(xs):
    ap = log.append
    t0 = time.process_time_ns()
    for t in xs: ap(t, 1)
    return (time.process_time_ns() - t0) / n
res = {"np": [], "int": []}
for r in range(9):
    res["np"].append(run(ts)); res["int"].append(run(pts))
for k, v in res.items():
    v.sort(); print(k, f"median {v[4]:.0f} ns  min {v[0]:.0f}")
