"""Read path: slicing, point reads, named iterators, TimelogIter, navigation,
exports and snapshot isolation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from timelog import PageSpanIter, Timelog, TimelogError, TimelogIter

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

DATA = [(-5, "m5"), (0, "z"), (3, "a"), (3, "b"), (3, "c"), (7, "s"), (10, "t")]


@pytest.fixture
def filled(log):
    for ts, obj in DATA:
        log.append(ts, obj)
    return log


# ------------------------------------------------------------------ slicing


def test_slices_are_timelog_iters(filled):
    for it in (filled[0:5], filled[0:], filled[:5], filled[:], iter(filled)):
        assert isinstance(it, TimelogIter)
        it.close()


def test_slice_half_open(filled):
    assert list(filled[0:7]) == [(0, "z"), (3, "a"), (3, "b"), (3, "c")]
    assert list(filled[3:4]) == [(3, "a"), (3, "b"), (3, "c")]
    assert list(filled[3:3]) == []
    assert list(filled[4:7]) == []


def test_slice_open_ends(filled):
    assert list(filled[7:]) == [(7, "s"), (10, "t")]
    assert list(filled[:0]) == [(-5, "m5")]
    assert list(filled[:]) == DATA
    assert list(filled) == DATA


def test_slice_step(filled):
    assert list(filled[0:5:1]) == [(0, "z"), (3, "a"), (3, "b"), (3, "c")]
    assert list(filled[0:5:None]) == [(0, "z"), (3, "a"), (3, "b"), (3, "c")]
    for step in (2, -1, 0, 1.0, True, "1"):
        with pytest.raises(ValueError):
            filled[0:5:step]


def test_slice_reversed_bounds_empty(filled):
    it = filled[10:0]
    assert isinstance(it, TimelogIter)
    assert len(it) == 0
    assert list(it) == []
    assert list(filled[3:-5]) == []


def test_negative_numbers_are_timestamps(filled):
    assert list(filled[-5:-4]) == [(-5, "m5")]
    assert list(filled[-10:1]) == [(-5, "m5"), (0, "z")]
    assert list(filled[:-1]) == [(-5, "m5")]
    assert list(filled[-1:]) == DATA[1:]
    assert filled[-5] == ["m5"]
    assert filled[-1] == []


def test_extreme_bounds(log):
    log.append(INT64_MIN, "min")
    log.append(INT64_MAX, "max")
    log.append(0, "zero")
    assert list(log[INT64_MIN:INT64_MAX]) == [(INT64_MIN, "min"), (0, "zero")]
    assert list(log[INT64_MIN:]) == [(INT64_MIN, "min"), (0, "zero"), (INT64_MAX, "max")]
    assert list(log.since(INT64_MAX)) == [(INT64_MAX, "max")]
    assert list(log.until(INT64_MIN)) == []
    assert log[INT64_MAX] == ["max"]
    assert list(log) == [(INT64_MIN, "min"), (0, "zero"), (INT64_MAX, "max")]


# ------------------------------------------------------------------- points


def test_point_reads(filled):
    assert filled[3] == ["a", "b", "c"]
    assert filled.at(3) == ["a", "b", "c"]
    assert filled[4] == []
    assert filled.at(4) == []
    assert isinstance(filled[4], list)


@pytest.mark.parametrize("key", ["3", None, (1, 2), b"x", 3.0], ids=["str", "None", "tuple", "bytes", "float"])
def test_bad_key_type(filled, key):
    with pytest.raises(TypeError):
        filled[key]


# --------------------------------------------------------- named iterators


def test_named_iterators(filled):
    assert list(filled.range(0, 7)) == [(0, "z"), (3, "a"), (3, "b"), (3, "c")]
    assert list(filled.range(3, 3)) == []
    assert list(filled.since(7)) == [(7, "s"), (10, "t")]
    assert list(filled.until(3)) == [(-5, "m5"), (0, "z")]
    assert list(filled.all()) == DATA
    assert list(filled.point(3)) == [(3, "a"), (3, "b"), (3, "c")]
    assert list(filled.equal(3)) == [(3, "a"), (3, "b"), (3, "c")]
    assert list(filled.point(4)) == []
    for it in (filled.range(0, 1), filled.since(0), filled.until(0), filled.all(), filled.point(0), filled.equal(0)):
        assert isinstance(it, TimelogIter)
        it.close()


def test_range_reversed_raises(filled):
    with pytest.raises(ValueError):
        filled.range(5, 2)


def test_rows_are_tuples(filled):
    for row in filled:
        assert type(row) is tuple and len(row) == 2
        assert type(row[0]) is int


# ------------------------------------------------------------- TimelogIter


def test_len_of_iterator_decreases(filled):
    it = filled.all()
    assert len(it) == len(DATA)
    for consumed in range(1, len(DATA) + 1):
        next(it)
        assert len(it) == len(DATA) - consumed
    with pytest.raises(StopIteration):
        next(it)
    assert len(it) == 0


def test_len_of_iterator_is_tombstone_aware(log):
    log.extend([(i, i) for i in range(20)])
    log.flush()
    log.delete(5, 15)
    log.append(7, "new")
    it = log.all()
    assert len(it) == 11
    assert len(list(it)) == 11
    it = log.range(0, 10)
    assert len(it) == 6
    it.close()


def test_next_batch(filled):
    it = filled.all()
    batch = it.next_batch(3)
    assert batch == DATA[:3]
    assert isinstance(batch, list)
    assert len(it) == len(DATA) - 3
    assert it.next_batch(100) == DATA[3:]
    assert len(it) == 0
    assert it.next_batch(5) == []


def test_next_batch_in_every_size_across_pages_runs_and_late_records():
    # next_batch hands rows out in stretches of 16, loading the objects of
    # the stretch after each one first: every batch size, across flushed
    # pages, the memtable's run and its late records, yields the rows in
    # order, each once, with its own payload object.
    log = Timelog(maintenance="disabled")
    want = []
    for i in range(3000):
        ts = i - 500 if i % 7 == 3 and i >= 2000 else i  # late, in the memtable
        obj = object()
        log.append(ts, obj)
        want.append((ts, obj))
        if i == 999:
            log.flush()
    want.sort(key=lambda r: r[0])  # stable: insertion order among equal timestamps
    for n in (1, 15, 16, 17, 33, 1000, 4096):
        it, got = log.all(), []
        while batch := it.next_batch(n):
            assert len(batch) <= n
            got += batch
        assert [ts for ts, _ in got] == [ts for ts, _ in want], n
        assert all(a is b for (_, a), (_, b) in zip(got, want)), n
        assert log.head(n) == want[:n]
        assert log.tail(n) == want[-n:]


def test_next_batch_zero_and_negative(filled):
    it = filled.all()
    assert it.next_batch(0) == []
    assert len(it) == len(DATA)
    with pytest.raises(ValueError):
        it.next_batch(-1)
    it.close()


def test_next_batch_mixed_with_next(filled):
    it = filled.all()
    assert next(it) == DATA[0]
    assert it.next_batch(2) == DATA[1:3]
    assert list(it) == DATA[3:]


@pytest.mark.parametrize("view", [True, False], ids=["view", "no_view"])
def test_iterators_over_late_records_newer_than_a_merged_view(log, view):
    """A read through a late memtable's merged view (built by a long
    read) collects the late records newer than the view as it reads, not
    all at once (issue 10, gap 3); with no view (a fresh late memtable), a
    long or open-ended read collects every late record so, in either
    direction, building no view before its first row (R13 (5)): `len`,
    `next_batch`, `reversed` part-way and the rows all agree with the
    records in order, newest first too."""
    recs = []

    def put(ts):
        log.append(ts, len(recs))
        recs.append((ts, len(recs)))

    for t in range(3000):
        put(t - 1 - (t * 7) % 300 if t % 10 == 3 else t)
    if view:
        # A full read builds the view, in shares as it reads.
        assert len(list(log.all(reverse=True))) == 3000
    for t in range(3000, 4000):
        put(t - 1 - (t * 13) % 2500 if t % 3 == 0 else t)
    want = sorted(recs, key=lambda r: r[0])  # stable: insertion order
    for lo in (0, 1000, 2990):
        w = [r for r in want if r[0] >= lo]
        it = log.since(lo)
        assert next(it) == w[0]
        assert len(it) == len(w) - 1
        assert it.next_batch(40) == w[1:41]
        assert list(reversed(it)) == w[41:][::-1]
        assert list(it) == w[41:]
        assert len(it) == 0
        assert list(log.since(lo)) == w
        assert log.since(lo).next_batch(10**6) == w
        # Newest first: the first rows, part-way reversed, and the rest.
        it = reversed(log.since(lo))
        assert next(it) == w[-1]
        assert it.next_batch(40) == w[-41:-1][::-1]
        assert len(it) == len(w) - 41
        assert list(it) == w[:-41][::-1]
        assert list(log.range(lo, 3500, reverse=True)) == [r for r in w if r[0] < 3500][::-1]


def test_iterator_close(filled):
    it = filled.all()
    next(it)
    assert it.closed is False
    assert it.close() is None
    assert it.closed is True
    with pytest.raises(StopIteration):
        next(it)
    assert list(it) == []
    it.close()  # idempotent


def test_iterator_exhaustion_closes(filled):
    it = filled.all()
    list(it)
    assert it.closed is True


def test_iterator_context_manager(filled):
    with filled.all() as it:
        assert isinstance(it, TimelogIter)
        assert next(it) == DATA[0]
    assert it.closed is True


def test_iterator_is_its_own_iter(filled):
    it = filled.all()
    assert iter(it) is it
    it.close()


def test_iterator_view(log):
    log.extend([(i, i) for i in range(10)])
    log.flush()
    it = log.range(2, 6)
    view = it.view()
    assert isinstance(view, PageSpanIter)
    stamps = [t for span in view for t in span.copy_timestamps()]
    assert stamps == [2, 3, 4, 5]
    it.close()


def test_iterator_view_uses_iterator_snapshot(log):
    log.extend([(i, i) for i in range(10)])
    log.flush()
    it = log.all()
    log.extend([(i, i) for i in range(100, 110)])
    log.flush()
    with it.view() as view:
        stamps = [t for span in view for t in span.copy_timestamps()]
    assert stamps == list(range(10))
    it.close()


def test_iterator_repr_mentions_state(filled):
    it = filled.range(0, 5)
    assert "TimelogIter" in repr(it)
    it.close()
    assert "closed" in repr(it)


# ---------------------------------------------------------------- navigation


def test_navigation_empty(log):
    assert log.min_ts() is None
    assert log.max_ts() is None
    assert log.next_ts(0) is None
    assert log.prev_ts(0) is None


def test_navigation(filled):
    assert filled.min_ts() == -5
    assert filled.max_ts() == 10
    assert filled.next_ts(3) == 7
    assert filled.next_ts(2) == 3
    assert filled.next_ts(-100) == -5
    assert filled.next_ts(10) is None
    assert filled.prev_ts(3) == 0
    assert filled.prev_ts(4) == 3
    assert filled.prev_ts(100) == 10
    assert filled.prev_ts(-5) is None


def test_navigation_at_int64_extremes(log):
    log.append(INT64_MIN, "a")
    log.append(INT64_MAX, "b")
    assert log.next_ts(INT64_MAX) is None
    assert log.prev_ts(INT64_MIN) is None
    assert log.next_ts(INT64_MIN) == INT64_MAX
    assert log.prev_ts(INT64_MAX) == INT64_MIN


@pytest.mark.parametrize("flush", [False, True])
def test_navigation_tombstone_aware(filled, flush):
    if flush:
        filled.flush()
    del filled[-5]
    filled.delete(3)
    filled.delete(10)
    assert filled.min_ts() == 0
    assert filled.max_ts() == 7
    assert filled.next_ts(0) == 7
    assert filled.prev_ts(7) == 0
    assert filled.prev_ts(0) is None
    assert filled.next_ts(7) is None
    filled.delete_before(INT64_MAX)
    assert filled.min_ts() is None
    assert filled.max_ts() is None
    assert filled.next_ts(INT64_MIN) is None
    assert filled.prev_ts(INT64_MAX) is None


def test_len_and_contains(filled):
    assert len(filled) == len(DATA)
    assert 3 in filled
    assert -5 in filled
    assert 4 not in filled
    del filled[3]
    assert len(filled) == len(DATA) - 3
    assert 3 not in filled
    filled.flush()
    filled[3] = "again"
    assert 3 in filled
    assert len(filled) == len(DATA) - 2


def test_contains_does_not_iterate_records(log):
    class Boom:
        def __eq__(self, other):  # pragma: no cover - must not be called
            raise AssertionError("__contains__ must not compare payloads")

        __hash__ = object.__hash__

    log.append(5, Boom())
    assert 5 in log
    assert 6 not in log


# ------------------------------------------------------------------ exports


def test_to_dict(filled):
    assert filled.to_dict() == {-5: "m5", 0: "z", 3: "c", 7: "s", 10: "t"}
    assert filled.to_dict(0, 7) == {0: "z", 3: "c"}
    assert filled.to_dict(3) == {3: "c", 7: "s", 10: "t"}
    assert filled.to_dict(None, 3) == {-5: "m5", 0: "z"}
    assert filled.to_dict(7, 0) == {}


def test_to_dict_tombstone_aware(filled):
    filled.delete(3)
    assert 3 not in filled.to_dict()


def test_to_numpy_default_dtype(log):
    log.extend([(1, 1.5), (2, 2), (3, True), (4, np.float32(0.25))])
    ts, values = log.to_numpy()
    assert ts.dtype == np.int64
    assert values.dtype == np.float64
    assert ts.tolist() == [1, 2, 3, 4]
    assert values.tolist() == [1.5, 2.0, 1.0, 0.25]
    assert ts.flags.c_contiguous and values.flags.c_contiguous


def test_to_numpy_bounds_and_empty(log):
    log.extend([(i, i * 10) for i in range(10)])
    ts, values = log.to_numpy(2, 5)
    assert ts.tolist() == [2, 3, 4]
    assert values.tolist() == [20.0, 30.0, 40.0]
    ts, values = log.to_numpy(5, 2)
    assert ts.shape == (0,) and values.shape == (0,)
    assert ts.dtype == np.int64 and values.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.uint16, "f8", "i8"])
def test_to_numpy_numeric_dtypes(log, dtype):
    log.extend([(1, 1), (2, 2), (2, 3)])
    ts, values = log.to_numpy(dtype=dtype)
    assert values.dtype == np.dtype(dtype)
    assert ts.dtype == np.int64
    assert values.tolist() == [1, 2, 3]


def test_to_numpy_big_ints_exact_with_int64(log):
    big = 2**62 + 1
    log.append(1, big)
    _, values = log.to_numpy(dtype=np.int64)
    assert int(values[0]) == big


@pytest.mark.parametrize("dtype", [object, str, "U3", np.bool_, "M8[ms]", np.complex128])
def test_to_numpy_non_numeric_dtype(log, dtype):
    log.append(1, 1.0)
    with pytest.raises(TypeError):
        log.to_numpy(dtype=dtype)


def test_to_numpy_unconvertible_value_names_row(log):
    log.extend([(1, 1.0), (2, 2.0), (3, "not a number"), (4, 4.0)])
    with pytest.raises((ValueError, TypeError)) as excinfo:
        log.to_numpy()
    notes = getattr(excinfo.value, "__notes__", [])
    assert any("row 2" in note for note in notes), notes
    # The export released its reader pin.
    log.close()


def test_to_numpy_row_note_for_object_payload(log):
    log.append(1, object())
    with pytest.raises(TypeError) as excinfo:
        log.to_numpy()
    assert any("row 0" in note for note in getattr(excinfo.value, "__notes__", []))


def test_package_imports_numpy_lazily():
    code = textwrap.dedent(
        """
        import sys
        import timelog
        assert "numpy" not in sys.modules, "numpy imported eagerly"
        log = timelog.Timelog(maintenance="disabled")
        log.extend([(1, "a"), (2, "b")])
        assert log.to_dict() == {1: "a", 2: "b"}
        assert "numpy" not in sys.modules, "numpy imported by to_dict"
        log.close()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_package_works_without_numpy():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["numpy"] = None  # makes "import numpy" raise ImportError
        import timelog
        log = timelog.Timelog(maintenance="disabled")
        log[1] = "a"
        log.extend([(2, "b")])
        assert list(log) == [(1, "a"), (2, "b")]
        assert log.to_dict() == {1: "a", 2: "b"}
        try:
            log.to_numpy()
        except ImportError:
            pass
        else:
            raise AssertionError("to_numpy without numpy should raise ImportError")
        log.flush()
        with log.views() as spans:
            for span in spans:
                assert span.copy_timestamps() == [1, 2]
                span.close()
        log.close()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ------------------------------------------------------- snapshot isolation


def test_snapshot_isolation_against_writes_deletes_flush_compact(log, compact_fully):
    log.extend([(i, i) for i in range(20)])
    before = list(log)
    it_all = log.all()
    it_range = log.range(5, 15)
    it_partial = log.all()
    assert next(it_partial) == (0, 0)

    log.extend([(i, f"new{i}") for i in range(10, 30)])
    log.delete(0, 10)
    log.flush()
    log.delete_before(18)
    compact_fully(log)
    log.append(5, "late")

    assert len(it_all) == 20
    assert list(it_all) == before
    assert list(it_range) == [(i, i) for i in range(5, 15)]
    assert list(it_partial) == before[1:]
    expected_now = [(5, "late"), (18, 18), (18, "new18"), (19, 19), (19, "new19")]
    expected_now += [(i, f"new{i}") for i in range(20, 30)]
    assert sorted(log, key=lambda r: (r[0], str(r[1]))) == sorted(
        expected_now, key=lambda r: (r[0], str(r[1]))
    )


def test_snapshot_isolation_point_and_navigation_iterators(log):
    log.extend([(1, "a"), (1, "b"), (2, "c")])
    pt = log.point(1)
    log.append(1, "later")
    log.delete(1)
    assert list(pt) == [(1, "a"), (1, "b")]
    assert log[1] == []


def test_snapshot_sees_everything_committed_before(log):
    log.append(1, "a")
    log.flush()
    log.append(2, "b")  # still in the memtable
    log.delete(1)
    log.append(1, "c")
    it = log.all()
    log.append(3, "d")
    assert list(it) == [(1, "c"), (2, "b")]


# ---------------------------------------------------- equal-timestamp order


def test_equal_timestamps_insertion_order_in_memtable(log):
    for obj in ["a", "b", "c"]:
        log.append(5, obj)
    log.append(1, "x")
    log.append(5, "d")
    assert log[5] == ["a", "b", "c", "d"]


def test_equal_timestamps_insertion_order_out_of_order_batch(log):
    log.extend([(2, "a"), (1, "b"), (2, "c"), (1, "d"), (2, "e")], mostly_ordered=False)
    log.bulk_append(np.array([2, 1], dtype=np.int64), ["f", "g"])
    assert list(log) == [(1, "b"), (1, "d"), (1, "g"), (2, "a"), (2, "c"), (2, "e"), (2, "f")]


def test_equal_timestamps_insertion_order_across_flushes(log):
    log.append(1, "a")
    log.flush()
    log.append(1, "b")
    log.flush()
    log.append(1, "c")
    assert log[1] == ["a", "b", "c"]
    assert list(log) == [(1, "a"), (1, "b"), (1, "c")]


def test_equal_timestamps_insertion_order_after_compaction(log, compact_fully):
    # L1 (compacted) record, then a newer memtable record at the same ts.
    log.append(1, "old")
    log.flush()
    log.append(3, "other")
    compact_fully(log)
    log.append(1, "new")
    assert log[1] == ["old", "new"]
    assert list(log) == [(1, "old"), (1, "new"), (3, "other")]
    assert list(log.point(1)) == [(1, "old"), (1, "new")]


def test_equal_timestamps_insertion_order_many_layers(make_log, compact_fully):
    log = make_log(maintenance="disabled", memtable_max_bytes=256, busy_policy="silent")
    expected = []
    for i in range(200):
        ts = i % 7
        log.append(ts, i)
        expected.append((ts, i))
        if i % 37 == 0:
            log.flush()
        if i % 91 == 0:
            compact_fully(log)
    expected.sort(key=lambda r: r[0])  # stable: keeps insertion order among equals
    assert list(log) == expected
    compact_fully(log)
    assert list(log) == expected


# ------------------------------------------------------ concurrent readers


def test_concurrent_readers(log):
    log.extend([(i % 500, i) for i in range(5000)])
    log.flush()
    log.extend([(i % 500, i) for i in range(5000, 6000)])
    expected = list(log)
    errors = []
    barrier = threading.Barrier(4)

    def reader():
        try:
            barrier.wait()
            for _ in range(5):
                assert list(log) == expected
                assert len(log) == 6000
                assert log[7] == [o for t, o in expected if t == 7]
                assert log.next_ts(7) == 8
                assert log.prev_ts(7) == 6
                assert 499 in log
                with log.range(100, 200) as it:
                    assert len(it) == 1200
                    assert sum(1 for _ in it) == 1200
                with log.views() as spans:
                    assert sum(len(s) for s in spans) == 5000
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_readers_concurrent_with_single_writer_see_consistent_prefixes(log):
    n = 5000
    errors = []
    done = threading.Event()

    def reader():
        try:
            while not done.is_set():
                rows = [ts for ts, _ in log.all()]
                # Writer appends 0, 1, 2, ... in order: any snapshot is a prefix.
                assert rows == list(range(len(rows)))
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(n):
            log.append(i, i)
            if i % 1000 == 999:
                log.flush()
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert len(log) == n


def test_closed_log_reads_raise(log):
    log.close()
    with pytest.raises(TimelogError):
        list(log)


def test_iter_type(filled):
    assert isinstance(filled, Timelog)
