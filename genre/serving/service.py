"""The recourse model behind HTTP: ``POST /recourse`` for one applicant, ``POST /recourse_batch``
for many, answered in the applicants' own units and signed with the model version that answered.

Why the pieces look the way they do:

* Applicants are plain JSON objects in the request models (``dict[str, Any]``) and are checked
  field by field by ``genre.serving.applicants.check_applicants``, the check the CLI uses. The feature set
  is only known from the trained model, which is loaded after BentoML has built the request models
  from this module, and the same service class serves whichever dataset its bento was trained on;
  a per-field check also reports every problem of a row at once, named by row, field and problem
  the same way everywhere. ``/docs`` shows the fields through an example applicant; the exact
  schema is in the model's metadata (``bentoml models get genre-recourse:<version>``).
* Every input problem becomes a pydantic ``ValidationError``, so BentoML answers it exactly like a
  malformed request: HTTP 400 with ``{"error": ..., "detail": [{"type", "loc", "msg"}]}``, where
  ``loc`` is e.g. ``["applicants", 3, "age"]``. One error shape for every 4xx: a body over the
  size limit gets it with 413, a body that is not JSON with 415 (``RequestGate``). A caller's
  mistake is logged as one WARNING line, not as a server error with a traceback
  (``QuietClientErrors``).
* ``/recourse`` is a coroutine, answered on the event loop: one applicant is about two
  milliseconds of CPU, less than handing the request to a worker thread and back costs, and the
  GIL lets one request compute at a time anyway (measured: docs/decisions.md).
  Requests with the same options that arrive within ``serve.coalesce_ms`` of each other are
  answered in one engine call (``genre.serving.coalesce``): a lender's own model costs per call
  more than per row, so for it a group keeps waiting while requests keep arriving, up to
  ``serve.coalesce_max_ms``.
  ``/recourse_batch``, up to a few tenths of a second, runs in BentoML's thread pool, so it does
  not hold up the event loop, health checks included.
* Limits (``serve`` in params.yaml) travel in the model bundle, so a bento is rolled out and back
  with the limits it was tested with.

Importing this module only defines the class: the model store is first touched when BentoML
creates the service instance, so tests and builds can point ``BENTOML_HOME`` anywhere beforehand.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import re
import zlib
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, cast

import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from bentoml.models import BentoModel
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError, ValidationError
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genre.data.schema import DatasetSchema
from genre.messages import escaped, one_line
from genre.offline import go_offline
from genre.processes import die_with_parent
from genre.recourse.engine import RecourseEngine, Rule, Status
from genre.serving.answer_log import AnswerLog, LogFailed, answer_log_folder
from genre.serving.answers import SEED, answer
from genre.serving.applicants import FieldError, check_applicants
from genre.serving.bundle import RECOURSE, load_bundle, load_serve_settings
from genre.serving.coalesce import Coalescer
from genre.serving.follow import Follower, followed_project
from genre.serving.keys import KEYS_ENV, KeyRing, Quotas
from genre.serving.ops_port import OPS_HEADER, OPS_PATHS, OPS_TOKEN_ENV
from genre.serving.records import Caller, current_caller, new_id, record, set_caller
from genre.serving.slow_clients import install_header_timeout
from genre.settings import ServeSettings

MODEL_NAME = "genre-recourse"
MODEL_TAG = f"{MODEL_NAME}:latest"
SERVICE_NAME = "genre-recourse-service"
MAX_LISTED_ERRORS = 50  # a whole batch of bad rows must not turn into a megabyte error body

# BentoML's server processes configure only the "bentoml" logger tree at INFO (root stays at
# WARNING), so the lines about the served model and bad requests must live under it to be seen.
logger = logging.getLogger(f"bentoml.{__name__}")

# An applicant of the embedded Adult dataset, for /docs; a model trained on another schema
# expects that schema's features instead.
EXAMPLE_APPLICANT: dict[str, Any] = {
    "age": 40, "workclass": "Private", "fnlwgt": 353432, "education-num": 6, "marital-status": "Non-Married",
    "occupation": "Managerial-Specialist", "relationship": "Non-Husband", "race": "White", "sex": "Female",
    "capital-gain": 0, "capital-loss": 0, "hours-per-week": 35, "native-country": "US",
}  # fmt: skip

Applicant = Annotated[
    dict[str, Any],
    Field(
        description="One person in raw units: exactly the model's features, no more, no fewer; numbers as JSON "
        "numbers inside the schema's bounds, categories as one of the schema's strings.",
        examples=[EXAMPLE_APPLICANT],
    ),
]
FeatureValue = str | int | float
Location = tuple[str | int, ...]
Problem = tuple[Location, str]  # where in the request, what is wrong there


# -- request and response models -------------------------------------------------------------------


class Options(BaseModel):
    """What one request may ask for, on top of the applicants. Strict like the applicants' own
    fields: ``true`` is not 1 and ``"2"`` is not 2."""

    model_config = ConfigDict(extra="forbid", strict=True)

    alternatives: int = Field(
        0,
        ge=0,
        description="Further recourses to return besides the chosen one (at most serve.max_alternatives), "
        "each moving a different set of features, in the selection rule's order.",
    )
    frozen: list[str] = Field(
        default_factory=list,
        description="Features this person will not change, on top of the immutable ones.",
        examples=[["hours-per-week"]],
    )
    max_change: dict[str, float] = Field(
        default_factory=dict,
        description="Per feature, the most this person would move it, in its own units (steps for an ordered category; "
        "whole units for an integer): only tightens the model's own max_change. For number and ordered features.",
        examples=[{"age": 2}],
    )
    selection: Rule | None = Field(
        None,
        description="Which accepted candidate to return: the cheapest, the most confident, or balanced "
        "(the highest probability minus cost per feature); "
        "left out, the model's own rule (the one evaluate chose under recourse.selection: auto, "
        "or the one set, when it was packaged).",
    )


class RecourseRequest(Options):
    # "example", not "examples": BentoML keeps only OpenAPI 3.0 keywords at the top of a request body.
    model_config = ConfigDict(
        json_schema_extra={"example": {"applicant": EXAMPLE_APPLICANT, "alternatives": 2, "frozen": ["hours-per-week"]}}
    )

    applicant: Applicant


class BatchRequest(Options):
    model_config = ConfigDict(
        json_schema_extra={"example": {"applicants": [EXAMPLE_APPLICANT], "selection": "cheapest"}}
    )

    applicants: list[Applicant] = Field(min_length=1, description="At most serve.max_batch applicants.")


class Change(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    feature: str
    from_: FeatureValue = Field(alias="from")
    to: FeatureValue


class Recourse(BaseModel):
    recourse: dict[str, FeatureValue] = Field(description="The whole profile after the changes, raw units.")
    changes: list[Change] = Field(description="Only the features that change, from what to what.")
    cost: float = Field(description="L1 in the scaled feature space; a changed category costs 1.")
    probability_after: float = Field(description="The classifier's probability of the favourable decision after.")


class Reason(BaseModel):
    """One principal reason for the denial: a feature the decision turns on for this applicant."""

    feature: str
    label: str = Field(description="The feature as a person reads it (the schema's label).")
    value: FeatureValue = Field(description="The applicant's value.")
    needed: FeatureValue = Field(description="The value the recourse (or, when none was found, the best try) needs.")
    probability_fall: float = Field(
        description="How far the probability of approval falls when this change alone is undone: the ranking."
    )
    sentence: str = Field(description="The reason in one plain sentence, in the schema's labels and units.")


class Answer(BaseModel):
    """One applicant's answer. Only ``found`` carries a recourse: ``not_needed`` means the
    classifier already decides favourably, ``not_found`` that no sampled candidate cleared the
    model's threshold; neither is ever dressed up as a recourse."""

    status: Status
    probability_before: float
    recourse: dict[str, FeatureValue] | None
    changes: list[Change]
    cost: float | None
    probability_after: float | None
    alternatives: list[Recourse]
    reasons: list[Reason] = Field(
        default_factory=list,
        description="For a denied applicant (found or not_found), at most four principal reasons for the denial, "
        "most important first: the features the decision turns on, read from the recourse. Empty when not_needed.",
    )
    imputed: list[str] = Field(
        default_factory=list,
        description="Features the request left out (or sent as null) that the model fills with the training data's "
        "value (the schema's missing: median or most_frequent); the answer is for the person with those values.",
    )
    record_id: str | None = Field(
        None,
        description="This answer's record in the answer log (genre record show|replay|forget); "
        "null when the service keeps no log.",
    )


class RecourseResponse(Answer):
    model_version: str = Field(description="The model that answered, as name:version in the BentoML store.")


class BatchResponse(BaseModel):
    model_version: str = Field(description="The model that answered, as name:version in the BentoML store.")
    answers: list[Answer] = Field(description="One per applicant, in request order.")


@dataclass
class Served:
    """One model version as the service answers with it: swapped whole when production moves."""

    version: str
    engine: RecourseEngine
    limits: ServeSettings
    answer_log: AnswerLog | None
    provenance: dict[str, Any]  # what each record names besides the model version: data version, settings hash, seed
    coalescer: Coalescer[Checked, Answer] | None = None


@dataclass(frozen=True)
class Checked:
    """One /recourse request whose applicant passed the checks, waiting to be answered."""

    request: RecourseRequest
    frame: pd.DataFrame
    imputed: list[list[str]]
    caller: Caller


# -- errors --------------------------------------------------------------------------------------


def invalid(problems: list[Problem], title: str) -> ValidationError:
    """Input problems as the ValidationError BentoML turns into a 400 naming each location."""
    if len(problems) > MAX_LISTED_ERRORS:
        rest = len(problems) - MAX_LISTED_ERRORS
        problems = [*problems[:MAX_LISTED_ERRORS], ((title,), f"... and {rest} more problems")]
    return ValidationError.from_exception_data(
        title,
        [
            {"type": PydanticCustomError("invalid_input", "{problem}", {"problem": p}), "loc": loc, "input": None}
            for loc, p in problems
        ],
    )


def field_problems(errors: Iterable[FieldError], prefix: tuple[str, ...], by_row: bool) -> list[Problem]:
    """Located under ``prefix`` (and the row number, in a batch) as the request spelled them."""
    return [((*prefix, *((e.row,) if by_row else ()), e.field), e.problem) for e in errors]


def option_problems(options: Options, schema: DatasetSchema, max_alternatives: int) -> list[Problem]:
    """What the request models cannot check alone: names of this model's features, this model's limits."""
    features = schema.feature_names
    unknown = f"unknown feature {{}}; expected one of {features}"
    problems: list[Problem] = [
        (("frozen", i), unknown.format(one_line(repr(name))))
        for i, name in enumerate(options.frozen)
        if name not in schema.features
    ]
    for name, limit in options.max_change.items():
        spec = schema.features.get(name)
        if spec is None:
            problems.append((("max_change", name), unknown.format(one_line(repr(name)))))
        elif spec.kind == "categorical" and not spec.ordered:
            problems.append((("max_change", name), "an unordered category has no distance to limit; freeze it instead"))
        elif not limit > 0:  # NaN fails this too
            problems.append((("max_change", name), f"must be greater than 0, got {limit}"))
    if options.alternatives > max_alternatives:
        too_many = (
            f"at most {max_alternatives} alternatives per applicant (serve.max_alternatives), "
            f"got {options.alternatives}"
        )
        problems.append((("alternatives",), too_many))
    return problems


class QuietClientErrors(logging.Filter):
    """Turns BentoML's "Exception on /path" ERROR record with a traceback into one WARNING line when
    the exception is the caller's fault (a validation error or a 4xx), or a 503 whose cause was
    logged once already (the answer log's disk): a bad request must not look like a broken server
    in the logs, and a flood of them must not fill the disk with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            status, text = (
                400,
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)),
            )
        elif isinstance(exc, BentoMLException) and (400 <= exc.error_code < 500 or exc.error_code == 503):
            status, text = int(exc.error_code), str(exc)
        else:
            return True
        where = one_line(record.getMessage().removeprefix("Exception on "), 200)
        record.msg, record.args = "%s -> HTTP %d: %s", (where, status, one_line(text, 500))
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


class OneLineRecords(logging.Filter):
    """On the log handlers: a record's message is written as one line whatever a caller put in it
    (a path, a header, a key reaching a library's log line), so no request can forge a line. A
    traceback, ours, is still printed whole: it comes from ``exc_info``, not the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.isprintable():
            record.msg, record.args = escaped(message), ()
        return True


OTHER_PATHS = "other"  # the one metrics label every path the service does not serve shares
SERVED_ELSEWHERE = frozenset({"/", "/docs", "/docs.json", "/metrics", "/healthz", "/livez", "/readyz"})


class KnownEndpoints:
    """A Prometheus metric whose ``endpoint`` label is a route the service serves, or ``other``:
    BentoML labels each request by its raw path, so every random path a caller tries would be a
    new series, and /metrics (and each scrape) would grow without bound."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.known = SERVED_ELSEWHERE | set(bentoml.server_context.service_routes)  # set before the first request

    def labels(self, **labels: Any) -> Any:
        if labels.get("endpoint") is not None and labels["endpoint"] not in self.known:
            labels["endpoint"] = OTHER_PATHS
        return self.metric.labels(**labels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metric, name)


def install_metrics_guard() -> None:
    """Once per worker: BentoML's request metrics labelled by known routes only (``KnownEndpoints``).
    BentoML offers no setting for it, so its traffic middleware's set-up is wrapped; the bento pins
    the BentoML version this was written against, and tests/service/test_serve.py checks it."""
    from bentoml._internal.server.http import instruments

    middleware = instruments.RunnerTrafficMetricsMiddleware
    if getattr(middleware.__call__, "guarded", False):
        return
    original = middleware.__call__

    async def call(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._is_setup:  # lazily, on the first request: often a readiness probe before the model loads
            self._setup()
        for name in ("metrics_request_duration", "metrics_request_total", "metrics_request_in_progress"):
            if not isinstance(getattr(self, name), KnownEndpoints):
                setattr(self, name, KnownEndpoints(getattr(self, name)))
        await original(self, scope, receive, send)

    call.guarded = True  # type: ignore[attr-defined]
    middleware.__call__ = call  # type: ignore[method-assign]


def install_log_filters() -> None:
    """Once per worker: client errors as one WARNING line, every record as one line."""
    client_errors = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, QuietClientErrors) for f in client_errors.filters):
        client_errors.addFilter(QuietClientErrors())
    for handler in {*logging.getLogger("bentoml").handlers, *logging.getLogger().handlers}:
        if not any(isinstance(f, OneLineRecords) for f in handler.filters):
            handler.addFilter(OneLineRecords())


# -- what gets through the door ----------------------------------------------------------------------


class RequestGate:
    """Refuses a POST before anything parses it when its body is not JSON (HTTP 415: BentoML would
    otherwise try a multipart or other decoder on it), is encoded other than gzip (415), is over
    the served model's ``serve.max_body_bytes`` (413), or names a key twice in one object (400:
    JSON parsers silently keep the last, so ``{"age": 300, "age": 40}`` would be answered as 40).
    The declared length is checked first, then the body is read up to the limit, so a client that
    declares no length cannot slip past; a gzip body is decoded only up to the limit too, so a
    small body cannot expand into a large one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        token = os.environ.get(OPS_TOKEN_ENV)  # health and metrics only through the ops port (genre.serving.ops_port)
        self.ops_token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.ops_token is not None and scope["type"] == "http" and scope["path"] in OPS_PATHS:
            given = dict(scope["headers"]).get(OPS_HEADER.encode(), b"")
            if not hmac.compare_digest(given, self.ops_token):
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"] == "/":
            await HTMLResponse(DOCS_PAGE)(scope, receive, send)  # BentoML's own page loads a tag manager
            return
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        service = bentoml.get_current_service()
        request_id, key = new_id(), None
        send = _with_request_id(send, request_id)
        if service.keys is not None:
            checked = service.keys.check(presented_key(headers))
            if checked.key is None or checked.verdict != "ok":
                await refuse(scope, receive, send, *KEY_REFUSALS[checked.verdict])
                return
            key = checked.key
        set_caller(Caller(key_id=key.id if key else None, request_id=request_id))
        media_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if media_type != b"application/json":
            given = one_line(repr(media_type.decode("latin-1")))
            await refuse(
                scope, receive, send, 415, "unsupported_media_type", f"send the body as application/json, not {given}"
            )
            return
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in (b"identity", *GZIP):
            given = one_line(repr(encoding.decode("latin-1")))
            await refuse(
                scope,
                receive,
                send,
                415,
                "unsupported_encoding",
                f"send the body as is or gzip-encoded, not Content-Encoding {given}",
            )
            return
        limit = service.served.limits.max_body_bytes
        too_large = f"the request body is over {limit} bytes (serve.max_body_bytes); send fewer applicants per request"
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await refuse(scope, receive, send, 413, "too_large", too_large)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nobody to answer, nothing failed
                logger.info("%s [POST]: the client left before its request was whole", one_line(scope["path"], 200))
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await refuse(scope, receive, send, 413, "too_large", too_large)
                return
        if encoding in GZIP:
            body, problem = gunzip(body, limit)
            if problem == "too_large":
                await refuse(scope, receive, send, 413, "too_large", too_large + " (after gzip decoding)")
                return
            if problem:
                await refuse(scope, receive, send, 400, "invalid_encoding", problem)
                return
            kept = [(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")]
            scope = {**scope, "headers": kept + [(b"content-length", str(len(body)).encode())]}
        if nesting_depth(body) > MAX_NESTING:
            await refuse(
                scope,
                receive,
                send,
                400,
                "too_deep",
                f"the body nests arrays and objects more than {MAX_NESTING} deep; a request needs 3",
            )
            return
        parsed, twice = read_json(body)
        if twice is not None:
            await refuse(
                scope,
                receive,
                send,
                400,
                "duplicate_key",
                f"the key {one_line(repr(twice))} appears twice in one object; send each key once",
            )
            return
        over = service.quotas.charge(key, applicants_in(parsed)) if key is not None else None
        if over is not None:
            wait, said = over
            retry = {} if math.isinf(wait) else {"retry-after": str(int(wait))}
            await refuse(scope, receive, send, 429, "too_many", f"over {said}; try again later", retry)
            return
        await self.app(scope, _replay({"type": "http.request", "body": body, "more_body": False}, receive), send)


GZIP = (b"gzip", b"x-gzip")
# The OpenAPI page at / (and /docs): BentoML's bundled Swagger UI, from this server only. BentoML's
# own page also loads a third-party tag manager, which an offline service must not.
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>GenRe recourse service</title>
<link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css">
<link rel="stylesheet" type="text/css" href="./static_content/index.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
"""
MAX_NESTING = 16  # a request nests 3 deep; JSON parsers recurse per level, so depth is refused before parsing
_ESCAPED = re.compile(rb"\\.", re.DOTALL)  # a backslash and the character it escapes, inside a JSON string
_QUOTE, _OPENING, _CLOSING = ord('"'), np.frombuffer(b"[{", dtype=np.uint8), np.frombuffer(b"]}", dtype=np.uint8)


def nesting_depth(body: bytes) -> int:
    """How deep ``body``'s arrays and objects nest, counted without parsing it (a hostile body
    cannot exhaust a parser's recursion) in time linear in its length: with escapes blanked out,
    a bracket after an odd number of quotes is inside a string and does not count."""
    shape = np.frombuffer(_ESCAPED.sub(b"__", body), dtype=np.uint8)
    outside = np.cumsum(shape == _QUOTE) % 2 == 0
    steps = (np.isin(shape, _OPENING).astype(np.int32) - np.isin(shape, _CLOSING)) * outside
    return int(np.cumsum(steps).max(initial=0))


def gunzip(body: bytes, limit: int) -> tuple[bytes, str | None]:
    """-> (decoded body, problem): ``"too_large"`` once the decoded body passes ``limit``, which is
    all that gets decoded, or what is wrong with the encoding."""
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        decoded = decoder.decompress(body, limit + 1)
    except zlib.error:
        return b"", "the body is declared gzip-encoded (Content-Encoding: gzip) but is not valid gzip"
    if len(decoded) > limit:
        return b"", "too_large"
    if not decoder.eof:
        return b"", "the gzip-encoded body is cut short"
    return decoded, None


KEY_REFUSALS: dict[str, tuple[int, str, str, dict[str, str]]] = {
    "missing": (
        401,
        "no_key",
        "this service answers callers with an API key: send Authorization: Bearer <key>",
        {"www-authenticate": "Bearer"},
    ),
    "unknown": (401, "unknown_key", "this API key is not one of the service's", {"www-authenticate": "Bearer"}),
    "revoked": (403, "revoked_key", "this API key was revoked", {}),
}


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    bearer = headers.get(b"authorization", b"").decode("latin-1").strip()
    if bearer[:7].lower() == "bearer ":
        return bearer[7:].strip() or None
    return headers.get(b"x-api-key", b"").decode("latin-1").strip() or None


def applicants_in(body: Any) -> int:
    """How many applicants a request asks about (what a key's rate and quota count)."""
    if isinstance(body, dict) and isinstance(body.get("applicants"), list):
        return max(len(body["applicants"]), 1)
    return 1


def _with_request_id(send: Send, request_id: str) -> Send:
    """``send`` that names the request in its response (``X-Request-ID``, as the record does)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
        await send(message)

    return sending


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


def read_json(body: bytes) -> tuple[Any, str | None]:
    """-> (``body`` parsed, None), or (None, the first key named twice in one of its objects); a
    body that is not JSON is (None, None), left to the request models, which say where it breaks."""
    try:
        return json.loads(body, object_pairs_hook=_refuse_repeats), None
    except _RepeatedKey as repeat:
        return None, repeat.key
    except ValueError:  # not JSON (or not UTF-8): reported by the request models
        return None, None


async def refuse(
    scope: Scope, receive: Receive, send: Send, status: int, kind: str, msg: str, headers: dict[str, str] | None = None
) -> None:
    """The same error body as every 400 of this service, naming the body as the problem."""
    logger.warning("%s [POST] -> HTTP %d: %s", one_line(scope["path"], 200), status, msg)
    response = JSONResponse(
        {"error": HTTPStatus(status).phrase, "detail": [{"type": kind, "loc": ["body"], "msg": msg}]},
        status_code=status,
    )
    response.headers["connection"] = "close"  # the rest of an unread body is not worth reading
    response.headers.update(headers or {})
    await response(scope, receive, send)


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive channel that yields ``first`` once, then the real channel (for a later disconnect)."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


# -- the service ---------------------------------------------------------------------------------


def recorded_model_tag(bento: bentoml.Bento | None) -> str | None:
    """The model version a bento was built with.

    BentoML resolves ``BentoModel("...:latest")`` against the model store when the service starts,
    not against the bento, so serving an older bento would otherwise load whatever model was saved
    last; the version recorded at build time keeps a bento and its model together (rollbacks work).
    """
    if bento is None:
        return None
    for service in bento.info.services:
        for model in service.models:
            if model.tag.name == MODEL_NAME:
                return str(model.tag)
    return None


def rounded(one: dict[str, Any], decimals: int | None) -> None:
    """An answer's probabilities rounded as ``serve.probability_decimals`` says, in place."""
    if decimals is None:
        return
    for part in (one, *one["alternatives"], *one["reasons"]):
        for key in ("probability_before", "probability_after", "probability_fall"):
            if part.get(key) is not None:
                part[key] = round(float(part[key]), decimals)


def answers_for(
    engine: RecourseEngine, frame: pd.DataFrame, imputed: list[list[str]], options: Options, limits: ServeSettings
) -> list[dict[str, Any]]:
    """Checked applicants answered in one engine call, as the service gives them (probabilities
    rounded, imputed features named), before they get their record ids: what a replay regenerates."""
    settings = engine.settings.model_copy(update={"selection": options.selection or engine.settings.selection})
    answers = answer(
        engine,
        frame,
        settings=settings,
        frozen=options.frozen,
        seed=SEED,
        alternatives=options.alternatives,
        max_change=options.max_change,
    )
    for one, filled in zip(answers, imputed, strict=True):
        one["imputed"] = filled
        rounded(one, limits.probability_decimals)
    return answers


def provenance(stored: bentoml.Model) -> dict[str, Any]:
    """What a record names about the model besides its version: enough to regenerate the answer."""
    settings = (Path(stored.path) / RECOURSE).read_bytes()
    return {
        "data_version": stored.info.labels.get("data_version"),
        "params_sha256": hashlib.sha256(settings).hexdigest(),  # the recourse settings it answers with
        "seed": SEED,
    }


def canary(engine: RecourseEngine) -> pd.DataFrame:
    """One applicant valid under the schema (lowest value or first category of every feature)."""
    values = {
        name: spec.categories[0] if spec.categories else spec.min for name, spec in engine.pre.schema.features.items()
    }
    return pd.DataFrame([values], columns=engine.pre.schema.feature_names)


@bentoml.service(name=SERVICE_NAME, traffic={"timeout": 60})
class RecourseService:
    """GenRe algorithmic recourse: for an applicant the classifier turns down, a close, realistic
    profile it would accept, sampled from a generator trained on accepted people."""

    # Declared so that `bentoml build` records the exact version in the bento (and `bentoml serve`
    # of a .bento file imports it); the store is not touched on import.
    model = BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        go_offline()
        if bentoml.server_context.worker_index is not None:  # a worker of `bentoml serve`, not a test's in-process app
            die_with_parent()  # so even `kill -9` of `bentoml serve` frees the port
        install_log_filters()
        install_metrics_guard()
        # By tag, not through ``self.model``: that descriptor caches what "latest" meant the first
        # time, and a later `bentoml build` in the same process would record that stale version.
        # (@bentoml.service made the class a Service, which the type checker does not see)
        service = cast("bentoml.Service[RecourseService]", RecourseService)
        self.served = self._load(recorded_model_tag(service.bento) or MODEL_TAG)
        install_header_timeout(self.served.limits.header_timeout_s)
        logger.info("GenRe recourse model %s loaded (limits: %s)", self.served.version, self.served.limits.model_dump())
        log = self.served.answer_log
        logger.info(
            "answers are recorded in %s", log.folder.resolve() if log else "no answer log (serve.answer_log: null)"
        )
        keys = os.environ.get(KEYS_ENV)
        self.keys, self.quotas = (KeyRing(Path(keys)) if keys else None), Quotas()
        if self.keys is None:
            logger.warning("no API keys (%s unset): anyone who can reach this port is answered", KEYS_ENV)
        project = followed_project()
        self.follower = (
            Follower(project, self.served.limits.follow_seconds, lambda: self.served.version, self._swap).start()
            if project is not None
            else None
        )

    def __is_ready__(self) -> bool:
        """Ready while answers can be recorded: /readyz fails with the answer log, so a load
        balancer stops sending work that would only be refused."""
        log = self.served.answer_log
        return log is None or log.healthy()

    @property
    def model_version(self) -> str:
        """The model answering new requests now."""
        return self.served.version

    def _load(self, tag: str) -> Served:
        """A model version from the store, ready to answer: it has answered a canary."""
        stored = bentoml.models.get(tag)
        engine = load_bundle(Path(stored.path))
        limits = load_serve_settings(Path(stored.path))
        window, longest = limits.coalesce_ms / 1000, limits.coalesce_wait_ms(engine.scorer.score_in_one_call) / 1000
        answer(engine, canary(engine))  # fails here, not on a caller, if the model cannot answer; warms it up
        log_folder = answer_log_folder(limits.answer_log)
        served = Served(
            str(stored.tag),
            engine,
            limits,
            AnswerLog(log_folder, limits.answer_log_days) if log_folder else None,
            provenance(stored),
        )
        if window:
            served.coalescer = Coalescer(partial(self._coalesced, served), window, limits.max_batch, longest)
        return served

    def _swap(self, tag: str) -> None:
        """New requests go to ``tag`` once it is loaded; those under way finish on the model they began with."""
        before = self.served.version
        self.served = self._load(tag)
        logger.info("production moved to %s: it answers from now on (was %s)", self.served.version, before)

    @staticmethod
    def _checked(
        served: Served, rows: list[dict[str, Any]], options: Options, where: tuple[str, ...], by_row: bool
    ) -> tuple[pd.DataFrame, list[list[str]]]:
        """The applicants as a frame, and per row the features imputed; or the 400 naming every problem."""
        schema = served.engine.pre.schema
        frame, _, errors, imputed = check_applicants(rows, schema, from_text=False, fills=served.engine.pre.fills)
        problems = field_problems(errors, where, by_row) + option_problems(
            options, schema, served.limits.max_alternatives
        )
        if problems:
            raise invalid(problems, where[0])
        return frame, imputed

    @staticmethod
    def _issued(
        served: Served,
        rows: list[dict[str, Any]],
        frame: pd.DataFrame,
        imputed: list[list[str]],
        options: Options,
        callers: list[Caller],
    ) -> list[Answer]:
        """Checked applicants answered in one engine call, each recorded in the answer log: an
        answer that cannot be recorded is not given (HTTP 503; docs/serving.md says why)."""
        answers = answers_for(served.engine, frame, imputed, options, served.limits)
        if served.answer_log is not None:
            for one in answers:
                one["record_id"] = new_id()
        try:
            given = [Answer.model_validate(a) for a in answers]
        except ValidationError as exc:  # our fault, not the caller's: a 500 with its traceback, not a quiet 400
            raise RuntimeError("an answer does not fit the response model") from exc
        if served.answer_log is not None:  # the record of what was said (personal data: see genre.serving.records)
            asked = options.model_dump(mode="json", include=set(Options.model_fields))
            try:
                served.answer_log.append(
                    served.version,
                    [
                        record(a.model_dump(mode="json"), row, asked, caller, served.provenance)
                        for row, a, caller in zip(rows, given, callers, strict=True)
                    ],
                )
            except LogFailed as exc:
                raise ServiceUnavailable(f"{exc.strerror}; nothing was answered: try again later") from None
        return given

    def _coalesced(self, served: Served, _: Hashable, requests: Sequence[Checked]) -> list[Answer]:
        """Single requests with the same options, checked one by one, answered as one batch."""
        frame = pd.concat([checked.frame for checked in requests], ignore_index=True)
        imputed = [filled for checked in requests for filled in checked.imputed]
        applicants = [checked.request.applicant for checked in requests]
        callers = [checked.caller for checked in requests]
        return self._issued(served, applicants, frame, imputed, requests[0].request, callers)

    @bentoml.api(route="/recourse")
    async def recourse(self, request: RecourseRequest, /) -> RecourseResponse:
        """Recourse for one applicant in raw units, or HTTP 400 naming every bad field."""
        served = self.served  # one model for the whole request, whatever production does meanwhile
        frame, imputed = self._checked(served, [request.applicant], request, ("applicant",), by_row=False)
        caller = current_caller()
        if served.coalescer is None:
            [result] = self._issued(served, [request.applicant], frame, imputed, request, [caller])
        else:
            result = await served.coalescer.submit(
                request.model_dump_json(exclude={"applicant"}), Checked(request, frame, imputed, caller)
            )
        return RecourseResponse(model_version=served.version, **dict(result))

    @bentoml.api(route="/recourse_batch")
    def recourse_batch(self, request: BatchRequest, /) -> BatchResponse:
        """Recourse for each applicant (at most serve.max_batch), or HTTP 400 naming every bad row
        and field; one bad row fails the request, so answers never silently go missing."""
        served = self.served  # one model for the whole request, whatever production does meanwhile
        limit, given = served.limits.max_batch, len(request.applicants)
        if given > limit:
            raise invalid(
                [(("applicants",), f"at most {limit} applicants per request (serve.max_batch), got {given}")],
                "applicants",
            )
        checked = self._checked(served, request.applicants, request, ("applicants",), by_row=True)
        answers = self._issued(served, request.applicants, *checked, request, [current_caller()] * given)
        return BatchResponse(model_version=served.version, answers=answers)


async def docs(scope: Scope, receive: Receive, send: Send) -> None:
    """``/docs``: BentoML serves the OpenAPI page at ``/`` (and the spec at ``/docs.json``)."""
    await RedirectResponse("/")(scope, receive, send)


# @bentoml.service made the class a Service, which the type checker does not see
cast("bentoml.Service[RecourseService]", RecourseService).add_asgi_middleware(RequestGate)
cast("bentoml.Service[RecourseService]", RecourseService).mount_asgi_app(docs, path="/docs")
