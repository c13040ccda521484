"""Construction, configuration validation, presets, close/reopen, properties."""

from __future__ import annotations

import re

import numpy as np
import pytest

from timelog import Timelog, TimelogError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

ALL_NUMERIC_KNOBS = dict(
    memtable_max_bytes=1 << 20,
    target_page_bytes=4096,
    sealed_max_runs=8,
    ooo_budget_bytes=1 << 16,
    sealed_wait_ms=1,
    drain_batch_limit=16,
    maintenance_wakeup_ms=10,
    max_delta_segments=4,
    window_size=1000,
    window_origin=5,
    delete_debt_threshold=0.5,
)

ADAPTIVE_ALL_KEYS = {
    "target_records": 1000,
    "min_window": 10,
    "max_window": 100_000,
    "hysteresis_pct": 10,
    "window_quantum": 10,
    "alpha": 0.3,
    "warmup_flushes": 2,
    "stale_flushes": 5,
    "failure_backoff_threshold": 3,
    "failure_backoff_pct": 50,
}

COMPACTION_ALL_KEYS = {"target_bytes": 1 << 20, "max_inputs": 4, "max_windows": 2}


# ----------------------------------------------------------------- defaults


def test_defaults(make_log):
    log = make_log()
    assert log.closed is False
    assert log.time_unit == "ms"
    assert log.maintenance_mode == "background"
    assert log.busy_policy == "raise"
    assert log.min_ts_floor is None
    assert log.busy_events == 0
    assert log.extend_skipped == 0
    assert log.retired_queue_len == 0
    assert log.alloc_failures == 0
    cfg = log.stats()["config"]
    assert cfg == {
        "time_unit": "ms",
        "maintenance": "background",
        "busy_policy": "raise",
        "min_ts": None,
        "mostly_ordered_default": True,
    }


def test_constructor_is_keyword_only():
    with pytest.raises(TypeError):
        Timelog("ms")


def test_unknown_keyword_is_type_error():
    with pytest.raises(TypeError, match="bogus_option"):
        Timelog(bogus_option=1)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_time_units(make_log, unit):
    log = make_log(time_unit=unit, maintenance="disabled")
    assert log.time_unit == unit
    assert log.stats()["config"]["time_unit"] == unit
    log[5] = "x"
    assert list(log) == [(5, "x")]


@pytest.mark.parametrize("mode", ["background", "disabled"])
def test_maintenance_modes(make_log, mode):
    log = make_log(maintenance=mode)
    assert log.maintenance_mode == mode
    assert log.stats()["config"]["maintenance"] == mode


@pytest.mark.parametrize("policy", ["raise", "silent", "flush"])
def test_busy_policies(make_log, policy):
    log = make_log(busy_policy=policy, maintenance="disabled")
    assert log.busy_policy == policy
    assert log.stats()["config"]["busy_policy"] == policy


@pytest.mark.parametrize(
    "kwarg, bad, accepted",
    [
        ("time_unit", "minutes", ["s", "ms", "us", "ns"]),
        ("time_unit", "MS", ["s", "ms", "us", "ns"]),
        ("maintenance", "auto", ["background", "disabled"]),
        ("busy_policy", "block", ["raise", "silent", "flush"]),
    ],
)
def test_invalid_enum_values_list_accepted_values(kwarg, bad, accepted):
    with pytest.raises(ValueError) as excinfo:
        Timelog(**{kwarg: bad})
    msg = str(excinfo.value)
    assert kwarg.split("_")[0] in msg, msg
    assert bad in msg, msg
    for value in accepted:
        assert re.search(rf"['\"]{value}['\"]", msg), (value, msg)


@pytest.mark.parametrize("kwarg", ["time_unit", "maintenance", "busy_policy"])
def test_non_string_enum_values_rejected(kwarg):
    with pytest.raises((TypeError, ValueError)):
        Timelog(**{kwarg: 1})


def test_all_numeric_knobs_accepted(make_log):
    log = make_log(maintenance="disabled", **ALL_NUMERIC_KNOBS)
    log.extend([(i, i) for i in range(100)])
    log.flush()
    assert len(log) == 100
    log.validate()


def test_zero_numeric_knobs_mean_engine_default(make_log):
    log = make_log(
        maintenance="disabled",
        **{k: (0.0 if isinstance(v, float) else 0) for k, v in ALL_NUMERIC_KNOBS.items()},
    )
    log.extend([(i, i) for i in range(100)])
    log.flush()
    assert len(log) == 100


def test_compaction_dict_all_keys(make_log):
    log = make_log(maintenance="disabled", compaction=COMPACTION_ALL_KEYS)
    log.extend([(i, i) for i in range(100)])
    log.flush()
    log.compact()
    assert len(log) == 100


def test_adaptive_dict_all_keys(make_log):
    log = make_log(maintenance="disabled", adaptive=ADAPTIVE_ALL_KEYS)
    log.extend([(i, i) for i in range(100)])
    log.flush()
    assert len(log) == 100
    assert isinstance(log.stats()["adaptive"], dict)


@pytest.mark.parametrize("kwarg", ["compaction", "adaptive"])
def test_config_dicts_accept_none_and_empty(make_log, kwarg):
    make_log(maintenance="disabled", **{kwarg: None})
    make_log(maintenance="disabled", **{kwarg: {}})


@pytest.mark.parametrize("kwarg", ["compaction", "adaptive"])
@pytest.mark.parametrize("bad", [[("target_bytes", 1)], 5, "x", (1, 2)], ids=["list", "int", "str", "tuple"])
def test_config_dicts_must_be_dicts(kwarg, bad):
    with pytest.raises(TypeError, match=kwarg):
        Timelog(**{kwarg: bad})


@pytest.mark.parametrize("kwarg", ["compaction", "adaptive"])
def test_config_dicts_unknown_key_named(kwarg):
    with pytest.raises(ValueError, match="no_such_key"):
        Timelog(**{kwarg: {"no_such_key": 1}})


def test_adaptive_keys_are_not_compaction_keys():
    with pytest.raises(ValueError, match="target_records"):
        Timelog(compaction={"target_records": 1})
    with pytest.raises(ValueError, match="max_inputs"):
        Timelog(adaptive={"max_inputs": 1})


def test_mostly_ordered_default_must_be_bool():
    with pytest.raises(TypeError):
        Timelog(mostly_ordered_default=1)


def test_mostly_ordered_default_echoed(make_log):
    log = make_log(maintenance="disabled", mostly_ordered_default=False)
    assert log.stats()["config"]["mostly_ordered_default"] is False
    log.extend([(3, "c"), (1, "a"), (2, "b")])
    assert list(log) == [(1, "a"), (2, "b"), (3, "c")]


# ------------------------------------------------------------------ presets


def _seals_for(log: Timelog, n: int = 50_000) -> int:
    # Batches below a page's worth (16,384 records): a batch of a memtable's
    # and a page's worth is published as a run of its own and seals nothing
    # (docs/protocol.md, R14).
    for k in range(0, n, 10_000):
        m = min(k + 10_000, n)
        log.bulk_append(np.arange(k, m, dtype=np.int64), [None] * (m - k))
    for i in range(n, n + 2000):
        log.append(i, None)
    return log.stats()["operational"]["seals_total"]


def test_preset_for_streaming(make_log):
    log = make_log.track(Timelog.for_streaming())
    assert isinstance(log, Timelog)
    assert log.maintenance_mode == "background"
    assert log.busy_policy == "flush"
    assert log.time_unit == "ms"


def test_preset_for_bulk_ingest(make_log):
    log = make_log.track(Timelog.for_bulk_ingest())
    assert isinstance(log, Timelog)
    assert log.maintenance_mode == "disabled"
    assert log.busy_policy == "flush"


def test_preset_for_low_latency(make_log):
    log = make_log.track(Timelog.for_low_latency())
    assert isinstance(log, Timelog)
    assert log.maintenance_mode == "background"
    assert log.busy_policy == "raise"


def test_preset_for_bulk_ingest_memtable_is_16mib(make_log):
    preset = make_log.track(Timelog.for_bulk_ingest(busy_policy="silent"))
    explicit = make_log(
        maintenance="disabled", busy_policy="silent", memtable_max_bytes=16 * 1024 * 1024
    )
    small = make_log(maintenance="disabled", busy_policy="silent", memtable_max_bytes=256 * 1024)
    assert _seals_for(preset) == _seals_for(explicit) == 0
    assert _seals_for(small) > 0


def test_preset_for_low_latency_memtable_is_256kib(make_log):
    preset = make_log.track(Timelog.for_low_latency(maintenance="disabled", busy_policy="silent"))
    explicit = make_log(
        maintenance="disabled", busy_policy="silent", memtable_max_bytes=256 * 1024, sealed_wait_ms=0
    )
    big = make_log(maintenance="disabled", busy_policy="silent", memtable_max_bytes=16 * 1024 * 1024)
    seals = _seals_for(preset)
    assert seals > 0
    assert seals == _seals_for(explicit)
    assert _seals_for(big) == 0


@pytest.mark.parametrize("preset", ["for_streaming", "for_bulk_ingest", "for_low_latency"])
def test_preset_overrides_win(make_log, preset):
    log = make_log.track(
        getattr(Timelog, preset)(
            time_unit="us", maintenance="disabled", busy_policy="silent", min_ts=5
        )
    )
    assert log.time_unit == "us"
    assert log.maintenance_mode == "disabled"
    assert log.busy_policy == "silent"
    assert log.min_ts_floor == 5


@pytest.mark.parametrize("preset", ["for_streaming", "for_bulk_ingest", "for_low_latency"])
def test_preset_validates_overrides(preset):
    with pytest.raises(ValueError):
        getattr(Timelog, preset)(time_unit="fortnights")
    with pytest.raises(TypeError):
        getattr(Timelog, preset)(nonsense=True)


# -------------------------------------------------------------------- close


def test_close_discards_data_and_sets_closed(make_log):
    log = make_log(maintenance="disabled")
    log.extend([(i, i) for i in range(10)])
    log.close()
    assert log.closed is True


def test_close_twice_is_fine(make_log):
    log = make_log()
    log.close()
    log.close()
    assert log.closed


CLOSED_OPS = {
    "append(obj)": lambda log: log.append("x"),
    "append(ts, obj)": lambda log: log.append(1, "x"),
    "append(obj, ts=)": lambda log: log.append("x", ts=1),
    "setitem": lambda log: log.__setitem__(1, "x"),
    "extend": lambda log: log.extend([(1, "x")]),
    "extend(ts, objs)": lambda log: log.extend([1], ["x"]),
    "bulk_append": lambda log: log.bulk_append(np.array([1], dtype=np.int64), ["x"]),
    "delete(ts)": lambda log: log.delete(1),
    "delete(t1, t2)": lambda log: log.delete(1, 2),
    "delete_range": lambda log: log.delete_range(1, 2),
    "delete_before": lambda log: log.delete_before(1),
    "cutoff": lambda log: log.cutoff(1),
    "delitem": lambda log: log.__delitem__(1),
    "delitem slice": lambda log: log.__delitem__(slice(1, 2)),
    "getitem": lambda log: log[1],
    "getitem slice": lambda log: log[1:2],
    "at": lambda log: log.at(1),
    "iter": lambda log: iter(log),
    "all": lambda log: log.all(),
    "range": lambda log: log.range(0, 1),
    "since": lambda log: log.since(0),
    "until": lambda log: log.until(0),
    "point": lambda log: log.point(0),
    "equal": lambda log: log.equal(0),
    "len": lambda log: len(log),
    "contains": lambda log: 1 in log,
    "min_ts": lambda log: log.min_ts(),
    "max_ts": lambda log: log.max_ts(),
    "next_ts": lambda log: log.next_ts(0),
    "prev_ts": lambda log: log.prev_ts(0),
    "views": lambda log: log.views(),
    "page_spans": lambda log: log.page_spans(0, 1),
    "to_dict": lambda log: log.to_dict(),
    "to_numpy": lambda log: log.to_numpy(),
    "flush": lambda log: log.flush(),
    "compact": lambda log: log.compact(),
    "maint_step": lambda log: log.maint_step(),
    "start_maintenance": lambda log: log.start_maintenance(),
    "stop_maintenance": lambda log: log.stop_maintenance(),
    "stats": lambda log: log.stats(),
    "validate": lambda log: log.validate(),
}


@pytest.mark.parametrize("op", list(CLOSED_OPS))
def test_operations_after_close_raise(make_log, op):
    log = make_log(maintenance="disabled")
    log[1] = "x"
    log.close()
    with pytest.raises(TimelogError, match="Timelog is closed"):
        CLOSED_OPS[op](log)


def test_closed_error_is_not_busy_error(make_log):
    log = make_log()
    log.close()
    with pytest.raises(TimelogError) as excinfo:
        log.append(1, "x")
    assert type(excinfo.value) is TimelogError


# ------------------------------------------------------------- reopen/configure


@pytest.mark.parametrize("method", ["reopen", "configure"])
def test_reopen_requires_closed(make_log, method):
    log = make_log()
    with pytest.raises(TimelogError):
        getattr(log, method)()
    assert log.closed is False


@pytest.mark.parametrize("method", ["reopen", "configure"])
def test_reopen_after_close(make_log, method):
    log = make_log(maintenance="disabled")
    log.extend([(i, i) for i in range(10)])
    log.close()
    getattr(log, method)(time_unit="us", maintenance="disabled", busy_policy="silent")
    assert log.closed is False
    assert log.time_unit == "us"
    assert log.maintenance_mode == "disabled"
    assert log.busy_policy == "silent"
    assert len(log) == 0  # close() discarded everything
    assert list(log) == []
    log[3] = "new"
    assert list(log) == [(3, "new")]


def test_reopen_uses_defaults_for_unspecified_engine_config(make_log):
    log = make_log(time_unit="us", maintenance="disabled", busy_policy="silent")
    log.close()
    log.reopen()
    assert log.time_unit == "ms"
    assert log.maintenance_mode == "background"
    assert log.busy_policy == "raise"


@pytest.mark.parametrize("method", ["reopen", "configure"])
def test_reopen_carries_min_ts_and_mostly_ordered_default(make_log, method):
    log = make_log(maintenance="disabled", min_ts=100, mostly_ordered_default=False)
    log.close()
    getattr(log, method)(maintenance="disabled")
    assert log.min_ts_floor == 100
    cfg = log.stats()["config"]
    assert cfg["min_ts"] == 100
    assert cfg["mostly_ordered_default"] is False
    with pytest.raises(ValueError, match="100"):
        log.append(99, "x")


@pytest.mark.parametrize("method", ["reopen", "configure"])
def test_reopen_overrides_min_ts_and_mostly_ordered_default(make_log, method):
    log = make_log(maintenance="disabled", min_ts=100, mostly_ordered_default=False)
    log.close()
    getattr(log, method)(maintenance="disabled", min_ts=None, mostly_ordered_default=True)
    assert log.min_ts_floor is None
    assert log.stats()["config"]["mostly_ordered_default"] is True
    log.append(5, "x")  # no floor any more
    log.close()
    getattr(log, method)(maintenance="disabled", min_ts=7)
    assert log.min_ts_floor == 7
    assert log.stats()["config"]["mostly_ordered_default"] is True


def test_reopen_validates_config(make_log):
    log = make_log()
    log.close()
    with pytest.raises(ValueError):
        log.reopen(time_unit="bad")
    with pytest.raises(TypeError):
        log.reopen(bogus=1)


# ---------------------------------------------------------- context manager


def test_context_manager_closes(make_log):
    with Timelog(maintenance="disabled") as log:
        make_log.track(log)
        assert isinstance(log, Timelog)
        log[1] = "a"
        assert log[1] == ["a"]
    assert log.closed


def test_context_manager_returns_self():
    log = Timelog()
    with log as entered:
        assert entered is log
    assert log.closed


def test_context_manager_closes_on_exception_and_propagates():
    with pytest.raises(KeyError):
        with Timelog() as log:
            log[1] = "a"
            raise KeyError("boom")
    assert log.closed


# ------------------------------------------------------------ properties


READ_ONLY_PROPS = [
    "closed",
    "time_unit",
    "maintenance_mode",
    "busy_policy",
    "busy_events",
    "retired_queue_len",
    "alloc_failures",
    "extend_skipped",
    "min_ts_floor",
]


@pytest.mark.parametrize("prop", READ_ONLY_PROPS)
def test_properties_are_read_only(make_log, prop):
    log = make_log()
    value = getattr(log, prop)
    with pytest.raises(AttributeError):
        setattr(log, prop, value)
    assert getattr(log, prop) == value


def test_property_types(make_log):
    log = make_log(min_ts=3)
    assert type(log.closed) is bool
    assert type(log.time_unit) is str
    assert type(log.maintenance_mode) is str
    assert type(log.busy_policy) is str
    for name in ("busy_events", "retired_queue_len", "alloc_failures", "extend_skipped"):
        assert type(getattr(log, name)) is int and getattr(log, name) >= 0
    assert type(log.min_ts_floor) is int


def test_min_ts_floor_distinct_from_min_ts_method(make_log):
    log = make_log(maintenance="disabled", min_ts=10)
    assert log.min_ts_floor == 10
    assert log.min_ts() is None
    log[20] = "x"
    assert log.min_ts() == 20
    assert log.min_ts_floor == 10


# -------------------------------------------------------------------- repr


def test_repr_empty(make_log):
    log = make_log(maintenance="disabled")
    assert repr(log) == "<Timelog len~0 time_unit='ms'>"


def test_repr_with_data(make_log):
    log = make_log(maintenance="disabled", time_unit="us")
    log[10] = "a"
    log[-20] = "b"
    log[30] = "c"
    assert repr(log) == "<Timelog len~3 time_unit='us' [-20..30]>"


def test_repr_closed(make_log):
    log = make_log()
    log.close()
    assert repr(log) == "<Timelog closed>"


# ---------------------------------------------------------------- min_ts floor


def test_min_ts_floor_rejects_writes_below(make_log):
    log = make_log(maintenance="disabled", min_ts=100)
    assert log.min_ts_floor == 100
    assert log.stats()["config"]["min_ts"] == 100

    writes = [
        lambda: log.append(99, "x"),
        lambda: log.append("x", ts=99),
        lambda: log.__setitem__(99, "x"),
        lambda: log.extend([(99, "x")]),
        lambda: log.extend([(99, "x")], insert_on_error=False),
        lambda: log.extend([99], ["x"]),
        lambda: log.extend([99], ["x"], insert_on_error=False),
        lambda: log.bulk_append(np.array([150, 99], dtype=np.int64), ["ok", "x"]),
        lambda: log.append(INT64_MIN, "x"),
    ]
    for write in writes:
        with pytest.raises(ValueError) as excinfo:
            write()
        assert "100" in str(excinfo.value), str(excinfo.value)
    assert list(log) == []


def test_min_ts_floor_allows_writes_at_and_above(make_log):
    log = make_log(maintenance="disabled", min_ts=100)
    log.append(100, "a")
    log[101] = "b"
    log.extend([(102, "c")])
    log.bulk_append(np.array([103], dtype=np.int64), ["d"])
    assert [ts for ts, _ in log] == [100, 101, 102, 103]


def test_min_ts_floor_negative(make_log):
    log = make_log(maintenance="disabled", min_ts=-50)
    log.append(-50, "ok")
    with pytest.raises(ValueError, match="-50"):
        log.append(-51, "no")
    assert list(log) == [(-50, "ok")]


def test_min_ts_floor_extend_insert_on_error_still_raises_below_floor(make_log):
    log = make_log(maintenance="disabled", min_ts=100)
    with pytest.raises(ValueError, match="100"):
        log.extend([(150, "a"), (50, "b")], insert_on_error=True)
    assert 50 not in log


def test_min_ts_floor_on_reopen_applies(make_log):
    log = make_log(maintenance="disabled")
    log.extend([(i, i) for i in range(10)])
    log.close()
    log.reopen(maintenance="disabled", min_ts=5)
    assert list(log) == []
    assert log.min_ts_floor == 5
    with pytest.raises(ValueError, match="5"):
        log[4] = "x"
    log[5] = "y"
    assert list(log) == [(5, "y")]


def test_no_floor_by_default(make_log):
    log = make_log(maintenance="disabled")
    log.append(INT64_MIN, "min")
    assert log.min_ts_floor is None
    assert list(log) == [(INT64_MIN, "min")]
