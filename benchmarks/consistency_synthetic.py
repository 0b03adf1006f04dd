"""Consistency curve on the closed-form 2-D world: generator vs the true Q* as the data grows.

Usage: ``python benchmarks/consistency_synthetic.py``. Writes ``reports/consistency_synthetic.json``
(the numbers) and ``reports/consistency_synthetic.png`` (the plot), and prints the table.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from genre.artifacts.atomic import write_json, write_with
from research.consistency_experiment import ExperimentSettings, run_experiment

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def plot(result: dict, dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (
        ("generator_vs_qstar", "CVAE model distribution vs Q*"),
        ("decoder_mean_vs_qstar", "CVAE decoder mean (as served) vs Q*"),
        ("empirical_q_vs_qstar", "empirical Q_n vs Q*"),
    ):
        ax.plot(result["sizes"], result[key], marker="o", label=label)
    ax.axhline(result["qstar_vs_qstar_floor"], color="grey", linestyle="--", label="Q* vs Q* (sampling floor)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-4)  # the curves span three decades; the floor sits near 0
    ax.set_xticks(result["sizes"], [str(n) for n in result["sizes"]])
    ax.minorticks_off()
    ax.set_xlabel("training rows")
    ax.set_ylabel("energy distance to Q* (mean over held-out sources)")
    ax.set_title("Consistency on a 2-D Gaussian world")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_with(dest, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def main() -> None:
    """``--replot`` redraws the plot from the saved numbers without rerunning the experiment."""
    import json
    import sys

    saved = REPORTS / "consistency_synthetic.json"
    result = json.loads(saved.read_text()) if "--replot" in sys.argv[1:] else run_experiment(ExperimentSettings())
    write_json(REPORTS / "consistency_synthetic.json", result)
    plot(result, REPORTS / "consistency_synthetic.png")
    table = Table("rows", "generator vs Q*", "decoder mean vs Q*", "empirical Q vs Q*", title="energy distance to Q*")
    for i, n in enumerate(result["sizes"]):
        table.add_row(
            str(n),
            *(f"{result[k][i]:.5f}" for k in ("generator_vs_qstar", "decoder_mean_vs_qstar", "empirical_q_vs_qstar")),
        )
    Console().print(table)
    Console().print(f"floor (Q* vs Q*): {result['qstar_vs_qstar_floor']:.5f}")


if __name__ == "__main__":
    main()
