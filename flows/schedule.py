"""Scheduled retraining: serve the pipeline flow as a Prefect deployment on a cron schedule.

``python -m flows.schedule [params.yaml]`` is the one command. Prefect's temporary server cannot
run schedules, so unless the user has pointed PREFECT_API_URL at a server of their own, this
starts a local Prefect server on 127.0.0.1 for as long as the deployment is served.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from prefect.deployments.runner import RunnerDeployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.pipeline import pipeline
from genre.offline import go_offline
from genre.settings import load_settings

_START_TIMEOUT_S = 90


def deployment(params: str = "params.yaml") -> RunnerDeployment:
    """The retraining deployment: the pipeline flow, its params file and the cron from params.yaml."""
    cfg = load_settings(params).schedule
    return pipeline.to_deployment(name=cfg.deployment_name, cron=cfg.cron, parameters={"params": params})


@contextmanager
def local_server() -> Iterator[str]:
    """A Prefect server on a free loopback port, stopped when the block ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "PREFECT_API_URL": url},
    )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the local Prefect server did not start on {url}") from None
                time.sleep(1)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    go_offline()
    params = sys.argv[1] if len(sys.argv) > 1 else "params.yaml"
    Path(params).resolve(strict=True)
    from prefect import serve

    with nullcontext() if os.environ.get("PREFECT_API_URL") else local_server():
        serve(deployment(params))


if __name__ == "__main__":
    main()
