"""Property-based tests of the HTTP API: whatever a caller sends gets an answer or a 4xx, never a
5xx, and any applicant the data schema allows gets a recourse that keeps the service's promises.

Both run in-process through the ASGI app (no network) with a bounded number of examples, and keep
no Hypothesis database, so they take the same few seconds on every run and write nothing.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient

from genre.data.schema import DatasetSchema
from genre.recourse.engine import DECISION_THRESHOLD
from genre.serving.service import RecourseService

# The spec is built from the request and response models, so it is read without a running server.
# Only the recourse endpoints are fuzzed: the health checks take no input, and /metrics needs the
# Prometheus set-up of `bentoml serve` (tests/service/test_serve.py calls it there).
# One test per endpoint: schemathesis gives the tests it parametrizes one node id, and pytest-xdist
# runs only the first of tests that share an id.
API = schemathesis.openapi.from_dict(RecourseService.openapi_spec.asdict())
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def no_server_error(case: Any, app: Any) -> None:
    """Schemathesis generates bodies from the OpenAPI spec (the documented examples, then valid and
    invalid variations); ``client`` has loaded the model, and requests reach the same app without
    starting it again."""
    case.call_and_validate(session=ASGIClient(app), base_url="http://testserver", checks=[not_a_server_error])


@API.include(method="POST", path="/recourse").parametrize()
@FAST
def test_no_single_request_makes_the_service_fail(case, app, client):
    no_server_error(case, app)


@API.include(method="POST", path="/recourse_batch").parametrize()
@FAST
def test_no_batch_request_makes_the_service_fail(case, app, client):
    no_server_error(case, app)


def applicants(schema: DatasetSchema) -> st.SearchStrategy[dict[str, Any]]:
    """Any applicant the schema allows, bounds included."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, spec in schema.features.items():
        if spec.kind == "categorical":
            fields[name] = st.sampled_from(spec.categories or [])
        elif spec.kind == "integer":
            fields[name] = st.integers(int(spec.min), int(spec.max))  # type: ignore[arg-type]
        else:
            fields[name] = st.floats(spec.min, spec.max, allow_nan=False)
    return st.fixed_dictionaries(fields)


@given(data=st.data())
@settings(FAST, max_examples=50)
def test_any_allowed_applicant_gets_an_answer_that_keeps_the_promises(client, engine, limits, data):
    schema = engine.pre.schema
    applicant = data.draw(applicants(schema), label="applicant")
    frozen = data.draw(st.lists(st.sampled_from(schema.feature_names), unique=True, max_size=4), label="frozen")
    options = {
        "frozen": frozen,
        "alternatives": data.draw(st.integers(0, limits.max_alternatives), label="alternatives"),
        "selection": data.draw(st.sampled_from(["cheapest", "balanced", "most_confident"]), label="selection"),
    }
    response = client.post("/recourse", json={"applicant": applicant, **options})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["status"] == "not_needed") == (result["probability_before"] > DECISION_THRESHOLD)
    if result["status"] != "found":
        assert result["recourse"] is None and result["alternatives"] == []
        return
    fixed = [*frozen, *(n for n, s in schema.features.items() if s.immutable)]
    for option in [result, *result["alternatives"]]:
        assert option["probability_after"] > engine.settings.threshold
        assert all(option["recourse"][name] == applicant[name] for name in fixed)
