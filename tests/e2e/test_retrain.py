"""Unattended retraining as the schedule runs it (``python -m flows.retrain``), on a copy of the
fast project: new batches in (a corrupted one quarantined, the rest trained on), a worse
challenger refused with production untouched, a drifted batch stopping the run before any
training and taken by the next intake once a person releases it, a second run refused while one
holds the lock, and a run killed with -9 mid-training that the next run finishes without redoing the
finished stages or leaving anything RUNNING."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import yaml

from flows.abandoned import project_tag
from genre.artifacts.paths import Artifacts

STATES = (  # the states of a project's flow runs, as the Prefect API reports them
    "import sys; from prefect.client.orchestration import get_client\n"
    "from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags\n"
    "with get_client(sync_client=True) as c:\n"
    "    print(sorted({r.state_type.value for r in "
    "c.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[sys.argv[1]])))}))"
)
INTAKE = (
    "import json; from genre.retraining.run import take_new_data; from genre.settings import load_settings; "
    "print(json.dumps(take_new_data(load_settings())))"
)
ADULT_TRAIN = Path(__file__).resolve().parents[2] / "data/raw/adult/train.csv.gz"


def _rows(n: int, seed: int) -> pd.DataFrame:
    return pd.read_csv(ADULT_TRAIN).sample(n, random_state=seed).reset_index(drop=True)


def _decisions(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "registry/decisions").glob("*.json"))]


def _params(root: Path, change) -> str:
    """Apply ``change`` to the project's params; -> the text before."""
    before = (root / "params.yaml").read_text()
    params = yaml.safe_load(before)
    change(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return before


def test_retraining_takes_good_batches_quarantines_a_corrupt_one_and_refuses_a_worse_challenger(
    fast_project, tmp_path
) -> None:
    project = fast_project.copy_to(tmp_path / "project")
    root = project.root
    production_before = (root / "registry/production.json").read_text()
    champion = json.loads(production_before)["current"]["model"]
    applicants = pd.read_csv(Artifacts(root).test_csv).head(20).drop(columns=["income"])
    applicants.to_csv(tmp_path / "applicants.csv", index=False)
    assert (
        project.run(
            "genre", "recourse", "-i", str(tmp_path / "applicants.csv"), "-o", str(tmp_path / "before.csv")
        ).returncode
        == 0
    )

    incoming = root / "data/incoming"
    incoming.mkdir(parents=True)
    _rows(300, 1).to_csv(incoming / "2026-01-05.csv", index=False)
    corrupt = _rows(50, 2)
    corrupt.loc[3, "age"] = -4
    corrupt.to_csv(incoming / "2026-01-12.csv", index=False)
    # A worse challenger: one candidate per applicant and no retrieval (evaluate's floor lowered so it is packaged).
    _params(
        root,
        lambda p: (
            p["recourse"].update(n_candidates=1, retrieved=0, reachable=0),
            p["evaluate"].update(min_found_rate=0.0),
        ),
    )

    done = project.run("python", "-m", "flows.retrain")
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]  # refused: its own exit code
    [record] = _decisions(root)
    verdicts = {b["file"]: b["verdict"] for b in record["batches"]}
    assert verdicts == {"2026-01-05.csv": "accepted", "2026-01-12.csv": "quarantined"}
    [quarantined] = (root / "data/quarantine").glob("*-2026-01-12.csv")
    assert "age" in Path(f"{quarantined}.validation.txt").read_text()
    assert not list(incoming.iterdir())
    ingest = json.loads(Artifacts(root).metrics("ingest").read_text())
    assert (
        ingest["batches"] == 1
        and ingest["data_version"] == record["data_versions"]["challenger"] != record["data_versions"]["champion"]
    )

    assert (record["decision"], record["champion"]) == ("refused", champion)
    kept = json.loads(Artifacts(root).selection.read_text())["incumbent"]  # what evaluate was handed
    assert kept["model"] == champion and set(kept) == {"model", "threshold", "selection", "plausible_first"}
    assert record["comparison"]["gate_set_new"] > 0  # denied applicants of the new batch are in the gate set
    assert (
        record["comparison"]["figures"]["challenger"]["score"]
        < record["comparison"]["figures"]["champion"]["score"] - 0.02
    )
    assert (root / "registry/production.json").read_text() == production_before
    page = Path(record["pictures"][0]).name
    assert (root / "registry/decisions" / page).is_file()
    assert f"decision: refused {record['challenger']}" in done.stdout + done.stderr
    assert "accepted batches in registry/accepted) kept in the DVC cache" in done.stdout + done.stderr  # each run
    assert (root / "registry.dvc").is_file()
    after = project.run("genre", "recourse", "-i", str(tmp_path / "applicants.csv"), "-o", str(tmp_path / "after.csv"))
    assert after.returncode == 0 and (tmp_path / "after.csv").read_bytes() == (tmp_path / "before.csv").read_bytes()

    # The refused challenger's batch is no longer training data: set aside beside the decision.
    assert not (root / "data/raw/accepted/2026-01-05.csv").exists()
    [aside] = record["set_aside"]
    assert Path(aside).name.endswith("-2026-01-05.csv") and (root / aside).is_file()
    assert json.loads((root / f"{aside}.decision.json").read_text())["decision"] == "refused"

    # The next run trains without it (still refused: the worse settings are the cause here).
    again = project.run("python", "-m", "flows.retrain")
    assert again.returncode == 3, again.stderr[-3000:]
    assert (_decisions(root)[-1]["decision"], _decisions(root)[-1]["set_aside"]) == ("refused", [])
    assert json.loads(Artifacts(root).metrics("ingest").read_text())["batches"] == 0

    # A drifted batch (every applicant 20 years older, labels inverted) stops the run before any training.
    lock_before = (root / "dvc.lock").read_text()
    drifted = _rows(300, 3)
    drifted["age"] = (drifted["age"] + 20).clip(upper=90)
    drifted["income"] = 1 - drifted["income"]
    drifted.to_csv(incoming / "2026-01-19.csv", index=False)
    _rows(100, 4).to_csv(incoming / "2026-01-26.csv", index=False)
    stopped = project.run("python", "-m", "flows.retrain")
    assert stopped.returncode == 4, stopped.stderr[-3000:]  # held for drift
    record = _decisions(root)[-1]
    assert record["decision"] == "stopped" and "age" in record["reason"]
    assert {b["file"]: b["verdict"] for b in record["batches"]} == {
        "2026-01-19.csv": "drifted",
        "2026-01-26.csv": "waiting",
    }
    [held] = (root / "data/held").glob("*-2026-01-19.csv")
    report = json.loads(Path(f"{held}.drift.json").read_text())
    assert report["label_rate"]["drifted"] and [Path(p).name for p in report["pictures"]] == [f"{held.name}.age.png"]
    # inverted labels are ranked upside down by production's classifier, against its held-out AUC as packaged
    assert report["labels"]["drifted"] and report["labels"]["expected_on"] == "its held-out rows"
    assert report["labels"]["high"] < 0.5 < report["labels"]["expected"]
    assert (root / report["pictures"][0]).stat().st_size > 1000
    assert (incoming / "2026-01-26.csv").is_file()  # waits for the next run
    assert (root / "dvc.lock").read_text() == lock_before
    assert (root / "registry/production.json").read_text() == production_before

    # A person who judged the change real releases the held batch: the next intake takes it, drift check waived.
    wrong = project.run("genre", "data", "release", str(incoming / "2026-01-26.csv"), "--reason", "looked at it")
    assert wrong.returncode == 2 and "not a batch held in data/held" in wrong.stderr and "Traceback" not in wrong.stderr
    held_bytes = held.read_bytes()
    released = project.run("genre", "data", "release", str(held), "--reason", "the new branch's older customers")
    assert released.returncode == 0, released.stderr[-3000:]
    assert (incoming / "2026-01-19.csv").read_bytes() == held_bytes and not held.exists()
    taken = project.run("python", "-c", INTAKE)
    assert taken.returncode == 0, taken.stderr[-3000:]
    verdicts = {b["file"]: (b["verdict"], b["reason"]) for b in json.loads(taken.stdout)["batches"]}
    assert verdicts["2026-01-26.csv"][0] == "accepted"
    assert (
        verdicts["2026-01-19.csv"][0] == "accepted"
        and "drift check waived" in verdicts["2026-01-19.csv"][1]
        and "older customers" in verdicts["2026-01-19.csv"][1]
    )
    assert (root / "data/raw/accepted/2026-01-19.csv").read_bytes() == held_bytes


def test_a_second_run_is_refused_and_a_killed_run_is_finished_by_the_next(fast_project, tmp_path) -> None:
    project = fast_project.copy_to(tmp_path / "project")
    root = project.root
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from genre.retraining.lock import run_lock\n"
                "with run_lock(sys.argv[1]):\n"
                "    print('held', flush=True); time.sleep(300)"
            ),
            str(root),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = project.run("python", "-m", "flows.retrain")
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines()[-1].startswith("another pipeline run is in progress")
    finally:
        holder.kill()
        holder.wait()

    (root / "data/incoming").mkdir(parents=True)
    _rows(200, 5).to_csv(root / "data/incoming/2026-02-02.csv", index=False)
    log = tmp_path / "killed.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "flows.retrain"], cwd=root, env=project.env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 900
    started = []
    while time.monotonic() < deadline and not started:
        started = (
            [p for p in (root / "registry/logs").glob("*.log") if "Running stage 'train_generator'" in p.read_text()]
            if (root / "registry/logs").is_dir()
            else []
        )
        assert run.poll() is None, log.read_text()[-3000:]
        time.sleep(1)
    assert started, "the run never reached train_generator"
    family = psutil.Process(run.pid).children(recursive=True)
    run.send_signal(signal.SIGKILL)
    run.wait()
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"left running after the run was killed: {[p.cmdline() for p in alive]}"

    rerun = project.run("python", "-m", "flows.retrain")
    assert rerun.returncode in (0, 3), rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "marked 1 abandoned run(s)" in rerun.stderr or "abandoned" in rerun.stderr
    [relog] = [p for p in (root / "registry/logs").glob("*.log") if p != started[0] and "sibling" not in p.name]
    text = relog.read_text()
    assert "Stage 'train_classifier' didn't change, skipping" in text and "Running stage 'train_generator'" in text
    record = _decisions(root)[-1]
    assert (record["decision"], rerun.returncode) in (("promoted", 0), ("refused", 3))
    assert [b["file"] for b in record["batches"]] == ["2026-02-02.csv"]  # taken by the killed run, reported by this one
    status = project.run("dvc", "status").stdout.strip()
    if record["decision"] == "promoted":
        assert status.endswith("up to date."), status
    else:  # refused: its batch was set aside, so the next run's ingest has other data to read
        assert record["set_aside"] and "data/raw" in status, status
    running = subprocess.run(
        [sys.executable, "-c", STATES, project_tag(root)],
        env=project.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert running.returncode == 0, running.stderr[-2000:]
    states = running.stdout.strip()
    assert "RUNNING" not in states and "CRASHED" in states, states
