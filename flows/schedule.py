"""Scheduled retraining: serve the pipeline flow as a Prefect deployment on a cron schedule.

``python -m flows.schedule [params.yaml]`` is the one command. Prefect's temporary in-process
server cannot run schedules, so unless the user has pointed PREFECT_API_URL at a server of their
own, this uses the project's shared local Prefect server (``flows.server``) on 127.0.0.1, which
stays up for as long as the deployment is served.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect.deployments.runner import RunnerDeployment

from flows.pipeline import pipeline
from flows.server import prefect_api
from genre.offline import go_offline
from genre.settings import load_settings


def deployment(params: str = "params.yaml") -> RunnerDeployment:
    """The retraining deployment: the pipeline flow, its params file and the cron from params.yaml."""
    cfg = load_settings(params).schedule
    return pipeline.to_deployment(name=cfg.deployment_name, cron=cfg.cron, parameters={"params": params})


def main() -> None:
    go_offline()
    params = sys.argv[1] if len(sys.argv) > 1 else "params.yaml"
    Path(params).resolve(strict=True)
    from prefect import serve

    with prefect_api():
        serve(deployment(params))


if __name__ == "__main__":
    main()
