"""A/B of releasing a log's objects (release.py: gc.collect(); delete_before(half)+compact, then del log; delete_range holes + compact), 1,000,000 records, both layouts, $BEFORE_VENV against the bench venv, alternating. Run from the repository root: BEFORE_VENV=... python3 benches/python/results/s42/ab/ab2.py 5 out.json"""
import os, subprocess, statistics, re, json, sys
venvs = {"before": os.environ["BEFORE_VENV"] + "/bin/python", "after": "benches/python/.venv-ours-3.13/bin/python"}
RELEASE = "benches/python/results/s42/ab/release.py"
scripts = [("gc.collect()", "gc"), ("delete_before+compact / del log", "half"), ("holes+compact", "holes")]
res = {}
reps = int(sys.argv[1])
for r in range(reps):
    for name, sc in scripts:
        for layout in ("inorder", "scattered"):
            for who in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
                out = subprocess.run([venvs[who], RELEASE, sc, "1000000", layout], capture_output=True, text=True, check=True).stdout
                for k, v in enumerate(re.findall(r"([\d.]+) ms", out)):
                    res.setdefault((name, k, layout), {}).setdefault(who, []).append(float(v))
rows = []
for (name, k, layout), v in res.items():
    b, a = statistics.median(v["before"]), statistics.median(v["after"])
    rows.append({"what": name, "part": k, "layout": layout, "before_ms": b, "after_ms": a, "before_over_after": b / a, "runs": v})
    print(f"{name:35s} {k} {layout:10s} before {b:8.1f} ms  after {a:8.1f} ms  {b/a:5.2f}x")
json.dump(rows, open(sys.argv[2], "w"), indent=1)
