"""The cost of moving from x- to x+: L1 in the scaled space, a changed category costing 1.

For the binary categories of the paper's datasets this is exactly the protocol's L1 on
label-encoded columns; for categories with more than two values it stays a fair 1 per change
instead of depending on the arbitrary order of the labels.
"""

from __future__ import annotations

import numpy as np
import torch

_CHANGED = 1e-6


def cost(x_from: np.ndarray, x_to: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Elementwise over the leading axes; broadcasts like numpy. Differences in float32 (the
    scaled space's own precision) and in torch (every candidate of every request passes here),
    their sum in float64."""
    diff = (torch.as_tensor(np.asarray(x_to), dtype=torch.float32) - torch.as_tensor(np.asarray(x_from), dtype=torch.float32)).abs_()
    diff = torch.where(torch.from_numpy(np.asarray(categorical)), (diff > _CHANGED).float(), diff)
    return diff.sum(dim=-1, dtype=torch.float64).numpy()


def changed(x_from: np.ndarray, x_to: np.ndarray) -> np.ndarray:
    """Boolean mask of the features a recourse changes."""
    return np.abs(np.asarray(x_to) - np.asarray(x_from)) > _CHANGED


def pairwise_cost(a: torch.Tensor, b: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
    """[n, d] x [m, d] -> [n, m] without materialising an [n, m, d] tensor."""
    out = torch.cdist(a[:, ~categorical], b[:, ~categorical], p=1) if (~categorical).any() else 0
    if categorical.any():
        out = out + torch.cdist(a[:, categorical], b[:, categorical], p=0)
    return out
