"""The six stages end to end, as a user runs them: ``dvc repro`` over the Prefect flows."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.abandoned import project_tag
from genre.artifacts.metrics_file import split_timings
from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_prepared
from genre.models.transformer import TransformerGenerator
from genre.recourse.pairs import load_pairs
from genre.serving.bundle import engine_from_artifacts
from genre.settings import ApproximateSettings, load_settings, merge_overrides
from genre.stages import synthesize_pairs
from genre.stages.evaluate import CLEARLY_BETTER

LAST_RUN_LOGS = (  # the messages of the newest flow run with a tag, as the Prefect API has them
    "import sys; from prefect.client.orchestration import get_client\n"
    "from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, LogFilter, LogFilterFlowRunId\n"
    "from prefect.client.schemas.sorting import FlowRunSort\n"
    "with get_client(sync_client=True) as c:\n"
    "    [run] = c.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[sys.argv[1]])), "
    "sort=FlowRunSort.START_TIME_DESC, limit=1)\n"
    "    print(run.state_type.value, "
    "[log.message for log in c.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))])"
)
STAGES = ("ingest", "train_classifier", "synthesize_pairs", "train_generator", "evaluate", "package")
METRICS = (
    "cost",
    "validity_rf",
    "validity_h",
    "lof",
    "score",
    "immutable_violations",
    "sparsity",
)


def test_every_stage_wrote_its_outputs(fast_project) -> None:
    paths = Artifacts(fast_project.root)
    for stage in STAGES:
        assert paths.metrics(stage).exists(), stage
    for out in (
        paths.train_csv,
        paths.preprocessor,
        paths.classifier,
        paths.ground_truth,
        paths.pairs,
        paths.generator,
        paths.recourses,
        paths.bento,
    ):
        assert out.stat().st_size > 0, out
    assert (paths.validation_dir / "docs" / "train" / "index.html").exists()


def test_evaluation_reports_genre_beside_nnr(fast_project) -> None:
    metrics = json.loads(Artifacts(fast_project.root).metrics("evaluate").read_text())
    timings = json.loads(Artifacts(fast_project.root).timings("evaluate").read_text())
    for method in ("genre", "nnr"):
        assert set(METRICS) <= set(metrics[method]), method
        assert timings[method]["seconds_per_recourse"] > 0, "run times are kept beside the figures"
        assert metrics[method]["immutable_violations"] == 0
        assert 0.0 <= metrics[method]["validity_rf"] <= 1.0
    consistency = metrics["consistency"]
    assert consistency["sources"] > 0
    assert (
        0 < metrics["plausibility_rows"] <= load_settings(fast_project.root / "params.yaml").evaluate.plausibility_rows
    )
    assert consistency["energy_generator_vs_q"] > consistency["energy_q_vs_q_floor"]


def test_evaluation_scores_every_selection_rule_on_the_same_factuals(fast_project) -> None:
    """The rule in use gives exactly the figures reported for GenRe; each rule picks differently."""
    metrics = json.loads(Artifacts(fast_project.root).metrics("evaluate").read_text())
    rules = metrics["selection_rules"]
    assert set(rules) == {"cheapest", "balanced", "most_confident"}
    in_use = rules[metrics["selection"]]
    assert {k: in_use[k] for k in in_use} == {k: metrics["genre"][k] for k in in_use}
    assert rules["cheapest"]["cost"] < rules["most_confident"]["cost"]


def test_auto_selection_answers_by_the_rule_best_for_training_applicants(fast_project) -> None:
    """Chosen on denied training rows, reported with their scores, and answered by wherever the
    pipeline's artifacts answer (the packaged model carries it: tests/service/test_package.py)."""
    paths = Artifacts(fast_project.root)
    settings = load_settings(fast_project.root / "params.yaml")
    metrics = json.loads(paths.metrics("evaluate").read_text())
    chosen = json.loads(paths.selection.read_text())
    scores = chosen["scores"]
    assert settings.recourse.selection == "auto" and chosen["auto"]
    assert chosen["applicants"] == settings.evaluate.selection_applicants
    best = max(scores, key=scores.__getitem__)
    clearly = best == "cheapest" or chosen["standard_errors_ahead_of_cheapest"][best] >= CLEARLY_BETTER
    assert metrics["selection"] == chosen["rule"] == (best if clearly else "cheapest")
    assert metrics["selection_chosen_on"]["scores"] == scores
    assert engine_from_artifacts(paths, settings.recourse).settings.selection == chosen["rule"]
    # and, for that rule, whether plausible candidates come first: where it scored higher
    preference = chosen["plausible_first_scores"]
    assert metrics["plausible_first"] == chosen["plausible_first"] == (preference["on"] > preference["off"])
    assert metrics["selection_chosen_on"]["plausible_first_scores"] == preference
    assert engine_from_artifacts(paths, settings.recourse).settings.plausible_first == chosen["plausible_first"]


def test_second_repro_is_a_no_op_and_metrics_show(fast_project) -> None:
    again = fast_project.run("dvc", "repro")
    assert again.returncode == 0, again.stderr
    assert "Running stage" not in again.stdout
    status = fast_project.run("dvc", "status")
    assert "up to date" in status.stdout.lower()
    shown = fast_project.run("dvc", "metrics", "show")
    assert shown.returncode == 0, shown.stderr
    assert "genre.validity_rf" in shown.stdout and "nnr.score" in shown.stdout


def test_the_transformer_is_selected_in_params_and_served(fast_project, tmp_path) -> None:
    project = fast_project.copy_to(tmp_path / "project")
    params_path = project.root / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    merge_overrides(
        params,
        {
            "train_generator": {
                "kind": "transformer",
                "transformer": {"epochs": 2, "encoder_layers": 1, "decoder_layers": 1},
            }
        },
    )
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    done = project.run("dvc", "repro")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = set(re.findall(r"Running stage '(\w+)'", done.stdout))
    assert ran == {"train_generator", "evaluate", "package"}
    paths = Artifacts(project.root)
    assert json.loads(paths.metrics("train_generator").read_text())["kind"] == "transformer"
    assert json.loads(paths.metrics("evaluate").read_text())["genre"]["immutable_violations"] == 0
    engine = engine_from_artifacts(paths, load_settings(params_path).recourse)
    assert isinstance(engine.generator, TransformerGenerator)
    x = load_prepared(paths).x_test[:5]
    batch = engine.recourse(x)
    assert batch.x_plus.shape == x.shape
    assert paths.bento.stat().st_mtime > paths.generator.stat().st_mtime


def test_a_change_to_the_cost_makes_exactly_the_stages_that_run_it_stale(fast_project, tmp_path) -> None:
    project = fast_project.copy_to(tmp_path / "project")
    cost = project.root / "genre/recourse/cost.py"
    cost.write_text(cost.read_text() + "\n# edited\n")
    status = project.run("dvc", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert set(json.loads(status.stdout)) == {
        "train_classifier",
        "synthesize_pairs",
        "train_generator",
        "evaluate",
        "package",
    }  # the threshold searches admissible rows


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            "\n  epochs: true\n",
            "params.yaml:{line}: train_classifier.epochs: Input should be a valid integer (got true)",
        ),
        ("\n  epochs: 30\n  lr: 0.01\n", 'found duplicate key "lr"'),  # DVC's own YAML reader refuses it first
    ],
)
def test_a_params_error_stops_repro_before_any_output_is_touched(fast_project, tmp_path, edit, said) -> None:
    """DVC reruns train_classifier (its section changed), which refuses the file before doing
    anything; every output, metrics and plots included, is left as it was, because no stage lets
    DVC delete its outputs first."""
    project = fast_project.copy_to(tmp_path / "project")
    params_path = project.root / "params.yaml"
    text = params_path.read_text()
    assert "\n  epochs: 30\n" in text
    params_path.write_text(text.replace("\n  epochs: 30\n", edit, 1))
    line = next(
        i for i, row in enumerate(params_path.read_text().splitlines(), 1) if row.strip() == edit.split("\n")[1].strip()
    )
    watched = [
        p for folder in ("data", "metrics", "plots") for p in sorted((project.root / folder).rglob("*")) if p.is_file()
    ]
    before = {p: p.read_bytes() for p in watched}

    done = project.run("dvc", "repro")

    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output, output[-3000:]
    assert output.count(said.format(line=line)) == 1, output[-3000:]
    assert {p: p.read_bytes() for p in watched if p.exists()} == before


def test_bad_data_stops_repro_with_its_problems_once_and_no_traceback(fast_project, tmp_path) -> None:
    """A delivery with an impossible age and an unknown category: ingest says so, once per
    problem, exits non-zero without a traceback, keeps its report outside DVC's outputs, and every
    earlier output stays as it was: once the data is put back, nothing needs to run again."""
    project = fast_project.copy_to(tmp_path / "project")
    raw = project.root / "data/raw/adult/train.csv.gz"
    delivered = raw.read_bytes()
    frame = pd.read_csv(raw)
    frame.loc[3, "age"] = 150
    frame.loc[5, "workclass"] = "Self-Employed"
    frame.to_csv(raw, index=False)
    watched = [
        p
        for folder in ("data/prepared", "data/models", "metrics", "plots")
        for p in sorted((project.root / folder).rglob("*"))
        if p.is_file()
    ]
    before = {p: p.read_bytes() for p in watched}

    done = project.run("dvc", "repro")

    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output, output[-3000:]
    assert output.count("failed validation (2 problems):\n") == 1, output[
        -3000:
    ]  # (and in Prefect's record of the run)
    assert output.count("column 'age': 1 of ") == 1, output[-3000:]
    assert output.count("column 'workclass': 1 of ") == 1, output[-3000:]
    (said,) = [line for line in output.splitlines() if "the full report (GX results, Data Docs): " in line]
    report = project.root / said.split("Data Docs): ")[1]  # relative to the project, where dvc runs
    assert report.parent == project.root / "data/validation-failed" and (report / "train.json").is_file()
    assert {p: p.read_bytes() for p in watched} == before

    raw.write_bytes(delivered)
    status = project.run("dvc", "status")
    assert status.returncode == 0 and "Data and pipelines are up to date" in status.stdout, status.stdout


def test_approximate_pairs_say_what_they_missed_of_the_exact_ones(fast_project, tmp_path) -> None:
    """synthesize_pairs in approximate mode on the project's data (k small enough that a group
    holds more targets than a source asks for, so the index is used): the recall of the exact
    top-k, measured on a sample of sources, is in its metrics, and meets the issue's 0.95."""
    project = fast_project.copy_to(tmp_path / "project")
    settings = load_settings(project.root / "params.yaml")
    approximate = {"k": 10, "mode": "approximate", "approximate": ApproximateSettings(probe=4, recall_sources=150)}
    settings = settings.model_copy(
        update={"synthesize_pairs": settings.synthesize_pairs.model_copy(update=approximate)}
    )
    metrics = synthesize_pairs.run(settings)
    assert metrics["mode"] == "approximate" and metrics["recall"]["sources"] == 150
    assert metrics["recall"]["top_k"] >= 0.95 and metrics["recall"]["mass"] >= 0.95, metrics["recall"]
    figures, timings = split_timings(metrics)
    assert json.loads(Artifacts(project.root).metrics("synthesize_pairs").read_text()) == figures
    assert json.loads(Artifacts(project.root).timings("synthesize_pairs").read_text()) == timings


@pytest.mark.parametrize("cluster", ["local", "existing"])
def test_pairs_on_a_local_dask_cluster_are_the_in_process_ones(fast_project, tmp_path, cluster: str) -> None:
    """The synthesize_pairs flow, run as DVC runs it but with ``runner: dask``: its pieces are
    Prefect tasks on a 2-worker local Dask cluster (prefect-dask) the stage starts, or on a cluster
    already running, reached by its scheduler's ``runner.address``; either way the pairs hold
    exactly the arrays the in-process ``dvc repro`` wrote."""
    from distributed import LocalCluster

    project = fast_project.copy_to(tmp_path / "project")
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    with contextlib.ExitStack() as stack:
        runner: dict[str, object] = {"kind": "dask", "workers": 2}
        if cluster == "existing":  # its workers import this package as installed, as a real cluster's would
            existing = stack.enter_context(
                LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
            )
            runner["address"] = existing.scheduler_address
        merge_overrides(params, {"runner": runner})
        (project.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        done = project.run("python", "-m", "flows.synthesize_pairs")
        assert done.returncode == 0, done.stderr[-3000:]
        if cluster == "existing":  # the pieces (group_pairs calls) ran there; their task logs are the cluster's
            assert "group_pairs" in existing.scheduler.task_prefixes, list(existing.scheduler.task_prefixes)
        else:
            assert "pairs-piece" in done.stdout + done.stderr  # the pieces ran as Prefect tasks
    metrics = json.loads(Artifacts(project.root).metrics("synthesize_pairs").read_text())
    assert metrics["runner"] == "dask"
    before, after = load_pairs(Artifacts(fast_project.root).pairs), load_pairs(Artifacts(project.root).pairs)
    for a, b in zip(
        (*before[:2], *before[2].dense(), before[2].nearest_cost),
        (*after[:2], *after[2].dense(), after[2].nearest_cost),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_a_stage_ends_fast_and_its_last_log_line_still_reaches_prefect(fast_project, tmp_path) -> None:
    """A stage run by hand ends without the interpreter's last garbage collection
    (``flows.stage.main``); its run is complete in the Prefect API, its log to the last line."""
    project = fast_project.copy_to(tmp_path / "project")
    done = project.run("python", "-m", "flows.evaluate")
    assert done.returncode == 0, done.stderr[-3000:]
    logs = subprocess.run(
        [sys.executable, "-c", LAST_RUN_LOGS, project_tag(project.root)],
        env=project.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert logs.returncode == 0, logs.stderr[-2000:]
    assert logs.stdout.startswith("COMPLETED") and "Finished in state Completed()" in logs.stdout, logs.stdout
