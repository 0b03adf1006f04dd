"""The metric code on tiny hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression

from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema
from genre.evaluation.actionability import answer_summary
from genre.evaluation.consistency import energy_distance
from genre.evaluation.metrics import Judges, fit_plausibility
from genre.models.classifiers import MLPClassifier


def test_energy_distance_separates_shifted_samples() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    assert abs(energy_distance(a, b)) < 0.05
    assert energy_distance(a, b + 1.0) > 0.5


def test_energy_distance_hand_computed() -> None:
    """1-D points {0, 2} vs {1, 3}: 2*E|X-Y| - E|X-X'| - E|Y-Y'| = 2*1.5 - 2 - 2 = -1 (U-statistic)."""
    assert energy_distance(np.array([[0.0], [2.0]]), np.array([[1.0], [3.0]])) == pytest.approx(-1.0)


@pytest.fixture
def tiny_judges() -> Judges:
    """World and classifier both say 'x0 > 0.5'; s is an immutable category."""
    schema = DatasetSchema.model_validate(
        {
            "name": "tiny",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "a": {"kind": "continuous", "min": 0, "max": 1},
                "s": {"kind": "categorical", "categories": ["f", "m"], "immutable": True},
            },
        }
    )
    pre = Preprocessor(schema, np.zeros(2), np.ones(2))
    rng = np.random.default_rng(0)
    grid = np.column_stack([rng.random(2000), rng.integers(0, 2, 2000)])
    forest = CalibratedClassifierCV(LogisticRegression(C=1e4), cv=3).fit(grid, (grid[:, 0] > 0.5).astype(int))
    classifier = MLPClassifier(2, [])
    with torch.no_grad():
        classifier.net[0].weight[:] = torch.tensor([[100.0, 0.0]])
        classifier.net[0].bias[:] = -50.0
    return Judges(pre, forest, classifier, fit_plausibility(grid, forest, n_neighbors=5))


def test_judges_score_hand_computed(tiny_judges) -> None:
    """One recourse crosses, one does not."""
    judges = tiny_judges
    x = np.array([[0.2, 0.0], [0.3, 1.0]])
    x_plus = np.array([[0.8, 0.0], [0.4, 0.0]])  # second: too small a move, and flips the immutable
    out = judges.score(x, x_plus, seconds=2.0, found=np.array([True, False]))
    assert out["cost"] == pytest.approx((0.6 + 1.1) / 2)
    assert (
        out["validity_rf"] == 0.5 and out["validity_h"] == 0.5
    )  # the second is not found: invalid, wherever it points
    assert out["immutable_violations"] == 1
    assert out["sparsity"] == pytest.approx(1.5)
    assert out["found_rate"] == 0.5 and out["seconds_per_recourse"] == 1.0
    assert out["score"] == pytest.approx(out["validity_rf"] + out["lof"] - out["cost"] / 2)


def test_plausibility_past_its_row_cap_is_fitted_on_a_seeded_sample() -> None:
    """LOF sees every favourable row up to ``max_rows``, a seeded sample of that many past it, and
    still tells a favourable-looking row from one far outside the data."""
    rng = np.random.default_rng(0)
    grid = np.column_stack([rng.random(3000), rng.integers(0, 2, 3000)])
    forest = CalibratedClassifierCV(LogisticRegression(C=1e4), cv=3).fit(grid, (grid[:, 0] > 0.5).astype(int))
    favourable = int((forest.predict_proba(grid)[:, 1] > 0.5).sum())  # the world's favourable rows: about half
    assert 1000 < favourable < 2000 and fit_plausibility(grid, forest, n_neighbors=5).n_samples_fit_ == favourable
    capped = fit_plausibility(grid, forest, n_neighbors=5, max_rows=300, seed=1)
    assert capped.n_samples_fit_ == 300
    assert (capped._fit_X == fit_plausibility(grid, forest, n_neighbors=5, max_rows=300, seed=1)._fit_X).all()
    assert list(capped.predict(np.array([[0.8, 1.0], [9.0, 1.0]]))) == [1, -1]


def test_a_not_found_applicant_is_invalid_whatever_its_point(tiny_judges) -> None:
    """Both points cross for the world and the classifier, but nobody told the second one it."""
    judges = tiny_judges
    x, x_plus = np.array([[0.2, 0.0], [0.3, 1.0]]), np.array([[0.8, 0.0], [0.9, 1.0]])
    rows = judges.per_row(x, x_plus, np.array([True, False]))
    assert rows["validity_rf"].tolist() == [1.0, 0.0] and rows["validity_h"].tolist() == [1.0, 0.0]
    assert judges.score(x, x_plus, 1.0, np.array([True, True]))["validity_rf"] == 1.0


def test_what_answers_ask_of_people(tiny_judges) -> None:
    """Features changed per answer found, moves under min_change, and answers shared."""
    pre = tiny_judges.pre
    schema = pre.schema.model_copy(
        update={
            "features": {**pre.schema.features, "a": pre.schema.features["a"].model_copy(update={"min_change": 0.1})}
        }
    )
    least = Preprocessor(schema, pre.mins, pre.ranges)
    x = np.array([[0.2, 0.0], [0.3, 0.0], [0.4, 0.0], [0.1, 0.0]])
    x_plus = np.array([[0.8, 0.0], [0.8, 0.0], [0.45, 0.0], [0.9, 0.0]])
    out = answer_summary(least, x, x_plus, np.array([True, True, True, False]))
    assert out["features_changed_median"] == 1.0 and out["features_changed_mean"] == 1.0
    assert out["trivial_changes"] == 1  # 0.4 -> 0.45 is under 0.1
    assert out["distinct_share"] == pytest.approx(2 / 3) and out["largest_answer_share"] == pytest.approx(2 / 3)
