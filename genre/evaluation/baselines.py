"""Nearest-neighbour recourse (NNR): the cheapest admissible confidently-accepted training row.

It is the method GenRe must beat: large lambda collapses Q onto exactly this neighbour, so it
shares the admissibility rule and the cost with the pairs.
"""

from __future__ import annotations

import time

import numpy as np

from genre.data.preprocessing import Preprocessor
from genre.recourse.retrieval import nearest_accepted


def nearest_neighbour_recourse(
    x: np.ndarray, x_targets: np.ndarray, pre: Preprocessor, chunk_size: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """-> (x_plus, found, seconds); a factual with no admissible target keeps x_plus = x. The
    row found keeps the factual's immutable numbers, as every answer does (they are not matched)."""
    started = time.perf_counter()
    near, found = nearest_accepted(x, x_targets, pre, 1, chunk_size)  # the engine's own retrieval, one row
    x_plus = np.where(pre.immutable, np.asarray(x, near.dtype), near[:, 0])
    return x_plus, found[:, 0], time.perf_counter() - started
