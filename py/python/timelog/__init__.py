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

    from typing_extensions import Unpack as _Unpack

    from timelog._timelog import _Config

from timelog import _timelog
from timelog._timelog import (
    PageSpan,
    PageSpanIter,
    PageSpanObjectsView,
    TimelogBusyError,
    TimelogError,
    TimelogIter,
)

from timelog._api import TL_TS_MAX, TL_TS_MIN

# The C package's module exposes `Iterator` (typing's) at the top level;
# code written against it may import it from here.
from typing import Iterator

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
                delete_debt_threshold=0.1, compaction=None, adaptive=None)

    The C package's flat legacy keywords are accepted too, each setting
    exactly what its dict form sets: ``adaptive_target_records``,
    ``adaptive_min_window``, ``adaptive_max_window``,
    ``adaptive_hysteresis_pct``, ``adaptive_window_quantum``,
    ``adaptive_alpha``, ``adaptive_warmup_flushes``,
    ``adaptive_stale_flushes``, ``adaptive_failure_backoff_threshold``,
    ``adaptive_failure_backoff_pct`` (``adaptive={...}``) and
    ``compaction_target_bytes``, ``max_compaction_inputs``,
    ``max_compaction_windows`` (``compaction={...}``). A knob given both
    flat and in its dict raises ``ValueError``; dict keys must be strings.

    ``0`` means "engine default" for numeric knobs. Ranges are half-open
    ``[t1, t2)``. Any number of threads may read and write concurrently.
    """

    def __init__(self, **kwargs: _Unpack[_Config]) -> None:
        # Configuration is consumed by the native __new__; register for a
        # clean shutdown of the background worker at interpreter exit.
        _live.add(self)

    # ----- presets --------------------------------------------------------

    @classmethod
    def for_streaming(cls, **overrides: _Unpack[_Config]) -> "Timelog":
        """A log for a continuous event stream: background maintenance, ``busy_policy="flush"``.

        ``overrides`` are constructor keywords that replace the preset's.
        Raises what ``Timelog(...)`` raises for invalid settings.
        """
        cfg: dict = {"maintenance": "background", "busy_policy": "flush"}
        cfg.update(overrides)
        return cls(**cfg)

    @classmethod
    def for_bulk_ingest(cls, **overrides: _Unpack[_Config]) -> "Timelog":
        """A log for loading data in bulk: maintenance disabled, ``busy_policy="flush"``, 16 MiB memtable.

        Call ``flush()``/``compact()`` (or ``start_maintenance()``) when done.
        ``overrides`` are constructor keywords that replace the preset's.
        """
        cfg: dict = {"maintenance": "disabled", "busy_policy": "flush", "memtable_max_bytes": 16 << 20}
        cfg.update(overrides)
        return cls(**cfg)

    @classmethod
    def for_low_latency(cls, **overrides: _Unpack[_Config]) -> "Timelog":
        """A log for low write latency: background maintenance, ``busy_policy="raise"``, 256 KiB memtable, no writer wait.

        ``overrides`` are constructor keywords that replace the preset's.
        """
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
        """``with Timelog() as log:`` returns the log; it is closed at the end of the block."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Closes the log (raises TimelogError if readers still pin it)."""
        self.close()

    # ----- export ---------------------------------------------------------

    def _iter_bounds(self, t1: _Optional[int], t2: _Optional[int]) -> TimelogIter:
        # Export bounds follow slice semantics (the engine's Bounds::slice):
        # a missing bound is open, reversed bounds are empty.
        return self[t1:t2]

    def to_dict(self, t1: _Optional[int] = None, t2: _Optional[int] = None) -> "dict[int, _Any]":
        """``{ts: obj}`` of ``[t1, t2)``; for duplicate timestamps the last record wins.

        A missing bound is open (``to_dict(t1)``: from ``t1`` on); reversed
        bounds give ``{}``. Raises TypeError/OverflowError for a bad
        timestamp, TimelogError if the log is closed.
        """
        out: dict = {}
        with self._iter_bounds(t1, t2) as it:
            while True:
                batch = it.next_batch(4096)
                if not batch:
                    break
                out.update(batch)
        return out

    def to_numpy(
        self, t1: _Optional[int] = None, t2: _Optional[int] = None, *, dtype: _Any = None, datetime: bool = False
    ) -> _Tuple[_Any, _Any]:
        """``(int64 timestamps, values)`` arrays of ``[t1, t2)``.

        Values convert to ``float64`` (or ``dtype``, which must be numeric).
        With ``datetime=True`` the timestamps are ``datetime64[<time_unit>]``
        (a view of the same int64 array, no copy).
        A missing bound is open; reversed bounds give empty arrays. numpy is
        imported only here (``pip install 'timelog[numpy]'``).

        Raises ModuleNotFoundError (with the install command) without numpy;
        TypeError for a non-numeric dtype; TypeError/ValueError/OverflowError
        (with the row noted) for a value that does not convert; TimelogError
        if the log is closed.
        """
        try:
            import numpy as np
        except ModuleNotFoundError as e:
            if e.name != "numpy":
                raise
            raise ModuleNotFoundError(
                "to_numpy() needs numpy, which is not installed; install it with: "
                "pip install 'timelog[numpy]'  (or: pip install numpy)",
                name="numpy",
            ) from e

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
        ts = ts[:i]
        if datetime:
            ts = ts.view(f"datetime64[{self.time_unit}]")
        return ts, vals[:i]


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
    "TL_TS_MIN",
    "TL_TS_MAX",
    "__version__",
]
