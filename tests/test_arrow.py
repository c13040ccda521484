"""Arrow PyCapsule interface: PageSpan arrays, record-batch streams of the
log, of a range and of page views, consumed by real pyarrow, polars and
DuckDB; zero copies of page timestamps; the payload column rule; release of
exported data from other threads, with and without the interpreter.

Each consumer is optional (free-threaded CPython may have no wheel for it):
the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading

import pytest

from timelog import TimelogError

pa = pytest.importorskip("pyarrow", reason="pyarrow has no wheel for this interpreter")
np = pytest.importorskip("numpy", reason="numpy has no wheel for this interpreter")


def _polars():
    return pytest.importorskip("polars", reason="polars has no wheel for this interpreter")


def _duckdb():
    return pytest.importorskip("duckdb", reason="duckdb has no wheel for this interpreter")


def addr(span) -> int:
    """Address of a span's timestamps, through numpy's zero-copy view."""
    return np.asarray(span.timestamps).ctypes.data


def compacted(make_log, n=20000, unit="ms", value=lambda i: i * 0.5):
    log = make_log(maintenance="disabled", time_unit=unit)
    for i in range(n):
        log.append(i, value(i))
    log.flush()
    log.compact()
    return log


def release_all():
    gc.collect()


# ----- PageSpan.__arrow_c_array__ ---------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_span_exports_timestamps_zero_copy(make_log, unit):
    log = compacted(make_log, unit=unit)
    with log.views() as it:
        spans = list(it)
    assert len(spans) >= 2
    for s in spans:
        a = pa.array(s)
        assert a.type == pa.timestamp(unit)
        assert a.null_count == 0
        assert a.cast(pa.int64()).to_pylist() == s.copy_timestamps()
        assert a.buffers()[1].address == addr(s), "the Arrow buffer is the page's memory"
    del a
    for s in spans:
        s.close()


def test_span_schema_and_int64_request(make_log):
    log = compacted(make_log, unit="us")
    s = next(iter(log.views()))
    assert pa.DataType._import_from_c_capsule(s.__arrow_c_schema__()) == pa.timestamp("us")
    a = pa.array(s, type=pa.int64())
    assert a.type == pa.int64()
    assert a.buffers()[1].address == addr(s)
    with pytest.raises(TypeError, match="arrow_schema"):
        s.__arrow_c_array__(requested_schema=42)
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.__arrow_c_array__()


def test_exported_array_outlives_span_and_pins_the_log(make_log):
    log = compacted(make_log, n=5000)
    s = next(iter(log.views()))
    want = s.copy_timestamps()
    a = pa.array(s)
    s.close()
    del log[0:2500]
    log.compact()
    assert a.cast(pa.int64()).to_pylist() == want, "the array still reads the old page"
    with pytest.raises(TimelogError, match="pinned"):
        log.close()
    del a
    release_all()
    log.close()


# ----- streams ----------------------------------------------------------


def test_log_stream_zero_copy_when_compacted(make_log):
    log = compacted(make_log, n=30000)
    spans = list(log.views())
    t = pa.table(log)
    assert t.schema.names == ["ts", "value"]
    assert t.schema.field("ts").type == pa.timestamp("ms")
    assert t.schema.field("value").type == pa.float64()
    assert t.num_rows == 30000
    chunks = t.column("ts").chunks
    assert [c.buffers()[1].address for c in chunks] == [addr(s) for s in spans]
    assert t.column("value").to_pylist() == [i * 0.5 for i in range(30000)]
    r = pa.RecordBatchReader.from_stream(log)
    assert r.schema == t.schema
    assert r.read_all().equals(t)
    for s in spans:
        s.close()


def test_log_stream_respects_deletes_and_memtables(make_log):
    log = make_log(maintenance="disabled")
    for i in range(3000):
        log.append(i, i)
    log.flush()
    del log[100:200]
    log.append(150, -1)  # visible: written after the delete
    log.append(5, -2)  # out of order, in the memtable
    t = pa.table(log)
    assert list(zip(t.column("ts").cast(pa.int64()).to_pylist(), t.column("value").to_pylist())) == list(log)
    # Zero-copy too once the deleted records are compacted away and
    # everything is flushed: the stream is then the pages' memory.
    log.flush()
    log.compact()
    spans = list(log.views())
    t2 = pa.table(log)
    assert t2.equals(t)
    assert [c.buffers()[1].address for c in t2.column("ts").chunks] == [addr(s) for s in spans]


def test_range_stream_bounds(make_log):
    log = compacted(make_log, n=1000, value=lambda i: i)
    vals = lambda st: pa.table(st).column("value").to_pylist()  # noqa: E731
    assert vals(log.arrow(10, 20)) == list(range(10, 20))
    assert vals(log.arrow(990)) == list(range(990, 1000))
    assert vals(log.arrow(t2=3)) == [0, 1, 2]
    assert vals(log.arrow(5, 5)) == []
    with pytest.raises(ValueError, match="t1=20 is greater than t2=10"):
        log.arrow(20, 10)
    with pytest.raises(ValueError, match="payloads must be"):
        log.arrow(payloads="yes")
    with pytest.raises(ValueError, match="batch_rows must be > 0"):
        log.arrow(batch_rows=0)


def test_stream_object_is_one_snapshot_and_repeatable(make_log):
    log = make_log(maintenance="disabled")
    log.extend((i, i) for i in range(100))
    st = log.arrow()
    log.append(1000, 1)
    del log[0:50]
    a, b = pa.table(st), pa.table(st)
    assert a.equals(b)
    assert a.column("value").to_pylist() == list(range(100))
    assert pa.schema(st) == a.schema
    assert "ArrowStream" in repr(st)


def test_merged_stream_batches(make_log):
    log = make_log(maintenance="disabled")
    log.extend((i, i) for i in range(1000))  # memtable: merged and copied
    r = pa.RecordBatchReader.from_stream(log.arrow(batch_rows=300))
    assert [len(b) for b in r] == [300, 300, 300, 100]


def test_views_stream_is_physical_and_does_not_consume(make_log):
    log = compacted(make_log, n=20000, value=lambda i: i)
    del log[0:10]  # not compacted: still in the pages
    it = log.views()
    n = len(it)
    t = pa.table(it)
    assert len(it) == n, "exporting does not consume the iterator"
    assert t.num_rows == 20000
    spans = list(it)
    assert [c.buffers()[1].address for c in t.column("ts").chunks] == [addr(s) for s in spans]
    assert pa.table(log).num_rows == 19990


def test_empty_exports(make_log):
    log = make_log(maintenance="disabled", time_unit="ns")
    t = pa.table(log)
    assert t.num_rows == 0
    assert t.schema.field("ts").type == pa.timestamp("ns")
    assert t.schema.names == ["ts", "value"]  # all (zero) payloads convert: a null column
    # An empty views() iterator holds no span to learn the unit from.
    e = pa.table(log.views())
    assert e.num_rows == 0 and e.schema.field("ts").type == pa.int64()


# ----- the payload column rule -------------------------------------------


@pytest.mark.parametrize(
    "values, typ",
    [
        ([1, 2, None, -3], pa.int64()),
        ([1, 2.5, None], pa.float64()),
        (["a", None, "ü"], pa.string()),
        ([b"x", None, b""], pa.binary()),
        ([True, None, False], pa.bool_()),
        ([None, None], pa.null()),
    ],
)
def test_payload_column_types(make_log, values, typ):
    log = make_log(maintenance="disabled")
    log.extend(enumerate(values))
    t = pa.table(log)
    assert t.schema.field("value").type == typ
    assert t.column("value").to_pylist() == pa.array(values, type=typ).to_pylist()
    # "require" succeeds whenever "auto" gives a column.
    assert pa.table(log.arrow(payloads="require")).equals(t)


@pytest.mark.parametrize(
    "values",
    [[1, "a"], [{"k": 1}], [2**70], [True, 1], [1.5, b"x"], [object()]],
    ids=["int+str", "dict", "bigint", "bool+int", "float+bytes", "object"],
)
def test_unconvertible_payloads(make_log, values):
    log = make_log(maintenance="disabled")
    log.extend(enumerate(values))
    t = pa.table(log)
    assert t.schema.names == ["ts"], "auto omits a column pyarrow could not type"
    assert t.num_rows == len(values)
    with pytest.raises(TypeError, match=r"payloads='omit'") as ei:
        pa.table(log.arrow(payloads="require"))
    assert f"record {len(values) - 1}" in str(ei.value)
    assert pa.table(log.arrow(payloads="omit")).equals(t)


def test_omit_never_reads_payloads(make_log):
    class Loud:
        def __eq__(self, other):  # pragma: no cover - must not be called
            raise AssertionError("payload read")

    log = make_log(maintenance="disabled")
    log.extend((i, Loud()) for i in range(10))
    assert pa.table(log.arrow(payloads="omit")).schema.names == ["ts"]


# ----- polars -----------------------------------------------------------


def test_polars(make_log):
    pl = _polars()
    log = compacted(make_log, n=20000, unit="us", value=lambda i: i)
    spans = list(log.views())
    df = pl.DataFrame(log)
    assert df.columns == ["ts", "value"]
    assert df.schema["ts"] == pl.Datetime("us")
    assert df["value"].to_list() == list(range(20000))
    back = df.to_arrow().column("ts").chunks
    assert [c.buffers()[1].address for c in back] == [addr(s) for s in spans], "polars holds the pages' memory"
    df2 = pl.from_arrow(pa.table(log.arrow(100, 200)))
    assert df2["value"].to_list() == list(range(100, 200))
    s = pl.Series(spans[0])
    assert s.len() == len(spans[0])
    del df, df2, s, back
    for sp in spans:
        sp.close()
    release_all()


# ----- DuckDB -----------------------------------------------------------


def test_duckdb_over_a_log(make_log):
    duckdb = _duckdb()
    log = compacted(make_log, n=20000, value=lambda i: i % 7)
    del log[0:1000]
    log.append(5, 100)
    tbl = log  # noqa: F841 - DuckDB's replacement scan finds it by name
    # ts arrives as TIMESTAMP_MS; DuckDB 2.0's epoch_ms() needs a plain
    # TIMESTAMP (it fails with "Unimplemented type for cast" otherwise).
    got = duckdb.sql("select count(*), sum(value), epoch_ms(min(ts)::timestamp), epoch_ms(max(ts)::timestamp) from tbl").fetchall()[0]
    recs = list(log)
    assert got == (len(recs), sum(v for _, v in recs), min(t for t, _ in recs), max(t for t, _ in recs))
    buckets = duckdb.sql(
        "select (epoch_ms(ts::timestamp) // 5000) as b, count(*) from tbl group by b order by b"
    ).fetchall()
    assert [c for _, c in buckets] == log.histogram(0, 20000, 5000)
    rng = log.arrow(2000, 2010)  # noqa: F841
    assert duckdb.sql("select list(value order by ts) from rng").fetchall()[0][0] == [i % 7 for i in range(2000, 2010)]


# ----- release from other threads ---------------------------------------


class _ArrowArray(ctypes.Structure):
    pass


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowArray))),
    ("private_data", ctypes.c_void_p),
]


def _take_array(capsule) -> _ArrowArray:
    """Moves the ArrowArray out of its capsule, as a C consumer does."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    p = ctypes.cast(get(capsule, b"arrow_array"), ctypes.POINTER(_ArrowArray))
    moved = _ArrowArray()
    ctypes.memmove(ctypes.byref(moved), p, ctypes.sizeof(_ArrowArray))
    p.contents.release = ctypes.cast(None, type(p.contents.release))  # the capsule no longer owns it
    return moved


def test_release_without_the_interpreter_from_another_thread(make_log):
    """The consumer's release callback, called by a thread that is not
    attached to the interpreter (ctypes drops it around foreign calls),
    frees the pin; payloads the exported span was last to hold are
    released at the next attached point."""
    log = make_log(maintenance="disabled")
    payload = object()
    base = sys.getrefcount(payload)
    log.extend((i, payload) for i in range(5000))
    log.flush()
    spans = list(log.views())
    arrays = []
    for s in spans:
        _schema, cap = s.__arrow_c_array__()
        arrays.append(_take_array(cap))
        del cap, _schema
        s.close()
    del spans, s
    assert arrays[0].buffers[1] is not None
    del log[0:5000]
    log.compact()  # the deleted records now live only in the exported pages
    with pytest.raises(TimelogError, match="pinned"):
        log.close()
    errors = []

    def release():
        try:
            for a in arrays:
                a.release(ctypes.byref(a))  # GIL / thread state released by ctypes
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    th = threading.Thread(target=release)
    th.start()
    th.join()
    assert not errors
    assert all(not a.release for a in arrays), "release marks the struct released"
    log.close()  # no pin left
    # The payload references went through the deferred queue; the end of
    # any binding call that released the interpreter drains it.
    log.reopen()
    log.flush()
    assert sys.getrefcount(payload) == base


def test_consumers_drop_exports_on_their_threads(make_log):
    log = compacted(make_log, n=50000, value=lambda i: i)
    tables = [pa.table(log) for _ in range(4)]
    out = []

    def work(t):
        out.append(pa.compute.sum(t.column("value")).as_py())

    ths = [threading.Thread(target=work, args=(t,)) for t in tables]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    del tables, ths
    release_all()
    assert out == [sum(range(50000))] * 4
    log.close()


# ----- to_numpy ---------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_to_numpy_datetime64(make_log, unit):
    log = make_log(maintenance="disabled", time_unit=unit)
    log.extend([(1, 1.0), (2, 2.0)])
    ts, vals = log.to_numpy(datetime=True)
    assert ts.dtype == np.dtype(f"datetime64[{unit}]")
    assert ts.astype(np.int64).tolist() == [1, 2]
    ts2, _ = log.to_numpy()
    assert ts2.dtype == np.int64, "the default is unchanged"
