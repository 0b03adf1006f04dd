"""The cost of moving from x- to x+: L1 in the scaled space, a changed category costing 1.

For the binary categories of the paper's datasets this is exactly the protocol's L1 on
label-encoded columns; for categories with more than two values it stays a fair 1 per change
instead of depending on the arbitrary order of the labels.

That is the protocol's cost (``cost`` with ``pre.categorical``), which the metrics keep for
comparison with the paper. What a recourse is chosen and priced by is ``recourse_cost``: the
schema's per-feature ``cost`` weights on the same terms, an ordered category costed by steps
like an integer. With the defaults (weights 1, nothing ordered) the two are the same.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch

from genre.data.preprocessing import SAME, Preprocessor


def cost(x_from: np.ndarray, x_to: np.ndarray, flat: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Elementwise over the leading axes; broadcasts like numpy. A ``flat`` feature costs 1 when
    it changes at all, the others their scaled distance; ``weights`` multiply the terms.
    Differences in float32 (the scaled space's own precision) and in torch (every candidate of
    every request passes here), their sum in float64."""
    diff = (
        torch.as_tensor(np.asarray(x_to), dtype=torch.float32)
        - torch.as_tensor(np.asarray(x_from), dtype=torch.float32)
    ).abs_()
    diff = torch.where(torch.from_numpy(np.asarray(flat)), (diff > SAME).float(), diff)
    if weights is not None and (np.asarray(weights) != 1).any():
        diff = diff.double() * torch.from_numpy(np.asarray(weights, dtype=np.float64))
    return diff.sum(dim=-1, dtype=torch.float64).numpy()


def recourse_cost(pre: Preprocessor, x_from: np.ndarray, x_to: np.ndarray) -> np.ndarray:
    """What a recourse is chosen and priced by: the schema's weights, ordered categories by steps."""
    return cost(x_from, x_to, pre.flat_cost, pre.cost_weights)


def changed(x_from: np.ndarray, x_to: np.ndarray) -> np.ndarray:
    """Boolean mask of the features a recourse changes."""
    return np.abs(np.asarray(x_to) - np.asarray(x_from)) > SAME


def pairwise_recourse_cost(a: torch.Tensor, b: torch.Tensor, pre: Preprocessor) -> torch.Tensor:
    """``recourse_cost`` of every [n, d] row to every [m, d] row -> [n, m], without materialising
    an [n, m, d] tensor: a weighted L1 is the L1 of weighted columns, and the flat features are
    counted per group of equal weight."""
    flat = torch.from_numpy(pre.flat_cost)
    weights = torch.from_numpy(pre.cost_weights.astype(np.float32))
    out = torch.cdist(a[:, ~flat] * weights[~flat], b[:, ~flat] * weights[~flat], p=1) if (~flat).any() else 0
    for weight in np.unique(pre.cost_weights[pre.flat_cost]):
        cols = flat & (weights == float(weight))
        out = out + float(weight) * torch.cdist(a[:, cols], b[:, cols], p=0)
    return cast(torch.Tensor, out)  # a schema has features, flat or not: one of the two made a tensor
