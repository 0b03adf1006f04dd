"""A batch's life in unattended retraining: taken once by its rows (any name, order or
compression), anything unusable in incoming quarantined with its reason, set aside when the
challenger trained on it is refused, released by a person, withdrawn by a person."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from genre.artifacts.atomic import write_json
from genre.cli.main import app
from genre.messages import InputError
from genre.retraining import ledger, run
from genre.retraining.intake import release_held, take_batches
from genre.retraining.withdrawal import withdraw_batch
from genre.settings import IngestSettings, Settings

ADULT = Path(__file__).resolve().parents[2] / "data/raw/adult"


@pytest.fixture
def project(tmp_path: Path) -> tuple[Settings, pd.DataFrame]:
    shutil.copy(ADULT / "schema.yaml", tmp_path / "schema.yaml")
    ingest = IngestSettings(train_csv=Path("train.csv"), schema_path=Path("schema.yaml"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"ingest": json.loads(ingest.model_dump_json())}))
    return Settings(root=tmp_path, ingest=ingest), pd.read_csv(ADULT / "train.csv.gz", nrows=300)


def incoming(settings: Settings) -> Path:
    folder = settings.resolve(settings.retrain.incoming)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def verdicts(settings: Settings) -> dict[str, tuple[str, str]]:
    return {b.file: (b.verdict, b.reason) for b in take_batches(settings, None, None, "nothing").batches}


def test_intake_takes_rows_once_and_quarantines_what_it_cannot_use(project) -> None:
    settings, rows = project
    folder = incoming(settings)
    rows.head(100).to_csv(folder / "a.csv", index=False)
    with gzip.open(folder / "b.csv.gz", "wt") as out:  # the same rows, shuffled and compressed
        rows.head(100).sample(frac=1.0, random_state=1).to_csv(out, index=False)
    (folder / "junk.csv.gz").write_bytes(b"\x00not gzip at all\xff" * 20)
    (folder / "notes.txt").write_text("the batch of 3 May\n")
    said = verdicts(settings)
    assert said["a.csv"][0] == "accepted"
    assert said["b.csv.gz"][0] == "quarantined"
    assert "the same rows as a.csv, taken in this run" in said["b.csv.gz"][1]
    assert said["junk.csv.gz"][0] == "quarantined" and "not a readable gzip file" in said["junk.csv.gz"][1]
    assert said["notes.txt"][0] == "quarantined" and "not a batch" in said["notes.txt"][1]
    assert list(folder.iterdir()) == [], "every file is accounted for, none left to stop the next run"
    [entry] = ledger.entries(settings.root)
    assert entry["event"] == "accepted" and entry["file"] == "a.csv"

    rows.head(100).iloc[::-1].to_csv(folder / "c.csv", index=False)  # the same rows again, another week
    [(verdict, reason)] = verdicts(settings).values()
    assert verdict == "quarantined" and "the same rows as a.csv (accepted" in reason


def test_a_refused_challengers_batches_are_set_aside_until_a_person_releases_them(project) -> None:
    settings, rows = project
    rows.head(100).to_csv(incoming(settings) / "week1.csv", index=False)
    intake = take_batches(settings, None, None, "nothing")
    write_json(settings.root / run.PENDING, intake.to_json())
    accepted = settings.resolve(settings.ingest.batches)
    assert (accepted / "week1.csv").is_file()

    record = run._decide(settings, "refused", "failed: validity", "")
    assert not (accepted / "week1.csv").exists(), "a refused challenger's batch is no longer training data"
    params = (settings.root / "params.yaml").read_bytes()
    assert "@" in record["by"] and record["params_sha256"] == hashlib.sha256(params).hexdigest()
    assert record["commit"] is None and record["flow_run"] is None  # not a git checkout; run by hand
    [aside] = record["set_aside"]
    moved = settings.root / aside
    assert moved.is_file() and moved.name.endswith("-week1.csv")
    why = json.loads(moved.with_name(moved.name + ".decision.json").read_text())
    assert why["decision"] == "refused" and why["reason"] == "failed: validity" and why["record"] == record["path"]
    assert [e["event"] for e in ledger.entries(settings.root)] == ["accepted", "set_aside"]

    rows.head(100).to_csv(incoming(settings) / "week1-again.csv", index=False)
    [(verdict, reason)] = verdicts(settings).values()
    assert verdict == "quarantined" and "set aside" in reason, "sent again, it is not taken"

    waiting = release_held(settings, moved, "checked by hand: the labels are right")
    assert waiting == incoming(settings) / "week1.csv"
    assert verdicts(settings)["week1.csv"][0] == "accepted", "released, exactly these bytes are taken"


def test_an_accepted_batch_is_withdrawn_with_its_record_and_stays_out(project) -> None:
    settings, rows = project
    rows.head(100).to_csv(incoming(settings) / "week2.csv", index=False)
    verdicts(settings)
    with pytest.raises(InputError, match="say why"):
        withdraw_batch(settings, "week2.csv", "  ")
    with pytest.raises(InputError, match=r"week9\.csv: not a batch in data/raw/accepted \(there: week2\.csv\)"):
        withdraw_batch(settings, "week9.csv", "poisoned")

    where = withdraw_batch(settings, "week2.csv", "labels flipped by the upstream export")
    assert not (settings.resolve(settings.ingest.batches) / "week2.csv").exists()
    said = json.loads(where.with_name(where.name + ".withdrawal.json").read_text())
    assert said["reason"] == "labels flipped by the upstream export" and said["rows"] == 100 and "@" in said["by"]

    rows.head(100).to_csv(incoming(settings) / "week3.csv", index=False)
    [(verdict, reason)] = verdicts(settings).values()
    assert verdict == "quarantined" and "the same rows as week2.csv (withdrawn" in reason


def test_the_withdraw_command_says_what_it_did_or_what_is_wrong_in_one_line(project) -> None:
    settings, rows = project
    rows.head(100).to_csv(incoming(settings) / "week4.csv", index=False)
    verdicts(settings)
    params = str(settings.root / "params.yaml")
    missing = CliRunner().invoke(app, ["data", "withdraw", "week5.csv", "--reason", "bad", "--params", params])
    assert missing.exit_code != 0 and missing.output.strip().splitlines() == [
        "week5.csv: not a batch in data/raw/accepted (there: week4.csv)"
    ]
    done = CliRunner().invoke(app, ["data", "withdraw", "week4.csv", "--reason", "bad", "--params", params])
    assert done.exit_code == 0, done.output
    assert "withdrawn:" in done.output and "the next retraining run trains without it" in done.output
