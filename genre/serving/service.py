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
  size limit gets it with 413, a body that is not JSON with 415, all before BentoML parses
  anything (``genre.serving.front_door``, which also checks API keys and rates). A caller's
  mistake is logged as one WARNING line, not as a server error with a traceback
  (``genre.serving.worker_guards``).
* ``/recourse`` is a coroutine, answered on the event loop: one applicant costs less CPU than
  handing the request to a worker thread and back, and the GIL lets one request compute at a time
  anyway (measured: docs/decisions.md).
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
import logging
import os
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, cast

import bentoml
import pandas as pd
from bentoml.exceptions import ServiceUnavailable
from bentoml.models import BentoModel
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError, ValidationError
from starlette.responses import RedirectResponse
from starlette.types import Receive, Scope, Send

from genre.data.schema import DatasetSchema
from genre.messages import one_line
from genre.offline import go_offline
from genre.processes import die_with_parent
from genre.recourse.engine import RecourseEngine, Rule, Status
from genre.serving.answer_log import AnswerLog, LogFailed, answer_log_folder
from genre.serving.answers import SEED, answer
from genre.serving.applicants import FieldError, check_applicants
from genre.serving.bundle import RECOURSE, load_bundle, load_serve_settings
from genre.serving.coalesce import Coalescer
from genre.serving.follow import Follower, followed_project
from genre.serving.front_door import RequestGate
from genre.serving.keys import KEYS_ENV, KeyRing, Quotas
from genre.serving.records import Caller, current_caller, new_id, record
from genre.serving.slow_clients import install_header_timeout
from genre.serving.worker_guards import install_log_filters, install_metrics_guard
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
