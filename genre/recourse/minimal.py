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
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genre.recourse.cost import changed

Scorer = Callable[[np.ndarray], np.ndarray]  # [m, d] scaled points -> [m] probabilities
Judge = Callable[[np.ndarray], np.ndarray]  # [m, d] scaled points -> [m] plausible
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
) -> tuple[np.ndarray, np.ndarray]:
    """[M, d] applicants, [M, d] their answers, [M] the answers' probabilities, [M] which to make
    minimal -> (answers, probabilities) with every change they do not need undone (see the module).
    ``judge`` None: plausibility is not asked; ``key`` None: the bar alone decides (undoing a change
    never makes an answer costlier, so the cheapest rule needs no key)."""
    x_plus, prob = np.array(x_plus, np.float32), np.array(prob, np.float64)
    rows = np.flatnonzero(active)
    if not len(rows):
        return x_plus, prob
    start, start_prob = x_plus[rows].copy(), prob[rows].copy()
    x_plus[rows], prob[rows] = _walk(x[rows], start, start_prob, score, bar, None, key)
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
        x_plus[again], prob[again] = _walk(x[again], start[lost], start_prob[lost], score, bar, judge, key)
    return x_plus, prob


def _walk(
    x: np.ndarray, x_plus: np.ndarray, prob: np.ndarray, score: Scorer, bar: float, judge: Judge | None, key: Key | None
) -> tuple[np.ndarray, np.ndarray]:
    """The greedy undoing of every row's changes, all rows at once (a round undoes one change of
    each row that can still lose one)."""
    x_plus, prob = x_plus.copy(), prob.copy()
    rows = np.arange(len(x))
    while len(rows):
        owner, feature = np.nonzero(changed(x[rows], x_plus[rows]))
        if not len(owner):
            break
        trial = x_plus[rows][owner]
        trial[np.arange(len(owner)), feature] = x[rows][owner, feature]
        p = np.asarray(score(trial), np.float64)
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
