"""Native time-bucket counts: ``Timelog.count`` and ``Timelog.histogram``
against a Python reference, over memtables and segments, with deletes, and
their argument errors."""

from __future__ import annotations

import random
import sys

import pytest


def naive(records, t1, t2, bucket):
    n = -(-(t2 - t1) // bucket)
    out = [0] * n
    for t, _ in records:
        if t1 <= t < t2:
            out[(t - t1) // bucket] += 1
    return out


def build(make_log, seed=1):
    rng = random.Random(seed)
    log = make_log(maintenance="disabled", memtable_max_bytes=64 << 10, sealed_max_runs=1000)
    base = 0
    for step in range(12):
        for _ in range(rng.randrange(200, 3000)):
            t = base - rng.randrange(2000) if rng.random() < 0.1 else base
            base += rng.choice([0, 0, 1, 2])
            log.append(t, None)
        if rng.random() < 0.5:
            a = base - rng.randrange(3000)
            del log[a : a + rng.randrange(400)]
            log.append(a, None)  # written after the delete: visible
        r = rng.randrange(4)
        if r == 0:
            log.flush()
        elif r == 1:
            log.compact()
    return log, base


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_histogram_matches_python(make_log, seed):
    log, hi = build(make_log, seed)
    recs = list(log)
    rng = random.Random(seed)
    for _ in range(30):
        t1 = rng.randrange(-2100, hi)
        t2 = t1 + rng.randrange(0, hi - t1 + 50)
        bucket = rng.choice([1, 7, 100, 999, max(1, t2 - t1), t2 - t1 + 5])
        want = naive(recs, t1, t2, bucket)
        assert log.histogram(t1, t2, bucket) == want, (t1, t2, bucket)
        assert log.count(t1, t2) == sum(want)
    assert log.count(-(2**63), 2**63 - 1) == len(log)


def test_histogram_layout_and_numpy(log):
    np = pytest.importorskip("numpy", reason="numpy has no wheel for this interpreter")
    log.extend((t, t) for t in range(100))
    log.flush()
    del log[30:50]
    h = log.histogram(0, 100, 30)
    assert h == [30, 10, 30, 10], "aligned at t1, deletes respected, last bucket partial"
    a = log.histogram(0, 100, 30, numpy=True)
    assert isinstance(a, np.ndarray) and a.dtype == np.int64
    assert a.tolist() == h
    a[0] = 1  # a writable array of its own
    assert log.histogram(5, 5, 1) == [] and log.histogram(5, 5, 1, numpy=True).shape == (0,)
    assert log.histogram(10, 11, 1000) == [1]


def test_histogram_is_snapshot_consistent(log):
    log.extend((t, t) for t in range(1000))
    it = log.range(0, 1000)  # an older reader does not change what counts see
    del log[0:500]
    assert log.count(0, 1000) == 500
    assert sum(log.histogram(0, 1000, 10)) == 500
    assert len(it) == 1000
    it.close()


def test_histogram_errors(log):
    log.append(1, 1)
    with pytest.raises(ValueError, match="bucket width must be > 0"):
        log.histogram(0, 10, 0)
    with pytest.raises(ValueError, match="bucket width must be > 0"):
        log.histogram(0, 10, -5)
    with pytest.raises(ValueError, match="t1=10 is greater than t2=0"):
        log.histogram(10, 0, 1)
    with pytest.raises(ValueError, match="t1=10 is greater than t2=0"):
        log.count(10, 0)
    with pytest.raises(ValueError, match=r"more than the limit of 16777216; use a bucket width of at least 64 or a shorter range"):
        log.histogram(0, 1 << 30, 1)
    with pytest.raises(TypeError, match="bucket must be an int"):
        log.histogram(0, 10, 1.5)
    with pytest.raises(TypeError, match="timestamp must be an int"):
        log.count(0.5, 10)
    log.close()
    with pytest.raises(Exception, match="closed"):
        log.histogram(0, 10, 1)


def test_histogram_numpy_missing_says_how_to_install(log, monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy -> ImportError
    with pytest.raises(ModuleNotFoundError, match="pip install numpy"):
        log.histogram(0, 10, 1, numpy=True)
    assert log.histogram(0, 10, 5) == [0, 0]
