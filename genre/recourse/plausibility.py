"""Plausible candidates: ones that look like the people the classifier approves.

The cheapest accepted candidate is sometimes one no real applicant resembles (a combination of
values in a sparse corner of the data), and a person shown it is shown something odd. So with
``recourse.plausible_first`` the engine prefers, among the accepted candidates, the plausible ones:
those whose local outlier factor (LOF, the protocol's plausibility measure with its 5 neighbours)
among the training rows the classifier approves stays below ``recourse.max_outlier_factor``. It
only reorders accepted candidates: where none is plausible the rule's first accepted one still
answers, so the found rate never changes. Whether it pays depends on the data (evaluate measures
it: ``genre.stages.evaluate.choose_plausible_first``).

Judging a candidate is a neighbour search, the dearest step per candidate after sampling, so
candidates are judged lazily, in the rule's order, until each applicant's best plausible one is
known (``Verdicts``): most applicants' cheapest accepted candidate is plausible, and is the only
one judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import LocalOutlierFactor

NEIGHBORS = 5  # the protocol's LOF (genre.evaluation.metrics)
MAX_ROWS = 20_000  # approved rows the density is estimated from (a seeded sample past it): a search per candidate grows with them
FIRST_WIDTH, GROWTH = 1, 4  # an applicant whose best candidate is implausible has its next 4, then 16, ... judged at once


class Plausibility:
    """LOF novelty detector over (a seeded sample of) the training rows the classifier approves.

    A brute-force neighbour search: on 15,773 Adult rows it judged 1,000 candidates in 18 ms
    against 50 ms for a k-d tree, with the same verdicts.
    """

    def __init__(self, approved: np.ndarray, seed: int = 0) -> None:
        if len(approved) > MAX_ROWS:
            approved = approved[np.sort(np.random.default_rng(seed).choice(len(approved), size=MAX_ROWS, replace=False))]
        self.lof = LocalOutlierFactor(n_neighbors=NEIGHBORS, novelty=True, algorithm="brute").fit(approved)

    @classmethod
    def of(cls, approved: np.ndarray | None) -> Plausibility | None:
        """None where there are too few approved rows to have neighbours."""
        return None if approved is None or len(approved) <= NEIGHBORS else cls(approved)

    def outlier_factor(self, points: np.ndarray) -> np.ndarray:
        """[m, d] -> [m] LOF (about 1 inside the approved rows' density, larger outside it)."""
        return -self.lof.score_samples(points)


@dataclass(frozen=True)
class Verdicts:
    """Which of one drawing's [N, n] candidates have been judged, and which of those are plausible:
    filled on demand and shared by every selection rule ranking that drawing."""

    judge: Plausibility
    max_factor: float
    candidates: np.ndarray  # [N, n, d]
    known: np.ndarray  # [N, n] bool
    plausible: np.ndarray  # [N, n] bool; False where not known

    @classmethod
    def unjudged(cls, judge: Plausibility, max_factor: float, candidates: np.ndarray) -> Verdicts:
        shape = candidates.shape[:2]
        return cls(judge, max_factor, candidates, np.zeros(shape, bool), np.zeros(shape, bool))

    def ask(self, wanted: np.ndarray) -> None:
        """Judge the ``wanted`` [N, n] candidates not judged yet (one neighbour search for all)."""
        new = wanted & ~self.known
        if new.any():
            self.plausible[new] = self.judge.outlier_factor(self.candidates[new]) < self.max_factor
            self.known[new] = True

    def extended(self, more: Verdicts) -> Verdicts:
        """These candidates' verdicts followed by ``more``'s (the same factuals)."""
        arrays = (np.concatenate(pair, axis=1) for pair in zip((self.candidates, self.known, self.plausible), (more.candidates, more.known, more.plausible)))
        return Verdicts(self.judge, self.max_factor, *arrays)


def best_plausible(key: np.ndarray, accepted: np.ndarray, verdicts: Verdicts) -> tuple[np.ndarray, np.ndarray]:
    """-> ([N] index, [N] has): per factual the accepted candidate with the smallest ``key`` among
    the plausible ones (the first of equals), judging candidates in ``key`` order only until it is
    known; ``has`` is False where no accepted candidate is plausible (all were judged)."""
    rows_all = np.arange(len(key))
    width = FIRST_WIDTH
    while True:
        open_ = accepted & ~(verdicts.known & ~verdicts.plausible)  # not known to be implausible
        best = np.where(open_, key, np.inf)
        first = best.argmin(axis=1)
        has = open_.any(axis=1)
        pending = np.flatnonzero(has & ~verdicts.known[rows_all, first])
        if not len(pending):
            return first, has
        nearest = np.argsort(best[pending], axis=1, kind="stable")[:, :width]
        wanted = np.zeros_like(accepted)
        wanted[pending[:, None], nearest] = open_[pending[:, None], nearest]
        verdicts.ask(wanted)
        width *= GROWTH
