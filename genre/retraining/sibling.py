"""Production's sibling: production's own retrain, the measure of how far luck alone moves a model.

Two honest retrains on the same rows differ by their seeds alone, and on a few tens of thousands of
rows the difference in their recourse (how often an independent forest approves the answers, how a
small group's costs compare) is larger than the noise of the gate's applicants. A production model
that was a lucky draw is then beaten by almost no honest challenger, and every week's data is set
aside. The sibling is that luck measured: production's pipeline run again on the rows production
was trained on (the sample its bundle carries), with production's params (its bundle carries
them) and other seeds, answering by production's choices. Averaged with production applicant by
applicant, it is what production gives luck aside, and a comparison a challenger fails against
production passes if it passes against that (``genre.retraining.gate.compare``).

It is trained once per production model, only when a challenger first fails a rule, in a
temporary copy of the project (``dvc repro evaluate`` there: the workspace, its ``dvc.lock`` and
the BentoML store are untouched), and kept under ``registry/siblings/``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from genre.artifacts.atomic import atomic_dir
from genre.artifacts.paths import Artifacts
from genre.processes import die_with_parent
from genre.recourse.engine import RecourseEngine
from genre.recourse.incumbent import INCUMBENT_ENV
from genre.retraining.lock import OWNER_ENV
from genre.serving.bundle import PARAMS, RECOURSE, engine_from_artifacts, load_bundle, write_bundle
from genre.serving.production import REFERENCE, choices, model_path
from genre.settings import Settings, load_settings

SIBLINGS = Path("registry/siblings")  # under the project's root: each production model's sibling, trained once
SEEDS = (  # the params that seed training; the split, evaluation and gate seeds stay production's
    ("train_classifier", "seed"),
    ("synthesize_pairs", "approximate", "seed"),
    ("train_generator", "cvae", "seed"),
    ("train_generator", "transformer", "seed"),
)
CODE = ("dvc.yaml", "flows", "genre", "models")  # what the stages run, where the project holds it


def kept_path(champion_tag: str) -> Path:
    """Where ``champion_tag``'s sibling is kept, under the project's root."""
    return SIBLINGS / champion_tag.replace(":", "-")


def sibling_params(params: dict[str, Any], schema_path: str) -> dict[str, Any]:
    """Production's params for a retrain on its own rows: each training seed moved on by one, and
    ingest reading the rows copied beside them (no batches, no cap)."""
    params = copy.deepcopy(params)
    for *sections, key in SEEDS:
        section = params
        for name in sections:
            section = section[name]
        section[key] = int(section[key]) + 1
    params["ingest"].update(
        train_csv=f"data/raw/sibling/{REFERENCE}",
        test_csv="data/raw/sibling/test.csv",
        batches="data/raw/sibling/batches",
        schema_path=schema_path,
        sample_rows=None,
    )
    return params


def _project(settings: Settings, champion: Path, work: Path) -> None:
    """A copy of the project at ``work`` that trains the sibling: its code, production's rows and
    params, the workspace's held-out rows (the same split production was measured on)."""
    root = Path(settings.root)
    for name in CODE:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy(source, work / name)
    (work / "models").mkdir(exist_ok=True)  # a stage's dependency, even where the project has no own model
    raw = work / "data/raw/sibling"
    (raw / "batches").mkdir(parents=True)
    shutil.copy(champion / REFERENCE, raw / REFERENCE)
    shutil.copy(Artifacts(root).test_csv, raw / "test.csv")
    schema = work / "data/raw/sibling/schema.yaml"
    shutil.copy(settings.resolve(settings.ingest.schema_path), schema)
    params = yaml.safe_load((champion / PARAMS).read_text())
    (work / "params.yaml").write_text(
        yaml.safe_dump(sibling_params(params, str(schema.relative_to(work))), sort_keys=False)
    )


def sibling(settings: Settings, champion_tag: str, log: Path) -> RecourseEngine | None:
    """Production's sibling, trained on first need and kept; None where production's bundle
    carries no params or rows to train it from, or its training fails (``log`` says why)."""
    kept = settings.root / kept_path(champion_tag)
    if (kept / RECOURSE).is_file():
        return load_bundle(kept)
    champion = model_path(champion_tag)
    if not (champion / PARAMS).is_file() or not (champion / REFERENCE).is_file():
        return None
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        INCUMBENT_ENV: json.dumps(choices(champion_tag)),  # answering by production's choices, as a challenger does
        OWNER_ENV: str(os.getpid()),  # its stages end with this run, however it ends
    }
    with tempfile.TemporaryDirectory(prefix="genre-sibling-") as folder, log.open("w") as out:
        work = Path(folder)
        _project(settings, champion, work)
        for command in (["dvc", "init", "--no-scm", "-q"], ["dvc", "config", "core.analytics", "false"]):
            subprocess.run(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
        done = subprocess.run(
            ["dvc", "repro", "evaluate"],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            check=False,
        )
        if done.returncode != 0:
            return None
        trained = load_settings(work / "params.yaml")
        paths = Artifacts(work)
        engine = engine_from_artifacts(paths, trained.recourse)
        with atomic_dir(kept) as tmp:
            write_bundle(paths, engine.settings, tmp, trained.serve)
    return load_bundle(kept)
