"""The six stages end to end, as a user runs them: ``dvc repro`` over the Prefect flows."""

from __future__ import annotations

import json

from genre.artifacts import Artifacts

STAGES = ("ingest", "train_classifier", "synthesize_pairs", "train_cvae", "evaluate", "package")
METRICS = ("cost", "validity_rf", "validity_h", "lof", "score", "immutable_violations", "sparsity", "seconds_per_recourse")


def test_every_stage_wrote_its_outputs(fast_project) -> None:
    paths = Artifacts(fast_project.root)
    for stage in STAGES:
        assert paths.metrics(stage).exists(), stage
    for out in (paths.train_csv, paths.preprocessor, paths.classifier, paths.ground_truth, paths.pairs, paths.generator, paths.recourses, paths.bento):
        assert out.stat().st_size > 0, out
    assert (paths.validation_dir / "docs" / "train" / "index.html").exists()


def test_evaluation_reports_genre_beside_nnr(fast_project) -> None:
    metrics = json.loads(Artifacts(fast_project.root).metrics("evaluate").read_text())
    for method in ("genre", "nnr"):
        assert set(METRICS) <= set(metrics[method]), method
        assert metrics[method]["immutable_violations"] == 0
        assert 0.0 <= metrics[method]["validity_rf"] <= 1.0
    consistency = metrics["consistency"]
    assert consistency["sources"] > 0
    assert consistency["energy_generator_vs_q"] > consistency["energy_q_vs_q_floor"]


def test_second_repro_is_a_no_op_and_metrics_show(fast_project) -> None:
    again = fast_project.run("dvc", "repro")
    assert again.returncode == 0, again.stderr
    assert "Running stage" not in again.stdout
    status = fast_project.run("dvc", "status")
    assert "up to date" in status.stdout.lower()
    shown = fast_project.run("dvc", "metrics", "show")
    assert shown.returncode == 0, shown.stderr
    assert "genre.validity_rf" in shown.stdout and "nnr.score" in shown.stdout
