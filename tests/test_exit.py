"""Interpreter exit with daemon threads inside calls that release the
interpreter (issue 11, defect 1).

Before the fix, a daemon thread re-attaching after finalization started was
terminated by CPython with ``pthread_exit``; its forced unwind reached a
Rust frame that catches unwinds and the process aborted (SIGABRT, "FATAL:
exception not rethrown"). Each case runs in a subprocess, several times
(the abort needs the thread to be detached at the moment of exit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap

import pytest

PRELUDE = """
import sys, threading, time
from timelog import Timelog
"""

CASES = {
    "flush": """
        log = Timelog(maintenance="disabled"); log.append(1, "x")
        def work():
            while True:
                log.flush()
    """,
    "compact_background": """
        log = Timelog(maintenance="background"); log.append(1, "x")
        def work():
            t = 2
            while True:
                log.append(t, t); t += 1
                log.compact()
    """,
    "maint_step_background": """
        log = Timelog(maintenance="background")
        def work():
            t = 0
            while True:
                log.append(t, "x"); t += 1
                try:
                    log.maint_step()
                except Exception:
                    pass  # refused under background maintenance: still a released call
    """,
    "extend_large": """
        log = Timelog(maintenance="background")
        def work():
            t = 0
            while True:
                log.extend([(t + i, i) for i in range(5000)]); t += 5000
    """,
    "append_busy_flush": """
        log = Timelog(maintenance="background", busy_policy="flush", memtable_max_bytes=4096, sealed_max_runs=1)
        def work():
            t = 0
            while True:
                log.append(t, "x"); t += 1
    """,
    "payload_del_sleeps_during_release": """
        class Slow:
            def __del__(self):
                time.sleep(0.01)  # releases and re-takes the interpreter
        log = Timelog(maintenance="background", maintenance_wakeup_ms=1)
        def work():
            t = 0
            while True:
                log.extend([(t + i, Slow()) for i in range(50)]); t += 50
                log.delete_before(t)
                log.compact()
    """,
    "iterate_and_close_views": """
        log = Timelog(maintenance="background", memtable_max_bytes=8192, busy_policy="flush")
        log.extend([(t, t) for t in range(20000)]); log.flush()
        def work():
            t = 20000
            while True:
                log.append(t, t); t += 1
                for span in log.views():
                    span.close()
                list(log[t - 100:t])
    """,
}


def _run(body: str, threads: int = 3) -> subprocess.CompletedProcess:
    code = (
        PRELUDE
        + textwrap.dedent(body)
        + f"""
for _ in range({threads}):
    threading.Thread(target=work, daemon=True).start()
time.sleep(0.15)
"""
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", sorted(CASES))
def test_exit_with_daemon_threads_inside_released_calls(case):
    for attempt in range(3):
        proc = _run(CASES[case])
        assert proc.returncode == 0, (
            f"{case}, attempt {attempt}: exit code {proc.returncode} (-6/134 = abort)\n{proc.stderr[-2000:]}"
        )
        assert "FATAL" not in proc.stderr and "Fatal Python error" not in proc.stderr, proc.stderr[-2000:]


def test_exit_stops_background_workers_cleanly():
    # A busy log with a worker mid-step and payloads with finalizers: the
    # atexit hook stops the worker, the process exits 0.
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import time
                from timelog import Timelog
                class P:
                    def __del__(self):
                        pass
                logs = [Timelog(maintenance="background", memtable_max_bytes=4096) for _ in range(3)]
                for log in logs:
                    log.extend([(t, P()) for t in range(3000)])
                    log.delete_before(1500)
                time.sleep(0.05)
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "", proc.stderr[-2000:]


# Payload releases inside an iterator call: the last references to payloads
# that only the iterator's snapshot and its spare tuples held are released
# by the call itself (`__next__` at the end of the walk, `close()`, the
# iterator's deallocation), and their `__del__` re-attaches (time.sleep)
# while the interpreter exits. Before the fix, those releases used pyo3's
# inline Py_DECREF: 18 of 18 runs aborted on 3.11 ("FATAL: exception not
# rethrown"). On free-threaded builds iterators keep no spare tuples, so
# there these cases pass either way.
ITER_PRELUDE = """
class Slow:
    def __del__(self):
        for _ in range(50):
            time.sleep(0.001)  # re-attaches every millisecond
"""

ITER_CASES = {
    # Three rows, the first one slow: at the last row the snapshot is
    # released, and the first row's payload (moved out of the refilled spare
    # tuple) is released by __next__ itself.
    "exhaust": """
        def work():
            log = Timelog(maintenance="disabled"); t = 0
            while True:
                log.extend([(t, Slow()), (t + 1, 1), (t + 2, 2)])
                it = log[t:t + 3]
                log.delete_before(t + 3); log.compact()  # now only the snapshot holds them
                for _ in it:
                    pass
                t += 3
    """,
    # Two rows taken and dropped: close() releases the snapshot, then the
    # spare tuples that hold the two slow payloads.
    "close": """
        def work():
            log = Timelog(maintenance="disabled"); t = 0
            while True:
                log.extend([(t, Slow()), (t + 1, Slow()), (t + 2, 2)])
                it = log[t:t + 3]
                log.delete_before(t + 3); log.compact()
                next(it); next(it); it.close()
                t += 3
    """,
    # The same, released by the iterator's deallocation.
    "dealloc": """
        def work():
            log = Timelog(maintenance="disabled"); t = 0
            while True:
                log.extend([(t, Slow()), (t + 1, Slow()), (t + 2, 2)])
                it = log[t:t + 3]
                log.delete_before(t + 3); log.compact()
                next(it); next(it); del it
                t += 3
    """,
    # next_batch() exhausting an iterator whose spare tuples hold payloads.
    "next_batch": """
        def work():
            log = Timelog(maintenance="disabled"); t = 0
            while True:
                log.extend([(t, Slow()), (t + 1, Slow()), (t + 2, 2), (t + 3, 3)])
                it = log[t:t + 4]
                log.delete_before(t + 4); log.compact()
                next(it); next(it); it.next_batch(10)
                t += 4
    """,
}


# Objects that are not payloads, released or run by a call while the
# interpreter exits: the items of extend()'s input that the input made
# itself (skipped timestamps, and the items before an error), the
# exception of a skipped item, a Python generator as the input, a Python
# __index__, and close()'s collection of unreachable readers (finalizers).
# Before the fix, each was released or called inline through pyo3 ("C"
# declarations; the forced unwind met pyo3's trampoline): on 3.11 every
# case failed its test (at least one abort in 4 attempts).
OBJ_PRELUDE = """
from itertools import chain, repeat, starmap
import warnings
warnings.simplefilter("ignore")
class Slow:
    def __del__(self):
        for _ in range(20):
            time.sleep(0.001)  # re-attaches every millisecond
class BadTs(Slow):
    def __index__(self):
        raise TypeError("not a timestamp")
class PyTs:
    def __init__(self, t):
        self.t = t
    def __index__(self):
        time.sleep(0.0005)
        return self.t
"""

OBJ_CASES = {
    # Skipped items, made by the input (starmap: no Python frame of its own).
    "extend_fresh_skipped": """
        log = Timelog(maintenance="disabled")
        def work():
            t = 0
            while True:
                log.extend(chain(zip(starmap(BadTs, repeat((), 3)), repeat(1, 3)), [(t, 1)])); t += 1
    """,
    # The objects form: the object paired with a skipped timestamp.
    "extend_fresh_objects_of_skipped": """
        log = Timelog(maintenance="disabled")
        def work():
            t = 0
            while True:
                log.extend(chain([t], starmap(BadTs, repeat((), 2))), starmap(Slow, repeat((), 3))); t += 1
    """,
    "extend_generator": """
        log = Timelog(maintenance="disabled")
        def work():
            t = 0
            while True:
                def g(t=t):
                    for i in range(10):
                        time.sleep(0.0005)
                        yield (t + i, i)
                log.extend(g()); t += 10
    """,
    "python_index": """
        log = Timelog(maintenance="disabled")
        def work():
            t = 0
            while True:
                log.extend([(PyTs(t + i), i) for i in range(10)]); t += 10
    """,
    # extend()'s input through its own protocol: a Python __iter__, the
    # objects form's __len__ and sequence __getitem__, each re-attaching.
    "extend_python_iter_and_sequence": """
        class Seq:
            def __init__(self, n):
                self.n = n
            def __len__(self):
                time.sleep(0.0005)
                return self.n
            def __getitem__(self, i):
                time.sleep(0.0005)
                if i >= self.n:
                    raise IndexError(i)
                return i
        class It:
            def __init__(self, t):
                self.t = t
            def __iter__(self):
                time.sleep(0.0005)
                return iter([(self.t, 1), (self.t + 1, 2)])
        log = Timelog(maintenance="disabled")
        def work():
            t = 0
            while True:
                log.extend(It(t)); log.extend(range(t, t + 5), Seq(5)); t += 10
    """,
    # The RuntimeWarning of skipped items, shown by a Python hook (an
    # int64 overflow: a `str` timestamp's path looks up `datetime`, Python
    # code pyo3 runs unguarded — docs/threading.md, "Shutdown").
    "extend_warning_hook": """
        def show(*a, **k):
            time.sleep(0.0005)
        warnings.resetwarnings()
        warnings.simplefilter("always")
        warnings.showwarning = show
        log = Timelog(maintenance="disabled")
        def work():
            t = 0
            while True:
                log.extend([(2**70, 1), (t, 2)]); t += 1
    """,
    # Skipped out-of-range timestamps, warnings ignored: pyo3 made the
    # OverflowError's object on its first class check by detaching and
    # re-attaching (`interp::settled`); 35 of 40 processes aborted or
    # crashed on 3.11 before.
    "extend_skipped_overflow": """
        log = Timelog(maintenance="disabled")
        def work():
            t = 0
            while True:
                log.extend([(2**70, 1)] * 50 + [(t, 2)]); t += 1
    """,
    # Finalizers of automatic collections that allocations inside calls
    # trigger (a low threshold: nearly every call collects).
    "gc_finalizers_inside_calls": """
        import gc
        gc.set_threshold(5, 1, 1)
        class Cyc(Slow):
            def __init__(self):
                self.me = self
        log = Timelog(maintenance="disabled")
        def work():
            t = 0
            while True:
                Cyc()
                log.extend([(t + i, [i]) for i in range(20)])
                for r in log[t:t + 20]:
                    pass
                t += 20
    """,
    "close_collects_readers": """
        import gc
        gc.disable()  # only close() collects
        def work():
            while True:
                log = Timelog(maintenance="disabled")
                box = Slow()
                log.append(1, box)
                log.append(2, "keep")
                it = log.all()
                box.ref = it
                log.delete_range(1, 2)
                log.compact()
                del it, box
                log.close()
    """,
}


@pytest.mark.parametrize("case", sorted(OBJ_CASES))
def test_exit_with_daemon_threads_releasing_or_running_non_payload_objects(case):
    for attempt in range(4):
        proc = _run(OBJ_PRELUDE + textwrap.dedent(OBJ_CASES[case]))
        assert proc.returncode == 0, (
            f"{case}, attempt {attempt}: exit code {proc.returncode} (-6/134 = abort)\n{proc.stderr[-2000:]}"
        )
        assert "FATAL" not in proc.stderr and "Fatal Python error" not in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("case", sorted(ITER_CASES))
def test_exit_with_daemon_threads_releasing_payloads_in_iterator_calls(case):
    for attempt in range(4):
        proc = _run(ITER_PRELUDE + textwrap.dedent(ITER_CASES[case]))
        assert proc.returncode == 0, (
            f"{case}, attempt {attempt}: exit code {proc.returncode} (-6/134 = abort)\n{proc.stderr[-2000:]}"
        )
        assert "FATAL" not in proc.stderr and "Fatal Python error" not in proc.stderr, proc.stderr[-2000:]


_FT_313 = bool(sysconfig.get_config_var("Py_GIL_DISABLED")) and sys.version_info < (3, 14)


@pytest.mark.skipif(not _FT_313, reason="CPython gh-124878 exists on free-threaded 3.13 only")
def test_free_threaded_313_daemon_detach_at_exit_is_fenced():
    # CPython gh-124878 (fixed in 3.14): a daemon thread inside
    # PyEval_SaveThread when Py_FinalizeEx frees its thread state reads
    # freed memory (SIGSEGV at exit). Every released call detaches through
    # `convert::interp::detach`; on free-threaded 3.13 it goes through the
    # exit fence (py/src/convert.rs, `exit_fence`), which keeps daemon
    # threads out of PyEval_SaveThread once the interpreter exits. Without
    # the fence this program crashed in 8 of 400 runs (session 23), so 150
    # runs catch it with a chance of about 95%. TIMELOG_EXIT_RUNS scales it.
    runs = int(os.environ.get("TIMELOG_EXIT_RUNS", "150"))
    crashed = []
    for attempt in range(runs):
        proc = _run(CASES["maint_step_background"])
        if proc.returncode != 0 or "Fatal Python error" in proc.stderr:
            crashed.append((attempt, proc.returncode, proc.stderr[-500:]))
    assert not crashed, f"{len(crashed)} of {runs} runs crashed at exit: {crashed[:3]}"
