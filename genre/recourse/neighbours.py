"""The cheapest admissible targets of each source, within one immutable group: exactly, or
approximately where the group is too large to compare every source with every target.

Exact: every source against every target, a chunk of sources at a time (``torch.topk`` over the
masked cost). Approximate: an inverted-file index (faiss ``IndexIVFFlat``, metric L1) over the
targets in ``cost_embedding``, where the L1 distance between two rows *is* their recourse cost;
each source asks it for ``oversample`` x k nearest from ``probe`` lists, the lists sized (by
default) so the probed ones hold about twice that: a search reads about the same number of
targets however many the group holds, so the work grows with the sources, not sources x targets.
The inadmissible ones (directions, max_change) are dropped, and the k nearest of the rest are
kept, at the index's distance (the cost, to float32 rounding). What that misses of the exact top-k
is measured on every run (``genre.recourse.pairs.recall``) and reported.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch

from genre.data.preprocessing import Preprocessor
from genre.recourse.cost import pairwise_recourse_cost
from genre.settings import ApproximateSettings

TopK = tuple[np.ndarray, np.ndarray]  # [S, k] float32 costs (inf: no admissible target there) and int32 target indices


_TOLERANCE = 1e-6
# approximate search: candidates gathered at once (their memory is this x features x 4 bytes)
_PAIRS_PER_BLOCK = 1 << 21
_BUILT: dict[
    bytes, Any
] = {}  # the last index this process built, by what it holds: a group's pieces come one after another


def admissible(x_src: torch.Tensor, x_tgt: torch.Tensor, pre: Preprocessor) -> torch.Tensor:
    """[c, d] sources x [T, d] targets (or [c, T, d], each source's own) -> [c, T] bool: the
    target keeps the immutable categories (an immutable number is kept by the answer, not matched:
    ``Preprocessor.matched``), respects every direction and moves no feature further than its
    max_change."""
    src, tgt = x_src[:, None, :], x_tgt if x_tgt.dim() == 3 else x_tgt[None]
    ok = torch.ones(len(x_src), tgt.shape[1], dtype=torch.bool)
    immutable = torch.from_numpy(pre.matched)
    if immutable.any():
        ok &= ((src[..., immutable] - tgt[..., immutable]).abs() <= _TOLERANCE).all(-1)
    for sign in (1, -1):
        cols = torch.from_numpy(pre.direction == sign)
        if cols.any():
            ok &= (sign * (tgt[..., cols] - src[..., cols]) >= -_TOLERANCE).all(-1)
    limited = torch.from_numpy(np.isfinite(pre.max_step))
    if limited.any():
        reach = torch.from_numpy(pre.max_step[np.isfinite(pre.max_step)].astype(np.float32))
        ok &= ((tgt[..., limited] - src[..., limited]).abs() <= reach + _TOLERANCE).all(-1)
    return ok


def cost_embedding(x: np.ndarray, pre: Preprocessor) -> np.ndarray:
    """[N, d] scaled rows -> [N, e] float32 rows whose L1 distances are the recourse costs: a
    costed-by-size feature times its weight, an unordered category one-hot times half its weight
    (a change leaves one slot and enters another: the weight in all)."""
    columns = []
    for j in range(x.shape[1]):
        weight = np.float32(pre.cost_weights[j])
        if pre.flat_cost[j]:
            codes = np.rint(x[:, j] * pre.ranges[j] + pre.mins[j]).astype(np.int64)
            columns.append(
                np.eye(max(int(pre.n_categories[j]), int(codes.max(initial=0)) + 1), dtype=np.float32)[codes]
                * (weight / 2)
            )
        else:
            columns.append(x[:, j : j + 1].astype(np.float32) * weight)
    return np.ascontiguousarray(np.hstack(columns))


def exact_top_k(x_src: np.ndarray, x_tgt: np.ndarray, pre: Preprocessor, k: int, chunk_size: int) -> TopK:
    """Every source against every target, a chunk of sources at a time: memory O(chunk x targets)."""
    tgt = torch.from_numpy(x_tgt)
    values, index = np.full((len(x_src), k), np.inf, dtype=np.float32), np.zeros((len(x_src), k), dtype=np.int32)
    for start in range(0, len(x_src), chunk_size):
        chunk = torch.from_numpy(x_src[start : start + chunk_size])
        cost = pairwise_recourse_cost(chunk, tgt, pre)
        cost = torch.where(admissible(chunk, tgt, pre), cost, torch.full_like(cost, torch.inf))
        best, found = torch.topk(cost, k, dim=1, largest=False)
        values[start : start + len(chunk)], index[start : start + len(chunk)] = best.numpy(), found.numpy()
    return values, index


def approximate_top_k(
    x_src: np.ndarray, x_tgt: np.ndarray, pre: Preprocessor, k: int, chunk_size: int, cfg: ApproximateSettings
) -> TopK:
    """The index over the targets (see the module), asked ``cfg.oversample`` x k per source. A
    source with fewer than k admissible targets among those (an increase-only feature near its
    top leaves few) asks again, twice as many from twice as many lists, until it has k or has
    searched them all: so probing every list finds exactly the exact search's targets."""
    import faiss  # only this mode needs it: the exact path imports nothing more

    asked = min(len(x_tgt), math.ceil(cfg.oversample * k))
    lists = cfg.lists if cfg.lists != "auto" else max(1, round(len(x_tgt) * cfg.probe / (2 * asked)))
    index = _target_index(cost_embedding(x_tgt, pre), min(lists, len(x_tgt)))
    values, found = np.full((len(x_src), k), np.inf, dtype=np.float32), np.zeros((len(x_src), k), dtype=np.int32)
    pending, probe = np.arange(len(x_src)), cfg.probe
    while len(pending):
        # per search: the index itself is shared, never changed (faiss's stub leaves out the keyword
        # arguments its SearchParameters classes accept)
        searched = faiss.SearchParametersIVF(nprobe=min(probe, index.nlist))  # type: ignore[call-arg]
        exhaustive = asked == len(x_tgt) and searched.nprobe == index.nlist
        short = []
        rows_per_block = max(
            1, min(chunk_size, _PAIRS_PER_BLOCK // asked)
        )  # each block gathers rows x asked candidates
        for start in range(0, len(pending), rows_per_block):
            rows = pending[start : start + rows_per_block]
            # nearest first, -1 where the probed lists ran out; the distance is the cost (cost_embedding)
            cost, near = index.search(cost_embedding(x_src[rows], pre), asked, params=searched)
            ok = admissible(
                torch.from_numpy(x_src[rows]), torch.from_numpy(x_tgt[np.maximum(near, 0)]), pre
            ).numpy() & (near >= 0)
            done = exhaustive | (ok.sum(axis=1) >= k)
            first = np.argsort(~ok[done], axis=1, kind="stable")[:, :k]  # the first k admissible, still nearest first
            kept = np.take_along_axis(ok[done], first, axis=1)
            values[rows[done], : first.shape[1]] = np.where(kept, np.take_along_axis(cost[done], first, axis=1), np.inf)
            found[rows[done], : first.shape[1]] = np.take_along_axis(near[done], first, axis=1)
            short.append(rows[~done])
        pending, asked, probe = np.concatenate(short), min(len(x_tgt), 2 * asked), 2 * probe
    return values, found


def _target_index(embedded: np.ndarray, lists: int) -> Any:
    """The inverted-file index over a group's embedded targets. A group's sources come in several
    pieces (``synthesize_pairs`` caps a piece's rows), so the last index is kept and a piece of
    the same group reuses it instead of training its lists again (seconds per piece at 1M rows)."""
    import faiss

    key = hashlib.blake2b(embedded.tobytes() + str((embedded.shape, lists)).encode(), digest_size=16).digest()
    if key not in _BUILT:
        quantizer = faiss.IndexFlat(embedded.shape[1], faiss.METRIC_L1)
        index = faiss.IndexIVFFlat(quantizer, embedded.shape[1], lists, faiss.METRIC_L1)
        index.cp.min_points_per_centroid = 1  # small groups: train on what there is, quietly
        index.train(embedded)
        index.add(embedded)
        _BUILT.clear()
        _BUILT[key] = index
    return _BUILT[key]
