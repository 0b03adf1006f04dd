"""How candidates are ranked and which become alternatives, on hand-made arrays so each case is exact.

The service's ``alternatives`` option rests on these two functions: the pick is the first of the
ranking (so it agrees with ``select``), and alternatives are further accepted candidates, each
moving a set of features that no better-ranked one moves.
"""

from __future__ import annotations

import numpy as np
import pytest

from genre.recourse.cost import changed
from genre.recourse.engine import Ranking, diverse, rank

X = np.zeros((1, 3), dtype=np.float32)
N_FEATURES = X.shape[1]
# Candidates for one factual; which features each moves: {0}, {0}, {1}, {0, 1}, {2}, {2}
CANDIDATES = np.array(
    [[[0.5, 0, 0], [0.6, 0, 0], [0, 0.3, 0], [0.1, 0.1, 0], [0, 0, 0.9], [0, 0, 0.2]]], dtype=np.float32
)
PROB = np.array([[0.95, 0.99, 0.92, 0.97, 0.5, 0.93]])
COST = np.array([[0.5, 0.6, 0.3, 0.2, 0.9, 0.2]])
ACCEPTED = PROB > 0.9
MOVES = changed(X[:, None, :], CANDIDATES)


def test_cheapest_ranking_puts_accepted_first_by_cost_then_the_rest_by_confidence():
    assert rank(PROB, COST, ACCEPTED, "cheapest", N_FEATURES)[0].tolist() == [3, 5, 2, 0, 1, 4]


def test_most_confident_ranking():
    assert rank(PROB, COST, ACCEPTED, "most_confident", N_FEATURES)[0].tolist() == [1, 3, 0, 5, 2, 4]


def test_balanced_ranking_buys_confidence_with_cost_per_feature():
    """probability - cost / d: with one feature 0.4 of cost outweighs 0.08 of probability, with ten it does not."""
    prob, cost = np.array([[0.91, 0.99, 0.5]]), np.array([[0.1, 0.5, 0.0]])
    assert rank(prob, cost, prob > 0.9, "balanced", n_features=1)[0].tolist() == [0, 1, 2]
    assert rank(prob, cost, prob > 0.9, "balanced", n_features=10)[0].tolist() == [1, 0, 2]


def test_ties_keep_sampling_order():
    prob, cost = np.full((1, 4), 0.95), np.full((1, 4), 0.5)
    assert rank(prob, cost, prob > 0.9, "cheapest", 1)[0].tolist() == [0, 1, 2, 3]


def test_no_accepted_candidate_ranks_the_most_confident_first():
    prob = np.array([[0.3, 0.8, 0.6]])
    assert rank(prob, np.array([[0.1, 0.9, 0.5]]), prob > 0.9, "cheapest", 1)[0].tolist() == [1, 2, 0]


@pytest.mark.parametrize("rule", ["cheapest", "most_confident", "balanced"])
def test_the_pick_without_sorting_is_the_first_of_the_ranking(rule):
    """Coarse values make ties common; a third of the rows have no accepted candidate."""
    rng = np.random.default_rng(0)
    prob = rng.integers(0, 10, (300, 40)) / 10 + 0.05
    cost = rng.integers(0, 4, (300, 40)) / 4
    accepted = (prob > 0.9) & (rng.random((300, 1)) > 0.33)
    assert not accepted.any(axis=1).all() and accepted.any(axis=1).any()
    np.testing.assert_array_equal(
        Ranking(np.zeros((300, 40, 3)), prob, cost, accepted, rule).pick, rank(prob, cost, accepted, rule, 3)[:, 0]
    )


def test_alternatives_move_different_features_and_are_all_accepted():
    order = rank(PROB, COST, ACCEPTED, "cheapest", N_FEATURES)  # pick: 3 moves {0, 1}
    index, valid = diverse(MOVES, order, ACCEPTED, k=5)
    shown = index[0][valid[0]].tolist()
    assert shown == [5, 2, 0], "{2} then {1} then {0}; 1 repeats {0}, 4 is not accepted"
    assert valid.shape == (1, 5) and valid[0].sum() == 3, "slots beyond what exists are marked invalid"


def test_alternatives_are_cut_at_k_in_ranking_order():
    order = rank(PROB, COST, ACCEPTED, "most_confident", N_FEATURES)  # pick: 1 moves {0}
    index, valid = diverse(MOVES, order, ACCEPTED, k=2)
    assert index[0].tolist() == [3, 5] and valid.all(), "0 repeats the pick's {0}; 3 ({0, 1}) and 5 ({2}) follow"


def test_no_alternatives_asked_for_none_given():
    index, valid = diverse(MOVES, rank(PROB, COST, ACCEPTED, "cheapest", N_FEATURES), ACCEPTED, k=0)
    assert index.shape == valid.shape == (1, 0)
