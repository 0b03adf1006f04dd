"""Fixtures of the research benchmark's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from genre.settings import Settings
from research.paper_benchmark import DatasetRun, make_project

REPO = Path(__file__).resolve().parents[2]
TINY = {  # the benchmark's code paths on a small Adult sample, in seconds rather than hours
    "ingest": {"sample_rows": 1200},
    "train_classifier": {"epochs": 30, "rf_n_estimators": 10, "rf_cv_folds": 2},
    "synthesize_pairs": {"k": 100},
    "train_generator": {
        "cvae": {"epochs": 5, "batch_size": 64},
        "transformer": {"epochs": 2, "batch_size": 64, "encoder_layers": 1, "decoder_layers": 1},
    },
    "recourse": {"n_candidates": 10, "threshold": 0.6},
    "evaluate": {"n_factuals": 8},
    "wachter": {"threshold": 0.6, "target": 0.7},
    "dice": {"method": "random", "sample_size": 200, "threshold": 0.6},
}


@pytest.fixture
def tiny_adult_project(tmp_path: Path) -> Callable[[int], Settings]:
    """Makes a benchmark scratch project (per seed) on the embedded Adult data with the TINY params."""
    raw = REPO / "data/raw/adult"
    run = DatasetRun(
        "adult",
        raw / "train.csv.gz",
        raw / "test.csv.gz",
        raw / "schema.yaml",
        {"train_classifier": {"class_balanced": True}},
    )
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    return lambda seed: make_project(tmp_path / f"seed{seed}", run, base, seed=seed, extra=TINY)
