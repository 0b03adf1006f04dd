"""What every stage flow shares: reading the settings and running one library stage.

DVC calls ``python -m flows.<stage> [params.yaml]``; scheduled retraining calls the same flows as
subflows of ``flows.pipeline``, so both paths run identical code. Every entry point reports to
the Prefect API of ``flows.server``: the user's own server, or the one local server all stages
share.

Where ``GENRE_STAGE_TIMINGS`` names a file, each entry point appends one JSON line saying where
its time went: process start to ``main`` (interpreter and imports), waiting for the Prefect API,
the stage's own work, and Prefect's bookkeeping around it. ``benchmarks/stage_times.py`` reads it
while ``dvc repro`` runs the stages exactly as a user's would.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from prefect import Flow, flow, tags
from prefect.states import Failed, State

from flows.abandoned import close_abandoned, project_tag
from flows.server import prefect_api
from genre.messages import InputError, one_line
from genre.offline import go_offline
from genre.retraining.lock import OWNER_ENV, run_lock
from genre.settings import Settings, SettingsError, load_settings

TIMINGS_ENV = "GENRE_STAGE_TIMINGS"
_work: list[tuple[float, float]] = []  # (start, end) of each stage body this process ran
_refused: list[str] = []  # why a stage refused its input (data, schema), printed once at the end


def stage_flow(name: str, run: Callable[[Settings], dict[str, Any]]) -> Flow[[str], Any]:
    @flow(name=name, log_prints=True, description=sys.modules[run.__module__].__doc__)
    def stage(params: str = "params.yaml") -> Any:
        started = time.time()
        try:
            settings = load_settings(params)
            with run_lock(settings.root):
                return run(settings)
        except InputError as exc:  # the user's data or schema, not our code: their lines, no traceback
            return refused(name, exc)
        finally:
            _work.append((started, time.time()))

    return stage


def refused(name: str, exc: InputError) -> State:
    """A flow's end where the user's input (or a run already in progress) stopped it: their
    lines, printed once by ``main``, and a failed state, no traceback."""
    _refused.append(str(exc))
    return Failed(message=f"{name} refused its input: {one_line(str(exc).splitlines()[0], 200)}")


def checked_settings(params: str) -> Settings:
    """The settings, or exit with one line per problem of the params file and no traceback: it is
    the operator's mistake, and it is caught before anything is started, written or replaced."""
    try:
        return load_settings(params)
    except SettingsError as exc:
        sys.exit(str(exc))


def _close_abandoned(root: Path) -> None:
    """The project's runs a killed process left RUNNING, marked Crashed, if no run holds the lock
    (one that does will refuse this process anyway)."""
    try:
        with run_lock(root):
            closed = close_abandoned(project_tag(root))
    except InputError:
        return
    if closed:
        print(f"marked {closed} abandoned run(s) of this project Crashed: their processes had been killed", file=sys.stderr)


def main(stage: Flow[[str], Any]) -> None:
    """Entry point: ``python -m flows.<stage> [params.yaml]``."""
    entered = time.time()
    go_offline()
    params = sys.argv[1] if len(sys.argv) > 1 else "params.yaml"
    root = checked_settings(params).root
    with prefect_api():
        api_ready = time.time()
        if OWNER_ENV not in os.environ:  # a stage a retraining run started: the run closed them
            _close_abandoned(root)
        with tags(project_tag(root)):
            state = stage(params, return_state=True)
    if os.environ.get(TIMINGS_ENV):
        record = {
            "flow": stage.name,
            "process_start": psutil.Process().create_time(),
            "main": entered,
            "api_ready": api_ready,
            "work": sum(end - start for start, end in _work),
            "done": time.time(),
        }
        with open(os.environ[TIMINGS_ENV], "a") as out:
            out.write(json.dumps(record) + "\n")
    if _refused:
        sys.exit("\n".join(_refused))
    state.result()  # anything else failed: its traceback, it is ours to fix
