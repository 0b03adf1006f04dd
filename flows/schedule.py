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


def main() -> None:
    """Serve until Ctrl-C or SIGTERM, either of which stops it cleanly, even while it starts."""
    go_offline()
    params = sys.argv[1] if len(sys.argv) > 1 else "params.yaml"
    name = f"{pipeline.name}/{checked_settings(params).schedule.deployment_name}"
    from prefect import aserve

    # SIGTERM is turned into Ctrl-C until Prefect's runner takes SIGTERM over (once started, it
    # pauses the schedule and returns). Our own event loop rather than prefect.serve's: asyncio.run
    # turns Ctrl-C into a cancellation at any point, where serve's loop left a traceback if it was
    # stopped while starting.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        with prefect_api():
            asyncio.run(aserve(deployment(params)))
    except KeyboardInterrupt:
        pass
    print(f"stopped serving {name}")


if __name__ == "__main__":
    main()
