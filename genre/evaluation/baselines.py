"""Nearest-neighbour recourse (NNR): the cheapest admissible confidently-accepted training row.

It is the method GenRe must beat: large lambda collapses Q onto exactly this neighbour, so it
shares the admissibility rule and the cost with the pairs.
"""

from __future__ import annotations

import time

import numpy as np

from genre.data.preprocessing import Preprocessor
from genre.recourse.pairs import pairing_distribution


def nearest_neighbour_recourse(
    x: np.ndarray, x_targets: np.ndarray, pre: Preprocessor, chunk_size: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """-> (x_plus, found, seconds); a factual with no admissible target keeps x_plus = x."""
    started = time.perf_counter()
    q = pairing_distribution(x, x_targets, pre, lam=1.0, k=1, chunk_size=chunk_size)
    x_plus = np.where(q.has_target[:, None], x_targets[q.neighbours[:, 0]], x)
    return x_plus.astype(np.float32), q.has_target, time.perf_counter() - started
