"""Before / after / C in one run, alternating (s9-untrack).

    python3 drive.py REPS OUT.json

Each repeat runs, under each of the three venvs (/tmp/untrack-venvs/
{before,after,c}; before = 0fab371, after = this branch, c = timelog-lib
1.4.0), rotating which goes first: workload.py --mode full --rows ROWS
(collector off, as compare.py) and gc_on.py (collector on). Prints the
medians (rows/s) and writes every sample.
"""
import json, os, statistics, subprocess, sys
HERE = os.path.dirname(os.path.abspath(__file__))
W = os.path.join(HERE, "..", "..", "workload.py")
G = os.path.join(HERE, "gc_on.py")
ROWS = "scan_iter,scan_batch,floor_iter_zip_range,floor_list_zip_range"
impls = {k: f"/tmp/untrack-venvs/{k}/bin/python" for k in ["before", "after", "c"]}
reps = int(sys.argv[1])
names = list(impls)
res = {k: [] for k in names}
load = []
env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
for r in range(reps):
    order = names[r % 3:] + names[:r % 3]
    load.append(os.getloadavg())
    for k in order:
        a = json.loads(subprocess.run([impls[k], W, "--mode", "full", "--rows", ROWS], capture_output=True, text=True, env=env, check=True).stdout)["rows"]
        b = json.loads(subprocess.run([impls[k], G], capture_output=True, text=True, env=env, check=True).stdout)["rows"]
        res[k].append({**a, **b})
    print(r, order, os.getloadavg(), file=sys.stderr, flush=True)
load.append(os.getloadavg())
med = {k: {row: statistics.median(x[row] for x in v) for row in v[0]} for k, v in res.items()}
json.dump({"medians": med, "samples": res, "loadavg": load}, open(sys.argv[2], "w"), indent=1)
for row in med["after"]:
    b, a, c = med["before"][row], med["after"][row], med["c"][row]
    print(f"{row:26s} before {b/1e6:6.2f} M/s  after {a/1e6:6.2f}  C {c/1e6:6.2f}  after/before {a/b:5.3f}  before/C {b/c:5.2f}x  after/C {a/c:5.2f}x")
