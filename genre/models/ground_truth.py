"""The calibrated random forest that plays the real world.

Recourse must be valid in the world, not just under h; the protocol stands the world in with this
forest, fitted on both splits' observed labels with class-balanced weights (otherwise it calls far
too many rows positive), and draws the labels everything downstream learns from.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils.class_weight import compute_sample_weight

from genre.settings import ClassifierSettings


def fit_ground_truth(x: np.ndarray, y: np.ndarray, settings: ClassifierSettings) -> CalibratedClassifierCV:
    """The forest on every row, or on a seeded sample of ``settings.rf_max_rows`` of them: its
    fully grown trees have about as many nodes as rows, so on a million rows its folds' trees
    alone would outgrow the machine, while a sample that large already stands the world in."""
    if len(x) > settings.rf_max_rows:
        rows = np.sort(np.random.default_rng(settings.rf_random_state).choice(len(x), size=settings.rf_max_rows, replace=False))
        x, y = x[rows], y[rows]
    forest = RandomForestClassifier(
        n_estimators=settings.rf_n_estimators, random_state=settings.rf_random_state, n_jobs=-1
    )
    model = CalibratedClassifierCV(forest, method="isotonic", cv=settings.rf_cv_folds)
    model.fit(x, y, sample_weight=compute_sample_weight("balanced", y))
    return model


def positive_probability(model: CalibratedClassifierCV, x: np.ndarray) -> np.ndarray:
    return model.predict_proba(np.asarray(x, dtype=np.float64))[:, 1]


def sample_labels(probability: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(len(probability)) < probability).astype(np.int64)
