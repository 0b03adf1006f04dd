"""A stage's metrics, written as two files: the figures, which git tracks and which a rerun on the
same inputs reproduces, and the run times, which differ on every run and which nothing tracks
(``Artifacts.timings``), so ``git diff metrics/`` and ``dvc status`` show only what changed."""

from __future__ import annotations

from typing import Any

from genre.artifacts.atomic import write_json
from genre.artifacts.paths import Artifacts

TIMING_KEYS = frozenset({"seconds", "seconds_per_recourse"})


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
