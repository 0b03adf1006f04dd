"""Pictures a person reads beside a record: a drifted feature (reference against the new batch),
and a decision's cost distributions and group gaps (champion against challenger).

matplotlib draws to files only (the Agg backend), imported here where it is used: no stage loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genre.artifacts.atomic import write_with
from genre.data.schema import DatasetSchema

_SIDES = ("reference", "batch")


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _save(pyplot: Any, figure: Any, dest: Path) -> None:
    figure.tight_layout()
    write_with(dest, lambda tmp: figure.savefig(tmp, format="png", dpi=90))
    pyplot.close(figure)


def feature_picture(
    reference: pd.DataFrame, batch: pd.DataFrame, feature: str, schema: DatasetSchema, dest: Path
) -> None:
    """Shares of the reference and the batch per category, or over the reference's range."""
    pyplot = _figure()
    figure, axes = pyplot.subplots(figsize=(6, 3.2))
    spec = schema.features[feature]
    if spec.kind == "categorical":
        categories = [str(c) for c in spec.categories or []]
        at = np.arange(len(categories))
        for offset, (side, frame) in zip((-0.2, 0.2), zip(_SIDES, (reference, batch))):
            shares = frame[feature].astype(str).value_counts(normalize=True).reindex(categories, fill_value=0.0)
            axes.bar(at + offset, shares.to_numpy(), width=0.4, label=side)
        axes.set_xticks(at, categories, rotation=45, ha="right", fontsize=7)
    else:
        values = [frame[feature].to_numpy(float) for frame in (reference, batch)]
        edges = np.histogram_bin_edges(np.concatenate(values), bins=30)
        for side, v in zip(_SIDES, values):
            axes.hist(v, bins=edges, density=True, histtype="step", linewidth=1.5, label=side)
    axes.set_title(f"{feature}: training data against the new batch")
    axes.set_ylabel("share")
    axes.legend()
    _save(pyplot, figure, dest)


def cost_picture(costs: dict[str, np.ndarray], dest: Path) -> None:
    """The cost of each recourse found on the gate set, per contender."""
    pyplot = _figure()
    figure, axes = pyplot.subplots(figsize=(6, 3.2))
    spread = np.concatenate([c for c in costs.values() if len(c)] or [np.zeros(1)])
    edges = np.histogram_bin_edges(spread, bins=25)
    for name, values in costs.items():
        axes.hist(values, bins=edges, histtype="step", linewidth=1.5, label=f"{name} ({len(values)} found)")
    axes.set_title("cost of recourse on the gate set")
    axes.set_xlabel("cost")
    axes.set_ylabel("applicants")
    axes.legend()
    _save(pyplot, figure, dest)


def group_picture(groups: dict[str, dict[str, Any]], figure_name: str, dest: Path) -> None:
    """One figure (found rate, validity or cost) per group of an immutable feature, per contender:
    ``groups`` maps a contender to its ``group_gap`` entry for one feature."""
    pyplot = _figure()
    figure, axes = pyplot.subplots(figsize=(6, 3.2))
    names = sorted({g for entry in groups.values() for g in entry.get("groups", {})})
    at = np.arange(len(names))
    width = 0.8 / max(len(groups), 1)
    for i, (contender, entry) in enumerate(groups.items()):
        values = [entry.get("groups", {}).get(g, {}).get(figure_name) for g in names]
        axes.bar(
            at + (i - (len(groups) - 1) / 2) * width,
            [np.nan if v is None else v for v in values],
            width=width,
            label=contender,
        )
    axes.set_xticks(at, names, rotation=45, ha="right", fontsize=7)
    axes.set_title(f"{figure_name} per group")
    axes.legend()
    _save(pyplot, figure, dest)
