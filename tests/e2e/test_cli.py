"""``genre recourse`` on a CSV with good and bad rows, as a user runs it."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from genre.artifacts.paths import Artifacts
from genre.cli.main import app
from research.weekly_batches import poisoned


def test_batch_answers_valid_rows_and_reports_bad_ones(fast_project, tmp_path) -> None:
    applicants = pd.read_csv(Artifacts(fast_project.root).test_csv).head(12).drop(columns=["income"])
    applicants = applicants.astype(object)
    applicants.loc[2, "age"] = 300
    applicants.loc[5, "sex"] = "Robot"
    applicants.loc[7, "hours-per-week"] = "forty"
    src, out = tmp_path / "applicants.csv", tmp_path / "recourses.csv"
    applicants.to_csv(src, index=False)

    result = CliRunner().invoke(
        app,
        [
            "recourse",
            "--input",
            str(src),
            "--output",
            str(out),
            "--params",
            str(fast_project.root / "params.yaml"),
            "--workspace",
        ],
    )

    assert result.exit_code == 1, result.output
    for expected in ("line 4: age", "line 7: sex", "line 9: hours-per-week"):
        assert expected in result.output
    answered = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(answered) == len(applicants)
    assert list(answered.columns[: applicants.shape[1]]) == list(applicants.columns)
    assert set(answered.loc[[2, 5, 7], "status"]) == {"invalid"}
    assert "age: 300 is outside the allowed range [17, 90]" in answered.loc[2, "error"]
    valid = answered.drop(index=[2, 5, 7])
    assert set(valid["status"]) <= {"found", "not_found", "not_needed"}
    assert (valid["status"] == "found").any()
    found = valid[valid["status"] == "found"]
    assert (found["probability_after"].astype(float) > 0.5).all()
    denied = valid[valid["status"] != "not_needed"]
    assert denied["reasons"].str.len().gt(0).all()  # the principal reasons, most important first
    assert valid.loc[valid["status"] == "not_needed", "reasons"].eq("").all()
    for _, row in found.iterrows():  # each reason a feature the recourse moved
        reasons = row["reasons"].split(";")
        assert len(reasons) <= 4 and all(row[f] != applicants.loc[row.name, f].__str__() for f in reasons)
    assert (found["race"] == applicants.loc[found.index, "race"]).all()


def test_a_hostile_header_is_reported_on_one_line_each(fast_project, tmp_path) -> None:
    """A column name with a newline, an ANSI escape or rich markup in it comes back escaped, one
    line per problem, and cannot crash or colour the report."""
    applicants = pd.read_csv(Artifacts(fast_project.root).test_csv).head(3).drop(columns=["income"])
    applicants["x\n[ERROR] forged\x1b[31m"] = 1
    applicants["[/red] [bold]"] = 2
    src, out = tmp_path / "applicants.csv", tmp_path / "recourses.csv"
    applicants.to_csv(src, index=False)

    result = CliRunner().invoke(
        app,
        [
            "recourse",
            "--input",
            str(src),
            "--output",
            str(out),
            "--params",
            str(fast_project.root / "params.yaml"),
            "--workspace",
        ],
    )

    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert sum(line.startswith("invalid line ") for line in lines) == 6, result.output  # 3 rows x 2 columns
    assert "\x1b" not in result.output and not any(line.startswith("[ERROR]") for line in lines)
    assert "invalid line 2: x\\n[ERROR] forged\\x1b[31m: is not a feature of this model" in lines
    assert "invalid line 2: [/red] [bold]: is not a feature of this model" in lines


def test_a_missing_column_is_said_once_for_the_file(fast_project, tmp_path) -> None:
    applicants = pd.read_csv(Artifacts(fast_project.root).test_csv).head(5).drop(columns=["income", "age"])
    src, out = tmp_path / "applicants.csv", tmp_path / "recourses.csv"
    applicants.to_csv(src, index=False)
    result = CliRunner().invoke(
        app,
        [
            "recourse",
            "--input",
            str(src),
            "--output",
            str(out),
            "--params",
            str(fast_project.root / "params.yaml"),
            "--workspace",
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip() == "column 'age' is missing from the file; every applicant needs it"
    assert not out.exists()


def test_outside_the_project_it_says_where_it_looked_for_params(tmp_path, monkeypatch) -> None:
    (tmp_path / "a.csv").write_text("age\n40\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["recourse", "--input", "a.csv", "--output", "b.csv"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"no params file at {tmp_path / 'params.yaml'}: run this in the pipeline's project folder, "
        "or pass --params path/to/params.yaml (or, for recourse, --model-dir with a model bundle)"
    )


def test_by_default_it_answers_with_the_production_model_and_says_so(fast_project, tmp_path) -> None:
    """What the service deploys: the model ``registry/production.json`` names (the project's own
    BentoML store, so in a process of the project's environment)."""
    tags = json.loads(Artifacts(fast_project.root).metrics("package").read_text())
    applicants = pd.read_csv(Artifacts(fast_project.root).test_csv).head(4).drop(columns=["income"])
    src, out = tmp_path / "applicants.csv", tmp_path / "recourses.csv"
    applicants.to_csv(src, index=False)
    done = fast_project.run("genre", "recourse", "--input", str(src), "--output", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"answered by {tags['model_tag']} (production)" in done.stderr
    workspace = fast_project.run(
        "genre", "recourse", "--input", str(src), "--output", str(tmp_path / "w.csv"), "--workspace"
    )
    assert "answered by the pipeline's latest artifacts (--workspace)" in workspace.stderr
    assert (tmp_path / "w.csv").read_text() == out.read_text()  # the same model here: production is the only one

    (tmp_path / "bare").mkdir()
    shutil.copy(fast_project.root / "params.yaml", tmp_path / "bare/params.yaml")  # a project nothing was promoted in
    refused = fast_project.run(
        "genre",
        "recourse",
        "--input",
        str(src),
        "--output",
        str(tmp_path / "x.csv"),
        "--params",
        str(tmp_path / "bare/params.yaml"),
    )
    assert refused.returncode == 2 and refused.stderr.strip().startswith("no model is in production yet: run dvc repro")
    assert not (tmp_path / "x.csv").exists()


def test_data_drift_passes_a_sample_of_the_data_and_stops_inverted_or_swapped_labels(fast_project, tmp_path) -> None:
    """``genre data drift`` as an operator runs it before retraining on a new batch: labels
    inverted move the label rate; labels swapped both ways keep every rate, and are caught by the
    production classifier ranking them far worse than its held-out rows (its AUC, kept in its metadata)."""
    test = pd.read_csv(Artifacts(fast_project.root).test_csv)
    same, inverted, swapped = tmp_path / "same.csv", tmp_path / "inverted.csv", tmp_path / "swapped.csv"
    test.to_csv(same, index=False)
    test.assign(income=1 - test["income"]).to_csv(inverted, index=False)
    poisoned(test, 0.4, seed=0).to_csv(swapped, index=False)
    kept = fast_project.run("genre", "data", "drift", str(same), "--report", str(tmp_path / "same.json"))
    assert kept.returncode == 0 and kept.stderr.strip().endswith("(production): no drift"), kept.stderr[-2000:]
    report = json.loads((tmp_path / "same.json").read_text())
    assert report["drifted"] == [] and report["labels"]["expected_on"] == "its held-out rows"
    held_out = json.loads(Artifacts(fast_project.root).metrics("train_classifier").read_text())
    assert report["labels"]["expected"] == pytest.approx(held_out["classifier_observed_labels"]["auc"])
    assert report["labels"]["batch"] == pytest.approx(report["labels"]["expected"])  # the held-out rows themselves
    stopped = fast_project.run("genre", "data", "drift", str(inverted))
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert stopped.stderr.splitlines()[1].startswith("drifted: favourable-label rate 0.")
    caught = fast_project.run("genre", "data", "drift", str(swapped))
    assert caught.returncode == 1 and "Traceback" not in caught.stderr
    assert [line for line in caught.stderr.splitlines() if line.startswith("drifted:")] == [
        caught.stderr.splitlines()[1]
    ] and caught.stderr.splitlines()[1].startswith("drifted: labels: the classifier's AUC on the batch's labels 0.")


def test_a_file_larger_than_a_chunk_gives_the_rows_of_one_chunk(fast_project, tmp_path) -> None:
    """Read, answered and written 7 rows at a time, on a 2-worker local Dask cluster, the file's
    answers are the one-chunk, in-process ones, row for row, and the bad rows keep their lines."""
    applicants = pd.read_csv(Artifacts(fast_project.root).test_csv).head(40).drop(columns=["income"]).astype(object)
    applicants.loc[3, "age"] = 300
    applicants.loc[30, "sex"] = "Robot"
    src = tmp_path / "applicants.csv"
    applicants.to_csv(src, index=False)
    params = fast_project.root / "params.yaml"
    whole = CliRunner().invoke(
        app, ["recourse", "-i", str(src), "-o", str(tmp_path / "whole.csv"), "--params", str(params), "--workspace"]
    )

    # the same project, its runner a local Dask cluster and its chunks 7 rows
    dask = yaml.safe_load(params.read_text()) | {
        "root": str(fast_project.root),
        "runner": {"kind": "dask", "workers": 2, "chunk_rows": 7},
    }
    (tmp_path / "dask.yaml").write_text(yaml.safe_dump(dask))
    chunked = CliRunner().invoke(
        app,
        [
            "recourse",
            "-i",
            str(src),
            "-o",
            str(tmp_path / "chunked.csv"),
            "--params",
            str(tmp_path / "dask.yaml"),
            "--workspace",
        ],
    )

    assert whole.exit_code == chunked.exit_code == 1, (whole.output, chunked.output)
    for output in (whole.output, chunked.output):
        assert "line 5: age" in output and "line 32: sex" in output, output
    assert (tmp_path / "chunked.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert len(pd.read_csv(tmp_path / "chunked.csv")) == 40


def test_a_file_that_is_not_csv_is_refused_in_one_line_and_nothing_is_written(fast_project, tmp_path) -> None:
    """An empty file, and a file whose rows break the CSV format past the first chunk: one line,
    exit 2, and an output written earlier is left as it was."""
    out = tmp_path / "recourses.csv"
    out.write_text("an earlier answer\n")
    header = pd.read_csv(Artifacts(fast_project.root).test_csv).head(12).drop(columns=["income"])
    broken = tmp_path / "broken.csv"
    broken.write_text(header.to_csv(index=False) + 'x,"never closed\n')
    (tmp_path / "empty.csv").write_text("")
    for src in (tmp_path / "empty.csv", broken):
        result = CliRunner().invoke(
            app,
            [
                "recourse",
                "-i",
                str(src),
                "-o",
                str(out),
                "--params",
                str(fast_project.root / "params.yaml"),
                "--workspace",
                "--chunk-rows",
                "5",
            ],
        )
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and "cannot be read as CSV" in result.output, result.output
        assert out.read_text() == "an earlier answer\n"
