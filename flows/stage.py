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

import ast
import gc
import importlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import psutil
from prefect import Flow, flow, tags
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import Failed, State

from flows.abandoned import close_abandoned, project_tag
from flows.server import prefect_api
from genre.messages import InputError, one_line
from genre.offline import go_offline
from genre.retraining.lock import OWNER_ENV, follow_owner, run_lock
from genre.settings import Settings, SettingsError, load_settings

TIMINGS_ENV = "GENRE_STAGE_TIMINGS"
_work: list[tuple[float, float]] = []  # (start, end) of each stage body this process ran
_refused: list[str] = []  # why a stage refused its input (data, schema), printed once at the end
_exit_code: list[int] = []  # a flow's own exit code for its outcome (flows.retrain: refused, held, failed)


_STAGE_MODULES: dict[str, str] = {}  # flow name -> the library stage module it runs


def stage_flow(name: str, module: str) -> Flow[[str], Any]:
    """The flow that runs the library stage ``module``'s ``run(settings)``.

    The module is named, not imported with the flow: ``main`` imports it while the Prefect server
    starts, so a stage's own imports (seconds of Great Expectations and pandas for ingest) overlap
    the first stage's wait for a new server instead of adding to it.
    """
    _STAGE_MODULES[name] = module

    @flow(name=name, log_prints=True, description=module_docstring(module))
    def stage(params: str = "params.yaml") -> Any:
        started = time.time()
        try:
            settings = load_settings(params)
            with run_lock(settings.root):
                return importlib.import_module(module).run(settings)
        except InputError as exc:  # the user's data or schema, not our code: their lines, no traceback
            return refused(name, exc)
        finally:
            _work.append((started, time.time()))

    return stage


def module_docstring(module: str) -> str | None:
    """A module's docstring, read from its source without importing it (the flow's description)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"no module {module}")
    return ast.get_docstring(ast.parse(Path(spec.origin).read_text()))


def import_stage(stage: Flow[[str], Any]) -> None:
    """Import the library module a stage flow runs, if it is one (see ``stage_flow``)."""
    if stage.name in _STAGE_MODULES:
        importlib.import_module(_STAGE_MODULES[stage.name])


def refused(name: str, exc: InputError) -> State:
    """A flow's end where the user's input (or a run already in progress) stopped it: their
    lines, printed once by ``main``, and a failed state, no traceback."""
    _refused.append(str(exc))
    return Failed(message=f"{name} refused its input: {one_line(str(exc).splitlines()[0], 200)}")


def ended(state: State, exit_code: int) -> State:
    """A flow's end that is an outcome, not an error: its state as returned (a name an automation can
    match), and the exit code ``main`` ends the process with, without a traceback."""
    _exit_code.append(exit_code)
    return state


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
        print(
            f"marked {closed} abandoned run(s) of this project Crashed: their processes had been killed",
            file=sys.stderr,
        )


HEARTBEAT_SETTINGS = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs without Prefect's heartbeats, unless the user sets their frequency.

    Prefect 3.9 beats a run's heart from a thread that sleeps in whole seconds, and each run waits
    for that thread when it ends: about a second per stage, for every stage of a ``dvc repro``.
    The heartbeats let a server find runs whose process died; here
    ``close_abandoned`` marks those Crashed instead.
    """
    if any(name in os.environ for name in HEARTBEAT_SETTINGS):
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def main(stage: Flow[[str], Any]) -> None:
    """Entry point: ``python -m flows.<stage> [params.yaml]``."""
    entered = time.time()
    go_offline()
    params = sys.argv[1] if len(sys.argv) > 1 else "params.yaml"
    root = checked_settings(params).root
    with prefect_api(while_starting=lambda: import_stage(stage)), without_heartbeats():
        api_ready = time.time()
        if OWNER_ENV not in os.environ:  # a stage a retraining run started: the run closed them
            _close_abandoned(root)
        else:
            follow_owner()  # and it ends with that run, not as an orphan
        with tags(project_tag(root)):
            # a stage is a sync flow: the call returns its state, not an awaitable
            state = cast("State[Any]", stage(params, return_state=True))
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
    # The interpreter's last garbage collection walks every object torch, scikit-learn, pandas and
    # Prefect made, a noticeable share of each stage's exit. Frozen objects are left to the
    # process's end; exit still runs atexit, Prefect's log and event drains, and flushes.
    gc.freeze()
    if _refused:
        sys.exit("\n".join(_refused))
    if _exit_code:
        sys.exit(_exit_code[-1])
    state.result()  # anything else failed: its traceback, it is ours to fix
