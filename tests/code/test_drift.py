"""Drift of a batch against the training data: PSI by hand, both conditions (a significant test
and a large enough PSI) per feature, and the label and approval rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genre.data.drift import LabelAgreement, drift_report, feature_drift, psi
from genre.data.schema import DatasetSchema
from genre.settings import DriftSettings

SCHEMA = DatasetSchema.model_validate(
    {
        "name": "drift",
        "target": {"name": "y", "values": [0, 1], "favourable": 1},
        "features": {
            "age": {"kind": "integer", "min": 17, "max": 90},
            "income": {"kind": "continuous", "min": 0, "max": 1},
            "job": {"kind": "categorical", "categories": ["a", "b", "c"]},
        },
    }
)


def _frame(
    rng: np.random.Generator,
    n: int,
    age_shift: int = 0,
    job_p: tuple[float, ...] = (0.5, 0.3, 0.2),
    positive: float = 0.3,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.clip(rng.integers(20, 60, n) + age_shift, 17, 90),
            "income": rng.random(n),
            "job": rng.choice(["a", "b", "c"], n, p=job_p),
            "y": (rng.random(n) < positive).astype(int),
        }
    )


def test_psi_by_hand() -> None:
    # shares p = (0.5, 0.5), q = (0.25, 0.75): (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
    assert psi(np.array([50, 50]), np.array([10, 30])) == pytest.approx(-0.25 * np.log(0.5) + 0.25 * np.log(1.5))
    assert psi(np.array([5, 5]), np.array([7, 7])) == 0.0
    assert psi(np.array([10, 0]), np.array([0, 10])) > 10  # an empty bin is floored, not infinite


def test_a_sample_of_the_same_data_has_not_drifted_and_a_shifted_one_has() -> None:
    rng = np.random.default_rng(0)
    reference = _frame(rng, 20_000)
    assert not any(f.drifted for f in feature_drift(reference, _frame(rng, 1000), SCHEMA, alpha=0.01, max_psi=0.2))
    shifted = feature_drift(
        reference, _frame(rng, 1000, age_shift=15, job_p=(0.1, 0.3, 0.6)), SCHEMA, alpha=0.01, max_psi=0.2
    )
    assert {f.feature: (f.test, f.drifted) for f in shifted} == {
        "age": ("ks", True),
        "income": ("ks", False),
        "job": ("chi2", True),
    }


def test_a_significant_shift_too_small_to_matter_is_not_drift() -> None:
    """With 200,000 rows a 2-year shift is significant, but its PSI is far below 0.2."""
    rng = np.random.default_rng(1)
    [age, *_] = feature_drift(_frame(rng, 200_000), _frame(rng, 200_000, age_shift=1), SCHEMA, alpha=0.01, max_psi=0.2)
    assert age.q_value < 1e-6 and age.psi < 0.2 and not age.drifted


def test_inverted_labels_and_a_moved_approval_rate_are_drift_and_said() -> None:
    rng = np.random.default_rng(2)
    reference, batch = _frame(rng, 5000, positive=0.25), _frame(rng, 1000, positive=0.75)
    report = drift_report(reference, batch, SCHEMA, (0.40, 0.45), DriftSettings())
    before, after = reference["y"].mean(), batch["y"].mean()
    assert report.drifted == [f"favourable-label rate {before:.3f} -> {after:.3f} (limit ±0.1)"]
    assert report.label_rate.drifted and not report.approval_rate.drifted
    moved = drift_report(reference, reference.sample(1000, random_state=0), SCHEMA, (0.40, 0.55), DriftSettings())
    assert moved.drifted == ["approval rate 0.400 -> 0.550 (limit ±0.1)"]
    assert moved.to_json()["approval_rate"] == {"reference": 0.40, "batch": 0.55, "limit": 0.1, "drifted": True}


def test_labels_the_classifier_ranks_far_worse_than_its_held_out_rows_are_drift_beyond_the_noise() -> None:
    rng = np.random.default_rng(3)
    reference, batch = _frame(rng, 2000), _frame(rng, 1000)
    noisy = LabelAgreement(expected=0.88, batch=0.85, low=0.82, high=0.86, limit=0.05)  # the top is within 0.05
    swapped = LabelAgreement(expected=0.88, batch=0.61, low=0.58, high=0.64, limit=0.05)
    assert not drift_report(reference, batch, SCHEMA, (0.4, 0.4), DriftSettings(), noisy).drifted
    report = drift_report(reference, batch, SCHEMA, (0.4, 0.4), DriftSettings(), swapped)
    assert report.drifted == [
        (
            "labels: the classifier's AUC on the batch's labels 0.610 (interval 0.580 to 0.640) against 0.880 on "
            "its held-out rows (may fall 0.05)"
        )
    ]
    assert report.to_json()["labels"]["drifted"] is True
