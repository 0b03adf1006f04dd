"""Group gaps on a hand-computed case: per group of each immutable category, the found rate,
validity and cost, and the largest difference among groups big enough to count."""

from __future__ import annotations

import numpy as np
import pytest

from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema
from genre.evaluation.group_gap import group_gaps


def _pre() -> Preprocessor:
    schema = DatasetSchema.model_validate(
        {
            "name": "groups",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "income": {"kind": "continuous", "min": 0, "max": 1},
                "sex": {"kind": "categorical", "categories": ["f", "m"], "immutable": True},
                "race": {"kind": "categorical", "categories": ["a", "b", "c"], "immutable": True},
                "job": {"kind": "categorical", "categories": ["x", "y"]},
            },
        }
    )
    return Preprocessor(schema, np.zeros(4), np.array([1.0, 1.0, 2.0, 1.0]))


def test_gaps_by_hand() -> None:
    # sex: f f f m m m ; race: a a b b b c (c: one factual, too few to count with min 2)
    sex, race = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 1, 2])
    x = np.column_stack([np.zeros(6), sex, race / 2, np.zeros(6)]).astype(np.float32)
    found = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    rows = {"validity_rf": np.array([1, 1, 0, 1, 1, 0.0]), "cost": np.array([0.5, 1.5, 2.0, 1.0, 1.0, 4.0])}
    gaps = group_gaps(_pre(), x, rows, found, min_factuals=2)
    assert set(gaps) == {"sex", "race"}  # job is mutable, income numeric
    f, m = gaps["sex"]["groups"]["f"], gaps["sex"]["groups"]["m"]
    assert f == {
        "factuals": 3,
        "found_rate": pytest.approx(2 / 3),
        "validity_rf": pytest.approx(2 / 3),
        "cost": pytest.approx(4 / 3),
    }
    assert m == {
        "factuals": 3,
        "found_rate": pytest.approx(1 / 3),
        "validity_rf": pytest.approx(2 / 3),
        "cost": pytest.approx(2.0),
    }
    assert gaps["sex"]["gap"] == {
        "found_rate": pytest.approx(1 / 3),
        "validity_rf": pytest.approx(0.0),
        "cost": pytest.approx(2 / 3),
    }
    # race: a = rows 0,1 (found 1, validity 1, cost 1.0); b = rows 2,3,4 (1/3, 2/3, 4/3); c left out of the gap
    assert gaps["race"]["groups"]["c"]["factuals"] == 1
    assert gaps["race"]["gap"] == {
        "found_rate": pytest.approx(2 / 3),
        "validity_rf": pytest.approx(1 / 3),
        "cost": pytest.approx(1 / 3),
    }


def test_a_feature_with_one_countable_group_has_no_gap() -> None:
    x = np.array([[0.1, 0, 0, 0], [0.2, 0, 0, 1], [0.3, 1, 1, 0]], dtype=np.float32)
    rows = {"validity_rf": np.ones(3), "cost": np.ones(3)}
    gaps = group_gaps(_pre(), x, rows, np.ones(3, dtype=bool), min_factuals=2)
    assert gaps["sex"]["gap"] == {"found_rate": None, "validity_rf": None, "cost": None}
    assert group_gaps(_pre(), x[:0], {k: v[:0] for k, v in rows.items()}, np.ones(0, dtype=bool), 2) == {}
