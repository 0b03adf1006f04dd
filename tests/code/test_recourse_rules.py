"""The rules that make a sampled candidate a recourse: projection, immutables, directions, and
selection under the acceptance threshold (with a stand-in classifier, so each case is exact)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from genre.artifacts.paths import Artifacts
from genre.data.preprocessing import Preprocessor
from genre.messages import InputError
from genre.models.classifiers import MLPClassifier
from genre.recourse.engine import RecourseEngine, make_actionable, resolved, select
from genre.recourse.incumbent import INCUMBENT_ENV, incumbent
from genre.retraining.gate import promises_by_margin
from genre.serving.bundle import chosen_rule
from genre.settings import RecourseSettings
from genre.stages import evaluate
from genre.stages.evaluate import choose_rule


class FirstFeatureClassifier(MLPClassifier):
    """P(y+ | x) = x[0]: lets each test choose exactly which candidates clear the threshold."""

    def __init__(self) -> None:
        super().__init__(4, [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logit(x[:, 0].clamp(1e-6, 1 - 1e-6))


def test_make_actionable_enforces_every_constraint(pre: Preprocessor) -> None:
    x = np.array([[0.5, 0.5, 1.0, 0.0]], dtype=np.float32)
    cands = np.array([[[0.23, 0.7, 0.0, 0.9], [0.77, 0.2, 0.0, 1.3], [-1.0, -0.5, 1.0, 0.4]]], dtype=np.float32)
    out = make_actionable(pre, x, cands)
    assert np.all(out[..., 0] >= 0.5)  # age only increases
    assert np.all(out[..., 1] <= 0.5)  # debt only decreases
    assert np.all(out[..., 2] == 1.0)  # immutable copied
    assert set(np.unique(out[..., 3])) <= {0.0, 0.5, 1.0}  # valid category
    np.testing.assert_allclose(out[0, 1], [0.8, 0.2, 1.0, 1.0], atol=1e-6)  # age rounded to a whole year
    frozen = make_actionable(pre, x, cands, frozen=np.array([False, False, False, True]))
    assert np.all(frozen[..., 3] == 0.0)  # a per-request frozen feature is kept too


def test_cheapest_accepted_candidate_is_chosen(pre: Preprocessor) -> None:
    x = np.array([[0.1, 0.5, 0.0, 0.0]], dtype=np.float32)
    cands = np.array([[[0.95, 0.5, 0.0, 0.0], [0.92, 0.5, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]]], dtype=np.float32)
    x_plus, accepted, prob, cost = select(
        pre, FirstFeatureClassifier(), x, cands, threshold=0.9, rule="cheapest"
    ).best()
    np.testing.assert_allclose(x_plus[0], cands[0, 1])
    assert accepted[0] and prob[0] > 0.9
    assert abs(cost[0] - 0.82) < 1e-6


def test_most_confident_rule(pre: Preprocessor) -> None:
    x = np.array([[0.1, 0.5, 0.0, 0.0]], dtype=np.float32)
    cands = np.array([[[0.95, 0.5, 0.0, 0.0], [0.92, 0.5, 0.0, 0.0]]], dtype=np.float32)
    x_plus, accepted, _, _ = select(
        pre, FirstFeatureClassifier(), x, cands, threshold=0.9, rule="most_confident"
    ).best()
    np.testing.assert_allclose(x_plus[0], cands[0, 0])
    assert accepted[0]


def test_no_candidate_clearing_the_threshold_is_not_accepted(pre: Preprocessor) -> None:
    x = np.array([[0.1, 0.5, 0.0, 0.0]], dtype=np.float32)
    cands = np.array([[[0.6, 0.5, 0.0, 0.0], [0.85, 0.5, 0.0, 0.0]]], dtype=np.float32)
    for rule in ("cheapest", "most_confident"):
        _, accepted, prob, _ = select(pre, FirstFeatureClassifier(), x, cands, threshold=0.9, rule=rule).best()
        assert not accepted[0]
        assert prob[0] < 0.9


def respecified(pre: Preprocessor, **features: dict) -> Preprocessor:
    """``pre`` with some features' specs changed (weights, order, direction, max_change)."""
    raw = pre.schema.model_dump()
    for name, update in features.items():
        raw["features"][name] = {**raw["features"][name], **update}
    return Preprocessor(type(pre.schema).model_validate(raw), pre.mins, pre.ranges)


def test_an_ordered_category_takes_a_direction_and_a_max_change_in_steps(pre: Preprocessor) -> None:
    """job a < b < c: increase-only, at most one step, from b: only b or c; from a: only a or b."""
    ordered = respecified(pre, job={"ordered": True, "direction": "increase", "max_change": 1})
    x = np.array([[0.5, 0.5, 1.0, 0.5], [0.5, 0.5, 1.0, 0.0]], dtype=np.float32)
    cands = np.tile(np.array([[0.6, 0.5, 1.0, v] for v in (0.0, 0.5, 1.0)], dtype=np.float32), (2, 1, 1))
    out = make_actionable(ordered, x, cands)
    assert out[0, :, 3].tolist() == [0.5, 0.5, 1.0]
    assert out[1, :, 3].tolist() == [0.0, 0.5, 0.5]


def test_cost_weights_steer_the_choice(pre: Preprocessor) -> None:
    """Two accepted ways: a little more of feature 0 (0.03 scaled), or job a -> c (a change: 1).
    Unweighted the first is cheaper; with feature 0 fifty times as hard to change, the job is.
    (h reads x[0] only; select scores candidates as given, so 0.91 need not be a whole year.)"""
    x = np.array([[0.91, 0.5, 0.0, 0.0]], dtype=np.float32)
    cands = np.array([[[0.94, 0.5, 0.0, 0.0], [0.91, 0.5, 0.0, 1.0]]], dtype=np.float32)
    for space, expected, price in ((pre, 0, 0.03), (respecified(pre, age={"cost": 50.0}), 1, 1.0)):
        x_plus, accepted, _, cost = select(
            space, FirstFeatureClassifier(), x, cands, threshold=0.9, rule="cheapest"
        ).best()
        assert accepted[0]
        np.testing.assert_allclose(x_plus[0], cands[0, expected])
        assert abs(cost[0] - price) < 1e-5


class _Fixed:
    """A stand-in generator that proposes the same candidates to every factual: age 9 or age 10."""

    def propose(self, x: np.ndarray, n: int, temperature: float, seed: int) -> np.ndarray:
        return np.tile(np.array([[0.9, 0.5, 0.0, 0.0], [1.0, 0.5, 0.0, 0.0]], dtype=np.float32), (len(x), 1, 1))


def _margined(pre: Preprocessor, margin: float) -> RecourseEngine:
    return RecourseEngine(
        pre,
        FirstFeatureClassifier(),
        _Fixed(),
        RecourseSettings(
            threshold=0.85, margin=margin, n_candidates=2, retrieved=0, selection="cheapest", plausible_first=False
        ),
    )


def test_a_recourse_is_issued_only_above_the_threshold_plus_the_margin(pre: Preprocessor) -> None:
    x = np.array([[0.1, 0.5, 0.0, 0.0]], dtype=np.float32)
    cheap = _margined(pre, 0.0).recourse(x)  # age 9 (h = 0.9) clears 0.85 and is the cheaper
    assert cheap.status[0] == "found" and cheap.x_plus[0, 0] == pytest.approx(0.9)
    headroom = _margined(pre, 0.1).recourse(x)  # 0.9 does not clear 0.95: age 10 it is
    assert (
        headroom.status[0] == "found" and headroom.x_plus[0, 0] == pytest.approx(1.0) and headroom.prob_after[0] > 0.95
    )
    assert headroom.cost[0] > cheap.cost[0]
    with pytest.raises(InputError, match="recourse.margin"):
        _margined(pre, 0.15)  # 0.85 + 0.15 reaches 1: nothing could ever be issued


def test_the_gate_shows_what_each_margin_buys_in_promises_and_costs(pre: Preprocessor) -> None:
    """A challenger that accepts only age 10: the age-9 recourses of margin 0 are all broken
    promises, margin 0.1's all kept, each at the cost the champion's own answers show."""
    challenger = SimpleNamespace(
        pre=pre,
        scorer=SimpleNamespace(predict_proba=lambda x: np.where(x[:, 0] > 0.95, 0.9, 0.3)),
        settings=SimpleNamespace(threshold=0.8),
    )
    applicants = pre.inverse_transform(np.array([[0.1, 0.5, 0.0, 0.0], [0.3, 0.2, 1.0, 0.5]], dtype=np.float32))
    champion = _margined(pre, 0.0)
    table = promises_by_margin(champion, challenger, applicants, [0.1], seed=0)
    own = champion.recourse(pre.transform(applicants), seed=0)  # what the gate has already
    assert promises_by_margin(champion, challenger, applicants, [0.1], seed=0, own=own) == table
    assert [row["margin"] for row in table] == [0.0, 0.1]  # the champion's own margin is always shown
    assert [row["found_rate"] for row in table] == [1.0, 1.0]
    assert [row["promises_kept"] for row in table] == [0.0, 1.0]
    assert table[1]["cost"] - table[0]["cost"] == pytest.approx(0.1)  # one more year of age, in scaled units


def test_auto_selection_answers_only_by_the_rule_evaluate_chose(tmp_path: Path) -> None:
    """No engine guesses a rule: before evaluate has chosen one, ``selection: auto`` is refused."""
    paths, auto = Artifacts(tmp_path), RecourseSettings(threshold=0.8)
    assert auto.selection == "auto" and chosen_rule(paths, auto) == auto
    with pytest.raises(InputError, match="recourse.selection is auto"):
        resolved(chosen_rule(paths, auto), FirstFeatureClassifier())
    with pytest.raises(InputError, match="recourse.plausible_first is auto"):
        resolved(auto.model_copy(update={"selection": "cheapest"}), FirstFeatureClassifier())
    paths.selection.parent.mkdir(parents=True)
    paths.selection.write_text(
        json.dumps({"rule": "balanced"})
    )  # chosen before plausibility was: no preference, as then
    assert resolved(chosen_rule(paths, auto), FirstFeatureClassifier()).selection == "balanced"
    assert chosen_rule(paths, auto).plausible_first is False
    assert (
        chosen_rule(paths, auto.model_copy(update={"selection": "most_confident"})).selection == "most_confident"
    )  # a rule set is kept
    paths.selection.write_text(json.dumps({"rule": "balanced", "plausible_first": True}))
    assert chosen_rule(paths, auto).plausible_first is True
    assert (
        chosen_rule(paths, auto.model_copy(update={"plausible_first": False})).plausible_first is False
    )  # a choice set is kept


class PreferenceEngine:
    """An engine whose 'answers' are whether it prefers plausible candidates: with ``row_scores``
    patched, each way's scores are the test's to set."""

    def __init__(self, settings: RecourseSettings) -> None:
        self.settings = settings

    def with_settings(self, settings: RecourseSettings) -> PreferenceEngine:
        return PreferenceEngine(settings)

    def recourse(self, x: np.ndarray, seed: int) -> bool:
        return bool(self.settings.plausible_first)


@pytest.mark.parametrize(
    ("gain", "wanted", "chosen"),
    [(0.02, "auto", True), (-0.02, "auto", False), (0.0, "auto", False), (-0.02, True, True)],
)
def test_auto_keeps_the_plausibility_preference_only_where_it_scores_higher(
    monkeypatch, gain: float, wanted: bool | str, chosen: bool
) -> None:
    rows = {False: np.full(200, 1.9), True: np.full(200, 1.9 + gain)}
    monkeypatch.setattr(evaluate, "row_scores", lambda ev, batch: rows[batch])
    ev = SimpleNamespace(
        engine=PreferenceEngine(RecourseSettings(threshold=0.8, selection="cheapest", plausible_first=False)),
        settings=SimpleNamespace(evaluate=SimpleNamespace(seed=0)),
    )
    result = evaluate.choose_plausible_first(ev, np.zeros((200, 4), dtype=np.float32), wanted)
    assert result["plausible_first"] is chosen  # a choice set is kept whatever the scores
    assert result["plausible_first_scores"] == {"on": pytest.approx(1.9 + gain), "off": pytest.approx(1.9)}


def test_auto_selection_with_no_denied_training_applicant_takes_the_cheapest() -> None:
    ev = SimpleNamespace(settings=SimpleNamespace(recourse=RecourseSettings(threshold=0.8)))
    assert choose_rule(ev, np.zeros((0, 4), dtype=np.float32)) == {
        "rule": "cheapest",
        "auto": True,
        "applicants": 0,
        "scores": {},
        "standard_errors_ahead_of_cheapest": {},
    }


@pytest.mark.parametrize(("lead", "chosen"), [(0.005, "cheapest"), (0.05, "balanced")])
def test_auto_selection_leaves_the_cheapest_only_for_a_rule_clearly_ahead(
    monkeypatch, lead: float, chosen: str
) -> None:
    """The best mean on 200 applicants wins only if it beats the cheapest by two standard errors of
    the paired difference: a lead within the noise (HELOC: 0.005) keeps the paper's rule."""
    rng = np.random.default_rng(0)
    cheapest = rng.choice([1.0, 2.0], size=200) - rng.uniform(0, 0.3, 200)
    noise = rng.normal(0, 0.1, 200)  # the rules answer each applicant a little differently
    rows = {"cheapest": cheapest, "balanced": cheapest + lead + noise - noise.mean(), "most_confident": cheapest - 0.1}
    monkeypatch.setattr(
        evaluate, "by_rule", lambda ev, x: {rule: rule for rule in rows}
    )  # each rule's "batch" is its name
    monkeypatch.setattr(evaluate, "row_scores", lambda ev, batch: rows[batch])
    ev = SimpleNamespace(settings=SimpleNamespace(recourse=RecourseSettings(threshold=0.8)))
    result = choose_rule(ev, np.zeros((200, 4), dtype=np.float32))
    assert max(result["scores"], key=result["scores"].__getitem__) == "balanced"  # the best mean either way ...
    assert result["rule"] == chosen  # ... answered by only when clearly ahead
    ahead = result["standard_errors_ahead_of_cheapest"]["balanced"]
    assert (ahead >= evaluate.CLEARLY_BETTER) == (chosen == "balanced") and result["standard_errors_ahead_of_cheapest"][
        "most_confident"
    ] < 0
    fixed = SimpleNamespace(
        settings=SimpleNamespace(recourse=RecourseSettings(threshold=0.8, selection="most_confident"))
    )
    assert choose_rule(fixed, np.zeros((200, 4), dtype=np.float32))["rule"] == "most_confident"  # a rule set is kept


def test_a_move_smaller_than_min_change_is_no_move(pre: Preprocessor) -> None:
    """Age (0-10 years, scaled by 10) with min_change 2: a candidate one year older keeps the
    applicant's age, two years older moves it; debt's half-unit move is untouched (no minimum)."""
    schema = pre.schema.model_copy(
        update={
            "features": {
                **pre.schema.features,
                "age": pre.schema.features["age"].model_copy(update={"min_change": 2.0}),
            }
        }
    )
    least = Preprocessor(schema, pre.mins, pre.ranges)
    x = np.array([[0.5, 0.5, 1.0, 0.0]], dtype=np.float32)
    cands = np.array([[[0.6, 0.0, 1.0, 0.0], [0.7, 0.0, 1.0, 0.0]]], dtype=np.float32)
    out = make_actionable(least, x, cands)
    np.testing.assert_allclose(out[0, :, 0], [0.5, 0.7], atol=1e-6)
    np.testing.assert_allclose(out[0, :, 1], [0.0, 0.0], atol=1e-6)
    assert not least.trivial(x[:, None, :], out).any()
    assert least.trivial(x, np.array([[0.6, 0.5, 1.0, 0.0]])).tolist() == [[True, False, False, False]]


def test_productions_threshold_is_scored_first_where_this_classifier_can_use_it() -> None:
    bars = [0.62, 0.5, 0.56, 0.74, 0.82, 0.9]
    assert evaluate.kept_first(bars, 0.81) == [0.81, *bars]
    assert evaluate.kept_first(bars, 0.74) == [0.74, 0.62, 0.5, 0.56, 0.82, 0.9]
    assert evaluate.kept_first(bars, 0.95) == bars  # above what this classifier's bars allow: chosen afresh


def test_a_retrain_answers_by_productions_choice_and_says_what_it_would_have_chosen() -> None:
    chosen = {"rule": "balanced", "auto": True, "scores": {"cheapest": 1.7, "balanced": 1.8}}
    assert evaluate.kept(chosen, "rule", "cheapest") == chosen | {"rule": "cheapest", "rule_afresh": "balanced"}


def test_evaluate_is_handed_productions_choices_only_through_a_retraining_runs_environment(monkeypatch) -> None:
    monkeypatch.delenv(INCUMBENT_ENV, raising=False)
    assert incumbent() is None
    said = {"model": "genre-recourse:abc", "threshold": 0.81, "selection": "cheapest", "plausible_first": True}
    monkeypatch.setenv(INCUMBENT_ENV, json.dumps(said))
    assert incumbent() == said
