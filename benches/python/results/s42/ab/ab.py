"""A/B of scattered.py's worker: the engine before session 42 (a venv with 5531485's wheel, $BEFORE_VENV) against the bench venv, 3 processes each alternating, per record count and layout. Run from the repository root: BEFORE_VENV=... python3 benches/python/results/s42/ab/ab.py 3 out.json"""
import os, sys, statistics, json
from pathlib import Path
sys.path.insert(0, "benches/python")
import scattered as S
venvs = {"before": Path(os.environ["BEFORE_VENV"]), "after": Path("benches/python/.venv-ours-3.13")}
procs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
table = {}
for n in (200_000, 1_000_000):
    for layout in S.LAYOUTS:
        for k in range(procs):
            order = ["before", "after"] if k % 2 == 0 else ["after", "before"]
            for who in order:
                for row, ns in S.run(venvs[who], n, 7 + k, layout).items():
                    table.setdefault((n, row), {}).setdefault(who, []).append(ns)
out = []
for (n, row), v in table.items():
    b, a = statistics.median(v["before"]), statistics.median(v["after"])
    out.append({"records": n, "row": row, "before_ns": b, "after_ns": a, "before_over_after": b / a})
    print(f"{n:>9,} {row:45s} {b/1e3:10.2f} {a/1e3:10.2f} {b/a:6.2f}")
Path(sys.argv[2] if len(sys.argv) > 2 else "ab.json").write_text(json.dumps(out, indent=1))
