"""Typed usage of the timelog package: must pass ``mypy --strict``.

Checked by tests/test_stubs.py (and so in CI). The ``assert_type`` lines
pin the types the stubs promise (mypy fails them if a type changes).
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import assert_type

from timelog import PageSpan, PageSpanIter, Timelog, TimelogBusyError, TimelogError, TimelogIter

log = Timelog(time_unit="ms", maintenance="disabled", busy_policy="flush", min_ts=None)
log2 = Timelog(
    memtable_max_bytes=1 << 20,
    compaction={"target_bytes": 1 << 20, "max_inputs": 4},
    adaptive={"target_records": 10_000, "alpha": 0.3},
    delete_debt_threshold=0.5,
    maintenance_nice=None,
)
log3 = Timelog.for_bulk_ingest(time_unit="us")
log4 = Timelog(adaptive_target_records=10_000, compaction_target_bytes=0)  # C package's flat spellings

log[10] = "A"
log.append("now")
log.append("late", ts=5)
log.append(7, {"k": 1})
log.extend([(3, "x"), (1, "y")])
log.extend([1, 2], ["a", "b"], mostly_ordered=True)
del log[5:15]
log.delete(3)
log.delete(0, 2)
log.delete_before(1)

rows = list(log[0:20])
assert_type(rows, list[tuple[int, Any]])
at10 = log[10]
assert_type(at10, list[Any])
assert_type(log.range(0, 20), TimelogIter)
assert_type(log.tail(2), list[tuple[int, Any]])
assert_type(log.min_ts(), int | None)
assert_type(log.next_ts(0), int | None)
assert_type(log.time_unit, Literal["s", "ms", "us", "ns"])

for ts, obj in log.since(0, reverse=True):
    assert_type(ts, int)
    print(ts, obj)

with log.range(0, 100) as it:
    batch = it.next_batch(10)
    assert_type(batch, list[tuple[int, Any]])

log.flush()
spans: PageSpanIter = log.views()
for span in log.views(0, 100, kind="segment"):
    assert_type(span, PageSpan)
    mv: memoryview = span.timestamps
    first: int = span.start_ts
    values: list[Any] = span.objects().copy()
    span.close()
spans.close()

d = log.to_dict(0, 100)
assert_type(d, dict[int, Any])
stats = log.stats()
assert_type(stats, dict[str, dict[str, Any]])

try:
    log.append(1, "x")
except TimelogBusyError:
    pass  # committed; do not retry
except TimelogError:
    raise

for other in (log2, log3, log4):
    other.close()
log.close()
log.reopen(time_unit="ns")
log.close()
