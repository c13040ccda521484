"""Zero-copy views: views()/page_spans(), PageSpan, PageSpanObjectsView."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from timelog import PageSpan, PageSpanIter, PageSpanObjectsView

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@pytest.fixture
def flushed(log):
    log.extend([(i, f"o{i}") for i in range(0, 20, 2)])  # 0, 2, ..., 18
    log.flush()
    return log


def _spans(spi):
    out = []
    for span in spi:
        out.append((span.copy_timestamps(), span.objects().copy()))
        span.close()
    spi.close()
    return out


def _all_ts(spi):
    return [t for stamps, _ in _spans(spi) for t in stamps]


def test_views_types(flushed):
    spi = flushed.views()
    assert isinstance(spi, PageSpanIter)
    assert iter(spi) is spi
    span = next(spi)
    assert isinstance(span, PageSpan)
    objs = span.objects()
    assert isinstance(objs, PageSpanObjectsView)
    del objs
    span.close()
    spi.close()


def test_views_cover_all_flushed_records(flushed):
    spans = _spans(flushed.views())
    assert [t for stamps, _ in spans for t in stamps] == list(range(0, 20, 2))
    assert [o for _, objs in spans for o in objs] == [f"o{i}" for i in range(0, 20, 2)]


def test_views_and_page_spans_bounds(flushed):
    assert _all_ts(flushed.views(3, 9)) == [4, 6, 8]
    assert _all_ts(flushed.page_spans(3, 9)) == [4, 6, 8]
    assert _all_ts(flushed.views(4, 8)) == [4, 6]  # half-open
    assert _all_ts(flushed.views(100, 200)) == []
    assert _all_ts(flushed.views(5, 5)) == []
    assert _all_ts(flushed.page_spans(INT64_MIN, INT64_MAX)) == list(range(0, 20, 2))


def test_views_kind_segment(flushed):
    assert _all_ts(flushed.views(kind="segment")) == list(range(0, 20, 2))
    assert _all_ts(flushed.page_spans(0, 5, kind="segment")) == [0, 2, 4]


def test_views_bad_kind(flushed):
    with pytest.raises(ValueError):
        flushed.views(kind="no-such-kind")


@pytest.mark.parametrize("kind", ["page", "SEGMENT", ""])
def test_views_kind_other_than_segment_is_refused_as_in_the_c_package(flushed, kind):
    # 'segment' is the one kind (the C package's message); 'page' used to be
    # accepted and ignored.
    with pytest.raises(ValueError, match=f"kind must be 'segment', got '{kind}'"):
        flushed.views(kind=kind)
    with pytest.raises(ValueError, match="kind must be 'segment'"):
        flushed.page_spans(0, 10, kind=kind)


@pytest.mark.parametrize(
    "call",
    [
        lambda log: log.views(3),
        lambda log: log.views(t2=3),
        lambda log: log.views(None, 3),
        lambda log: log.views(3, None),
    ],
    ids=["t1-only", "t2-kw-only", "None-t2", "t1-None"],
)
def test_views_both_or_neither_bounds(flushed, call):
    with pytest.raises(ValueError):
        call(flushed)


def test_views_reversed_bounds(flushed):
    with pytest.raises(ValueError):
        flushed.views(9, 3)


def test_views_see_only_flushed_data(log):
    log.extend([(i, i) for i in range(5)])
    assert _all_ts(log.views()) == []
    log.flush()
    assert _all_ts(log.views()) == [0, 1, 2, 3, 4]
    log.append(10, "memtable")
    assert _all_ts(log.views()) == [0, 1, 2, 3, 4]
    log.flush()
    assert sorted(_all_ts(log.views())) == [0, 1, 2, 3, 4, 10]


def test_views_reflect_physical_storage_not_tombstones(flushed):
    flushed.delete(4, 10)
    assert _all_ts(flushed.views()) == list(range(0, 20, 2))
    assert [ts for ts, _ in flushed] == [0, 2, 10, 12, 14, 16, 18]


def test_page_span_attributes(flushed):
    with flushed.views(3, 13) as spi:
        spans = list(spi)
    assert spans
    for span in spans:
        stamps = span.copy_timestamps()
        assert isinstance(stamps, list)
        assert len(span) == len(stamps) > 0
        assert span.start_ts == stamps[0]
        assert span.last_ts == stamps[-1]
        assert span.end_ts == stamps[-1]
        assert all(3 <= t < 13 for t in stamps)
        assert stamps == sorted(stamps)
        span.close()


def test_multiple_pages(make_log):
    log = make_log(maintenance="disabled", target_page_bytes=256)
    log.extend([(i, i) for i in range(2000)])
    log.flush()
    with log.views() as spi:
        spans = list(spi)
    assert len(spans) > 1
    total = []
    for span in spans:
        total.extend(span.copy_timestamps())
        assert list(span.objects()) == span.copy_timestamps()
        span.close()
    assert total == list(range(2000))


def test_timestamps_memoryview(flushed):
    with flushed.views() as spi:
        span = next(spi)
    mv = span.timestamps
    assert isinstance(mv, memoryview)
    assert mv.format == "q"
    assert mv.itemsize == 8
    assert mv.ndim == 1
    assert mv.readonly is True
    assert mv.c_contiguous
    assert mv.shape == (len(span),)
    assert mv.tolist() == span.copy_timestamps()
    with pytest.raises(TypeError):
        mv[0] = 99
    mv.release()
    span.close()


def test_timestamps_numpy_zero_copy(flushed):
    with flushed.views() as spi:
        span = next(spi)
    arr = np.frombuffer(span.timestamps, dtype=np.int64)
    arr2 = np.frombuffer(span.timestamps, dtype=np.int64)
    assert arr.tolist() == span.copy_timestamps()
    assert np.shares_memory(arr, arr2)  # same underlying page, no copy
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1
    view_arr = np.asarray(span.timestamps)
    assert view_arr.dtype == np.int64
    assert np.shares_memory(view_arr, arr)
    del arr, arr2, view_arr
    gc.collect()
    span.close()


def test_objects_view(flushed):
    with flushed.views(4, 12) as spi:
        span = next(spi)
    objs = span.objects()
    n = len(span)
    assert len(objs) == n
    assert objs[0] == "o4"
    assert objs[-1] == "o10"
    assert objs[-n] == "o4"
    assert list(objs) == ["o4", "o6", "o8", "o10"]
    copied = objs.copy()
    assert copied == ["o4", "o6", "o8", "o10"]
    assert isinstance(copied, list)
    copied.append("mutating the copy does not affect the view")
    assert len(objs) == n
    with pytest.raises(IndexError):
        objs[n]
    del objs
    span.close()


def test_objects_view_negative_index_out_of_range(flushed):
    with flushed.views(4, 12) as spi:
        span = next(spi)
    objs = span.objects()
    n = len(objs)
    for bad in (-n - 1, -n - 2, -100):
        with pytest.raises(IndexError):
            objs[bad]
    del objs
    span.close()


def test_objects_view_returns_stored_objects(log):
    payload = {"big": "object"}
    log.append(1, payload)
    log.flush()
    with log.views() as spi:
        span = next(spi)
    assert span.objects()[0] is payload
    span.close()


def test_page_span_close_and_context_manager(flushed):
    with flushed.views() as spi:
        span = next(spi)
    assert span.closed is False
    span.close()
    assert span.closed is True
    span.close()  # idempotent
    with flushed.views() as spi:
        with next(spi) as span2:
            assert span2.closed is False
        assert span2.closed is True


def test_page_span_iter_close(flushed):
    spi = flushed.views()
    assert spi.closed is False
    spi.close()
    assert spi.closed is True
    with pytest.raises(StopIteration):
        next(spi)
    with flushed.views() as spi2:
        pass
    assert spi2.closed is True


def test_close_span_with_exported_memoryview_raises_buffer_error(flushed):
    with flushed.views() as spi:
        span = next(spi)
    mv = span.timestamps
    with pytest.raises(BufferError):
        span.close()
    assert span.closed is False
    mv.release()
    span.close()
    assert span.closed is True


def test_close_span_with_numpy_wrapper_raises_buffer_error(flushed):
    with flushed.views() as spi:
        span = next(spi)
    arr = np.frombuffer(span.timestamps, dtype=np.int64)
    with pytest.raises(BufferError):
        span.close()
    del arr
    gc.collect()
    span.close()


def test_span_survives_later_writes_and_compaction(flushed, compact_fully):
    with flushed.views() as spi:
        span = next(spi)
    mv = span.timestamps
    before = mv.tolist()
    objs_before = span.objects().copy()
    flushed.delete_before(INT64_MAX)
    flushed.extend([(i, i) for i in range(100)])
    compact_fully(flushed)
    assert mv.tolist() == before
    assert span.objects().copy() == objs_before
    mv.release()
    span.close()
