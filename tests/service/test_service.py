"""The recourse service through its ASGI app (no network, no server process): good requests get the
same answers as the library, every option does what it says, and every kind of bad input gets a
4xx that names the field (and the row) without taking the service down."""

from __future__ import annotations

import gzip
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genre.recourse.engine import DECISION_THRESHOLD
from genre.serving.answer_log import log_files
from genre.serving.answers import answer
from genre.serving.bundle import load_serve_settings
from genre.settings import ServeSettings

IMMUTABLE = ["race", "sex"]


def one(client, applicant: dict[str, Any], **options: Any):
    return client.post("/recourse", json={"applicant": applicant, **options})


def batch(client, applicants: list[dict[str, Any]], **options: Any):
    return client.post("/recourse_batch", json={"applicants": applicants, **options})


def raw_post(client, path: str, body: str | bytes):
    return client.post(path, content=body, headers={"content-type": "application/json"})


def problems(response) -> dict[tuple, str]:
    """{location: message} of a 4xx body; every 4xx of this service has the same shape."""
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    return {tuple(d["loc"]): d["msg"] for d in body["detail"]}


def check_recourse(result: dict[str, Any], applicant: dict[str, Any], threshold: float, frozen: list[str] = []) -> None:  # noqa: B006
    """What every recourse shown to a person must be: valid, honest about what changes, and
    leaving alone what may not change."""
    assert result["probability_after"] > threshold
    assert result["cost"] > 0
    proposal = result["recourse"]
    assert set(proposal) == set(applicant)
    for name in [*IMMUTABLE, *frozen]:
        assert proposal[name] == applicant[name], f"{name} changed"
    moved = {k for k in applicant if proposal[k] != applicant[k]}
    assert moved == {c["feature"] for c in result["changes"]}, "every change, and only changes, listed"
    for change in result["changes"]:
        assert (change["from"], change["to"]) == (applicant[change["feature"]], proposal[change["feature"]])


# -- statuses and the answer itself ------------------------------------------------------------------


def test_denied_applicant_gets_a_recourse_they_could_act_on(client, engine, model_tag, good):
    response = one(client, good)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model_version"] == model_tag
    assert result["status"] == "found"
    assert result["probability_before"] <= DECISION_THRESHOLD
    check_recourse(result, good, engine.settings.threshold)


def test_a_denial_comes_with_its_principal_reasons_ranked(client, engine, denied, accepted):
    """At most four reasons, each a feature the recourse changes, most important first, in the
    schema's words; the same alone as in a batch; none for an applicant who needs no recourse."""
    answers = batch(client, denied).json()["answers"]
    for applicant, result in zip(denied, answers, strict=True):
        reasons = result["reasons"]
        assert 1 <= len(reasons) <= 4, result
        if result["status"] == "found":
            assert {r["feature"] for r in reasons} <= {c["feature"] for c in result["changes"]}
        falls = [r["probability_fall"] for r in reasons]
        assert falls == sorted(falls, reverse=True)
        for r in reasons:
            spec = engine.pre.schema.features[r["feature"]]
            assert r["value"] == applicant[r["feature"]] and r["label"] == (spec.label or r["feature"])
            assert r["sentence"].startswith(f"{r['label']} is ") and "\n" not in r["sentence"]
        assert one(client, applicant).json()["reasons"] == reasons  # alone as in the batch
    assert one(client, accepted).json()["reasons"] == []


def test_every_answer_issued_is_in_the_answer_log_with_the_model_that_gave_it(client, model_tag, denied, limits):
    """With serve.answer_log set: one line per answer, the applicant as sent and the answer as given;
    a request refused with a 400 issued nothing, so it logs nothing."""

    def lines() -> list[str]:
        return [line for day in log_files(Path(limits.answer_log)) for line in day.read_text().splitlines()]

    before = len(lines())
    batch = client.post("/recourse_batch", json={"applicants": denied[:3]}).json()
    assert client.post("/recourse", json={"applicant": {**denied[0], "age": 300}}).status_code == 400
    logged = [json.loads(line) for line in lines()[before:]]
    assert [e["applicant"] for e in logged] == denied[:3]
    assert {e["model_version"] for e in logged} == {model_tag}
    assert [{k: e[k] for k in batch["answers"][0]} for e in logged] == batch["answers"]
    assert {oct(day.stat().st_mode & 0o777) for day in log_files(Path(limits.answer_log))} == {
        "0o600"
    }  # personal data: the owner's alone


def test_accepted_applicant_needs_no_recourse(client, accepted):
    result = one(client, accepted).json()
    assert result["status"] == "not_needed"
    assert result["probability_before"] > DECISION_THRESHOLD
    assert result["recourse"] is None and result["changes"] == [] and result["cost"] is None
    assert result["probability_after"] is None and result["alternatives"] == []


def test_nothing_changeable_means_not_found_never_an_invalid_recourse(client, engine, good):
    """With every feature frozen no candidate can differ from the applicant, so none can be accepted."""
    result = one(client, good, frozen=engine.pre.schema.feature_names, alternatives=2).json()
    assert result["status"] == "not_found"
    assert result["recourse"] is None and result["changes"] == [] and result["cost"] is None
    assert result["probability_after"] is None and result["alternatives"] == []


def test_service_answers_exactly_what_the_library_answers(client, engine, model_tag, denied):
    """The service adds validation and transport, nothing else: same seed, same answers; and an
    applicant gets the same answer alone as inside a batch."""
    response = batch(client, denied, alternatives=2)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == model_tag
    expected = answer(engine, pd.DataFrame(denied, columns=engine.pre.schema.feature_names), alternatives=2)
    ids = [a.pop("record_id") for a in body["answers"]]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)  # each its own record
    assert body["answers"] == [{**a, "imputed": []} for a in json.loads(json.dumps(expected))]  # nothing was missing
    alone = one(client, denied[1], alternatives=2).json()
    assert {k: v for k, v in alone.items() if k not in ("model_version", "record_id")} == body["answers"][1]


def test_requests_sent_together_are_answered_together_as_if_alone(client, engine, denied, caplog):
    """Single requests arriving within serve.coalesce_ms share one engine call per options group;
    each gets exactly the answer it gets alone, and a bad one among them is refused alone."""
    caplog.set_level(logging.DEBUG, logger="bentoml.genre.serving.coalesce")
    bodies = [{"applicant": a, "alternatives": 1} for a in denied] + [
        {"applicant": {**denied[0], "age": 300}, "alternatives": 1}
    ]
    bodies += [{"applicant": a} for a in denied[:2]]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda body: client.post("/recourse", json=body), bodies))
    assert [r.status_code for r in responses] == [200] * len(denied) + [400] + [200, 200], [r.text for r in responses]
    assert list(problems(responses[len(denied)])) == [("applicant", "age")]
    frame = pd.DataFrame(denied, columns=engine.pre.schema.feature_names)
    expected = json.loads(json.dumps(answer(engine, frame, alternatives=1) + answer(engine, frame.head(2))))
    given = [r.json() for i, r in enumerate(responses) if i != len(denied)]
    assert [{k: v for k, v in g.items() if k not in ("model_version", "record_id")} for g in given] == [
        {**a, "imputed": []} for a in expected
    ]
    sizes = [
        int(r.getMessage().split()[0])
        for r in caplog.records
        if r.getMessage().endswith("requests answered in one call")
    ]
    assert sum(sizes) == len(denied) + 2 and max(sizes) > 1, sizes


# -- options -------------------------------------------------------------------------------------


def test_alternatives_are_valid_distinct_and_cheapest_first(client, engine, test_rows, probabilities, limits):
    """Minimal answers leave fewer ways to get there (two candidates often need the same changes),
    so more applicants are asked than the few the other tests ask."""
    denied = json.loads(test_rows.iloc[np.flatnonzero(probabilities < 0.5)[:32]].to_json(orient="records"))
    answers = [
        a
        for start in range(0, len(denied), limits.max_batch)
        for a in batch(client, denied[start : start + limits.max_batch], alternatives=limits.max_alternatives).json()[
            "answers"
        ]
    ]
    shown = 0
    for result, applicant in zip(answers, denied):
        options = [result, *result["alternatives"]] if result["status"] == "found" else []
        assert len(options) <= 1 + limits.max_alternatives
        for option in options:
            check_recourse(option, applicant, engine.settings.threshold)
        costs = [o["cost"] for o in result.get("alternatives", [])]
        assert costs == sorted(costs), (
            "the alternatives cheapest first (after the pick, which is the same without them)"
        )
        moved = [frozenset(c["feature"] for c in o["changes"]) for o in options]
        assert len(set(moved)) == len(moved), "each alternative moves a different set of features"
        shown += len(options) - 1
    assert shown > 0, f"no alternatives for any of {len(denied)} denied applicants"


def test_most_confident_rule_trades_cost_for_confidence(client, denied):
    cheapest = batch(client, denied, selection="cheapest", alternatives=2).json()["answers"]
    confident = batch(client, denied, selection="most_confident", alternatives=2).json()["answers"]
    pairs = [(c, m) for c, m in zip(cheapest, confident) if c["status"] == m["status"] == "found"]
    assert pairs
    for c, m in pairs:
        assert m["probability_after"] >= c["probability_after"] and m["cost"] >= c["cost"]
        ranked = [m["probability_after"], *(a["probability_after"] for a in m["alternatives"])]
        assert ranked == sorted(ranked, reverse=True), "most confident first"


def test_frozen_features_are_left_alone(client, engine, denied):
    frozen = ["age", "fnlwgt"]
    answers = batch(client, denied, frozen=frozen, alternatives=2).json()["answers"]
    found = [(a, d) for a, d in zip(answers, denied) if a["status"] == "found"]
    assert found, f"no recourse found with {frozen} frozen: {answers}"
    for result, applicant in found:
        for option in [result, *result["alternatives"]]:
            check_recourse(option, applicant, engine.settings.threshold, frozen)


def test_a_request_may_tighten_max_change(client, engine, denied):
    """Ages never move more than the person allows, in every answer and alternative; without
    the limit the same model moves them further (or the limit would not be a test)."""
    limit = 1
    free = batch(client, denied, alternatives=2).json()["answers"]
    tight = batch(client, denied, alternatives=2, max_change={"age": limit}).json()["answers"]

    def age_moves(answers: list[dict]) -> list[int]:
        return [
            abs(o["recourse"]["age"] - d["age"])
            for a, d in zip(answers, denied)
            if a["status"] == "found"
            for o in [a, *a["alternatives"]]
        ]

    assert any(a["status"] == "found" for a in tight)
    assert max(age_moves(tight)) <= limit
    assert max(age_moves(free)) > limit
    for result, applicant in zip(tight, denied):
        if result["status"] == "found":
            check_recourse(result, applicant, engine.settings.threshold)


def test_limits_travel_with_the_model(model_tag, limits):
    import bentoml

    assert load_serve_settings(bentoml.models.get(model_tag).path) == limits


def test_a_bundle_from_before_limits_travelled_gets_the_defaults(tmp_path):
    assert load_serve_settings(tmp_path) == ServeSettings()


# -- bad input: a 4xx naming the field (and the row) ------------------------------------------------


def _without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


BAD_FIELDS = {
    # case: (how an applicant is spoiled, field named, words of the problem)
    "missing field": (lambda r: _without(r, "age"), "age", "missing"),
    "extra field": (lambda r: {**r, "favourite-colour": "blue"}, "favourite-colour", "not a feature"),
    "wrong type": (lambda r: {**r, "age": "forty"}, "age", "must be a number"),
    "bool for a number": (lambda r: {**r, "age": True}, "age", "must be a number"),
    "unknown category": (lambda r: {**r, "workclass": "Self-Employed"}, "workclass", "unknown category"),
    "above the bounds": (lambda r: {**r, "age": 150}, "age", "outside the allowed range"),
    "below the bounds": (lambda r: {**r, "hours-per-week": 0}, "hours-per-week", "outside the allowed range"),
    "huge integer": (lambda r: {**r, "fnlwgt": 10**400}, "fnlwgt", "outside the allowed range"),
    "null": (lambda r: {**r, "hours-per-week": None}, "hours-per-week", "missing a value"),
    "number for a category": (lambda r: {**r, "sex": 1}, "sex", "must be a string"),
    "fractional integer": (lambda r: {**r, "education-num": 9.5}, "education-num", "whole number"),
}


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_bad_field_in_a_batch_names_row_and_field(client, good, case):
    spoil, field, words = BAD_FIELDS[case]
    response = batch(client, [good, spoil(dict(good))])
    assert response.status_code == 400, response.text
    found = problems(response)
    assert list(found) == [("applicants", 1, field)], found
    assert words in found[("applicants", 1, field)]


@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_bad_field_of_one_applicant_names_the_field(client, good, case):
    spoil, field, words = BAD_FIELDS[case]
    found = problems(one(client, spoil(dict(good))))
    assert list(found) == [("applicant", field)] and words in found[("applicant", field)], found


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_number_is_a_400_naming_row_and_field(client, good, literal):
    """NaN/Infinity literals are not JSON, but common (Python writes them); they parse as floats
    and the field check must stop them."""
    body = json.dumps(
        {"applicants": [good, {**good, "capital-gain": float(literal.lower().replace("infinity", "inf"))}]}
    )
    assert literal in body
    response = raw_post(client, "/recourse_batch", body)
    assert response.status_code == 400, response.text
    assert "must be a finite number" in problems(response)[("applicants", 1, "capital-gain")]


def test_every_problem_is_reported_at_once(client, good):
    bad = {**_without(good, "age"), "workclass": "Self-Employed", "race": 3}
    found = problems(batch(client, [bad, good, bad], frozen=["shoe-size"]))
    expected = {("applicants", row, field) for row in (0, 2) for field in ("age", "workclass", "race")}
    assert set(found) == expected | {("frozen", 0)}


@pytest.mark.parametrize(
    ("options", "where", "words"),
    [
        ({"frozen": ["age", "shoe-size"]}, ("frozen", 1), "unknown feature 'shoe-size'"),
        ({"alternatives": -1}, ("alternatives",), "greater than or equal to 0"),
        ({"alternatives": "two"}, ("alternatives",), "valid integer"),
        ({"alternatives": True}, ("alternatives",), "valid integer"),  # options are as strict as fields
        ({"alternatives": "2"}, ("alternatives",), "valid integer"),
        ({"alternatives": 1.0}, ("alternatives",), "valid integer"),
        ({"frozen": [1]}, ("frozen", 0), "valid string"),
        ({"selection": 1}, ("selection",), "'balanced' or 'most_confident'"),
        ({"selection": "fastest"}, ("selection",), "'balanced' or 'most_confident'"),
        ({"frozen": "age"}, ("frozen",), "valid array"),
        ({"colour": "blue"}, ("colour",), "Extra inputs"),
        ({"max_change": {"shoe-size": 1}}, ("max_change", "shoe-size"), "unknown feature 'shoe-size'"),
        ({"max_change": {"workclass": 1}}, ("max_change", "workclass"), "an unordered category has no distance"),
        ({"max_change": {"age": 0}}, ("max_change", "age"), "greater than 0"),
        ({"max_change": {"age": "2"}}, ("max_change", "age"), "valid number"),
        ({"max_change": ["age"]}, ("max_change",), "Input should be an object"),
    ],
)
def test_bad_option_names_it(client, good, options, where, words):
    for response in (one(client, good, **options), batch(client, [good], **options)):
        assert response.status_code == 400, response.text
        found = problems(response)
        assert where in found and words in found[where], found


def test_more_alternatives_than_the_limit_is_a_400(client, good, limits):
    found = problems(one(client, good, alternatives=limits.max_alternatives + 1))
    assert f"at most {limits.max_alternatives} alternatives" in found[("alternatives",)]


def test_empty_batch_is_a_400(client):
    found = problems(batch(client, []))
    assert "at least 1 item" in found[("applicants",)]


def test_batch_over_the_limit_is_a_400_saying_the_limit(client, good, limits):
    found = problems(batch(client, [good] * (limits.max_batch + 1)))
    assert f"at most {limits.max_batch} applicants" in found[("applicants",)]


def test_body_over_the_limit_is_a_413(client, limits):
    response = raw_post(client, "/recourse_batch", b" " * (limits.max_body_bytes + 1))
    assert response.status_code == 413
    assert "max_body_bytes" in problems(response)[("body",)]


def test_body_over_the_limit_without_a_declared_length_is_a_413(client, limits):
    def chunks():
        for _ in range(3):
            yield b" " * (limits.max_body_bytes // 2)

    response = client.post("/recourse_batch", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("content_type", ["multipart/form-data", "text/plain", "application/vnd.bentoml+pickle"])
def test_a_body_that_is_not_json_is_a_415(client, good, content_type):
    body = json.dumps({"applicant": good})
    response = client.post("/recourse", content=body, headers={"content-type": content_type})
    assert response.status_code == 415
    assert "application/json" in problems(response)[("body",)]


@pytest.mark.parametrize(
    ("path", "body", "where", "words"),
    [
        ("/recourse_batch", '{"applicants": [', (), "Invalid JSON"),
        ("/recourse", "", ("applicant",), "Field required"),  # BentoML reads an empty body as {}
        ("/recourse_batch", '{"applicants": [{"age": 40}, 7]}', ("applicants", 1), "should be an object"),
        ("/recourse_batch", '{"applicants": {"age": 40}}', ("applicants",), "valid array"),
        ("/recourse_batch", '{"rows": []}', ("applicants",), "Field required"),
        ("/recourse", '{"applicant": [1, 2]}', ("applicant",), "should be an object"),
        ("/recourse", "[]", (), "should be an object"),
    ],
)
def test_malformed_request_is_a_400_saying_where(client, path, body, where, words):
    response = raw_post(client, path, body)
    assert response.status_code == 400, response.text
    found = problems(response)
    assert where in found and words in found[where], found


@pytest.mark.parametrize(
    ("path", "template", "key"),
    [
        ("/recourse", '{{"applicant": {{"age": 300, {rest}, "age": 40}}}}', "age"),
        ("/recourse", '{{"alternatives": 5, "applicant": {{{rest}, "age": 40}}, "alternatives": 0}}', "alternatives"),
        ("/recourse_batch", '{{"applicants": [{{{rest}, "age": 40}}, {{{rest}, "age": 40, "sex": "Male"}}]}}', "sex"),
        (
            "/recourse_batch",
            '{{"applicants": [{{{rest}, "age": 40}}], "selection": "cheapest", "selection": "most_confident"}}',
            "selection",
        ),
    ],
)
def test_a_key_sent_twice_is_a_400_naming_it(client, good, path, template, key):
    """JSON parsers keep the last of two equal keys; the service refuses to guess which was meant."""
    rest = json.dumps({k: v for k, v in good.items() if k != "age"})[1:-1]
    body = template.format(rest=rest)
    response = raw_post(client, path, body)
    assert response.status_code == 400, response.text
    assert problems(response) == {("body",): f"the key '{key}' appears twice in one object; send each key once"}


@pytest.mark.parametrize("path", ["/recourse", "/recourse_batch"])
def test_a_body_nested_too_deep_is_a_400_before_any_parsing(client, path):
    """A thousand nested arrays once hung a worker in the parser's recursion and then answered 500."""
    response = raw_post(client, path, '{"applicant": ' + "[" * 1000 + "]" * 1000 + "}")
    assert response.status_code == 400, response.text
    assert problems(response) == {("body",): "the body nests arrays and objects more than 16 deep; a request needs 3"}


def test_nesting_is_counted_outside_strings_only() -> None:
    from genre.serving.front_door import nesting_depth

    assert nesting_depth(b'{"a": [1, {"b": "[[[[ \\" {{"}]}') == 3  # brackets and an escaped quote in a string
    assert nesting_depth(b"[" * 40 + b"]" * 40) == 40
    assert nesting_depth(b"") == 0


def test_a_gzip_body_is_answered_like_the_plain_one(client, good):
    body = json.dumps({"applicant": good, "alternatives": 1}).encode()
    plain = raw_post(client, "/recourse", body)
    zipped = client.post(
        "/recourse",
        content=gzip.compress(body),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert plain.status_code == zipped.status_code == 200, zipped.text
    assert {**zipped.json(), "record_id": None} == {**plain.json(), "record_id": None}  # each its own record


def test_a_gzip_body_over_the_limit_once_decoded_is_a_413(client, limits):
    """A gzip bomb: a few kilobytes that decode to more than the limit are refused, not decoded."""
    bomb = gzip.compress(b'{"applicants": [' + b" " * (limits.max_body_bytes * 4) + b"]}")
    assert len(bomb) < limits.max_body_bytes / 100
    response = client.post(
        "/recourse_batch", content=bomb, headers={"content-type": "application/json", "content-encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "after gzip decoding" in problems(response)[("body",)]


@pytest.mark.parametrize(
    ("body", "words"),
    [(b"not gzip at all", "not valid gzip"), (gzip.compress(b'{"applicant": {}}', mtime=0)[:-12], "cut short")],
)  # mtime: the same test id in every process
def test_a_body_that_is_not_the_gzip_it_claims_is_a_400(client, body, words):
    response = client.post(
        "/recourse", content=body, headers={"content-type": "application/json", "content-encoding": "gzip"}
    )
    assert response.status_code == 400
    assert words in problems(response)[("body",)]


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, gzip", "zstd"])
def test_an_encoding_other_than_gzip_is_a_415_naming_it(client, good, encoding):
    body = json.dumps({"applicant": good}).encode()
    response = client.post(
        "/recourse", content=body, headers={"content-type": "application/json", "content-encoding": encoding}
    )
    assert response.status_code == 415
    assert f"not Content-Encoding '{encoding}'" in problems(response)[("body",)]


FORGED = r"x\n2026-11-29T21:11:11+0000 [ERROR] [entry_service:forged] Forged\r\u001b[31mred\u0000nul\u2028"


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/recourse", '{{"applicant": {{"{forged}": 1}}}}', "application/json"),
        ("/recourse", '{{"applicant": {{}}, "{forged}": 1}}', "application/json"),
        ("/recourse_batch", '{{"applicants": [{{}}], "frozen": ["{forged}"]}}', "application/json"),
        ("/recourse", '{{"applicant": {{}}, "{forged}": 1, "{forged}": 2}}', "application/json"),
        ("/recourse", "{{}}", "text/{forged}"),
    ],
)
def test_nothing_a_caller_sends_can_forge_or_break_a_log_line(client, caplog, path, body, content_type):
    forged = FORGED if content_type == "application/json" else "plain\x1bx"
    headers = {"content-type": content_type.format(forged=forged)}
    with caplog.at_level(logging.INFO):
        response = client.post(path, content=body.format(forged=forged), headers=headers)
    assert 400 <= response.status_code < 500
    [complaint] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    message = complaint.getMessage()
    assert message.isprintable(), repr(message)  # no newline, carriage return, escape, NUL or line separator


def test_a_bad_request_is_one_warning_line_and_the_service_keeps_serving(client, good, caplog):
    with caplog.at_level(logging.INFO):
        assert one(client, {**good, "age": "forty"}).status_code == 400
        assert raw_post(client, "/recourse", "{").status_code == 400
    complaints = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(complaints) == 2 and all(r.levelno == logging.WARNING and not r.exc_info for r in complaints), complaints
    assert "applicant.age: must be a number" in complaints[0].getMessage()
    response = one(client, good)
    assert response.status_code == 200 and response.json()["status"] == "found"


# -- operations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_endpoints_answer(client, path):
    assert client.get(path).status_code == 200


def test_openapi_documents_both_endpoints_with_examples(client):
    spec = client.get("/docs.json").json()
    for path in ("/recourse", "/recourse_batch"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["example"] and {"alternatives", "frozen", "selection"} <= set(body["properties"])
    answer = spec["components"]["schemas"]["RecourseResponseIODescriptor"]["properties"]
    assert "reasons" in answer and "Reason" in spec["components"]["schemas"]  # the principal reasons, documented
    assert "genre record" in answer["record_id"]["description"]  # and the record each answer is
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert "googletagmanager" not in page.text
