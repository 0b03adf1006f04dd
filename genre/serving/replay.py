"""A recorded answer regenerated from the model version that gave it, and compared byte for byte.

What a lender told a person must be reproducible, not only stored: the record
(``genre.serving.records``) keeps the applicant, the options and the model version, and the model
versions stay in BentoML's store, so the answer is given again through the very code path the
service answers with (``answers_for``) and compared with what was recorded, as canonical JSON.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from genre.messages import InputError

if TYPE_CHECKING:
    from genre.recourse.engine import RecourseEngine
    from genre.settings import ServeSettings


def canonical(answer: dict[str, Any]) -> str:
    """An answer as canonical JSON: keys sorted, so equal answers are equal bytes."""
    return json.dumps(answer, sort_keys=True, ensure_ascii=False)


@lru_cache(maxsize=4)
def _model(version: str) -> tuple[RecourseEngine, ServeSettings]:
    """A model version from the store, as the service loads it (kept: records come in runs of one version)."""
    from genre.serving.bundle import load_bundle, load_serve_settings
    from genre.serving.production import model_path

    folder = model_path(version)
    return load_bundle(folder), load_serve_settings(folder)


def replayed(entry: dict[str, Any]) -> tuple[str, str]:
    """-> (the recorded answer, the regenerated one), both canonical JSON; equal when the record
    replays exactly."""
    from genre.serving.applicants import check_applicants
    from genre.serving.service import Answer, Options, answers_for

    engine, limits = _model(str(entry.get("model_version")))
    frame, _, errors, imputed = check_applicants(
        [entry["applicant"]], engine.pre.schema, from_text=False, fills=engine.pre.fills
    )
    if errors:
        raise InputError(f"record {entry.get('record_id')}: its applicant no longer checks: {errors[0].problem}")
    [again] = answers_for(engine, frame, imputed, Options.model_validate(entry["options"]), limits)
    again["record_id"] = entry["record_id"]
    recorded = {name: entry[name] for name in Answer.model_fields if name in entry}
    return canonical(recorded), canonical(Answer.model_validate(again).model_dump(mode="json"))
