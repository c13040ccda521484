"""Charts of compare.py and scaling.py results (needs matplotlib).

    python plot.py compare results/compare-<date>.json docs/img/compare.png
    python plot.py scaling results/scaling-<date>.json docs/img/scaling.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_compare(res: dict, png: str) -> None:
    rows = [(n, r) for n, r in res["rows"].items()]
    names = [n for n, _ in rows]
    sp = [r["speedup"] for _, r in rows]
    colors = []
    for _, r in rows:
        if r["kind"] in ("floor", "floor_thr"):
            colors.append("#999999")
        elif r["meets_target"]:
            colors.append("#2a9d3a")
        elif r["speedup"] >= 1.0:
            colors.append("#e0a030")
        else:
            colors.append("#d04040")
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(rows) + 1.6))
    y = range(len(rows))
    ax.barh(list(y), sp, color=colors)
    ax.set_yticks(list(y))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.axvline(1.5, color="#2a9d3a", lw=0.8, ls="--")
    for i, v in enumerate(sp):
        ax.text(v, i, f" {v:.2f}x", va="center", fontsize=7)
    ax.set_xlabel("speed-up of ours over C timelog-lib 1.4.0 (log scale; >1 = ours better)\n"
                  "time rows: C/ours; throughput rows: ours/C; memory: C/ours")
    imp = res.get("impls", {}).get("ours", {})
    ax.set_title(f"ours vs C, CPython {imp.get('python', '?')}, {res['mode']} mode, median of {res['repeats']}"
                 f" — green: target met (≥1.5x; memory ≤ C), grey: floors", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def plot_scaling(res: dict, png: str) -> None:
    series = res["series"]
    ks = res["threads"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, phase in zip(axes, ("alone", "writer")):
        for name, s in series.items():
            vals = s.get(phase)
            if not vals:
                continue
            key = "fraction_of_ideal" if phase == "alone" else "retention_vs_companion"
            fr = [vals[str(k)][key] for k in ks if str(k) in vals]
            ls = "--" if name.startswith("lock+bisect") else "-"
            ax.plot(ks[: len(fr)], fr, ls, marker="o", label=name)
        ax.axhline(0.9, color="#2a9d3a", lw=0.8, ls=":")
        ax.set_xticks(ks)
        ax.set_xlabel("reader threads k")
        ax.set_title("readers alone: fraction of ideal scaling" if phase == "alone" else
                     "beside 1 writer: T(with writer) / T(with pure-Python thread)", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("left: (T(k)/T(1)) / (ideal(k)/ideal(1)); right: retention")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"reader scaling on CPython {res.get('python', '?')} (free-threaded), {res.get('nproc')} CPUs, "
                 f"median of {res['repeats']}; ideal = k threads of independent pure-Python work", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main() -> None:
    kind, src, png = sys.argv[1:4]
    with open(src) as f:
        res = json.load(f)
    {"compare": plot_compare, "scaling": plot_scaling}[kind](res, png)


if __name__ == "__main__":
    main()
