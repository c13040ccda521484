"""Reader pins: close() refuses while readers are alive, succeeds after."""

from __future__ import annotations

import gc
import re

import numpy as np
import pytest

from timelog import Timelog, TimelogError


@pytest.fixture
def flushed(log):
    log.extend([(i, i) for i in range(10)])
    log.flush()
    return log


def _assert_close_refused(log, n=None):
    with pytest.raises(TimelogError) as excinfo:
        log.close()
    msg = str(excinfo.value)
    assert "pinned" in msg.lower(), msg
    assert "close()" in msg, msg  # says how to release them / what to do
    if n is not None:
        assert re.search(rf"\b{n}\b", msg), msg
    assert log.closed is False
    return msg


def test_live_iterator_pins(flushed):
    it = flushed.all()
    _assert_close_refused(flushed, 1)
    # The log is still fully usable after a refused close.
    assert len(flushed) == 10
    assert next(it) == (0, 0)
    it.close()
    flushed.close()
    assert flushed.closed


def test_pin_count_in_message(flushed):
    a = flushed.all()
    b = flushed.range(0, 5)
    c = flushed.point(3)
    _assert_close_refused(flushed, 3)
    a.close()
    _assert_close_refused(flushed, 2)
    list(b)  # exhaustion releases the pin
    _assert_close_refused(flushed, 1)
    del c
    gc.collect()
    flushed.close()


def test_half_consumed_iterator_released_by_del(flushed):
    it = flushed.all()
    next(it)
    _assert_close_refused(flushed)
    del it
    gc.collect()
    flushed.close()


def test_exhausted_iterator_releases_pin_while_referenced(flushed):
    it = flushed.all()
    assert len(list(it)) == 10
    flushed.close()
    assert it.closed


def test_iterator_context_manager_releases(flushed):
    with flushed.range(2, 8) as it:
        next(it)
        _assert_close_refused(flushed)
    flushed.close()


def test_page_span_iter_pins(flushed):
    spi = flushed.views()
    _assert_close_refused(flushed)
    spi.close()
    flushed.close()


def test_page_span_pins(flushed):
    with flushed.views() as spi:
        span = next(spi)
    _assert_close_refused(flushed)
    span.close()
    flushed.close()


def test_page_span_released_by_del(flushed):
    with flushed.views() as spi:
        span = next(spi)
    _assert_close_refused(flushed)
    del span
    gc.collect()
    flushed.close()


def test_objects_view_pins(flushed):
    with flushed.views() as spi:
        span = next(spi)
    objs = span.objects()
    del span
    gc.collect()
    _assert_close_refused(flushed)
    assert list(objs) == list(range(10))
    del objs
    gc.collect()
    flushed.close()


def test_exported_memoryview_pins(flushed):
    with flushed.views() as spi:
        span = next(spi)
    mv = span.timestamps
    del span
    gc.collect()
    _assert_close_refused(flushed)
    assert mv.tolist() == list(range(10))
    mv.release()
    gc.collect()
    flushed.close()


def test_numpy_array_over_memoryview_pins(flushed):
    with flushed.views() as spi:
        span = next(spi)
    arr = np.frombuffer(span.timestamps, dtype=np.int64)
    del span
    gc.collect()
    _assert_close_refused(flushed)
    assert arr.tolist() == list(range(10))
    del arr
    gc.collect()
    flushed.close()


def test_iterator_view_pins(flushed):
    it = flushed.all()
    view = it.view()
    it.close()
    _assert_close_refused(flushed)
    view.close()
    flushed.close()


def test_context_manager_exit_with_live_reader_raises(make_log):
    with pytest.raises(TimelogError):
        with Timelog(maintenance="disabled") as log:
            make_log.track(log)
            log[1] = "a"
            it = log.all()
    assert not log.closed
    it.close()
    log.close()
    assert log.closed


def test_close_after_refusal_and_release_discards_everything(flushed):
    it = flushed.all()
    _assert_close_refused(flushed)
    it.close()
    flushed.close()
    with pytest.raises(TimelogError, match="closed"):
        len(flushed)


def test_reader_outlives_close_attempts_and_keeps_snapshot(flushed):
    it = flushed.all()
    flushed.delete_before(100)
    _assert_close_refused(flushed)
    assert list(it) == [(i, i) for i in range(10)]
    flushed.close()


def test_readers_on_other_logs_do_not_pin(make_log):
    a = make_log(maintenance="disabled")
    b = make_log(maintenance="disabled")
    a[1] = "a"
    b[1] = "b"
    it = a.all()
    b.close()
    assert b.closed
    _assert_close_refused(a)
    it.close()
    a.close()
