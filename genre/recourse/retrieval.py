"""Retrieved candidates: the nearest admissible training rows the classifier accepts.

The paper's claim is that sampling beats search; on a dataset where the generator learned little
(small or imbalanced data) it may not, and the person must still get the better answer. So the
engine adds, to the sampled candidates, the applicant's few nearest accepted training rows (what
NNR would answer), under the same constraints. With ``retrieval: fallback`` (the default) they
answer only where no sampled candidate is accepted, so GenRe finds a recourse wherever NNR does and
keeps the generator's answers elsewhere (the retrieved rows, though cheaper, are less plausible);
with ``compete`` the same rule chooses among all of them, and
the answer is never costlier than NNR's.

The pool is ``genre.models.accepted.AcceptedRows`` at the threshold in use. It holds training rows
(scaled): a served model that can answer like NNR must carry them.
"""

from __future__ import annotations

import numpy as np

from genre.data.preprocessing import Preprocessor
from genre.recourse.pairs import pairing_distribution

_CHUNK = 2048  # applicants per distance block: memory chunk x pool


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
