"""Unattended retraining as one Prefect flow (``python -m flows.retrain [params.yaml]``; the
schedule of ``flows.schedule`` runs it): new data in, a challenger trained, the gate, and a
promotion only through the gate. The steps are ``genre.retraining.run``'s; this flow holds the
project's run lock throughout and hands it to the ``dvc repro`` it starts.

Retries where a second try can succeed (moving files, the store and the registry), none where it
cannot: a batch that fails validation is quarantined, not retried, and a failed ``dvc repro`` is
recorded and ends the run.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.settings import PREFECT_API_URL

from flows.stage import main, refused
from genre.messages import InputError
from genre.retraining import run
from genre.retraining.lock import OWNER_ENV, run_lock
from genre.settings import load_settings


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


@flow(name="genre-retrain", log_prints=True)
def retrain(params: str = "params.yaml") -> Any:
    """One retraining run; its decision (stopped, failed, unchanged, promoted or refused) is
    printed and recorded under registry/decisions/."""
    try:
        with run_lock(load_settings(params).root):
            intake = take_new_data(params)
            for batch in intake["batches"]:
                print(f"batch {batch['file']}: {batch['verdict']} ({batch['reason']})")
            if intake["stopped"]:
                print("decision: stopped (a batch drifted); nothing was trained and production is unchanged")
                return {"decision": "stopped", "batches": intake["batches"]}
            challenger = train_challenger(params, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
            decision = judge_challenger(params, challenger)
            print(f"decision: {decision['decision']} {challenger}: {decision['reason']} (record: {decision['path']})")
            return decision
    except InputError as exc:
        return refused("genre-retrain", exc)


if __name__ == "__main__":
    main(retrain)
