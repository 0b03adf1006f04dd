"""The recourse model behind HTTP: ``POST /recourse`` answers applicants in their own units.

The service is deliberately thin: the bundle loader, the per-field applicant check and the answer
format are the same code the CLI and the evaluation use, so the same applicants with the same
seed get the same answer here as anywhere else. Every problem a caller can cause is reported as HTTP 400 naming the
row, the field and what is wrong with it, so nothing a caller sends can reach the model unchecked
or surface as an opaque 500.

Importing this module only defines the class: the model store is first touched when BentoML
creates the service instance, so tests and builds can point ``BENTOML_HOME`` anywhere beforehand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import InvalidArgument
from bentoml.models import BentoModel

from genre.answers import answer
from genre.applicants import FieldError, check_applicants
from genre.bundle import load_bundle
from genre.offline import go_offline
from genre.recourse import RecourseEngine

MODEL_NAME = "genre-recourse"
MODEL_TAG = f"{MODEL_NAME}:latest"
SERVICE_NAME = "genre-recourse-service"
MAX_LISTED_ERRORS = 50  # a whole batch of bad rows must not turn into a megabyte error message

# BentoML's server processes configure only the "bentoml" logger tree at INFO (root stays at
# WARNING), so the line saying which model version is being served must live under it to be seen.
logger = logging.getLogger(f"bentoml.{__name__}")


def describe_errors(errors: list[FieldError], limit: int = MAX_LISTED_ERRORS) -> str:
    """One line per problem, so a caller can fix every bad field in one round trip."""
    shown = [str(e) for e in errors[:limit]]
    if len(errors) > limit:
        shown.append(f"... and {len(errors) - limit} more")
    noun = "problem" if len(errors) == 1 else "problems"
    return f"{len(errors)} {noun} with the applicants: " + "; ".join(shown)


def unknown_features(names: Iterable[str], known: Iterable[str]) -> list[str]:
    known_set = set(known)
    return sorted({n for n in names if n not in known_set})


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


@bentoml.service(name=SERVICE_NAME, traffic={"timeout": 60})
class RecourseService:
    """GenRe algorithmic recourse: for an applicant the classifier turns down, a close, realistic
    profile it would accept, sampled from a generator trained on accepted people."""

    # BentoModel, not bentoml.models.get: the store is looked up when the service starts, not on
    # import, and `bentoml build` records the exact version in the bento.
    model = BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        go_offline()
        pinned = recorded_model_tag(RecourseService.bento)
        stored = bentoml.models.get(pinned) if pinned else self.model
        self.model_tag = str(stored.tag)
        self.engine: RecourseEngine = load_bundle(Path(stored.path))
        logger.info("GenRe recourse model %s loaded", self.model_tag)

    @bentoml.api
    def recourse(self, applicants: list[dict[str, Any]], frozen: list[str] = []) -> list[dict[str, Any]]:  # noqa: B006 (pydantic copies defaults)
        """Recourse for each applicant (raw feature values), or HTTP 400 naming every bad row and field.

        ``frozen`` names features these applicants will not change, on top of the immutable ones.
        """
        schema = self.engine.pre.schema
        if not applicants:
            raise InvalidArgument("applicants: the list is empty; send at least one applicant")
        unknown = unknown_features(frozen, schema.feature_names)
        if unknown:
            raise InvalidArgument(f"frozen: unknown feature(s) {unknown}; expected names from {schema.feature_names}")
        frame, _, errors = check_applicants(applicants, schema, from_text=False)
        if errors:
            raise InvalidArgument(describe_errors(errors))
        return answer(self.engine, frame, frozen=list(frozen))
