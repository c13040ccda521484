"""Before / after / C, same run: the read rows of workload.py (issue 13 item 4).

    python3 drive.py REPS OUT.json BEFORE_PYTHON AFTER_PYTHON C_PYTHON

Runs workload.py --mode quick under each interpreter's venv, REPS times,
rotating which goes first; prints the medians and writes every sample.
"""
import json, subprocess, statistics, sys, os
ROWS = os.environ.get("DRIVE_ROWS", "point,getitem,at,next_ts,range10,slice10,range100")
MODE = os.environ.get("DRIVE_MODE", "full")
W = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "workload.py")
impls = dict(zip(["before", "after", "c"], sys.argv[3:6]))
reps = int(sys.argv[1])
res = {k: [] for k in impls}
env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
names = list(impls)
for r in range(reps):
    order = names[r % 3:] + names[:r % 3]
    for k in order:
        out = subprocess.run([impls[k], W, "--mode", MODE, "--rows", ROWS], capture_output=True, text=True, env=env, check=True)
        res[k].append(json.loads(out.stdout)["rows"])
        print(r, k, file=sys.stderr, flush=True)
med = {k: {row: statistics.median(x[row] for x in v) for row in v[0]} for k, v in res.items()}
json.dump({"medians": med, "samples": res}, open(sys.argv[2], "w"), indent=1)
for row in med["after"]:
    print(f"{row:24s} before {med['before'][row]:14.1f} after {med['after'][row]:14.1f} C {med['c'][row]:14.1f}")
