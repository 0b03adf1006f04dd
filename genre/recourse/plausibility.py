"""Plausible candidates: ones that look like the people who had the favourable outcome.

The cheapest accepted candidate is sometimes one no real applicant resembles (a combination of
values in a sparse corner of the data), and a person shown it is shown something odd. So with
``recourse.plausible_first`` the engine prefers, among the accepted candidates, the plausible ones:
those whose local outlier factor (LOF, the protocol's plausibility measure with its 5 neighbours)
among the training rows labelled favourable stays below ``recourse.max_outlier_factor``. Those
rows, not the ones the classifier approves: the protocol's judge is fitted on the people the world
calls favourable, and a minimal answer (few changes, the rest the person's own) sits where the
two references disagree most (docs/decisions.md). It
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
from functools import cached_property
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

NEIGHBORS = 5  # the protocol's LOF (genre.evaluation.metrics)
# reference rows the density is estimated from (a seeded sample past it): a search per candidate grows with them
MAX_ROWS = 20_000
LEAF_ROWS = 32  # the k-d tree's leaf size: smaller leaves searched Adult's candidates more slowly
FIRST_WIDTH, GROWTH = (
    1,
    4,
)  # an applicant whose best candidate is implausible has its next 4, then 16, ... judged at once


class Plausibility:
    """Local outlier factor (Breunig et al., 2000) of candidates against (a seeded sample of) the
    reference rows (``AcceptedRows.people_like``): the same figure as scikit-learn's
    ``LocalOutlierFactor(n_neighbors=5, novelty=True)`` (a test holds them to it), from an exact
    search of a k-d tree (scipy's, on the calling thread). scikit-learn's own pays a fixed cost on
    every call and runs its search on OpenMP threads, which a small served request cannot repay; a
    flat faiss index was slower than the tree, and its float32 search missed nearer neighbours, so
    some outlier factors differed from scikit-learn's, where the tree's, in float64, do not
    (docs/decisions.md).
    """

    def __init__(self, reference: np.ndarray, seed: int = 0) -> None:
        if len(reference) > MAX_ROWS:
            reference = reference[
                np.sort(np.random.default_rng(seed).choice(len(reference), size=MAX_ROWS, replace=False))
            ]
        self.rows = np.asarray(reference, dtype=np.float32).astype(
            np.float64
        )  # float32, as scikit-learn's LOF in evaluation sees them
        self.k = min(NEIGHBORS, len(self.rows) - 1)
        distance, near = self._search(self.rows, self.k + 1)
        # Each row's neighbours but itself; where duplicates at distance 0 crowd it out of the
        # k + 1, the first of them goes instead (as scikit-learn's kneighbors does).
        other = near != np.arange(len(self.rows))[:, None]
        other[other.all(axis=1), 0] = False
        distance, near = distance[other].reshape(-1, self.k), near[other].reshape(-1, self.k)
        self.k_distance = distance[:, -1]
        self.density = self._density(distance, near)

    @classmethod
    def of(cls, reference: np.ndarray | None) -> Plausibility | None:
        """None where there are too few reference rows to have neighbours."""
        return None if reference is None or len(reference) <= NEIGHBORS else cls(reference)

    @cached_property
    def tree(self) -> cKDTree:
        return cKDTree(self.rows, leafsize=LEAF_ROWS)

    def __getstate__(self) -> dict[str, Any]:
        """Without the tree, which is built again from the rows where the engine lands (a Dask
        worker): cheaper than pickling it, and no larger a message."""
        return {k: v for k, v in self.__dict__.items() if k != "tree"}

    def _search(self, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest rows, nearest first, and their distances (in float64)."""
        distance, near = self.tree.query(np.asarray(points, np.float64), k=k, workers=1)
        return distance.reshape(len(points), k), near.reshape(len(points), k)

    def _density(self, distance: np.ndarray, near: np.ndarray) -> np.ndarray:
        """Local reachability density of points from their neighbours' distances and indices."""
        return 1.0 / (np.maximum(distance, self.k_distance[near]).mean(axis=1) + 1e-10)

    def outlier_factor(self, points: np.ndarray) -> np.ndarray:
        """[m, d] -> [m] LOF (about 1 inside the reference rows' density, larger outside it)."""
        distance, near = self._search(points, self.k)
        return (self.density[near] / self._density(distance, near)[:, None]).mean(axis=1)


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
        arrays = (
            np.concatenate(pair, axis=1)
            for pair in zip(
                (self.candidates, self.known, self.plausible), (more.candidates, more.known, more.plausible)
            )
        )
        return Verdicts(self.judge, self.max_factor, *arrays)


def best_plausible(key: np.ndarray, accepted: np.ndarray, verdicts: Verdicts) -> tuple[np.ndarray, np.ndarray]:
    """-> ([N] index, [N] has): per factual the accepted candidate with the smallest ``key`` among
    the plausible ones (the first of equals), judging candidates in ``key`` order only until it is
    known; ``has`` is False where no accepted candidate is plausible (all were judged)."""
    rows_all = np.arange(len(key))
    width = FIRST_WIDTH
    while True:
        open_ = accepted & ~(verdicts.known & ~verdicts.plausible)  # not known to be implausible
        first = np.where(open_, key, np.inf).argmin(axis=1)
        has = open_.any(axis=1)
        pending = np.flatnonzero(has & ~verdicts.known[rows_all, first])
        if not len(pending):
            return first, has
        _judge_next(key, accepted, verdicts, pending, width)
        width *= GROWTH


def plausible_variety(
    key: np.ndarray, accepted: np.ndarray, moves: np.ndarray, verdicts: Verdicts, wanted: int
) -> None:
    """Judge accepted candidates in ``key`` order until, in each factual's longest run of judged
    ones from the start of that order, the plausible ones move ``wanted`` different sets of features
    (``moves`` [N, n, d]: which each candidate changes), or all are judged. Ranking the candidates
    not known to be plausible after the known ones then picks the same pick and the same
    alternatives (``genre.recourse.engine.diverse``) as judging every one would: whatever is not in
    that run comes later in this order. The run is counted in this ``key``'s order because the
    verdicts are shared by rules that rank differently (``RecourseEngine.by_rules``), so what
    another rule judged need not start this one's order. On Adult, 2 denied applicants asking for
    3 alternatives each have 54 of their 96 accepted candidates judged."""
    rows, width = np.flatnonzero(accepted.any(axis=1)), FIRST_WIDTH
    while len(rows):
        order = np.argsort(np.where(accepted[rows], key[rows], np.inf), axis=1, kind="stable")
        judged_run = np.logical_and.accumulate(
            np.take_along_axis(verdicts.known[rows] | ~accepted[rows], order, axis=1), axis=1
        )
        good = judged_run & np.take_along_axis(accepted[rows] & verdicts.plausible[rows], order, axis=1)
        variety = np.array(
            [len(np.unique(moves[row][ranked[kept]], axis=0)) for row, ranked, kept in zip(rows, order, good)]
        )
        pending = (variety < wanted) & (accepted[rows] & ~verdicts.known[rows]).any(axis=1)
        rows = rows[pending]
        if len(rows):
            _judge_next(key, accepted, verdicts, rows, width)
            width *= GROWTH


def _judge_next(key: np.ndarray, accepted: np.ndarray, verdicts: Verdicts, rows: np.ndarray, width: int) -> None:
    """Judge, for each of ``rows``, the ``width`` accepted candidates not judged yet that come
    first in ``key`` order (ties: sampling order), in one neighbour search for all."""
    unjudged = accepted[rows] & ~verdicts.known[rows]
    nearest = np.argsort(np.where(unjudged, key[rows], np.inf), axis=1, kind="stable")[:, :width]
    ask = np.zeros_like(accepted)
    ask[rows[:, None], nearest] = np.take_along_axis(unjudged, nearest, axis=1)
    verdicts.ask(ask)
