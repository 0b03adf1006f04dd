"""The recourse model as one folder: what the CLI, the evaluation and the BentoML service load.

The pipeline's artifacts are spread over the stages that made them; a bundle gathers exactly the
files inference needs (schema-bearing preprocessor, classifier, generator, recourse settings), so
the served model and the evaluated model are loaded by the same code. The service's limits
(``serve.json``) travel in the bundle too: a bento and its model are rolled out and back together,
limits included.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from genre.artifacts.paths import Artifacts
from genre.data.preprocessing import Preprocessor
from genre.models.accepted import AcceptedRows
from genre.models.classifier_file import load_classifier
from genre.models.generators import load_generator
from genre.recourse.engine import RecourseEngine
from genre.settings import RecourseSettings, ServeSettings

PREPROCESSOR, CLASSIFIER, ACCEPTED, GENERATOR, RECOURSE, SCHEMA, SERVE = (
    "preprocessor.json",
    "classifier.pt",
    "accepted.npz",
    "generator.pt",
    "recourse.json",
    "schema.yaml",
    "serve.json",
)
PARAMS = "params.yaml"  # the params the model was trained with (package): production's sibling retrains by them


def _load_engine(
    preprocessor: Path, classifier: Path, accepted: Path, generator: Path, settings: RecourseSettings
) -> RecourseEngine:
    """(A bundle from before the accepted rows travelled answers from sampled candidates only.)"""
    pool = AcceptedRows.load(accepted) if accepted.is_file() else None
    pre = Preprocessor.load(preprocessor)
    return RecourseEngine(pre, load_classifier(classifier, pre), load_generator(generator), settings, pool)


def chosen_rule(paths: Artifacts, settings: RecourseSettings) -> RecourseSettings:
    """``settings`` with ``selection: auto``, ``plausible_first: auto`` and ``threshold: auto``
    replaced by what evaluate chose for these models (left as they are before evaluate has chosen: the engine
    then says so; a choice from before plausibility was chosen is no preference, as it answered then)."""
    if not paths.selection.is_file():
        return settings
    chosen = json.loads(paths.selection.read_text())
    update: dict[str, object] = {"selection": chosen["rule"]} if settings.selection == "auto" else {}
    if settings.threshold == "auto" and "threshold" in chosen:  # capped by evaluate (genre.recourse.threshold)
        update["threshold"] = chosen["threshold"]
    if settings.plausible_first == "auto":
        update["plausible_first"] = chosen.get("plausible_first", False)
    return settings.model_copy(update=update)


def engine_from_artifacts(paths: Artifacts, settings: RecourseSettings) -> RecourseEngine:
    return _load_engine(
        paths.preprocessor, paths.classifier, paths.accepted, paths.generator, chosen_rule(paths, settings)
    )


def write_bundle(
    paths: Artifacts, settings: RecourseSettings, dest: Path, serve: ServeSettings = ServeSettings()
) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for src, name in (
        (paths.preprocessor, PREPROCESSOR),
        (paths.classifier, CLASSIFIER),
        (paths.accepted, ACCEPTED),
        (paths.generator, GENERATOR),
        (paths.schema, SCHEMA),
    ):
        shutil.copyfile(src, dest / name)
    (dest / RECOURSE).write_text(settings.model_dump_json(indent=2))
    (dest / SERVE).write_text(serve.model_dump_json(indent=2))


def load_bundle(folder: Path) -> RecourseEngine:
    """(A bundle from before evaluate chose ``plausible_first`` answers without the preference, as it did then.)"""
    folder = Path(folder)
    stored = json.loads((folder / RECOURSE).read_text())
    settings = RecourseSettings.model_validate({"plausible_first": False, **stored})
    return _load_engine(folder / PREPROCESSOR, folder / CLASSIFIER, folder / ACCEPTED, folder / GENERATOR, settings)


def load_serve_settings(folder: Path) -> ServeSettings:
    """The limits the bundle was packaged with; a bundle from before they travelled gets the defaults."""
    path = Path(folder) / SERVE
    return ServeSettings.model_validate_json(path.read_text()) if path.is_file() else ServeSettings()
