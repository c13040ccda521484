"""Rows with atomic payloads are not tracked by the cycle collector.

A ``(ts, payload)`` row whose payload can never take part in a reference
cycle (CPython's own test, ``_PyTuple_MaybeUntrack``: the payload is not a
GC object — int, float, str, bytes, None, bool — or is an exact tuple the
collector does not track) is handed out untracked, as the collector itself
would leave it after its first look; a row whose payload is a container
(list, dict — even an empty one, which may hold a cycle later —, an
instance of a class) stays tracked, and cycles through it are collected.
Checked for every way rows are made: ``next_batch``, ``for`` (the
``tp_iternext`` slot, whose spare tuples are refilled in place on GIL
builds: a spare that held an atomic payload and now holds a container is
tracked again, and the reverse), ``list(it)`` and ``it.__next__()``.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from timelog import Timelog


class Box:
    """A payload that can reference anything (and be weak-referenced)."""

    def __init__(self, ref=None):
        self.ref = ref


def _untracked_tuple():
    t = tuple([1, "a"])
    gc.collect()  # the collector untracks a tuple of atomic items
    if gc.is_tracked(t):
        pytest.skip("this interpreter's collector did not untrack tuple([1, 'a'])")
    return t


ATOMIC = {
    "int": lambda: 12345678901,
    "small int": lambda: 7,
    "None": lambda: None,
    "str": lambda: "payload",
    "bytes": lambda: b"payload",
    "float": lambda: 1.5,
    "bool": lambda: True,
    "untracked tuple": _untracked_tuple,
}
CONTAINER = {
    "list": lambda: [1, 2],
    "dict": lambda: {"a": 1},
    "empty dict": lambda: {},
    "object": Box,
    "tracked tuple": lambda: ([],),
}


def _ways(log):
    """Every way of reading all rows: name -> list of (row, tracked-at-yield)."""

    def batch():
        it = log.all()
        out = []
        while b := it.next_batch(3):
            out += [(r, gc.is_tracked(r)) for r in b]
        return out

    def loop():
        # Only a copy of each row is kept: the row itself is let go of, so
        # that on GIL builds the slot refills its tuple two rows later (the
        # spare tuples' path).
        return [((r[0], r[1]), gc.is_tracked(r)) for r in log]

    def listed():
        return [(r, gc.is_tracked(r)) for r in list(log.all())]

    def dunder():
        it = log.all()
        out = []
        for _ in range(len(it)):
            r = it.__next__()
            out.append(((r[0], r[1]), gc.is_tracked(r)))
        return out

    return {"next_batch": batch, "for": loop, "list": listed, "__next__": dunder}


@pytest.mark.parametrize("way", ["next_batch", "for", "list", "__next__"])
@pytest.mark.parametrize("kind", list(ATOMIC) + list(CONTAINER))
def test_row_tracking_follows_the_payload(kind, way):
    make = {**ATOMIC, **CONTAINER}[kind]
    payloads = [make() for _ in range(10)]
    log = Timelog(maintenance="disabled")
    try:
        log.extend([(t, p) for t, p in enumerate(payloads)])
        rows = _ways(log)[way]()
        assert [r for r, _ in rows] == list(enumerate(payloads))
        want = kind in CONTAINER
        assert [tr for _, tr in rows] == [want] * len(payloads), (kind, way)
    finally:
        del rows
        log.close()


# Payload kinds along the log, chosen so that each of the slot's two spare
# tuples (rows alternate between them) goes through every transition:
# atomic -> container, container -> container, container -> atomic,
# atomic -> atomic.
MIXED = ["int", "list", "None", "dict", "str", "object", "list", "tracked tuple",
         "bytes", "None", "empty dict", "float", "int", "object"]
MIXED = [k for k in MIXED for _ in range(2)]


@pytest.mark.parametrize("way", ["next_batch", "for", "list", "__next__"])
def test_mixed_payloads_through_the_spare_tuples(way):
    make = {**ATOMIC, **CONTAINER}
    kinds = [k for k in MIXED if k != "untracked tuple"]
    # Shifted by one so that consecutive rows (the two spares) differ too.
    kinds = kinds[1:] + kinds[:1]
    payloads = [make[k]() for k in kinds]
    log = Timelog(maintenance="disabled")
    try:
        log.extend([(t, p) for t, p in enumerate(payloads)])
        for _round in range(2):  # the second round starts from refilled spares
            rows = _ways(log)[way]()
            assert [r for r, _ in rows] == list(enumerate(payloads))
            assert [tr for _, tr in rows] == [k in CONTAINER for k in kinds], way
            del rows
    finally:
        log.close()


def test_rows_kept_then_let_go_through_the_spare_tuples():
    # A caller that keeps its rows makes the slot stop keeping spare tuples
    # for a while (GIL builds); one that then lets go of them has its spares
    # refilled again. Across both switches, every row has its own values
    # and the tracking its payload calls for, and no kept row changes.
    make = {**ATOMIC, **CONTAINER}
    kinds = [k for k in MIXED if k != "untracked tuple"] * 8
    payloads = [make[k]() for k in kinds]
    log = Timelog(maintenance="disabled")
    try:
        log.extend([(t, p) for t, p in enumerate(payloads)])
        want = list(enumerate(payloads))
        for keep in (lambda i: i < 40, lambda i: i % 50 < 45, lambda i: i % 3 == 0, lambda i: i >= 60):
            kept, seen = {}, []
            for i, r in enumerate(log):
                if keep(i):
                    kept[i] = r
                seen.append(((r[0], r[1]), gc.is_tracked(r)))
            assert [r for r, _ in seen] == want
            assert [tr for _, tr in seen] == [k in CONTAINER for k in kinds]
            assert all(kept[i] == want[i] for i in kept)
            assert [gc.is_tracked(kept[i]) for i in kept] == [kinds[i] in CONTAINER for i in kept]
            del kept, seen
    finally:
        log.close()


def test_the_collector_keeps_container_rows_tracked():
    log = Timelog(maintenance="disabled")
    try:
        log.extend([(0, [1]), (1, 2), (2, {}), (3, None)])
        rows = log.all().next_batch(10)
        gc.collect()
        assert [gc.is_tracked(r) for r in rows] == [True, False, True, False]
        del rows
    finally:
        log.close()


@pytest.mark.parametrize("way", ["next_batch", "for", "__next__"])
def test_a_cycle_through_a_row_is_collected(way):
    # The row of `box` comes third: in `for` and `__next__` on GIL builds it
    # is the first row's spare tuple refilled (its payload was an int, the
    # tuple untracked), which must be tracked again.
    box = Box()
    log = Timelog(maintenance="disabled")
    log.extend([(0, 1), (1, 2), (2, box), (3, None)])
    if way == "next_batch":
        row = log.all().next_batch(10)[2]
    elif way == "__next__":
        it = log.all()
        for _ in range(3):
            row = it.__next__()
        del it
    else:
        for r in log:
            if r[0] == 2:
                row = r
        del r
    box.ref = row  # box -> row -> box
    del row
    log.close()
    del log
    w = weakref.ref(box)
    del box
    gc.collect()
    assert w() is None


def test_a_cycle_through_a_dict_that_was_untracked_is_collected():
    # An empty dict is untracked by CPython until it holds a container; the
    # row that holds it must stay tracked all the same (it may join a cycle).
    d = {}
    log = Timelog(maintenance="disabled")
    log.extend([(0, d)])
    row = next(iter(log))
    assert gc.is_tracked(row)
    d["row"] = row  # d -> row -> d
    d["box"] = Box()  # d holds a container now (tracked)
    w = weakref.ref(d["box"])
    del row
    log.close()
    del log, d
    gc.collect()
    assert w() is None
