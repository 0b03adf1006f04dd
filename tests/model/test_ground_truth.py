"""The ground-truth forest at scale: past ``rf_max_rows`` it fits a seeded sample, not every row."""

from __future__ import annotations

import numpy as np

from genre.models.ground_truth import fit_ground_truth, positive_probability
from genre.settings import ClassifierSettings


def _rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, 3))
    return x, (x[:, 0] + 0.3 * rng.random(n) > 0.6).astype(np.int64)


def _largest_tree_rows(model) -> int:
    """Rows the root of any fold's first tree saw (its bootstrap's distinct rows)."""
    return max(int(fold.estimator.estimators_[0].tree_.n_node_samples[0]) for fold in model.calibrated_classifiers_)


def test_the_forest_fits_at_most_rf_max_rows() -> None:
    x, y = _rows(400)
    capped = fit_ground_truth(x, y, ClassifierSettings(rf_n_estimators=5, rf_max_rows=100))
    whole = fit_ground_truth(x, y, ClassifierSettings(rf_n_estimators=5))
    assert _largest_tree_rows(capped) <= 80 < _largest_tree_rows(whole)  # a fold trains on 4/5 of what it is given
    again = fit_ground_truth(x, y, ClassifierSettings(rf_n_estimators=5, rf_max_rows=100))
    np.testing.assert_array_equal(
        positive_probability(capped, x), positive_probability(again, x)
    )  # the sample is seeded
