"""Write path: append forms, extend, bulk_append, deletes, tombstone semantics."""

from __future__ import annotations

import array
import time
import warnings

import numpy as np
import pytest

from timelog import TimelogBusyError, TimelogError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


# ------------------------------------------------------------------- append


def test_append_forms(log):
    assert log.append(5, "a") is None
    assert log.append("b", ts=6) is None
    log[7] = "c"
    assert list(log) == [(5, "a"), (6, "b"), (7, "c")]


def test_append_int_payload_with_ts_keyword(log):
    # With ts= given, the single positional argument is the object.
    log.append(5, ts=7)
    assert list(log) == [(7, 5)]


def test_append_arbitrary_objects_by_reference(log):
    payload = {"k": [1, 2]}
    log.append(1, payload)
    log.append(2, None)
    (ts, got), (_, none) = list(log)
    assert got is payload
    assert none is None


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_append_auto_timestamp_is_now_in_unit(make_log, unit):
    log = make_log(time_unit=unit, maintenance="disabled")
    before = time.time_ns()
    log.append("auto")
    after = time.time_ns()
    [(ts, obj)] = list(log)
    assert obj == "auto"
    assert type(ts) is int
    div = UNIT_NS[unit]
    tolerance = 500_000_000 // div  # half a second, expressed in the unit
    assert before // div - tolerance <= ts <= after // div + tolerance, (before, ts, after)


def test_append_auto_timestamp_monotone_enough(log):
    for i in range(50):
        log.append(i)
    rows = list(log)
    assert [obj for _, obj in rows] == list(range(50))
    assert rows[-1][0] - rows[0][0] < 5_000  # well within 5 s of each other


def test_append_wrong_arity(log):
    with pytest.raises(TypeError):
        log.append()
    with pytest.raises(TypeError):
        log.append(1, 2, 3)
    assert len(log) == 0


def test_setitem_duplicates_append(log):
    log[1] = "a"
    log[1] = "b"
    assert log[1] == ["a", "b"]


# ------------------------------------------------------------------- extend


def test_extend_pairs(log):
    assert log.extend([(3, "c"), (1, "a"), (2, "b")]) is None
    assert list(log) == [(1, "a"), (2, "b"), (3, "c")]


def test_extend_parallel_sequences(log):
    log.extend([3, 1, 2], ["c", "a", "b"])
    assert list(log) == [(1, "a"), (2, "b"), (3, "c")]
    log.extend((10, 11), ("x", "y"))
    assert list(log[10:]) == [(10, "x"), (11, "y")]


def test_extend_generator_and_iterator(log):
    log.extend((i, str(i)) for i in range(5))
    log.extend(iter([(10, "ten")]))
    assert [ts for ts, _ in log] == [0, 1, 2, 3, 4, 10]


def test_extend_empty(log):
    log.extend([])
    log.extend([], [])
    log.extend([], insert_on_error=False)
    assert len(log) == 0


@pytest.mark.parametrize("insert_on_error", [True, False])
def test_extend_parallel_length_mismatch(log, insert_on_error):
    with pytest.raises(ValueError):
        log.extend([1, 2, 3], ["a", "b"], insert_on_error=insert_on_error)
    with pytest.raises(ValueError):
        log.extend([1], ["a", "b"], insert_on_error=insert_on_error)
    assert len(log) == 0


@pytest.mark.parametrize("insert_on_error", [True, False])
@pytest.mark.parametrize(
    "bad_item", [5, (1, 2, 3), (1,), "ab c"], ids=["int", "triple", "single", "str"]
)
def test_extend_non_pair_item(log, insert_on_error, bad_item):
    with pytest.raises(ValueError, match=r"extend\(\) expects \(ts, obj\) pairs"):
        log.extend([bad_item], insert_on_error=insert_on_error)


def test_extend_non_iterable(log):
    with pytest.raises(TypeError):
        log.extend(5)


@pytest.mark.parametrize("mostly_ordered", [None, True, False])
def test_extend_mostly_ordered_is_only_a_hint(log, mostly_ordered):
    items = [(t, t) for t in [5, 3, 9, 1, 1, 7, 0, 8]]
    log.extend(items, mostly_ordered=mostly_ordered)
    log.extend([t for t, _ in items], [o for _, o in items], mostly_ordered=mostly_ordered)
    assert [ts for ts, _ in log] == sorted([t for t, _ in items] * 2)


def test_extend_insert_on_error_true_skips_and_warns(log):
    items = [(1, "a"), (1.5, "bad-float"), (True, "bad-bool"), (2**64, "bad-overflow"), (2, "b")]
    with pytest.warns(RuntimeWarning, match=r"\b3\b"):
        log.extend(items)
    assert list(log) == [(1, "a"), (2, "b")]
    assert log.extend_skipped == 3
    assert log.stats()["operational"]["extend_skipped"] == 3


def test_extend_insert_on_error_warns_once_per_call(log):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log.extend([(1.5, "x"), (2.5, "y"), (None, "z"), (3, "ok")])
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == 1
    assert "3" in str(runtime[0].message)
    assert log.extend_skipped == 3
    assert list(log) == [(3, "ok")]


def test_extend_skipped_accumulates_across_calls(log):
    with pytest.warns(RuntimeWarning, match=r"\b1\b"):
        log.extend([(1.5, "x"), (1, "a")])
    with pytest.warns(RuntimeWarning, match=r"\b2\b"):
        log.extend([2.5, 3.5, 4], ["x", "y", "b"])
    assert log.extend_skipped == 3
    assert log.stats()["operational"]["extend_skipped"] == 3
    assert list(log) == [(1, "a"), (4, "b")]


def test_extend_no_warning_when_nothing_skipped(log):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log.extend([(1, "a")])
    assert log.extend_skipped == 0


def test_extend_insert_on_error_false_all_or_nothing(log):
    log[0] = "pre"
    with pytest.raises(TypeError):
        log.extend([(1, "a"), (2, "b"), (2.5, "bad")], insert_on_error=False)
    with pytest.raises(OverflowError):
        log.extend([(1, "a"), (2**63, "bad")], insert_on_error=False)
    with pytest.raises(TypeError):
        log.extend([1, True], ["a", "b"], insert_on_error=False)
    with pytest.raises(ValueError):
        log.extend([(1, "a"), (2, "b", "c")], insert_on_error=False)
    assert list(log) == [(0, "pre")]
    assert log.extend_skipped == 0


def test_extend_insert_on_error_false_refuses_generator(log):
    with pytest.raises(TypeError):
        log.extend(((i, i) for i in range(3)), insert_on_error=False)
    with pytest.raises(TypeError):
        log.extend((i for i in range(3)), ["a", "b", "c"], insert_on_error=False)
    assert len(log) == 0


def test_extend_insert_on_error_false_valid_batch(log):
    log.extend([(2, "b"), (1, "a")], insert_on_error=False)
    log.extend([4, 3], ["d", "c"], insert_on_error=False)
    assert list(log) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


# -------------------------------------------------------------- bulk_append


def test_bulk_append_numpy(log):
    ts = np.array([5, 1, 3, 1], dtype=np.int64)
    objs = ["e", "a", "c", "b"]
    assert log.bulk_append(ts, objs) is None
    assert list(log) == [(1, "a"), (1, "b"), (3, "c"), (5, "e")]


def test_bulk_append_array_q_and_tuple(log):
    log.bulk_append(array.array("q", [2, -1, 7]), ("two", "minus", "seven"))
    assert list(log) == [(-1, "minus"), (2, "two"), (7, "seven")]


def test_bulk_append_extremes(log):
    log.bulk_append(np.array([INT64_MAX, INT64_MIN], dtype=np.int64), ["max", "min"])
    assert list(log) == [(INT64_MIN, "min"), (INT64_MAX, "max")]


def test_bulk_append_empty(log):
    log.bulk_append(np.array([], dtype=np.int64), [])
    log.bulk_append(array.array("q"), ())
    assert len(log) == 0


@pytest.mark.parametrize("mostly_ordered", [None, True, False])
def test_bulk_append_mostly_ordered_hint(log, mostly_ordered):
    rng = np.random.default_rng(7)
    ts = rng.integers(-1000, 1000, size=500, dtype=np.int64)
    log.bulk_append(ts, list(range(500)), mostly_ordered=mostly_ordered)
    assert [t for t, _ in log] == sorted(ts.tolist())
    assert sorted(o for _, o in log) == list(range(500))


def test_bulk_append_list_of_ints_type_error(log):
    with pytest.raises(TypeError) as excinfo:
        log.bulk_append([1, 2], ["a", "b"])
    msg = str(excinfo.value)
    assert "int64" in msg, msg
    assert "array" in msg, msg  # explains how to build an int64 buffer
    assert len(log) == 0


@pytest.mark.parametrize(
    "buf",
    [
        np.array([1, 2], dtype=np.int32),
        np.array([1, 2], dtype=np.int16),
        array.array("i", [1, 2]),
        array.array("b", [1, 2]),
    ],
    ids=["np.int32", "np.int16", "array-i", "array-b"],
)
def test_bulk_append_wrong_itemsize(log, buf):
    with pytest.raises(ValueError, match="int64"):
        log.bulk_append(buf, ["a", "b"])
    assert len(log) == 0


def test_bulk_append_non_integer_8_byte_buffer(log):
    with pytest.raises(ValueError, match="int64"):
        log.bulk_append(np.array([1.0, 2.0], dtype=np.float64), ["a", "b"])
    assert len(log) == 0


def test_bulk_append_length_mismatch(log):
    with pytest.raises(ValueError) as excinfo:
        log.bulk_append(np.array([1, 2, 3], dtype=np.int64), ["a", "b"])
    msg = str(excinfo.value)
    assert "3" in msg and "2" in msg, msg
    assert len(log) == 0


def test_bulk_append_objects_must_be_list_or_tuple(log):
    with pytest.raises(TypeError):
        log.bulk_append(np.array([1, 2], dtype=np.int64), iter(["a", "b"]))
    assert len(log) == 0


def test_bulk_append_non_contiguous(log):
    with pytest.raises(ValueError):
        log.bulk_append(np.arange(6, dtype=np.int64)[::2], ["a", "b", "c"])
    assert len(log) == 0


def test_bulk_append_two_dimensional(log):
    with pytest.raises(ValueError):
        log.bulk_append(np.array([[1, 2]], dtype=np.int64), ["a", "b"])
    assert len(log) == 0


# A memtable of 64 records (24 bytes each) and pages of 64 (16 bytes each):
# a batch of 64 or more is a memtable's and a page's worth, published as one
# sorted run (docs/protocol.md, R14).
RUN_MT = {"memtable_max_bytes": 64 * 24, "target_page_bytes": 64 * 16}


def _run_layout(log):
    st = log.stats()
    return (
        st["storage"]["segments_l0"],
        st["memtable"]["sealed_runs"],
        st["memtable"]["active_records"],
        st["operational"]["seals_total"],
        st["operational"]["flushes_total"],
    )


@pytest.mark.parametrize("maintenance", ["disabled", "background"])
@pytest.mark.parametrize("how", ["bulk_append", "extend_pairs", "extend_parallel"])
def test_large_batch_is_one_run_without_seal_or_flush(make_log, maintenance, how):
    log = make_log(maintenance=maintenance, **RUN_MT)
    n = 1000
    objs = [object() for _ in range(n)]
    ts = np.arange(n, 0, -1, dtype=np.int64)  # descending: sorted once by the engine
    if how == "bulk_append":
        log.bulk_append(ts, objs)
    elif how == "extend_pairs":
        log.extend(list(zip(ts.tolist(), objs)))
    else:
        log.extend(ts.tolist(), objs)
    # One L0 segment, nothing sealed or flushed inside the call.
    assert _run_layout(log) == (1, 0, 0, 0, 0)
    got = list(log)
    assert [t for t, _ in got] == list(range(1, n + 1))
    assert all(o is objs[n - t] for t, o in got)
    log.flush()
    assert len(log) == n


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_bulk_append_run_takes_one_reference_per_record(make_log, order):
    # Ascending timestamps over a flushed log: the run is built straight
    # from the buffer and the list (Timelog::prepare_parts); descending:
    # sorted as pairs first. Either way one reference per record, kept
    # through flush and compaction, and released when the log goes.
    import sys

    log = make_log(maintenance="disabled", **RUN_MT)
    p = object()
    base = sys.getrefcount(p)
    n = 1000
    ts = np.arange(n, dtype=np.int64)
    if order == "descending":
        ts = ts[::-1].copy()
    objs = [p] * n
    log.bulk_append(ts, objs)
    del objs
    assert _run_layout(log) == (1, 0, 0, 0, 0)
    assert sys.getrefcount(p) == base + n
    assert [t for t, _ in log] == list(range(n)) and all(o is p for _, o in log)
    log.flush()
    log.compact()
    assert sys.getrefcount(p) == base + n
    log.close()
    del log
    assert sys.getrefcount(p) == base


def test_large_batch_is_invisible_to_earlier_snapshots_and_deletes(make_log):
    log = make_log(maintenance="disabled", **RUN_MT)
    log.append(50, "old")
    log.flush()
    log.delete(0, 100)  # before the batch: hides only "old"
    log.flush()  # the delete is in the manifest's list (the segment of "old" needs it)
    assert log.stats()["storage"]["tombstone_count"] == 1
    it = iter(log)  # a snapshot before the batch
    log.bulk_append(np.arange(200, dtype=np.int64), [f"r{i}" for i in range(200)])
    assert _run_layout(log)[0] == 1 + 1, "published as a run beside the flushed segment"
    assert list(it) == []
    assert len(log) == 200 and log[50] == ["r50"]
    log.delete(10, 20)  # after the batch: hides its records
    assert len(log) == 190 and log[15] == []
    log.append(15, "new")
    assert log[15] == ["new"]
    log.flush()
    log.compact()
    assert len(log) == 191
    assert [t for t, _ in log] == sorted([t for t in range(200) if not 10 <= t < 20] + [15])


def test_large_batch_after_small_writes_takes_the_memtable_path(make_log):
    log = make_log(maintenance="disabled", **RUN_MT)
    log.append(-1, "first")
    log.bulk_append(np.arange(500, dtype=np.int64), list(range(500)))
    assert _run_layout(log)[0] == 0  # no run: the active memtable held a record
    assert len(log) == 501
    assert list(log)[:3] == [(-1, "first"), (0, 0), (1, 1)]


def test_large_batch_payloads_released_on_close(make_log):
    import sys

    log = make_log(maintenance="disabled", **RUN_MT)
    payload = object()
    base = sys.getrefcount(payload)
    log.bulk_append(np.arange(300, dtype=np.int64), [payload] * 300)
    assert sys.getrefcount(payload) == base + 300  # one reference per record, no copy
    log.close()
    assert sys.getrefcount(payload) == base


def test_bulk_append_keeps_numpy_buffer_independent(log):
    ts = np.array([1, 2, 3], dtype=np.int64)
    log.bulk_append(ts, ["a", "b", "c"])
    ts[:] = 100  # mutating the caller's buffer afterwards changes nothing
    assert [t for t, _ in log] == [1, 2, 3]


# ------------------------------------------------------------------ deletes


@pytest.fixture
def ten(log):
    log.extend([(i, f"v{i}") for i in range(10)])
    return log


def _ts(log):
    return [ts for ts, _ in log]


def test_delete_point(ten):
    assert ten.delete(3) is None
    assert _ts(ten) == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_delete_point_removes_all_duplicates(log):
    log.extend([(1, "a"), (1, "b"), (2, "c")])
    log.delete(1)
    assert list(log) == [(2, "c")]


def test_delete_two_args_half_open(ten):
    ten.delete(2, 5)
    assert _ts(ten) == [0, 1, 5, 6, 7, 8, 9]


def test_delete_range_half_open(ten):
    ten.delete_range(7, 9)
    assert _ts(ten) == [0, 1, 2, 3, 4, 5, 6, 9]


def test_delete_range_empty_is_noop(ten):
    ten.delete_range(4, 4)
    ten.delete(5, 5)
    assert _ts(ten) == list(range(10))


def test_delete_range_reversed_raises(ten):
    with pytest.raises(ValueError):
        ten.delete_range(5, 2)
    with pytest.raises(ValueError):
        ten.delete(5, 2)
    assert _ts(ten) == list(range(10))


def test_delete_before_and_cutoff(ten):
    ten.delete_before(3)
    assert _ts(ten) == list(range(3, 10))
    ten.cutoff(6)
    assert _ts(ten) == list(range(6, 10))


def test_delitem_point(ten):
    del ten[4]
    assert 4 not in ten
    assert _ts(ten) == [0, 1, 2, 3, 5, 6, 7, 8, 9]


def test_delitem_slices(ten):
    del ten[2:4]
    assert _ts(ten) == [0, 1, 4, 5, 6, 7, 8, 9]
    del ten[:1]
    assert _ts(ten) == [1, 4, 5, 6, 7, 8, 9]
    del ten[8:]
    assert _ts(ten) == [1, 4, 5, 6, 7]
    del ten[:]
    assert _ts(ten) == []


def test_delitem_slice_step(ten):
    with pytest.raises(ValueError):
        del ten[1:5:2]
    del ten[1:3:1]
    assert _ts(ten) == [0, 3, 4, 5, 6, 7, 8, 9]


def test_delete_negative_timestamps(log):
    log.extend([(-5, "a"), (-3, "b"), (0, "c")])
    del log[-5]
    log.delete(-4, -2)
    assert list(log) == [(0, "c")]


def test_delete_missing_is_noop(ten):
    ten.delete(100)
    del ten[-100]
    ten.delete_range(50, 60)
    assert len(ten) == 10


@pytest.mark.parametrize(
    "op",
    [lambda log: log.delete(INT64_MAX), lambda log: log.__delitem__(INT64_MAX)],
    ids=["delete", "del"],
)
def test_point_delete_at_int64_max_raises(log, op):
    log.append(INT64_MAX, "max")
    with pytest.raises(ValueError):
        op(log)
    assert list(log) == [(INT64_MAX, "max")]


def test_point_delete_at_int64_min(log):
    log.append(INT64_MIN, "min")
    log.append(0, "zero")
    log.delete(INT64_MIN)
    assert list(log) == [(0, "zero")]


def test_delete_returns_none(ten):
    assert ten.delete(1) is None
    assert ten.delete(1, 2) is None
    assert ten.delete_range(1, 2) is None
    assert ten.delete_before(1) is None
    assert ten.cutoff(1) is None


# ------------------------------------------------------ sequenced tombstones


def test_sequenced_tombstone_readme_example(log):
    log[10] = "A"
    del log[5:15]
    log[10] = "B"
    assert log[10] == ["B"]
    assert list(log[0:20]) == [(10, "B")]
    assert len(log) == 1


@pytest.mark.parametrize("flush_points", [(), (0,), (1,), (2,), (0, 1, 2)])
def test_sequenced_tombstone_across_flushes(log, compact_fully, flush_points):
    steps = [
        lambda: log.__setitem__(10, "A"),
        lambda: log.__delitem__(slice(5, 15)),
        lambda: log.__setitem__(10, "B"),
    ]
    for i, step in enumerate(steps):
        step()
        if i in flush_points:
            log.flush()
    assert list(log) == [(10, "B")]
    compact_fully(log)
    assert list(log) == [(10, "B")]


def test_delete_hides_only_existing_records(log):
    log.extend([(1, "a"), (2, "b")])
    log.delete_before(10)
    log.extend([(1, "c"), (2, "d")])
    log.delete(2)
    log.append(2, "e")
    assert list(log) == [(1, "c"), (2, "e")]


def test_out_of_order_insert_after_delete_is_visible(log):
    log.extend([(i, i) for i in range(100, 110)])
    log.delete_range(0, 200)
    log.append(50, "late")
    assert list(log) == [(50, "late")]


def test_closed_write_raises_timelog_error(log):
    log.close()
    with pytest.raises(TimelogError):
        log.append(1, 1)


# --------------------------------------- argument handling of the fast entry points
# `append`, `next_ts`, `prev_ts`, `delete_before` and `cutoff` are hand-written
# METH_FASTCALL methods (py/src/fast.rs): their argument errors are checked here.


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((), {}, r"append\(\) takes 1 or 2 positional"),
        ((1, 2, 3), {}, r"append\(\) takes 1 or 2 positional"),
        ((1, 2), {"ts": 3}, "not both"),
        (("x",), {"when": 3}, "unexpected keyword argument 'when'"),
        ((), {"ts": 3}, r"append\(\) takes 1 or 2 positional"),
    ],
)
def test_append_argument_errors(log, args, kwargs, match):
    with pytest.raises(TypeError, match=match):
        log.append(*args, **kwargs)
    assert len(log) == 0, "a refused call writes nothing"


def test_append_ts_none_means_now(log):
    before = time.time_ns() // UNIT_NS[log.time_unit]
    log.append("x", ts=None)
    (ts, obj), = list(log)
    assert obj == "x" and before <= ts <= time.time_ns() // UNIT_NS[log.time_unit] + 1


def test_append_payload_reference_is_kept_and_released(log):
    import sys

    payload = object()
    before = sys.getrefcount(payload)
    log.append(1, payload)
    log.append(payload, ts=2)
    assert sys.getrefcount(payload) == before + 2
    log.delete_range(0, 10)
    log.flush()
    log.compact()
    assert sys.getrefcount(payload) == before


@pytest.mark.parametrize("name", ["next_ts", "prev_ts", "delete_before", "cutoff"])
def test_ts_methods_accept_positional_or_keyword(make_log, name):
    a, b = (make_log(maintenance="disabled") for _ in range(2))
    for lg in (a, b):
        lg.extend([(t, t) for t in range(0, 10, 2)])
    assert getattr(a, name)(5) == getattr(b, name)(ts=5)
    assert list(a) == list(b)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((), {}, "takes exactly 1 positional"),
        ((1, 2), {}, "takes exactly 1 positional"),
        ((1,), {"ts": 2}, "multiple values for argument 'ts'"),
        ((), {"t": 2}, "unexpected keyword argument 't'"),
        (("1",), {}, "timestamp must be an int"),
        ((1.5,), {}, "got float"),
    ],
)
@pytest.mark.parametrize("name", ["next_ts", "prev_ts", "delete_before", "cutoff"])
def test_ts_method_argument_errors(log, name, args, kwargs, match):
    log.append(1, "a")
    with pytest.raises(TypeError, match=match):
        getattr(log, name)(*args, **kwargs)
    assert list(log) == [(1, "a")]


def test_fast_methods_have_signatures():
    import inspect

    from timelog import Timelog

    assert list(inspect.signature(Timelog.next_ts).parameters) == ["self", "ts"]
    assert "ts" in inspect.signature(Timelog.append).parameters
    assert Timelog.append.__doc__ and Timelog.delete_before.__doc__


def test_fast_methods_reject_a_foreign_receiver():
    from timelog import Timelog

    with pytest.raises(TypeError):
        Timelog.append(object(), 1, 2)
    with pytest.raises(TypeError):
        Timelog.next_ts("not a log", 1)


# ------------------------------------------------ issue 11: smaller defects


class _Raises:
    def __init__(self, exc):
        self.exc = exc

    def __index__(self):
        raise self.exc


@pytest.mark.parametrize("exc", [KeyboardInterrupt, MemoryError, ValueError("bad index"), SystemExit])
@pytest.mark.parametrize("form", ["pairs", "parallel"])
def test_extend_insert_on_error_propagates_what_is_not_a_bad_timestamp(log, exc, form):
    # Only TypeError/OverflowError (what the C package skips) count as a
    # skipped item; anything else propagates and nothing is written.
    exc_type = exc if isinstance(exc, type) else type(exc)
    with pytest.raises(exc_type):
        if form == "pairs":
            log.extend([(1, "a"), (_Raises(exc), "b"), (3, "c")], insert_on_error=True)
        else:
            log.extend([1, _Raises(exc), 3], ["a", "b", "c"], insert_on_error=True)
    assert len(log) == 0
    assert log.extend_skipped == 0


def test_extend_insert_on_error_skips_type_and_overflow_errors(log):
    with pytest.warns(RuntimeWarning, match="skipped 2"):
        log.extend([(1, "a"), (1.5, "b"), (2**64, "c"), (3, "d")])
    assert list(log) == [(1, "a"), (3, "d")]


def test_extend_parallel_objects_shrinking_during_the_call_is_an_error(log):
    objs = ["a", "b", "c", "d"]

    class Shrinks:
        def __index__(self):
            objs.pop()
            return 7

    with pytest.raises(ValueError, match="changed size during the call"):
        log.extend([1, Shrinks(), 3, 4], objs)
    assert len(log) == 0


def test_extend_parallel_unsized_iterables_of_different_lengths(log):
    with pytest.raises(ValueError, match="timestamps ended after 2 items but objects has more"):
        log.extend(iter([1, 2]), iter("abc"))
    log.extend(iter([1, 2]), iter("ab"))
    assert list(log) == [(1, "a"), (2, "b")]


def test_extend_skip_warning_comes_before_the_commit(log):
    # Under warnings-as-errors the call raises and writes nothing, so the
    # caller never sees an exception for a write that happened.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning):
            log.extend([(1, "a"), (1.5, "b")])
    assert len(log) == 0
    assert log.extend_skipped == 0
    with pytest.warns(RuntimeWarning):
        log.extend([(1, "a"), (1.5, "b")])
    assert list(log) == [(1, "a")]
    assert log.extend_skipped == 1


# ------------------------------------------- mostly_ordered: a documented no-op


def _layout(log):
    s = log.stats()
    return list(log), s["memtable"], s["storage"], s["operational"]["seals_total"]


@pytest.mark.parametrize("default", [True, False])
def test_mostly_ordered_is_a_no_op_for_extend_and_bulk_append(make_log, default):
    # docs/python-api.md: every batch is sorted stably by the engine, so the
    # hint (and mostly_ordered_default) changes neither the records, their
    # order, nor where they are stored. Same writes under every hint value.
    ts = [5, 3, 9, 3, 1, 7, 2, 8, 8, 0] * 50
    layouts = []
    for hint in (None, True, False):
        log = make_log(maintenance="disabled", memtable_max_bytes=4096, mostly_ordered_default=default)
        log.extend([(t, i) for i, t in enumerate(ts)], mostly_ordered=hint)
        log.extend(ts[:7], list("abcdefg"), mostly_ordered=hint)
        log.bulk_append(np.array(ts[:20], dtype=np.int64), list(range(20)), mostly_ordered=hint)
        layouts.append(_layout(log))
        log.flush()
        layouts.append(_layout(log))
    assert layouts[0::2] == [layouts[0]] * 3 and layouts[1::2] == [layouts[1]] * 3
    assert layouts[0][0][:3] == [(0, 9), (0, 19), (0, 29)]


def test_mostly_ordered_must_be_a_bool_or_none(log):
    with pytest.raises(TypeError):
        log.extend([(1, "a")], mostly_ordered=1)
    with pytest.raises(TypeError):
        log.bulk_append(np.array([1], dtype=np.int64), ["a"], mostly_ordered="yes")
    assert len(log) == 0


# ------------------------------------------------- alloc_failures: a real count


_ALLOC_SCRIPT = """
import sys
from timelog import Timelog

class Huge:
    # A sequence that claims 2**58 items (2**62 bytes of batch: no
    # allocator gives that) and yields two.
    def __len__(self):
        return 2**58
    def __iter__(self):
        return iter([(1, "a"), (2, "b")])

log = Timelog(maintenance="disabled")
assert log.alloc_failures == 0
for args in ((Huge(),), (Huge(), Huge())):
    try:
        log.extend(*args)
    except MemoryError as e:
        assert "smaller pieces" in str(e), e
    else:
        sys.exit("no MemoryError")
assert log.alloc_failures == 2, log.alloc_failures
assert log.stats()["operational"]["alloc_failures"] == 2
assert len(log) == 0
log.extend([(1, "a")])
assert list(log) == [(1, "a")]
log.close()
print("ok")
"""


def test_a_batch_allocation_failure_raises_memory_error_and_is_counted():
    # It used to abort the interpreter (Vec::reserve on the caller's
    # __len__); run in a child so a regression cannot take pytest down.
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", _ALLOC_SCRIPT], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", (p.returncode, p.stdout, p.stderr[-2000:])


# ------------------------------------------ the deletes' untrampolined fast path
# `delete_before`, `cutoff` and `delete_range` with positional exact ints skip
# pyo3's trampoline (py/src/fast.rs `delete_before_entry`, `delete_range_entry`);
# errors raised from there must be the same as from the general path.


@pytest.mark.parametrize(
    "call",
    [
        lambda lg: lg.delete_before(5),
        lambda lg: lg.cutoff(5),
        lambda lg: lg.delete_range(1, 5),
    ],
)
def test_fast_deletes_on_a_closed_log_raise(log, call):
    log.close()
    with pytest.raises(TimelogError):
        call(log)


def test_fast_delete_range_reversed_raises_value_error(log):
    log.extend([(t, t) for t in range(10)])
    with pytest.raises(ValueError):
        log.delete_range(5, 2)
    assert len(log) == 10


def test_fast_deletes_report_busy_and_commit(make_log):
    lg = make_log(maintenance="disabled", busy_policy="raise", memtable_max_bytes=64, sealed_max_runs=1)
    busy = 0
    for t in range(1, 50):
        try:
            lg.delete_before(t)
        except TimelogBusyError:
            busy += 1
    assert busy > 0, "sealed memtables piled up: the deletes reported busy"
    with pytest.raises(TimelogBusyError):
        lg.delete_range(0, 1)
    lg.flush()
    lg.append(0, "old")
    with pytest.raises(TimelogBusyError):
        lg.delete_range(0, 1)  # committed: it hides the record written before it
    assert list(lg) == []


class _Int(int):
    pass


@pytest.mark.parametrize(
    "call, want",
    [
        (lambda lg: lg.delete_before(_Int(5)), list(range(5, 10))),
        (lambda lg: lg.cutoff(_Int(5)), list(range(5, 10))),
        (lambda lg: lg.delete_range(_Int(2), 4), [0, 1] + list(range(4, 10))),
        (lambda lg: lg.delete_range(2, _Int(4)), [0, 1] + list(range(4, 10))),
        (lambda lg: lg.delete_range(-(2**63), 2**63 - 1), []),
    ],
)
def test_fast_deletes_accept_what_the_general_path_accepts(log, call, want):
    log.extend([(t, t) for t in range(10)])
    call(log)
    assert [t for t, _ in log] == want


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda lg: lg.delete_before(2**63), OverflowError),
        (lambda lg: lg.delete_range(0, 2**70), OverflowError),
        (lambda lg: lg.delete_range(-(2**64), 0), OverflowError),
        (lambda lg: lg.delete_before(True), TypeError),
        (lambda lg: lg.delete_range(0, False), TypeError),
        (lambda lg: lg.delete_range(0), TypeError),
        (lambda lg: lg.delete_range(0, 1, 2), TypeError),
    ],
)
def test_fast_deletes_leave_other_arguments_to_the_general_path(log, call, exc):
    log.extend([(t, t) for t in range(10)])
    with pytest.raises(exc):
        call(log)
    assert len(log) == 10, "a refused call deletes nothing"
