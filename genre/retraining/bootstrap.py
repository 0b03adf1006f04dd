"""How sure the gate is: paired bootstrap intervals for champion against challenger.

The gate's figures are means over a few hundred applicants, and a group's over a few dozen, so two
equally good models differ by chance. Each rule therefore asks whether the challenger is worse
*beyond the noise*: the applicants are resampled with replacement (the same resample for both
models, since both answered the same people), the difference is recomputed on each resample, and
a rule fails only where even the favourable end of its interval is past the tolerance.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from sklearn.metrics import roc_auc_score


def resamples(n: int, draws: int, seed: int) -> np.ndarray:
    """``[draws, n]``: how many times each of ``n`` rows is drawn in each resample."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(draws, n)) + n * np.arange(draws)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * n).reshape(draws, n).astype(float)


def interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap values (resamples where it is undefined left out)."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def mean_difference(
    before: np.ndarray, after: np.ndarray, weights: np.ndarray, confidence: float
) -> tuple[float, float, float]:
    """Paired per-row figures -> (mean of after - before, and its interval)."""
    diff = np.asarray(after, float) - np.asarray(before, float)
    drawn = weights @ diff / weights.sum(axis=1)
    return (float(diff.mean()), *interval(drawn, confidence))


def gap_change(
    labels: np.ndarray,
    groups: list[str],
    before: np.ndarray,
    after: np.ndarray,
    weights: np.ndarray,
    confidence: float,
) -> tuple[float, float]:
    """The change in the largest difference between ``groups``' means (``labels`` per row), after
    against before -> its interval (a resample that leaves a group out does not count)."""
    members = np.stack([(labels == g).astype(float) for g in groups], axis=1)  # [n, groups]
    sizes = weights @ members  # [draws, groups]

    def gaps(values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (weights @ (members * np.asarray(values, float)[:, None])) / sizes
        return means.max(axis=1) - means.min(axis=1)

    change = gaps(after) - gaps(before)
    change[(sizes == 0).any(axis=1)] = np.nan
    return interval(change, confidence)


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of ``scores`` for binary ``labels`` under each row of ``weights`` (``[draws, n]``, how
    often each row counts): every resample at once, ties counted half as ``roc_auc_score`` does;
    NaN where a resample lacks a class."""
    order = np.argsort(scores, kind="stable")
    positive = np.asarray(labels)[order] == 1
    drawn = weights[:, order]
    _, starts = np.unique(np.asarray(scores)[order], return_index=True)  # runs of equal scores
    pos = np.add.reduceat(drawn * positive, starts, axis=1)
    neg = np.add.reduceat(drawn * ~positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negatives scored strictly lower
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def auc_difference(
    labels: np.ndarray, before: np.ndarray, after: np.ndarray, draws: int, seed: int, confidence: float
) -> tuple[float, float, float, float, float]:
    """Two classifiers' probabilities for the same labelled rows -> (AUC before, AUC after, their
    difference, and its interval over ``draws`` paired resamples)."""
    auc_before, auc_after = roc_auc_score(labels, before), roc_auc_score(labels, after)
    weights = resamples(len(labels), draws, seed)
    low, high = interval(weighted_auc(labels, after, weights) - weighted_auc(labels, before, weights), confidence)
    return float(auc_before), float(auc_after), float(auc_after - auc_before), low, high


def auc_interval(
    labels: np.ndarray, scores: np.ndarray, draws: int, seed: int, confidence: float
) -> tuple[float, float, float] | None:
    """One classifier's probabilities for labelled rows -> (its AUC, and its interval over
    ``draws`` resamples of the rows); None where the rows hold one class only."""
    if np.unique(labels).size < 2:
        return None
    low, high = interval(weighted_auc(labels, scores, resamples(len(labels), draws, seed)), confidence)
    return float(roc_auc_score(labels, scores)), low, high


def share_upper_bound(share: float, n: int, confidence: float) -> float:
    """Wilson's upper bound on a proportion seen as ``share`` of ``n``: how high it may truly be."""
    if n == 0:
        return 1.0
    z = _normal_quantile(1.0 - (1.0 - confidence) / 2.0)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return min(1.0, centre + half)


def _normal_quantile(p: float) -> float:
    return NormalDist().inv_cdf(p)
