"""Every shell command the README and the pages of ``docs/`` show, run as written, so a documented
command cannot silently break (``bentoml import data/package/...`` once did: BentoML read the
relative path from ``/``).

Each ```bash block of those files is preceded by ``<!-- commands: <id> -->``; a test here runs the
block of each id in a copy of the fast end-to-end project (the own-dataset block in a project of
its own, on a sample of ``../shared/datasets/adult-raw``), filling in only the placeholders (a
version, a commit) and the port (a free one instead of 3000). The two set-up commands are what
``.ci/run`` runs (the pipeline's ``dvc repro`` is the fast project's own), and the ``docker`` block
needs a Docker engine, which the build machines lack; those are the only blocks not run here.
Long-running commands (``bentoml serve``, ``python -m flows.schedule``) are started, used, and
stopped the ways the README says (Ctrl-C, SIGTERM, even ``kill -9``), and nothing may be left
running or listening afterwards.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

BLOCK = re.compile(r"(?:<!-- commands: (?P<id>[\w-]+) -->\n)?```bash\n(?P<body>.*?)```", re.DOTALL)
TRAILING_COMMENT = re.compile(r"\s+# .*$")
RUN_HERE = {
    "own-dataset",
    "inspect",
    "schedule",
    "cli",
    "import",
    "serve",
    "request",
    "store",
    "rollback",
    "production",
    "keys",
    "records",
}
DOCUMENTED = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]  # the README and every task page
RAW = REPO.parent / "shared/datasets/adult-raw"  # the UCI Adult data as published: the README's own-dataset example
RAW_ROWS = {"train": 3000, "test": 1000}  # a sample, so the run stays short
# The set-up commands are .ci/run's; docker needs a daemon; withdraw needs an accepted batch, and
# tests/code/test_batch_lifecycle.py runs the command on one.
NOT_RUN_HERE = {"setup-pipeline", "setup-tests", "docker", "withdraw"}
READY_WITHIN_S = 600  # a cold `bentoml serve` takes 6-40 s on 2 cores, minutes when both are busy
STOP_WITHIN_S = 60
FOLLOW_WITHIN_S = 60  # a running service answers with a promoted model within this (issue: 60 s)


def readme_blocks() -> list[tuple[str | None, list[str]]]:
    """(id, commands) of every ```bash block, in order; a command is a line that is not a comment."""
    text = "\n".join(path.read_text() for path in DOCUMENTED)
    return [
        (
            m["id"],
            [
                TRAILING_COMMENT.sub("", line)
                for line in m["body"].splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ],
        )
        for m in BLOCK.finditer(text)
    ]


def block(name: str) -> list[str]:
    [commands] = [commands for found, commands in readme_blocks() if found == name]
    return commands


def fill(command: str, **values: str) -> str:
    """The command with its placeholders filled in; none may be left."""
    for placeholder, value in values.items():
        command = command.replace(placeholder, value)
    assert not re.search(r"<[a-z-]+>", command), f"unfilled placeholder in {command!r}"
    return command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def shell(project, command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "-c", command], cwd=project.root, env=env or project.env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    return done


class Background:
    """A README command that runs until stopped, started as a shell would start it."""

    def __init__(self, project, command: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", f"exec env {command}"],  # env: as a shell runs `VAR=value command`
                cwd=project.root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for(self, ready) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            if ready():
                return
            time.sleep(0.5)
        pytest.fail(f"not ready within {READY_WITHIN_S} s:\n{self.log.read_text()[-3000:]}")

    def stop_with(self, sig: signal.Signals) -> list[psutil.Process]:
        """Send ``sig`` to the command alone (not its process group, as a terminal's Ctrl-C or
        ``kill <pid>`` would) and wait for it; -> its processes still alive after a grace period."""
        family = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        self.process.send_signal(sig)
        try:
            self.process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pass
        _, alive = psutil.wait_procs(family, timeout=STOP_WITHIN_S)
        return alive

    def kill(self) -> None:
        """Teardown of a failed test: nothing of it may outlive the test."""
        for process in (
            [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
            if self.process.poll() is None
            else []
        ):
            process.kill()


@pytest.fixture(scope="module")
def project(fast_project, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the fast project, committed, so the README's git and DVC commands have history."""
    copy = fast_project.copy_to(tmp_path_factory.mktemp("readme") / "project")
    for command in (
        ("git", "add", "-A"),
        ("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "fast run"),
    ):
        done = copy.run(*command)
        assert done.returncode == 0, done.stderr
    return copy


@pytest.fixture(scope="module")
def tags(project) -> dict[str, str]:
    return json.loads((project.root / "metrics/package.json").read_text())


def empty_store(project, where: Path) -> dict[str, str]:
    """The project's environment with a BentoML home of its own: another machine's, as it were."""
    return {**project.env, "BENTOML_HOME": str(where)}


@pytest.fixture
def background() -> Iterator[list[Background]]:
    started: list[Background] = []
    yield started
    for command in started:
        command.kill()


def test_every_shell_block_of_the_readme_is_run_here_or_named_why_not() -> None:
    blocks = readme_blocks()
    assert all(name is not None for name, _ in blocks), "every ```bash block needs a <!-- commands: id --> line"
    names = [name for name, _ in blocks]
    assert len(names) == len(set(names)), names
    assert set(names) == RUN_HERE | NOT_RUN_HERE
    assert all(c.startswith(("bentoml containerize ", "docker run ")) for c in block("docker")), block("docker")


def test_the_set_up_commands_are_what_ci_runs() -> None:
    """``.ci/run`` runs the test command as the README writes it, after the first command's
    install; that command's ``dvc repro`` is what the fast project runs (on a sample)."""
    [pipeline], [tests] = block("setup-pipeline"), block("setup-tests")
    install, repro = pipeline.rsplit(" && ", 1)
    assert repro == "dvc repro"
    ci = (REPO / ".ci/run").read_text().splitlines()
    assert install in ci and tests in ci


@pytest.fixture(scope="module")
def raw_project(new_project):
    """The README's own-dataset steps on the published Adult data, with no edit of the schema."""
    if not RAW.is_dir():
        pytest.skip(f"{RAW} is not here (../shared is absent): the messy-data run needs it")
    project = new_project("own_dataset")
    folder = project.root / "data/raw/adult-raw"
    folder.mkdir()
    for split, rows in RAW_ROWS.items():
        frame = pd.read_csv(RAW / f"{split}.csv.gz", dtype=str, keep_default_na=False)
        frame.sample(rows, random_state=0).to_csv(folder / f"{split}.csv.gz", index=False)
    [infer] = block("own-dataset")
    shell(project, fill(infer))
    params_path = project.root / "params.yaml"  # the step the README asks of the user: point ingest at the files
    params = yaml.safe_load(params_path.read_text())
    params["ingest"].update(
        train_csv="data/raw/adult-raw/train.csv.gz",
        test_csv="data/raw/adult-raw/test.csv.gz",
        schema_path="data/raw/adult-raw/schema.yaml",
    )
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    done = project.run("dvc", "repro")
    assert done.returncode == 0, f"dvc repro failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return project


def test_own_dataset_the_inferred_schema_fills_the_gaps_and_the_pipeline_runs(raw_project) -> None:
    schema = yaml.safe_load((raw_project.root / "data/raw/adult-raw/schema.yaml").read_text())
    assert schema["target"] == {"name": "income", "values": ["<=50K", ">50K"], "favourable": ">50K"}
    filled = {name for name, spec in schema["features"].items() if spec.get("missing")}
    assert filled == {"workclass", "occupation", "native-country"}
    ingest = json.loads((raw_project.root / "metrics/ingest.json").read_text())
    assert set(ingest["values_imputed"]["train"]) == filled
    evaluate = json.loads((raw_project.root / "metrics/evaluate.json").read_text())
    assert evaluate["genre"]["immutable_violations"] == 0


def test_own_dataset_an_applicant_with_a_gap_is_answered_and_told_what_was_filled(raw_project, tmp_path) -> None:
    test = pd.read_csv(raw_project.root / "data/prepared/test.csv").drop(columns=["income"]).head(4)
    test = test.astype(object)
    test.loc[0, "workclass"] = None
    test.to_csv(tmp_path / "applicants.csv", index=False)
    done = raw_project.run(
        "genre", "recourse", "--input", str(tmp_path / "applicants.csv"), "--output", str(tmp_path / "out.csv")
    )
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert out.loc[0, "imputed"] == "workclass" and out.loc[1:, "imputed"].eq("").all()
    assert set(out["status"]) <= {"found", "not_found", "not_needed"}

    # The service, on the model the package stage stored: the same fill, said in the answer.
    applicant = json.loads(test.iloc[[1]].to_json(orient="records"))[0]
    del applicant["occupation"]
    script = (
        "import json, sys\n"
        "from starlette.testclient import TestClient\n"
        "from genre.serving.service import RecourseService\n"
        "with TestClient(RecourseService.to_asgi()) as client:\n"
        "    r = client.post('/recourse', json={'applicant': json.loads(sys.argv[1])})\n"
        "    print(json.dumps({'status': r.status_code, 'body': r.json()}))\n"
    )
    served = subprocess.run(
        [sys.executable, "-c", script, json.dumps(applicant)],
        cwd=tmp_path,
        env=raw_project.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert served.returncode == 0, served.stderr[-3000:]
    reply = json.loads(served.stdout.strip().splitlines()[-1])
    assert reply["status"] == 200, reply
    assert reply["body"]["imputed"] == ["occupation"]


def test_the_batch_cli_command(project) -> None:
    test = pd.read_csv(project.root / "data/prepared/test.csv").head(20)
    test.to_csv(project.root / "applicants.csv", index=False)
    [command] = block("cli")
    shell(project, fill(command))
    answers = pd.read_csv(project.root / "recourses.csv")
    assert len(answers) == 20 and set(answers["status"]) <= {"found", "not_found", "not_needed"}


def test_serving_the_bento_on_another_machine_then_stopping_it(project, tags, tmp_path, background) -> None:
    """Import into an empty store, serve, call it with the README's curl, inspect the store, and
    stop it with SIGTERM: the worker goes too and the port is free again."""
    env, port = empty_store(project, tmp_path / "bentoml"), str(free_port())
    [import_bento], [serve] = block("import"), block("serve")
    shell(project, fill(import_bento), env)
    key = new_key(project, "another-machine")
    bento_version = tags["bento_tag"].split(":")[1]
    served = fill(serve, **{"<version>": bento_version}).replace("3000", port)
    server = Background(project, served, env, tmp_path / "serve.log")
    background.append(server)
    server.wait_for(lambda: _ready(port))

    [curl] = block("request")
    answer = json.loads(shell(project, fill(curl, **{"<key>": key}).replace("3000", port), env).stdout)
    assert answer["model_version"] == tags["model_tag"] and answer["status"] in ("found", "not_found", "not_needed")
    recorded = [day.read_text() for day in (project.root / "logs/answers").glob("answers-*.jsonl")]
    assert any(answer["record_id"] in text for text in recorded)  # where the server was started
    assert not list((tmp_path / "bentoml").rglob("answers-*.jsonl"))  # never inside the bento in the store
    model_version = tags["model_tag"].split(":")[1]
    for command in block("store"):
        version = bento_version if "genre-recourse-service:" in command else model_version
        assert (
            model_version in shell(project, fill(command, **{"<version>": version}), env).stdout
        )  # each names the model

    assert server.stop_with(signal.SIGTERM) == []
    assert not listening(int(port))


def test_the_rollback_recipe_restores_and_serves_the_earlier_bento(project, tags, tmp_path, background) -> None:
    """From git and DVC alone (the bento file deleted, an empty store), then stopped with Ctrl-C."""
    (project.root / "data/package/genre-recourse.bento").unlink()
    commit = project.run("git", "rev-parse", "HEAD").stdout.strip()
    env, port = empty_store(project, tmp_path / "bentoml"), str(free_port())
    restore, import_bento, serve = block("rollback")
    shell(project, fill(restore, **{"<good-commit>": commit}), env)
    assert (project.root / "data/package/genre-recourse.bento").is_file()
    shell(project, fill(import_bento), env)
    server = Background(
        project,
        fill(serve, **{"<that-version>": tags["bento_tag"].split(":")[1]}) + f" --host 127.0.0.1 --port {port}",
        env,
        tmp_path / "serve.log",
    )
    background.append(server)
    server.wait_for(lambda: _ready(port))
    assert server.stop_with(signal.SIGINT) == []
    assert not listening(int(port))


def test_production_is_promoted_rolled_back_and_served_as_the_readme_says(fast_project, tmp_path, background) -> None:
    """The first packaged model is production; a later one waits until promoted; rollback returns
    to the one it replaced; ``genre production serve`` serves production, not the store's latest."""
    project = fast_project.copy_to(tmp_path / "project")
    metrics = project.root / "metrics/package.json"
    first = json.loads(metrics.read_text())
    assert first["promoted"]
    shell(project, "python -m flows.package")  # a second version, as the next run would make
    second = json.loads(metrics.read_text())
    assert not second["promoted"] and second["model_tag"] != first["model_tag"]
    show, promote, rollback, serve = block("production")
    assert shell(project, show).stdout.startswith(f"{first['model_tag']} (bento {first['bento_tag']}), by first model")
    promoted = shell(project, fill(promote, **{"<version>": second["model_tag"].split(":")[1]})).stderr
    assert f"production is now {second['model_tag']} (bento {second['bento_tag']}), by hand" in promoted
    assert f"checked by hand; replaced {first['model_tag']}" in promoted
    again = project.run("genre", "production", "promote", second["model_tag"])
    assert again.returncode == 2 and again.stderr.strip() == f"{second['model_tag']} is production already"
    rolled_back = shell(project, rollback).stderr
    assert f"production is now {first['model_tag']} (bento {first['bento_tag']}), by rollback" in rolled_back
    assert f"; replaced {second['model_tag']}" in rolled_back, "a rollback names what it undid"
    refused = project.run(*rollback.split())
    assert (
        refused.returncode == 2
        and refused.stderr.strip() == f"nothing to roll back to: {first['model_tag']} was the first in production"
    )

    port, ops_port = str(free_port()), str(free_port())
    refused = project.run(*serve.split())
    assert refused.returncode == 2 and "no API key in" in refused.stderr  # keys are on by default
    add, list_keys, revoke = block("keys")
    key = shell(project, add).stdout.strip()
    served = serve.replace("3000", port).replace("3001", ops_port)
    server = Background(project, served, project.env, tmp_path / "serve.log")
    background.append(server)
    server.wait_for(lambda: _ready(ops_port))
    assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 404  # only on the ops port
    [curl] = block("request")
    curl = fill(curl, **{"<key>": key}).replace("3000", port)
    answer = json.loads(shell(project, curl).stdout)
    assert answer["model_version"] == first["model_tag"]  # production, not the newer second
    assert 'endpoint="/recourse"' in httpx.get(f"http://127.0.0.1:{ops_port}/metrics").text
    without_key = json.loads(shell(project, curl.replace(f"-H 'Authorization: Bearer {key}' ", "")).stdout)
    assert without_key["detail"][0]["type"] == "no_key"
    shell(project, fill(promote, **{"<version>": second["model_tag"].split(":")[1]}))
    promoted_at, answered_by = time.monotonic(), first["model_tag"]
    while answered_by != second["model_tag"] and time.monotonic() < promoted_at + FOLLOW_WITHIN_S:
        answer = json.loads(shell(project, curl).stdout)
        answered_by = answer["model_version"]
    assert answered_by == second["model_tag"], "the running service follows a promotion, without a restart"

    show_record, replay, forget = block("records")
    record = json.loads(shell(project, fill(show_record, **{"<record-id>": answer["record_id"]})).stdout)
    assert record["model_version"] == second["model_tag"] and record["key_id"] == key.split("_")[1]
    replayed = shell(project, fill(replay, **{"<record-id>": answer["record_id"]})).stdout
    assert replayed.startswith(f"{answer['record_id']}: identical ({second['model_tag']}")
    erased = shell(project, fill(forget, **{"<input-hash>": record["input_hash"]})).stdout
    assert re.match(r"erased [1-9]\d* records? with input_hash", erased)  # every curl above asked for this person
    gone = project.run(*fill(show_record, **{"<record-id>": answer["record_id"]}).split())
    assert gone.returncode == 2 and "no record" in gone.stderr

    assert "loan-frontend" in shell(project, list_keys).stdout
    shell(project, revoke)
    assert json.loads(shell(project, curl).stdout)["detail"][0]["type"] == "revoked_key"  # no restart needed
    assert server.stop_with(signal.SIGTERM) == []
    assert not listening(int(port))


def test_kill_9_of_bentoml_serve_takes_its_worker_along(project, tags, tmp_path, background) -> None:
    """``kill -9`` cannot be handled by the server, so its worker must notice on its own: before,
    the worker kept running and listening, and a restart on the same port failed."""
    port = str(free_port())
    [serve] = block("serve")
    served = fill(serve, **{"<version>": tags["bento_tag"].split(":")[1]}).replace("3000", port)
    server = Background(project, served, project.env, tmp_path / "serve.log")
    background.append(server)
    server.wait_for(lambda: _ready(port))
    assert server.stop_with(signal.SIGKILL) == []
    assert not listening(int(port))


def test_the_inspection_commands(project) -> None:
    """``dvc metrics show``, ``dvc plots show`` and the whole pipeline as one Prefect flow."""
    for command in block("inspect"):
        shell(project, fill(command))
    assert (project.root / "dvc_plots/index.html").is_file()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_scheduled_retraining_serves_and_stops_cleanly(project, tmp_path, background, sig) -> None:
    [command] = block("schedule")
    log = tmp_path / "schedule.log"
    schedule = Background(project, fill(command), project.env, log)
    background.append(schedule)
    schedule.wait_for(lambda: "being served" in log.read_text())
    assert schedule.stop_with(sig) == []
    assert schedule.process.returncode == 0
    text = log.read_text()
    assert "stopped serving genre-retrain/genre-retrain" in text
    assert "Traceback" not in text and "Exception ignored" not in text, text[-3000:]


def new_key(project, name: str) -> str:
    """A key made as docs/serving.md says (its first ``keys`` command), for ``name``."""
    add = block("keys")[0]
    return shell(project, add.replace("loan-frontend", name)).stdout.strip()


def _ready(port: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
