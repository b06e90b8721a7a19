"""Draw bench/compare.py's results as one PNG (run in the peers' venv, which has matplotlib).

    python bench/chart.py compare.json compare.png
"""

from __future__ import annotations

import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SYSTEMS = ["localreg", "mlflow", "wandb", "dvc", "floor"]
TITLES = {"localreg": "localreg", "mlflow": "MLflow 3", "wandb": "W&B offline", "dvc": "DVC (no git)",
          "floor": "cp -r / sha256sum"}
COLORS = {"localreg": "#2a7ab9", "mlflow": "#d9822b", "wandb": "#c7a200", "dvc": "#8a5cb8", "floor": "#7f7f7f"}
PHASES = [("log", "log"), ("relog", "log again\n(unchanged)"), ("materialize", "resolve +\nmaterialize")]


def med(runs):
    vals = [r["seconds"] for r in runs or [] if r.get("seconds") is not None and "failed" not in r]
    return statistics.median(vals) if vals else None


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        data = json.load(f)
    R, S, sizes = data["results"], data["summary"], data["sizes"]
    systems = [s for s in SYSTEMS if s in data["systems"]]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    titles = {"small": f"(a) {sizes['small_files']:,} files of 4 KiB",
              "big": f"(b) one file of {sizes['big_size'] >> 20} MiB"}
    for ax, w in zip(axes[0], ("small", "big")):
        width = 0.8 / len(systems)
        missing = []
        for i, system in enumerate(systems):
            xs, ys = [], []
            for j, (phase, _label) in enumerate(PHASES):
                x = j + (i - (len(systems) - 1) / 2) * width
                v = med(R.get(w, {}).get(system, {}).get(phase))
                if v is not None:
                    xs.append(x)
                    ys.append(v)
                elif not (system == "floor" and phase == "relog"):
                    missing.append((x, system))
            ax.bar(xs, ys, width, label=TITLES[system], color=COLORS[system])
        ax.set_yscale("log")
        bottom = ax.get_ylim()[0]
        for x, system in missing:
            ax.text(x, bottom * 1.15, "not possible", rotation=90, ha="center", va="bottom", fontsize=7,
                    color=COLORS[system])
        ax.set_xticks(range(len(PHASES)), [label for _p, label in PHASES])
        ax.set_ylabel("seconds (log scale, lower is better)")
        ax.set_title(titles[w])
        ax.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9, bbox_to_anchor=(0.5, 0.975))

    ax = axes[1][0]
    growth = S.get("growth", {})
    names = [s for s in systems if s in growth and "ratio" in growth[s]]
    ax.bar([TITLES[s] for s in names], [growth[s]["ratio"] * 100 for s in names], color=[COLORS[s] for s in names])
    ax.axhline(20, color="black", linestyle="--", linewidth=1)
    ax.text(len(names) - 0.5, 21, "target: 20%", ha="right", fontsize=8)
    for i, s in enumerate(names):
        ax.text(i, growth[s]["ratio"] * 100 + 2, f"{growth[s]['ratio']:.0%}", ha="center", fontsize=9)
    ax.set_ylabel("% of logical size")
    ax.set_title(f"(c) store after {sizes['versions']} versions of a {sizes['version_size'] >> 20} MiB file")

    ax = axes[1][1]
    labels, vals, cols = [], [], []
    for system in systems:
        if system == "floor":
            continue
        rss = [r["maxrss_kib"] / 1024 for r in R.get("big", {}).get(system, {}).get("log", []) if "maxrss_kib" in r]
        if rss:
            labels.append(TITLES[system])
            vals.append(max(rss))
            cols.append(COLORS[system])
    ax.bar(labels, vals, color=cols)
    ax.axhline(100, color="black", linestyle="--", linewidth=1)
    ax.text(len(labels) - 0.5, 104, "target: 100 MiB", ha="right", fontsize=8)
    for i, v in enumerate(vals):
        ax.text(i, v + 3, f"{v:.0f}", ha="center", fontsize=9)
    ax.set_ylabel("MiB")
    ax.set_title("peak RSS while logging (b), whole process")
    fig.suptitle(f"localreg vs MLflow, W&B offline, DVC — {data['machine']}", fontsize=9, y=0.995)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main()
