"""Scheduled retraining: serve the retraining flow (``flows.retrain``: new data, a challenger,
the gate) as a Prefect deployment on a cron schedule.

``python -m flows.schedule [params.yaml]`` is the one command. Prefect's temporary in-process
server cannot run schedules, so unless the user has pointed PREFECT_API_URL at a server of their
own, this uses the project's shared local Prefect server (``flows.server``) on 127.0.0.1, which
stays up for as long as the deployment is served.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from typing import cast

from prefect.deployments.runner import RunnerDeployment

from flows.retrain import retrain
from flows.server import prefect_api
from flows.stage import checked_settings
from genre.offline import go_offline
from genre.settings import load_settings


def deployment(params: str = "params.yaml") -> RunnerDeployment:
    """The retraining deployment: the retraining flow, its params file and the cron from params.yaml."""
    cfg = load_settings(params).schedule
    # called outside an event loop, to_deployment returns the deployment itself, not a coroutine
    return cast(
        RunnerDeployment,
        retrain.to_deployment(name=cfg.deployment_name, cron=cfg.cron, parameters={"params": params}),
    )


STOP_GRACE_S = 30.0  # after Ctrl-C or SIGTERM, how long Prefect's runner gets to pause the schedule


def serve_until_stopped(retraining: RunnerDeployment) -> None:
    """Serve until Ctrl-C or SIGTERM; either cancels the runner, which pauses the schedule, and a
    second one, or STOP_GRACE_S without an end, ends the process.

    The runner's event loop runs in a thread of its own: Prefect's runner installs its own SIGTERM
    handler when it starts in the main thread (one that, early in its start, exits from inside the
    loop with a traceback), and asyncio's Ctrl-C handling has windows of its own. Here the main
    thread alone takes both signals, at any moment, the same way.
    """
    from prefect import aserve

    loop = asyncio.new_event_loop()
    serving = loop.create_task(aserve(retraining))
    failure: list[Exception] = []
    stopping = threading.Event()

    def run() -> None:
        try:
            loop.run_until_complete(serving)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 (the runner's own failure: re-raised below, in the main thread)
            failure.append(exc)

    def stop(*_: object) -> None:
        if stopping.is_set():
            os._exit(0)  # asked twice: stop now
        stopping.set()
        loop.call_soon_threadsafe(serving.cancel)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    runner = threading.Thread(target=run, name="prefect-runner", daemon=True)
    runner.start()
    while runner.is_alive() and not stopping.is_set():
        runner.join(0.5)  # short waits, so the signal handlers run promptly
    runner.join(STOP_GRACE_S)
    if failure:
        raise failure[0]


def main() -> None:
    """Serve until Ctrl-C or SIGTERM, either of which stops it cleanly, even while it starts."""
    go_offline()
    params = sys.argv[1] if len(sys.argv) > 1 else "params.yaml"
    name = f"{retrain.name}/{checked_settings(params).schedule.deployment_name}"
    with prefect_api():
        serve_until_stopped(deployment(params))
    print(f"stopped serving {name}", flush=True)
    os._exit(0)  # nothing is left to do; Prefect's background threads must not hold the process open


if __name__ == "__main__":
    main()
