"""Plausible candidates first: which are judged, which is picked, and that the order and the pick agree."""

from __future__ import annotations

import pickle
from typing import get_args

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import LocalOutlierFactor

from genre.recourse.cost import changed
from genre.recourse.engine import Ranking, diverse
from genre.recourse.plausibility import Plausibility, Verdicts, best_plausible
from genre.settings import Rule


class FirstValueJudge:
    """Outlier factor = the candidate's first value, so each test sets which are plausible; counts
    the candidates it is asked about."""

    def __init__(self) -> None:
        self.judged = 0

    def outlier_factor(self, points: np.ndarray) -> np.ndarray:
        self.judged += len(points)
        return points[:, 0]


def verdicts(factors: np.ndarray, judge: FirstValueJudge, bound: float = 1.4) -> Verdicts:
    """Verdicts over candidates whose outlier factors are ``factors`` [N, n]."""
    return Verdicts.unjudged(judge, bound, factors[..., None].astype(np.float64))  # type: ignore[arg-type]


def test_the_best_plausible_candidate_is_found_judging_no_more_than_needed() -> None:
    key = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]] * 4)
    accepted = np.ones_like(key, dtype=bool)
    accepted[3] = False
    factors = np.array(
        [
            [1.0, 9.0, 9.0, 9.0, 9.0, 9.0],  # the cheapest is plausible: the only one judged
            [9.0, 9.0, 1.0, 9.0, 1.0, 9.0],  # the third in key order is the first plausible
            [9.0, 9.0, 9.0, 9.0, 9.0, 9.0],  # none is: every accepted one is judged, and none picked
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # none accepted: nothing to judge
        ]
    )
    judge = FirstValueJudge()
    v = verdicts(factors, judge)
    best, has = best_plausible(key, accepted, v)
    assert has.tolist() == [True, True, False, False]
    assert best[:2].tolist() == [0, 2]
    assert v.known.sum(axis=1).tolist() == [1, 5, 6, 0]  # row 1: its first, then its next four at once
    assert judge.judged == 12


def test_ties_go_to_the_earlier_candidate_as_the_rule_alone_does() -> None:
    key = np.array([[2.0, 1.0, 1.0, 1.0]])
    v = verdicts(np.array([[1.0, 9.0, 1.0, 1.0]]), FirstValueJudge())
    best, has = best_plausible(key, np.ones_like(key, dtype=bool), v)
    assert has[0] and best[0] == 2


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(get_args(Rule)))
def test_the_lazy_pick_is_the_first_of_the_fully_judged_order(seed: int, rule: Rule) -> None:
    """The pick judges candidates lazily; alternatives need the whole order, every accepted
    candidate judged: the two must agree on the first answer, for every rule."""
    rng = np.random.default_rng(seed)
    n_rows, n = 7, int(rng.integers(1, 12))
    prob = rng.choice([0.2, 0.91, 0.95, 0.99], size=(n_rows, n))
    costs = rng.choice([0.1, 0.5, 1.0], size=(n_rows, n))  # few values: ties are common
    factors = rng.choice([1.0, 2.0], size=(n_rows, n))
    parts = (factors[..., None], prob, costs, prob > 0.9, rule)
    lazy = Ranking(*parts, verdicts(factors, FirstValueJudge()))
    full = Ranking(*parts, verdicts(factors, FirstValueJudge()))
    full.verdicts.ask(full.accepted)
    np.testing.assert_array_equal(lazy.pick, full.order[:, 0])
    plain = Ranking(*parts)
    plausible_exists = (prob > 0.9) & (factors < 1.4)
    # where no accepted candidate is plausible, the rule alone decides
    none = ~plausible_exists.any(axis=1)
    np.testing.assert_array_equal(lazy.pick[none], plain.pick[none])
    picked = lazy.pick[~none]
    assert np.all(plausible_exists[~none, picked])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(get_args(Rule)), st.sampled_from(get_args(Rule)), st.integers(1, 4))
def test_alternatives_judged_lazily_are_those_of_judging_every_candidate(
    seed: int, rule: Rule, before: Rule, alternatives: int
) -> None:
    """Alternatives judge candidates only until the pick and ``alternatives`` more moves are
    plausible; the answer must be what judging every accepted candidate gives, also after another
    rule (``before``) has judged some of the same drawing's candidates in its own order."""
    rng = np.random.default_rng(seed)
    n_rows, n = 5, int(rng.integers(2, 30))
    prob = rng.choice([0.2, 0.91, 0.95, 0.99], size=(n_rows, n))
    costs = rng.choice([0.1, 0.5, 1.0, 2.0], size=(n_rows, n))
    factors = rng.choice([1.0, 2.0], size=(n_rows, n))
    candidates = np.concatenate(
        [factors[..., None], rng.integers(0, 2, size=(n_rows, n, 3)).astype(float)], axis=-1
    )  # moves: which of 3 features
    x = np.zeros((n_rows, 4))
    judge = FirstValueJudge()
    lazy = Ranking(candidates, prob, costs, prob > 0.9, rule, Verdicts.unjudged(judge, 1.4, candidates))  # type: ignore[arg-type]
    full = Ranking(candidates, prob, costs, prob > 0.9, rule, Verdicts.unjudged(FirstValueJudge(), 1.4, candidates))  # type: ignore[arg-type]
    full.verdicts.ask(full.accepted)
    moves = changed(x[:, None, :], candidates)
    Ranking(candidates, prob, costs, prob > 0.9, before, lazy.verdicts).judged_for(
        moves, 1
    )  # the other rule's pick, judged first
    got = diverse(moves, lazy.judged_for(moves, alternatives).order, lazy.accepted, alternatives)
    expected = diverse(moves, full.order, full.accepted, alternatives)
    np.testing.assert_array_equal(lazy.pick, full.order[:, 0])
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(np.where(got[1], got[0], -1), np.where(expected[1], expected[0], -1))
    assert judge.judged <= full.accepted.sum()


def test_the_outlier_factor_is_scikit_learns_local_outlier_factor() -> None:
    """The same figure as ``LocalOutlierFactor(n_neighbors=5, novelty=True)``, duplicates among the
    approved rows included (a row's own copies are its neighbours at distance 0, itself is not),
    and the same after a trip to another process (the tree is rebuilt there)."""
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(400, 4))
    rows[350:] = rows[:50]  # exact duplicates, as discrete features make them
    rows[300:308] = rows[100]  # more copies than neighbours: the row itself is crowded out of its k + 1
    rows[:10, 0] += 8  # a sparse corner
    points = np.concatenate([rng.normal(size=(100, 4)), rows[:60] + rng.normal(0, 0.01, (60, 4)), np.full((3, 4), 6.0)])
    judge = Plausibility(rows)
    expected = (
        -LocalOutlierFactor(n_neighbors=5, novelty=True)
        .fit(rows.astype(np.float32))
        .score_samples(points.astype(np.float32))
    )
    np.testing.assert_allclose(judge.outlier_factor(points), expected, rtol=1e-4)
    assert (expected > 1.4).any() and (expected < 1.4).any()
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(judge)).outlier_factor(points), judge.outlier_factor(points)
    )


def test_too_few_approved_rows_judge_nothing() -> None:
    assert Plausibility.of(None) is None
    assert Plausibility.of(np.zeros((5, 3))) is None
    rows = np.random.default_rng(0).normal(size=(200, 3))
    judge = Plausibility.of(rows)
    assert judge is not None
    inside, outside = judge.outlier_factor(np.array([[0.0, 0.0, 0.0], [8.0, 8.0, 8.0]]))
    assert inside < 1.4 < outside
