"""Minimal answers: every change the decision does not need is put back.

A sampled (or retrieved) answer moves whatever the generator moved, and a person told to change
five things when two would do is told three things too many. So once an answer is chosen, its
changes are undone one at a time, each time the one whose undoing keeps the classifier's
probability highest, for as long as the answer still clears the bar (threshold + margin), the
selection rule ranks it no worse (``key``: a change that buys the most confident answer its
confidence is not undone) and, if it was plausible, it stays plausible. The walk is greedy and row
by row (every applicant's trials are scored in one call per round, and nothing depends on the
other rows of the batch), so an answer is the same alone or in any batch.

Plausibility is judged where it matters rather than at every step: the walk first ignores it,
and only the applicants whose walk ended implausible are walked again with every step judged.
Most walks end plausible, and judging is a neighbour search per point.

A round is one call of the classifier. For a lender's pipeline a call costs far more than its rows
(``Classifier.score_in_one_call``), and a served request's walk of a few rounds would be a few
calls: there the walk scores, in one call, every trial of its next rounds that fits in
``AHEAD_ROWS`` (every way of undoing up to that many more changes), and reads the rounds' trials
from those; a request's later walks (the chosen answer's, the surer answer's) read what its
earlier ones scored. The probabilities are the same, so the answers are too.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import comb

import numpy as np

from genre.recourse.cost import changed

AHEAD_ROWS = 2048  # trials one call may score ahead of the walk, where a call costs more than its rows
Scorer = Callable[[np.ndarray], np.ndarray]  # [m, d] scaled points -> [m] probabilities
Judge = Callable[[np.ndarray], np.ndarray]  # [m, d] scaled points -> [m] plausible
Known = dict[bytes, float]  # a point's bytes (float32) -> its probability
Key = Callable[
    [np.ndarray, np.ndarray, np.ndarray], np.ndarray
]  # (applicants, answers, probabilities) -> [m] the rule's key


def minimal(
    x: np.ndarray,
    x_plus: np.ndarray,
    prob: np.ndarray,
    active: np.ndarray,
    score: Scorer,
    bar: float,
    judge: Judge | None = None,
    key: Key | None = None,
    known: Known | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """[M, d] applicants, [M, d] their answers, [M] the answers' probabilities, [M] which to make
    minimal -> (answers, probabilities) with every change they do not need undone (see the module).
    ``judge`` None: plausibility is not asked; ``key`` None: the bar alone decides (undoing a change
    never makes an answer costlier, so the cheapest rule needs no key); ``known``: where ``score``
    costs more per call than per row, the probabilities of points scored so far (shared by a
    request's walks, filled by this one), and later rounds' trials are scored with the first's."""
    x_plus, prob = np.array(x_plus, np.float32), np.array(prob, np.float64)
    rows = np.flatnonzero(active)
    if not len(rows):
        return x_plus, prob
    start, start_prob = x_plus[rows].copy(), prob[rows].copy()
    x_plus[rows], prob[rows] = _walk(x[rows], start, start_prob, score, bar, None, key, known)
    moved = np.flatnonzero(
        changed(start, x_plus[rows]).any(axis=1)
    )  # an answer the walk left as it was is as plausible as it was
    if judge is None or not len(moved):
        return x_plus, prob
    lost = moved[
        judge(start[moved]) & ~judge(x_plus[rows[moved]])
    ]  # walked out of plausibility: walk again, judging each step
    if len(lost):
        again = rows[lost]
        x_plus[again], prob[again] = _walk(x[again], start[lost], start_prob[lost], score, bar, judge, key, known)
    return x_plus, prob


def _walk(
    x: np.ndarray,
    x_plus: np.ndarray,
    prob: np.ndarray,
    score: Scorer,
    bar: float,
    judge: Judge | None,
    key: Key | None,
    known: Known | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The greedy undoing of every row's changes, all rows at once (a round undoes one change of
    each row that can still lose one)."""
    x_plus, prob = x_plus.copy(), prob.copy()
    rows = np.arange(len(x))
    scored = None if known is None else _Ahead(x, score, known)
    while len(rows):
        owner, feature = np.nonzero(changed(x[rows], x_plus[rows]))
        if not len(owner):
            break
        trial = x_plus[rows][owner]
        trial[np.arange(len(owner)), feature] = x[rows][owner, feature]
        p = np.asarray(score(trial) if scored is None else scored.probabilities(rows, owner, trial, x_plus), np.float64)
        ok = p > bar
        if key is not None:
            ok &= key(x[rows][owner], trial, p) <= key(x[rows], x_plus[rows], prob[rows])[owner] + 1e-12
        pick = _best_trials(owner, feature, p, ok, trial, judge)
        kept = pick >= 0
        chosen = pick[kept]
        x_plus[rows[kept]], prob[rows[kept]] = trial[chosen], p[chosen]
        rows = rows[kept]
    return x_plus, prob


def _best_trials(
    owner: np.ndarray, feature: np.ndarray, p: np.ndarray, ok: np.ndarray, trial: np.ndarray, judge: Judge | None
) -> np.ndarray:
    """Per owner (``owner`` numbers 0..R-1, each at least once) the index of its trial with the
    highest probability among those ``ok`` (and plausible, with a ``judge``, judged best first
    until one passes); ties go to the lower feature index; -1 where none is."""
    n_owners = int(owner.max()) + 1
    pick = np.full(n_owners, -1)
    open_ = ok.copy()
    pending = np.ones(n_owners, bool)
    while True:
        order = np.lexsort((feature, np.where(open_, -p, np.inf), owner))
        first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
        first = first[open_[first] & pending[owner[first]]]
        if not len(first):
            return pick
        if judge is None:
            pick[owner[first]] = first
            return pick
        passed = np.asarray(judge(trial[first]), bool)
        pick[owner[first[passed]]] = first[passed]
        pending[owner[first[passed]]] = False
        open_[first[~passed]] = False


def scored(score: Scorer, points: np.ndarray, known: Known) -> np.ndarray:
    """[m] the probabilities of ``points`` ([m, d] float32): those ``known`` already read from it,
    the rest scored in one call (a round of a walk; the principal reasons of an answer, whose
    walk scored them)."""
    if not known:
        return np.asarray(score(points), np.float64)
    keys = [point.tobytes() for point in np.asarray(points, np.float32)]
    missing = np.array([key not in known for key in keys], bool)
    p = np.zeros(len(points))
    if missing.any():
        p[missing] = score(points[missing])
    p[~missing] = [known[key] for key, gone in zip(keys, missing) if not gone]
    return p


class _Ahead:
    """A walk's trials scored ahead: where the rows still walking are few enough, every way of
    undoing up to ``depth`` more of each one's changes (the largest depth whose trials fit in
    ``AHEAD_ROWS``) is scored in one call and kept in ``known``, and each round reads its trials
    from there; where even two rounds' trials do not fit, a round's are scored as they come. A
    point's probability is its own (the scorer's answers do not depend on the batch), so ``known``
    serves every walk of the same request."""

    def __init__(self, x: np.ndarray, score: Scorer, known: Known) -> None:
        self.x, self.score, self.known = x, score, known

    def probabilities(self, rows: np.ndarray, owner: np.ndarray, trial: np.ndarray, x_plus: np.ndarray) -> np.ndarray:
        """[T] the probabilities of a round's trials (``trial``, each of walking row ``rows[owner]``,
        whose answer is now ``x_plus[rows[owner]]``)."""
        trial = np.asarray(trial, np.float32)
        known = self.known
        missing = np.array([t.tobytes() not in known for t in trial], bool) if known else np.ones(len(trial), bool)
        if missing.any():
            walking = np.unique(owner[missing])
            depth = _depth(np.bincount(owner)[walking])  # a row's trials: one per change it still has
            if depth > 1:  # else this round's trials are all a call can hold: nothing worth keeping
                at = rows[walking]
                self._score_ahead(at, changed(self.x[at], x_plus[at]), x_plus[at], depth)
        return scored(self.score, trial, known)

    def _score_ahead(self, walking: np.ndarray, changes: np.ndarray, answers: np.ndarray, depth: int) -> None:
        """Score and keep every answer ``walking``'s rows reach by undoing 1 to ``depth`` of their
        ``changes`` ([R, d]) to ``answers`` ([R, d])."""
        points: list[np.ndarray] = []
        counts = changes.sum(axis=1)
        d = changes.shape[1]
        for count in np.unique(counts):
            group = np.flatnonzero(counts == count)
            undo = _subsets(int(count), depth)  # [S, count]
            where = np.nonzero(changes[group])[1].reshape(len(group), int(count))  # the changed features, in order
            restore = np.zeros((len(group), len(undo), d), bool)
            np.put_along_axis(
                restore, np.broadcast_to(where[:, None, :], (len(group), len(undo), int(count))), undo[None], axis=2
            )
            points.append(
                np.where(restore, self.x[walking[group]][:, None, :], answers[group][:, None, :]).reshape(-1, d)
            )
        flat = np.concatenate(points).astype(np.float32)
        self.known.update(zip((point.tobytes() for point in flat), np.asarray(self.score(flat), np.float64).tolist()))


def _depth(counts: np.ndarray) -> int:
    """The most rounds whose every trial, for rows with ``counts`` changes, fits in ``AHEAD_ROWS``."""
    sizes, rows = np.unique(counts, return_counts=True)
    depth, total = 0, 0
    while depth < sizes.max():
        more = int(sum(n * comb(int(c), depth + 1) for c, n in zip(sizes, rows)))
        if total + more > AHEAD_ROWS and depth:
            break
        depth, total = depth + 1, total + more
    return depth


def _subsets(count: int, depth: int) -> np.ndarray:
    """[S, count] every set of 1 to ``depth`` of ``count`` positions, as masks."""
    masks = [
        np.isin(np.arange(count), chosen) for size in range(1, depth + 1) for chosen in combinations(range(count), size)
    ]
    return np.array(masks, bool).reshape(-1, count)
