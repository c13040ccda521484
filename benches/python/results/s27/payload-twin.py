"""Session 27: is retention's `log[k]` gap (range scenario, ours/fresh
1.26-1.53x) the engine's or the payloads'? The range/disabled scenario of
retention.py (full sizes), then two fresh twins of the retained log: one
with new payload ints (what retention.py builds), one holding the very
payload objects the retained log holds. `log[k]` over the same live keys on
the three logs, taking turns; CPU medians of 9 passes.

    python results/s27/payload-twin.py
"""
import array, gc, random, statistics, sys, time
from timelog import Timelog

BASE, OLD, STREAM, WINDOW, EVERY, KEYS = 2_000_000, 200_000, 2_000_000, 20_000, 5_000, 30_000


def bulk(log, ts, objs):
    for i in range(0, len(ts), 100_000):
        log.bulk_append(array.array("q", ts[i:i + 100_000]), objs[i:i + 100_000])
    log.flush()


log = Timelog(maintenance="disabled", busy_policy="flush")
bulk(log, list(range(OLD)), list(range(OLD)))
cut = None
for i in range(STREAM):
    t = BASE + i
    log.append(t, t)
    if (i + 1) % EVERY == 0 and t - WINDOW > BASE:
        cut = t - WINDOW
        log.delete_range(BASE, cut)
log.flush()
live = [r for r in log]
live_ts = [t for t, _ in live]
fresh_new = Timelog(maintenance="disabled", busy_policy="flush")
bulk(fresh_new, live_ts, list(live_ts))  # new ints, as retention.py's twin
fresh_same = Timelog(maintenance="disabled", busy_policy="flush")
bulk(fresh_same, live_ts, [o for _, o in live])  # the retained log's own payloads
del live
rnd = random.Random(1)
keys = [live_ts[rnd.randrange(len(live_ts))] for _ in range(KEYS)]
logs = {"retained": log, "fresh, new payloads": fresh_new, "fresh, same payloads": fresh_same}
for l in logs.values():
    assert [l[k] for k in keys[:200]] == [log[k] for k in keys[:200]]
res = {n: [] for n in logs}
gc.disable()
for _ in range(9):
    for n, l in logs.items():
        t0 = time.process_time_ns()
        for k in keys:
            l[k]
        res[n].append((time.process_time_ns() - t0) / len(keys))
base = statistics.median(res["fresh, new payloads"])
for n, v in res.items():
    m = statistics.median(v)
    print(f"{n:22} log[k] {m:6.1f} ns  / fresh-new {m / base:.2f}  / fresh-same {m / statistics.median(res['fresh, same payloads']):.2f}")
print(sys.version.split()[0], Timelog.__module__)
