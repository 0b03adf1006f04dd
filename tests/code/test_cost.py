"""The cost on hand-computed cases, and its pairwise form against the elementwise one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genre.recourse.cost import changed, cost, pairwise_cost

CATEGORICAL = np.array([False, False, True])


def test_hand_computed() -> None:
    a = np.array([0.1, 0.5, 0.0])
    b = np.array([0.4, 0.25, 0.5])  # a 3-way category moved one step: costs 1, not 0.5
    assert cost(a, b, CATEGORICAL) == pytest.approx(0.3 + 0.25 + 1.0)
    assert cost(a, a, CATEGORICAL) == 0.0
    assert changed(a, b).tolist() == [True, True, True]


def test_pairwise_equals_elementwise() -> None:
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.random((5, 2)), rng.integers(0, 3, 5) / 2]).astype(np.float32)
    b = np.column_stack([rng.random((7, 2)), rng.integers(0, 3, 7) / 2]).astype(np.float32)
    got = pairwise_cost(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(CATEGORICAL)).numpy()
    want = cost(a[:, None, :], b[None, :, :], CATEGORICAL)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
