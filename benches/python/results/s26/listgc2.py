import gc, sys, time
import numpy as np
import timelog
n = int(sys.argv[1]); reps = int(sys.argv[2])
payloads = list(range(n))
log = timelog.Timelog(maintenance="disabled")
for i in range(0, n, 100_000):
    j = min(n, i + 100_000)
    log.bulk_append(np.arange(i, j, dtype=np.int64), payloads[i:j])
log.flush(); log.compact()
def measure(make, coll):
    b, f = [], []
    for _ in range(reps):
        gc.collect()
        if not coll: gc.disable()
        t0 = time.process_time_ns(); x = make(); t1 = time.process_time_ns(); del x; t2 = time.process_time_ns()
        gc.enable()
        b.append(t1 - t0); f.append(t2 - t1)
    b.sort(); f.sort()
    return b[reps//2]/1e6, f[reps//2]/1e6
for name, make in (("ours", lambda: list(log.all())), ("floor", lambda: list(zip(range(n), payloads)))):
    for coll in (False, True):
        b, f = measure(make, coll)
        print(f"{name:6} collector={coll!s:5} build {b:6.2f} ms  free {f:5.2f} ms  total {b+f:6.2f}")
