"""Fixtures shared by the unit tests."""

from __future__ import annotations

import numpy as np
import pytest

from genre.preprocessing import Preprocessor
from genre.schema import DatasetSchema


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
