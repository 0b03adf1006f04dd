"""Retrieved candidates: the nearest admissible training rows the classifier accepts.

The paper's claim is that sampling beats search; on a dataset where the generator learned little
(small or imbalanced data) it may not, and the person must still get the better answer. So the
engine adds, to the sampled candidates, the applicant's few nearest accepted training rows (what
NNR would answer), under the same constraints. With ``retrieval: fallback`` (the default) they
answer only where no sampled candidate is accepted, so GenRe finds a recourse wherever NNR does and
keeps the generator's answers elsewhere (the retrieved rows, though cheaper, are less plausible);
with ``compete`` the same rule chooses among all of them, and
the answer is never costlier than NNR's.

Where a person's immutable values and capped moves leave no accepted row as it is, the engine also
takes ``recourse.reachable`` accepted rows moved within the person's reach, those moved least first
(``nearest_reachable``): on the embedded Adult demo, the applicants no sampled candidate answered
plausibly were mostly ones no admissible row could answer either.

The pool is ``genre.models.accepted.AcceptedRows`` at the threshold in use. It holds training rows
(scaled): a served model that can answer like NNR must carry them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genre.data.preprocessing import Preprocessor
from genre.recourse.cost import recourse_cost
from genre.recourse.pairs import pairing_distribution

_CHUNK = 2048  # applicants per distance block: memory chunk x pool
_CELLS = 4_000_000  # values per block of moved rows (factuals x pool x features)
MAX_POOL = 20_000  # accepted rows moved to each factual (a seeded sample past it): the work grows with them
MOVED_WEIGHT = 3.0  # how much a row moved to fit the person counts against it, beside its cost to them


def nearest_accepted(
    x: np.ndarray, pool: np.ndarray, pre: Preprocessor, k: int, chunk_size: int = _CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """[N, d] factuals -> ([N, k, d] candidates, [N, k] valid): each factual's k cheapest admissible
    pool rows (same immutable values, moves only in allowed directions). A slot with no such row
    holds the factual itself and is not valid: it must never be chosen, whatever the threshold."""
    x = np.asarray(x, np.float32)
    out, valid = np.repeat(x[:, None, :], k, axis=1), np.zeros((len(x), k), dtype=bool)
    if len(pool) == 0 or len(x) == 0:
        return out, valid
    # A near-zero lam: the weights only mark which neighbours are admissible (an inadmissible or
    # padding slot has weight 0), and flat weights cannot underflow to 0 for a far admissible one.
    q = pairing_distribution(x, pool, pre, lam=1e-3, k=k, chunk_size=chunk_size)
    neighbours, weights = q.dense()
    width = neighbours.shape[1]  # fewer than k when the pool is smaller
    valid[:, :width] = weights > 0
    out[:, :width] = np.where(valid[:, :width, None], pool[neighbours], out[:, :width])
    return out, valid


def nearest_reachable(
    x: np.ndarray,
    pool: np.ndarray,
    pre: Preprocessor,
    k: int,
    project: Callable[[np.ndarray, np.ndarray], np.ndarray],
    cells: int = _CELLS,
) -> tuple[np.ndarray, np.ndarray]:
    """[N, d] factuals -> ([N, k, d] candidates, [N, k] valid): accepted rows moved within each
    factual's reach (``project``: ``engine.make_actionable`` for a block of factuals and their
    [n, P, d] rows), the k distinct ones that move something with the smallest cost to the factual
    plus ``MOVED_WEIGHT`` times how far the row itself had to be moved. Where no sampled candidate
    is accepted and plausible, an admissible row (``nearest_accepted``) is often none either: a
    person's immutable values and capped moves leave few rows as they are. A row moved a little
    to fit the person still looks like the people approved; one moved far looks like nobody,
    hence the weight. A slot with no row holds the factual and is not valid."""
    x = np.asarray(x, np.float32)
    out, valid = np.repeat(x[:, None, :], k, axis=1), np.zeros((len(x), k), dtype=bool)
    if len(pool) == 0 or len(x) == 0 or k == 0:
        return out, valid
    if len(pool) > MAX_POOL:  # the same seeded sample for every request: an answer never depends on the batch
        pool = pool[np.sort(np.random.default_rng(0).choice(len(pool), size=MAX_POOL, replace=False))]
    pool = np.asarray(pool, np.float32)
    per_block = max(1, cells // (len(pool) * x.shape[1]))
    for start in range(0, len(x), per_block):
        factuals = x[start : start + per_block]
        moved = project(factuals, np.repeat(pool[None], len(factuals), axis=0))
        to_factual = recourse_cost(pre, factuals[:, None, :], moved)
        key = np.where(to_factual > 0, to_factual + MOVED_WEIGHT * recourse_cost(pre, pool[None], moved), np.inf)
        near = np.argsort(key, axis=1, kind="stable")[:, : 2 * k]  # room for duplicates
        points, keys = np.take_along_axis(moved, near[..., None], axis=1), np.take_along_axis(key, near, axis=1)
        # equal points side by side, the best key first among them, and only that one kept
        by_point = np.lexsort((keys, *points.transpose(2, 0, 1)[::-1]), axis=-1)
        points, keys = (
            np.take_along_axis(points, by_point[..., None], axis=1),
            np.take_along_axis(keys, by_point, axis=1),
        )
        repeat = np.zeros(keys.shape, dtype=bool)
        repeat[:, 1:] = (points[:, 1:] == points[:, :-1]).all(axis=-1)
        keys = np.where(repeat, np.inf, keys)
        best = np.argsort(keys, axis=1, kind="stable")[:, :k]
        kept = np.isfinite(np.take_along_axis(keys, best, axis=1))
        block = out[start : start + per_block, : best.shape[1]]
        block[:] = np.where(kept[..., None], np.take_along_axis(points, best[..., None], axis=1), block)
        valid[start : start + per_block, : best.shape[1]] = kept
    return out, valid
