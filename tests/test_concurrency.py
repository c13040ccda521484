"""Concurrency: many readers with writers and background maintenance, writers
without external locking, and "readers never wait" (a maintainer or writer
held in the middle of a publication does not stop readers).

These run on every build (GIL and free-threaded). On free-threaded CPython
they also check that the GIL stays disabled.
"""

from __future__ import annotations

import sys
import sysconfig
import threading
import time

import pytest

import timelog
from timelog import Timelog, TimelogError
from timelog import _timelog

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
DOMAIN = 10**12  # writer w writes timestamps in [w * DOMAIN, (w + 1) * DOMAIN)

needs_hooks = pytest.mark.skipif(
    not hasattr(_timelog, "_test_gate"), reason="extension built without the test-hooks feature"
)


def _check_snapshot(rows, writers, last_hi):
    """Per writer, a snapshot shows one gap-free run of counters [lo, hi):
    appends extend it at the top, deletes of that writer's oldest records
    shrink it at the bottom. hi never decreases between snapshots."""
    per = {w: [] for w in range(writers)}
    prev = None
    for ts, (w, c) in rows:
        assert prev is None or ts >= prev, "records out of timestamp order"
        prev = ts
        assert ts == w * DOMAIN + c
        per[w].append(c)
    for w, cs in per.items():
        if cs:
            assert cs == list(range(cs[0], cs[0] + len(cs))), f"writer {w}: gap in snapshot"
            hi = cs[-1] + 1
            assert hi >= last_hi[w], f"writer {w}: a later snapshot lost acknowledged records"
            last_hi[w] = hi


def test_many_readers_with_writers_and_background_maintenance():
    writers, readers = 2, 8
    log = Timelog(
        maintenance="background",
        busy_policy="silent",
        memtable_max_bytes=32 << 10,
        target_page_bytes=4 << 10,
        maintenance_wakeup_ms=1,
        max_delta_segments=3,
        window_size=DOMAIN // 4,
    )
    stop = threading.Event()
    acked = [0] * writers
    deleted_below = [0] * writers
    cut_started = [0] * writers  # set before a delete is issued, deleted_below after it returns
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            c = 0
            while not stop.is_set():
                if c % 40 == 39:
                    log.extend([(w * DOMAIN + c + k, (w, c + k)) for k in range(10)])
                    c += 10
                else:
                    log.append(w * DOMAIN + c, (w, c))
                    c += 1
                acked[w] = c
                if c % 500 < 10 and c > 1000:
                    # Retention: drop this writer's oldest records.
                    cut = c - 800
                    cut_started[w] = cut
                    log.delete_range(w * DOMAIN, w * DOMAIN + cut)
                    deleted_below[w] = cut
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader(r: int) -> None:
        try:
            last_hi = [0] * writers
            k = 0
            while not stop.is_set():
                k += 1
                mode = (k + r) % 4
                if mode == 0:
                    rows = list(log)
                elif mode == 1:
                    it = log.all()
                    rows = []
                    while True:
                        b = it.next_batch(257)
                        if not b:
                            break
                        rows.extend(b)
                elif mode == 2:
                    rows = list(reversed(log))[::-1]
                else:
                    it = log[0 : 2 * DOMAIN]
                    n = len(it)
                    rows = list(it)
                    assert len(rows) == n, "len(it) disagrees with what the iterator yields"
                _check_snapshot(rows, writers, last_hi)
                if rows:
                    ts, (w, c) = rows[-1]
                    if not log[ts]:
                        # Only a delete issued after the snapshot may hide it.
                        assert cut_started[w] > c, "a record seen in a snapshot vanished without a delete of it"
                    nxt = log.next_ts(ts)
                    assert nxt is None or nxt > ts
                    prv = log.prev_ts(ts)
                    assert prv is None or prv < ts
                for span in log.views():
                    mv = span.timestamps
                    assert len(mv) == len(span)
                    mv.release()
                    span.close()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=reader, args=(r,)) for r in range(readers)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a thread hung (deadlock?)"
    assert not errors, errors[0]
    # Nothing acknowledged is missing.
    rows = list(log)
    for w in range(writers):
        cs = [c for ts, (ww, c) in rows if ww == w]
        assert cs == list(range(deleted_below[w], acked[w])), f"writer {w}: acknowledged writes missing"
    st = log.stats()["operational"]
    assert st["seals_total"] > 0 and st["flushes_total"] > 0, st
    log.validate()
    log.close()
    if FREE_THREADED:
        assert not sys._is_gil_enabled(), "timelog re-enabled the GIL"


def test_concurrent_writers_without_external_locking():
    log = Timelog(maintenance="background", memtable_max_bytes=16 << 10, busy_policy="silent")
    n, threads = 3000, 4

    def w(tid: int) -> None:
        for i in range(n):
            if i % 100 == 99:
                log.extend([(i // 10, (tid, i))])
            else:
                log.append(i // 10, (tid, i))

    ts = [threading.Thread(target=w, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rows = list(log)
    assert len(rows) == n * threads
    for tid in range(threads):
        mine = [i for _, (t, i) in rows if t == tid]
        assert mine == list(range(n)), f"thread {tid}: records missing or out of order"
    log.close()


def test_close_racing_with_readers_raises_or_waits_never_crashes():
    for _ in range(3):
        log = Timelog(maintenance="background")
        log.extend([(i, i) for i in range(20_000)])
        stop = threading.Event()
        outcomes: list[str] = []

        def reader() -> None:
            while not stop.is_set():
                try:
                    for _ in log[0:20_000]:
                        pass
                    log.next_ts(5)
                    len(log)
                except TimelogError:
                    outcomes.append("closed")
                    return

        rs = [threading.Thread(target=reader) for _ in range(4)]
        for t in rs:
            t.start()
        time.sleep(0.05)
        closed = False
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            try:
                log.close()
                closed = True
                break
            except TimelogError as e:
                assert "pinned" in str(e)
                time.sleep(0.001)
        stop.set()
        for t in rs:
            t.join(timeout=30)
            assert not t.is_alive()
        if not closed:
            log.close()
        assert log.closed


def _hold_and_read(log: Timelog, point: str, trigger, expect_rows: int) -> None:
    """Closes the gate at `point`, runs `trigger` in a thread (it stops at the
    gate), then checks that readers complete full scans and point reads while
    it is held."""
    _timelog._test_gate(log, point, True)
    before = _timelog._test_reached(log, point)
    held = threading.Thread(target=trigger)
    held.start()
    try:
        assert _timelog._test_wait_reached(log, point, before + 1, 20.0), f"nothing reached {point}"
        done = []

        def reader() -> None:
            for _ in range(3):
                rows = list(log)
                assert len(rows) >= expect_rows
                assert log[rows[0][0]]
                assert log.next_ts(rows[0][0]) is not None
                assert len(log) == len(rows)
            done.append(1)

        rs = [threading.Thread(target=reader) for _ in range(4)]
        t0 = time.monotonic()
        for t in rs:
            t.start()
        for t in rs:
            t.join(timeout=20)
        assert len(done) == 4, f"readers did not finish while {point} was held: readers waited"
        assert held.is_alive(), f"the thread held at {point} was not actually held"
        assert time.monotonic() - t0 < 20
    finally:
        _timelog._test_gate(log, point, False)
        held.join(timeout=30)
    assert not held.is_alive()


@needs_hooks
@pytest.mark.parametrize("point", ["flush_publish", "compact_publish"])
def test_readers_never_wait_for_a_held_maintainer(point):
    log = Timelog(maintenance="disabled", memtable_max_bytes=8 << 10, sealed_max_runs=10_000)
    log.extend([(i, i) for i in range(5000)])
    log.flush()
    log.extend([(i, -i) for i in range(5000, 6000)])
    trigger = log.flush if point == "flush_publish" else log.compact
    _hold_and_read(log, point, trigger, 5000)
    assert len(log) == 6000
    log.validate()
    log.close()


@needs_hooks
def test_readers_never_wait_for_a_writer_held_mid_seal():
    log = Timelog(maintenance="disabled", memtable_max_bytes=4 << 10, sealed_max_runs=10_000)
    log.extend([(i, i) for i in range(100)])

    def writer() -> None:
        # Appends until one of them fills the memtable and seals it; that
        # writer stops at the gate, between the drain and the publication.
        for i in range(100, 10_000):
            log.append(i, i)

    _hold_and_read(log, "seal_publish", writer, 100)
    assert len(log) == 10_000
    log.validate()
    log.close()


def test_gil_stays_disabled_after_every_api():
    if not FREE_THREADED:
        pytest.skip("GIL build")
    log = Timelog.for_streaming()
    log.append("a")
    log.append(1, "b")
    log.extend([(2, "c")])
    import array

    log.bulk_append(array.array("q", [3, 4]), ["d", "e"])
    list(log[0:10]), log[1], log.next_ts(1), log.prev_ts(3), len(log), 2 in log
    list(reversed(log)), log.tail(2), log.head(2)
    log.flush()
    for s in log.views():
        bytes(s.timestamps), s.objects().copy()
        s.close()
    del log[0:2]
    log.compact(), log.stats(), log.validate()
    log.stop_maintenance()  # maint_step() is for logs without a running worker
    log.maint_step()
    log.close()
    assert not sys._is_gil_enabled()
    assert timelog.__version__


@pytest.mark.parametrize("policy", ["flush", "raise", "silent"])
def test_inline_flush_and_background_worker_do_not_deadlock(policy):
    # Regression: a writer flushing inline (busy_policy="flush") waited for
    # the maintainer lock while holding the interpreter, and the worker,
    # holding that lock, waited for the interpreter to copy payloads.
    log = Timelog(
        maintenance="background",
        busy_policy=policy,
        memtable_max_bytes=1024,
        sealed_max_runs=1,
        sealed_wait_ms=1,
        maintenance_wakeup_ms=1,
    )
    from timelog import TimelogBusyError

    def w(tid: int) -> None:
        for i in range(5000):
            try:
                log.append(i, (tid, i))
            except TimelogBusyError:
                pass  # committed anyway

    ts = [threading.Thread(target=w, args=(t,)) for t in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
        assert not t.is_alive(), "writer hung: deadlock between inline flush and the worker"
    assert len(log) == 10_000
    log.close()
