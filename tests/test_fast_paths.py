"""The hand-written read entry points (py/src/fast.rs `install_reads`) and
the iterator's `tp_iternext` slot (py/src/iter.rs `iternext`): same
results, arguments and errors as the pyo3 methods they replace."""

import gc
import inspect
import sys

import pytest

from timelog import Timelog, _timelog


@pytest.fixture
def log():
    lg = Timelog(maintenance="disabled")
    lg.extend([(t, f"v{t}") for t in range(10)])
    lg.append(3, "v3b")
    yield lg
    lg.close()


def test_range_argument_forms(log):
    want = [(2, "v2"), (3, "v3"), (3, "v3b"), (4, "v4")]
    assert list(log.range(2, 5)) == want
    assert list(log.range(2, t2=5)) == want
    assert list(log.range(t1=2, t2=5)) == want
    assert list(log.range(t2=5, t1=2)) == want
    assert list(log.range(2, 5, reverse=False)) == want
    assert list(log.range(2, 5, reverse=True)) == want[::-1]
    assert list(log.range(t1=2, t2=5, reverse=True)) == want[::-1]


def test_range_argument_errors(log):
    with pytest.raises(TypeError, match="missing required argument 't2'"):
        log.range(1)
    with pytest.raises(TypeError, match="missing required argument 't1'"):
        log.range(t2=1)
    with pytest.raises(TypeError, match="at most 2 positional"):
        log.range(1, 2, True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'rev'"):
        log.range(1, 2, rev=True)
    with pytest.raises(TypeError, match="multiple values for argument 't1'"):
        log.range(1, 2, t1=1)
    # `reverse` is a bool, as the pyo3 signature required (not an int).
    with pytest.raises(TypeError, match="reverse"):
        log.range(1, 2, reverse=1)
    with pytest.raises(ValueError, match="greater than"):
        log.range(5, 1)
    with pytest.raises(TypeError):
        log.range("a", 2)
    with pytest.raises(OverflowError):
        log.range(0, 2**64)


def test_point_equal_at(log):
    assert list(log.point(3)) == [(3, "v3"), (3, "v3b")]
    assert list(log.point(ts=3)) == [(3, "v3"), (3, "v3b")]
    assert list(log.equal(3)) == [(3, "v3"), (3, "v3b")]
    assert log.at(3) == ["v3", "v3b"]
    assert log.at(ts=3) == ["v3", "v3b"]
    assert log.at(99) == []
    assert list(log.point(99)) == []
    for f in (log.point, log.equal, log.at):
        with pytest.raises(TypeError, match="exactly 1"):
            f()
        with pytest.raises(TypeError, match="exactly 1"):
            f(1, 2)
        with pytest.raises(TypeError, match="unexpected keyword argument 't'"):
            f(t=1)
        with pytest.raises(TypeError, match="multiple values"):
            f(1, ts=1)
        with pytest.raises(TypeError):
            f(1.5)


def test_reads_on_a_closed_log_raise(log):
    from timelog import TimelogError

    log.close()
    for call in (lambda: log.range(0, 1), lambda: log.point(0), lambda: log.equal(0), lambda: log.at(0)):
        with pytest.raises(TimelogError):
            call()


def test_signatures_and_docs():
    sig = inspect.signature(Timelog.range)
    assert list(sig.parameters) == ["self", "t1", "t2", "reverse"]
    assert sig.parameters["reverse"].kind is inspect.Parameter.KEYWORD_ONLY
    for name in ("point", "equal", "at"):
        assert list(inspect.signature(getattr(Timelog, name)).parameters) == ["self", "ts"]
    for name in ("range", "point", "equal", "at"):
        assert "Raises:" in getattr(Timelog, name).__doc__


def test_next_slot_and_next_method_agree(log):
    # `for`/next() call the tp_iternext slot; it.__next__() is pyo3's method.
    it = log.all()
    got = []
    while True:
        got.append(next(it, None))
        if got[-1] is None:
            break
        got.append(it.__next__() if len(it) else None)
        if got[-1] is None:
            break
    assert [g for g in got if g is not None] == list(log)
    # Exhausted: both stop, again and again.
    assert next(it, "end") == "end"
    with pytest.raises(StopIteration):
        it.__next__()
    with pytest.raises(StopIteration):
        next(it)
    assert it.closed


def test_tuples_kept_by_the_caller_are_never_refilled(log):
    # The slot refills a spare tuple only when the iterator holds its last
    # reference: rows a caller keeps stay as they were.
    rows = list(log.all())
    kept = []
    for r in log.all():
        kept.append(r)
    assert kept == rows
    pairs = []
    it = log.all()
    a = next(it)
    b = next(it)
    c = next(it)  # would refill a's tuple if a were not held
    pairs = [a, b, c]
    assert pairs == rows[:3]


@pytest.mark.parametrize("n", [1, 2, 3, 31, 32, 33, 34, 35, 40, 100])
def test_rows_right_after_a_length_hint(n):
    # `len(it)` (asked by list(), tuple() and list.extend before they
    # collect) makes the slot keep no spare tuple for the next 32 rows; a
    # loop that lets go of its rows meanwhile, and across the point where
    # spares are kept and refilled again, still gets every row right, as
    # does one that asks again mid-way.
    lg = Timelog(maintenance="disabled")
    for t in range(200):
        lg.append(t, str(t) if t % 3 else t)
    want = [(t, str(t) if t % 3 else t) for t in range(10, 10 + n)]
    it = lg.range(10, 10 + n)
    assert len(it) == n
    got = [(ts, obj) for ts, obj in it]  # unpacked: each tuple let go at once
    assert got == want
    it = lg.range(10, 10 + n)
    got = []
    for i, r in enumerate(it):
        got.append((r[0], r[1]))
        if i % 7 == 3:
            assert len(it) == n - i - 1
    assert got == want
    assert list(lg.range(10, 10 + n)) == want


# Timestamps across every digit count of a 64-bit int (30-bit digits:
# 1, 2, 3), both signs, CPython's cached small ints (-5..256) and the
# edges between them: a scan rewrites the previous row's `int` in place
# only when it keeps its digit count and is not a small int.
_EDGE_TS = sorted(
    {
        -(2**63), -(2**63) + 1, -(2**62), -(2**60) - 1, -(2**60), -(2**60) + 1, -(2**30) - 1, -(2**30),
        -(2**30) + 1, -1000, -257, -6, -5, -4, -1, 0, 1, 2, 255, 256, 257, 258, 1000, 2**30 - 1, 2**30,
        2**30 + 1, 2**31, 2**59, 2**60 - 1, 2**60, 2**60 + 1, 2**62, 2**63 - 2, 2**63 - 1,
    }
    | set(range(-300, 300, 7))
    | set(range(2**30 - 20, 2**30 + 20, 3))
)


def _edge_log():
    lg = Timelog(maintenance="disabled")
    for i, t in enumerate(_EDGE_TS):
        lg.append(t, i)
    return lg


def test_scanned_timestamps_are_right_at_every_digit_count():
    # The reused ints equal, hash and compare as fresh ones, in every
    # consumer that lets go of the row (for, unpacking, sum, a dict built
    # from copies) and in both orders.
    lg = _edge_log()
    want = list(_EDGE_TS)
    got = []
    for ts, _ in lg:
        got.append(ts + 0)  # a new int: the row's own may be reused
    assert got == want
    assert [ts + 0 for ts, _ in lg.all(reverse=True)] == want[::-1]
    assert sum(ts for ts, _ in lg) == sum(want)
    assert {int(str(ts)) for ts, _ in lg} == set(want)
    hashes = [hash(r[0]) for r in lg]
    assert hashes == [hash(t) for t in want]
    eq = [r[0] == t for r, t in zip(lg, want)]
    assert all(eq)
    for t, r in zip(want, lg):
        assert (r[0] < t, r[0] > t, r[0] == t, -r[0] == -t, r[0] // 7 == t // 7) == (False, False, True, True, True)
    lg.close()


def test_argument_ints_are_read_right_at_every_digit_count():
    # The fast entry points read an exact int's digits directly (GIL
    # builds before 3.14, `ints::read`; elsewhere the C API): every
    # timestamp argument at every digit-count edge and sign, and the
    # int64 ends (i64::MIN: the C API's path), reads as its value.
    lg = _edge_log()
    want = list(_EDGE_TS)
    for i, t in enumerate(want):
        assert lg[t] == [i] and lg.at(t) == [i]
        assert list(lg.point(t)) == [(t, i)]
        assert t in lg
        nxt = want[i + 1] if i + 1 < len(want) else None
        prv = want[i - 1] if i > 0 else None
        assert lg.next_ts(t) == nxt and lg.prev_ts(t) == prv
        if nxt is not None:
            assert list(lg.range(t, nxt)) == [(t, i)]
    for i, t in enumerate(want[:-1]):  # the last: t + 1 is past int64
        lg.delete_range(t, t + 1)
        assert lg.min_ts() == want[i + 1]
    lg.close()
    lg = _edge_log()
    for i, t in enumerate(want):
        lg.delete_before(t)
        assert lg.min_ts() == t and len(lg) == len(want) - i
    lg.close()


def test_small_timestamps_are_cached_ints():
    # -5..256 always come out as CPython's shared objects, also right
    # after a larger timestamp whose int could have been rewritten.
    lg = _edge_log()
    small = list(range(-5, 257))
    for ts, _ in lg:
        if -5 <= ts <= 256:
            assert ts is small[ts + 5]
    lg.close()


def test_timestamps_kept_by_the_caller_are_never_changed():
    # An int the caller still references (kept, in a kept tuple, as a
    # dict key) is never rewritten: later rows do not change it.
    lg = _edge_log()
    kept, tuples, keys = [], [], {}
    for ts, i in lg:
        kept.append(ts)
    for r in lg:
        tuples.append(r)
    for ts, i in lg:
        keys[ts] = i
    assert kept == list(_EDGE_TS)
    assert [r[0] for r in tuples] == list(_EDGE_TS)
    assert sorted(keys) == list(_EDGE_TS) and all(keys[t] == i for i, t in enumerate(_EDGE_TS))
    it = lg.all()
    a, b, c = next(it)[0], next(it)[0], next(it)[0]
    rest = [ts for ts, _ in it]
    assert [a, b, c] + rest == list(_EDGE_TS)
    lg.close()


def test_int_reuse_is_on_exactly_where_it_is_sound():
    # GIL builds before 3.14 with 30-bit digits reuse ints (the layout
    # probe at import passed); free-threaded builds never do.
    import sysconfig

    from timelog import _timelog

    if sysconfig.get_config_var("Py_GIL_DISABLED") or sys.version_info >= (3, 14):
        assert _timelog._int_reuse is False
    else:
        assert _timelog._int_reuse is (sys.int_info.bits_per_digit == 30 and sys.int_info.sizeof_digit == 4)


def test_refcounts_stay_balanced_through_the_slot():
    payload = object()
    lg = Timelog(maintenance="disabled")
    lg.extend([(t, payload) for t in range(1000)])
    base = sys.getrefcount(payload)
    for _ in range(3):
        for _r in lg:
            pass
        del _r
    for _ in range(3):
        list(lg.range(0, 500))
        lg.at(3)
        list(lg.point(4))
    gc.collect()
    assert sys.getrefcount(payload) == base
    lg.close()
    del lg
    gc.collect()
    assert sys.getrefcount(payload) == 2


def test_in_use_error_from_the_slot_is_a_runtime_error():
    # A __del__ run by a collection inside the iterator's own call that
    # calls next(it): the inner call finds it owned (RuntimeError from the
    # tp_iternext slot, raised as a Python exception), leaves it owned, and
    # no row is lost.
    lg = Timelog(maintenance="disabled")
    lg.extend([(t, t) for t in range(2000)])
    it = lg.all()
    seen = []

    class Cyclic:
        def __init__(self):
            self.me = self

        def __del__(self):
            try:
                if next(it, None) is not None:
                    seen.append("ran")
            except RuntimeError as e:
                assert "already executing" in str(e)
                seen.append("busy")
                # A call that finds the iterator owned must leave it owned:
                # a second one raises too (it once gave the flag back).
                try:
                    len(it)
                    seen.append("second call ran inside the owner")
                except RuntimeError:
                    pass

    gc.disable()
    try:
        for _ in range(200):
            Cyclic()
        gc.set_threshold(1)
        gc.enable()
        # next_batch allocates its tuples inside the owned call, so the
        # collections (threshold 1) run there; the __del__ then calls the
        # slot (next) and a method (len) on the owned iterator.
        rows = []
        while True:
            b = it.next_batch(7)
            if not b:
                break
            rows += b
    finally:
        gc.set_threshold(700)
        gc.enable()
    gc.collect()
    assert len(rows) + seen.count("ran") == 2000
    assert "second call ran inside the owner" not in seen
    if "busy" not in seen:
        # From CPython 3.12 a collection an allocation asks for runs at the
        # interpreter's next eval-breaker check, never inside a C call:
        # nothing ran inside the iterator's call, so nothing is proven here.
        assert sys.version_info >= (3, 12), "no collection ran inside the iterator's call"
        pytest.skip("collections do not run inside C calls on CPython >= 3.12")
    lg.close()


# ----- session 7: since/until/all entry points, slots without pyo3's wrappers


def test_since_until_all_argument_forms(log):
    rows = list(log)
    assert list(log.since(4)) == [r for r in rows if r[0] >= 4]
    assert list(log.since(ts=4)) == [r for r in rows if r[0] >= 4]
    assert list(log.since(4, reverse=True)) == [r for r in rows if r[0] >= 4][::-1]
    assert list(log.since(ts=4, reverse=False)) == [r for r in rows if r[0] >= 4]
    assert list(log.until(4)) == [r for r in rows if r[0] < 4]
    assert list(log.until(ts=4)) == [r for r in rows if r[0] < 4]
    assert list(log.until(4, reverse=True)) == [r for r in rows if r[0] < 4][::-1]
    assert list(log.all()) == rows
    assert list(log.all(reverse=False)) == rows
    assert list(log.all(reverse=True)) == rows[::-1]
    # An `__index__` timestamp goes through the trampolined entry point.
    class Idx:
        def __index__(self):
            return 4

    assert list(log.since(Idx())) == list(log.since(4))
    assert list(log.until(Idx())) == list(log.until(4))


def test_since_until_all_argument_errors(log):
    for f in (log.since, log.until):
        with pytest.raises(TypeError, match="missing required argument 'ts'"):
            f()
        with pytest.raises(TypeError, match="missing required argument 'ts'"):
            f(reverse=True)
        with pytest.raises(TypeError, match="at most 1 positional"):
            f(1, True)
        with pytest.raises(TypeError, match="unexpected keyword argument 't'"):
            f(t=1)
        with pytest.raises(TypeError, match="multiple values for argument 'ts'"):
            f(1, ts=1)
        with pytest.raises(TypeError, match="reverse"):
            f(1, reverse=1)
        with pytest.raises(TypeError, match="bool not allowed"):
            f(True)
        with pytest.raises(TypeError):
            f(1.5)
        with pytest.raises(OverflowError):
            f(2**64)
    with pytest.raises(TypeError, match="no positional"):
        log.all(True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'rev'"):
        log.all(rev=True)
    with pytest.raises(TypeError, match="reverse"):
        log.all(reverse=1)


def test_since_until_all_on_a_closed_log_raise(log):
    from timelog import TimelogError

    log.close()
    calls = (lambda: log.since(0), lambda: log.until(0), lambda: log.all(), lambda: log[0:1], lambda: log[:])
    for call in calls:
        with pytest.raises(TimelogError):
            call()
    # The trampolined forms raise the same.
    for call in (lambda: log.since(0, reverse=True), lambda: log.all(reverse=True)):
        with pytest.raises(TimelogError):
            call()


def test_since_until_all_signatures_and_docs():
    for name in ("since", "until"):
        sig = inspect.signature(getattr(Timelog, name))
        assert list(sig.parameters) == ["self", "ts", "reverse"]
        assert sig.parameters["reverse"].kind is inspect.Parameter.KEYWORD_ONLY
    sig = inspect.signature(Timelog.all)
    assert list(sig.parameters) == ["self", "reverse"]
    assert sig.parameters["reverse"].kind is inspect.Parameter.KEYWORD_ONLY
    for name in ("since", "until", "all"):
        assert "Raises:" in getattr(Timelog, name).__doc__


def test_slices_on_the_fast_and_the_slow_path_agree(log):
    rows = list(log)

    class Idx:
        def __init__(self, v):
            self.v = v

        def __index__(self):
            return self.v

    # Exact ints and None: the slot's fast path; __index__ objects and a
    # step of 1: pyo3's __getitem__. Same rows.
    assert list(log[2:5]) == list(log[Idx(2):Idx(5)]) == list(log[2:5:1]) == [r for r in rows if 2 <= r[0] < 5]
    assert list(log[:5]) == list(log[None:Idx(5)]) == [r for r in rows if r[0] < 5]
    assert list(log[5:]) == list(log[Idx(5):None]) == [r for r in rows if r[0] >= 5]
    assert list(log[:]) == rows
    assert list(log[5:2]) == []
    with pytest.raises(TypeError, match="bool not allowed"):
        log[True:5]
    with pytest.raises(OverflowError):
        log[0 : 2**64]
    with pytest.raises(ValueError, match="step"):
        log[0:5:2]


@pytest.mark.skipif(
    not hasattr(_timelog, "_test_subscript_is_fast"), reason="extension built without the test-hooks feature"
)
def test_subclasses_read_slices_through_the_fast_entry(log):
    # `timelog.Timelog` is a Python subclass of the extension type, and a
    # subclass takes its `mp_subscript` from the `__getitem__` slot wrapper
    # it inherits, not from its base's slot. Only the slot was replaced,
    # so `log[t1:t2]` of every subclass went through pyo3's `__getitem__`
    # (2.5x the cost; on free-threaded 3.13 its attribute lookups could
    # detach inside the call, which aborted processes exiting with daemon
    # threads slicing, tests/test_exit.py). The wrapper now calls the fast
    # entry too.
    class Mine(Timelog):
        pass

    class Own(Timelog):
        def __getitem__(self, key):
            return ("own", key)

    assert _timelog._test_subscript_is_fast(_timelog.Timelog)
    assert _timelog._test_subscript_is_fast(Timelog)
    assert _timelog._test_subscript_is_fast(Mine)
    assert not _timelog._test_subscript_is_fast(Own)
    own = Own(maintenance="disabled")
    assert own[1:2] == ("own", slice(1, 2))
    own.close()
    rows = list(log)
    mine = Mine(maintenance="disabled")
    mine.extend(rows)
    for lg in (log, mine):
        want = [r for r in rows if 2 <= r[0] < 5]
        # Through the slot, the base's wrapper called explicitly, and the
        # keys the fast entry passes on (a step of 1, an int key).
        assert list(lg[2:5]) == list(_timelog.Timelog.__getitem__(lg, slice(2, 5))) == want
        assert list(lg[2:5:1]) == want
        assert lg[3] == ["v3", "v3b"]
        with pytest.raises(ValueError, match="step"):
            lg[0:5:2]
    mine.close()


def test_append_converts_an_index_timestamp_once():
    # `append(ts, obj)` with an `__index__` timestamp (numpy.int64) is
    # converted by the fast entry (`fast::index_i64`), as `coerce_ts` does:
    # `__index__` called once, its errors and the int64 range kept.
    import enum

    import numpy as np

    calls = []

    class Counting:
        def __init__(self, v):
            self.v = v

        def __index__(self):
            calls.append(self.v)
            return self.v

    class Raising:
        def __index__(self):
            raise LookupError("from __index__")

    class Big:
        def __index__(self):
            return 2**63

    class Level(enum.IntEnum):
        HIGH = 7

    lg = Timelog(maintenance="disabled")
    lg.append(Counting(5), "a")
    assert calls == [5]
    lg.append(np.int64(6), "b")
    lg.append(Level.HIGH, "c")
    with pytest.raises(LookupError, match="from __index__"):
        lg.append(Raising(), "x")
    with pytest.raises(OverflowError, match="is outside int64 range"):
        lg.append(Big(), "x")
    with pytest.raises(TypeError, match="bool"):
        lg.append(True, "x")
    assert list(lg) == [(5, "a"), (6, "b"), (7, "c")]
    assert all(type(ts) is int for ts, _ in lg)
    lg.close()


def test_iter_of_an_iterator_is_itself(log):
    it = log.range(0, 5)
    assert iter(it) is it
    assert it.__iter__() is it
    before = sys.getrefcount(it)
    for _ in range(100):
        iter(it)
    assert sys.getrefcount(it) == before
    assert list(it) == list(log.range(0, 5))


def test_iterators_release_their_reference_to_the_type():
    # pyo3 0.28.3's deallocator never released the reference each instance
    # holds to its (heap) type: TimelogIter's count grew by one per
    # iterator ever made. The slot's deallocator releases it.
    from timelog._timelog import TimelogIter

    lg = Timelog(maintenance="disabled")
    lg.extend([(t, t) for t in range(10)])
    base = sys.getrefcount(TimelogIter)
    for _ in range(1000):
        list(lg.range(0, 5))
        for _r in lg.point(3):
            pass
        it = lg.all()
        next(it)
        del it
        reversed(lg[0:5])
    assert sys.getrefcount(TimelogIter) == base
    lg.close()


def test_reused_iterator_objects_start_fresh():
    # GIL builds keep deallocated iterators for reuse (py/src/iter.rs,
    # `freelist`): whatever object a read reuses, its iterator is whole,
    # independent of the others, tracked by the collector while alive, and
    # a dropped one is invisible to it.
    from timelog._timelog import TimelogIter

    def n_iters():
        return sum(type(o) is TimelogIter for o in gc.get_objects())

    gc.collect()
    base = n_iters()  # other tests' iterators still alive, if any
    lg = Timelog(maintenance="disabled")
    lg.extend([(t, str(t)) for t in range(100)])
    for _ in range(3):
        live = {}
        for t in range(60):  # more than the list keeps
            live[("p", t)] = lg.point(t)
            live[("r", t)] = lg.range(t, t + 5)
        for t in range(0, 60, 2):
            assert next(live[("r", t)]) == (t, str(t))
        for t in range(0, 60, 3):  # back to the list, mid-walk or not
            del live[("p", t)], live[("r", t)]
        fresh = [lg.range(t, t + 3) for t in range(40)]  # reused objects
        for t, it in enumerate(fresh):
            assert gc.is_tracked(it) and not it.closed
            assert repr(it) == "<TimelogIter remaining=3>"
            assert list(it) == [(u, str(u)) for u in range(t, t + 3)] and it.closed
        for (kind, t), it in live.items():
            if kind == "p":
                assert list(it) == [(t, str(t))]
            else:
                start = t + 1 if t % 2 == 0 else t
                assert list(it) == [(u, str(u)) for u in range(start, t + 5)]
        assert n_iters() == base + len(live) + len(fresh)
        del live, fresh, it
        assert n_iters() == base
    lg.close()


def test_a_reused_iterator_in_a_cycle_is_collected():
    # A reused object is tracked again: a cycle through it (payload ->
    # iterator -> snapshot -> payload), garbage once the log lets go of the
    # payload, is collected.
    import weakref

    class Box:
        pass

    lg = Timelog(maintenance="disabled")
    lg.extend([(t, t) for t in range(10)])
    for _ in range(5):
        list(lg.range(0, 3))  # iterators made and dropped: kept for reuse
    b = Box()
    lg.append(20, b)
    lg.flush()
    it = lg.since(20)
    b.it = it
    wr = weakref.ref(b)
    del b, it
    lg.delete_range(15, 25)
    lg.flush()
    lg.compact()
    assert wr() is not None  # only the cycle holds it now
    gc.collect()
    assert wr() is None
    assert list(lg.range(0, 3)) == [(0, 0), (1, 1), (2, 2)]
    lg.close()


def test_iterator_dropped_unexhausted_releases_payloads_and_pin():
    # The deallocator drops a live state: snapshot, spare tuples, link.
    payload = object()
    lg = Timelog(maintenance="disabled")
    lg.extend([(t, payload) for t in range(100)])
    base = sys.getrefcount(payload)
    it = lg.all()
    a, b, c = next(it), next(it), next(it)
    del a, b, c
    del it
    assert sys.getrefcount(payload) == base
    # No reader pins the log any more: close() succeeds.
    lg.close()
    del lg
    gc.collect()
    assert sys.getrefcount(payload) == 2


def test_payload_del_run_by_the_deallocator_may_use_the_log():
    # The last reference to a deleted, compacted-away payload is the one an
    # iterator's snapshot holds; dropping the iterator runs its __del__,
    # which reads the log (a new iterator, made and dropped inside the
    # deallocator of the old one).
    seen = []
    lg = Timelog(maintenance="disabled")

    class P:
        def __del__(self):
            seen.append(list(lg.range(0, 3)))

    lg.append(1, P())
    lg.append(2, "two")
    lg.flush()
    it = lg.all()
    lg.delete_range(0, 2)
    lg.flush()
    lg.compact()
    assert seen == []
    del it
    assert seen == [[(2, "two")]]
    lg.close()


# ----- append, next_ts, prev_ts (py/src/fast.rs `append_entry`,
# `next_ts_entry`, `prev_ts_entry`): the common forms outside pyo3's
# trampoline, every other form through it, with the same results and errors.


class _Idx:
    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


def test_append_argument_forms():
    lg = Timelog(maintenance="disabled")
    lg.append(5, "pos")  # fast: positional exact int
    lg.append("kw", ts=6)  # fast: ts= keyword, exact int
    lg.append("kwd", **{"ts": 7})  # fast: a keyword name built at run time
    lg.append(_Idx(8), "idx")  # slow: __index__ timestamp
    lg.append("kwidx", ts=_Idx(9))  # slow
    before = lg.next_ts(9)
    assert before is None
    lg.append("now")  # fast: stamped with the current time
    lg.append("now-none", ts=None)  # slow: ts=None is append(obj)
    rows = list(lg)
    assert rows[:5] == [(5, "pos"), (6, "kw"), (7, "kwd"), (8, "idx"), (9, "kwidx")]
    assert [o for _, o in rows[5:]] == ["now", "now-none"]
    assert all(type(t) is int and t > 9 for t, _ in rows[5:])
    lg.close()


def test_append_argument_errors():
    lg = Timelog(maintenance="disabled")
    with pytest.raises(TypeError, match="1 or 2"):
        lg.append()
    with pytest.raises(TypeError, match="1 or 2"):
        lg.append(1, 2, 3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'tss'"):
        lg.append("x", tss=1)
    with pytest.raises(TypeError, match="not both"):
        lg.append(1, "x", ts=2)
    with pytest.raises(TypeError, match="bool"):
        lg.append(True, "x")
    with pytest.raises(TypeError, match="bool"):
        lg.append("x", ts=False)
    with pytest.raises(TypeError, match="float"):
        lg.append(1.5, "x")
    with pytest.raises(OverflowError):
        lg.append(2**63, "x")
    with pytest.raises(OverflowError):
        lg.append("x", ts=-(2**63) - 1)
    assert len(lg) == 0
    # int64's ends are in range (the fast path's overflow check is exact).
    lg.append(2**63 - 1, "max")
    lg.append("min", ts=-(2**63))
    assert list(lg) == [(-(2**63), "min"), (2**63 - 1, "max")]
    lg.close()


def test_append_to_a_subclass_instance():
    class Sub(Timelog):
        pass

    lg = Sub(maintenance="disabled")
    lg.append(1, "a")
    lg.append("b", ts=2)
    assert list(lg) == [(1, "a"), (2, "b")]
    lg.close()


def test_append_on_a_closed_log_raises_and_keeps_no_reference():
    from timelog import TimelogError

    payload = object()
    base = sys.getrefcount(payload)
    lg = Timelog(maintenance="disabled")
    lg.close()
    for call in (lambda: lg.append(payload), lambda: lg.append(1, payload), lambda: lg.append(payload, ts=1)):
        with pytest.raises(TimelogError):
            call()
    assert sys.getrefcount(payload) == base


def test_append_below_the_floor_raises_and_keeps_no_reference():
    payload = object()
    base = sys.getrefcount(payload)
    lg = Timelog(maintenance="disabled", min_ts=10)
    with pytest.raises(ValueError):
        lg.append(9, payload)
    with pytest.raises(ValueError):
        lg.append(payload, ts=3)
    assert sys.getrefcount(payload) == base
    lg.append(10, payload)
    assert list(lg) == [(10, payload)]
    assert sys.getrefcount(payload) == base + 1
    lg.close()
    del lg
    gc.collect()
    assert sys.getrefcount(payload) == base


@pytest.mark.parametrize("form", ["obj", "ts_obj", "obj_kw"])
def test_append_reports_busy_and_commits(form):
    from timelog import TimelogBusyError

    lg = Timelog(maintenance="disabled", busy_policy="raise", memtable_max_bytes=64, sealed_max_runs=1)
    calls = {
        "obj": lambda t: lg.append(("row", t)),
        "ts_obj": lambda t: lg.append(t, ("row", t)),
        "obj_kw": lambda t: lg.append(("row", t), ts=t),
    }
    busy = 0
    for t in range(200):
        try:
            calls[form](t)
        except TimelogBusyError:
            busy += 1
    assert busy > 0, "sealed memtables piled up: the appends reported busy"
    # Every write was committed, busy or not.
    assert sorted(o for _, o in lg) == [("row", t) for t in range(200)]
    lg.close()


def test_append_with_busy_policy_flush_helps_and_commits():
    # busy_policy='flush' with a running worker: the writer may run a
    # maintenance step inside append (after_write), outside the trampoline.
    lg = Timelog(busy_policy="flush", memtable_max_bytes=256, sealed_max_runs=2)
    payload = object()
    base = sys.getrefcount(payload)
    for t in range(3000):
        lg.append(t, payload)
        lg.append(payload, ts=t)
    lg.flush()
    assert len(lg) == 6000
    # At least one reference per record (the worker may still hold the
    # memtables a flush replaced, until it drops them).
    assert sys.getrefcount(payload) >= base + 6000
    lg.close()
    del lg
    gc.collect()
    assert sys.getrefcount(payload) == base


def test_append_refcounts_balance_over_every_form():
    payload = object()
    ts_obj = 12345
    base = sys.getrefcount(payload)
    lg = Timelog(maintenance="disabled")
    for t in range(100):
        lg.append(payload)
        lg.append(t, payload)
        lg.append(payload, ts=t)
        lg.append(_Idx(t), payload)
    assert sys.getrefcount(payload) == base + 400
    # The timestamp object is never kept.
    tb = sys.getrefcount(ts_obj)
    for _ in range(10):
        lg.append(ts_obj, "x")
        lg.append("y", ts=ts_obj)
    assert sys.getrefcount(ts_obj) == tb
    lg.close()
    del lg
    gc.collect()
    assert sys.getrefcount(payload) == base


def test_next_prev_ts_argument_forms_and_errors(log):
    assert log.next_ts(3) == 4
    assert log.prev_ts(3) == 2
    assert log.next_ts(ts=3) == 4
    assert log.prev_ts(ts=3) == 2
    assert log.next_ts(_Idx(3)) == 4
    assert log.prev_ts(_Idx(3)) == 2
    assert log.next_ts(9) is None
    assert log.prev_ts(0) is None
    assert log.next_ts(-(2**63)) == 0
    assert log.prev_ts(2**63 - 1) == 9
    assert type(log.next_ts(3)) is int
    for f in (log.next_ts, log.prev_ts):
        with pytest.raises(TypeError, match="exactly 1"):
            f()
        with pytest.raises(TypeError, match="exactly 1"):
            f(1, 2)
        with pytest.raises(TypeError, match="unexpected keyword argument 't'"):
            f(t=1)
        with pytest.raises(TypeError, match="multiple values"):
            f(1, ts=1)
        with pytest.raises(TypeError, match="bool"):
            f(True)
        with pytest.raises(OverflowError):
            f(2**63)


def test_next_prev_ts_on_a_closed_log_raise(log):
    from timelog import TimelogError

    log.close()
    for call in (lambda: log.next_ts(0), lambda: log.prev_ts(0), lambda: log.next_ts(ts=0)):
        with pytest.raises(TimelogError):
            call()


def test_append_next_prev_ts_signatures_and_docs():
    for name in ("append", "next_ts", "prev_ts"):
        assert "Raises:" in getattr(Timelog, name).__doc__
    for name in ("next_ts", "prev_ts"):
        assert list(inspect.signature(getattr(Timelog, name)).parameters) == ["self", "ts"]
