"""A lender's own model through ``dvc repro``, as a user brings it: a gradient-boosted pipeline
fitted on the raw columns (race and sex left out: ``research.lender_model``), saved with skops
into ``models/``. The recourse the pipeline, the CLI and the packaged model give must flip *that*
model, as the lender's own copy of it scores the answer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
import yaml
from typer.testing import CliRunner

from genre.artifacts.paths import Artifacts
from genre.cli.main import app
from genre.data.datasets import load_prepared
from genre.data.schema import load_schema
from genre.serving.bundle import engine_from_artifacts
from genre.settings import load_settings
from research.lender_model import fit_lender_model

TARGET = "income"


def set_classifier_params(root: Path, **values: Any) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train_classifier"].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@dataclass(frozen=True)
class OwnRun:
    root: Path
    estimator: Any
    refused: Any  # dvc repro with the file's types not vouched for
    kept: bool  # the MLP's classifier.pt survived the refused run byte for byte
    done: Any  # dvc repro once they are


@pytest.fixture(scope="module")
def own_run(fast_project, tmp_path_factory) -> OwnRun:
    project = fast_project.copy_to(tmp_path_factory.mktemp("own_model") / "project")
    root = project.root
    estimator = fit_lender_model(
        pd.read_csv(root / "data/prepared/train.csv"), load_schema(root / "data/prepared/schema.yaml"), max_iter=60
    )
    skops.io.dump(estimator, root / "models/lender.skops")
    before = Artifacts(root).classifier.read_bytes()

    set_classifier_params(root, model="models/lender.skops")
    refused = project.run("dvc", "repro")
    kept = Artifacts(root).classifier.read_bytes() == before
    set_classifier_params(root, trusted_types=skops.io.get_untrusted_types(file=root / "models/lender.skops"))
    done = project.run("dvc", "repro")
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return OwnRun(root, estimator, refused, kept, done)


def test_types_not_vouched_for_stop_in_one_line_and_keep_the_last_model(own_run: OwnRun) -> None:
    out = own_run.refused.stdout + own_run.refused.stderr
    assert own_run.refused.returncode != 0
    assert "Traceback" not in out
    [line] = [line for line in out.splitlines() if line.startswith("train_classifier.model:")]
    assert "TreePredictor" in line and "train_classifier.trusted_types" in line
    assert own_run.kept


def test_the_pipeline_explains_the_lenders_model(own_run: OwnRun) -> None:
    metrics = yaml.safe_load((own_run.root / "metrics/train_classifier.json").read_text())
    assert metrics["training"]["model"] == "models/lender.skops"
    evaluation = yaml.safe_load((own_run.root / "metrics/evaluate.json").read_text())
    assert evaluation["passed"] and evaluation["genre"]["found_rate"] >= 0.5
    assert evaluation["genre"]["immutable_violations"] == 0

    settings = load_settings(own_run.root / "params.yaml")
    engine = engine_from_artifacts(Artifacts(own_run.root), settings.recourse)
    data = load_prepared(Artifacts(own_run.root))
    raw = data.test_raw.drop(columns=[TARGET])
    own_p = own_run.estimator.predict_proba(raw)[:, 1]
    denied = np.flatnonzero(own_p <= 0.5)[:40]
    batch = engine.recourse(data.x_test[denied])
    found = batch.status == "found"
    assert found.mean() >= 0.5
    answers = engine.pre.inverse_transform(batch.x_plus[found])
    flipped = own_run.estimator.predict_proba(answers)[:, 1]
    assert (flipped > settings.recourse.threshold).all()
    np.testing.assert_allclose(flipped, batch.prob_after[found], atol=1e-6)
    for column in ("race", "sex"):
        assert (answers[column].to_numpy() == raw.iloc[denied][column].to_numpy()[found]).all()


def test_the_cli_and_the_packaged_model_answer_for_it(own_run: OwnRun, tmp_path) -> None:
    raw = pd.read_csv(own_run.root / "data/prepared/test.csv").drop(columns=[TARGET])
    denied = raw[own_run.estimator.predict_proba(raw)[:, 1] <= 0.5].head(10)
    src, out = tmp_path / "applicants.csv", tmp_path / "recourses.csv"
    denied.to_csv(src, index=False)
    result = CliRunner().invoke(
        app,
        [
            "recourse",
            "--input",
            str(src),
            "--output",
            str(out),
            "--params",
            str(own_run.root / "params.yaml"),
            "--workspace",
        ],
    )
    assert result.exit_code == 0, result.output
    answered = pd.read_csv(out)
    found = answered[answered["status"] == "found"]
    assert len(found)
    own_after = own_run.estimator.predict_proba(found[denied.columns])[:, 1]
    np.testing.assert_allclose(own_after, found["probability_after"], atol=1e-3)

    stored = max(
        (own_run.root / ".bentoml/models/genre-recourse").glob("*/model.yaml"), key=lambda p: p.stat().st_mtime
    )
    info = yaml.safe_load(stored.read_text())
    assert info["labels"]["classifier"] == "own"
    assert set(info["metadata"]["packages"]) == {
        "scikit-learn"
    }  # the pipeline's vouched-for types: sklearn's and functools'
    built = max(
        (own_run.root / ".bentoml/bentos/genre-recourse-service").glob("*/env/python/requirements.txt"),
        key=lambda p: p.stat().st_mtime,
    )
    assert [line.split("==")[0] for line in built.read_text().split()].count(
        "scikit-learn"
    ) == 1  # pinned by the bentofile already


def test_the_cli_answers_for_it_on_a_dask_cluster_as_in_process(own_run: OwnRun, tmp_path) -> None:
    """``runner: dask`` sends the engine, the lender's model in it, to the workers: the chunks'
    answers are the in-process ones, byte for byte."""
    raw = pd.read_csv(own_run.root / "data/prepared/test.csv").drop(columns=[TARGET]).head(12)
    src = tmp_path / "applicants.csv"
    raw.to_csv(src, index=False)
    params = yaml.safe_load((own_run.root / "params.yaml").read_text())
    outputs = []
    for name, runner in (
        ("inprocess", {"kind": "inprocess"}),
        ("dask", {"kind": "dask", "workers": 2, "chunk_rows": 5}),
    ):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(params | {"root": str(own_run.root), "runner": runner}))
        out = tmp_path / f"{name}.csv"
        result = CliRunner().invoke(
            app, ["recourse", "-i", str(src), "-o", str(out), "--params", str(tmp_path / f"{name}.yaml"), "--workspace"]
        )
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert len(pd.read_csv(tmp_path / "dask.csv")) == 12
