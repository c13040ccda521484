"""Mistakes the stubs must reject: every line marked ``# E: <code>`` must
be an error of that mypy code (tests/test_stubs.py checks the exact set)."""

from __future__ import annotations

import datetime

from timelog import Timelog

Timelog(timeunit="ms")  # E: call-arg
Timelog(time_unit="sec")  # E: arg-type
Timelog(maintenance="manual")  # E: arg-type
Timelog(busy_policy="block")  # E: arg-type
Timelog(memtable_max_bytes="1MB")  # E: arg-type
Timelog(adaptive={"target_record": 10})  # E: arg-type
Timelog(compaction={"max_inputs": "4"})  # E: arg-type
Timelog(mostly_ordered_default=None)  # E: arg-type

log = Timelog()
log.reopen(time_units="ms")  # E: call-arg
log.append(1.5, "x")  # E: call-overload
log[datetime.datetime.now()] = "x"  # E: index
log.range(0.0, 10)  # E: arg-type
log.views(0)  # E: call-overload
log.views(kind="pages")  # E: call-overload
log.views(kind="page")  # E: call-overload
n: str = log.tail(1)  # E: assignment
ts: str = list(log[0:20])[0][0]  # E: assignment
