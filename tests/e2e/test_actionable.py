"""Answers a person can act on, through ``dvc repro`` as a user runs it: the embedded Adult schema's
constraints on every answer, evaluate's report of what answers move, and a bar only one training
row clears caught before anything is packaged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_prepared
from genre.data.schema import load_schema
from genre.recourse.threshold import auto_threshold
from genre.serving.bundle import engine_from_artifacts
from genre.settings import load_settings


def set_params(root: Path, section: str, **values: object) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def demo(new_project):
    """The fast project on the embedded schema (the shipped demo), not the paper's protocol."""
    project = new_project("demo")
    set_params(project.root, "ingest", schema_path="data/raw/adult/schema.yaml")
    done = project.run("dvc", "repro")
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return project, done


def test_demo_answers_keep_what_a_person_cannot_change_and_nothing_trivial(demo) -> None:
    project, _ = demo
    settings = load_settings(project.root / "params.yaml")
    engine = engine_from_artifacts(Artifacts(project.root), settings.recourse)
    data = load_prepared(Artifacts(project.root))
    x = data.x_test[engine.classifier.predict_proba(data.x_test) <= 0.5][:100]
    batch = engine.recourse(x, alternatives=2)
    assert batch.found.mean() > 0.5
    schema = load_schema(project.root / "data/prepared/schema.yaml")
    before, after = engine.pre.inverse_transform(x), engine.pre.inverse_transform(batch.x_plus)
    found = batch.found
    for name, spec in schema.features.items():
        if spec.immutable:
            assert (before[name][found] == after[name][found]).all(), name
    aged = (after["age"] - before["age"])[found]
    assert aged.between(0, 5).all()
    assert not engine.pre.trivial(x[found], batch.x_plus[found]).any()
    options = batch.alternatives.x_plus[batch.alternatives.valid]
    owners = np.repeat(x, batch.alternatives.valid.shape[1], axis=0)[batch.alternatives.valid.reshape(-1)]
    assert not engine.pre.trivial(owners, options).any()


def test_evaluate_reports_what_answers_move_and_says_it(demo) -> None:
    project, done = demo
    moved = json.loads((project.root / "metrics/actionability.json").read_text())
    metrics = json.loads((project.root / "metrics/evaluate.json").read_text())
    assert moved["answers"] == round(metrics["genre"]["found_rate"] * metrics["factuals"])
    top = next(iter(moved["features"]))
    assert moved["features"][top]["share_changed"] == max(f["share_changed"] for f in moved["features"].values())
    assert (
        f"evaluate: of {moved['answers']} answers found, the features moved most: {top} in" in done.stdout + done.stderr
    )
    plotted = pd.read_csv(project.root / "plots/evaluate_actionability.csv")
    assert list(plotted["feature"]) == list(moved["features"]) and moved["features"]["fnlwgt"]["answers_changed"] == 0
    for key in (
        "features_changed_median",
        "features_changed_mean",
        "trivial_changes",
        "distinct_share",
        "largest_answer_share",
    ):
        assert key in metrics["genre"] and key in metrics["nnr"]
    assert metrics["genre"]["trivial_changes"] == 0


@pytest.fixture(scope="module")
def collapse(new_project):
    """A file with no immutable feature and a label the features barely predict: the classifier is
    never sure, and every denied applicant can reach its surest row."""
    project = new_project("collapse")
    root = project.root
    rng = np.random.default_rng(0)
    folder = root / "data/raw/loans"
    folder.mkdir(parents=True)
    for split, rows in (("train", 3000), ("test", 800)):
        x = rng.integers(0, 101, size=(rows, 4))
        label = (rng.random(rows) < 0.05 + 0.8 / (1 + np.exp(-(x[:, :2].mean(axis=1) - 50) / 10))).astype(int)
        pd.DataFrame(x, columns=["savings", "tenure", "balance", "accounts"]).assign(approved=label).to_csv(
            folder / f"{split}.csv", index=False
        )
    schema = {
        "name": "loans",
        "target": {"name": "approved", "values": [0, 1], "favourable": 1},
        "features": {
            name: {"kind": "integer", "min": 0, "max": 100, "min_change": 2}
            for name in ("savings", "tenure", "balance", "accounts")
        },
    }
    (folder / "schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    set_params(
        root,
        "ingest",
        train_csv="data/raw/loans/train.csv",
        test_csv="data/raw/loans/test.csv",
        schema_path="data/raw/loans/schema.yaml",
        sample_rows=None,
    )
    set_params(root, "recourse", threshold="auto")
    answered = project.run("dvc", "repro")
    answered_metrics = json.loads((root / "metrics/evaluate.json").read_text())
    # the bar as auto resolved it before it was capped and chosen: the reachable score less the margin
    reachable = json.loads((root / "metrics/train_classifier.json").read_text())["reachable_score"]
    set_params(
        root, "recourse", threshold=auto_threshold(reachable, load_settings(root / "params.yaml").recourse.margin)
    )
    refused = project.run("dvc", "repro")
    refused_metrics = json.loads((root / "metrics/evaluate.json").read_text())
    return answered, answered_metrics, refused, refused_metrics


def test_one_answer_for_everyone_is_refused_and_a_sane_bar_answers_each(collapse) -> None:
    answered, metrics, refused, refused_metrics = collapse
    assert answered.returncode == 0, f"{answered.stdout[-3000:]}\n{answered.stderr[-3000:]}"
    assert metrics["passed"] and metrics["training_rows_above_threshold"] >= 30
    assert metrics["genre"]["distinct_share"] >= 0.5 and metrics["genre"]["largest_answer_share"] <= 0.1
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "one same answer was given to" in said and "evaluate.max_answer_share" in said and "Traceback" not in said
    assert not refused_metrics["passed"] and refused_metrics["genre"]["largest_answer_share"] > 0.1
    assert refused_metrics["training_rows_above_threshold"] < 30
