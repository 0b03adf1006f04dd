"""Behaviour of the trained recourse model: what users are promised, checked on real answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_prepared
from genre.data.preprocessing import Preprocessor
from genre.evaluation.baselines import nearest_neighbour_recourse
from genre.recourse.cost import changed, recourse_cost
from genre.recourse.engine import DECISION_THRESHOLD, RecourseEngine, issue_bar
from genre.serving.answers import answer
from genre.serving.bundle import engine_from_artifacts
from genre.settings import load_settings


@pytest.fixture(scope="module")
def engine(fast_project) -> RecourseEngine:
    settings = load_settings(fast_project.root / "params.yaml")
    return engine_from_artifacts(Artifacts(settings.root), settings.recourse)


@pytest.fixture(scope="module")
def denied(fast_project, engine: RecourseEngine) -> np.ndarray:
    x = load_prepared(Artifacts(fast_project.root)).x_test
    return x[engine.classifier.predict_proba(x) <= DECISION_THRESHOLD][:100]


def test_immutables_never_change(engine: RecourseEngine, denied: np.ndarray) -> None:
    batch = engine.recourse(denied)
    np.testing.assert_array_equal(batch.x_plus[:, engine.pre.immutable], denied[:, engine.pre.immutable])


def test_found_recourse_flips_the_classifier(engine: RecourseEngine, denied: np.ndarray) -> None:
    batch = engine.recourse(denied)
    assert batch.found.mean() > 0.5, "the fast model should find most recourses"
    prob = engine.classifier.predict_proba(batch.x_plus[batch.found])
    assert np.all(prob > issue_bar(engine.settings))  # the threshold and the margin above it
    assert np.all(batch.prob_before <= DECISION_THRESHOLD)


def test_applicants_already_approved_cost_no_sampling(engine: RecourseEngine, fast_project, denied: np.ndarray) -> None:
    """Approved applicants come back as they are; the denied ones get what they get alone."""
    x = load_prepared(Artifacts(fast_project.root)).x_test[:60]
    approved = engine.classifier.predict_proba(x) > DECISION_THRESHOLD
    assert approved.any() and not approved.all()
    batch = engine.recourse(x)
    assert set(batch.status[approved]) == {"not_needed"} and "not_needed" not in set(batch.status[~approved])
    np.testing.assert_array_equal(batch.x_plus[approved], x[approved])
    assert np.all(batch.cost[approved] == 0) and np.all(batch.prob_after[approved] == batch.prob_before[approved])
    alone = engine.recourse(x[~approved])
    np.testing.assert_array_equal(batch.x_plus[~approved], alone.x_plus)
    np.testing.assert_array_equal(batch.status[~approved], alone.status)


def test_concurrent_requests_get_what_they_get_one_at_a_time(engine: RecourseEngine, fast_project) -> None:
    """The service answers requests from several threads at once with one engine."""
    test = load_prepared(Artifacts(fast_project.root)).test_raw[engine.pre.schema.feature_names]
    rows = [test.iloc[[i]] for i in range(24)]
    one_at_a_time = [answer(engine, row) for row in rows]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(lambda row: answer(engine, row), rows)) == one_at_a_time


def test_increase_only_is_respected(engine: RecourseEngine, denied: np.ndarray) -> None:
    schema = engine.pre.schema
    features = dict(schema.features)
    features["age"] = features["age"].model_copy(update={"direction": "increase"})
    features["education-num"] = features["education-num"].model_copy(update={"direction": "increase"})
    pre = Preprocessor(schema.model_copy(update={"features": features}), engine.pre.mins, engine.pre.ranges)
    constrained = RecourseEngine(pre, engine.classifier, engine.generator, engine.settings)
    batch = constrained.recourse(denied)
    for name in ("age", "education-num"):
        j = schema.feature_names.index(name)
        assert np.all(batch.x_plus[:, j] >= denied[:, j] - 1e-6), name


def test_not_found_is_never_presented_as_a_recourse(engine: RecourseEngine, fast_project) -> None:
    strict = engine.settings.model_copy(update={"threshold": 0.999999, "margin": 0.0, "n_candidates": 2})
    test = load_prepared(Artifacts(fast_project.root)).test_raw
    answers = answer(engine, test[engine.pre.schema.feature_names].head(30), settings=strict)
    statuses = {a["status"] for a in answers}
    assert "not_found" in statuses
    for a in answers:
        if a["status"] != "found":
            assert a["recourse"] is None and a["changes"] == [] and a["cost"] is None


def test_answers_list_every_change_in_raw_units(engine: RecourseEngine, fast_project) -> None:
    test = load_prepared(Artifacts(fast_project.root)).test_raw[engine.pre.schema.feature_names]
    answers = answer(engine, test.head(40))
    found = [(i, a) for i, a in enumerate(answers) if a["status"] == "found"]
    assert found
    for i, a in found:
        original = test.iloc[i].to_dict()
        changed = {c["feature"] for c in a["changes"]}
        for name, value in a["recourse"].items():
            assert (value != original[name]) == (name in changed), name
        assert pd.Series(a["recourse"])[["race", "sex"]].tolist() == [original["race"], original["sex"]]


def test_bfloat16_sampling_keeps_every_promise(engine: RecourseEngine, denied: np.ndarray) -> None:
    """Sampling in bfloat16 changes candidates, never the float32 acceptance, the constraints or
    the alone-or-in-a-batch answer; and it finds about as much recourse as float32."""
    fast = engine.settings.model_copy(update={"precision": "bfloat16"})
    batch = engine.recourse(denied, settings=fast)
    prob = engine.classifier.predict_proba(batch.x_plus[batch.found])
    assert np.all(prob > fast.threshold)
    np.testing.assert_array_equal(batch.x_plus[:, engine.pre.immutable], denied[:, engine.pre.immutable])
    alone = engine.recourse(denied[7:8], settings=fast)
    np.testing.assert_array_equal(alone.x_plus[0], batch.x_plus[7])
    assert abs(batch.found.mean() - engine.recourse(denied).found.mean()) <= 0.1


@pytest.mark.parametrize("plausible_first", [False, True])
@pytest.mark.parametrize("retrieval", ["fallback", "compete"])
def test_never_worse_than_the_nearest_accepted_neighbour(
    engine: RecourseEngine, denied: np.ndarray, retrieval: str, plausible_first: bool
) -> None:
    """Wherever NNR answers (an admissible training row above the same threshold), the engine
    answers too; with ``compete`` at no higher cost, since NNR's row is among its candidates, unless
    plausible candidates come first and NNR's row is not one (then a plausible one may cost more),
    at the stricter factor where a surer answer is preferred."""
    settings = engine.settings.model_copy(update={"plausible_first": plausible_first})
    pool = engine.accepted.above(issue_bar(settings))  # NNR at the bar the engine issues at, as evaluate judges it
    nnr_plus, nnr_found, _ = nearest_neighbour_recourse(denied, pool, engine.pre, chunk_size=2048)
    assert nnr_found.any()
    both = nnr_found & (engine.scorer.predict_proba(nnr_plus) > issue_bar(settings))  # scored as the engine scores
    batch = engine.recourse(denied, settings=settings.model_copy(update={"retrieval": retrieval}))
    sampled_only = engine.recourse(denied, settings=settings.model_copy(update={"retrieved": 0, "reachable": 0}))

    assert batch.found[both].all()
    assert not batch.retrieved[~batch.found].any() and not sampled_only.retrieved.any()
    assert engine.plausibility is not None

    # the surer answer (``preferred_outlier_factor``) may cost more than a row plausible only at the looser factor
    bound = min(settings.max_outlier_factor, settings.preferred_outlier_factor or np.inf)

    def plausible(x_plus: np.ndarray) -> np.ndarray:
        return engine.plausibility.outlier_factor(x_plus) < bound if plausible_first else np.ones(len(x_plus), bool)

    if (
        retrieval == "compete"
    ):  # as the rule picks: minimal answers may take a dearer candidate that needs fewer changes
        picked = engine.recourse(
            denied, settings=settings.model_copy(update={"retrieval": retrieval, "sparsify": False})
        )
        nnr_cost = recourse_cost(engine.pre, denied, nnr_plus)
        cheap = both & plausible(nnr_plus)
        assert cheap.any()
        assert np.all(picked.cost[cheap] <= nnr_cost[cheap] + 1e-5)
    else:
        # the generator's answer stands wherever it has one (a plausible one, where they come first: before it is
        # made minimal)
        raw = engine.recourse(
            denied, settings=settings.model_copy(update={"retrieved": 0, "reachable": 0, "sparsify": False})
        )
        kept = sampled_only.found & plausible(raw.x_plus)
        assert kept.any()
        np.testing.assert_array_equal(batch.x_plus[kept], sampled_only.x_plus[kept])
        assert not batch.retrieved[kept].any()


def test_a_feature_with_max_change_never_moves_further(engine: RecourseEngine, denied: np.ndarray) -> None:
    """Adult's age at most +5 years (and increase-only): no answer, alternative or retrieved row
    moves it further; the same generator, so the limit is the constraints' doing alone."""
    schema = engine.pre.schema
    features = {
        **schema.features,
        "age": schema.features["age"].model_copy(update={"max_change": 5.0, "direction": "increase"}),
    }
    limited = Preprocessor(
        schema.model_copy(update={"features": features}), engine.pre.mins, engine.pre.ranges, engine.pre.fills
    )
    capped = RecourseEngine(limited, engine.classifier, engine.generator, engine.settings, engine.accepted)
    for retrieval in ("fallback", "compete"):
        batch = capped.recourse(
            denied, settings=capped.settings.model_copy(update={"retrieval": retrieval}), alternatives=3
        )
        before = limited.inverse_transform(denied)["age"].to_numpy()
        points = [batch.x_plus] + [batch.alternatives.x_plus[:, j] for j in range(batch.alternatives.x_plus.shape[1])]
        for point in points:
            moved = limited.inverse_transform(point)["age"].to_numpy() - before
            assert moved.min() >= 0 and moved.max() <= 5, (retrieval, moved.max())
        assert batch.found.any()


@pytest.mark.parametrize("plausible_first", [False, True])
def test_every_rule_from_one_drawing_answers_as_that_rule_alone(
    engine: RecourseEngine, fast_project, plausible_first: bool
) -> None:
    """Evaluation compares the selection rules on candidates drawn once (``by_rules``): each
    rule's answers, alternatives and retrieved flags are exactly what answering by it gives, also
    where the rules share which candidates have been judged plausible (each judges in its own order)."""
    x = load_prepared(Artifacts(fast_project.root)).x_test[:80]  # approved ones among them: nothing drawn for those
    # retrieved rows win under some rules
    compete = engine.settings.model_copy(update={"retrieval": "compete", "plausible_first": plausible_first})
    rules = ("cheapest", "balanced", "most_confident")
    together = engine.by_rules(x, rules, settings=compete, seed=5, alternatives=2)
    picks = {rule: together[rule].x_plus.tobytes() for rule in rules}
    assert len(set(picks.values())) > 1  # the rules do rank differently here
    for rule in rules:
        alone = engine.recourse(x, settings=compete.model_copy(update={"selection": rule}), seed=5, alternatives=2)
        for field in ("x_plus", "status", "prob_before", "prob_after", "cost", "retrieved"):
            np.testing.assert_array_equal(
                getattr(together[rule], field), getattr(alone, field), err_msg=f"{rule}: {field}"
            )
        for field in ("x_plus", "valid", "prob", "cost"):
            np.testing.assert_array_equal(
                getattr(together[rule].alternatives, field),
                getattr(alone.alternatives, field),
                err_msg=f"{rule}: alternatives.{field}",
            )


def test_plausible_answers_come_first_and_change_nothing_else(engine: RecourseEngine, denied: np.ndarray) -> None:
    """Preferring plausible candidates finds for exactly the same applicants; wherever the rule's
    own pick was plausible it stands (made minimal, as it would be anyway), and no answer that was
    plausible becomes implausible."""
    assert engine.plausibility is not None
    preferred = engine.recourse(denied, settings=engine.settings.model_copy(update={"plausible_first": True}))
    plain = engine.recourse(denied, settings=engine.settings.model_copy(update={"plausible_first": False}))
    picked = engine.recourse(
        denied, settings=engine.settings.model_copy(update={"plausible_first": False, "sparsify": False})
    )
    np.testing.assert_array_equal(preferred.status, plain.status)
    bound = engine.settings.max_outlier_factor
    was = picked.found & (engine.plausibility.outlier_factor(picked.x_plus) < bound)
    now = preferred.found & (engine.plausibility.outlier_factor(preferred.x_plus) < bound)
    np.testing.assert_array_equal(preferred.x_plus[was], plain.x_plus[was])
    assert np.all(now[was]) and now.sum() > was.sum()
    assert np.all(preferred.prob_after[preferred.found] > issue_bar(engine.settings))


def test_alternatives_are_those_of_judging_every_candidate(
    engine: RecourseEngine, denied: np.ndarray, monkeypatch
) -> None:
    """With plausible candidates first, alternatives judge only as many candidates as they need;
    the answers and alternatives are those of judging every accepted candidate."""
    from genre.recourse import engine as engine_module

    settings = engine.settings.model_copy(update={"plausible_first": True})
    lazy = engine.recourse(denied, settings=settings, alternatives=3)
    monkeypatch.setattr(
        engine_module, "plausible_variety", lambda key, accepted, moves, verdicts, wanted: verdicts.ask(accepted)
    )
    full = engine.recourse(denied, settings=settings, alternatives=3)
    np.testing.assert_array_equal(lazy.x_plus, full.x_plus)
    np.testing.assert_array_equal(lazy.alternatives.valid, full.alternatives.valid)
    np.testing.assert_array_equal(
        lazy.alternatives.x_plus[lazy.alternatives.valid], full.alternatives.x_plus[full.alternatives.valid]
    )
    assert lazy.alternatives.valid.any()


def test_a_surer_answer_replaces_the_first_only_where_it_asks_no_more(
    engine: RecourseEngine, denied: np.ndarray
) -> None:
    """``preferred_outlier_factor``: an answer plausible at the stricter factor replaces the first
    only where it asks for no more changes; nobody loses an answer or gains a change."""
    settings = engine.settings.model_copy(update={"plausible_first": True, "preferred_outlier_factor": 1.1})
    first = engine.recourse(denied, settings=settings.model_copy(update={"preferred_outlier_factor": None}))
    surer = engine.recourse(denied, settings=settings)
    np.testing.assert_array_equal(surer.status, first.status)
    found = surer.found
    assert (changed(denied, surer.x_plus).sum(1) <= changed(denied, first.x_plus).sum(1))[found].all()
    replaced = found & (surer.x_plus != first.x_plus).any(axis=1)
    assert replaced.any()
    assert engine.plausibility is not None
    assert (engine.plausibility.outlier_factor(surer.x_plus[replaced]) < 1.1).all()
    assert (surer.prob_after[found] > issue_bar(settings)).all()
    alone = [engine.recourse(denied[i : i + 1], settings=settings) for i in np.flatnonzero(replaced)[:5]]
    np.testing.assert_array_equal(np.concatenate([a.x_plus for a in alone]), surer.x_plus[np.flatnonzero(replaced)[:5]])
