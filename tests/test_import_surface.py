"""Import surface, module layout, exceptions, version, type aliases."""

from __future__ import annotations

import collections.abc
import importlib.metadata
import re
import typing

import pytest

import timelog
import timelog._api
import timelog._timelog

PUBLIC_CLASSES = [
    "TimelogError",
    "TimelogBusyError",
    "TimelogIter",
    "PageSpan",
    "PageSpanIter",
    "PageSpanObjectsView",
]


def test_from_import_all_names():
    from timelog import (  # noqa: F401
        PageSpan,
        PageSpanIter,
        PageSpanObjectsView,
        Record,
        RecordBatch,
        RecordIter,
        Timelog,
        TimelogBusyError,
        TimelogError,
        TimelogIter,
        __version__,
    )


def test_dunder_all_lists_public_names():
    expected = {
        "Timelog",
        *PUBLIC_CLASSES,
        "Record",
        "RecordIter",
        "RecordBatch",
        "__version__",
    }
    assert expected <= set(timelog.__all__)
    for name in timelog.__all__:
        assert hasattr(timelog, name), name


def test_exception_hierarchy():
    assert issubclass(timelog.TimelogError, Exception)
    assert issubclass(timelog.TimelogBusyError, timelog.TimelogError)
    assert not issubclass(timelog.TimelogError, timelog.TimelogBusyError)
    # Raisable and catchable as documented.
    with pytest.raises(timelog.TimelogError):
        raise timelog.TimelogBusyError("x")


@pytest.mark.parametrize("name", PUBLIC_CLASSES)
def test_native_module_defines_public_classes(name):
    native = getattr(timelog._timelog, name)
    assert getattr(timelog, name) is native
    assert native.__module__ == "timelog._timelog"


def test_native_module_defines_timelog_class():
    assert isinstance(timelog._timelog.Timelog, type)
    assert timelog._timelog.Timelog.__module__ == "timelog._timelog"


def test_facade_timelog_subclasses_native_timelog():
    assert timelog.Timelog is not timelog._timelog.Timelog
    assert issubclass(timelog.Timelog, timelog._timelog.Timelog)
    log = timelog.Timelog()
    try:
        assert isinstance(log, timelog._timelog.Timelog)
    finally:
        log.close()


def test_native_timelog_is_subclassable():
    class Sub(timelog._timelog.Timelog):
        pass

    log = Sub(maintenance="disabled")
    try:
        log.append(1, "a")
        assert [(ts, obj) for ts, obj in log.all()] == [(1, "a")]
    finally:
        log.close()


def test_facade_timelog_is_subclassable():
    class Sub(timelog.Timelog):
        pass

    log = Sub(maintenance="disabled")
    try:
        log[3] = "x"
        assert log[3] == ["x"]
    finally:
        log.close()


def test_presets_return_subclass_instances():
    class Sub(timelog.Timelog):
        pass

    for preset in ("for_streaming", "for_bulk_ingest", "for_low_latency"):
        log = getattr(Sub, preset)()
        try:
            assert type(log) is Sub
        finally:
            log.close()


def test_api_constants():
    assert timelog._api.TL_TS_MIN == -(2**63)
    assert timelog._api.TL_TS_MAX == 2**63 - 1
    assert type(timelog._api.TL_TS_MIN) is int
    assert type(timelog._api.TL_TS_MAX) is int


def test_api_coerce_ts_accepts_index_objects():
    np = pytest.importorskip("numpy")

    class Idx:
        def __index__(self):
            return 42

    coerce = timelog._api._coerce_ts
    assert coerce(5) == 5
    assert coerce(-5) == -5
    assert coerce(np.int64(7)) == 7
    assert coerce(np.uint8(9)) == 9
    assert coerce(Idx()) == 42
    assert type(coerce(np.int64(7))) is int
    assert coerce(2**63 - 1) == 2**63 - 1
    assert coerce(-(2**63)) == -(2**63)


def test_api_coerce_ts_rejections():
    import datetime

    coerce = timelog._api._coerce_ts
    with pytest.raises(TypeError, match="bool"):
        coerce(True)
    with pytest.raises(TypeError, match="bool"):
        coerce(False)
    with pytest.raises(TypeError, match=r"int\(x\)"):
        coerce(1.5)
    with pytest.raises(TypeError, match="time_unit"):
        coerce(datetime.datetime(2024, 1, 1))
    with pytest.raises(OverflowError, match="int64"):
        coerce(2**63)
    with pytest.raises(OverflowError, match="int64"):
        coerce(-(2**63) - 1)
    with pytest.raises(TypeError):
        coerce("5")
    with pytest.raises(TypeError):
        coerce(None)


def _installed_version() -> str | None:
    dists = importlib.metadata.packages_distributions().get("timelog", [])
    for name in [*dists, "timelog-lib", "timelog"]:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def test_version():
    version = timelog.__version__
    assert isinstance(version, str) and version
    assert re.match(r"^\d+(\.\d+)*", version), version
    installed = _installed_version()
    if installed is not None:
        assert version == installed
    else:  # imported from a checkout: falls back to pyproject.toml
        import pathlib
        import tomllib

        root = pathlib.Path(timelog.__file__).resolve()
        for parent in root.parents:
            pyproject = parent / "pyproject.toml"
            if pyproject.exists():
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
                expected = data.get("project", {}).get("version")
                if expected:
                    assert version == expected
                    break


def test_type_aliases():
    assert timelog.Record == tuple[int, object]
    assert typing.get_origin(timelog.RecordIter) is collections.abc.Iterator
    assert typing.get_args(timelog.RecordIter) == (timelog.Record,)
    assert typing.get_origin(timelog.RecordBatch) is list
    assert typing.get_args(timelog.RecordBatch) == (timelog.Record,)


# The operations benchmarked as hot paths are served by the native class
# directly, with no Python-level override in the facade subclass.
HOT_PATHS = [
    "append",
    "bulk_append",
    "point",
    "equal",
    "range",
    "next_ts",
    "delete_range",
    "delete_before",
]


@pytest.mark.parametrize("name", HOT_PATHS)
def test_hot_paths_not_overridden_in_python(name):
    assert name in vars(timelog._timelog.Timelog), name
    assert name not in vars(timelog.Timelog), name
    assert getattr(timelog.Timelog, name) is getattr(timelog._timelog.Timelog, name)


def test_c_package_top_level_names():
    # The C package's module has these at the top level (issue 11).
    assert timelog.TL_TS_MIN == timelog._api.TL_TS_MIN == -(2**63)
    assert timelog.TL_TS_MAX == timelog._api.TL_TS_MAX == 2**63 - 1
    assert timelog.Iterator is typing.Iterator
    assert {"TL_TS_MIN", "TL_TS_MAX"} <= set(timelog.__all__)
