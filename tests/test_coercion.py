"""Timestamp coercion: every API that takes a timestamp follows the same rules.

- anything with ``__index__`` is accepted (int, numpy integers, custom);
- ``bool`` -> TypeError mentioning bool;
- ``float`` -> TypeError naming the float and suggesting int(x) / a finer
  time_unit;
- ``datetime`` -> TypeError explaining timestamps are integers in the
  time unit;
- outside int64 -> OverflowError naming the int64 range.
"""

from __future__ import annotations

import datetime
import re

import numpy as np
import pytest

from timelog import Timelog

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class Idx:
    """An object that is not an int but implements ``__index__``."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


class IntSub(int):
    """An ``int`` subclass (as ``IntEnum`` members are): taken by its value."""


def _setitem(log, ts):
    log[ts] = "x"


def _delitem_point(log, ts):
    del log[ts]


def _delitem_start(log, ts):
    del log[ts:100]


def _delitem_stop(log, ts):
    del log[-100:ts]


def _consume(it):
    out = list(it)
    return out


# name -> callable(log, ts). Each call uses ``ts`` in a timestamp position.
APIS = {
    "append(ts, obj)": lambda log, ts: log.append(ts, "x"),
    "append(obj, ts=)": lambda log, ts: log.append("x", ts=ts),
    "log[ts] = obj": _setitem,
    "extend(pairs, insert_on_error=False)": lambda log, ts: log.extend(
        [(ts, "x")], insert_on_error=False
    ),
    "extend(ts, objs, insert_on_error=False)": lambda log, ts: log.extend(
        [ts], ["x"], insert_on_error=False
    ),
    "log[ts]": lambda log, ts: log[ts],
    "at(ts)": lambda log, ts: log.at(ts),
    "log[ts:]": lambda log, ts: _consume(log[ts:]),
    "log[:ts]": lambda log, ts: _consume(log[:ts]),
    "log[ts:100]": lambda log, ts: _consume(log[ts:100]),
    "log[-100:ts]": lambda log, ts: _consume(log[-100:ts]),
    "range(ts, t2)": lambda log, ts: _consume(log.range(ts, INT64_MAX)),
    "range(t1, ts)": lambda log, ts: _consume(log.range(INT64_MIN, ts)),
    "since(ts)": lambda log, ts: _consume(log.since(ts)),
    "until(ts)": lambda log, ts: _consume(log.until(ts)),
    "point(ts)": lambda log, ts: _consume(log.point(ts)),
    "equal(ts)": lambda log, ts: _consume(log.equal(ts)),
    "ts in log": lambda log, ts: ts in log,
    "next_ts(ts)": lambda log, ts: log.next_ts(ts),
    "prev_ts(ts)": lambda log, ts: log.prev_ts(ts),
    "delete(ts)": lambda log, ts: log.delete(ts) if ts != INT64_MAX else None,
    "delete(ts, t2)": lambda log, ts: log.delete(ts, INT64_MAX),
    "delete(t1, ts)": lambda log, ts: log.delete(INT64_MIN, ts),
    "delete_range(ts, t2)": lambda log, ts: log.delete_range(ts, INT64_MAX),
    "delete_range(t1, ts)": lambda log, ts: log.delete_range(INT64_MIN, ts),
    "delete_before(ts)": lambda log, ts: log.delete_before(ts),
    "cutoff(ts)": lambda log, ts: log.cutoff(ts),
    "del log[ts]": lambda log, ts: _delitem_point(log, ts) if ts != INT64_MAX else None,
    "del log[ts:100]": _delitem_start,
    "del log[-100:ts]": _delitem_stop,
    "views(ts, t2)": lambda log, ts: _consume(log.views(ts, INT64_MAX)),
    "views(t1, ts)": lambda log, ts: _consume(log.views(INT64_MIN, ts)),
    "page_spans(ts, t2)": lambda log, ts: _consume(log.page_spans(ts, INT64_MAX)),
    "page_spans(t1, ts)": lambda log, ts: _consume(log.page_spans(INT64_MIN, ts)),
    "to_dict(ts)": lambda log, ts: log.to_dict(ts),
    "to_dict(None, ts)": lambda log, ts: log.to_dict(None, ts),
    "to_numpy(ts)": lambda log, ts: log.to_numpy(ts),
    "to_numpy(None, ts)": lambda log, ts: log.to_numpy(None, ts),
}

API_IDS = list(APIS)


@pytest.fixture
def seeded(log):
    log.extend([(i, i) for i in range(-5, 6)])
    return log


# ---------------------------------------------------------------- accepted


ACCEPTED = [
    pytest.param(3, id="int"),
    pytest.param(np.int64(3), id="np.int64"),
    pytest.param(np.int32(3), id="np.int32"),
    pytest.param(np.uint16(3), id="np.uint16"),
    pytest.param(Idx(3), id="__index__"),
    pytest.param(IntSub(3), id="int subclass"),
]


@pytest.mark.parametrize("value", ACCEPTED)
@pytest.mark.parametrize("api", API_IDS)
def test_index_objects_accepted(seeded, api, value):
    APIS[api](seeded, value)


@pytest.mark.parametrize("value", ACCEPTED)
def test_index_objects_coerced_to_their_value(log, value):
    log.append(value, "a")
    log.append("b", ts=value)
    log[value] = "c"
    log.extend([(value, "d")])
    log.extend([value], ["e"])
    assert list(log) == [(3, "a"), (3, "b"), (3, "c"), (3, "d"), (3, "e")]
    assert all(type(ts) is int for ts, _ in log)
    assert log[value] == ["a", "b", "c", "d", "e"]
    assert log.at(value) == ["a", "b", "c", "d", "e"]
    assert value in log
    assert [o for _, o in log.range(value, Idx(4))] == ["a", "b", "c", "d", "e"]
    assert log.next_ts(Idx(2)) == 3
    assert log.prev_ts(Idx(4)) == 3
    log.delete(value)
    assert len(log) == 0


def test_negative_numpy_and_extremes_accepted(log):
    log.append(np.int64(-7), "neg")
    log.append(INT64_MIN, "min")
    log.append(INT64_MAX, "max")
    assert list(log) == [(INT64_MIN, "min"), (-7, "neg"), (INT64_MAX, "max")]
    assert log.min_ts() == INT64_MIN
    assert log.max_ts() == INT64_MAX


# ---------------------------------------------------------------- rejected


@pytest.mark.parametrize("value", [True, False], ids=["True", "False"])
@pytest.mark.parametrize("api", API_IDS)
def test_bool_rejected(seeded, api, value):
    before = list(seeded)
    with pytest.raises(TypeError, match="bool"):
        APIS[api](seeded, value)
    assert list(seeded) == before


@pytest.mark.parametrize("api", API_IDS)
def test_float_rejected_with_hint(seeded, api):
    before = list(seeded)
    with pytest.raises(TypeError) as excinfo:
        APIS[api](seeded, 2.5)
    msg = str(excinfo.value)
    assert "2.5" in msg, msg  # names the float
    assert "int(x)" in msg, msg  # suggests int(x)
    assert "time_unit" in msg, msg  # ... or a finer time_unit
    assert list(seeded) == before


@pytest.mark.parametrize("api", API_IDS)
def test_integral_float_still_rejected(seeded, api):
    with pytest.raises(TypeError, match="float"):
        APIS[api](seeded, 3.0)


@pytest.mark.parametrize("api", API_IDS)
def test_datetime_rejected_with_explanation(seeded, api):
    before = list(seeded)
    dt = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(TypeError) as excinfo:
        APIS[api](seeded, dt)
    msg = str(excinfo.value)
    assert "integer" in msg, msg
    assert "time_unit" in msg, msg
    assert "timestamp()" in msg, msg
    assert list(seeded) == before


def test_date_hint_is_a_conversion_that_works_for_a_date(log):
    # A date has no .timestamp(): the hint for dates must be one that runs.
    d = datetime.date(2024, 1, 2)
    with pytest.raises(TypeError) as excinfo:
        log[d] = "x"
    msg = str(excinfo.value)
    assert "a date has no .timestamp()" in msg, msg
    m = re.search(r"(int\(datetime\.datetime\.combine\(d, .*?\* 1000\)) for a date d", msg)
    assert m, msg
    ts = eval(m.group(1), {"datetime": datetime, "d": d})
    assert ts == 1_704_153_600_000  # 2024-01-02T00:00Z in ms
    log[ts] = "x"
    assert log[ts] == ["x"]


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, np.uint64(2**63), IntSub(2**63)],
    ids=["2^63", "-2^63-1", "np.uint64(2^63)", "int subclass 2^63"],
)
@pytest.mark.parametrize("api", API_IDS)
def test_out_of_int64_overflow(seeded, api, value):
    before = list(seeded)
    with pytest.raises(OverflowError) as excinfo:
        APIS[api](seeded, value)
    msg = str(excinfo.value)
    assert "int64" in msg, msg
    assert list(seeded) == before


NON_SLICE_APIS = [a for a in API_IDS if "ts:" not in a and ":ts" not in a and "to_" not in a]


@pytest.mark.parametrize("value", ["3", b"3", [3]], ids=["str", "bytes", "list"])
@pytest.mark.parametrize("api", NON_SLICE_APIS)
def test_non_integers_rejected(seeded, api, value):
    with pytest.raises(TypeError):
        APIS[api](seeded, value)


# None has a meaning in some positions (auto timestamp, point delete,
# "no bound" for views/to_dict); everywhere else it is a TypeError.
NONE_MEANINGFUL = {"append(obj, ts=)", "delete(t1, ts)", "views(ts, t2)", "views(t1, ts)"}


@pytest.mark.parametrize("api", [a for a in NON_SLICE_APIS if a not in NONE_MEANINGFUL])
def test_none_rejected(seeded, api):
    with pytest.raises(TypeError):
        APIS[api](seeded, None)


# ----------------------------------------------------- construction & misc


@pytest.mark.parametrize(
    "value, exc",
    [
        (True, TypeError),
        (2.5, TypeError),
        (datetime.datetime(2024, 1, 1), TypeError),
        (2**63, OverflowError),
    ],
    ids=["bool", "float", "datetime", "overflow"],
)
def test_min_ts_keyword_coerced(make_log, value, exc):
    with pytest.raises(exc):
        make_log(min_ts=value)


def test_min_ts_keyword_accepts_index(make_log):
    log = make_log(maintenance="disabled", min_ts=np.int64(10))
    assert log.min_ts_floor == 10
    assert type(log.min_ts_floor) is int
    log2 = make_log(maintenance="disabled", min_ts=Idx(-3))
    assert log2.min_ts_floor == -3


def test_bulk_append_has_no_per_item_coercion_but_rejects_bool_buffers(log):
    # A bool array has 1-byte items: rejected as a non-int64 buffer.
    with pytest.raises(ValueError):
        log.bulk_append(np.array([True, False]), ["a", "b"])
    assert len(log) == 0


def test_slice_bound_float_in_delete_leaves_data(seeded):
    with pytest.raises(TypeError):
        del seeded[1.5:3]
    with pytest.raises(TypeError):
        del seeded[0:2.5]
    assert len(seeded) == 11


def test_timelog_class_is_used(log):
    assert isinstance(log, Timelog)


def test_index_timestamps_import_nothing(log, monkeypatch):
    # An `__index__` timestamp (numpy.int64, the usual one) used to pay for
    # `import datetime` and three attribute lookups before its `__index__`
    # was called: ~600 ns per `append` against ~90 for the C package.
    # `__index__` is now tested by its type's slot first.
    import builtins

    imported = []
    real = builtins.__import__

    def counting(name, *args, **kwargs):
        imported.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", counting)
    for value in (np.int64(3), np.uint16(4), Idx(5)):
        log.append(value, "a")
        log[value] = "b"
        log.extend([(value, "c")])
        assert value in log
        assert log.at(value) == ["a", "b", "c"]
    monkeypatch.undo()
    assert imported == []
    assert [ts for ts, _ in log] == [3] * 3 + [4] * 3 + [5] * 3


# ------------------------------------------------ issue 11: smaller defects


class _IndexReturnsStr:
    def __index__(self):
        return "x"


@pytest.mark.parametrize("api", ["append", "setitem", "next_ts", "contains"])
def test_index_returning_non_int_is_cpythons_type_error(log, api):
    # Used to report "outside the int64 range".
    calls = {
        "append": lambda: log.append(_IndexReturnsStr(), 1),
        "setitem": lambda: log.__setitem__(_IndexReturnsStr(), 1),
        "next_ts": lambda: log.next_ts(_IndexReturnsStr()),
        "contains": lambda: _IndexReturnsStr() in log,
    }
    with pytest.raises(TypeError, match=r"__index__ returned non-int \(type str\)"):
        calls[api]()


def test_out_of_range_message_keeps_the_c_phrase(log):
    with pytest.raises(OverflowError, match="is outside int64 range"):
        log.append(2**63, 1)


@pytest.mark.parametrize("api", ["tail", "head"])
def test_tail_and_head_refuse_bool_counts(seeded, api):
    # Bools are refused as timestamps; tail(True) used to mean tail(1).
    with pytest.raises(TypeError, match="bool"):
        getattr(seeded, api)(True)
    assert len(getattr(seeded, api)(1)) == 1


def test_slice_step_accepts_index_objects_equal_to_one(seeded):
    assert list(seeded[0:10:np.int64(1)]) == list(seeded[0:10])
    with pytest.raises(ValueError, match="step"):
        seeded[0:10:np.int64(2)]
    with pytest.raises(ValueError, match="step"):
        seeded[0:10:True]
    n = len(seeded)
    del seeded[0:1:np.int64(1)]
    assert len(seeded) <= n


def test_bulk_append_refuses_a_zero_d_array(log):
    with pytest.raises(ValueError, match="1-D"):
        log.bulk_append(np.array(5, dtype=np.int64), [1])
    assert len(log) == 0


def test_page_spans_error_does_not_name_another_call(log):
    # The engine's range message (timelog::Bounds), the same for every call.
    with pytest.raises(ValueError, match=r"t1=5 is greater than t2=1") as e:
        log.page_spans(5, 1)
    assert "views()" not in str(e.value)
