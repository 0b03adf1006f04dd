"""A server a benchmark starts on this machine: a free loopback port, and the wait until it is ready."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(url: str, server: subprocess.Popen, log: Path, within_s: float) -> None:
    """Until ``url``/readyz answers 200; stops the benchmark with the log's end if the server exits
    or is not ready within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server was not ready within {within_s:g} s:\n{log.read_text()[-3000:]}")


def build(settings: Any) -> tuple[str, str, Path]:
    """Model and bento from a project's trained artifacts into the BentoML home this process uses
    -> (bento tag, model tag, model folder). Each bento records its own model version."""
    import bentoml

    from genre.stages.package import build_bento, save_model

    model = save_model(settings)
    bento = build_bento(settings, model)
    return str(bento.tag), str(model.tag), Path(bentoml.models.get(model.tag).path)


def serve(
    bento_tag: str, home: Path, port: int, log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """``bentoml serve`` of a bento in the BentoML home ``home``, on 127.0.0.1 (from ``cwd``, by
    default ``home``, with ``env`` added to this process's environment)."""
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", **(env or {})}
    bentoml = Path(sys.executable).parent / "bentoml"
    with log.open("w") as out:
        return subprocess.Popen(
            [str(bentoml), "serve", bento_tag, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd or home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(server: subprocess.Popen) -> None:
    """The server and its workers stopped (SIGTERM, then SIGKILL after 30 s)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def serve_production(root: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``genre production serve`` of the project at ``root`` on 127.0.0.1 (its output in ``serve.log`` there)."""
    log = (root / "serve.log").open("ab")
    return subprocess.Popen(
        ["genre", "production", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def serve_with_keys(
    bento_tag: str, home: Path, workdir: Path, keys: Path, log: Path, within_s: float
) -> tuple[subprocess.Popen, str]:
    """``bentoml serve`` of a bento from ``workdir`` with the API keys of ``keys``, until ready;
    -> (the server, its URL)."""
    port = free_port()
    server = serve(bento_tag, home, port, log, cwd=workdir, env={"GENRE_API_KEYS": str(keys)})
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, server, log, within_s)
    return server, url


def held_out_applicants(n: int) -> list[dict[str, Any]]:
    """The first ``n`` held-out applicants of this checkout's prepared data, without their label."""
    from genre.data.schema import load_schema

    target = load_schema(REPO / "data/prepared/schema.yaml").target.name
    test = pd.read_csv(REPO / "data/prepared/test.csv").drop(columns=[target])
    return list(json.loads(test.head(n).to_json(orient="records")))
