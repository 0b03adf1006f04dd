"""Minimal answers (genre.recourse.minimal) with stand-in scorers and judges, so each case is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema
from genre.models.classifiers import MLPClassifier
from genre.recourse import minimal as minimal_module
from genre.recourse.cost import changed
from genre.recourse.engine import RecourseEngine
from genre.recourse.minimal import minimal, scored
from genre.settings import RecourseSettings


def mean_of_first_two(points: np.ndarray) -> np.ndarray:
    return 0.5 * points[:, 0] + 0.5 * points[:, 1]


def test_every_change_the_decision_does_not_need_is_undone() -> None:
    """Undoing feature 2 leaves the probability at 1.0, so it goes first; then one of features 0
    and 1 (a tie: the lower index goes) still leaves 0.5 above the bar; the last one must stay."""
    x, x_plus = np.zeros((1, 3), np.float32), np.array([[1.0, 1.0, 0.2]], np.float32)
    out, prob = minimal(x, x_plus, np.array([1.0]), np.array([True]), mean_of_first_two, bar=0.45)
    np.testing.assert_array_equal(out, [[0.0, 1.0, 0.0]])
    assert prob[0] == pytest.approx(0.5)


def test_the_undoing_that_keeps_the_probability_highest_goes_first() -> None:
    """Feature 1 weighs less than feature 0, so undoing it keeps more: it goes, 0 stays."""
    x, x_plus = np.zeros((1, 2), np.float32), np.ones((1, 2), np.float32)
    out, prob = minimal(x, x_plus, np.array([1.0]), np.array([True]), lambda p: 0.7 * p[:, 0] + 0.3 * p[:, 1], bar=0.5)
    np.testing.assert_array_equal(out, [[1.0, 0.0]])
    assert prob[0] == pytest.approx(0.7)


def test_an_answer_that_was_plausible_stays_plausible() -> None:
    """The judge calls a point plausible only with feature 2 moved: undoing it is refused, though
    the probability would allow it; an answer that was never plausible is not held to it."""
    x = np.zeros((2, 3), np.float32)
    x_plus = np.array([[1.0, 1.0, 0.2], [1.0, 1.0, 0.0]], np.float32)
    out, prob = minimal(
        x, x_plus, np.ones(2), np.ones(2, bool), mean_of_first_two, bar=0.45, judge=lambda p: p[:, 2] > 0.1
    )
    np.testing.assert_allclose(out, [[0.0, 1.0, 0.2], [0.0, 1.0, 0.0]], rtol=0, atol=1e-7)
    np.testing.assert_allclose(prob, mean_of_first_two(out))  # each answer's own probability, walked once or twice


def test_an_answer_whose_every_change_is_needed_keeps_its_probability() -> None:
    """Walked again with every step judged, and no step allowed: the answer and its probability
    are the ones it came with."""
    x, x_plus = np.zeros((1, 2), np.float32), np.ones((1, 2), np.float32)
    out, prob = minimal(
        x, x_plus, np.array([0.9]), np.array([True]), lambda p: 0.45 * p.sum(axis=1), 0.4, lambda p: p.sum(axis=1) > 1.5
    )
    np.testing.assert_array_equal(out, x_plus)
    assert prob[0] == 0.9


def test_inactive_rows_and_answers_at_the_bar_are_left_as_they_are() -> None:
    x = np.zeros((2, 2), np.float32)
    x_plus = np.array([[1.0, 1.0], [1.0, 1.0]], np.float32)
    out, prob = minimal(x, x_plus, np.array([1.0, 1.0]), np.array([False, True]), mean_of_first_two, bar=0.6)
    np.testing.assert_array_equal(out, x_plus)  # row 1: undoing either leaves 0.5, below the bar
    np.testing.assert_array_equal(prob, [1.0, 1.0])


def test_a_key_keeps_the_changes_the_rule_ranks_by() -> None:
    """Under the most confident rule (key: minus the probability) a change that adds confidence
    stays, though the bar alone would let it go; one that adds none is still undone."""
    x, x_plus = np.zeros((1, 3), np.float32), np.array([[1.0, 1.0, 0.2]], np.float32)
    out, prob = minimal(
        x, x_plus, np.array([1.0]), np.array([True]), mean_of_first_two, bar=0.45, key=lambda x, p, prob: -prob
    )
    np.testing.assert_array_equal(out, [[1.0, 1.0, 0.0]])
    assert prob[0] == 1.0


@pytest.mark.parametrize("ahead_rows", [2048, 200])  # every round ahead at once, or two at a time
def test_scoring_ahead_gives_the_same_answers_in_fewer_calls(monkeypatch, ahead_rows: int) -> None:
    """For a classifier whose calls cost more than their rows, the walk's next rounds are scored
    in one call: the same answers and probabilities, keys and judges included, in fewer calls."""
    rng = np.random.default_rng(1)
    weights = rng.random(6)
    calls: list[int] = []

    def score(points: np.ndarray) -> np.ndarray:
        calls.append(len(points))
        return 1 / (1 + np.exp(-(points @ weights - 1.5) * 4))

    x = rng.random((8, 6)).astype(np.float32) * 0.3
    x_plus = np.clip(x + rng.random((8, 6)).astype(np.float32), 0, 1)
    prob, active = score(x_plus), np.ones(8, bool)
    asked = {"judge": lambda p: p.sum(axis=1) > 1.0, "key": lambda x, p, prob: -np.round(prob, 1)}
    calls.clear()
    walked, p_walked = minimal(x, x_plus, prob, active, score, 0.7, **asked)
    round_by_round = len(calls)
    monkeypatch.setattr(minimal_module, "AHEAD_ROWS", ahead_rows)
    calls.clear()
    known: dict[bytes, float] = {}
    ahead, p_ahead = minimal(x, x_plus, prob, active, score, 0.7, **asked, known=known)
    np.testing.assert_array_equal(ahead, walked)
    np.testing.assert_array_equal(p_ahead, p_walked)
    assert changed(x, walked).sum() < changed(x, x_plus).sum()  # the walk undid something
    assert len(calls) < round_by_round
    assert max(calls) <= max(ahead_rows, 6 * 8)  # never more than the budget, or one round's trials
    calls.clear()  # a later walk of the same request reads what this one scored
    again, _ = minimal(x, x_plus, prob, active, score, 0.7, **asked, known=known)
    np.testing.assert_array_equal(again, walked)
    assert len(calls) < round_by_round if ahead_rows < 2048 else not calls


def test_known_points_are_read_and_only_the_others_scored() -> None:
    calls: list[int] = []

    def score(points: np.ndarray) -> np.ndarray:
        calls.append(len(points))
        return mean_of_first_two(points)

    points = np.array([[0.2, 0.4], [0.6, 0.8], [1.0, 0.0]], np.float32)
    known = {points[1].tobytes(): 0.7}
    np.testing.assert_allclose(scored(score, points, known), [0.3, 0.7, 0.5])
    assert calls == [2]  # the two it did not know, in one call
    np.testing.assert_allclose(scored(score, points, {}), [0.3, 0.7, 0.5])


def test_the_same_answer_alone_or_in_any_batch() -> None:
    rng = np.random.default_rng(0)
    weights = rng.random(6)

    def score(points: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(points @ weights - 1.5) * 4))

    def judge(points: np.ndarray) -> np.ndarray:
        return points.sum(axis=1) > 1.0

    x = rng.random((40, 6)).astype(np.float32) * 0.3
    x_plus = np.clip(x + rng.random((40, 6)).astype(np.float32), 0, 1)
    prob = score(x_plus)
    active = prob > 0.7
    together, p_together = minimal(x, x_plus, prob, active, score, 0.7, judge)
    order = rng.permutation(40)
    shuffled, _ = minimal(x[order], x_plus[order], prob[order], active[order], score, 0.7, judge)
    np.testing.assert_array_equal(shuffled, together[order])
    for i in range(0, 40, 7):
        alone, p_alone = minimal(x[i : i + 1], x_plus[i : i + 1], prob[i : i + 1], active[i : i + 1], score, 0.7, judge)
        np.testing.assert_array_equal(alone[0], together[i])
        assert p_alone[0] == p_together[i]
    assert (score(together[active]) > 0.7).all()
    moved_before = (np.abs(x_plus - x) > 1e-6).sum(axis=1)[active]
    moved_after = (np.abs(together - x) > 1e-6).sum(axis=1)[active]
    assert (moved_after <= moved_before).all() and moved_after.mean() < moved_before.mean()
    was_plausible = judge(x_plus[active])
    assert judge(together[active])[was_plausible].all()


class _Either(MLPClassifier):
    """Approves a and b both at 0.8 or more, or c alone at 0.9 or more."""

    def __init__(self) -> None:
        super().__init__(3, [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = (x[:, 0] >= 0.8 - 1e-6) & (x[:, 1] >= 0.8 - 1e-6)
        return torch.where(both | (x[:, 2] >= 0.9 - 1e-6), 10.0, -10.0)


class _Fixed:
    """A stand-in generator proposing the same candidates for every factual."""

    def __init__(self, candidates: np.ndarray) -> None:
        self.candidates = candidates

    def propose(self, x: np.ndarray, n: int, temperature: float, seed: int) -> np.ndarray:
        return np.repeat(self.candidates[None], len(x), axis=0)


def test_the_answer_needing_fewest_changes_beats_a_cheaper_one_needing_more() -> None:
    """The cheapest candidate needs a and b (cost 1.6), the next needs c alone (cost 1.8, c
    weighing 2): a person is asked for one change, not two; without minimal answers the rule's
    cheapest stands."""
    schema = DatasetSchema.model_validate(
        {
            "name": "either",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "a": {"kind": "continuous", "min": 0, "max": 1},
                "b": {"kind": "continuous", "min": 0, "max": 1},
                "c": {"kind": "continuous", "min": 0, "max": 1, "cost": 2},
            },
        }
    )
    pre = Preprocessor(schema, np.zeros(3), np.ones(3))
    candidates = np.array([[0.8, 0.8, 0.0], [0.0, 0.0, 0.9]], np.float32)
    settings = RecourseSettings(
        threshold=0.5, margin=0.0, n_candidates=2, retrieved=0, selection="cheapest", plausible_first=False
    )
    engine = RecourseEngine(pre, _Either(), _Fixed(candidates), settings)
    x = np.zeros((2, 3), np.float32)
    fewest = engine.recourse(x)
    np.testing.assert_allclose(fewest.x_plus, candidates[[1, 1]], atol=1e-6)
    assert fewest.cost == pytest.approx([1.8, 1.8])
    cheapest = engine.recourse(x, settings=settings.model_copy(update={"sparsify": False}))
    np.testing.assert_allclose(cheapest.x_plus, candidates[[0, 0]], atol=1e-6)
