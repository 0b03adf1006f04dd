"""Trade-off plots: per dataset, validity (RF) and LOF against cost for GenRe over lambda, sampling
temperature and candidates per factual, with NNR, Wachter and DiCE as points on the same factuals.

Usage: ``python benchmarks/tradeoff.py [--datasets adult compas heloc] [--replot]``
Needs the shared datasets folder (``../shared/datasets`` beside the repository, or ``--datasets-dir``).
Writes ``reports/tradeoff.json`` ({dataset: {lam | temperature | n_candidates: [points], baselines: {..}}})
and ``reports/tradeoff_<dataset>.png``. ``--replot`` redraws the plots from the saved numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import yaml
from paper_table import REPO, dataset_runs
from rich.console import Console
from rich.table import Table

from genre.artifacts.atomic import write_json, write_with
from genre.offline import go_offline
from research.paper_benchmark import make_project
from research.tradeoff import sweep

CURVES = (("lam", "lambda", "o"), ("temperature", "temperature", "s"), ("n_candidates", "candidates", "^"))
BASELINE_MARKERS = {"nnr": "X", "wachter": "D", "dice": "P"}


def plot(name: str, result: dict, dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, label in zip(axes, ("validity_rf", "lof"), ("validity (RF)", "LOF inlier share")):
        for key, title, marker in CURVES:
            points = result[key]
            ax.plot(
                [p["cost"] for p in points], [p[metric] for p in points], marker=marker, label=f"GenRe over {title}"
            )
            for p in points:
                ax.annotate(
                    f"{p[key]:g}", (p["cost"], p[metric]), fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
        for method, point in result["baselines"].items():
            ax.scatter(
                point["cost"], point[metric], marker=BASELINE_MARKERS.get(method, "*"), s=70, color="black", zorder=3
            )
            ax.annotate(method, (point["cost"], point[metric]), fontsize=8, xytext=(4, -10), textcoords="offset points")
        ax.set_xlabel("cost (L1, scaled)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{name}: GenRe's trade-off (numbers are the knob's value), baselines as points")
    fig.tight_layout()
    write_with(dest, lambda tmp: fig.savefig(tmp, format="png", dpi=110))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["adult", "compas", "heloc"])
    parser.add_argument("--lambdas", nargs="+", type=float, default=[0.5, 2.0, 5.0, 10.0])
    parser.add_argument("--temperatures", nargs="+", type=float, default=[0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--candidates", nargs="+", type=int, default=[10, 30, 100, 300])
    parser.add_argument(
        "--dice-factuals", type=int, default=20, help="DiCE answers only the first N factuals (it is slow)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets-dir", type=Path, default=REPO.parent / "shared/datasets")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    parser.add_argument("--replot", action="store_true", help="redraw from reports/tradeoff.json, no training")
    args = parser.parse_args()
    saved = args.out / "tradeoff.json"
    report = json.loads(saved.read_text()) if saved.exists() else {}
    if not args.replot:
        go_offline()
        if not args.datasets_dir.is_dir():
            parser.error(f"no datasets folder at {args.datasets_dir}: pass --datasets-dir")
        runs = dataset_runs(args.datasets_dir)
        base = yaml.safe_load(args.params.read_text())
        for name in args.datasets:
            with tempfile.TemporaryDirectory(prefix=f"tradeoff-{name}-") as scratch:
                os.environ["BENTOML_HOME"] = str(Path(scratch) / ".bentoml")
                settings = make_project(Path(scratch), runs[name], base, args.seed, {})
                Console().print(f"[bold]{name}[/bold]: sweeping lambda {args.lambdas}, temperature, candidates")
                report[name] = sweep(settings, args.lambdas, args.temperatures, args.candidates, args.dice_factuals)
            write_json(saved, report)
    for name, result in report.items():
        plot(name, result, args.out / f"tradeoff_{name}.png")
        Console().print(table(name, result))


def table(name: str, result: dict) -> Table:
    out = Table("curve", "value", "cost", "validity (RF)", "LOF", "score", title=f"{name}: trade-off")
    rows = [(title, f"{p[key]:g}", p) for key, title, _ in CURVES for p in result[key]]
    rows += [(method, "", p) for method, p in result["baselines"].items()]
    for curve, value, p in rows:
        out.add_row(curve, value, *(f"{p[m]:.3f}" for m in ("cost", "validity_rf", "lof", "score")))
    return out


if __name__ == "__main__":
    main()
