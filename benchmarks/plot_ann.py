"""Draw recall@10 against QPS from ``benchmarks/ann.py`` results (a PNG for the docs).

    .venv/bin/python benchmarks/plot_ann.py benchmarks/results/ann-run*.json \
        --out docs/images/recall-qps.png

Each run's operating point of each system and stage is one marker (unfiltered queries,
one query per call, one thread); the filtered selectivities get their own panel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SELECTIVITIES = ("none", "1%", "10%", "50%")


def points(results: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """selectivity -> "system (stage)" -> [(recall, qps)] over all runs."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {s: {} for s in SELECTIVITIES}
    for run in results:
        for system, figures in run.get("systems", {}).items():
            for stage, per_filter in (figures.get("stages") or {}).items():
                label = system if stage == "peer" else f"{system} ({stage})"
                for selectivity in SELECTIVITIES:
                    got = per_filter.get(selectivity)
                    if got and got.get("qps_single_thread"):
                        point = (float(got["recall_at_10"]), float(got["qps_single_thread"]))
                        out[selectivity].setdefault(label, []).append(point)
    return out


def draw(data: dict[str, dict[str, list[tuple[float, float]]]], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SELECTIVITIES), figsize=(16, 4.6), sharey=False)
    labels = sorted({label for per in data.values() for label in per})
    palette = [plt.get_cmap("tab20")(i) for i in range(20)]
    colour = {label: palette[i % len(palette)] for i, label in enumerate(labels)}
    marker = {label: "os^D"[i // len(palette) % 4] for i, label in enumerate(labels)}
    for ax, selectivity in zip(axes, SELECTIVITIES, strict=True):
        for label, pts in sorted(data[selectivity].items()):
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            ax.scatter(xs, ys, label=label, s=28, color=colour[label], marker=marker[label])
        ax.set_xscale("linear")
        ax.set_yscale("log")
        ax.axvline(0.95, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("recall@10")
        ax.set_title("unfiltered" if selectivity == "none" else f"filter {selectivity}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("queries per second (1 thread, log scale)")
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/images/recall-qps.png"))
    args = parser.parse_args()
    runs = [json.loads(p.read_text()) for p in args.results]
    first = runs[0]
    title = f"{first.get('data', '')}: n={first.get('n')}, k={first.get('k')}"
    draw(points(runs), args.out, title)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
