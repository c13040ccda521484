import sys, time, gc, array
from timelog import Timelog
m = int(sys.argv[1]); reps = int(sys.argv[2]); n = 100_000
res = []; keep = []
for r in range(reps):
    log = Timelog(maintenance="disabled", busy_policy="flush")
    ts_list = list(range(n))
    log.bulk_append(array.array("q", ts_list), list(ts_list))
    log.flush()
    f = log.delete_before
    step = max(1, (n // 2) // m)
    ts = [(i + 1) * step for i in range(m)]
    gc.collect(); gc.disable()
    t0 = time.process_time_ns()
    for t in ts:
        f(t)
    t1 = time.process_time_ns()
    gc.enable()
    res.append((t1 - t0) / m)
    keep.append(log)
res.sort()
print("%d median %.1f min %.1f" % (m, res[len(res)//2], res[0]))
