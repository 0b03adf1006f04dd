"""The cost on hand-computed cases, the schema's weights and ordered categories, and the pairwise
form against the elementwise one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema
from genre.recourse.cost import changed, cost, pairwise_recourse_cost, recourse_cost

CATEGORICAL = np.array([False, False, True])


def test_hand_computed() -> None:
    a = np.array([0.1, 0.5, 0.0])
    b = np.array([0.4, 0.25, 0.5])  # a 3-way category moved one step: costs 1, not 0.5
    assert cost(a, b, CATEGORICAL) == pytest.approx(0.3 + 0.25 + 1.0)
    assert cost(a, a, CATEGORICAL) == 0.0
    assert changed(a, b).tolist() == [True, True, True]


def weighted(pre: Preprocessor, **features: dict) -> Preprocessor:
    """``pre`` with some features' specs changed (cost weights, ordered)."""
    specs = {n: f.model_copy(update=features.get(n, {})) for n, f in pre.schema.features.items()}
    return Preprocessor(
        DatasetSchema.model_validate(
            {**pre.schema.model_dump(), "features": {n: s.model_dump() for n, s in specs.items()}}
        ),
        pre.mins,
        pre.ranges,
    )


def test_weights_scale_each_term_and_an_ordered_category_costs_steps(pre: Preprocessor) -> None:
    """pre: age 0-10 (scaled by 10), debt, sex, job a < b < c once ordered (scaled by 2)."""
    a = np.array([0.2, 0.5, 0.0, 0.0])
    b = np.array([0.5, 0.25, 0.0, 1.0])  # age +3 years, debt -0.25, job a -> c
    assert recourse_cost(pre, a, b) == pytest.approx(0.3 + 0.25 + 1.0)  # defaults: the protocol's cost
    assert recourse_cost(pre, a, b) == pytest.approx(cost(a, b, pre.categorical))
    costly_age = weighted(pre, age={"cost": 4.0}, job={"cost": 0.5})
    assert recourse_cost(costly_age, a, b) == pytest.approx(4 * 0.3 + 0.25 + 0.5)
    ordered = weighted(pre, job={"ordered": True})
    assert recourse_cost(ordered, a, b) == pytest.approx(0.3 + 0.25 + 1.0)  # two steps of two: the whole range
    half = np.array([0.2, 0.5, 0.0, 0.5])  # job a -> b: one step
    assert recourse_cost(ordered, a, half) == pytest.approx(0.5)
    assert recourse_cost(pre, a, half) == pytest.approx(1.0)  # unordered: any change costs 1


@pytest.mark.parametrize(
    "changes",
    [{}, {"age": {"cost": 3.0}, "sex": {"cost": 2.0}, "job": {"cost": 0.5}}, {"job": {"ordered": True, "cost": 2.0}}],
)
def test_pairwise_equals_elementwise(pre: Preprocessor, changes: dict) -> None:
    space = weighted(pre, **changes)
    rng = np.random.default_rng(0)

    def rows(n: int) -> np.ndarray:
        return np.column_stack(
            [rng.integers(0, 11, n) / 10, rng.random(n), rng.integers(0, 2, n), rng.integers(0, 3, n) / 2]
        ).astype(np.float32)

    a, b = rows(5), rows(7)
    got = pairwise_recourse_cost(torch.from_numpy(a), torch.from_numpy(b), space).numpy()
    want = recourse_cost(space, a[:, None, :], b[None, :, :])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
