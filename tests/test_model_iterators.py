"""Stateful property test of derived iterators and re-entrant payloads.

A pure-Python model (records ``(ts, seq)`` and tombstones ``(t1, t2, seq)``,
as in test_model.py) against one log, with iterators kept alive across
steps: partially consumed by ``next``/``next_batch``, reversed (also
``reversed`` of ``reversed``, after partial consumption), viewed with
``it.view()`` after partial consumption, closed — while the log is written,
deleted from, flushed and compacted. Some payloads have a ``__del__`` that
re-enters the log and the live iterators (reads, ``len(it)``, ``flush``,
``maint_step``) when maintenance or an iterator releases them; every such
call must complete without error or deadlock.

Environment knobs: ``TIMELOG_HYPOTHESIS_EXAMPLES`` (default 60) and
``TIMELOG_HYPOTHESIS_STEPS`` (default 50).
"""

from __future__ import annotations

import gc
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from timelog import Timelog, TimelogError

MAX_ITERS = 5
ts_st = st.integers(-20, 20)


class Reenter:
    """A payload whose release re-enters the log and its live iterators."""

    machine = None

    def __init__(self, ts):
        self.ts = ts

    def __del__(self):
        m = Reenter.machine
        if m is None or m.log is None or m.log.closed:
            return
        try:
            len(m.log)
            m.log.at(self.ts)
            self.ts in m.log
            list(m.log[self.ts - 2 : self.ts + 2])
            for it, *_ in list(m.iters):
                # A __del__ run by a collection *inside* an iterator's own
                # call finds it owned: documented RuntimeError (as for
                # generators), not a deadlock. Released by the iterator
                # itself, a payload finds it free (test_reentrancy.py).
                try:
                    len(it)
                    it.closed
                except RuntimeError as e:
                    if "already executing" not in str(e):
                        raise
                    m.busy_seen += 1
            if self.ts % 3 == 0:
                m.log.flush()
            if self.ts % 5 == 0:
                try:
                    m.log.maint_step()
                except TimelogError:
                    pass  # refused under background maintenance
            m.del_calls += 1
        except BaseException as e:  # pragma: no cover - reported by the invariant
            m.del_errors.append(repr(e))


class IteratorMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.log = Timelog(maintenance="disabled", memtable_max_bytes=4096)
        self.records = []  # (ts, seq)
        self.tombs = []  # (t1, t2, seq)
        self.seq = 0
        self.iters = []  # [(iterator, expected remaining rows as ts list, lo, hi)]
        self.del_calls = 0
        self.busy_seen = 0
        self.del_errors = []
        Reenter.machine = self

    def teardown(self):
        for it, *_ in self.iters:
            it.close()
        self.iters.clear()
        gc.collect()
        self.log.close()
        Reenter.machine = None

    # ----- the model ------------------------------------------------------

    def visible(self, lo, hi):
        """Visible timestamps in [lo, hi), ascending (ts, seq) order."""
        out = []
        for ts, seq in sorted(self.records):
            if lo <= ts < hi and not any(t1 <= ts < t2 and s > seq for t1, t2, s in self.tombs):
                out.append(ts)
        return out

    # ----- writes ---------------------------------------------------------

    @rule(ts=ts_st, reenter=st.booleans())
    def append(self, ts, reenter):
        self.seq += 1
        self.log.append(ts, Reenter(ts) if reenter else ts)
        self.records.append((ts, self.seq))

    @rule(tss=st.lists(ts_st, max_size=8))
    def extend(self, tss):
        # One batch: sorted stably, then sequence numbers in that order.
        self.log.extend([(t, Reenter(t)) for t in tss])
        for t in sorted(tss):
            self.seq += 1
            self.records.append((t, self.seq))

    @rule(a=ts_st, b=ts_st)
    def delete(self, a, b):
        a, b = min(a, b), max(a, b)
        self.log.delete_range(a, b)
        if a < b:
            self.seq += 1
            self.tombs.append((a, b, self.seq))

    @rule(what=st.sampled_from(["flush", "compact", "maint_step"]))
    def maintain(self, what):
        getattr(self.log, what)()

    # ----- iterators ------------------------------------------------------

    @precondition(lambda self: len(self.iters) < MAX_ITERS)
    @rule(a=ts_st, b=ts_st, desc=st.booleans())
    def new_iter(self, a, b, desc):
        a, b = min(a, b), max(a, b)
        exp = self.visible(a, b)
        if desc:
            it = reversed(self.log[a:b])
            exp = exp[::-1]
        else:
            it = self.log[a:b]
        self.iters.append((it, exp, a, b))

    @precondition(lambda self: self.iters)
    @rule(i=st.integers(0, MAX_ITERS - 1), n=st.integers(0, 4), batch=st.booleans())
    def consume(self, i, n, batch):
        it, exp, _, _ = self.iters[i % len(self.iters)]
        if batch:
            got = [r[0] for r in it.next_batch(n)]
        else:
            got = []
            for _ in range(n):
                r = next(it, None)
                if r is None:
                    break
                got.append(r[0])
        assert got == exp[: len(got)] and len(got) == min(n, len(exp)), (got, exp)
        del exp[: len(got)]

    @precondition(lambda self: self.iters and len(self.iters) < MAX_ITERS)
    @rule(i=st.integers(0, MAX_ITERS - 1), twice=st.booleans())
    def reverse(self, i, twice):
        it, exp, lo, hi = self.iters[i % len(self.iters)]
        r = reversed(it)
        rexp = exp[::-1]
        if twice:
            r = reversed(r)
            rexp = list(exp)
        self.iters.append((r, rexp, lo, hi))

    @precondition(lambda self: self.iters)
    @rule(i=st.integers(0, MAX_ITERS - 1))
    def view(self, i):
        it, exp, lo, hi = self.iters[i % len(self.iters)]
        spans = list(it.view())
        # The view covers the iterator's range of its own snapshot (whatever
        # it has consumed): sorted, in-range timestamps of flushed pages; an
        # exhausted or closed iterator has no snapshot left and no view.
        for s in spans:
            ts = s.copy_timestamps()
            assert ts == sorted(ts) and all(lo <= t < hi for t in ts), (ts, lo, hi)
            assert len(s.objects()) == len(ts)
        if it.closed:
            assert spans == []
        for s in spans:
            s.close()

    @precondition(lambda self: self.iters)
    @rule(i=st.integers(0, MAX_ITERS - 1), how=st.sampled_from(["close", "drop", "exhaust"]))
    def finish(self, i, how):
        k = i % len(self.iters)
        it, exp, _, _ = self.iters.pop(k)
        if how == "close":
            it.close()
            assert it.closed and len(it) == 0 and next(it, None) is None
        elif how == "exhaust":
            assert [r[0] for r in it] == exp
        del it

    # ----- invariants -----------------------------------------------------

    @invariant()
    def lengths_match(self):
        for it, exp, _, _ in self.iters:
            assert len(it) == len(exp)

    @invariant()
    def log_matches_model(self):
        assert [r[0] for r in self.log.all()] == self.visible(-(2**63), 2**63 - 1)

    @invariant()
    def reentrant_calls_succeeded(self):
        assert not self.del_errors, self.del_errors


IteratorMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("TIMELOG_HYPOTHESIS_EXAMPLES", "60")),
    stateful_step_count=int(os.environ.get("TIMELOG_HYPOTHESIS_STEPS", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestIterators = IteratorMachine.TestCase


def test_reversed_of_reversed_after_partial_consumption():
    # Regression (issue 11, defect 2): reversed(reversed(it)) read from the
    # start of the walk instead of where `it` stood.
    log = Timelog(maintenance="disabled")
    log.extend([(t, t) for t in range(10)])
    it = log[0:10]
    it.next_batch(8)
    assert list(reversed(reversed(it))) == [(8, 8), (9, 9)]
    it = log[0:10]
    next(it)
    r = reversed(it)
    assert next(r) == (9, 9)
    assert list(reversed(r)) == [(t, t) for t in range(1, 9)]
    assert list(reversed(reversed(reversed(log[0:10])))) == [(t, t) for t in range(9, -1, -1)]
    it.close()
    r.close()
    log.close()
