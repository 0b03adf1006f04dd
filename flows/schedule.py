"""Scheduled retraining: serve the pipeline flow as a Prefect deployment on a cron schedule.

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

from prefect.deployments.runner import RunnerDeployment

from flows.pipeline import pipeline
from flows.server import prefect_api
from flows.stage import checked_settings
from genre.offline import go_offline
from genre.settings import load_settings


def deployment(params: str = "params.yaml") -> RunnerDeployment:
    """The retraining deployment: the pipeline flow, its params file and the cron from params.yaml."""
    cfg = load_settings(params).schedule
    return pipeline.to_deployment(name=cfg.deployment_name, cron=cfg.cron, parameters={"params": params})


STOP_GRACE_S = 30.0  # after Ctrl-C or SIGTERM, how long Prefect's runner gets to pause the schedule


async def _serve_until_stopped(retraining: RunnerDeployment) -> None:
    """Serve; Ctrl-C or SIGTERM cancels it (a second one, or STOP_GRACE_S, ends the process).

    Prefect's runner takes SIGTERM over once it starts; we take it back, so both signals stop the
    same way, and a shutdown that waits on a busy Prefect server cannot hold the process forever.
    """
    from prefect import aserve

    loop = asyncio.get_running_loop()
    serving = asyncio.ensure_future(aserve(retraining))
    stopping = threading.Event()

    def stop(*_: object) -> None:
        if stopping.is_set():
            os._exit(0)  # asked twice: stop now
        stopping.set()
        threading.Timer(STOP_GRACE_S, os._exit, (0,)).start()
        loop.call_soon_threadsafe(serving.cancel)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    while not serving.done():
        if signal.getsignal(signal.SIGTERM) is not stop:
            signal.signal(signal.SIGTERM, stop)
        await asyncio.wait([serving], timeout=0.5)
    if not serving.cancelled():
        serving.result()  # a failure of the runner itself: its traceback


def main() -> None:
    """Serve until Ctrl-C or SIGTERM, either of which stops it cleanly, even while it starts."""
    go_offline()
    params = sys.argv[1] if len(sys.argv) > 1 else "params.yaml"
    name = f"{pipeline.name}/{checked_settings(params).schedule.deployment_name}"
    with prefect_api():
        asyncio.run(_serve_until_stopped(deployment(params)))
    print(f"stopped serving {name}", flush=True)
    os._exit(0)  # nothing is left to do; Prefect's background threads must not hold the process open


if __name__ == "__main__":
    main()
