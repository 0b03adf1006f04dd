"""Is the generator a consistent estimator of Q? A two-sample distance per held-out source.

The energy distance between generator samples and draws from the empirical Q is shown beside the
same distance between two independent draws from Q: the latter is the floor that sampling noise
alone produces, so the gap between the two is what the generator has still to learn.
"""

from __future__ import annotations

import numpy as np
import torch


def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased (U-statistic) squared energy distance between samples [m, d] and [n, d]."""
    ta, tb = torch.from_numpy(np.asarray(a, np.float64)), torch.from_numpy(np.asarray(b, np.float64))
    m, n = len(ta), len(tb)
    cross = torch.cdist(ta, tb).mean()
    within_a = torch.cdist(ta, ta).sum() / (m * (m - 1))
    within_b = torch.cdist(tb, tb).sum() / (n * (n - 1))
    return float(2 * cross - within_a - within_b)


def mean_energy_distance(first: np.ndarray, second: np.ndarray) -> float:
    """[S, m, d] x [S, n, d] -> mean over sources."""
    return float(np.mean([energy_distance(a, b) for a, b in zip(first, second)]))
