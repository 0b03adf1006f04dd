"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from genre.paper_benchmark import DatasetRun, make_project
from genre.preprocessing import Preprocessor
from genre.schema import DatasetSchema
from genre.settings import Settings

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
    run = DatasetRun("adult", raw / "train.csv.gz", raw / "test.csv.gz", raw / "schema.yaml", {"train_classifier": {"class_balanced": True}})
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    return lambda seed: make_project(tmp_path / f"seed{seed}", run, base, seed=seed, extra=TINY)


@pytest.fixture
def pre() -> Preprocessor:
    """A 4-feature space with every kind of constraint: an increase-only integer (age, 0-10), a
    decrease-only continuous (debt), an immutable binary (sex) and a free 3-way category (job)."""
    schema = DatasetSchema.model_validate(
        {
            "name": "tiny",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "age": {"kind": "integer", "min": 0, "max": 10, "direction": "increase"},
                "debt": {"kind": "continuous", "min": 0, "max": 1, "direction": "decrease"},
                "sex": {"kind": "categorical", "categories": ["f", "m"], "immutable": True},
                "job": {"kind": "categorical", "categories": ["a", "b", "c"]},
            },
        }
    )
    return Preprocessor(schema, np.zeros(4), np.array([10.0, 1.0, 1.0, 2.0]))
