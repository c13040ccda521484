"""The C package's constructor surface: flat legacy keywords, their rules,
and the message phrases its users match (issue 11)."""

from __future__ import annotations

import math

import pytest

import timelog
from timelog import Timelog

FLAT_ADAPTIVE = {
    "adaptive_target_records": ("target_records", 1000),
    "adaptive_min_window": ("min_window", 10),
    "adaptive_max_window": ("max_window", 100_000),
    "adaptive_hysteresis_pct": ("hysteresis_pct", 10),
    "adaptive_window_quantum": ("window_quantum", 10),
    "adaptive_alpha": ("alpha", 0.3),
    "adaptive_warmup_flushes": ("warmup_flushes", 2),
    "adaptive_stale_flushes": ("stale_flushes", 5),
    "adaptive_failure_backoff_threshold": ("failure_backoff_threshold", 3),
    "adaptive_failure_backoff_pct": ("failure_backoff_pct", 50),
}
FLAT_COMPACTION = {
    "compaction_target_bytes": ("target_bytes", 1 << 20),
    "max_compaction_inputs": ("max_inputs", 4),
    "max_compaction_windows": ("max_windows", 2),
}


@pytest.mark.parametrize("flat", list(FLAT_ADAPTIVE))
def test_flat_adaptive_keyword_sets_what_the_dict_sets(make_log, flat):
    key, value = FLAT_ADAPTIVE[flat]
    log = make_log(maintenance="disabled", **{flat: value})
    assert log.stats()["adaptive"][key] == value
    twin = make_log(maintenance="disabled", adaptive={key: value})
    assert twin.stats()["adaptive"] == log.stats()["adaptive"]


@pytest.mark.parametrize("flat", list(FLAT_COMPACTION))
def test_flat_compaction_keyword_sets_what_the_dict_sets(make_log, flat):
    key, value = FLAT_COMPACTION[flat]
    log = make_log(maintenance="disabled", **{flat: value})
    assert log.stats()["compaction_selection"][key] == value


def test_flat_max_compaction_inputs_limits_a_compaction(make_log):
    # The knob acts: one compaction takes at most 2 of the 3 L0 segments.
    log = make_log(maintenance="disabled", max_compaction_inputs=2, max_delta_segments=3)
    for k in range(3):
        log.extend([(k * 100 + i, i) for i in range(10)])
        log.flush()
    assert log.stats()["storage"]["segments_l0"] == 3
    assert log.maint_step() is True
    cs = log.stats()["compaction_selection"]
    assert cs["select_l0_inputs"] == 2
    assert log.stats()["storage"]["segments_l0"] == 1


def test_flat_and_dict_merge_when_keys_differ(make_log):
    log = make_log(maintenance="disabled", adaptive_alpha=0.5, adaptive={"warmup_flushes": 3})
    a = log.stats()["adaptive"]
    assert (a["alpha"], a["warmup_flushes"]) == (0.5, 3)


@pytest.mark.parametrize(
    "kwargs, phrase",
    [
        ({"adaptive_alpha": 0.5, "adaptive": {"alpha": 0.4}}, "Cannot specify both adaptive_alpha and adaptive="),
        (
            {"compaction_target_bytes": 5, "compaction": {"target_bytes": 4}},
            "Cannot specify both compaction_target_bytes and compaction=",
        ),
        ({"max_compaction_windows": 1, "compaction": {"max_windows": 1}}, "Cannot specify both max_compaction_windows"),
    ],
)
def test_knob_given_flat_and_in_dict_is_an_error(kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        Timelog(**kwargs)


@pytest.mark.parametrize("section", ["adaptive", "compaction"])
def test_non_string_dict_keys_rejected(section):
    with pytest.raises(TypeError, match=f"{section} keys must be str"):
        Timelog(**{section: {1: 2}})


@pytest.mark.parametrize("section", ["adaptive", "compaction"])
def test_unknown_dict_key_keeps_the_c_phrase(section):
    with pytest.raises(ValueError, match=f"Unknown key 'bogus' in {section} dict"):
        Timelog(**{section: {"bogus": 1}})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"adaptive_alpha": math.nan},
        {"adaptive_alpha": math.inf},
        {"adaptive": {"alpha": -math.inf}},
        {"delete_debt_threshold": math.nan},
        {"delete_debt_threshold": math.inf},
    ],
)
def test_non_finite_floats_rejected(kwargs):
    with pytest.raises(ValueError, match="must be finite"):
        Timelog(**kwargs)


def test_window_size_message_prints_the_value_given():
    # 2**63 used to wrap to a negative number in the message.
    with pytest.raises(OverflowError, match="got 9223372036854775808") as e:
        Timelog(window_size=2**63)
    assert "-9223372036854775808" not in str(e.value)
    with pytest.raises(ValueError, match=r"window_size must be in \[0, 2\*\*63 - 1\].*got -1"):
        Timelog(window_size=-1)


@pytest.mark.parametrize("bad", [-1, 20, 2**70])
def test_maintenance_nice_message_states_its_own_rule(bad):
    with pytest.raises(ValueError) as e:
        Timelog(maintenance_nice=bad)
    msg = str(e.value)
    assert "[0, 19]" in msg and "None = engine default 0" in msg and f"got {bad}" in msg
    assert "0 = engine default" not in msg


def test_counts_beyond_64_bits_overflow_with_the_value():
    with pytest.raises(OverflowError, match=f"got {2**64}"):
        Timelog(memtable_max_bytes=2**64)
    with pytest.raises(ValueError, match="must be an int >= 0"):
        Timelog(sealed_max_runs=-1)


def test_int_knobs_take_index_objects_and_refuse_floats_and_bools():
    np = pytest.importorskip("numpy")
    Timelog(maintenance="disabled", memtable_max_bytes=np.int64(4096)).close()
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        Timelog(adaptive_target_records=1.5)
    with pytest.raises(TypeError, match="bool"):
        Timelog(max_compaction_inputs=True)


def test_unknown_keyword_lists_the_flat_forms_too():
    with pytest.raises(TypeError, match="unexpected keyword argument 'adaptive_bogus'") as e:
        Timelog(adaptive_bogus=1)
    assert "adaptive_alpha" in str(e.value)


def test_reopen_takes_the_flat_forms(make_log):
    log = make_log(maintenance="disabled")
    log.close()
    log.reopen(maintenance="disabled", max_compaction_inputs=3)
    assert log.stats()["compaction_selection"]["max_inputs"] == 3


def test_flat_value_of_the_wrong_type_is_reported_before_the_conflict():
    # The C package's order (found by the conformance suite).
    with pytest.raises(TypeError):
        Timelog(adaptive={"target_records": 20}, adaptive_target_records=1.5)
    with pytest.raises(TypeError):
        Timelog(compaction={"max_inputs": 2}, max_compaction_inputs="x")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        # Validated when the engine builds the log: its message, as is.
        ({"delete_debt_threshold": 1.5}, "delete_debt_threshold must be a finite fraction in [0.0, 1.0] (0.0 = off), got 1.5"),
        ({"adaptive": {"hysteresis_pct": 101}}, "adaptive.hysteresis_pct must be a percentage in [0, 100], got 101"),
        # Converted by the binding, with the engine's wording.
        ({"time_unit": "h"}, "time_unit must be one of 's', 'ms', 'us', 'ns', got 'h'"),
        ({"time_unit": 5}, "time_unit must be one of 's', 'ms', 'us', 'ns', got 5"),
        ({"busy_policy": "block"}, "busy_policy must be one of 'raise', 'silent', 'flush', got 'block'"),
        ({"maintenance": None}, "maintenance must be one of 'background', 'disabled', got None"),
    ],
)
def test_config_messages_are_the_engines_as_is(kwargs, message):
    with pytest.raises(ValueError) as e:
        Timelog(**kwargs)
    assert str(e.value) == message
    assert "invalid configuration" not in str(e.value)


def test_int64_knobs_beyond_int64_keep_the_c_phrase():
    with pytest.raises(OverflowError, match="window_size must be in .*, got 9223372036854775808, which is outside int64 range"):
        Timelog(window_size=2**63)
    with pytest.raises(OverflowError, match="outside int64 range"):
        Timelog(adaptive={"max_window": 2**64})
