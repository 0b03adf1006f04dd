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
from genre.parallel import Mapper, serial
from genre.recourse.neighbours import approximate_top_k, exact_top_k
from genre.settings import ApproximateSettings


_SAMPLE_BLOCK = 8192  # sources drawn for at once
_CUMULATIVE_CACHE = 1 << 26  # source x neighbour weights whose cumulative (8 bytes each, 512 MB) is kept between draws


@dataclass(frozen=True)
class PairingDistribution:
    """Row r of ``neighbours``/``probs`` is Q(. | source r) over target rows; padding has prob 0."""

    neighbours: np.ndarray  # [S, K] int32 indices into the target matrix
    probs: np.ndarray  # [S, K] float16, each row sums to 1 (to float16 rounding) or is all zero
    has_target: np.ndarray  # [S] bool: False where no admissible target exists
    nearest_cost: np.ndarray  # [S] cost of the cheapest admissible target (inf if none)

    def restrict(self, rows: np.ndarray) -> PairingDistribution:
        return PairingDistribution(self.neighbours[rows], self.probs[rows], self.has_target[rows], self.nearest_cost[rows])

    def _cumulative(self, rows: np.ndarray) -> torch.Tensor:
        """Each row's cumulative weights, float64, scaled to end at 1 (row by row: the same
        figures whichever rows are asked together)."""
        cumulative = torch.from_numpy(self.probs[rows].astype(np.float64)).cumsum(dim=1)
        return cumulative / cumulative[:, -1:]

    @cached_property
    def _kept_cumulative(self) -> torch.Tensor | None:
        """Every source's cumulative weights, built once where they fit _CUMULATIVE_CACHE
        (training draws again each epoch); None where they do not, and each draw builds them a
        block at a time."""
        rows = np.flatnonzero(self.has_target)
        return self._cumulative(rows) if len(rows) * self.probs.shape[1] <= _CUMULATIVE_CACHE else None

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """Draw ``n`` target indices per source that has a target -> [S_with_target, n]."""
        rows = np.flatnonzero(self.has_target)
        u = torch.from_numpy(rng.random((len(rows), n)))
        out = np.empty((len(rows), n), dtype=self.neighbours.dtype)
        kept = self._kept_cumulative
        for start in range(0, len(rows), _SAMPLE_BLOCK):
            block = slice(start, start + _SAMPLE_BLOCK)
            cumulative = kept[block] if kept is not None else self._cumulative(rows[block])
            picks = torch.searchsorted(cumulative, u[block], right=True).clamp(max=cumulative.shape[1] - 1).numpy()
            out[block] = np.take_along_axis(self.neighbours[rows[block]], picks, axis=1)
        return out


def split_sources_targets(h_prob: np.ndarray, labels: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of source rows and target rows, as the method defines them."""
    sources = np.flatnonzero(h_prob <= gamma)
    targets = np.flatnonzero((h_prob > gamma) & (labels == 1))
    return sources, targets


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


def weights(costs: np.ndarray, lam: float, chunk_size: int) -> np.ndarray:
    """[S, k] costs (inf: no target there) -> Q's weights, exp(-lam * cost) over each row, as
    float16 (a weight is a sampling chance: three digits are plenty, at half the memory)."""
    probs = np.zeros(costs.shape, dtype=np.float16)
    for start in range(0, len(costs), chunk_size):  # in chunks: float64 weights of every pair at once would take 8x the memory
        values = torch.from_numpy(costs[start : start + chunk_size]).double()
        chunk = torch.softmax(-lam * values, dim=1)
        probs[start : start + len(values)] = torch.nan_to_num(torch.where(torch.isinf(values), 0.0, chunk), nan=0.0).float().numpy()
    return probs


def group_pairs(
    x_src: np.ndarray, x_tgt: np.ndarray, pre: Preprocessor, lam: float, k: int, chunk_size: int, approximate: ApproximateSettings | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One piece of ``pairing_distribution``: sources of one immutable group against its targets,
    exactly, or with ``approximate`` where the group holds more targets than a source would ask
    the index for -> (neighbours, weights, nearest cost). The costs stay inside the piece."""
    if approximate is not None and len(x_tgt) > approximate.oversample * k:
        costs, index = approximate_top_k(x_src, x_tgt, pre, k, chunk_size, approximate)
    else:
        costs, index = exact_top_k(x_src, x_tgt, pre, k, chunk_size)
    return index, weights(costs, lam, chunk_size), costs[:, 0].astype(np.float64)


def pairing_distribution(
    x_src: np.ndarray,
    x_tgt: np.ndarray,
    pre: Preprocessor,
    lam: float,
    k: int,
    chunk_size: int,
    approximate: ApproximateSettings | None = None,
    mapper: Mapper = serial,
    parts: int = 1,
) -> PairingDistribution:
    """Q for every source over its ``k`` cheapest admissible targets, weighted exp(-lam * cost);
    a source with none has has_target False and weights 0.

    Sources are searched within their immutable partition (``immutable_groups``), each partition's
    sources split in ``parts`` pieces handed to ``mapper`` (``genre.parallel``); each piece is
    computed as it would be alone, so Q is the same however the work is spread. Only the
    neighbours that carry mass are kept: columns past the last weight float16 holds are dropped
    (each row's neighbours are sorted by cost, so its weights only fall along it)."""
    x_src, x_tgt = np.asarray(x_src, np.float32), np.asarray(x_tgt, np.float32)
    k = min(k, len(x_tgt))
    neighbours, probs, nearest = np.zeros((len(x_src), k), dtype=np.int32), np.zeros((len(x_src), k), dtype=np.float16), np.full(len(x_src), np.inf)
    if len(x_src) <= chunk_size:  # one chunk scans the targets once anyway (a request's retrieval): grouping would only add work
        src_group, tgt_group = np.zeros(len(x_src), dtype=np.int64), np.zeros(len(x_tgt), dtype=np.int64)
    else:
        src_group, tgt_group = immutable_groups(x_src, x_tgt, pre)
    pieces = []  # (source rows, candidate targets, k kept)
    for group in np.unique(src_group) if k else []:
        members, candidates = np.flatnonzero(src_group == group), np.flatnonzero(tgt_group == group)
        if len(candidates):  # else no target keeps these immutable values: these sources have none
            pieces += [(rows, candidates, min(k, len(candidates))) for rows in np.array_split(members, min(parts, len(members)))]
    calls = ({"x_src": x_src[rows], "x_tgt": x_tgt[candidates], "pre": pre, "lam": lam, "k": kept, "chunk_size": chunk_size, "approximate": approximate} for rows, candidates, kept in pieces)
    for (rows, candidates, kept), (index, weight, cheapest) in zip(pieces, mapper(group_pairs, calls), strict=True):
        neighbours[rows, :kept], probs[rows, :kept], nearest[rows] = candidates[index], weight, cheapest
    width = int(np.flatnonzero((probs > 0).any(axis=0)).max(initial=0)) + 1 if k else 0
    return PairingDistribution(neighbours[:, :width], probs[:, :width], np.isfinite(nearest), nearest)


def recall(approximate: PairingDistribution, exact: PairingDistribution) -> dict[str, float]:
    """How much of the exact Q an approximate one (the same sources) holds: the share of the exact
    top-k targets it found, and the share of the exact Q's probability mass on them."""
    hits = mass = 0.0
    for row in np.flatnonzero(exact.has_target):
        wanted = exact.probs[row] > 0
        found = np.isin(exact.neighbours[row], approximate.neighbours[row][approximate.probs[row] > 0]) & wanted
        hits += found.sum() / wanted.sum()
        mass += exact.probs[row][found].sum(dtype=np.float64)
    rows = max(int(exact.has_target.sum()), 1)
    return {"top_k": float(hits / rows), "mass": float(mass / rows)}


def save_pairs(path: Path, sources: np.ndarray, targets: np.ndarray, q: PairingDistribution) -> None:
    arrays = {
        "sources": sources,
        "targets": targets,
        "neighbours": q.neighbours,
        "probs": q.probs,
        "has_target": q.has_target,
        "nearest_cost": q.nearest_cost,
    }
    write_with(path, lambda tmp: np.savez(tmp.open("wb"), **arrays))


def load_pairs(path: Path) -> tuple[np.ndarray, np.ndarray, PairingDistribution]:
    """Source and target row indices of the training split, and Q over targets."""
    with np.load(path) as s:
        q = PairingDistribution(s["neighbours"], s["probs"], s["has_target"], s["nearest_cost"])
        return s["sources"], s["targets"], q
