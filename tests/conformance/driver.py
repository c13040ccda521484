"""Conformance driver: replays operation scripts on whichever `timelog` this
interpreter imports (ours, or the C package `timelog-lib` in its own venv)
and writes what every operation returned or raised, as JSON.

    python driver.py < scripts.json > results.json

Input: a list of sessions, each ``{"config": {...}, "ops": [[name, arg...], ...]}``.
Output: per session, ``{"config": "ok" | "ExceptionClassName", "ops": [...]}``
with one entry per operation: ``["ok", value]`` or
``["exc", "ExceptionClassName"]``, plus ``{"warn": n}``; the messages of
the exceptions are in ``"msgs"`` (by operation index) and ``"config_msg"`` (number of
RuntimeWarnings the operation emitted) when non-zero. Stdlib only (numpy is
used for the "np" argument tag when importable), so the same file runs on
both packages; the pytest in test_conformance.py generates the scripts and
compares the two outputs.

Argument encoding (JSON has no tuples, generators or buffers): a dict with
key "$" is a tagged value — ``{"$": "float", "v": "nan"}``,
``{"$": "pairs", "v": [[ts, obj], ...]}`` (a list of tuples),
``{"$": "gen", "v": [...]}`` (a generator over the decoded items),
``{"$": "arr", "v": [...]}`` (``array.array("q")``),
``{"$": "np", "v": ..., "dtype": "int64"}`` (a numpy array, any shape).
"""

from __future__ import annotations

import array
import json
import math
import sys
import warnings

import timelog
from timelog import Timelog


def decode(v):
    if isinstance(v, dict) and "$" in v:
        tag, x = v["$"], v.get("v")
        if tag == "float":
            return float(x)
        if tag == "pairs":
            return [(decode(a), decode(b)) for a, b in x]
        if tag == "gen":
            items = [decode(i) for i in x]
            return (i for i in items)
        if tag == "arr":
            return array.array("q", x)
        if tag == "np":
            import numpy

            return numpy.array(x, dtype=v.get("dtype", "int64"))
        if tag == "tuple":
            return tuple(decode(i) for i in x)
        raise ValueError(f"unknown tag {tag!r}")
    if isinstance(v, list):
        return [decode(i) for i in v]
    return v


def encode(r):
    if isinstance(r, float):
        if math.isnan(r) or math.isinf(r):
            return {"$": "float", "v": repr(r)}
        return r
    if isinstance(r, (list, tuple)):
        return [encode(i) for i in r]
    if isinstance(r, dict):
        return {str(k): encode(v) for k, v in r.items()}
    if r is None or isinstance(r, (bool, int, str)):
        return r
    return {"$": "repr", "v": type(r).__name__}


def records(it):
    return [list(rec) for rec in it]


class Session:
    def __init__(self, config):
        self.log = Timelog(**config)
        self.iters = {}

    # Each op returns a JSON-able value or raises.
    def run(self, name, args):
        log = self.log
        a = [decode(x) for x in args]
        if name == "append":
            return log.append(*a)
        if name == "append_kw":  # append(obj, ts=T)
            return log.append(a[1], ts=a[0])
        if name == "setitem":
            log[a[0]] = a[1]
            return None
        if name == "extend":  # extend(items, [objects], {flags})
            kw = a[-1]
            return log.extend(*a[:-1], **kw)
        if name == "bulk_append":
            return log.bulk_append(a[0], a[1], **a[2])
        if name == "delete":
            return log.delete(*a)
        if name == "delete_range":
            return log.delete_range(*a)
        if name == "delete_before":
            return log.delete_before(a[0])
        if name == "cutoff":
            return log.cutoff(a[0])
        if name == "delitem":
            del log[a[0]]
            return None
        if name == "delslice":
            del log[slice(*a)]
            return None
        if name in ("flush", "compact", "maint_step", "validate"):
            return getattr(log, name)()
        if name == "maint_drain":  # maint_step() until no work (bounded)
            n = 0
            while n < 1000 and log.maint_step():
                n += 1
            return None
        if name == "slice":
            return records(log[slice(*a)])
        if name == "getitem":
            return log[a[0]]
        if name == "at":
            return log.at(a[0])
        if name in ("range", "since", "until", "all", "point", "equal"):
            return records(getattr(log, name)(*a))
        if name == "iter":
            return records(iter(log))
        if name == "reversed":
            return records(reversed(log))
        if name in ("tail", "head"):
            return records(getattr(log, name)(a[0]))
        if name in ("next_ts", "prev_ts"):
            return getattr(log, name)(a[0])
        if name in ("min_ts", "max_ts"):
            return getattr(log, name)()
        if name == "len":
            return len(log)
        if name == "contains":
            return a[0] in log
        if name == "count":  # records in [t1, t2) without consuming them
            with log.range(a[0], a[1]) as it:
                return len(it)
        if name == "to_dict":
            return sorted([k, v] for k, v in log.to_dict(*a).items())
        if name == "stats_keys":
            s = log.stats()
            return {sec: sorted(v) for sec, v in s.items()}
        if name == "props":
            return [log.closed, log.time_unit, log.busy_policy, log.maintenance_mode, log.min_ts_floor]
        # Named iterators: ["it_open", id, how, args...]
        if name == "it_open":
            ident, how, rest = a[0], a[1], a[2:]
            if how == "slice":
                it = log[slice(*rest)]
            elif how == "iter":
                it = iter(log)
            else:
                it = getattr(log, how)(*rest)
            self.iters[ident] = it
            return len(it)
        if name == "it_next":
            it = self.iters[a[0]]
            out = []
            for _ in range(a[1]):
                try:
                    out.append(list(next(it)))
                except StopIteration:
                    out.append("stop")
                    break
            return out
        if name == "it_batch":
            return records(self.iters[a[0]].next_batch(a[1]))
        if name == "it_len":
            return len(self.iters[a[0]])
        if name == "it_rest":
            return records(self.iters[a[0]])
        if name == "it_close":
            it = self.iters.pop(a[0])
            it.close()
            return it.closed
        if name == "it_closed":  # [closed, records left (None once closed)]
            it = self.iters[a[0]]
            try:
                left = len(it)
            except Exception:
                left = None
            return [it.closed, left]
        raise ValueError(f"unknown op {name!r}")

    def close(self):
        for it in self.iters.values():
            it.close()
        self.iters.clear()
        self.log.close()


def run_session(spec):
    """``{"config": "ok" or the exception class the constructor raised, "ops": [...]}``."""
    out = []
    try:
        s = Session({k: decode(v) for k, v in spec["config"].items()})
    except Exception as e:  # a bad config is a result too
        return {"config": type(e).__name__, "config_msg": str(e), "ops": [], "msgs": {}}
    msgs = {}
    try:
        for op in spec["ops"]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    entry = ["ok", encode(s.run(op[0], op[1:]))]
                except Exception as e:
                    entry = ["exc", type(e).__name__]
                    msgs[len(out)] = str(e)[:500]
            n = sum(1 for w in caught if issubclass(w.category, RuntimeWarning))
            if n:
                entry.append({"warn": n})
            out.append(entry)
    finally:
        try:
            s.close()
        except Exception as e:
            out.append(["close", type(e).__name__])
    return {"config": "ok", "ops": out, "msgs": msgs}


def main():
    sessions = json.load(sys.stdin)
    json.dump({"package": getattr(timelog, "__version__", "?"), "results": [run_session(x) for x in sessions]},
              sys.stdout)


if __name__ == "__main__":
    main()
