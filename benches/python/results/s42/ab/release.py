"""One release measurement (ab2.py runs it per build): MODE N LAYOUT, where
MODE is gc (gc.collect() beside the log, median of 7), half
(delete_before(n/2) + compact(), then del log) or holes (delete_range of
half of every 1,000 records + compact()); prints the times in ms."""
import gc, random, statistics, sys, time

import timelog

mode, n, layout = sys.argv[1], int(sys.argv[2]), sys.argv[3]
objs = [int(str(i + 10**9)) for i in range(n)]
if layout == "scattered":
    random.Random(5).shuffle(objs)
log = timelog.Timelog(maintenance="disabled")
for i in range(n):
    log.append(i, objs[i])
log.flush()
del objs
cpu = time.process_time_ns
if mode == "gc":
    gc.collect()
    ts = []
    for _ in range(7):
        t0 = cpu()
        gc.collect()
        ts.append(cpu() - t0)
    print(layout, "gc.collect()", round(statistics.median(ts) / 1e6, 2), "ms")
elif mode == "half":
    t0 = cpu()
    log.delete_before(n // 2)
    log.compact()
    t1 = cpu()
    del log
    t2 = cpu()
    print(layout, f"delete_before(half)+compact {(t1 - t0) / 1e6:.1f} ms, del log (other half) {(t2 - t1) / 1e6:.1f} ms")
elif mode == "holes":
    t0 = cpu()
    for k in range(0, n, 1000):
        log.delete_range(k, k + 500)
    log.compact()
    print(layout, f"holes + compact {(cpu() - t0) / 1e6:.1f} ms")
