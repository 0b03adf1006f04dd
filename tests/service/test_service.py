"""The recourse service through its ASGI app (no network, no server process): good requests get the
same answers as the library, and every kind of bad input gets a 400 that names the row and field
without taking the service down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from genre.answers import answer
from genre.bundle import load_bundle
from genre.recourse import DECISION_THRESHOLD, RecourseEngine
from genre.settings import load_settings

IMMUTABLE = ["race", "sex"]


@pytest.fixture(scope="session")
def model_tag(trained: Path) -> str:
    """The trained artifacts saved as a model version, exactly as the package stage saves them."""
    from genre.package import save_model

    return str(save_model(load_settings(trained / "params.yaml")).tag)


@pytest.fixture(scope="session")
def engine(model_tag: str) -> RecourseEngine:
    import bentoml

    return load_bundle(Path(bentoml.models.get(model_tag).path))


@pytest.fixture(scope="session")
def client(model_tag: str) -> Iterator[TestClient]:
    """One app for the session: entering the client runs the lifespan, which loads the model."""
    from genre.service import RecourseService

    with TestClient(RecourseService.to_asgi()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def probabilities(engine: RecourseEngine, test_rows: pd.DataFrame) -> np.ndarray:
    return engine.classifier.predict_proba(engine.pre.transform(test_rows))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (numpy scalars become plain ints/strs)."""
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture(scope="session")
def denied(test_rows: pd.DataFrame, probabilities: np.ndarray) -> list[dict[str, Any]]:
    """The first few held-out applicants the classifier clearly turns down."""
    return records(test_rows.iloc[np.flatnonzero(probabilities < 0.3)[:5]])


@pytest.fixture(scope="session")
def good(denied: list[dict[str, Any]]) -> dict[str, Any]:
    return denied[0]


def post(client: TestClient, applicants: list[dict[str, Any]], **extra: Any):
    return client.post("/recourse", json={"applicants": applicants, **extra})


def error_text(response) -> str:
    """The whole error body as text.

    BentoML 1.4.40 wraps an InvalidArgument message in a one-element list
    (``[{"error": ...}]``) while pydantic errors come as an object; matching on the text keeps the
    tests about what the caller can read, not about that envelope.
    """
    return json.dumps(response.json())


# -- good requests ------------------------------------------------------------------------------


def test_denied_applicants_get_recourse_they_could_act_on(client, engine, denied):
    response = post(client, denied)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == len(denied)
    found = [(a, d) for a, d in zip(answers, denied) if a["status"] == "found"]
    assert found, f"no recourse found for any of {len(denied)} denied applicants: {answers}"
    threshold = engine.settings.threshold
    for result, applicant in found:
        assert result["probability_before"] <= DECISION_THRESHOLD
        assert result["probability_after"] > threshold
        assert result["cost"] > 0
        proposal = result["recourse"]
        assert set(proposal) == set(applicant)
        for name in IMMUTABLE:
            assert proposal[name] == applicant[name], f"immutable {name} changed"
        moved = {k for k in applicant if proposal[k] != applicant[k]}
        assert moved == {c["feature"] for c in result["changes"]}, "every change, and only changes, listed"
        for change in result["changes"]:
            assert change["from"] == applicant[change["feature"]]
            assert change["to"] == proposal[change["feature"]]


def test_service_answers_exactly_what_the_library_answers(client, engine, denied):
    """The service adds validation and transport, nothing else: same seed, same answer."""
    expected = answer(engine, pd.DataFrame(denied, columns=engine.pre.schema.feature_names))
    assert post(client, denied).json() == expected


def test_accepted_applicant_needs_no_recourse(client, test_rows, probabilities):
    accepted = records(test_rows.iloc[[int(np.argmax(probabilities))]])
    response = post(client, accepted)
    assert response.status_code == 200, response.text
    [result] = response.json()
    assert result["status"] == "not_needed"
    assert result["probability_before"] > DECISION_THRESHOLD
    assert result["recourse"] is None and result["changes"] == [] and result["cost"] is None


def test_frozen_features_are_left_alone(client, denied):
    frozen = ["age", "fnlwgt"]
    response = post(client, denied, frozen=frozen)
    assert response.status_code == 200, response.text
    answers = response.json()
    found = [(a, d) for a, d in zip(answers, denied) if a["status"] == "found"]
    assert found, f"no recourse found with {frozen} frozen: {answers}"
    for result, applicant in found:
        for name in [*frozen, *IMMUTABLE]:
            assert result["recourse"][name] == applicant[name]
        assert not {c["feature"] for c in result["changes"]} & set(frozen)


# -- bad input: 400 naming the row and field ------------------------------------------------------


def _without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


BAD_ROWS = {
    # case: (how the second applicant is spoiled, field named, words of the problem)
    "missing field": (lambda r: _without(r, "age"), "age", "missing"),
    "extra field": (lambda r: {**r, "favourite-colour": "blue"}, "favourite-colour", "not a feature"),
    "wrong type": (lambda r: {**r, "age": "forty"}, "age", "must be a number"),
    "unknown category": (lambda r: {**r, "workclass": "Self-Employed"}, "workclass", "unknown category"),
    "out of range": (lambda r: {**r, "age": 150}, "age", "outside the allowed range"),
    "null": (lambda r: {**r, "hours-per-week": None}, "hours-per-week", "missing a value"),
    "number for a category": (lambda r: {**r, "sex": 1}, "sex", "must be a string"),
    "fractional integer": (lambda r: {**r, "education-num": 9.5}, "education-num", "whole number"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_field_is_a_400_naming_row_and_field(client, good, case):
    spoil, field, problem = BAD_ROWS[case]
    response = post(client, [good, spoil(dict(good))])
    assert response.status_code == 400, response.text
    text = error_text(response)
    assert f"row 1: {field}: " in text and problem in text, text
    assert "row 0" not in text, "the good applicant must not be blamed"


@pytest.mark.parametrize(("literal", "value"), [("NaN", float("nan")), ("Infinity", float("inf")), ("-Infinity", float("-inf"))])
def test_non_finite_number_is_a_400_naming_row_and_field(client, good, literal, value):
    """Python's json writes NaN/Infinity as bare literals (not valid JSON, but common); BentoML's
    pydantic parser lets them through as floats, and the field check must stop them."""
    body = json.dumps({"applicants": [good, {**good, "capital-gain": value}]})
    assert literal in body
    response = client.post("/recourse", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    text = error_text(response)
    assert "row 1: capital-gain: must be a finite number" in text, text


def test_every_bad_field_is_reported_at_once(client, good):
    bad = {**_without(good, "age"), "workclass": "Self-Employed", "race": 3}
    text = error_text(post(client, [bad, bad]))
    for row in (0, 1):
        for field in ("age", "workclass", "race"):
            assert f"row {row}: {field}: " in text


def test_empty_list_is_a_400(client):
    response = post(client, [])
    assert response.status_code == 400
    assert "applicants" in error_text(response) and "empty" in error_text(response)


def test_unknown_frozen_feature_is_a_400_naming_it(client, good):
    response = post(client, [good], frozen=["age", "shoe-size"])
    assert response.status_code == 400
    text = error_text(response)
    assert "frozen" in text and "shoe-size" in text and "'age'" not in text.split("expected")[0]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"applicants": [{"age": 40}, 7]}', '"loc": ["applicants", 1]'),  # a row that is not an object
        ('{"applicants": {"age": 40}}', '"loc": ["applicants"]'),  # not a list
        ('{"rows": []}', '"loc": ["applicants"]'),  # no applicants at all
        ('{"applicants": [], "frozen": "age"}', '"loc": ["frozen"]'),
        ('{"applicants": [', "Invalid JSON"),
    ],
)
def test_malformed_request_is_a_400_saying_where(client, body, where):
    response = client.post("/recourse", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert where in error_text(response)


def test_a_bad_request_does_not_break_the_service(client, good):
    assert post(client, [{**good, "age": "forty"}]).status_code == 400
    assert client.post("/recourse", content="{", headers={"content-type": "application/json"}).status_code == 400
    response = post(client, [good])
    assert response.status_code == 200, response.text
    assert response.json()[0]["status"] in {"found", "not_found"}


# -- health ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_endpoints_answer(client, path):
    assert client.get(path).status_code == 200
