"""Synthesised supervision pairs: the empirical pairing distribution Q(x+ | x-).

Sources are rows h does not confidently accept; targets are rows h confidently accepts and the
world labels favourable. Each source keeps its K cheapest *admissible* targets (same immutable
values, moves only in allowed directions) weighted by exp(-lam * cost). A source is compared only
with the targets of its own immutable group, and a chunk of sources at a time, so memory is
O(chunk x targets), never O(N^2), and the work shrinks with every immutable feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from genre.artifacts.atomic import write_with
from genre.data.preprocessing import Preprocessor
from genre.recourse.cost import pairwise_recourse_cost

_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PairingDistribution:
    """Row r of ``neighbours``/``probs`` is Q(. | source r) over target rows; padding has prob 0."""

    neighbours: np.ndarray  # [S, K] int64 indices into the target matrix
    probs: np.ndarray  # [S, K] float32, each row sums to 1 or is all zero
    has_target: np.ndarray  # [S] bool: False where no admissible target exists
    nearest_cost: np.ndarray  # [S] cost of the cheapest admissible target (inf if none)

    def restrict(self, rows: np.ndarray) -> PairingDistribution:
        return PairingDistribution(self.neighbours[rows], self.probs[rows], self.has_target[rows], self.nearest_cost[rows])

    @cached_property
    def _cumulative(self) -> torch.Tensor:
        cumulative = torch.from_numpy(self.probs[self.has_target].astype(np.float64)).cumsum(dim=1)
        return cumulative / cumulative[:, -1:]

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """Draw ``n`` target indices per source that has a target -> [S_with_target, n]."""
        cumulative = self._cumulative
        u = torch.from_numpy(rng.random((len(cumulative), n)))
        picks = torch.searchsorted(cumulative, u, right=True).clamp(max=cumulative.shape[1] - 1).numpy()
        return np.take_along_axis(self.neighbours[self.has_target], picks, axis=1)


def split_sources_targets(h_prob: np.ndarray, labels: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of source rows and target rows, as the method defines them."""
    sources = np.flatnonzero(h_prob <= gamma)
    targets = np.flatnonzero((h_prob > gamma) & (labels == 1))
    return sources, targets


def admissible(x_src: torch.Tensor, x_tgt: torch.Tensor, pre: Preprocessor) -> torch.Tensor:
    """[c, d] x [T, d] -> [c, T] bool: target keeps the immutables, respects every direction and
    moves no feature further than its max_change."""
    ok = torch.ones(len(x_src), len(x_tgt), dtype=torch.bool)
    immutable = torch.from_numpy(pre.immutable)
    if immutable.any():
        diff = (x_src[:, None, immutable] - x_tgt[None, :, immutable]).abs()
        ok &= (diff <= _TOLERANCE).all(-1)
    for sign in (1, -1):
        cols = torch.from_numpy(pre.direction == sign)
        if cols.any():
            step = sign * (x_tgt[None, :, cols] - x_src[:, None, cols])
            ok &= (step >= -_TOLERANCE).all(-1)
    limited = torch.from_numpy(np.isfinite(pre.max_step))
    if limited.any():
        reach = torch.from_numpy(pre.max_step[np.isfinite(pre.max_step)].astype(np.float32))
        ok &= ((x_tgt[None, :, limited] - x_src[:, None, limited]).abs() <= reach + _TOLERANCE).all(-1)
    return ok


def immutable_groups(x_src: np.ndarray, x_tgt: np.ndarray, pre: Preprocessor) -> tuple[np.ndarray, np.ndarray]:
    """Each source's and each target's partition: rows with equal immutable values share one (all
    rows one, where nothing is immutable). A source is admissible only to targets of its own
    partition, so each is searched on its own: the work is the sum of the partitions' sources x
    targets, not all sources x all targets."""
    cols = pre.immutable
    if not cols.any():
        return np.zeros(len(x_src), dtype=np.int64), np.zeros(len(x_tgt), dtype=np.int64)
    _, ids = np.unique(np.concatenate([x_src[:, cols], x_tgt[:, cols]]), axis=0, return_inverse=True)
    return ids[: len(x_src)], ids[len(x_src) :]


def pairing_distribution(
    x_src: np.ndarray, x_tgt: np.ndarray, pre: Preprocessor, lam: float, k: int, chunk_size: int
) -> PairingDistribution:
    """Q for every source: its ``k`` cheapest admissible targets, searched a chunk of sources at a
    time within the source's immutable partition (``immutable_groups``); the admissibility mask
    excludes the other partitions' targets, so the answer is the same without them."""
    k = min(k, len(x_tgt))
    x_src, x_tgt = np.asarray(x_src, np.float32), np.asarray(x_tgt, np.float32)
    neighbours = np.zeros((len(x_src), k), dtype=np.int64)
    probs = np.zeros((len(x_src), k), dtype=np.float32)
    nearest = np.full(len(x_src), np.inf)
    if k == 0:
        return PairingDistribution(neighbours, probs, np.zeros(len(x_src), dtype=bool), nearest)
    if len(x_src) <= chunk_size:  # one chunk scans the targets once anyway (a request's retrieval): grouping would only add work
        src_group, tgt_group = np.zeros(len(x_src), dtype=np.int64), np.zeros(len(x_tgt), dtype=np.int64)
    else:
        src_group, tgt_group = immutable_groups(x_src, x_tgt, pre)
    for group in np.unique(src_group):
        members, candidates = np.flatnonzero(src_group == group), np.flatnonzero(tgt_group == group)
        if not len(candidates):
            continue  # no target keeps these immutable values: these sources have none
        tgt, kept = torch.from_numpy(x_tgt[candidates]), min(k, len(candidates))
        for start in range(0, len(members), chunk_size):
            rows = members[start : start + chunk_size]
            chunk = torch.from_numpy(x_src[rows])
            cost = pairwise_recourse_cost(chunk, tgt, pre)
            cost = torch.where(admissible(chunk, tgt, pre), cost, torch.full_like(cost, torch.inf))
            values, index = torch.topk(cost, kept, dim=1, largest=False)
            weights = torch.softmax(-lam * values.double(), dim=1)
            weights = torch.nan_to_num(torch.where(torch.isinf(values), 0.0, weights), nan=0.0)
            neighbours[rows, :kept] = candidates[index.numpy()]
            probs[rows, :kept] = weights.float().numpy()
            nearest[rows] = values[:, 0].double().numpy()
    return PairingDistribution(neighbours, probs, np.isfinite(nearest), nearest)


def save_pairs(path: Path, sources: np.ndarray, targets: np.ndarray, q: PairingDistribution) -> None:
    arrays = {
        "sources": sources,
        "targets": targets,
        "neighbours": q.neighbours.astype(np.int32),
        "probs": q.probs,
        "has_target": q.has_target,
        "nearest_cost": q.nearest_cost,
    }
    write_with(path, lambda tmp: np.savez(tmp.open("wb"), **arrays))


def load_pairs(path: Path) -> tuple[np.ndarray, np.ndarray, PairingDistribution]:
    """Source and target row indices of the training split, and Q over targets."""
    with np.load(path) as s:
        q = PairingDistribution(s["neighbours"].astype(np.int64), s["probs"], s["has_target"], s["nearest_cost"])
        return s["sources"], s["targets"], q
