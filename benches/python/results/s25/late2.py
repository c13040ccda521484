import sys, time, pickle, statistics
from timelog import Timelog
frac, n, reps, maint = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tss = pickle.load(open(f"/tmp/py/ts{frac}_{n}.pkl", "rb")); o = object()
def loop(f, tss, o):
    for t in tss:
        f(t, o)
rows = []
for _ in range(reps):
    log = Timelog(maintenance=maint, busy_policy="flush")
    c0 = time.thread_time_ns(); w0 = time.perf_counter_ns()
    loop(log.append, tss, o)
    c1 = time.thread_time_ns(); w1 = time.perf_counter_ns()
    log.flush()
    c2 = time.thread_time_ns(); w2 = time.perf_counter_ns()
    rows.append(((c1-c0)/n, (w1-w0)/n, (c2-c1)/n, (w2-w1)/n, (w2-w0)/n))
    log.close()
med = [statistics.median(r[i] for r in rows) for i in range(5)]
print(f"{frac} n={n} {maint}: append cpu {med[0]:.1f} wall {med[1]:.1f} | flush cpu {med[2]:.1f} wall {med[3]:.1f} | total wall {med[4]:.1f} ns/rec")
