"""Unattended retraining as one Prefect flow (``python -m flows.retrain [params.yaml]``; the
schedule of ``flows.schedule`` runs it): new data in, a challenger trained, the gate, and a
promotion only through the gate. The steps are ``genre.retraining.run``'s; this flow holds the
project's run lock throughout and hands it to the ``dvc repro`` it starts.

Retries where a second try can succeed (moving files, the store and the registry), none where it
cannot: a batch that fails validation is quarantined, not retried, and a failed ``dvc repro`` is
recorded and ends the run.

Each outcome is a Prefect state an automation can act on, and an exit code a cron job or CI can:
Promoted, Unchanged and Quarantined (a batch was set aside at intake) are Completed, exit 0;
Refused (exit 3), Held (a batch drifted, exit 4) and Failed (training failed, exit 5) are Failed.
A run killed part-way is marked Crashed by the next. ``retrain.notify`` hears every outcome.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL
from prefect.states import Completed, Failed, State

from flows.stage import ended, main, refused
from genre.messages import InputError
from genre.retraining import run
from genre.retraining.backup import FAILED as BACKUP_FAILED
from genre.retraining.backup import BackupFailed, back_up
from genre.retraining.lock import OWNER_ENV, run_lock
from genre.retraining.notify import announce, summary
from genre.retraining.run import TrainingFailed
from genre.settings import Settings, load_settings


def _transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry a step only for an I/O error (a full disk, a busy file): the user's data is not retried."""
    try:
        state.result()
    except OSError:
        return True
    except Exception:  # noqa: BLE001 (anything else fails the same way twice)
        return False
    return False


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=_transient)
def take_new_data(params: str) -> dict[str, Any]:
    return run.take_new_data(load_settings(params))


@task
def train_challenger(params: str, stamp: str) -> str:
    env = {OWNER_ENV: str(os.getpid())}
    if PREFECT_API_URL.value():  # the stages report to the server this run reports to
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    return run.train_challenger(load_settings(params), env, stamp)


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=_transient)
def judge_challenger(params: str, challenger: str) -> dict[str, Any]:
    return run.judge_challenger(load_settings(params), challenger)


# decision -> (the flow run's state name, whether it is a failure, the process's exit code)
OUTCOMES = {
    "promoted": ("Promoted", False, 0),
    "unchanged": ("Unchanged", False, 0),
    "refused": ("Refused", True, 3),
    "stopped": ("Held", True, 4),
    "failed": ("Failed", True, 5),
}


@flow(name="genre-retrain", log_prints=True)
def retrain(params: str = "params.yaml") -> Any:
    """One retraining run; its decision (stopped, failed, unchanged, promoted or refused) is
    printed, recorded under registry/decisions/, sent to retrain.notify and made the run's state."""
    try:
        settings = load_settings(params)
        with run_lock(settings.root):
            decision = decided(params)
            decision["backup"] = kept(params)
            print(decision["backup"])
    except InputError as exc:
        return refused("genre-retrain", exc)
    return outcome(settings, decision)


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=_transient)
def kept(params: str) -> str:
    """The registry and the accepted batches backed up (genre.retraining.backup), or why not."""
    try:
        return back_up(load_settings(params))
    except BackupFailed as exc:
        return f"{BACKUP_FAILED}: {exc}"


def decided(params: str) -> dict[str, Any]:
    """New data in, a challenger trained and judged: -> the run's decision, as recorded."""
    intake = take_new_data(params)
    for batch in intake["batches"]:
        print(f"batch {batch['file']}: {batch['verdict']} ({batch['reason']})")
    if intake["stopped"]:
        print("decision: stopped (a batch drifted); nothing was trained and production is unchanged")
        return intake["decision"]
    try:
        challenger = train_challenger(params, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    except TrainingFailed as exc:
        print(f"decision: failed: {exc}")
        return exc.decision
    decision = judge_challenger(params, challenger)
    print(f"decision: {decision['decision']} {challenger}: {decision['reason']} (record: {decision['path']})")
    return decision


def outcome(settings: Settings, decision: dict[str, Any]) -> State:
    """The decision told to whoever listens (``retrain.notify``) and made the flow run's state."""
    project = str(settings.root.resolve())
    if settings.retrain.notify:
        print(announce(settings.retrain.notify, project, decision, flow_run.ui_url or flow_run.id))
    name, failure, code = OUTCOMES[decision["decision"]]
    if not failure and any(b.get("verdict") == "quarantined" for b in decision.get("batches", [])):
        name = "Quarantined"
    message = summary(project, decision)
    return ended((Failed if failure else Completed)(message=message, name=name, data=decision), code)


if __name__ == "__main__":
    main(retrain)
