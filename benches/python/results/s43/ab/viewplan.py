"""A/B of the view-served short-range plan (View::viewed_range_plan): shapes.py's worker over its late shapes, $BEFORE_VENV (session 42's wheel) against the bench venv, alternating per process. Run from the repository root: BEFORE_VENV=... python3 benches/python/results/s43/ab/viewplan.py REPS out.json"""
import json, os, statistics, sys
from pathlib import Path

sys.path.insert(0, "benches/python")
import shapes  # noqa: E402

venvs = {"before": Path(os.environ["BEFORE_VENV"]), "after": Path("benches/python/.venv-ours-3.13")}
SHAPES = ["window_late5", "mem_late5", "flushed_late5", "tail_late5", "mem_late5_newer", "window_inorder"]
ROWS = ["list(range(t, t+10))", "for r in range(t, t+10)", "list(range(t, t+1000))", "list(point(t))", "next(since(t))", "floor | for r in range(t, t+10)"]
reps = int(sys.argv[1])
res: dict = {}
for r in range(reps):
    for sh in SHAPES:
        for who in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
            out = shapes.run(venvs[who], sh, 200_000, 5)
            for row in ROWS:
                res.setdefault(f"{sh} | {row}", {}).setdefault(who, []).append(out[row])
rows = []
for k, v in res.items():
    b, a = statistics.median(v["before"]), statistics.median(v["after"])
    rows.append({"row": k, "before_ns": b, "after_ns": a, "before_over_after": b / a, "runs": v})
    print(f"{k:50s} before {b:9.0f} after {a:9.0f} {b / a:5.2f}x", flush=True)
json.dump(rows, open(sys.argv[2], "w"), indent=1)
