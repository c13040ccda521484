#!/usr/bin/env python3
"""Reader scaling of our `timelog` on free-threaded CPython 3.13t.

    python3 benches/python/scaling.py            # full run
    python3 benches/python/scaling.py --quick    # CI

It creates/refreshes `.venv-ours-3.13t` (see `_venvs.py`) and re-runs
itself there with `--worker`, which measures and prints JSON; this outer
process then writes results/scaling-<date>[-quick].json, prints the
tables and draws docs/img/scaling.png (with matplotlib from .venv-ours-3.13).

What is measured, for k = 1 .. 2*nproc reader threads over ONE shared log
(`data` records, one per timestamp, flushed and compacted; background
maintenance on):

  ours scan/next_batch      log.range(t, t+2048) drained with next_batch(512)  rows/s
  ours iterate              for r in log.range(t, t+256)                       rows/s
  ours log[t]               point read through the subscript slot             calls/s
  ours at (cached f)        f = log.at (once per thread); f(t)                calls/s
  ours next_ts              log.next_ts(t)                                    calls/s
  ours next_ts (cached f)   f = log.next_ts (once per thread); f(t)           calls/s
  lock+bisect ...           the obvious alternative: a threading.Lock around
                            two sorted lists (timestamps, objects) + bisect,
                            the same four operations
  ideal                     k threads of independent pure-Python work

Each configuration runs for a fixed time; throughput = sum over threads of
units/elapsed. Scaling as a fraction of the ideal:

    fraction(k) = (T(k) / T(1)) / (ideal(k) / ideal(1))

with ideal(k) measured right beside T(k): each repeat takes one series at a
time and measures, for every k back to back, ideal(k), the readers alone,
the readers beside the writer, and the readers beside a pure-Python thread
(the machine is shared and noisy; this cancels most of it). Reported values
are medians over repeats. Every thread also reports its own CPU time, which
gives a load-insensitive second figure (units per thread-CPU-second).

Phase "writer": the same readers run next to ONE writer thread appending
to the same structure (ours: f = log.append; f(t, obj), timestamps after
the data; lock+bisect: append under the lock); phase "companion": next to
one thread of independent pure-Python work instead. retention(k) =
T_writer(k) / T_companion(k): the share of throughput readers keep beside a
writer, relative to what they keep beside an equally busy independent thread.
After every writer phase the writer's records are deleted and the log is
flushed and compacted again (outside any timed section), so every phase
starts from the same log.

Retention mode (`--retention`, issue 10): only our series, two phases per
k — the readers beside one RETENTION writer (f = log.append; f(t, obj)
above the data, and `delete_range(data + 1, t - RET_WINDOW)` every
RET_EVERY appends: a sliding retention window over the new records, so
tombstones pile up while the readers read the old ones), and beside one
thread of independent pure-Python work. Reported per k:
cpu_retention(k) = reader units per reader-thread-CPU-second beside the
retention writer / the same beside the pure-Python thread (target >= 0.90),
and the wall-throughput ratio. A third phase measures the floor of that
ratio on the machine: the readers beside a pure-Python WRITER of the same
shape that never touches the log (the same `(t, obj)` rows, CHUNK per op,
into a thread-local list that keeps the last RET_WINDOW): cpu_floor(k) =
units per reader-CPU-second beside it / beside the pure-Python thread. What
a writer costs readers through allocation, cache and memory traffic alone
shows there; cpu_retention / cpu_floor is what the log's own writer costs
beyond it. Full mode takes RET_FULL_REPEATS repeats (9: at k >= 2 single
samples spread widely, see there). Writes
results/scaling-retention-<date>[-quick].json (no chart).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

SIZES = {
    "full": dict(data=1_000_000, duration=0.5, repeats=5),
    "quick": dict(data=200_000, duration=0.12, repeats=3),
}
SCAN_ROWS, SCAN_BATCH, ITER_ROWS, CHUNK = 2048, 512, 256, 64
# Retention writer (--retention): a sliding window of RET_WINDOW records over
# what it appends, applied every RET_EVERY appends (a multiple of CHUNK).
RET_WINDOW, RET_EVERY = 20_000, 2_048
# Repeats of a full --retention run (session 17: 5 before). With two readers
# the three phases put four busy threads on the two cores, and single
# samples of a cell — the floor's too — spread over 0.80-1.14: a median of
# five moved by +-0.05 between runs.
RET_FULL_REPEATS = 9

# series name -> (structure, description)
SERIES = [
    ("ours scan/next_batch", "ours", "range(t, t+2048) drained by next_batch(512) (rows/s)"),
    ("ours iterate", "ours", "for r in range(t, t+256) (rows/s)"),
    ("ours log[t]", "ours", "log[t] (calls/s)"),
    ("ours at (cached f)", "ours", "f = log.at once per thread; f(t) (calls/s)"),
    ("ours next_ts", "ours", "log.next_ts(t) (calls/s)"),
    ("ours next_ts (cached f)", "ours", "f = log.next_ts once per thread; f(t) (calls/s)"),
    ("lock+bisect scan", "lock", "slice of 2048 under the lock, list(zip(...)) (rows/s)"),
    ("lock+bisect iterate", "lock", "slice of 256 under the lock, then iterate zip (rows/s)"),
    ("lock+bisect point", "lock", "bisect_left/right + slice under the lock (calls/s)"),
    ("lock+bisect next_ts", "lock", "bisect_right under the lock (calls/s)"),
]


# ---------------------------------------------------------------- worker side


def _pure_python_op():
    """One unit of independent pure-Python work on thread-local objects."""
    data = list(range(32))

    def op():
        x = 0
        for v in data:
            x += v * 3
        return 1

    return op


def _keys(n, seed, hi):
    import random

    rnd = random.Random(seed)
    # Created in the calling thread, so the ints are owned by it.
    return [rnd.randrange(0, hi) for _ in range(n)]


class Shared:
    def __init__(self, n):
        from timelog import Timelog

        self.n = n
        self.log = Timelog(maintenance="background", busy_policy="flush")
        payloads = [object() for _ in range(n)]
        step = 100_000
        import array

        for i in range(0, n, step):
            j = min(i + step, n)
            self.log.bulk_append(array.array("q", range(i, j)), payloads[i:j])
        self.log.flush()
        self.log.compact()
        # The obvious alternative: sorted parallel lists under one lock.
        self.lock = threading.Lock()
        self.ts = list(range(n))
        self.vals = payloads
        self.next_write = [n + 1]
        self.deletes = [0]

    def reset(self):
        """Drops what a writer phase appended (outside any timed section), so
        every phase starts from the same flushed, compacted log."""
        n = self.n
        if len(self.ts) > n:
            with self.lock:
                del self.ts[n:]
                del self.vals[n:]
        if self.next_write[0] > n + 1:
            self.log.delete_range(n + 1, self.next_write[0] + 1)
            self.log.flush()
            self.log.compact()
            self.next_write[0] = n + 1
            self.deletes[0] = 0

    def op_factory(self, name, tid):
        """Returns op() for series `name`, built in the calling thread.

        Everything an op touches is bound as a default argument, i.e. a
        fast local of the op; `log` itself is a local too, so the only
        difference between "next_ts" and "next_ts, cached" is
        `log.next_ts(t)` (load log, look the method up, call) against
        `f(t)` with `f = log.next_ts` made once by this thread."""
        log, lock, ts, vals, n = self.log, self.lock, self.ts, self.vals, self.n
        from bisect import bisect_left, bisect_right

        keys = _keys(4096, 1000 + tid, n - SCAN_ROWS - 1)
        chunks = [keys[i:i + CHUNK] for i in range(0, len(keys), CHUNK)]
        pos = [0]

        def next_key(keys=keys, pos=pos, m=len(keys)):
            i = pos[0]
            pos[0] = (i + 1) % m
            return keys[i]

        def next_chunk(chunks=chunks, pos=pos, m=len(chunks)):
            i = pos[0]
            pos[0] = (i + 1) % m
            return chunks[i]

        if name == "ours scan/next_batch":
            def op(log=log, nk=next_key, R=SCAN_ROWS, B=SCAN_BATCH):
                t = nk()
                nb = log.range(t, t + R).next_batch
                c = 0
                while True:
                    b = nb(B)
                    if not b:
                        return c
                    c += len(b)
        elif name == "ours iterate":
            def op(log=log, nk=next_key, R=ITER_ROWS):
                t = nk()
                c = 0
                for _ in log.range(t, t + R):
                    c += 1
                return c
        elif name == "ours log[t]":
            def op(log=log, nc=next_chunk, C=CHUNK):
                for t in nc():
                    log[t]
                return C
        elif name == "ours at (cached f)":
            def op(f=log.at, nc=next_chunk, C=CHUNK):
                for t in nc():
                    f(t)
                return C
        elif name == "ours next_ts":
            def op(log=log, nc=next_chunk, C=CHUNK):
                for t in nc():
                    log.next_ts(t)
                return C
        elif name == "ours next_ts (cached f)":
            def op(f=log.next_ts, nc=next_chunk, C=CHUNK):
                for t in nc():
                    f(t)
                return C
        elif name == "lock+bisect scan":
            def op(lock=lock, ts=ts, vals=vals, nk=next_key, R=SCAN_ROWS, bl=bisect_left):
                t = nk()
                with lock:
                    i = bl(ts, t)
                    j = bl(ts, t + R)
                    rows = list(zip(ts[i:j], vals[i:j]))
                return len(rows)
        elif name == "lock+bisect iterate":
            def op(lock=lock, ts=ts, vals=vals, nk=next_key, R=ITER_ROWS, bl=bisect_left):
                t = nk()
                with lock:
                    i = bl(ts, t)
                    j = bl(ts, t + R)
                    a, b = ts[i:j], vals[i:j]
                c = 0
                for _ in zip(a, b):
                    c += 1
                return c
        elif name == "lock+bisect point":
            def op(lock=lock, ts=ts, vals=vals, nc=next_chunk, C=CHUNK, bl=bisect_left, br=bisect_right):
                for t in nc():
                    with lock:
                        vals[bl(ts, t):br(ts, t)]
                return C
        elif name == "lock+bisect next_ts":
            def op(lock=lock, ts=ts, nc=next_chunk, C=CHUNK, br=bisect_right):
                for t in nc():
                    with lock:
                        i = br(ts, t)
                        ts[i] if i < len(ts) else None
                return C
        else:
            raise KeyError(name)
        return op

    def writer_factory(self, structure):
        obj = object()
        nw = self.next_write
        if structure == "ours":
            def op(f=self.log.append, nw=nw, obj=obj, C=CHUNK):
                t = nw[0]
                for i in range(t, t + C):
                    f(i, obj)
                nw[0] = t + C
                return C
        elif structure == "floor":
            # --retention's floor: the retention writer's shape without the
            # log — a (t, obj) row per append into a thread-local list, the
            # oldest dropped every E appends so it keeps the last W.
            rows = []

            def op(rows=rows, nw=nw, obj=obj, C=CHUNK, E=RET_EVERY, W=RET_WINDOW):
                t = nw[0]
                app = rows.append
                for i in range(t, t + C):
                    app((i, obj))
                t += C
                nw[0] = t
                if t % E == 0 and len(rows) > W:
                    del rows[:-W]
                return C
        elif structure == "retention":
            lo = self.n + 1
            dels = self.deletes

            def op(f=self.log.append, d=self.log.delete_range, nw=nw, obj=obj, C=CHUNK, E=RET_EVERY,
                   W=RET_WINDOW, lo=lo, dels=dels):
                t = nw[0]
                for i in range(t, t + C):
                    f(i, obj)
                t += C
                nw[0] = t
                if (t - lo) % E == 0 and t - W > lo:
                    d(lo, t - W)
                    dels[0] += 1
                return C
        else:
            def op(lock=self.lock, ts=self.ts, vals=self.vals, nw=nw, obj=obj, C=CHUNK):
                t = nw[0]
                for i in range(t, t + C):
                    with lock:
                        ts.append(i)
                        vals.append(obj)
                nw[0] = t + C
                return C
        return op


def run_threads(k, make_op, duration, companion=None):
    """k threads each running make_op(tid)() for `duration` s; returns
    (total units/s of the k threads, companion units/s or None, mean units
    per thread-CPU-second of the k threads, CPU of other threads in cores)."""
    parties = k + 1 + (1 if companion else 0)
    barrier = threading.Barrier(parties)
    stop = threading.Event()
    res = [0.0] * k
    cpu = [0.0] * k
    tcpu = [0.0] * k
    comp_res = [None]
    comp_cpu = [0.0]
    errors = []

    def reader(i):
        try:
            op = make_op(i)
            barrier.wait()
            c0 = time.thread_time()
            t0 = time.perf_counter()
            deadline = t0 + duration
            units = 0
            while True:
                units += op()
                t = time.perf_counter()
                if t >= deadline:
                    break
            res[i] = units / (t - t0)
            tcpu[i] = time.thread_time() - c0
            cpu[i] = units / max(1e-9, tcpu[i])
        except BaseException as e:  # pragma: no cover
            errors.append(e)
            barrier.abort()

    def comp():
        try:
            op = companion()
            barrier.wait()
            c0 = time.thread_time()
            t0 = time.perf_counter()
            units = 0
            while not stop.is_set():
                units += op()
            comp_res[0] = units / (time.perf_counter() - t0)
            comp_cpu[0] = time.thread_time() - c0
        except BaseException as e:  # pragma: no cover
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(k)]
    ct = threading.Thread(target=comp) if companion else None
    for t in threads:
        t.start()
    if ct:
        ct.start()
    barrier.wait()
    p0, w0 = time.process_time(), time.perf_counter()
    for t in threads:
        t.join()
    stop.set()
    if ct:
        ct.join()
    p1, w1 = time.process_time(), time.perf_counter()
    if errors:
        raise errors[0]
    # CPU the process spent outside the measured threads (the background
    # maintenance worker, mostly), as a share of one core.
    other = max(0.0, (p1 - p0) - sum(tcpu) - comp_cpu[0]) / (w1 - w0)
    return sum(res), comp_res[0], sum(cpu) / k, other


def worker(args) -> None:
    import gc

    mode = "quick" if args.quick else "full"
    S = dict(SIZES[mode])
    if args.repeats:
        S["repeats"] = args.repeats
    if args.duration:
        S["duration"] = args.duration
    nproc = os.cpu_count() or 1
    ks = [int(x) for x in args.threads.split(",")] if args.threads else list(range(1, 2 * nproc + 1))
    series = [s for s in SERIES if not args.series or s[0] in args.series.split(",")]
    t_build = time.perf_counter()
    sh = Shared(S["data"])
    t_build = time.perf_counter() - t_build
    gc.collect()
    gc.freeze()  # the shared data is long-lived: keep the collector off it
    dur = S["duration"]
    phases = ("alone", "writer", "companion")
    raw = {}
    for name, _, _ in series:
        raw[name] = {ph: {str(k): [] for k in ks} for ph in phases}
        raw[name]["ideal"] = {str(k): [] for k in ks}
        raw[name]["writer_rate"] = {str(k): [] for k in ks}
        raw[name]["cpu_eff"] = {str(k): [] for k in ks}
        raw[name]["ideal_cpu_eff"] = {str(k): [] for k in ks}
        for extra in ("writer_cpu_eff", "companion_cpu_eff", "writer_other_cpu"):
            raw[name][extra] = {str(k): [] for k in ks}
    pure = lambda tid: _pure_python_op()  # noqa: E731
    for rep in range(S["repeats"]):
        # One series at a time, every k back to back, with its own ideal
        # measured right beside it: the ratios only combine numbers taken
        # within a few seconds of each other.
        for name, structure, _ in series:
            mk = lambda tid, name=name: sh.op_factory(name, tid)  # noqa: E731
            for k in ks:
                kk = str(k)
                ideal, _, ideal_eff, _ = run_threads(k, pure, dur)
                alone, _, eff, _ = run_threads(k, mk, dur)
                w, wrate, w_eff, w_other = run_threads(k, mk, dur, companion=lambda: sh.writer_factory(structure))
                sh.reset()
                c, _, c_eff, _ = run_threads(k, mk, dur, companion=_pure_python_op)
                d = raw[name]
                d["ideal"][kk].append(ideal)
                d["ideal_cpu_eff"][kk].append(ideal_eff)
                d["alone"][kk].append(alone)
                d["cpu_eff"][kk].append(eff)
                d["writer"][kk].append(w)
                d["companion"][kk].append(c)
                d["writer_rate"][kk].append(wrate)
                d["writer_cpu_eff"][kk].append(w_eff)
                d["companion_cpu_eff"][kk].append(c_eff)
                d["writer_other_cpu"][kk].append(w_other)
        print(f"[scaling] repeat {rep + 1}/{S['repeats']} done", file=sys.stderr, flush=True)
    import timelog

    out = {
        "python": sys.version.split()[0],
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "timelog_version": timelog.__version__,
        "nproc": nproc,
        "threads": ks,
        "mode": mode,
        "sizes": S,
        "build_s": t_build,
        "repeats": S["repeats"],
        "raw": raw,
        "descriptions": {n: d for n, _, d in series},
        "final_len": len(sh.log),
    }
    sh.log.close()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def worker_retention(args) -> None:
    """--retention: readers beside a retention writer vs beside a pure-Python thread."""
    import gc

    mode = "quick" if args.quick else "full"
    S = dict(SIZES[mode])
    if mode == "full":
        S["repeats"] = RET_FULL_REPEATS
    if args.repeats:
        S["repeats"] = args.repeats
    if args.duration:
        S["duration"] = args.duration
    nproc = os.cpu_count() or 1
    ks = [int(x) for x in args.threads.split(",")] if args.threads else list(range(1, 2 * nproc + 1))
    series = [s for s in SERIES if s[1] == "ours" and (not args.series or s[0] in args.series.split(","))]
    t_build = time.perf_counter()
    sh = Shared(S["data"])
    t_build = time.perf_counter() - t_build
    gc.collect()
    gc.freeze()
    dur = S["duration"]
    keys = ("companion", "companion_cpu_eff", "retention", "retention_cpu_eff", "writer_rate", "deletes",
            "tombstones", "other_cpu", "floor_cpu_eff")
    raw = {name: {x: {str(k): [] for k in ks} for x in keys} for name, _, _ in series}
    for rep in range(S["repeats"]):
        for name, _, _ in series:
            mk = lambda tid, name=name: sh.op_factory(name, tid)  # noqa: E731
            for k in ks:
                kk = str(k)
                d = raw[name]
                c, _, c_eff, _ = run_threads(k, mk, dur, companion=_pure_python_op)
                w, wrate, w_eff, other = run_threads(k, mk, dur, companion=lambda: sh.writer_factory("retention"))
                d["deletes"][kk].append(sh.deletes[0])
                d["tombstones"][kk].append(sh.log.stats()["storage"]["tombstone_count"])
                sh.reset()
                _, _, f_eff, _ = run_threads(k, mk, dur, companion=lambda: sh.writer_factory("floor"))
                sh.next_write[0] = sh.n + 1
                d["floor_cpu_eff"][kk].append(f_eff)
                d["companion"][kk].append(c)
                d["companion_cpu_eff"][kk].append(c_eff)
                d["retention"][kk].append(w)
                d["retention_cpu_eff"][kk].append(w_eff)
                d["writer_rate"][kk].append(wrate)
                d["other_cpu"][kk].append(other)
        print(f"[scaling] retention repeat {rep + 1}/{S['repeats']} done", file=sys.stderr, flush=True)
    import timelog

    out = {
        "kind": "retention",
        "python": sys.version.split()[0],
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "timelog_version": timelog.__version__,
        "nproc": nproc,
        "threads": ks,
        "mode": mode,
        "sizes": S,
        "retention_writer": {"window": RET_WINDOW, "every": RET_EVERY, "chunk": CHUNK},
        "build_s": t_build,
        "repeats": S["repeats"],
        "raw": raw,
        "descriptions": {n: d for n, _, d in series},
        "final_len": len(sh.log),
    }
    sh.log.close()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


RET_TARGET = 0.90


def summarize_retention(raw_out: dict) -> dict:
    ks = raw_out["threads"]
    med = statistics.median
    series = {}
    for name, d in raw_out["raw"].items():
        s = {}
        for k in ks:
            kk = str(k)
            reps = len(d["companion"][kk])
            cpu = [d["retention_cpu_eff"][kk][r] / d["companion_cpu_eff"][kk][r] for r in range(reps)]
            thr = [d["retention"][kk][r] / d["companion"][kk][r] for r in range(reps)]
            # Older result files have no floor phase.
            fl = d.get("floor_cpu_eff", {}).get(kk, [])
            floor = [fl[r] / d["companion_cpu_eff"][kk][r] for r in range(len(fl))]
            over = [d["retention_cpu_eff"][kk][r] / fl[r] for r in range(len(fl))]
            s[kk] = {
                "cpu_retention": med(cpu),
                "cpu_retention_samples": cpu,
                "cpu_floor": med(floor) if floor else None,
                "cpu_floor_samples": floor,
                "cpu_retention_vs_floor": med(over) if over else None,
                "throughput_retention": med(thr),
                "reader_units_per_cpu_s_companion": med(d["companion_cpu_eff"][kk]),
                "reader_units_per_cpu_s_retention": med(d["retention_cpu_eff"][kk]),
                "writer_appends_per_s": med([x for x in d["writer_rate"][kk] if x is not None] or [0]),
                "deletes_per_phase": med(d["deletes"][kk]),
                "tombstones_at_phase_end": med(d["tombstones"][kk]),
                "maintenance_cpu_cores": med(d["other_cpu"][kk]),
                "meets": med(cpu) >= RET_TARGET,
            }
        series[name] = s
    return {"series": series}


def tables_retention(res: dict) -> str:
    ks = res["threads"]
    out = []
    hdr = "| series | " + " | ".join(f"k={k}" for k in ks) + " |"
    sep = "|---|" + "---:|" * len(ks)
    w = res["retention_writer"]
    out.append(f"Beside a retention writer (appends + `delete_range` sliding window of {w['window']:,} every "
               f"{w['every']:,} appends) — reader units per reader-thread-CPU-second / the same beside a "
               f"pure-Python thread; target >= {RET_TARGET:.2f}\n")
    out.append(hdr)
    out.append(sep)
    for name, s in res["series"].items():
        out.append(f"| {name} | " + " | ".join(
            f"{s[str(k)]['cpu_retention']:.2f} {'**met**' if s[str(k)]['meets'] else 'missed'}" for k in ks) + " |")
    if all(s[str(k)]["cpu_floor"] is not None for s in res["series"].values() for k in ks):
        out.append("")
        out.append("The floor: beside a pure-Python writer of the same shape that never touches the log "
                   "(`(t, obj)` rows into a thread-local list) / beside the pure-Python thread — "
                   "[retention writer / that writer]\n")
        out.append(hdr)
        out.append(sep)
        for name, s in res["series"].items():
            out.append(f"| {name} | " + " | ".join(
                f"{s[str(k)]['cpu_floor']:.2f} [{s[str(k)]['cpu_retention_vs_floor']:.2f}]" for k in ks) + " |")
    out.append("")
    out.append("Wall throughput beside the retention writer / beside the pure-Python thread "
               "[writer appends/s; deletes and tombstone_count at the end of the phase; maintenance cores]\n")
    out.append(hdr)
    out.append(sep)
    for name, s in res["series"].items():
        out.append(f"| {name} | " + " | ".join(
            f"{s[str(k)]['throughput_retention']:.2f} [{fmt_rate(s[str(k)]['writer_appends_per_s'])}; "
            f"{s[str(k)]['deletes_per_phase']:.0f} del, {s[str(k)]['tombstones_at_phase_end']:.0f} tomb; "
            f"{s[str(k)]['maintenance_cpu_cores']:.2f}]" for k in ks) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------- outer side


def summarize(raw_out: dict) -> dict:
    """Medians and fractions from the raw per-repeat samples."""
    ks = raw_out["threads"]
    k1 = str(ks[0])
    series = {}
    med = statistics.median
    for name, d in raw_out["raw"].items():
        ideal = d["ideal"]
        reps = len(d["alone"][k1])
        s = {"alone": {}, "writer": {}}
        for k in ks:
            kk = str(k)
            isp = [ideal[kk][r] / ideal[k1][r] for r in range(reps)]
            fr = [(d["alone"][kk][r] / d["alone"][k1][r]) / isp[r] for r in range(reps)]
            fr_w = [(d["writer"][kk][r] / d["writer"][k1][r]) / isp[r] for r in range(reps)]
            ret = [d["writer"][kk][r] / d["companion"][kk][r] for r in range(reps)]
            eff = [(d["cpu_eff"][kk][r] / d["cpu_eff"][k1][r]) /
                   (d["ideal_cpu_eff"][kk][r] / d["ideal_cpu_eff"][k1][r]) for r in range(reps)]
            s["alone"][kk] = {
                "throughput": med(d["alone"][kk]),
                "ideal_speedup": med(isp),
                "fraction_of_ideal": med(fr),
                "cpu_efficiency_vs_k1": med(eff),
            }
            s["writer"][kk] = {
                "throughput": med(d["writer"][kk]),
                "fraction_of_ideal": med(fr_w),
                "companion_throughput": med(d["companion"][kk]),
                "retention_vs_companion": med(ret),
                "writer_appends_per_s": med([x for x in d["writer_rate"][kk] if x is not None] or [0]),
                "cpu_retention_vs_companion": med([d["writer_cpu_eff"][kk][r] / d["companion_cpu_eff"][kk][r]
                                                   for r in range(reps)]),
                "maintenance_cpu_cores": med(d["writer_other_cpu"][kk]),
            }
        series[name] = s
    return {"series": series}


def fmt_rate(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    return f"{v / 1e3:.0f} k/s"


def tables(res: dict) -> str:
    ks = res["threads"]
    out = []
    hdr = "| series | T(1) | " + " | ".join(f"k={k}" for k in ks) + " |"
    sep = "|---|---:|" + "---:|" * len(ks)
    out.append("Readers alone — fraction of ideal = (T(k)/T(1)) / (ideal(k)/ideal(1)), ideal measured beside "
               "each series (its speed-up in brackets); target for batch scans >= 0.90\n")
    out.append(hdr)
    out.append(sep)
    for name, s in res["series"].items():
        a = s["alone"]
        out.append(f"| {name} | {fmt_rate(a[str(ks[0])]['throughput'])} | " +
                   " | ".join(f"{a[str(k)]['fraction_of_ideal']:.2f} ({a[str(k)]['ideal_speedup']:.2f}x)"
                              for k in ks) + " |")
    out.append("")
    out.append("Readers alone — CPU efficiency: units per thread-CPU-second at k, relative to k=1, divided by "
               "the same for the ideal (1.00 = no contention cost; insensitive to other tenants)\n")
    out.append(hdr)
    out.append(sep)
    for name, s in res["series"].items():
        a = s["alone"]
        out.append(f"| {name} | {fmt_rate(a[str(ks[0])]['throughput'])} | " +
                   " | ".join(f"{a[str(k)]['cpu_efficiency_vs_k1']:.2f}" for k in ks) + " |")
    out.append("")
    out.append("Beside one writer thread — retention = T(readers + writer) / T(readers + pure-Python thread); "
               "target >= 0.90\n")
    out.append(hdr.replace("T(1)", "writer appends/s (k=1)"))
    out.append(sep)
    for name, s in res["series"].items():
        w = s["writer"]
        out.append(f"| {name} | {fmt_rate(w[str(ks[0])]['writer_appends_per_s'])} | " +
                   " | ".join(f"{w[str(k)]['retention_vs_companion']:.2f}" for k in ks) + " |")
    out.append("")
    out.append("Beside one writer thread — per CPU-second: reader units per reader-thread-CPU-second with the "
               "writer / with the pure-Python thread (1.00 = the writer costs readers nothing but CPU share); "
               "[cores used by other threads, i.e. the maintenance worker, during the writer phase]\n")
    out.append(hdr.replace("T(1)", "writer appends/s (k=1)"))
    out.append(sep)
    for name, s in res["series"].items():
        w = s["writer"]
        out.append(f"| {name} | {fmt_rate(w[str(ks[0])]['writer_appends_per_s'])} | " +
                   " | ".join(f"{w[str(k)]['cpu_retention_vs_companion']:.2f} [{w[str(k)]['maintenance_cpu_cores']:.2f}]"
                              for k in ks) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small data, short runs, 3 repeats (CI)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--duration", type=float, default=None, help="seconds per configuration")
    ap.add_argument("--threads", default=None, help="comma-separated k values (default 1..2*nproc)")
    ap.add_argument("--series", default=None, help="comma-separated subset of series names")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--retention", action="store_true",
                    help="readers beside a retention writer vs beside a pure-Python thread (issue 10)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    ap.add_argument("--png", default=None)
    args = ap.parse_args(argv)
    if args.worker:
        (worker_retention if args.retention else worker)(args)
        return 0

    sys.path.insert(0, str(HERE))
    import _venvs

    t0 = time.time()
    venv = _venvs.ensure_ours("3.13t", numpy=False, install=not args.no_install)
    cmd = [str(_venvs.venv_python(venv)), str(Path(__file__).resolve()), "--worker"]
    for flag in ("quick", "retention"):
        if getattr(args, flag):
            cmd.append("--" + flag)
    for opt in ("repeats", "duration", "threads", "series"):
        v = getattr(args, opt)
        if v is not None:
            cmd += ["--" + opt, str(v)]
    load0 = os.getloadavg()
    # The worker's progress lines (stderr) pass through; its JSON is stdout.
    p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True,
                       env=dict(os.environ, PYTHON_GIL="0"))
    raw_out = json.loads(p.stdout.strip().splitlines()[-1])
    res = dict(raw_out)
    res.update(summarize_retention(raw_out) if args.retention else summarize(raw_out))
    res["loadavg"] = [load0, os.getloadavg()]
    res["ours_build"] = _venvs.build_info(venv)
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        res["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines()
                                 if ln.startswith("Model name:")), "?")
    except OSError:
        res["cpu_model"] = "?"
    date = _dt.date.today().isoformat()
    suffix = "-quick" if args.quick else ""
    kind = "scaling-retention" if args.retention else "scaling"
    out = Path(args.out) if args.out else HERE / "results" / f"{kind}-{date}{suffix}.json"
    if not args.out and args.retention:
        n = 2
        while out.exists():
            out = HERE / "results" / f"{kind}-{date}{suffix}-{n}.json"
            n += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"\n## reader scaling{' (retention mode)' if args.retention else ''} — CPython {res['python']} "
          f"(GIL enabled: {res['gil_enabled']}), "
          f"{res['nproc']} CPUs ({res['cpu_model']}), {res['mode']} mode, {res['sizes']['data']:,} records, "
          f"median of {res['repeats']}; load {load0[0]:.1f} → {res['loadavg'][1][0]:.1f}\n")
    print(tables_retention(res) if args.retention else tables(res))
    print(f"\nresults: {out}")
    if not args.no_plot and not args.retention:
        png = Path(args.png) if args.png else (
            HERE / "results" / f"scaling-{date}-quick.png" if args.quick else ROOT / "docs" / "img" / "scaling.png")
        png.parent.mkdir(parents=True, exist_ok=True)
        plot_venv = _venvs.ensure_ours("3.13", plotting=True, install=not args.no_install)
        r = subprocess.run([str(_venvs.venv_python(plot_venv)), str(HERE / "plot.py"), "scaling", str(out), str(png)])
        if r.returncode == 0:
            print(f"chart: {png}")
    print(f"elapsed: {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
