"""The recourse model as one folder: what the CLI, the evaluation and the BentoML service load.

The pipeline's artifacts are spread over the stages that made them; a bundle gathers exactly the
files inference needs (schema-bearing preprocessor, classifier, generator, recourse settings), so
the served model and the evaluated model are loaded by the same code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from genre.artifacts import Artifacts
from genre.classifiers import MLPClassifier
from genre.generators import load_generator
from genre.preprocessing import Preprocessor
from genre.recourse import RecourseEngine
from genre.settings import RecourseSettings
from genre.torch_io import load_module

PREPROCESSOR, CLASSIFIER, GENERATOR, RECOURSE, SCHEMA = (
    "preprocessor.json",
    "classifier.pt",
    "generator.pt",
    "recourse.json",
    "schema.yaml",
)


def engine_from_artifacts(paths: Artifacts, settings: RecourseSettings) -> RecourseEngine:
    return RecourseEngine(
        Preprocessor.load(paths.preprocessor),
        load_module(MLPClassifier, paths.classifier),
        load_generator(paths.generator),
        settings,
    )


def write_bundle(paths: Artifacts, settings: RecourseSettings, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for src, name in ((paths.preprocessor, PREPROCESSOR), (paths.classifier, CLASSIFIER), (paths.generator, GENERATOR), (paths.schema, SCHEMA)):
        shutil.copyfile(src, dest / name)
    (dest / RECOURSE).write_text(settings.model_dump_json(indent=2))


def load_bundle(folder: Path) -> RecourseEngine:
    folder = Path(folder)
    return RecourseEngine(
        Preprocessor.load(folder / PREPROCESSOR),
        load_module(MLPClassifier, folder / CLASSIFIER),
        load_generator(folder / GENERATOR),
        RecourseSettings.model_validate(json.loads((folder / RECOURSE).read_text())),
    )
