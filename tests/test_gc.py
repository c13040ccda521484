"""Garbage collection of logs, iterators, spans and object views (issue 11,
defect 4).

The log's current data is reported to the cycle collector by one node (the
log's collector root) that the log and every reader of it reference, through
a link per reader stripe; a reader reports, itself, the payloads only its
snapshot holds (``__traverse__``), and everything drops its data when the
collector clears a cycle (``__clear__``). So every payload is reported once,
by an object that is reachable whenever anything that can return the payload
is: cycles through payloads are collected whoever shares the parts — the log,
iterators (partially consumed, reversed, two of one snapshot), page spans,
objects views, Arrow streams — and nothing reachable is ever cleared
(docs/threading.md, "Garbage collection"). ``close()`` collects before it
refuses.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import weakref

import pytest

from timelog import Timelog


class Box:
    """A payload that can reference anything (and be weak-referenced)."""

    def __init__(self, ref=None):
        self.ref = ref


def _tasks() -> int:
    return len(os.listdir("/proc/self/task"))


def _wait(pred, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc/self/task (Linux)")


def _collect():
    for _ in range(3):
        gc.collect()


@needs_proc
def test_log_reachable_from_its_own_payload_is_collected_and_its_worker_stops():
    gc.collect()
    before = _tasks()
    log = Timelog(maintenance="background")
    assert _wait(lambda: _tasks() == before + 1), "the worker thread started"
    log.append(1, [log])
    wlog = weakref.ref(log)
    del log
    _collect()
    assert wlog() is None, "the log in a cycle through its payload was collected"
    assert _wait(lambda: _tasks() == before), f"the worker thread stopped ({_tasks()} threads, {before} before)"


@pytest.mark.parametrize("where", ["memtable", "l0", "l1"])
def test_cycle_through_a_payload_in_every_layer(where):
    log = Timelog(maintenance="disabled")
    box = Box(log)
    log.append(1, box)
    if where != "memtable":
        log.flush()
    if where == "l1":
        log.compact()
    wlog, wbox = weakref.ref(log), weakref.ref(box)
    del log, box
    _collect()
    assert wlog() is None and wbox() is None


def test_cycle_through_a_payload_of_a_memtable_with_a_merged_view():
    # A memtable with late records is read through its merged view (R13),
    # built here by a full scan. The view once held clones of the payloads
    # that no traversal reported, so a cycle through one was kept until the
    # flush; its payloads are bitwise copies that own no reference since
    # session 41 (the binding's BitwisePayloads promise).
    log = Timelog(maintenance="disabled")
    box = Box(log)
    for i in range(2_000):
        log.append(i - 5 if i % 10 == 3 else i, box if i == 1_000 else i)
    assert len(list(log.all())) == 2_000
    wlog, wbox = weakref.ref(log), weakref.ref(box)
    del log, box
    _collect()
    assert wlog() is None and wbox() is None


def test_shared_log_is_kept_while_referenced():
    # The collector must not free what is reachable from outside: a payload
    # referencing the log while the log is still referenced.
    log = Timelog(maintenance="disabled")
    box = Box(log)
    log.append(1, box)
    wbox = weakref.ref(box)
    del box
    _collect()
    assert wbox() is not None
    assert log.at(1)[0].ref is log
    log.close()


def test_iterator_reachable_from_a_payload_only_its_snapshot_holds():
    # The iterator pins a snapshot that (after delete + compact) is the last
    # owner of the payload that references the iterator: collected, and the
    # log's close() succeeds.
    log = Timelog(maintenance="disabled")
    box = Box()
    log.append(1, box)
    log.append(2, "keep")
    it = log.all()
    box.ref = it
    wbox = weakref.ref(box)
    log.delete_range(1, 2)
    log.compact()
    del it, box
    _collect()
    assert wbox() is None
    log.close()  # no reader pinned any more: the iterator was collected


def test_log_collected_while_an_iterator_outside_the_cycle_lives():
    # The log is garbage (a cycle through its payload) while an iterator of
    # it lives outside the cycle: the iterator shares the log's data, so the
    # cycle is kept (reported by neither) and the iterator reads normally;
    # once the iterator is gone the next collection frees the log.
    log = Timelog(maintenance="disabled")
    log.append(1, Box(log))
    it = log.all()
    wlog = weakref.ref(log)
    del log
    _collect()
    assert wlog() is not None
    (ts, box), = list(it)  # exhausting the iterator releases its snapshot
    assert ts == 1 and box.ref is wlog()
    del box
    _collect()
    assert wlog() is None


def test_partially_consumed_iterator_with_spare_tuples_in_a_cycle():
    log = Timelog(maintenance="disabled")
    box = Box()
    log.extend([(1, box), (2, "a"), (3, "b")])
    it = log.all()
    next(it)  # a spare tuple now references box
    box.ref = it
    wbox = weakref.ref(box)
    log.delete_range(1, 4)
    log.compact()
    del it, box
    _collect()
    assert wbox() is None
    log.close()


def test_span_and_objects_view_in_a_cycle():
    log = Timelog(maintenance="disabled")
    box = Box()
    log.append(1, box)
    log.flush()
    (span,) = list(log.views())
    box.ref = span
    wbox = weakref.ref(box)
    log.delete_range(1, 2)
    log.compact()
    del span, box
    _collect()
    assert wbox() is None
    log.close()

    log = Timelog(maintenance="disabled")
    box = Box()
    log.append(1, box)
    log.flush()
    (span,) = list(log.views())
    objs = span.objects()
    span.close()
    box.ref = objs
    wbox = weakref.ref(box)
    log.delete_range(1, 2)
    log.compact()
    del span, objs, box
    _collect()
    assert wbox() is None
    log.close()


def test_traverse_reports_no_more_references_than_exist():
    # A payload held by a segment that the log and an iterator share is
    # reported once, by the log's root (reporting it by both would make the
    # collector see more references than the payload has): with the log
    # reachable it survives collection, and everything stays readable.
    log = Timelog(maintenance="disabled")
    box = Box()
    log.append(1, box)
    log.flush()
    it = log.all()
    box.ref = it
    wbox = weakref.ref(box)
    del box
    _collect()
    assert wbox() is not None
    assert log.at(1)[0] is wbox()
    assert next(it)[1] is wbox()
    it.close()
    log.close()


def test_gc_during_concurrent_writes_and_maintenance():
    # Collections while writer threads append payloads that reference the
    # log and the worker flushes and compacts: nothing live is freed.
    import threading

    log = Timelog(maintenance="background", memtable_max_bytes=16384, busy_policy="flush")
    stop = threading.Event()

    def writer(base):
        t = base
        while not stop.is_set():
            log.append(t, Box(log))
            t += 1
            if t % 500 == 0:
                log.extend([(t + i, Box(i)) for i in range(5000)])
                t += 5000

    threads = [threading.Thread(target=writer, args=(k * 10**9,)) for k in range(2)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        gc.collect()
        for _, b in log.tail(5):
            assert isinstance(b, Box) and (b.ref is log or isinstance(b.ref, int))
    stop.set()
    for th in threads:
        th.join()
    # A payload the collector cleared would have lost its attribute.
    assert all(isinstance(b, Box) and (b.ref is log or isinstance(b.ref, int)) for _, b in log.all())
    log.close()


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython GC")
def test_no_leak_of_collected_logs():
    # Many logs in cycles: all collected (weakrefs), none kept.
    refs = []
    for _ in range(50):
        log = Timelog(maintenance="disabled")
        log.append(1, [log])
        refs.append(weakref.ref(log))
        del log
    _collect()
    assert sum(r() is not None for r in refs) == 0


def test_close_collects_unreachable_readers_before_refusing():
    # An iterator in an unreachable cycle pins the log until a collection
    # frees it: close() runs one before refusing (with automatic collection
    # off, so nothing else does). Before, close() raised "cannot close".
    log = Timelog(maintenance="disabled")
    box = Box()
    log.append(1, box)
    log.append(2, "keep")
    it = log.all()
    box.ref = it
    wbox = weakref.ref(box)
    log.delete_range(1, 2)
    log.compact()
    del it, box
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        assert wbox() is not None, "the cycle is not collected yet"
        log.close()
    finally:
        if was_enabled:
            gc.enable()
    assert wbox() is None
    assert log.closed


def test_close_still_refuses_a_reachable_reader_and_says_what_to_do():
    log = Timelog(maintenance="disabled")
    log.append(1, "x")
    it = log.all()
    with pytest.raises(Exception, match="cannot close") as e:
        log.close()
    assert "close it explicitly" in str(e.value)
    it.close()
    log.close()


@needs_proc
def test_cycle_through_an_iterator_sharing_the_logs_parts_is_kept_until_the_iterator_is_closed():
    # log -> payload -> (log, iterator), the iterator's snapshot sharing the
    # log's segment, and the iterator still reachable from outside (`keep`):
    # the collector keeps the whole cycle, intact, and the worker runs on;
    # once the iterator is closed, the next collection frees it all and the
    # worker stops.
    gc.collect()
    before = _tasks()
    log = Timelog(maintenance="background")
    assert _wait(lambda: _tasks() == before + 1), "the worker thread started"
    box = Box()
    box.tag = "payload"
    log.append(1, box)
    log.flush()
    it = log.all()
    keep = [it]
    box.ref = (log, it)
    wlog, wbox = weakref.ref(log), weakref.ref(box)
    del log, it, box
    _collect()
    assert wlog() is not None and wbox() is not None, "kept: the iterator shares the log's segment"
    assert wbox().tag == "payload" and wbox().ref[0] is wlog() and wbox().ref[1] is keep[0], "nothing cleared"
    assert _tasks() == before + 1
    keep.pop().close()
    _collect()
    assert wlog() is None and wbox() is None
    assert _wait(lambda: _tasks() == before), f"the worker thread stopped ({_tasks()} threads, {before} before)"


def test_reachable_iterator_keeps_shared_payloads_of_a_garbage_log_intact():
    # The log and its payload form a garbage cycle; an iterator outside it
    # shares the payload's segment. Nothing may be cleared: the payload, its
    # attributes and the log it references stay intact while the iterator
    # lives, and the iterator reads them.
    log = Timelog(maintenance="disabled")
    box = Box(log)
    box.tag = "payload"
    log.append(1, box)
    log.flush()
    it = log.all()
    wlog, wbox = weakref.ref(log), weakref.ref(box)
    del log, box
    _collect()
    assert wlog() is not None and wbox() is not None
    assert wbox().tag == "payload" and wbox().ref is wlog()
    assert wlog().at(1)[0] is wbox()
    ((ts, b),) = list(it)
    assert ts == 1 and b is wbox() and b.tag == "payload" and b.ref is wlog()
    del b
    _collect()
    assert wlog() is None and wbox() is None


def test_reachable_log_keeps_shared_payloads_of_a_garbage_iterator_intact():
    # The payload (still in the log) references an iterator whose snapshot
    # shares the payload's segment: the iterator is reachable from the live
    # log through the payload, so nothing is cleared and it still reads.
    log = Timelog(maintenance="disabled")
    box = Box()
    box.tag = "payload"
    log.append(1, box)
    log.append(2, "two")
    log.flush()
    box.ref = log.all()
    del box
    _collect()
    (b,) = log.at(1)
    assert b.tag == "payload"
    assert [ts for ts, _ in b.ref] == [1, 2]
    b.ref.close()
    log.close()


def _readers(log, kind):
    """Readers of `log` whose snapshots share the log's current parts."""
    if kind == "iterator":
        return [log.all()]
    if kind == "partial":
        it = log.all()
        next(it)
        return [it]
    if kind == "reversed":
        it = log.all()
        return [it, reversed(it), reversed(reversed(it))]
    if kind == "two_of_one_snapshot":
        it = log.all()
        return [it, it.view()]
    if kind == "span":
        spans = log.views()
        span = next(spans)
        return [spans, span, span.objects()]
    if kind == "arrow":
        return [log.arrow()]
    raise AssertionError(kind)


@needs_proc
@pytest.mark.parametrize("kind", ["iterator", "partial", "reversed", "two_of_one_snapshot", "span", "arrow"])
def test_cycle_through_readers_sharing_the_logs_parts_is_collected(kind):
    # The former gap: log -> payload -> (log, readers), the readers'
    # snapshots sharing the log's parts (segment and memtable), every name
    # dropped. The whole cycle is collected and the worker thread stops.
    gc.collect()
    before = _tasks()
    log = Timelog(maintenance="background")
    assert _wait(lambda: _tasks() == before + 1), "the worker thread started"
    box = Box()
    log.append(1, box)
    log.append(2, "two")
    log.flush()
    log.append(3, Box(box))
    readers = _readers(log, kind)
    box.ref = (log, readers)
    wlog, wbox = weakref.ref(log), weakref.ref(box)
    wreaders = [weakref.ref(r) for r in readers if type(r).__weakrefoffset__]
    del log, box, readers
    _collect()
    assert wlog() is None and wbox() is None
    assert all(w() is None for w in wreaders)
    assert _wait(lambda: _tasks() == before), f"the worker thread stopped ({_tasks()} threads, {before} before)"


@pytest.mark.parametrize("kind", ["iterator", "partial", "reversed", "two_of_one_snapshot", "span", "arrow"])
def test_a_reachable_reader_keeps_a_garbage_logs_data_intact(kind):
    # The log is garbage (a cycle through its payload) while readers of it
    # stay reachable: nothing is cleared, and the readers read it all.
    log = Timelog(maintenance="disabled")
    box = Box(log)
    box.tag = "payload"
    log.append(1, box)
    log.append(2, "two")
    log.flush()
    readers = _readers(log, kind)
    wlog, wbox = weakref.ref(log), weakref.ref(box)
    del log, box
    _collect()
    assert wlog() is not None and wbox() is not None
    assert wbox().tag == "payload" and wbox().ref is wlog()
    assert [b for _, b in wlog().all()][0] is wbox()
    if kind == "span":
        assert readers[2].copy()[0] is wbox()
    del readers
    _collect()
    assert wlog() is None and wbox() is None
