"""Read loops for instruction counts under callgrind, with the cycle
collector ON (a copy of ../../readpath/cg_loops.py, which turns it off;
s9-untrack). Extra loop: listall = list(log.all()).

Original docs:
Read loops for instruction counts under callgrind (issue 13 item 4).

    python cg_loops.py LOOP REPS

builds 100 000 flushed, compacted records, then runs LOOP (scan, batch, pt,
r10, sl10, r100, at, gi, zipr, listzip, loop) REPS times. callgrind.sh runs
it with REPS = 1 and 3: the difference is the loop's cost alone.
"""
import sys, gc
import numpy as np
from timelog import Timelog
what, reps = sys.argv[1], int(sys.argv[2])
n = 100_000
log = Timelog(maintenance="disabled", busy_policy="flush")
payloads = list(range(n))
log.bulk_append(np.arange(0, n, dtype=np.int64), payloads)
log.flush(); log.compact()
keys = list(range(0, n - 200, 97))  # ~1000 keys
gc.collect()  # s9-untrack: the collector stays ON (default thresholds)
def scan():
    c = 0
    for _ in log: c += 1
def batch():
    it = log.all(); nb = it.next_batch
    while nb(4096): pass
def zipr():
    c = 0
    for _ in zip(range(n), payloads): c += 1
def listzip():
    list(zip(range(n), payloads))
def pt():
    f = log.point
    for k in keys:
        for _ in f(k): pass
def r10():
    f = log.range
    for k in keys:
        for _ in f(k, k + 10): pass
def r100():
    f = log.range
    for k in keys:
        for _ in f(k, k + 100): pass
def sl10():
    for k in keys:
        for _ in log[k:k + 10]: pass
def at():
    f = log.at
    for k in keys: f(k)
def gi():
    for k in keys: log[k]
def listall():
    list(log.all())
def loop():
    for k in keys: pass
fn = globals()[what]
for _ in range(reps): fn()
