"""The training run of a profile-guided build (scripts/pgo.py): the workload
mix this package exists for, on the instrumented extension, so the compiler
lays out and inlines for the paths users run rather than for error paths.

Code the training never runs is laid out and inlined as cold, so a path
users run that is missing here gets slower than without PGO (measured:
reads of late records newer than a merged view, absent from a first
version of this file, took up to 1.4x longer). So every shape of log the
benchmarks model is here, each read over each, both maintenance modes:

- ingest: `append` in order, with 5% late records, and with late records
  after a long read built a merged view; `extend`; `bulk_append` in 10,000-
  record calls; payloads in order and scattered in memory;
- the log as a memtable, flushed and compacted, a sliding `delete_before`
  window, `delete_range` holes compacted away, a compacted log with a late
  memtable tail; the first reads right after late writes;
- reads: `t in log`, `log[t]`, `point`, `next_ts`/`prev_ts`, `min_ts`/
  `max_ts`, `len`, 10- and 1,000-row ranges through `list()` and `for`,
  `since`, `count`, `histogram`, `next_batch`, full and reversed scans,
  views; readers on threads beside a writer.

Stdlib only (runs on every interpreter a wheel is built for); a few
seconds. Its results are not checked: the test suites do that, on the
built wheel.
"""

import array
import random
import threading

import timelog

N = 50_000
WINDOW = N // 10
SHAPES = (
    "mem_inorder",
    "mem_late5",
    "flushed_inorder",
    "flushed_late5",
    "window_inorder",
    "window_late5",
    "holes_compacted",
    "tail_late5",
    "mem_late5_newer",
)


def reads(log, lo, hi, k=1000):
    rnd = random.Random(3)
    probes = [rnd.randrange(lo, hi) for _ in range(k)]
    for p in probes:
        if p in log:
            log[p]
        list(log.point(p))
        log.next_ts(p)
        log.prev_ts(p)
        list(log.range(p, p + 10))
        for _ in log.range(p, p + 10):
            pass
        next(iter(log.since(p)), None)
        log.count(p, p + 100)
    for p in probes[:30]:
        list(log.range(p, p + 1000))
        for _ in log.range(p, p + 1000):
            pass
        log.histogram(p, p + 1000, 100)
        log.min_ts()
        log.max_ts()
        len(log)
    it = log.range(lo, hi)
    while it.next_batch(4096):
        pass
    list(log.all())
    for _ in log:
        pass
    for _ in reversed(log):
        pass
    for _ in log.views(lo, hi):
        pass


def late(rnd, i):
    return max(0, i - rnd.randint(1, 1000))


def shaped(shape, maintenance, payloads):
    """A log of `shape` (the shapes of benches/python/shapes.py, at N
    records) and the range its reads probe."""
    log = timelog.Timelog(maintenance=maintenance)
    rnd = random.Random(7)
    is_late = "late5" in shape
    tail = shape == "tail_late5"
    for i in range(N):
        if shape == "mem_late5_newer" and i == N - N // 5:
            len(list(log.all()))  # a merged view, then late records newer than it
        if tail and i == N - WINDOW:
            log.flush()
            log.compact()
        lat = is_late and i % 20 == 0 and i > 0 and (not tail or i > N - WINDOW)
        log.append(late(rnd, i) if lat else i, payloads[i])
        if shape.startswith("window") and (i + 1) % 1000 == 0 and i + 1 > WINDOW:
            log.delete_before(i + 1 - WINDOW)
    if shape.startswith("flushed") or shape == "holes_compacted":
        log.flush()
        log.compact()
    if shape == "holes_compacted":
        for k in range(0, N, 1000):
            log.delete_range(k, k + 500)
        log.flush()
        log.compact()
    return log, (N - WINDOW if shape.startswith("window") else 0)


def fresh_reads(maintenance):
    """The first reads right after late writes (no view built yet)."""
    rnd = random.Random(11)
    for _ in range(3):
        log = timelog.Timelog(maintenance=maintenance)
        for i in range(N):
            log.append(late(rnd, i) if i % 20 == 0 else i, i)
        next(iter(log.since(N // 2)), None)
        list(log.range(N // 3, N // 3 + 10))
        list(log.all())
        log.close()


def threaded(maintenance):
    """Readers on threads beside an appending, retention-deleting writer."""
    log = timelog.Timelog(maintenance=maintenance)
    for i in range(N):
        log.append(i, i)
    stop = threading.Event()

    def reader():
        rnd = random.Random(13)
        while not stop.is_set():
            p = rnd.randrange(0, N)
            list(log.range(p, p + 10))
            log.next_ts(p)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(N, 3 * N):
        log.append(i, i)
        if i % 1000 == 0:
            log.delete_before(i - N)
    stop.set()
    for t in threads:
        t.join()
    log.close()


def bulk(maintenance):
    rnd = random.Random(5)
    n = 4 * N
    for is_late in (False, True):
        ts = [late(rnd, i) if is_late and i % 20 == 0 and i > 0 else i for i in range(n)]
        log = timelog.Timelog(maintenance=maintenance)
        log.extend(zip(ts, range(n)))
        chunks = timelog.Timelog(maintenance=maintenance)
        for k in range(0, n, 10_000):
            chunks.bulk_append(array.array("q", ts[k : k + 10_000]), list(range(k, k + 10_000)))
        whole = timelog.Timelog(maintenance=maintenance)
        whole.bulk_append(array.array("q", ts), list(range(n)))
        for lg in (log, chunks, whole):
            lg.flush()
            reads(lg, 0, n, 300)
            lg.close()


def main():
    in_order = list(range(N))
    scattered = list(range(N))
    random.Random(17).shuffle(scattered)
    scattered = [[x] for x in scattered]  # objects allocated in random order
    scattered.sort()
    for maintenance in ("disabled", "background"):
        for shape in SHAPES:
            for payloads in (in_order, scattered) if shape == "mem_inorder" else (in_order,):
                log, lo = shaped(shape, maintenance, payloads)
                reads(log, lo, N)
                log.close()
        fresh_reads(maintenance)
        threaded(maintenance)
        bulk(maintenance)


if __name__ == "__main__":
    main()
