"""The workload that `compare.py` runs under each implementation's venv.

It imports whichever `timelog` the interpreter has (ours, or the C package
`timelog-lib`; both import as `timelog`), runs every requested row ONCE and
prints one JSON object `{"rows": {name: value}, "meta": {...}}` on stdout.
`compare.py` starts it once per repeat and per implementation, alternating
the order, and takes medians; this file never compares anything itself.

Only the public API of the C package is used, so the same file measures
both. Every timed section runs with the cyclic GC disabled (the same for
both packages), and every loop calls a bound method cached in a local, the
way a performance-minded user writes it; `log[ts] = obj` and `log[ts]` go
through the subscript slots, as users write them.

Run directly (one repeat, to debug a row):

    .venv-ours-3.13/bin/python workload.py --mode quick --rows append_obj,next_ts
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import sys
import time

import numpy as np

import timelog
from timelog import Timelog

try:
    from timelog import _timelog as _native
except ImportError:  # pragma: no cover
    _native = None

NS = time.perf_counter_ns
CPU = time.process_time_ns

# Sizes per mode. "full" is the default of compare.py; "quick" is for CI.
SIZES = {
    "full": dict(write=500_000, batch=10_000, bulk=200_000, data=1_000_000, keys=200_000,
                 deletes=50_000, mem=1_000_000, ingest=1_000_000, calls=1_000_000),
    "quick": dict(write=50_000, batch=10_000, bulk=50_000, data=200_000, keys=20_000,
                  deletes=5_000, mem=200_000, ingest=200_000, calls=100_000),
}

# The same small payload object for every write row (so payload creation is
# not measured; both packages store a reference to it).
PAYLOAD = {"event": "tick"}


def impl_name() -> str:
    """'c' when the C distribution `timelog-lib` is installed, else 'ours'."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("timelog-lib")
        return "c"
    except PackageNotFoundError:
        return "ours"


# Per row: wall time / CPU time of its timed section (so compare.py can
# also report wall-clock figures).
WALL: dict = {}
_CURRENT = [None]


def _timed(fn, collector=False):
    """Runs fn() with the GC off (`collector`: on, at its default
    thresholds, as a program runs); returns the CPU time it took, in ns.

    CPU time of the whole process (all threads, so a background maintenance
    thread's work is counted too) is the primary measure: on a shared,
    oversubscribed machine, wall time mostly measures the other tenants.
    Wall time is recorded too (WALL) and reported in the JSON."""
    gc.collect()
    if not collector:
        gc.disable()
    try:
        w0 = NS()
        t0 = CPU()
        fn()
        t1 = CPU()
        WALL[_CURRENT[0]] = (NS() - w0) / max(1, t1 - t0)
        return t1 - t0
    finally:
        gc.enable()


def _timed_passes(fn, budget_ns=5_000_000):
    """CPU time of one pass of fn(), in ns: `_timed` over as many passes as
    fit in `budget_ns` (at least one), the first included, divided by their
    number. For rows whose one pass is a few microseconds (`views()` over
    the 13-62 spans of a 200,000-1,000,000-record log): a single timed pass
    is the cost of a cold cache and the clock's own reads, not of the row
    (session 19: `views()` + numpy at 200,000 records read 1.04-1.20x C
    from single passes, 1.95x from 140 passes of a loop)."""
    passes = 0

    def run():
        nonlocal passes
        t0 = CPU()
        while True:
            fn()
            passes += 1
            if CPU() - t0 >= budget_ns:
                break

    return _timed(run) / passes


# ---------------------------------------------------------------- floors


def row_loop_floor(S):
    """`for t in range(n): pass` — the loop every per-call row pays (ns/iter)."""
    n = S["calls"]

    def run():
        for t in range(n):
            pass

    return _timed(run) / n


def row_empty_getter(S):
    """`log.closed`: a property getter on the native class (no arguments).
    Ours: a pyo3 #[getter] (ArcSwap load + one atomic); C: a tp_getset getter."""
    log = Timelog(maintenance="disabled")
    n = S["calls"]

    def run():
        for _ in range(n):
            log.closed

    r = _timed(run) / n
    log.close()
    return r


def row_empty_call1(S):
    """A 1-argument call that only converts the int timestamp.
    Ours: `timelog._timelog._coerce_ts(t)` (pyo3 #[pyfunction], fastcall).
    C: `operator.index(t)` — the C package exposes no native 1-arg no-op,
    so this is CPython's own floor for a 1-arg C call doing the same check."""
    n = S["calls"]
    if impl_name() == "ours":
        f = _native._coerce_ts
    else:
        import operator

        f = operator.index

    def run():
        for t in range(n):
            f(t)

    return _timed(run) / n


# ---------------------------------------------------------------- writes


def _write_log():
    # Background maintenance; backpressure flushes inline instead of raising
    # (the `for_streaming` preset, spelled out so both packages get the same).
    return Timelog(maintenance="background", busy_policy="flush")


def row_append_obj(S):
    log = _write_log()
    f, o, n = log.append, PAYLOAD, S["write"]

    def run():
        for _ in range(n):
            f(o)

    r = _timed(run) / n
    log.close()
    return r


def row_append_ts_obj(S):
    log = _write_log()
    f, o, n = log.append, PAYLOAD, S["write"]

    def run():
        for t in range(n):
            f(t, o)

    r = _timed(run) / n
    log.close()
    return r


def row_append_obj_kw(S):
    log = _write_log()
    f, o, n = log.append, PAYLOAD, S["write"]

    def run():
        for t in range(n):
            f(o, ts=t)

    r = _timed(run) / n
    log.close()
    return r


def row_setitem(S):
    log = _write_log()
    o, n = PAYLOAD, S["write"]

    def run():
        for t in range(n):
            log[t] = o

    r = _timed(run) / n
    log.close()
    return r


def row_extend(S):
    """extend() of prebuilt lists of (ts, obj) tuples, `batch` pairs per call; ns/record."""
    log = _write_log()
    n, b, o = S["write"], S["batch"], PAYLOAD
    chunks = [[(t, o) for t in range(i, min(i + b, n))] for i in range(0, n, b)]
    f = log.extend

    def run():
        for ch in chunks:
            f(ch)

    r = _timed(run) / n
    log.close()
    return r


def row_bulk_append(S):
    """bulk_append(np.int64 array, list) of `bulk` records in one call; ns/record."""
    log = _write_log()
    n = S["bulk"]
    ts = np.arange(n, dtype=np.int64)
    objs = [PAYLOAD] * n

    def run():
        log.bulk_append(ts, objs)

    r = _timed(run) / n
    log.close()
    return r


def row_bulk_append_batches(S):
    """bulk_append(np.int64 array, list) of `batch` records per call, `write`
    records in all (the shape of a feed written in numpy blocks: each call
    smaller than a memtable, so it takes the memtable path and the flushes
    run in the background); ns/record."""
    log = _write_log()
    n, b, o = S["write"], S["batch"], PAYLOAD
    chunks = [(np.arange(i, min(i + b, n), dtype=np.int64), [o] * (min(i + b, n) - i)) for i in range(0, n, b)]
    f = log.bulk_append

    def run():
        for ts, objs in chunks:
            f(ts, objs)

    r = _timed(run) / n
    log.close()
    return r


def _ooo_timestamps(n, frac, seed):
    """n timestamps, step 10; a fraction `frac` of them arrive late, by 1..1000 positions."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        t = i * 10
        if rnd.random() < frac:
            t -= rnd.randint(1, 1000) * 10 + 5
        out.append(t)
    return out


def _row_ingest(S, frac):
    n = S["ingest"]
    tss = _ooo_timestamps(n, frac, 1234)
    log = _write_log()
    f, o = log.append, PAYLOAD

    def run():
        for t in tss:
            f(t, o)
        log.flush()

    r = n / (_timed(run) / 1e9)
    log.close()
    return r


def row_ingest_ooo5(S):
    """append(ts, obj) of `ingest` records, 5% late, then flush(); records/s."""
    return _row_ingest(S, 0.05)


def row_ingest_ooo20(S):
    """Same, 20% late; records/s."""
    return _row_ingest(S, 0.20)


# ---------------------------------------------------------------- reads


class ReadData:
    """`data` records at ts = 0..data-1 (one per timestamp), distinct int
    payloads, maintenance disabled, flushed and compacted."""

    def __init__(self, S):
        n = self.n = S["data"]
        self.log = Timelog(maintenance="disabled", busy_policy="flush")
        self.payloads = list(range(n))
        step = 100_000
        for i in range(0, n, step):
            j = min(i + step, n)
            self.log.bulk_append(np.arange(i, j, dtype=np.int64), self.payloads[i:j])
        self.log.flush()
        self.log.compact()
        rnd = random.Random(42)
        self.keys = [rnd.randrange(0, n - 20) for _ in range(S["keys"])]


def row_point(d, S):
    """`for r in log.point(k): pass` (create + drain a 1-row iterator); ns/call."""
    f, keys = d.log.point, d.keys

    def run():
        for k in keys:
            for _ in f(k):
                pass

    return _timed(run) / len(keys)


def row_getitem(d, S):
    """`log[k]` (list of the objects at k); ns/call."""
    log, keys = d.log, d.keys

    def run():
        for k in keys:
            log[k]

    return _timed(run) / len(keys)


def row_next_ts(d, S):
    f, keys = d.log.next_ts, d.keys

    def run():
        for k in keys:
            f(k)

    return _timed(run) / len(keys)


def row_range10(d, S):
    """`for r in log.range(k, k+10): pass` (10 rows); ns/call."""
    f, keys = d.log.range, d.keys

    def run():
        for k in keys:
            for _ in f(k, k + 10):
                pass

    return _timed(run) / len(keys)


def row_at(d, S):
    """`log.at(k)` (list of the objects at k); ns/call."""
    f, keys = d.log.at, d.keys

    def run():
        for k in keys:
            f(k)

    return _timed(run) / len(keys)


def row_slice10(d, S):
    """`for r in log[k:k+10]: pass` (10 rows); ns/call."""
    log, keys = d.log, d.keys

    def run():
        for k in keys:
            for _ in log[k:k + 10]:
                pass

    return _timed(run) / len(keys)


def row_range100(d, S):
    """`for r in log.range(k, k+100): pass` (100 rows); ns/call."""
    f = d.log.range
    m = d.n - 100
    keys = [k % m for k in d.keys]

    def run():
        for k in keys:
            for _ in f(k, k + 100):
                pass

    return _timed(run) / len(keys)


# CPython's own floors for the per-row cost of a scan, measured in the same
# process as the rows above (identical code under both packages; only the
# interpreter runs). Records/s over `data` records.


def row_floor_iter_tuples(d, S):
    """`for r in prebuilt_list_of_tuples: c += 1` (no tuple or int built)."""
    pairs = list(zip(range(d.n), d.payloads))
    cnt = [0]

    def run():
        c = 0
        for _ in pairs:
            c += 1
        cnt[0] = c

    r = d.n / (_timed(run) / 1e9)
    assert cnt[0] == d.n
    return r


def row_floor_iter_zip_range(d, S):
    """`for r in zip(range(n), payloads): c += 1`: a C iterator that makes an
    int per row and reuses its result tuple, as `for r in log` does."""
    payloads, n = d.payloads, d.n
    cnt = [0]

    def run():
        c = 0
        for _ in zip(range(n), payloads):
            c += 1
        cnt[0] = c

    r = d.n / (_timed(run) / 1e9)
    assert cnt[0] == d.n
    return r


def row_floor_list_zip(d, S):
    """`list(zip(timestamps, payloads))` over prebuilt lists: one new tuple
    per row, appended to a list (the shape of `next_batch`)."""
    ts = list(range(d.n))
    payloads = d.payloads
    out = [None]

    def run():
        out[0] = list(zip(ts, payloads))

    r = d.n / (_timed(run) / 1e9)
    assert len(out[0]) == d.n
    out[0] = None
    return r


def row_floor_list_zip_range(d, S):
    """`list(zip(range(n), payloads))`: as floor_list_zip, making the int too
    (the full work of `next_batch`: an int and a tuple per row)."""
    payloads, n = d.payloads, d.n
    out = [None]

    def run():
        out[0] = list(zip(range(n), payloads))

    r = d.n / (_timed(run) / 1e9)
    assert len(out[0]) == d.n
    out[0] = None
    return r


def row_floor_batch_zip_range(d, S, collector=False):
    """`list(zip(range(i, i + 4096), it))` per batch of 4,096 over one
    iterator of the payloads: the shape of `next_batch(4096)` exactly (an
    int and a new tuple per row into a list of 4,096, the previous batch
    freed as the next is made), built by CPython's own C iterators."""
    payloads, n = d.payloads, d.n
    cnt = [0]

    def run():
        it = iter(payloads)
        c = 0
        for i in range(0, n, 4096):
            b = list(zip(range(i, min(i + 4096, n)), it))
            c += len(b)
        cnt[0] = c

    r = d.n / (_timed(run, collector) / 1e9)
    assert cnt[0] == d.n
    return r


def row_scan_iter(d, S):
    """`for r in log: pass` over all records; records/s."""
    log = d.log
    cnt = [0]

    def run():
        c = 0
        for _ in log:
            c += 1
        cnt[0] = c

    r = d.n / (_timed(run) / 1e9)
    assert cnt[0] == d.n, cnt
    return r


def row_scan_batch(d, S, collector=False):
    """`it.next_batch(4096)` until empty over all records; records/s."""
    log = d.log
    cnt = [0]

    def run():
        it = log.all()
        nb = it.next_batch
        c = 0
        while True:
            b = nb(4096)
            if not b:
                break
            c += len(b)
        cnt[0] = c

    r = d.n / (_timed(run, collector) / 1e9)
    assert cnt[0] == d.n, cnt
    return r


def row_views_len(d, S):
    """`sum(len(span) for span in log.views())`; timestamps/s (per pass,
    `_timed_passes`)."""
    log = d.log
    cnt = [0]

    def run():
        c = 0
        for s in log.views():
            c += len(s)
        cnt[0] = c

    t = _timed_passes(run)
    assert cnt[0] == d.n, cnt
    return d.n / (t / 1e9)


def row_views_numpy(d, S):
    """`np.frombuffer(span.timestamps, np.int64).sum()` per span; timestamps/s
    (per pass, `_timed_passes`)."""
    log = d.log
    tot = [0]

    def run():
        s_ = 0
        for s in log.views():
            a = np.frombuffer(s.timestamps, dtype=np.int64)
            s_ += int(a.sum())
            del a
        tot[0] = s_

    t = _timed_passes(run)
    assert tot[0] == d.n * (d.n - 1) // 2, tot
    return d.n / (t / 1e9)


def row_delete_before(d, S):
    """`log.delete_before(t)` with increasing t in the lower half of the flushed log
    (each call covers the previous one); ns/call. Runs before delete_range."""
    f = d.log.delete_before
    m = S["deletes"]

    def run():
        for t in range(1, m + 1):
            f(t)

    return _timed(run) / m


def row_delete_range(d, S):
    """`log.delete_range(t, t+10)` on the flushed log: disjoint ranges in
    increasing order over the upper half (so every call adds a tombstone);
    ns/call."""
    f = d.log.delete_range
    m = S["deletes"]
    base = d.n // 2
    step = max(20, (d.n // 2) // m)

    def run():
        for i in range(m):
            t = base + i * step
            f(t, t + 10)

    return _timed(run) / m


def row_scan_batch_gc(d, S):
    """`row_scan_batch` with the cycle collector on: every other row runs
    with it off (as timeit does), which hides what a program pays for the
    young collections its new row tuples trigger; records/s."""
    return row_scan_batch(d, S, collector=True)


def row_floor_batch_zip_range_gc(d, S):
    """`row_floor_batch_zip_range` with the cycle collector on: the floor
    of `row_scan_batch_gc` (an int and a tracked tuple per row, the young
    collections its new tuples trigger); records/s."""
    return row_floor_batch_zip_range(d, S, collector=True)


def row_list_all_gc(d, S):
    """`list(log.all())` (the rows kept) with the cycle collector on; records/s."""
    log = d.log
    cnt = [0]

    def run():
        cnt[0] = len(list(log.all()))

    r = d.n / (_timed(run, True) / 1e9)
    assert cnt[0] == d.n, cnt
    return r


def row_floor_list_zip_range_gc(d, S):
    """`list(zip(range(n), objs))` with the cycle collector on: the floor of
    `row_list_all_gc` (an int and a tracked tuple per row); records/s."""
    objs = d.payloads

    def run():
        list(zip(range(d.n), objs))

    return d.n / (_timed(run, True) / 1e9)


READ_ROWS = ["point", "getitem", "at", "next_ts", "range10", "slice10", "range100", "scan_iter", "scan_batch",
             "floor_iter_tuples", "floor_iter_zip_range", "floor_list_zip", "floor_list_zip_range",
             "floor_batch_zip_range", "scan_batch_gc", "floor_batch_zip_range_gc", "list_all_gc", "floor_list_zip_range_gc", "views_len",
             "views_numpy",
             "delete_before", "delete_range"]
OTHER_ROWS = ["loop_floor", "empty_getter", "empty_call1", "append_obj", "append_ts_obj", "append_obj_kw", "setitem",
              "extend", "bulk_append", "bulk_append_batches", "ingest_ooo5", "ingest_ooo20"]


# ---------------------------------------------------------------- memory


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _trim():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # pragma: no cover - non-glibc
        pass


def row_mem_flush(S):
    """Resident bytes per record of `mem` records after flush(), measured in
    a fresh process: RSS (VmRSS via /proc/self/statm) after the empty log is
    created, then after `append(t, None)` for t in range(mem) and flush().
    Every payload is None (one immortal singleton), so no payload memory is
    allocated: the delta is the log's own cost per record. glibc's
    malloc_trim(0) runs before both readings (for both packages) so freed
    memtable memory is returned to the OS rather than counted."""
    n = S["mem"]
    log = Timelog(maintenance="disabled", busy_policy="flush")
    _trim()
    r0 = _rss_bytes()
    f = log.append
    for t in range(n):
        f(t, None)
    log.flush()
    _trim()
    r1 = _rss_bytes()
    assert len(log) == n
    return (r1 - r0) / n


def _mem_untrimmed(S, ingest, prepare=lambda n: None):
    """Resident bytes per record as a user reads them: RSS (statm) after the
    empty log is created, then after ingest(log, n, prepared) of `mem` records
    with payload None and flush(); no malloc_trim anywhere, so memory the
    allocator kept after a flush (freed memtables, batch buffers) counts.
    Inputs that the caller builds before the ingest (`prepare`) are built
    before the first reading and kept alive past the second, so they are not
    counted."""
    n = S["mem"]
    prepared = prepare(n)
    gc.collect()
    log = Timelog(maintenance="disabled", busy_policy="flush")
    r0 = _rss_bytes()
    ingest(log, n, prepared)
    log.flush()
    r1 = _rss_bytes()
    assert len(log) == n
    del prepared
    return (r1 - r0) / n


def row_mem_append(S):
    """`append(t, None)` for t in range(mem), flush(); no malloc_trim."""
    def ingest(log, n, _):
        f = log.append
        for t in range(n):
            f(t, None)
    return _mem_untrimmed(S, ingest)


def row_mem_extend(S):
    """`extend(pairs)` of 10,000 `(t, None)` pairs per call, each list built
    just before its call (a streaming producer), flush(); no malloc_trim."""
    def ingest(log, n, _):
        f, b = log.extend, S["batch"]
        for i in range(0, n, b):
            f([(t, None) for t in range(i, min(i + b, n))])
    return _mem_untrimmed(S, ingest)


def row_mem_bulk(S):
    """One `bulk_append(int64 ndarray, [None] * mem)`, flush(); no
    malloc_trim (the array and list are built before the first reading)."""
    def prepare(n):
        return np.arange(n, dtype=np.int64), [None] * n

    def ingest(log, n, prepared):
        log.bulk_append(*prepared)
    return _mem_untrimmed(S, ingest, prepare)


MEM_ROWS = ["mem_flush", "mem_append", "mem_extend", "mem_bulk"]


# ---------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=sorted(SIZES), default="full")
    ap.add_argument("--rows", default="all", help="comma-separated row names, 'all', 'timing' or 'memory'")
    args = ap.parse_args(argv)
    S = SIZES[args.mode]
    if args.rows == "all":
        rows = OTHER_ROWS + READ_ROWS + MEM_ROWS
    elif args.rows == "timing":
        rows = OTHER_ROWS + READ_ROWS
    elif args.rows == "memory":
        rows = MEM_ROWS
    else:
        rows = args.rows.split(",")
    # Rows that share the read log run in READ_ROWS order whatever order they
    # were asked in: the deletes come last, delete_before before delete_range.
    order = {n: i for i, n in enumerate(OTHER_ROWS + READ_ROWS + MEM_ROWS)}
    rows = sorted(rows, key=lambda n: order[n])
    out = {}
    g = globals()
    data = None
    for name in rows:
        _CURRENT[0] = name
        if name in READ_ROWS:
            if data is None:
                data = ReadData(S)
            out[name] = g["row_" + name](data, S)
        else:
            out[name] = g["row_" + name](S)
    if data is not None:
        data.log.close()
    meta = {
        "impl": impl_name(),
        "timelog_version": getattr(timelog, "__version__", "?"),
        "timelog_file": getattr(timelog, "__file__", "?"),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)(),
        "numpy": np.__version__,
        "mode": args.mode,
        "sizes": S,
    }
    json.dump({"rows": out, "wall_over_cpu": WALL, "meta": meta}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
