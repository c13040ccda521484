"""Differential conformance: the same random operation scripts replayed on
the C package (``timelog-lib`` 1.4.0, CPython 3.13, its own venv) and on
ours, comparing every result and exception class.

Both packages import as ``timelog``, so each runs ``driver.py`` in its own
interpreter:

- the C package: ``TIMELOG_CONFORMANCE_C_PYTHON``, else
  ``benches/python/.venv-c-3.13/bin/python`` (``benches/python/_venvs.py``
  creates it); the test is skipped, saying so, when neither exists;
- ours: ``TIMELOG_CONFORMANCE_OURS_PYTHON``, else this interpreter.

``TIMELOG_CONFORMANCE_OPS`` sets the number of operations (default 3000,
the bounded CI run; ``.ci/run`` runs it after the CPython 3.13 stage), and
``TIMELOG_CONFORMANCE_SEED`` the seed. A long run:

    TIMELOG_CONFORMANCE_OPS=200000 .venvs/py313/bin/python -m pytest tests/conformance -q

Every difference is either a failure or matches one of the ``WHITELIST``
rules, each of which names its row of the differences table in
docs/python-api.md. The summary line (ops, differences, whitelisted by
reason) is printed and written to ``$TIMELOG_CONFORMANCE_REPORT`` if set.
"""

from __future__ import annotations

import collections
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DRIVER = HERE / "driver.py"

TS_MIN, TS_MAX = -(2**63), 2**63 - 1


def _c_python() -> Path | None:
    p = os.environ.get("TIMELOG_CONFORMANCE_C_PYTHON")
    if p:
        return Path(p)
    p = ROOT / "benches" / "python" / ".venv-c-3.13" / "bin" / "python"
    return p if p.exists() else None


# ------------------------------------------------------------------ scripts


class Gen:
    """Random operation scripts. Tracks which timestamps were written more
    than once (where the C package may order equal timestamps differently)."""

    def __init__(self, rng: random.Random):
        self.r = rng
        self.n = 0
        self.next_in_order = 0
        self.written: collections.Counter = collections.Counter()
        self.iters: list[int] = []
        self.next_iter = 0

    def obj(self):
        self.n += 1
        return f"v{self.n}"

    def ts(self):
        r = self.r.random()
        if r < 0.45:  # in order
            self.next_in_order += self.r.randint(0, 3)
            t = self.next_in_order
        elif r < 0.75:  # out of order
            t = self.r.randint(-20, self.next_in_order + 5)
        elif r < 0.97 and self.written:  # duplicate
            t = self.r.choice(list(self.written))
        else:
            t = self.r.choice([TS_MIN, TS_MAX, TS_MIN + 1, TS_MAX - 1, 0])
        return t

    def wrote(self, t):
        if isinstance(t, int) and not isinstance(t, bool):
            self.written[t] += 1

    def bad(self):
        return self.r.choice(
            [
                True,
                False,
                {"$": "float", "v": "1.5"},
                {"$": "float", "v": "2.0"},
                {"$": "float", "v": "nan"},
                2**63,
                -(2**63) - 1,
                2**70,
                None,
                "12",
            ]
        )

    def any_ts(self):
        return self.bad() if self.r.random() < 0.08 else self.ts()

    def bound(self):
        r = self.r.random()
        if r < 0.1:
            return None
        if r < 0.15:
            return self.bad()
        return self.r.randint(-25, self.next_in_order + 10)

    def op(self):
        r = self.r
        kind = r.choices(
            ["write", "extend", "bulk", "delete", "maint", "read", "iter", "nav", "misc"],
            weights=[22, 10, 4, 8, 7, 16, 18, 10, 5],
        )[0]
        if kind == "write":
            t = self.any_ts()
            if t is None:  # append(None, obj) / ts=None take the wall clock: not comparable
                t = 2**63
            self.wrote(t)
            form = r.choice(["append", "append", "append_kw", "setitem"])
            return [form, t, self.obj()]
        if kind == "extend":
            n = r.randint(0, 12)
            ts = [self.any_ts() if r.random() < 0.9 else self.bad() for _ in range(n)]
            objs = [self.obj() for _ in range(n)]
            flags = {}
            if r.random() < 0.5:
                flags["insert_on_error"] = r.random() < 0.6
            if r.random() < 0.3:
                flags["mostly_ordered"] = r.choice([True, False, None])
            form = r.choice(["pairs", "pairs_gen", "parallel", "parallel_gen"])
            if flags.get("insert_on_error", True) or not any(not isinstance(t, int) or isinstance(t, bool) or not TS_MIN <= t <= TS_MAX for t in ts):
                for t in ts:
                    self.wrote(t)
            if form == "pairs":
                return ["extend", {"$": "pairs", "v": [[t, o] for t, o in zip(ts, objs)]}, flags]
            if form == "pairs_gen":
                return ["extend", {"$": "gen", "v": [{"$": "tuple", "v": [t, o]} for t, o in zip(ts, objs)]}, flags]
            if form == "parallel":
                if r.random() < 0.05:
                    objs = objs[:-1]  # length mismatch
                return ["extend", ts, objs, flags]
            return ["extend", {"$": "gen", "v": ts}, objs, flags]
        if kind == "bulk":
            n = r.randint(0, 10)
            ts = [self.ts() for _ in range(n)]
            for t in ts:
                self.wrote(t)
            objs = [self.obj() for _ in range(n)]
            flags = {} if r.random() < 0.7 else {"mostly_ordered": r.choice([True, False])}
            if r.random() < 0.1:
                return ["bulk_append", {"$": "arr", "v": ts}, objs[:-1] if objs else ["x"], flags]
            return ["bulk_append", {"$": "arr", "v": ts}, objs, flags]
        if kind == "delete":
            form = r.choice(["delete1", "delete2", "delete_range", "delete_before", "cutoff", "delitem", "delslice"])
            a, b = self.bound(), self.bound()
            if form == "delete1":
                return ["delete", self.any_ts()]
            if form == "delete2":
                return ["delete", a if a is not None else 0, b if b is not None else 5]
            if form == "delete_range":
                lo, hi = r.randint(-25, self.next_in_order + 5), r.randint(-25, self.next_in_order + 5)
                return ["delete_range", lo, hi]
            if form in ("delete_before", "cutoff"):
                return [form, r.randint(-25, max(-20, self.next_in_order // 3))]
            if form == "delitem":
                return ["delitem", self.any_ts()]
            return ["delslice", a, b]
        if kind == "maint":
            return [r.choice(["flush", "flush", "compact", "maint_step", "maint_drain", "validate"])]
        if kind == "read":
            form = r.choice(["slice", "getitem", "at", "range", "since", "until", "all", "point", "equal", "iter", "to_dict"])
            if form == "slice":
                return ["slice", self.bound(), self.bound()]
            if form in ("getitem", "at", "point", "equal", "since", "until"):
                return [form, self.bound() if r.random() < 0.5 else self.any_ts()]
            if form == "range":
                return ["range", self.bound(), self.bound()]
            if form == "to_dict":
                return ["to_dict", self.bound(), self.bound()]
            return [form]
        if kind == "iter":
            if not self.iters or r.random() < 0.25:
                ident = self.next_iter
                self.next_iter += 1
                how = r.choice(["slice", "range", "since", "until", "all", "point", "iter"])
                args = {
                    "slice": lambda: [self.bound(), self.bound()],
                    "range": lambda: [r.randint(-25, 10), r.randint(0, self.next_in_order + 10)],
                    "since": lambda: [r.randint(-25, self.next_in_order + 5)],
                    "until": lambda: [r.randint(-25, self.next_in_order + 5)],
                    "all": lambda: [],
                    "point": lambda: [self.ts()],
                    "iter": lambda: [],
                }[how]()
                self.iters.append(ident)
                return ["it_open", ident, how, *args]
            ident = r.choice(self.iters)
            form = r.choices(["it_next", "it_batch", "it_len", "it_rest", "it_close", "it_closed"], [30, 30, 10, 8, 10, 5])[0]
            if form in ("it_rest", "it_close"):
                if form == "it_close":
                    self.iters.remove(ident)
                return [form, ident]
            if form == "it_next":
                return [form, ident, r.randint(1, 5)]
            if form == "it_batch":
                return [form, ident, r.choice([0, 1, 3, 8, 100, -1])]
            return [form, ident]
        if kind == "nav":
            form = r.choice(["next_ts", "prev_ts", "min_ts", "max_ts", "len", "contains", "count"])
            if form in ("next_ts", "prev_ts", "contains"):
                return [form, self.any_ts()]
            if form == "count":
                lo = r.randint(-25, self.next_in_order + 5)
                return [form, lo, lo + r.randint(0, 30)]
            return [form]
        form = r.choice(["stats_keys", "props", "reversed", "tail", "head"])
        if form in ("tail", "head"):
            return [form, r.randint(0, 5)]
        return [form]

    def config(self):
        r = self.r
        maintenance = r.choice(["disabled", "disabled", "background"])
        cfg = {"maintenance": maintenance, "busy_policy": r.choice(["silent", "flush"])}
        if r.random() < 0.5:
            cfg["memtable_max_bytes"] = r.choice([1024, 4096, 65536])
        if r.random() < 0.4:
            cfg["window_size"] = r.choice([7, 50, 1000])
        if r.random() < 0.3:
            cfg["max_delta_segments"] = r.choice([1, 2, 4])
        if r.random() < 0.2:
            cfg["min_ts"] = r.randint(-10, 10)
        if r.random() < 0.2:
            cfg["mostly_ordered_default"] = r.choice([True, False])
        if maintenance == "background":
            cfg["maintenance_wakeup_ms"] = 1
        if r.random() < 0.15:  # the C package's flat legacy keywords
            flat = r.choice(
                [
                    ("max_compaction_inputs", r.choice([0, 1, 2, 8])),
                    ("max_compaction_windows", r.choice([0, 1, 3])),
                    ("compaction_target_bytes", r.choice([0, 512, 1 << 20])),
                    ("adaptive_alpha", r.choice([0.0, 0.3, 1.0])),
                    ("adaptive_warmup_flushes", r.choice([0, 2])),
                    ("adaptive_target_records", r.choice([0, 10, 50])),
                ]
            )
            cfg[flat[0]] = flat[1]
        if r.random() < 0.15:  # adaptive window sizing on: results must not change
            cfg["adaptive"] = {"target_records": r.choice([5, 20, 100]), "alpha": 0.5, "warmup_flushes": 1}
        if r.random() < 0.06:  # a bad configuration: both must refuse it alike
            bad = r.choice(
                [
                    {"adaptive_alpha": 0.5, "adaptive": {"alpha": 0.4}},
                    {"compaction_target_bytes": 1, "compaction": {"target_bytes": 2}},
                    {"adaptive": {"bogus": 1}},
                    {"compaction": {"bogus": 1}},
                    {"adaptive": {"$": "tuple", "v": [1]}},
                    {"adaptive_alpha": {"$": "float", "v": "nan"}},
                    {"adaptive": {"alpha": {"$": "float", "v": "inf"}}},
                    {"delete_debt_threshold": {"$": "float", "v": "nan"}},
                    {"delete_debt_threshold": 1.5},
                    {"adaptive_alpha": 2.0},
                    {"window_size": -1},
                    {"window_size": 2**63},
                    {"memtable_max_bytes": -1},
                    {"sealed_max_runs": 2**64},
                    {"max_compaction_inputs": -1},
                    {"adaptive_target_records": -1},
                    {"adaptive_target_records": {"$": "float", "v": "1.5"}},
                    {"time_unit": "h"},
                    {"maintenance": "auto"},
                    {"busy_policy": "block"},
                    {"min_ts": 2**63},
                    {"mostly_ordered_default": 1},
                    {"no_such_knob": 1},
                    {"compaction": 5},
                ]
            )
            cfg.update(bad)
        return cfg

    def session(self, n_ops):
        self.__init__(self.r)
        cfg = self.config()
        ops, dups = [], []
        for _ in range(n_ops):
            ops.append(self.op())
            low = any(t < -(2**62) for t in self.written)
            dups.append((sorted(t for t, c in self.written.items() if c > 1), low))
        return {"config": cfg, "ops": ops}, dups


def make_scripts(total_ops: int, seed: int):
    rng = random.Random(seed)
    g = Gen(rng)
    sessions, dups = [], []
    done = 0
    while done < total_ops:
        n = min(total_ops - done, rng.randint(20, 150))
        s, d = g.session(n)
        sessions.append(s)
        dups.append(d)
        done += n
    return sessions, dups


# ---------------------------------------------------------------- whitelist
# Each rule: (reason = its row of the differences table, predicate).


def _ts_seq(v):
    if isinstance(v, list):
        return [x[0] if isinstance(x, list) and len(x) == 2 else x for x in v]
    return None


def _equal_ts_order_only(op, c, o, dup):
    """Same timestamps in the same order; objects differ only at timestamps
    written more than once (the C package may reorder those across layers)."""
    if c[0] != "ok" or o[0] != "ok":
        return False
    cv, ov = c[1], o[1]
    if op[0] in ("getitem", "at"):  # lists of objects at one timestamp
        return isinstance(cv, list) and sorted(map(str, cv)) == sorted(map(str, ov)) and op[1] in dup
    if op[0] == "to_dict":  # last record of a duplicated timestamp
        if not (isinstance(cv, list) and isinstance(ov, list) and len(cv) == len(ov)):
            return False
        return all(a[0] == b[0] and (a[1] == b[1] or a[0] in dup) for a, b in zip(cv, ov))
    if op[0] == "it_next":
        cv = [x for x in cv if x != "stop"]
        ov = [x for x in ov if x != "stop"]
    if not (isinstance(cv, list) and isinstance(ov, list)) or _ts_seq(cv) != _ts_seq(ov):
        return False
    return all(a == b or a[0] in dup for a, b in zip(cv, ov))


def _exc(r, *names):
    return r[0] == "exc" and (not names or r[1] in names)


C_LOW_COMPACTION = (
    "C: compaction (maint_step()) raises ValueError 'invalid argument' once a record lies near INT64_MIN; "
    "ours compacts it"
)

WHITELIST = [
    (
        "reversed(), descending ranges, tail/head: C TypeError / absent; ours supported",
        lambda op, c, o, dup: op[0] in ("reversed", "tail", "head") and _exc(c, "TypeError", "AttributeError"),
    ),
    (
        "equal timestamps across storage layers: C order can change; ours insertion order always",
        _equal_ts_order_only,
    ),
    (
        "stats(): ours has extra keys (C's keys are all present)",
        lambda op, c, o, dup: op[0] == "stats_keys"
        and c[0] == o[0] == "ok"
        and all(sec in o[1] and set(keys) <= set(o[1][sec]) for sec, keys in c[1].items()),
    ),
    (
        "an iterator with nothing left: C reports closed=False until StopIteration; ours closes it (and releases its snapshot) at once",
        lambda op, c, o, dup: op[0] == "it_closed" and c == ["ok", [False, 0]] and o[0] == "ok" and o[1][0] is True,
    ),
    (
        "maint_step() result: whether a step finds work depends on the storage layout (memtable sizing; "
        "C's compact() with maintenance='disabled' only schedules the work for the next maint_step())",
        lambda op, c, o, dup: op[0] == "maint_step" and c[0] == o[0] == "ok",
    ),
    (
        "range()/since()/... with bool/float: C accepted / generic message; ours TypeError with the coercion message",
        lambda op, c, o, dup: _exc(o, "TypeError")
        and any(isinstance(x, bool) or (isinstance(x, dict) and x.get("$") == "float") for x in op[1:] if not isinstance(x, (list, dict)) or isinstance(x, dict)),
    ),
]


# Phrases of the C package's messages that users and their tests match:
# where a C message has one, ours must have it too (help may follow).
PHRASES = ["must be finite", "Unknown key", "outside int64 range", "Cannot specify both", "keys must be str"]


def _phrases_missing(c_msg, o_msg):
    return [p for p in PHRASES if p in (c_msg or "") and p not in (o_msg or "")]


def classify(op, c, o, dup, low):
    if op[0] in ("maint_step", "maint_drain", "compact") and _exc(c, "ValueError") and low and o[0] == "ok":
        return C_LOW_COMPACTION
    for reason, pred in WHITELIST:
        try:
            if pred(op, c, o, dup):
                return reason
        except Exception:  # a predicate that does not apply
            continue
    return None


# --------------------------------------------------------------------- test


def _run(python: Path, sessions) -> list:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    p = subprocess.run(
        [str(python), str(DRIVER)],
        input=json.dumps(sessions),
        capture_output=True,
        text=True,
        env=env,
        cwd=str(HERE),  # the driver imports the installed package, never the checkout
        timeout=3600,
    )
    if p.returncode != 0:
        raise AssertionError(f"driver failed on {python}:\n{p.stderr[-4000:]}")
    return json.loads(p.stdout)["results"]


# A long run (TIMELOG_CONFORMANCE_OPS=200000) takes a few minutes.
@pytest.mark.timeout(3600)
def test_conformance_with_the_c_package():
    c_py = _c_python()
    if c_py is None or not c_py.exists():
        pytest.skip(
            "the C package's venv is absent: create it with "
            "`python3 -c \"import sys; sys.path.insert(0, 'benches/python'); import _venvs; _venvs.ensure_c()\"` "
            "or set TIMELOG_CONFORMANCE_C_PYTHON (.ci/run does this)"
        )
    ours_py = Path(os.environ.get("TIMELOG_CONFORMANCE_OURS_PYTHON", sys.executable))
    total = int(os.environ.get("TIMELOG_CONFORMANCE_OPS", "3000"))
    seed = int(os.environ.get("TIMELOG_CONFORMANCE_SEED", "11"))
    sessions, dups = make_scripts(total, seed)
    c_res = _run(c_py, sessions)
    o_res = _run(ours_py, sessions)
    failures, allowed, examples = [], collections.Counter(), []
    n_ops = n_refused = n_phrases = 0
    for si, (spec, cr, orr, dup) in enumerate(zip(sessions, c_res, o_res, dups)):
        if cr["config"] != orr["config"]:
            failures.append(f"session {si} config {spec['config']}: C {cr['config']} ours {orr['config']}")
            continue
        n_refused += cr["config"] != "ok"
        missing = _phrases_missing(cr.get("config_msg"), orr.get("config_msg"))
        if missing:
            failures.append(f"session {si} config {spec['config']}: ours lacks {missing}: C {cr['config_msg']!r} ours {orr['config_msg']!r}")
        for k, c_msg in cr["msgs"].items():
            missing = _phrases_missing(c_msg, orr["msgs"].get(k))
            if missing:
                failures.append(f"session {si} op {k} {spec['ops'][int(k)]!r}: ours lacks {missing}: C {c_msg!r} ours {orr['msgs'].get(k)!r}")
            elif any(p in c_msg for p in PHRASES):
                n_phrases += 1
        for oi, (op, c, o) in enumerate(zip(spec["ops"], cr["ops"], orr["ops"])):
            n_ops += 1
            if c == o:
                continue
            reason = classify(op, c, o, set(dup[oi][0]), dup[oi][1])
            if reason:
                allowed[reason] += 1
                if allowed[reason] <= 3:
                    examples.append(f"[{reason[:40]}] {op!r}: C {str(c)[:150]} ours {str(o)[:150]}")
            else:
                failures.append(f"session {si} op {oi} {op!r}: C {c!r} ours {o!r} (config {spec['config']})")
                break  # later ops of a diverged session are not meaningful
    summary = (
        f"conformance: {n_ops} ops in {len(sessions)} sessions (seed {seed}; "
        f"{n_refused} refused configurations, alike; {n_phrases} C message phrases kept), "
        f"{len(failures)} unexplained differences, {sum(allowed.values())} whitelisted: {dict(allowed)}"
    )
    print(summary)
    report = os.environ.get("TIMELOG_CONFORMANCE_REPORT")
    if report:
        Path(report).write_text("\n".join([summary, *failures[:200], "whitelisted examples:", *examples]) + "\n")
    assert not failures, summary + "\n" + "\n".join(failures[:30])
