"""Re-entrancy: a payload's ``__del__`` may call any public method (issue 11,
defect 3).

Payloads are released outside every engine and binding lock: maintenance
moves the manifests it replaced out of the maintainer lock before dropping
them, and iterators give their state back before releasing what they held.
Each test releases a payload whose ``__del__`` calls one method, in one of
three places — a compaction on the calling thread, the background worker,
and ``it.close()`` — and fails if the call deadlocks or spins (the work runs
in a thread joined with a timeout).
"""

from __future__ import annotations

import gc
import threading
import time

import pytest

from timelog import Timelog, TimelogError

TIMEOUT = 20.0


def _calls():
    """name -> f(log): one call of each public method group."""
    return {
        "len": lambda log: len(log),
        "at": lambda log: log.at(1),
        "contains": lambda log: 1 in log,
        "next_ts": lambda log: log.next_ts(0),
        "iterate": lambda log: list(log.range(0, 100)),
        "views": lambda log: [s.close() for s in log.views()],
        "stats": lambda log: log.stats(),
        "append": lambda log: log.append(50, "from __del__"),
        "extend_large": lambda log: log.extend([(100 + i, i) for i in range(5000)]),
        "delete": lambda log: log.delete_range(60, 70),
        "flush": lambda log: log.flush(),
        "compact": lambda log: log.compact(),
        "maint_step": lambda log: log.maint_step(),
        "close": lambda log: log.close(),
    }


CALLS = sorted(_calls())


class Reenter:
    """Calls ``fn(log)`` from ``__del__`` and records the outcome."""

    def __init__(self, log, fn, out):
        self.log, self.fn, self.out = log, fn, out

    def __del__(self):
        try:
            self.fn(self.log)
            self.out.append("ok")
        except (TimelogError, ValueError, RuntimeError) as e:  # e.g. closed, or refused
            self.out.append(type(e).__name__)


def _in_thread(fn):
    """Runs fn() in a thread; fails if it does not return in TIMEOUT s."""
    err = []

    def run():
        try:
            fn()
        except BaseException as e:  # pragma: no cover - reported below
            err.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive(), f"deadlock: the call did not return within {TIMEOUT}s"
    if err:
        raise err[0]


def _unless_closed(log, fn):
    """Runs fn(); a refusal because the log was closed meanwhile is fine."""
    try:
        fn()
    except TimelogError:
        if not log.closed:
            raise


@pytest.mark.parametrize("name", CALLS)
def test_del_reenters_during_compaction_on_the_calling_thread(name):
    out: list = []
    log = Timelog(maintenance="disabled")
    try:
        log.append(1, Reenter(log, _calls()[name], out))
        log.append(2, "keep")
        log.flush()
        log.delete_range(1, 2)

        _in_thread(log.compact)
        gc.collect()
        assert out, "the payload was released (and its __del__ ran)"
    finally:
        log.close()


@pytest.mark.parametrize("name", CALLS)
def test_del_reenters_on_the_background_worker(name):
    out: list = []
    log = Timelog(maintenance="background", maintenance_wakeup_ms=5)
    try:
        log.append(1, Reenter(log, _calls()[name], out))
        log.append(2, "keep")
        log.delete_range(1, 2)
        # The worker flushes; a compaction applying the delete (debt or
        # explicit) drops the payload on whichever thread runs it. The
        # worker may do both before these calls (the memtable's own deletes
        # count as delete debt), and a `__del__` that closes the log then
        # makes them refuse: only that refusal is expected.
        _in_thread(lambda: _unless_closed(log, log.flush))
        _in_thread(lambda: _unless_closed(log, log.compact))
        deadline = time.monotonic() + TIMEOUT
        while not out and time.monotonic() < deadline:
            time.sleep(0.01)
        assert out, "the payload was released (and its __del__ ran)"
        # The log is still usable (or was closed by the __del__).
        if not log.closed:
            log.append(3, "after")
            _in_thread(log.flush)
            assert 3 in log
    finally:
        _in_thread(log.close)


def _iter_calls():
    return {
        "len": lambda it: len(it),
        "next": lambda it: next(it, None),
        "next_batch": lambda it: it.next_batch(2),
        "reversed": lambda it: list(reversed(it)),
        "view": lambda it: list(it.view()),
        "close": lambda it: it.close(),
        "closed": lambda it: it.closed,
        "repr": lambda it: repr(it),
    }


@pytest.mark.parametrize("name", sorted(_iter_calls()))
def test_del_uses_the_iterator_being_closed(name):
    # The iterator's snapshot is the last owner of the payload (the log
    # deleted and compacted it): it.close() releases it, and its __del__
    # uses that same iterator.
    fn = _iter_calls()[name]
    out: list = []
    log = Timelog(maintenance="disabled")
    holder: dict = {}

    class UsesIter:
        def __del__(self):
            try:
                out.append(("ok", fn(holder["it"])))
            except RuntimeError as e:  # pragma: no cover - would be a failure below
                out.append(("error", str(e)))

    log.append(1, UsesIter())
    log.append(2, "x")
    it = log.all()
    holder["it"] = it
    log.delete_range(1, 2)
    log.compact()
    _in_thread(it.close)
    assert len(out) == 1 and out[0][0] == "ok", out
    if name == "len":
        assert out[0][1] == 0
    if name == "next":
        assert out[0][1] is None
    assert it.closed
    del holder["it"]
    log.close()


def test_del_uses_the_iterator_being_exhausted():
    # Exhausting an iterator releases its snapshot inside __next__.
    out: list = []
    log = Timelog(maintenance="disabled")
    holder: dict = {}

    class UsesIter:
        def __del__(self):
            out.append((len(holder["it"]), next(holder["it"], "done")))

    log.append(1, UsesIter())
    it = log.all()
    holder["it"] = it
    log.delete_range(1, 2)
    log.compact()
    assert next(it)[0] == 1  # the snapshot still sees it
    assert next(it, None) is None
    gc.collect()
    assert out == [(0, "done")]
    del holder["it"]
    log.close()
