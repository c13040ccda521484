import gc, sys, time, random
import numpy as np
import timelog
old, base, stream, window, every = 200_000, 2_000_000, 2_000_000, 20_000, 5_000
maint = sys.argv[1]
log = timelog.Timelog(maintenance=maint, busy_policy="flush")
log.bulk_append(np.arange(0, old, dtype=np.int64), list(range(old)))
log.flush()
cut = None
for i in range(stream):
    t = base + i
    log.append(t, t)
    if (i + 1) % every == 0 and t - window > base:
        cut = t - window
        log.delete_range(base, cut)
log.flush()
end = base + stream
rng = random.Random(5)
keys = [rng.randrange(0, old) if rng.random() < old / (old + end - cut) else rng.randrange(cut, end) for _ in range(4000)]
gc.disable()
def timeit(f):
    best = []
    for _ in range(7):
        t0 = time.process_time_ns()
        for k in keys: f(k)
        best.append((time.process_time_ns() - t0) / len(keys))
    best.sort(); return best[3]
getitem = timeit(lambda k: log[k])
point = timeit(lambda k: [r for r in log.point(k)])
st = log.stats()
print(f"log[k] {getitem:.0f} ns  point {point:.0f} ns", st)
