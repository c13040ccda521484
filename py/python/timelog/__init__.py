"""timelog: a lock-free, MVCC, LSM-inspired in-memory time index.

A drop-in replacement for the C ``timelog`` package (``timelog-lib``), built
on a Rust engine. Readers never wait, on GIL and free-threaded CPython
alike; writes from several threads are safe without external locking.

Consistency: every iterator, point read and navigation call reads one
snapshot — exactly the writes committed before it started, whatever is
written, deleted, flushed or compacted afterwards. Equal timestamps come
back in insertion order. A write that returned is visible to every read
that starts after it.
"""

from __future__ import annotations

import atexit as _atexit
import os as _os
import weakref as _weakref
import collections.abc as _abc
import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:  # annotations only (they are strings at run time)
    from typing import Any as _Any
    from typing import Optional as _Optional
    from typing import Tuple as _Tuple

from timelog import _timelog
from timelog._timelog import (
    PageSpan,
    PageSpanIter,
    PageSpanObjectsView,
    TimelogBusyError,
    TimelogError,
    TimelogIter,
)

Record = tuple[int, object]
RecordIter = _abc.Iterator[Record]
RecordBatch = list[Record]


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("timelog")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    import pathlib
    import re

    here = pathlib.Path(__file__).resolve()
    for parent in here.parents:
        pp = parent / "pyproject.toml"
        if pp.is_file():
            m = re.search(r'^version\s*=\s*"([^"]+)"', pp.read_text(), re.M)
            if m:
                return m.group(1)
    return "0+unknown"


__version__ = _version()

_live: "_weakref.WeakSet[Timelog]" = _weakref.WeakSet()


@_atexit.register
def _stop_workers() -> None:
    # Background workers attach to the interpreter for each step; stop them
    # before the interpreter finalizes.
    for log in list(_live):
        try:
            log.stop_maintenance()
        except Exception:  # pragma: no cover - best effort at exit
            pass


# fork(): the child has only the thread that forked. Before the fork every
# live log stops its worker and takes its maintainer lock (so the child
# inherits no lock held by a thread it does not have); after it, in the
# parent and in the child, the lock is released and the worker restarted
# (in the child, a new thread), so the child's log keeps working.
_forking: list = []


def _before_fork() -> None:
    logs = list(_live)
    for log in logs:
        try:
            log._fork_prepare()
        except Exception:  # pragma: no cover - a closed log has nothing to hold
            continue
        _forking.append(log)


def _after_fork() -> None:
    logs = _forking[:]
    del _forking[:]
    for log in logs:
        try:
            log._fork_finish()
        except Exception:  # pragma: no cover - best effort
            pass


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


class Timelog(_timelog.Timelog):
    """An in-memory, time-indexed multimap of ``(timestamp, object)`` records.

    Keyword-only configuration::

        Timelog(*, time_unit="ms", maintenance="background", busy_policy="raise",
                min_ts=None, mostly_ordered_default=True, memtable_max_bytes=0,
                target_page_bytes=0, sealed_max_runs=0, ooo_budget_bytes=0,
                sealed_wait_ms=0, drain_batch_limit=0, maintenance_wakeup_ms=0, maintenance_nice=None,
                max_delta_segments=0, window_size=0, window_origin=0,
                delete_debt_threshold=0.0, compaction=None, adaptive=None)

    ``0`` means "engine default" for numeric knobs. Ranges are half-open
    ``[t1, t2)``. Any number of threads may read and write concurrently.
    """

    def __init__(self, **kwargs: _Any) -> None:
        # Configuration is consumed by the native __new__; register for a
        # clean shutdown of the background worker at interpreter exit.
        _live.add(self)

    # ----- presets --------------------------------------------------------

    @classmethod
    def for_streaming(cls, **overrides: _Any) -> "Timelog":
        """Background maintenance, ``busy_policy="flush"``."""
        cfg: dict = {"maintenance": "background", "busy_policy": "flush"}
        cfg.update(overrides)
        return cls(**cfg)

    @classmethod
    def for_bulk_ingest(cls, **overrides: _Any) -> "Timelog":
        """Maintenance disabled, ``busy_policy="flush"``, 16 MiB memtable."""
        cfg: dict = {"maintenance": "disabled", "busy_policy": "flush", "memtable_max_bytes": 16 << 20}
        cfg.update(overrides)
        return cls(**cfg)

    @classmethod
    def for_low_latency(cls, **overrides: _Any) -> "Timelog":
        """Background maintenance, ``busy_policy="raise"``, 256 KiB memtable, no writer wait."""
        cfg: dict = {
            "maintenance": "background",
            "busy_policy": "raise",
            "memtable_max_bytes": 256 << 10,
            "sealed_wait_ms": 0,
        }
        cfg.update(overrides)
        return cls(**cfg)

    # ----- context manager ------------------------------------------------

    def __enter__(self) -> "Timelog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- export ---------------------------------------------------------

    def _iter_bounds(self, t1: _Optional[int], t2: _Optional[int]) -> TimelogIter:
        if t1 is not None and t2 is not None:
            # Export bounds follow slice semantics: reversed bounds are empty.
            return self[t1:t2]
        if t1 is None and t2 is None:
            return self.all()
        if t2 is None:
            return self.since(t1)  # type: ignore[arg-type]
        if t1 is None:
            return self.until(t2)
        return self.range(t1, t2)

    def to_dict(self, t1: _Optional[int] = None, t2: _Optional[int] = None) -> dict:
        """``{ts: obj}`` of ``[t1, t2)``; for duplicate timestamps the last record wins."""
        out: dict = {}
        with self._iter_bounds(t1, t2) as it:
            while True:
                batch = it.next_batch(4096)
                if not batch:
                    break
                out.update(batch)
        return out

    def to_numpy(self, t1: _Optional[int] = None, t2: _Optional[int] = None, *, dtype: _Any = None) -> _Tuple[_Any, _Any]:
        """``(int64 timestamps, values)`` arrays of ``[t1, t2)``.

        Values convert to ``float64`` (or ``dtype``, which must be numeric).
        numpy is imported only here.
        """
        import numpy as np

        vdtype = np.dtype(np.float64 if dtype is None else dtype)
        if not (np.issubdtype(vdtype, np.integer) or np.issubdtype(vdtype, np.floating)):
            raise TypeError(f"to_numpy() dtype must be a real numeric dtype (integer or floating), got {vdtype!r}")
        with self._iter_bounds(t1, t2) as it:
            n = len(it)
            ts = np.empty(n, dtype=np.int64)
            vals = np.empty(n, dtype=vdtype)
            i = 0
            while True:
                batch = it.next_batch(4096)
                if not batch:
                    break
                for t, v in batch:
                    ts[i] = t
                    try:
                        vals[i] = v
                    except (TypeError, ValueError, OverflowError) as e:
                        note = f"to_numpy(): row {i} (ts={t}) value {v!r} cannot convert to {vdtype}"
                        if _sys.version_info >= (3, 11):
                            e.add_note(note)
                            raise
                        raise type(e)(f"{e} [{note}]") from e
                    i += 1
        return ts[:i], vals[:i]


__all__ = [
    "Timelog",
    "TimelogError",
    "TimelogBusyError",
    "TimelogIter",
    "PageSpan",
    "PageSpanIter",
    "PageSpanObjectsView",
    "Record",
    "RecordIter",
    "RecordBatch",
    "__version__",
]
