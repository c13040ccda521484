#!/usr/bin/env python3
"""Markdown tables of the criterion results of the `engine` bench.

Reads target/criterion/<group>/<bench>/new/{benchmark,estimates}.json and
prints, per group, the median time of every benchmark, its throughput, and
for every `timelog*` row the ratio `peer median / timelog median` against each
peer (> 1: timelog is faster; for `vec`, < 1 means slower than the Vec).

With --baselines a,b,c (criterion `--save-baseline` names) the median of
each benchmark is the smallest of its medians over those runs: on a shared,
noisy machine outside load only ever adds time, so best-of-N is the least
biased figure; `spread` is the worst of those medians over the best. A second
table then gives, per timelog row, the ratio against each peer measured in
the same run (the median over runs, and its range), which cancels load that
is steady within a run. Without --baselines the latest run (`new`) is used.
Last, the rows that miss issue 13's Rust targets (item 7) on those medians.

Usage: python3 benches/scripts/summarize.py [--baselines run1,run2] [target/criterion]
"""
import json
import os
import sys

ORDER = [
    "ingest_ordered", "ingest_ooo5", "ingest_ooo20", "scan_range1000", "scan_full",
    "point", "contains", "next_ts", "concurrent_scan1000", "concurrent_point",
]
PEERS = ["skipmap", "rwlock_btree", "scc_tree", "vec"]


def fmt_time(ns):
    for unit, f in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= f:
            return f"{ns / f:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_rate(per_s):
    for unit, f in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if per_s >= f:
            return f"{per_s / f:.3g} {unit}"
    return f"{per_s:.3g}"


def load(root, baselines):
    groups = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) not in baselines or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            b = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            e = json.load(f)
        elems = (b.get("throughput") or {}).get("Elements")
        t = e["median"]["point_estimate"]
        rows = groups.setdefault(b["group_id"], {})
        best, worst, _, runs = rows.get(b["function_id"], (t, t, elems, {}))
        runs[os.path.basename(dirpath)] = t
        rows[b["function_id"]] = (min(best, t), max(worst, t), elems, runs)
    return groups


def per_run(groups, g):
    """Median over runs of the same-run ratio `peer / timelog*` (with min-max)."""
    rows = groups[g]
    peers = [p for p in PEERS if p in rows]
    out = []
    for name in sorted(n for n in rows if n.startswith("timelog")):
        cells = []
        for p in peers:
            rs = sorted(rows[p][3][r] / t for r, t in rows[name][3].items() if r in rows[p][3])
            if not rs:
                cells.append("")
                continue
            mid = rs[len(rs) // 2] if len(rs) % 2 else (rs[len(rs) // 2 - 1] + rs[len(rs) // 2]) / 2
            cells.append(f"{mid:.2f}x ({rs[0]:.2f}–{rs[-1]:.2f}, n={len(rs)})")
        out.append((name, cells))
    return peers, out


# Issue 13's Rust targets (item 7): every `timelog` row at least this many
# times faster than each peer but `vec`, and a late-data row within this
# factor of its in-order twin's time.
TARGET = 1.5
# Late-data states and their in-order twins (bench names carry the state).
TWINS = [("memtable_ooo5", "memtable"), ("l0x8_ooo5", "l0x8")]


def targets(groups):
    """The rows that miss issue 13's Rust targets, on the table's medians:
    a `timelog` row under TARGET times a peer (`vec` aside: its rows are
    compared in the tables), and a late-data row over TARGET times its
    in-order twin's time (with the range of those ratios)."""
    out = []
    twins = []
    for g in sorted(groups):
        rows = groups[g]
        for name, (t, *_rest) in sorted(rows.items()):
            if not name.startswith("timelog"):
                continue
            for p in PEERS[:-1]:
                if p in rows and rows[p][0] / t < TARGET:
                    out.append(f"- `{g}/{name}` vs `{p}`: {rows[p][0] / t:.2f}x ({fmt_time(t)})")
            state = name[len("timelog_"):].split("/", 1)[0]
            for late, twin in TWINS:
                if state == late:
                    other = name.replace(late, twin, 1)
                    if other in rows:
                        twins.append((t / rows[other][0], f"{g}/{name}"))
    print(f"### Issue 13 targets (item 7: {TARGET}x each peer; late data within {TARGET}x of its twin)\n")
    print("\n".join(out) if out else f"- every `timelog` row is at least {TARGET}x each peer")
    if twins:
        twins.sort()
        over = [f"`{n}` {r:.2f}x" for r, n in twins if r > TARGET]
        print(f"- late twins: {twins[0][0]:.2f}x to {twins[-1][0]:.2f}x their in-order twin's time"
              + (f"; over {TARGET}x: " + ", ".join(over) if over else ""))
    print()


def main():
    args = sys.argv[1:]
    baselines = ["new"]
    if args and args[0] == "--baselines":
        baselines = args[1].split(",")
        args = args[2:]
    root = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "..", "target", "criterion")
    groups = load(root, set(baselines))
    for g in sorted(groups, key=lambda g: (ORDER.index(g) if g in ORDER else len(ORDER), g)):
        rows = groups[g]
        peers = [p for p in PEERS if p in rows]
        print(f"### {g}\n")
        head = ["bench", "median", "elem/s"] + [f"vs {p}" for p in peers] + ["spread"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for name in sorted(rows, key=lambda n: (not n.startswith("timelog"), n)):
            t, worst, elems, _runs = rows[name]
            rate = fmt_rate(elems / (t / 1e9)) if elems else ""
            ratios = []
            for p in peers:
                if name.startswith("timelog"):
                    r = rows[p][0] / t
                    ratios.append(f"**{r:.2f}x**" if r >= 1 else f"{r:.2f}x")
                else:
                    ratios.append("")
            spread = f"{worst / t:.2f}"
            print("| " + " | ".join([f"`{name}`", fmt_time(t), rate] + ratios + [spread]) + " |")
        print()
        if len(baselines) > 1:
            peers, out = per_run(groups, g)
            print("Same-run ratios `peer / timelog` (median over runs, min–max):\n")
            print("| bench | " + " | ".join(f"vs {p}" for p in peers) + " |")
            print("|" + "---|" * (len(peers) + 1))
            for name, cells in out:
                print(f"| `{name}` | " + " | ".join(cells) + " |")
            print()
    targets(groups)


if __name__ == "__main__":
    main()
