"""What ``recourse.threshold: auto`` resolves to: a threshold the people denied can reach.

A recourse for a denied applicant must clear the threshold *and* keep their immutable values,
directions and limits. How sure the classifier is of its surest rows says nothing about that: on
COMPAS a tenth of the approved rows scored above 0.87, yet for four denied applicants in five no
admissible accepted row did, and neither GenRe nor NNR could answer them. So ``auto`` asks the
training rows directly: for a sample of the denied ones, the best score among the approved rows
each could move to. The score ``REACH_SHARE`` of them can clear is what a classifier is saved with
(``reachable_score``); ``auto`` is the paper's 0.9 where that leaves room for ``recourse.margin``
above it, and else that score less the margin, so the bar a recourse must clear (threshold plus
margin) stays one most of the denied can reach. (Coming down by the threshold alone left COMPAS's
bar above what four in five denied applicants could reach once a margin was added.)

Reachable is not enough: where one training row scores far above the rest, the bar it sets is one
only that row clears, and every denied applicant is given that row. So evaluate also caps the bar
where ``evaluate.min_rows_above_bar`` approved training rows still clear it (``bar_ceiling``), and
package carries the threshold it resolved.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genre.data.preprocessing import Preprocessor
from genre.models.classifiers import DECISION_THRESHOLD
from genre.recourse.neighbours import admissible

PAPER_THRESHOLD = 0.9  # the paper's recourse threshold: kept wherever the denied can reach it
REACH_SHARE = 0.9  # auto leaves at least this share of the sampled denied rows a reachable row above it
SAMPLE = 1000  # denied training rows asked: the quantile, not the rows, is what is wanted
MIN_ROWS_ABOVE_BAR = 30  # evaluate.min_rows_above_bar's auto: at least this many rows (or 1% of the approved)
_BELOW = 1e-6  # how far below a reachable score the threshold sits (scores are float32-precise)
_CHUNK = 256  # denied rows per admissibility block: memory chunk x approved rows


def best_reachable(
    x_denied: np.ndarray, x_approved: np.ndarray, h_approved: np.ndarray, pre: Preprocessor
) -> np.ndarray:
    """[S] for each denied row, the highest score among the approved rows it may move to (-inf: none)."""
    tgt, scores = (
        torch.from_numpy(np.asarray(x_approved, np.float32)),
        torch.from_numpy(np.asarray(h_approved, np.float64)),
    )
    best = np.full(len(x_denied), -np.inf)
    for start in range(0, len(x_denied), _CHUNK):
        chunk = torch.from_numpy(np.asarray(x_denied[start : start + _CHUNK], np.float32))
        allowed = admissible(chunk, tgt, pre)
        best[start : start + len(chunk)] = torch.where(allowed, scores, -torch.inf).amax(dim=1).numpy()
    return best


def reachable_score(x_train: np.ndarray, h_train: np.ndarray, pre: Preprocessor, seed: int) -> float | None:
    """A score just below what ``REACH_SHARE`` of the sampled denied rows can reach (see the
    module), for a classifier with these training-row scores. None when it approves no training
    row at all: no threshold can then be cleared."""
    approved = h_train > DECISION_THRESHOLD
    if not approved.any():
        return None
    denied = np.flatnonzero(~approved)
    denied = np.random.default_rng(seed).choice(denied, size=min(SAMPLE, len(denied)), replace=False)
    best = best_reachable(x_train[denied], x_train[approved], h_train[approved], pre)
    reach = best[np.isfinite(best)]
    if len(reach) == 0:  # no denied row (or none with any admissible approved row): the approved rows alone
        reach = h_train[approved]
    # Acceptance is h > t and many denied rows share one best row: the score sits just below the
    # one that the REACH_SHARE-th of them reaches, so ties at that score stay reachable.
    kth = np.sort(reach)[int(np.floor((1 - REACH_SHARE) * len(reach)))]
    return float(kth - _BELOW)


def auto_threshold(reachable: float | None, margin: float, ceiling: float | None = None) -> float | None:
    """What ``recourse.threshold: auto`` resolves to for a classifier saved with ``reachable``
    (``reachable_score``), so that threshold + ``margin`` is at most that score, and at most
    ``ceiling`` (``bar_ceiling``) where given."""
    if reachable is None:
        return None
    bar = reachable if ceiling is None else min(reachable, ceiling)
    return min(PAPER_THRESHOLD, bar - margin)


def rows_wanted(setting: int | str, approved: int) -> int:
    """``evaluate.min_rows_above_bar`` as a number of rows (``auto``: 1% of the ``approved``, at least 30)."""
    return max(MIN_ROWS_ABOVE_BAR, math.ceil(0.01 * approved)) if setting == "auto" else int(setting)


def bar_ceiling(h_approved: np.ndarray, rows: int) -> float | None:
    """The highest bar that at least ``rows`` of these scores (the approved training rows') clear:
    a bar only the one surest row clears makes that row everyone's answer. None where there are
    no scores; all of them clear it where there are fewer than ``rows``."""
    if len(h_approved) == 0:
        return None
    ranked = np.sort(np.asarray(h_approved, np.float64))[::-1]
    return float(ranked[min(rows, len(ranked)) - 1] - _BELOW)
