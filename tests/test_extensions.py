"""Features this project adds beyond the C package (timelog-lib 1.4.0).

These tests fail on the C package by design (it raises TypeError on
``reversed(log)`` and has no ``tail``/``head``/``reverse=``); they are kept in
this separate file rather than marked xfail.

Decisions made here:
- ``reversed(log)``, ``reversed(log[t1:t2])`` and ``log.range(t1, t2,
  reverse=True)`` yield ``(ts, obj)`` in descending timestamp order; among
  equal timestamps, reverse insertion order (the exact reverse of the
  forward scan). They are snapshot reads like forward scans.
- ``log.head(n)`` returns the oldest ``n`` visible records and
  ``log.tail(n)`` the newest ``n``, both as a list in ascending order.
  ``n == 0`` gives ``[]``, ``n`` larger than the log gives everything,
  ``n < 0`` raises ``ValueError`` and a non-integer ``n`` raises ``TypeError``.
- Concurrent writers need no external locking: every acknowledged write is
  present and each thread's own records keep their relative order.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from timelog import TimelogBusyError, TimelogError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

ROWS = [(-5, "m5"), (0, "z"), (3, "a"), (3, "b"), (3, "c"), (7, "s"), (10, "t")]


@pytest.fixture
def filled(log):
    for ts, obj in ROWS:
        log.append(ts, obj)
    return log


# ----------------------------------------------------------------- reversed


def test_reversed_log(filled):
    assert list(reversed(filled)) == ROWS[::-1]


def test_reversed_log_empty(log):
    assert list(reversed(log)) == []


def test_reversed_slice(filled):
    assert list(reversed(filled[0:7])) == [(3, "c"), (3, "b"), (3, "a"), (0, "z")]
    assert list(reversed(filled[3:])) == [(10, "t"), (7, "s"), (3, "c"), (3, "b"), (3, "a")]
    assert list(reversed(filled[:3])) == [(0, "z"), (-5, "m5")]
    assert list(reversed(filled[:])) == ROWS[::-1]
    assert list(reversed(filled[7:0])) == []


def test_range_reverse(filled):
    assert list(filled.range(0, 7, reverse=True)) == [(3, "c"), (3, "b"), (3, "a"), (0, "z")]
    assert list(filled.range(0, 7, reverse=False)) == [(0, "z"), (3, "a"), (3, "b"), (3, "c")]
    assert list(filled.range(3, 3, reverse=True)) == []
    assert list(filled.range(INT64_MIN, INT64_MAX, reverse=True)) == ROWS[::-1]
    with pytest.raises(ValueError):
        filled.range(7, 0, reverse=True)


def test_reverse_equal_timestamps_reverse_insertion_order(log, compact_fully):
    log.append(1, "first")
    log.flush()
    log.append(1, "second")
    compact_fully(log)
    log.append(1, "third")
    log.extend([(1, "fourth"), (0, "zero")], mostly_ordered=False)
    assert list(log) == [(0, "zero"), (1, "first"), (1, "second"), (1, "third"), (1, "fourth")]
    assert list(reversed(log)) == [
        (1, "fourth"),
        (1, "third"),
        (1, "second"),
        (1, "first"),
        (0, "zero"),
    ]
    assert list(log.range(1, 2, reverse=True)) == [
        (1, "fourth"),
        (1, "third"),
        (1, "second"),
        (1, "first"),
    ]


def test_reverse_is_tombstone_aware(log):
    log.extend([(i, i) for i in range(20)])
    log.flush()
    log.delete(5, 15)
    log.append(7, "new")
    expected = [(i, i) for i in range(5)] + [(7, "new")] + [(i, i) for i in range(15, 20)]
    assert list(reversed(log)) == expected[::-1]
    assert list(log.range(0, 10, reverse=True)) == [(7, "new"), (4, 4), (3, 3), (2, 2), (1, 1), (0, 0)]


def test_reverse_is_a_snapshot(log, compact_fully):
    log.extend([(i, i) for i in range(10)])
    rev = reversed(log)
    rev_range = log.range(2, 6, reverse=True)
    first = next(rev)
    log.delete_before(100)
    log.extend([(i, "new") for i in range(10)])
    compact_fully(log)
    assert [first] + list(rev) == [(i, i) for i in range(10)][::-1]
    assert list(rev_range) == [(5, 5), (4, 4), (3, 3), (2, 2)]


def test_reverse_iterators_pin(log):
    log[1] = "a"
    rev = reversed(log)
    with pytest.raises(TimelogError):
        log.close()
    assert list(rev) == [(1, "a")]
    log.close()


def test_reverse_large_multi_layer(make_log, compact_fully):
    log = make_log(maintenance="disabled", memtable_max_bytes=1024, busy_policy="silent")
    expected = []
    for i in range(3000):
        ts = (i * 7919) % 500
        log.append(ts, i)
        expected.append((ts, i))
        if i % 700 == 0:
            log.flush()
        if i == 1500:
            compact_fully(log)
    expected.sort(key=lambda r: r[0])
    assert list(reversed(log)) == expected[::-1]
    assert list(log.range(100, 200, reverse=True)) == [r for r in expected if 100 <= r[0] < 200][::-1]


def test_reverse_closed_log(log):
    log.close()
    with pytest.raises(TimelogError):
        reversed(log)


# -------------------------------------------------------------- head / tail


def test_head_tail(filled):
    assert filled.head(2) == [(-5, "m5"), (0, "z")]
    assert filled.tail(2) == [(7, "s"), (10, "t")]
    assert filled.head(4) == ROWS[:4]
    assert filled.tail(4) == ROWS[-4:]  # ascending order
    assert filled.tail(5) == [(3, "a"), (3, "b"), (3, "c"), (7, "s"), (10, "t")]


def test_head_tail_types(filled):
    assert isinstance(filled.head(3), list)
    assert isinstance(filled.tail(3), list)
    assert all(type(r) is tuple and len(r) == 2 for r in filled.tail(3))


def test_head_tail_bounds(filled):
    assert filled.head(0) == []
    assert filled.tail(0) == []
    assert filled.head(100) == ROWS
    assert filled.tail(100) == ROWS
    assert filled.head(len(ROWS)) == ROWS
    assert filled.tail(len(ROWS)) == ROWS


def test_head_tail_empty(log):
    assert log.head(3) == []
    assert log.tail(3) == []


def test_head_tail_invalid(filled):
    with pytest.raises(ValueError):
        filled.head(-1)
    with pytest.raises(ValueError):
        filled.tail(-1)
    with pytest.raises(TypeError):
        filled.head(1.5)
    with pytest.raises(TypeError):
        filled.tail("2")


def test_head_tail_accept_index_objects(filled):
    assert filled.head(np.int64(1)) == [(-5, "m5")]
    assert filled.tail(np.int32(1)) == [(10, "t")]


def test_head_tail_tombstone_aware(log, compact_fully):
    log.extend([(i, i) for i in range(10)])
    log.flush()
    del log[8:]
    del log[:2]
    assert log.head(2) == [(2, 2), (3, 3)]
    assert log.tail(2) == [(6, 6), (7, 7)]
    log.append(9, "new")
    assert log.tail(2) == [(7, 7), (9, "new")]
    compact_fully(log)
    assert log.tail(2) == [(7, 7), (9, "new")]
    assert log.head(1) == [(2, 2)]


def test_tail_ties_keep_insertion_order(log):
    log.extend([(5, "a"), (5, "b"), (5, "c"), (1, "x")])
    assert log.tail(2) == [(5, "b"), (5, "c")]
    assert log.head(2) == [(1, "x"), (5, "a")]


def test_head_tail_at_extremes(log):
    log.append(INT64_MAX, "max")
    log.append(INT64_MIN, "min")
    assert log.tail(1) == [(INT64_MAX, "max")]
    assert log.head(1) == [(INT64_MIN, "min")]


def test_head_tail_closed(log):
    log.close()
    with pytest.raises(TimelogError):
        log.tail(1)
    with pytest.raises(TimelogError):
        log.head(1)


# ------------------------------------------------------ concurrent writers


@pytest.mark.parametrize("maintenance", ["disabled", "background"])
def test_concurrent_writers_without_locking(make_log, maintenance):
    log = make_log(maintenance=maintenance, busy_policy="flush", memtable_max_bytes=4096)
    n_threads, n = 4, 3000
    barrier = threading.Barrier(n_threads)
    errors = []

    def writer(k):
        try:
            barrier.wait()
            for i in range(n):
                # Shared timestamps across threads: per-thread order among
                # equal timestamps must follow each thread's insertion order.
                log.append(i // 10, (k, i))
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    rows = list(log)
    assert len(rows) == len(log) == n_threads * n
    assert [ts for ts, _ in rows] == sorted(ts for ts, _ in rows)
    for k in range(n_threads):
        mine = [obj for _, obj in rows if obj[0] == k]
        assert mine == [(k, i) for i in range(n)]
    log.validate()


def test_concurrent_mixed_writers_and_maintenance(make_log):
    log = make_log(maintenance="disabled", busy_policy="silent", memtable_max_bytes=2048)
    n = 2000
    errors = []
    stop = threading.Event()

    def appender(k):
        try:
            for i in range(n):
                log.append(i, (k, i))
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    def bulk(k):
        try:
            for j in range(0, n, 100):
                log.bulk_append(
                    np.arange(j, j + 100, dtype=np.int64), [(k, i) for i in range(j, j + 100)]
                )
                log.extend([(j, (k + 1, j))])
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    def maintainer():
        try:
            while not stop.is_set():
                log.flush()
                log.compact()
                log.maint_step()
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    workers = [
        threading.Thread(target=appender, args=(0,)),
        threading.Thread(target=appender, args=(1,)),
        threading.Thread(target=bulk, args=(2,)),
    ]
    m = threading.Thread(target=maintainer)
    m.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    stop.set()
    m.join(timeout=120)
    assert not errors, errors
    rows = list(log)
    assert len(rows) == 3 * n + n // 100
    for k in (0, 1, 2):
        mine = [obj for _, obj in rows if obj[0] == k]
        assert mine == [(k, i) for i in range(n)]
    log.validate()


def test_concurrent_writers_under_busy_raise(make_log):
    log = make_log(maintenance="disabled", busy_policy="raise", memtable_max_bytes=64, sealed_max_runs=1)
    n_threads, n = 3, 500
    errors = []
    flush_lock = threading.Lock()

    def writer(k):
        try:
            for i in range(n):
                try:
                    log.append(i, (k, i))
                except TimelogBusyError:
                    with flush_lock:  # only to keep the test fast
                        log.flush()
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    rows = list(log)
    # A write that raised TimelogBusyError was committed: nothing is lost
    # and nothing is duplicated.
    assert len(rows) == n_threads * n
    for k in range(n_threads):
        assert [obj for _, obj in rows if obj[0] == k] == [(k, i) for i in range(n)]
