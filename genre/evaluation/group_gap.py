"""Recourse across the groups a person cannot leave: for each immutable categorical feature (race
and sex on Adult), each group's found rate, validity and cost of recourse, and the largest
difference between groups. A recourse tool that finds cheap answers for one group and none for
another is unfair in a way the averages hide."""

from __future__ import annotations

from typing import Any

import numpy as np

from genre.data.preprocessing import Preprocessor

GAP_FIGURES = ("found_rate", "validity_rf", "cost")


def group_gaps(
    pre: Preprocessor, x: np.ndarray, per_row: dict[str, np.ndarray], found: np.ndarray, min_factuals: int
) -> dict[str, Any]:
    """``{feature: {"gap": {figure: largest difference or None}, "groups": {group: {"factuals", figure...}}}}``.

    ``per_row`` holds each factual's ``validity_rf`` and ``cost`` (``Judges.per_row``), ``found``
    whether it was given a recourse. Only groups with at least ``min_factuals`` factuals enter the
    gap (a group of two says nothing); a feature with fewer than two such groups has no gap (None).
    """
    figures = {
        "found_rate": np.asarray(found, dtype=float),
        "validity_rf": per_row["validity_rf"],
        "cost": per_row["cost"],
    }
    names = [n for n, spec in pre.schema.features.items() if spec.immutable and spec.kind == "categorical"]
    if not names or len(x) == 0:
        return {}
    raw = pre.inverse_transform(x)
    out: dict[str, Any] = {}
    for name in names:
        labels = raw[name].astype(str).to_numpy()
        groups = {
            str(g): {
                "factuals": int((labels == g).sum()),
                **{f: float(v[labels == g].mean()) for f, v in figures.items()},
            }
            for g in np.unique(labels)
        }
        counted = [g for g in groups.values() if g["factuals"] >= min_factuals]
        gap = {
            f: (max(g[f] for g in counted) - min(g[f] for g in counted)) if len(counted) >= 2 else None
            for f in GAP_FIGURES
        }
        out[name] = {"gap": gap, "groups": groups}
    return out
