"""A stage's metrics, written as two files: the figures, which git tracks and which a rerun on the
same inputs reproduces, and the run times, which differ on every run and which nothing tracks
(``Artifacts.timings``), so ``git diff metrics/`` and ``dvc status`` show only what changed."""

from __future__ import annotations

import json
import math
from typing import Any

from genre.artifacts.atomic import write_json
from genre.artifacts.paths import Artifacts

TIMING_KEYS = frozenset({"seconds", "seconds_per_recourse"})
HELD_OUT = "classifier_observed_labels"  # train_classifier's figures of h against the held-out rows' own labels


def split_timings(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """-> (the figures, the run times), each nested as in ``metrics``; a section with no run time
    appears only among the figures."""
    figures: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in TIMING_KEYS:
            timings[key] = value
        elif isinstance(value, dict):
            inner, inner_times = split_timings(value)
            figures[key] = inner
            if inner_times:
                timings[key] = inner_times
        else:
            figures[key] = value
    return figures, timings


def write_metrics(paths: Artifacts, stage: str, metrics: dict[str, Any]) -> None:
    """The stage's figures to ``metrics/<stage>.json``, its run times (if any) to
    ``metrics/timings/<stage>.json``."""
    figures, timings = split_timings(metrics)
    write_json(paths.metrics(stage), figures)
    if timings:
        write_json(paths.timings(stage), timings)


def held_out_auc(paths: Artifacts) -> float | None:
    """h's AUC on the held-out rows' own labels, as train_classifier measured it (what a new batch's
    labels are held to: genre.retraining.intake); None for artifacts trained before it was
    measured, or whose held-out rows hold one class."""
    path = paths.metrics("train_classifier")
    auc = json.loads(path.read_text()).get(HELD_OUT, {}).get("auc") if path.is_file() else None
    return None if auc is None or math.isnan(auc) else float(auc)
