"""The calibrated random forest that plays the real world.

Recourse must be valid in the world, not just under h; the protocol stands the world in with this
forest, fitted on both splits' observed labels with class-balanced weights (otherwise it calls far
too many rows positive), and draws the labels everything downstream learns from.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from joblib import parallel_config
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils.class_weight import compute_sample_weight

from genre.settings import ClassifierSettings


def fit_ground_truth(x: np.ndarray, y: np.ndarray, settings: ClassifierSettings) -> CalibratedClassifierCV:
    """The forest on every row, or on a seeded sample of ``settings.rf_max_rows`` of them: its
    fully grown trees have about as many nodes as rows, so on a million rows its folds' trees
    alone would outgrow the machine, while a sample that large already stands the world in."""
    if len(x) > settings.rf_max_rows:
        rows = np.sort(
            np.random.default_rng(settings.rf_random_state).choice(len(x), size=settings.rf_max_rows, replace=False)
        )
        x, y = x[rows], y[rows]
    forest = RandomForestClassifier(
        n_estimators=settings.rf_n_estimators, random_state=settings.rf_random_state, n_jobs=-1
    )
    model = CalibratedClassifierCV(forest, method="isotonic", cv=settings.rf_cv_folds)
    model.fit(x, y, sample_weight=compute_sample_weight("balanced", y))
    return model


SEQUENTIAL_BELOW_ROWS = 10_000  # rows per block of positive_probability's threads, at least


def _one_thread(model: CalibratedClassifierCV, x: np.ndarray) -> np.ndarray:
    with parallel_config(backend="sequential"):
        return model.predict_proba(x)[:, 1]


def positive_probability(model: CalibratedClassifierCV, x: np.ndarray) -> np.ndarray:
    """P(favourable label) in the world, the same to the last digit on every run: each row's trees
    are added up in one thread, in their order (the forest's own threads add them as they finish,
    which changed the labels drawn from these probabilities in the last digit from run to run, and
    with them every stage downstream). Large batches are split into blocks of rows, one thread
    each; small ones stay on one thread, where the forest's pool would cost more in waiting than
    the batch in work."""
    x = np.asarray(x, dtype=np.float64)
    blocks = min(os.cpu_count() or 1, len(x) // SEQUENTIAL_BELOW_ROWS)
    if blocks <= 1:
        return _one_thread(model, x)
    with ThreadPoolExecutor(blocks) as pool:
        return np.concatenate(list(pool.map(partial(_one_thread, model), np.array_split(x, blocks))))


def sample_labels(probability: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(len(probability)) < probability).astype(np.int64)
