"""One pipeline run at a time: a second is refused in one line, the lock dies with its holder
(even under ``kill -9``), and a pipeline's own stages re-enter it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

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
