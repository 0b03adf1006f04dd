"""The lender's own model as h: read safely, matched to the schema by column name and label, and
scoring the scaled rows every other model sees exactly as the estimator scores the raw rows."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io
import torch
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from genre.data.preprocessing import Preprocessor
from genre.messages import InputError
from genre.models.accepted import AcceptedRows
from genre.models.classifier_file import load_classifier, save_classifier
from genre.models.classifiers import MLPClassifier
from genre.models.generators import row_draws
from genre.models.own_model import OwnModel, check_every_category, check_scores, read_model_file
from genre.recourse.cost import recourse_cost
from genre.recourse.engine import RecourseEngine, cheapest
from genre.serving.answers import answer
from genre.settings import RecourseSettings

CATEGORICAL = ["sex", "job"]
CLOSE = {"atol": 1e-6}  # a continuous value passes through float32 scaling and back
TREE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def labels(frame: pd.DataFrame) -> np.ndarray:
    return ((frame["age"] / 10 - frame["debt"] + (frame["job"] == "c")) > 0.2).astype(int).to_numpy()


def one_hot_pipeline(frame: pd.DataFrame, y: np.ndarray):
    encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), CATEGORICAL), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression()).fit(frame, y)


def boosted(frame: pd.DataFrame, y: np.ndarray):
    encode = make_column_transformer((OrdinalEncoder(), CATEGORICAL), remainder="passthrough")
    model = HistGradientBoostingClassifier(categorical_features=[0, 1], max_iter=20, random_state=0)
    return make_pipeline(encode, model).fit(frame, y)


def test_a_pipeline_scores_scaled_rows_as_it_scores_the_raw_ones(tiny_rows, pre) -> None:
    frame = tiny_rows(300)
    estimator = one_hot_pipeline(frame, labels(frame))
    model = OwnModel(skops.io.dumps(estimator), pre, [])
    x = pre.transform(frame)
    expected = estimator.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(model.predict_proba(x), expected, **CLOSE)
    np.testing.assert_allclose(model.predict_proba(x.reshape(30, 10, 4)), expected.reshape(30, 10), **CLOSE)
    assert model.predict_proba(x[:0]).shape == (0,)


def test_columns_are_matched_by_name_whatever_their_order(tiny_rows, pre) -> None:
    frame = tiny_rows(300)
    shuffled = frame[["job", "debt", "sex", "age"]]
    estimator = one_hot_pipeline(shuffled, labels(frame))
    model = OwnModel(skops.io.dumps(estimator), pre, [])
    np.testing.assert_allclose(
        model.predict_proba(pre.transform(frame)), estimator.predict_proba(shuffled)[:, 1], **CLOSE
    )


def test_the_favourable_label_picks_the_column_whatever_the_labels(tiny_rows, pre) -> None:
    """Text labels, and a favourable label listed first: h is P(favourable), not column 1."""
    schema = pre.schema.model_copy(
        update={"target": pre.schema.target.model_copy(update={"values": ["yes", "no"], "favourable": "no"})}
    )
    text_pre = Preprocessor(schema, pre.mins, pre.ranges)
    frame = tiny_rows(300)
    y = np.where(labels(frame) == 1, "no", "yes")
    estimator = one_hot_pipeline(frame, y)
    model = OwnModel(skops.io.dumps(estimator), text_pre, [])
    assert list(estimator.classes_) == ["no", "yes"] and model.positive == 0
    np.testing.assert_allclose(model.predict_proba(pre.transform(frame)), estimator.predict_proba(frame)[:, 0], **CLOSE)


def test_types_skops_does_not_trust_load_only_once_vouched_for(tiny_rows, pre) -> None:
    frame = tiny_rows(300)
    payload = skops.io.dumps(boosted(frame, labels(frame)))
    with pytest.raises(InputError) as refused:
        OwnModel(payload, pre, [])
    message = str(refused.value)
    assert "\n" not in message and TREE in message and "train_classifier.trusted_types" in message
    with pytest.raises(InputError):
        OwnModel(payload, pre, [TREE])  # every type it names must be vouched for
    model = OwnModel(payload, pre, skops.io.get_untrusted_types(data=payload))
    assert ((model.predict_proba(pre.transform(frame)) > 0.5) == labels(frame)).mean() > 0.9


def test_a_lender_model_travels_to_another_process_and_scores_the_same_there(tiny_rows, pre) -> None:
    """``runner: dask`` pickles the engine, and with it the model, to the workers: the thread
    controller (ctypes handles of loaded libraries) stays behind and is built again there."""
    frame = tiny_rows(300)
    payload = skops.io.dumps(boosted(frame, labels(frame)))
    model = OwnModel(payload, pre, skops.io.get_untrusted_types(data=payload))
    x = pre.transform(tiny_rows(50, seed=2))
    here = model.predict_proba(x)  # the controller has been built here
    there = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(there.predict_proba(x), here)
    assert there.threads is not model.threads


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda frame, y: b"not a zip file", "not a skops file"),
        (
            lambda frame, y: skops.io.dumps(LogisticRegression().fit(frame[["age", "debt"]].to_numpy(), y)),
            "fitted without column names",
        ),
        (
            lambda frame, y: skops.io.dumps(
                LogisticRegression().fit(frame[["age", "debt"]].rename(columns={"debt": "loans"}), y)
            ),
            "no feature for: loans",
        ),
        (
            lambda frame, y: skops.io.dumps(
                LogisticRegression().fit(frame[["age", "debt"]], np.where(y == 1, "good", "bad"))
            ),
            "the schema's favourable label 1",
        ),
        (lambda frame, y: skops.io.dumps(OneHotEncoder().fit(frame[["job"]])), "a fitted estimator with predict_proba"),
    ],
)
def test_a_model_that_cannot_be_used_is_one_line(tiny_rows, pre, make, expected: str) -> None:
    frame = tiny_rows(100)
    with pytest.raises(InputError) as refused:
        OwnModel(make(frame, labels(frame)), pre, [])
    assert expected in str(refused.value) and "\n" not in str(refused.value)


def test_a_model_that_cannot_score_a_category_the_schema_allows_is_refused_when_read(tiny_rows, pre) -> None:
    """A lender's encoder that never saw a category raises on it by default: that is said in one
    line when train_classifier reads the model, not as a failure on the first applicant or
    candidate holding it; a model that handles unknown categories passes."""
    frame = tiny_rows(300)
    unseen = frame[frame["job"] != "c"]
    payload = skops.io.dumps(boosted(unseen, labels(unseen)))
    model = OwnModel(payload, pre, skops.io.get_untrusted_types(data=payload))
    base = pre.transform(unseen.head(1))[0]  # a training row it scores
    with pytest.raises(InputError) as refused:
        check_every_category(model, base)
    message = str(refused.value)
    assert (
        message.startswith("train_classifier.model:")
        and "job = 'c'" in message
        and "'a'" not in message
        and "\n" not in message
    )
    ignoring = OwnModel(skops.io.dumps(one_hot_pipeline(unseen, labels(unseen))), pre, [])  # handle_unknown="ignore"
    check_every_category(ignoring, base)


def test_a_model_that_leaves_out_features_is_asked_only_for_its_own(tiny_rows, pre) -> None:
    """A lender's model may not use every column (a protected attribute, say)."""
    frame = tiny_rows(300)
    estimator = LogisticRegression().fit(frame[["age", "debt"]], labels(frame))
    model = OwnModel(skops.io.dumps(estimator), pre, [])
    np.testing.assert_allclose(
        model.predict_proba(pre.transform(frame)), estimator.predict_proba(frame[["age", "debt"]])[:, 1], **CLOSE
    )


def test_the_model_file_must_lie_in_models(tmp_path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models/m.skops").write_bytes(b"x")
    (tmp_path / "m.skops").write_bytes(b"x")
    assert read_model_file(tmp_path, "models/m.skops") == b"x"
    for relative, expected in (
        ("m.skops", "is outside models/"),
        ("models/../m.skops", "is outside models/"),
        ("models/none.skops", "no file at"),
    ):
        with pytest.raises(InputError, match=expected):
            read_model_file(tmp_path, relative)


def test_the_classifier_file_keeps_either_kind_with_its_threshold(tiny_rows, pre, tmp_path) -> None:
    frame = tiny_rows(300)
    x = pre.transform(frame)
    payload = skops.io.dumps(boosted(frame, labels(frame)))
    own = OwnModel(payload, pre, skops.io.get_untrusted_types(data=payload), reachable=0.81)
    mlp = MLPClassifier(4, [3], reachable=0.95)
    for classifier in (own, mlp):
        save_classifier(classifier, tmp_path / "classifier.pt")
        loaded = load_classifier(tmp_path / "classifier.pt", pre)
        assert type(loaded) is type(classifier) and loaded.reachable == classifier.reachable
        np.testing.assert_allclose(loaded.predict_proba(x), classifier.predict_proba(x))


def test_a_model_fitted_on_pandas_categoricals_is_asked_in_them_from_then_on(tiny_rows, pre, tmp_path) -> None:
    """LightGBM fitted on category columns refuses strings: ``check_scores`` finds the form the
    model takes, and the saved classifier (the bundle, the CLI, the service) keeps asking in it."""
    import lightgbm

    frame = tiny_rows(300)
    as_categories = frame.astype(
        {name: pd.CategoricalDtype(pre.schema.features[name].categories) for name in CATEGORICAL}
    )
    estimator = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(as_categories, labels(frame))
    payload = skops.io.dumps(estimator)
    model = OwnModel(payload, pre, skops.io.get_untrusted_types(data=payload))
    x = pre.transform(frame)
    with pytest.raises(ValueError, match="categorical_feature do not match"):
        model.predict_proba(x)  # strings, as every sklearn pipeline takes them
    check_scores(model, x[:100], "models/lender.skops")
    assert model.categorical
    expected = estimator.predict_proba(as_categories)[:, 1]
    np.testing.assert_allclose(model.predict_proba(x), expected, **CLOSE)
    check_every_category(model, x[0])
    save_classifier(model, tmp_path / "classifier.pt")
    np.testing.assert_allclose(load_classifier(tmp_path / "classifier.pt", pre).predict_proba(x), expected, **CLOSE)


def test_a_model_names_the_libraries_serving_it_must_install(tiny_rows, pre) -> None:
    """The distributions behind the types the user vouched for: what the bento must install."""
    import lightgbm
    import sklearn

    frame = tiny_rows(200)
    for estimator, expected in (
        (
            lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(
                frame.astype({n: "category" for n in CATEGORICAL}), labels(frame)
            ),
            {"lightgbm": lightgbm.__version__},
        ),
        (
            boosted(frame, labels(frame)),
            {"scikit-learn": sklearn.__version__},
        ),  # functools.partial among its types: the standard library
        (one_hot_pipeline(frame, labels(frame)), {}),  # nothing beyond what skops trusts by default
    ):
        payload = skops.io.dumps(estimator)
        assert OwnModel(payload, pre, skops.io.get_untrusted_types(data=payload)).distributions() == expected


def test_a_model_that_scores_neither_form_is_one_line_naming_both(tiny_rows, pre) -> None:
    frame = tiny_rows(100)
    model = OwnModel(skops.io.dumps(one_hot_pipeline(frame, labels(frame))), pre, [])
    model.estimator.predict_proba = lambda rows: 1 / 0  # a model broken whatever it is given
    with pytest.raises(InputError) as refused:
        check_scores(model, pre.transform(frame), "models/lender.skops")
    message = str(refused.value)
    assert message.startswith(
        "train_classifier.model: models/lender.skops cannot score the training rows: ZeroDivisionError"
    )
    assert "with pandas categoricals: ZeroDivisionError" in message and "\n" not in message and not model.categorical


class _Jitter:
    """A stand-in generator: each factual's candidates are seeded noise around it (row_draws)."""

    def propose(self, x: np.ndarray, n: int, temperature: float, seed: int) -> np.ndarray:
        return (x[:, None, :] + temperature * row_draws(x, (n, x.shape[1]), seed, torch.randn).numpy()).astype(
            np.float32
        )


def test_a_lender_model_is_called_once_per_request_and_answers_as_scored_row_by_row(
    tiny_rows, pre, monkeypatch
) -> None:
    """A pipeline's calls cost more than their rows: factuals and candidates go in one call, and
    the answers are those of scoring the factuals first and sampling only for the denied."""
    frame = tiny_rows(300)
    payload = skops.io.dumps(boosted(frame, labels(frame)))
    model = OwnModel(payload, pre, skops.io.get_untrusted_types(data=payload))
    settings = RecourseSettings(
        threshold=0.6, n_candidates=40, retrieved=0, selection="cheapest", plausible_first=False, sparsify=False
    )
    engine = RecourseEngine(pre, model, _Jitter(), settings)
    x = pre.transform(tiny_rows(25, seed=1))
    calls: list[int] = []
    score = model.estimator.predict_proba
    model.estimator.predict_proba = lambda rows: calls.append(len(rows)) or score(rows)
    one_call = engine.recourse(x, seed=3, alternatives=2)
    assert calls == [25 * 41] and {"found", "not_needed"} <= set(one_call.status)
    model.score_in_one_call = False  # the MLP's way, on the same model
    row_by_row = engine.recourse(x, seed=3, alternatives=2)
    assert len(calls) == 3  # the factuals, then the denied ones' candidates
    for field in ("x_plus", "status", "prob_before", "prob_after", "cost"):
        np.testing.assert_array_equal(getattr(one_call, field), getattr(row_by_row, field), err_msg=field)
    np.testing.assert_array_equal(one_call.alternatives.x_plus, row_by_row.alternatives.x_plus)
    minimal = engine.with_settings(settings.model_copy(update={"sparsify": True}))  # a call a round of undoing, on top
    model.score_in_one_call = True
    one_call = minimal.recourse(x, seed=3, alternatives=2)
    model.score_in_one_call = False
    row_by_row = minimal.recourse(x, seed=3, alternatives=2)
    for field in ("x_plus", "status", "prob_before", "prob_after", "cost"):
        np.testing.assert_array_equal(getattr(one_call, field), getattr(row_by_row, field), err_msg=field)
    # one served request: the rounds of undoing are scored ahead, in fewer calls than a round each
    model.score_in_one_call = True
    first = int(np.flatnonzero(one_call.status == "found")[0])
    one = x[first : first + 1]
    calls.clear()
    ahead = minimal.recourse(one, seed=3, alternatives=2)
    ahead_calls = len(calls)
    calls.clear()  # and its principal reasons read the last round of the answer's walk: no call of their own
    served = answer(minimal, tiny_rows(25, seed=1).iloc[first : first + 1], seed=3, alternatives=2)
    assert served[0]["status"] == "found" and served[0]["reasons"] and len(calls) == ahead_calls
    monkeypatch.setattr("genre.recourse.minimal.AHEAD_ROWS", 0)
    calls.clear()
    a_round_a_call = minimal.recourse(one, seed=3, alternatives=2)
    np.testing.assert_array_equal(ahead.x_plus, a_round_a_call.x_plus)
    assert ahead_calls < len(calls)


# (temperature, frozen): candidates spread wide, and candidates close by with debt frozen, where
# one costs whole steps of age and a changed job, so that many tie in cost
SCENARIOS = {"spread": (1.0, []), "ties": (0.3, ["debt"])}


@pytest.mark.parametrize("plausible_first", [False, True])
@pytest.mark.parametrize("first", [1, 5, 40])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_lender_model_scores_the_cheapest_candidates_first_and_answers_as_scoring_all(
    tiny_rows, pre, monkeypatch, scenario: str, first: int, plausible_first: bool
) -> None:
    """Under ``cheapest`` with no alternatives asked, each factual's ``first`` cheapest candidates
    are scored with the factuals, and the rest only for the denied factuals none of those settles:
    the answers are those of scoring every candidate (plausibility, retrieved rows, ties in cost)."""
    monkeypatch.setattr("genre.recourse.engine.FIRST_SCORED", first)
    frame = tiny_rows(300)
    payload = skops.io.dumps(boosted(frame, labels(frame)))
    model = OwnModel(payload, pre, skops.io.get_untrusted_types(data=payload))
    accepted = AcceptedRows.of(pre.transform(frame), model.predict_proba(pre.transform(frame)), 0.5)
    temperature, names = SCENARIOS[scenario]
    # which rows each call scores is the point here: minimal answers' calls come after these (sparsify off)
    settings = RecourseSettings(
        threshold=0.7,
        temperature=temperature,
        n_candidates=40,
        retrieved=3,
        reachable=5,
        selection="cheapest",
        plausible_first=plausible_first,
        sparsify=False,
    )
    engine = RecourseEngine(pre, model, _Jitter(), settings, accepted)
    x, frozen = pre.transform(tiny_rows(60, seed=1)), np.isin(pre.schema.feature_names, names)
    calls: list[int] = []
    score = model.estimator.predict_proba
    model.estimator.predict_proba = lambda rows: calls.append(len(rows)) or score(rows)
    lazily, lazy_calls = engine.recourse(x, seed=3, frozen=frozen), list(calls)
    model.score_in_one_call = False  # every denied factual's candidates scored, in one call
    every = engine.recourse(x, seed=3, frozen=frozen)
    assert {"found", "not_needed"} <= set(every.status)
    for field in ("x_plus", "status", "prob_before", "prob_after", "cost", "retrieved"):
        np.testing.assert_array_equal(getattr(lazily, field), getattr(every, field), err_msg=field)
    if not plausible_first:  # the calls' rows, from every candidate's score
        cands = engine.candidates(x, 40, temperature, 3, frozen)
        scored, accepted = cheapest(recourse_cost(pre, x[:, None, :], cands), first), model.predict_proba(cands) > 0.7
        denied = every.status != "not_needed"
        rest = int((~scored[denied & ~(scored & accepted).any(axis=1)]).sum())
        retrieved = (3 + 5) * int(
            (denied & ~accepted.any(axis=1)).sum()
        )  # the nearest accepted rows and the reachable ones, for those none is found for
        assert lazy_calls == [60 + scored.sum()] + [n for n in (rest, retrieved) if n]


def test_the_cheapest_candidates_take_in_every_tie_of_the_last():
    """What is left unscored must cost strictly more than all that is scored, or a tied candidate
    earlier in sampling order (the rule's pick among equals) could be missed."""
    costs = np.array([[1.0, 1.0, 0.0, 2.0], [3.0, 2.0, 1.0, 0.0]])
    np.testing.assert_array_equal(cheapest(costs, 1), [[False, False, True, False], [False, False, False, True]])
    np.testing.assert_array_equal(cheapest(costs, 2), [[True, True, True, False], [False, False, True, True]])
    assert cheapest(costs, 9).all()
