"""Session 8 (prefix cut) driver: before (main 2d5740a) vs after (s8-prefix)
vs the C package, alternating the order every round, one process per sample.

    python3 drive.py ROUNDS PARTS OUT.json    # PARTS: comma list of bg,step,deletes,memory

bg      bg_deletes.py N=100,000 at 2,000 and 50,000 calls, background (and disabled)
step    bg_deletes.py step: 10 cuts of 5,000 on a flushed 100,000-record log,
        maintenance disabled, CPU of each maint_step() that did work
deletes retention.py --worker --part deletes (maintenance disabled; full sizes)
memory  retention.py --worker --part memory and --part window (full sizes)

The record of how docs/performance.md "Session 8: prefix cut" was measured:
VENVS and RET name the session's worktrees (before = main 2d5740a, after =
branch s8-prefix); point them at your own builds to rerun it.
"""
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VENVS = {
    "before": "/tmp/pfx-before/benches/python/.venv-ours-3.13/bin/python",
    "after": "/work/wt/prefix/benches/python/.venv-ours-3.13/bin/python",
    "c": "/work/wt/prefix/benches/python/.venv-c-3.13/bin/python",
}
RET = "/work/wt/prefix/benches/python/retention.py"
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def run(cmd):
    out = subprocess.run(["nice", "-n", "5", *cmd], check=True, stdout=subprocess.PIPE, text=True, env=ENV,
                         cwd=os.path.dirname(RET))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    rounds, parts, path = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
    impls = list(VENVS)
    res = {i: {} for i in impls}
    loads = []
    for r in range(rounds):
        order = impls[r % 3:] + impls[:r % 3]
        loads.append(os.getloadavg()[0])
        for impl in order:
            py = VENVS[impl]
            if "bg" in parts:
                for mode in ("background", "disabled"):
                    for m in (2000, 50000):
                        k = f"bg:{mode}@{m}"
                        res[impl].setdefault(k, []).append(run([py, os.path.join(HERE, "bg_deletes.py"), "100000", str(m), mode]))
            if "step" in parts:
                res[impl].setdefault("step", []).append(run([py, os.path.join(HERE, "bg_deletes.py"), "100000", "10", "step"]))
            if "deletes" in parts:
                res[impl].setdefault("deletes", []).append(run([py, RET, "--worker", "--mode", "full", "--part", "deletes"])["result"])
            if "memory" in parts:
                res[impl].setdefault("memory", []).append(run([py, RET, "--worker", "--mode", "full", "--part", "memory"])["result"])
                res[impl].setdefault("window", []).append(run([py, RET, "--worker", "--mode", "full", "--part", "window"])["result"])
        print(f"round {r + 1}/{rounds} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    loads.append(os.getloadavg()[0])
    summary = {}
    for impl in impls:
        s = {}
        for k, v in res[impl].items():
            if k.startswith("bg:"):
                s[k] = {"median_ns": statistics.median(x["ns_per_call"] for x in v),
                        "all_ns": [round(x["ns_per_call"], 1) for x in v],
                        "compactions": [x["compactions"] for x in v]}
                if v[0].get("settled_compactions") is not None and "background" in k:
                    s[k]["settled_median_ns"] = statistics.median(x["settled_ns_per_call"] for x in v)
                    s[k]["settled_compactions"] = [x["settled_compactions"] for x in v]
            elif k == "step" and v[0].get("step_ns"):
                s[k] = {"median_step_us": statistics.median(t / 1e3 for x in v for t in x["step_ns"]),
                        "median_total_us": statistics.median(sum(x["step_ns"]) / 1e3 for x in v),
                        "steps": [len(x["step_ns"]) for x in v]}
            elif k == "deletes":
                for name in v[0]:
                    if "@" in name:
                        s[f"deletes:{name}"] = {"median_ns": statistics.median(x[name] for x in v),
                                                "all_ns": [round(x[name], 1) for x in v]}
        if "memory" in res[impl]:
            win = statistics.median(w["window_cost"] for w in res[impl]["window"])
            peaks = [max(d for _, d, _ in x["samples"]) / win for x in res[impl]["memory"]]
            meds = [statistics.median(d for _, d, _ in x["samples"]) / win for x in res[impl]["memory"]]
            finals = [x["samples"][-1][1] / win for x in res[impl]["memory"]]
            s["memory"] = {"window_cost": win, "peak_over_window": [round(p, 2) for p in peaks],
                           "median_sample_over_window": [round(p, 2) for p in meds],
                           "final_over_window": [round(p, 2) for p in finals],
                           "cpu_s": [round(x["cpu_s"], 2) for x in res[impl]["memory"]]}
        summary[impl] = s
    out = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "rounds": rounds, "parts": parts, "loads": loads,
           "summary": summary, "raw": res}
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
