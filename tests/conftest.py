"""Shared fixtures for the timelog test suite.

The suite is written against docs in ``shared/spec/python-api.md`` and was
validated against the C reference package (``timelog-lib`` 1.4.0).

Every log a test creates through ``make_log`` / ``log`` (or registers with
``make_log.track``) is closed at the end of the test, even when the test
fails half-way with readers still alive.
"""

from __future__ import annotations

import gc
import os

# Before any test module imports numpy: OpenBLAS starts a worker thread
# per core at import, and they spin; on a 2-core machine they took the
# CPU from the log's maintenance thread on free-threaded 3.13 (the
# delete-debt test of test_maintenance.py failed in 4 of 6 runs alone,
# 0 of 8 with one BLAS thread). The suite never calls BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402

from timelog import Timelog, TimelogError


class LogFactory:
    """Creates logs and closes them all at teardown."""

    def __init__(self) -> None:
        self._logs: list[Timelog] = []

    def __call__(self, **kwargs) -> Timelog:
        return self.track(Timelog(**kwargs))

    def track(self, log: Timelog) -> Timelog:
        self._logs.append(log)
        return log

    def close_all(self) -> None:
        for log in self._logs:
            for _attempt in range(2):
                try:
                    log.close()
                    break
                except TimelogError:
                    # A reader left alive by a failing test: collect and retry.
                    gc.collect()
        self._logs.clear()


@pytest.fixture
def make_log():
    """Factory fixture: ``make_log(**config)`` -> Timelog closed at teardown."""
    factory = LogFactory()
    yield factory
    factory.close_all()


@pytest.fixture
def log(make_log) -> Timelog:
    """A log with maintenance disabled (deterministic storage layout)."""
    return make_log(maintenance="disabled")


def _compact_fully(log: Timelog) -> None:
    """Flush, compact and run maintenance until there is no work left.

    Used where the test is about something other than compact()'s own
    contract, so that it does not depend on whether compact() does its work
    inline or merely schedules it for maint_step().
    """
    log.flush()
    log.compact()
    for _ in range(10_000):
        if not log.maint_step():
            break


@pytest.fixture
def compact_fully():
    return _compact_fully
