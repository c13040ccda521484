"""The training run of a profile-guided build (scripts/pgo.py): the workload
mix this package exists for, on the instrumented extension, so the compiler
lays out and inlines for the paths users run rather than for error paths.

- ingest: `append` in order and with 5% late records, `extend`, `bulk_append`
  in 10,000-record calls;
- both maintenance modes (`disabled` with explicit `flush`/`compact`, and
  `background`);
- retention: `delete_before` on a sliding window, `delete_range` holes;
- reads over memtables, flushed segments and both: `t in log`, `log[t]`,
  `point`, `next_ts`/`prev_ts`, short and long `range`s through `list()` and
  `for`, `since`, `count`, `histogram`, `next_batch`, full scans, reversed
  scans, views.

Stdlib only (runs on every interpreter a wheel is built for); a few seconds.
Its results are not checked: the test suites do that, on the built wheel.
"""

import array
import random

import timelog

N = 50_000


def reads(log, lo, hi, k=2000):
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
    for p in probes[:50]:
        list(log.range(p, p + 1000))
        for _ in log.range(p, p + 1000):
            pass
        log.histogram(p, p + 1000, 100)
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
    len(log)
    log.min_ts()
    log.max_ts()


def appended(shape, maintenance):
    log = timelog.Timelog(maintenance=maintenance)
    rnd = random.Random(7)
    late = "late" in shape
    window = "window" in shape
    for i in range(N):
        ts = max(0, i - rnd.randint(1, 1000)) if late and i % 20 == 0 and i > 0 else i
        log.append(ts, i)
        if window and (i + 1) % 1000 == 0 and i + 1 > N // 10:
            log.delete_before(i + 1 - N // 10)
    return log


def main():
    for maintenance in ("disabled", "background"):
        for shape in ("inorder", "late5", "window_inorder", "window_late5"):
            log = appended(shape, maintenance)
            lo = N - N // 10 if "window" in shape else 0
            reads(log, lo, N)
            log.flush()
            log.compact()
            reads(log, lo, N)
            for k in range(lo, N, 1000):
                log.delete_range(k, k + 500)
            reads(log, lo, N, 500)
            log.close()
        for late in (False, True):
            rnd = random.Random(5)
            n = 4 * N
            ts = [i - (rnd.randint(1, 1000) if late and i % 20 == 0 and i > 1000 else 0) for i in range(n)]
            log = timelog.Timelog(maintenance=maintenance)
            log.extend(zip(ts, range(n)))
            bulk = timelog.Timelog(maintenance=maintenance)
            for k in range(0, n, 10_000):
                bulk.bulk_append(array.array("q", ts[k : k + 10_000]), list(range(k, k + 10_000)))
            log.flush()
            bulk.flush()
            reads(log, 0, n, 500)
            reads(bulk, 0, n, 500)
            log.close()
            bulk.close()


if __name__ == "__main__":
    main()
