"""The full-scan read rows with the cycle collector ON (s9-untrack).

    python gc_on.py

workload.py times every row with the collector off (gc.disable()), where
untracking rows cannot save anything; a program that reads a log has it on.
Same data as workload.py's ReadData in --mode full (1 000 000 records,
ts 0..n-1, distinct int payloads, flushed and compacted); each row runs
once, after gc.collect(), with the collector on at its default
thresholds; CPU time of the process (time.process_time_ns). Prints one
JSON object: rows/s per row. Works with ours and the C package alike.
"""
import gc, json, sys, time
import numpy as np
import timelog
from timelog import Timelog

n = 1_000_000
log = Timelog(maintenance="disabled", busy_policy="flush")
payloads = list(range(n))
for i in range(0, n, 100_000):
    j = min(i + 100_000, n)
    log.bulk_append(np.arange(i, j, dtype=np.int64), payloads[i:j])
log.flush()
log.compact()


def timed(fn):
    gc.collect()
    gc.enable()
    t0 = time.process_time_ns()
    c = fn()
    t1 = time.process_time_ns()
    assert c == n, c
    return n / ((t1 - t0) / 1e9)


def scan_batch():
    it = log.all()
    nb = it.next_batch
    c = 0
    while True:
        b = nb(4096)
        if not b:
            return c
        c += len(b)


def scan_iter():
    c = 0
    for _ in log:
        c += 1
    return c


def list_all():
    return len(list(log.all()))


def floor_list_zip_range():
    return len(list(zip(range(n), payloads)))


def floor_iter_zip_range():
    c = 0
    for _ in zip(range(n), payloads):
        c += 1
    return c


out = {}
for name in ["scan_iter", "scan_batch", "list_all", "floor_iter_zip_range", "floor_list_zip_range"]:
    out[name + "_gc"] = timed(globals()[name])
log.close()
json.dump({"rows": out, "python": sys.version.split()[0], "timelog": timelog.__file__}, sys.stdout)
print()
