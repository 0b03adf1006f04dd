"""One pipeline run at a time: a second is refused in one line, the lock dies with its holder
(even under ``kill -9``), and a pipeline's own stages re-enter it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from genre.messages import InputError
from genre.retraining.lock import LOCK_FILE, OWNER_ENV, run_lock

HOLD = (
    "import sys, time; from genre.retraining.lock import run_lock\n"
    "with run_lock(sys.argv[1]):\n"
    "    print('held', flush=True); time.sleep(120)"
)


ENTER = "import sys; from genre.retraining.lock import run_lock\nwith run_lock(sys.argv[1]):\n    print('inside')"
HAND_DOWN = (
    "import os, subprocess, sys; from genre.retraining.lock import OWNER_ENV, run_lock\n"
    "with run_lock(sys.argv[1]):\n"
    "    env = {**os.environ, OWNER_ENV: str(os.getpid())}\n"
    "    child = subprocess.run([sys.executable, '-c', sys.argv[2], sys.argv[1]], "
    "env=env, capture_output=True, text=True)\n"
    "    print(child.stdout.strip() or child.stderr.strip().splitlines()[-1])"
)


def _holder(root: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_is_refused_while_one_holds_the_lock_and_not_after_it_is_killed(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        expected = (
            rf"another pipeline run is in progress in .* \(pid {holder.pid} since .*\); start this one when it ends"
        )
        with pytest.raises(InputError, match=expected) as refused, run_lock(tmp_path):
            pass
        assert "\n" not in str(refused.value)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with run_lock(tmp_path):  # the kernel freed it with the killed process: nothing stuck
        assert f"pid {os.getpid()}" in (tmp_path / LOCK_FILE).read_text()


def test_the_lock_is_reentrant_within_a_run_and_released_at_its_end(tmp_path: Path) -> None:
    with run_lock(tmp_path), run_lock(tmp_path):  # the pipeline flow, then one of its stages
        pass
    holder = _holder(tmp_path)  # free again: another process takes it at once
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with run_lock(tmp_path):
        pass


def test_a_run_hands_its_lock_to_the_processes_it_starts_and_to_no_one_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = subprocess.run(
        [sys.executable, "-c", HAND_DOWN, str(tmp_path), ENTER],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert handed.stdout.strip() == "inside", handed.stderr[-2000:]
    holder = _holder(tmp_path)
    try:  # naming the holder is not enough: this process is not one it started
        monkeypatch.setenv(OWNER_ENV, str(holder.pid))
        with pytest.raises(InputError, match="another pipeline run is in progress"), run_lock(tmp_path):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


FOLLOWER = (
    "import time\n"
    "from genre.retraining.lock import follow_owner\n"
    "follow_owner()\n"
    "print('following', flush=True)\n"
    "time.sleep(120)\n"
)
# A run that hands its lock down and starts a stage through a shell, as DVC does; it prints the
# stage's pid once the stage is watching, then waits to be killed.
RUN_WITH_STAGE = (
    "import os, shlex, subprocess, sys, time\n"
    f"os.environ[{OWNER_ENV!r}] = str(os.getpid())\n"
    "stage = subprocess.Popen(['sh', '-c', shlex.join([sys.executable, '-c', sys.argv[1]]) + '; true'],\n"
    "                         stdout=subprocess.PIPE, text=True)\n"
    "assert stage.stdout.readline().strip() == 'following'\n"
    "print([c.pid for c in __import__('psutil').Process(stage.pid).children()][0], flush=True)\n"
    "time.sleep(120)\n"
)


def test_a_stage_started_under_a_run_ends_when_the_run_is_killed() -> None:
    """``kill -9`` of a retraining run: DVC goes with it, and the stage, a shell further down,
    must not run on without the lock."""
    run = subprocess.Popen([sys.executable, "-c", RUN_WITH_STAGE, FOLLOWER], stdout=subprocess.PIPE, text=True)
    try:
        stage = psutil.Process(int(run.stdout.readline()))
        assert stage.is_running()
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        gone, _ = psutil.wait_procs([stage], timeout=10)
        assert gone, "the stage outlived the run that started it"
    finally:
        run.kill()
        run.wait()


@pytest.mark.parametrize("command", [["promote", "genre-recourse:abc"], ["rollback"]])
def test_production_does_not_change_under_a_run(tmp_path: Path, command: list[str]) -> None:
    """Promote and rollback take the run lock: a retraining run reads production and may promote."""
    from typer.testing import CliRunner

    from genre.cli.main import app

    (tmp_path / "params.yaml").write_text("ingest:\n  train_csv: train.csv\n  schema_path: schema.yaml\n")
    holder = _holder(tmp_path)
    try:
        done = CliRunner().invoke(app, ["production", *command, "--params", str(tmp_path / "params.yaml")])
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert done.exit_code != 0
    assert done.output.strip().startswith("another pipeline run is in progress"), done.output
