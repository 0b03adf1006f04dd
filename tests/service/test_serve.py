"""The bento that the fast end-to-end run built, served for real: ``bentoml serve`` on 127.0.0.1
(a free port), called over HTTP, and always stopped again.

This is the only test of what exists only in a server process: Prometheus metrics, BentoML's
logging set-up, and the bento's own copy of the source and model.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from genre.artifacts.paths import Artifacts

READY_WITHIN_S = 600  # a cold start takes 15-40 s on 2 cores, minutes when both are busy; ready ends the wait
STOP_WITHIN_S = 20


@dataclass(frozen=True)
class Served:
    http: httpx.Client
    log: Path
    model_tag: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(http: httpx.Client, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"bentoml serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if http.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"bentoml serve not ready within {READY_WITHIN_S} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (the server and its workers), SIGKILL if it lingers."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def served(fast_project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    paths = Artifacts(fast_project.root)
    assert paths.bento.is_file(), "the package stage exports the bento"
    package = json.loads(paths.metrics("package").read_text())
    workdir = tmp_path_factory.mktemp("serve")  # not the project: the bento must bring its own source
    log = workdir / "serve.log"
    port = free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            ["bentoml", "serve", package["bento_tag"], "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=fast_project.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            wait_until_ready(http, server, log)
            yield Served(http, log, package["model_tag"])
    finally:
        stop(server)


@pytest.fixture(scope="module")
def applicants(fast_project) -> list[dict]:
    root = fast_project.root
    test = pd.read_csv(root / "data/prepared/test.csv").drop(columns=["income"]).head(5)
    return json.loads(test.to_json(orient="records"))


def test_health_checks_answer(served):
    for path in ("/healthz", "/livez", "/readyz"):
        assert served.http.get(path).status_code == 200, path


def test_served_bento_answers_with_the_model_it_was_built_with(served, applicants):
    one = served.http.post("/recourse", json={"applicant": applicants[0], "alternatives": 1})
    assert one.status_code == 200, one.text
    assert one.json()["model_version"] == served.model_tag
    many = served.http.post("/recourse_batch", json={"applicants": applicants})
    assert many.status_code == 200, many.text
    body = many.json()
    assert body["model_version"] == served.model_tag
    assert body["answers"][0]["status"] == one.json()["status"]
    assert len(body["answers"]) == len(applicants)


def test_bad_requests_get_4xx_and_the_worker_keeps_serving(served, applicants):
    bad = served.http.post("/recourse", json={"applicant": {**applicants[0], "age": "forty"}})
    assert bad.status_code == 400
    assert bad.json()["detail"][0]["loc"] == ["applicant", "age"]
    garbled = served.http.post("/recourse", content=b"{", headers={"content-type": "application/json"})
    assert garbled.status_code == 400
    assert served.http.post("/recourse", json={"applicant": applicants[0]}).status_code == 200


def test_bad_requests_are_logged_as_one_warning_line_without_a_traceback(served, applicants):
    served.http.post("/recourse", json={"applicant": {**applicants[0], "sex": 1}})
    deadline = time.monotonic() + 5  # the log is written by another process
    while "applicant.sex" not in served.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = served.log.read_text()
    assert "applicant.sex: must be a string" in text
    assert "Traceback" not in text, text[-3000:]


def test_metrics_count_requests_by_endpoint_and_status(served, applicants):
    served.http.post("/recourse", json={"applicant": applicants[0]})
    served.http.post("/recourse", json={"applicant": {}})
    metrics = served.http.get("/metrics")
    assert metrics.status_code == 200
    lines = [line for line in metrics.text.splitlines() if line.startswith("bentoml_service_request_total{")]
    assert any('endpoint="/recourse"' in line and 'http_response_code="200"' in line for line in lines), lines
    assert any('endpoint="/recourse"' in line and 'http_response_code="400"' in line for line in lines), lines


def test_nothing_a_caller_sends_can_forge_or_break_a_line_of_the_server_log(served, applicants):
    """Field names, frozen names, top-level keys and the path itself reach the log: each request
    must stay one line there, with no raw newline, carriage return, ANSI escape, NUL or line
    separator in the file (a NUL once made grep treat the whole log as binary)."""
    forged = "x\n2026-11-29T21:11:11+0000 [ERROR] [entry_service:forged] Forged\r\x1b[31mred\x00nul\u2028"
    sent = [
        served.http.post("/recourse", json={"applicant": {**applicants[0], forged: 1}}),
        served.http.post("/recourse", json={"applicant": applicants[0], "frozen": [forged]}),
        served.http.post("/recourse", json={"applicant": applicants[0], forged: 1}),
        served.http.post(
            "/recourse%0A2026-11-29T21:11:11+0000%20[ERROR]%20Forged%00",
            content=b"{}",
            headers={"content-type": "text/plain"},
        ),
    ]
    assert [r.status_code for r in sent] == [400, 400, 400, 415]
    deadline = time.monotonic() + 10  # the log is written by other processes
    while served.log.read_text().count("Forged") < len(sent) and time.monotonic() < deadline:
        time.sleep(0.2)
    raw = served.log.read_bytes()
    assert raw.count(b"Forged") >= len(sent)
    for character in (b"\x00", b"\x1b", b"\r", "\u2028".encode()):
        assert character not in raw, character
    for line in raw.decode().splitlines():
        if "Forged" in line:
            assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} \[(WARNING|INFO)\] ", line), (
                line
            )  # the warning, or the access log
            assert "forged" not in line[:40] and "[ERROR]" not in line[:60], line


def test_random_paths_share_one_metrics_label_and_do_not_grow_the_metrics(served):
    """Every unknown path once became its own series: 3,000 random paths grew /metrics to 13.6 MB."""
    served.http.get("/nowhere/0")
    before = len(served.http.get("/metrics").text)
    for i in range(200):
        assert served.http.get(f"/nowhere/{i}").status_code == 404
    text = served.http.get("/metrics").text
    assert "/nowhere" not in text and 'endpoint="other"' in text
    assert len(text) < before + 2000  # the counters count on; no new series


def test_a_client_that_leaves_mid_body_is_not_a_server_error(served):
    with socket.create_connection(("127.0.0.1", served.http.base_url.port)) as raw:
        raw.sendall(
            b"POST /recourse HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"applicant": '
        )
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while "the client left before its request was whole" not in served.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = served.log.read_text()
    assert "the client left before its request was whole" in text
    assert "ClientDisconnect" not in text and "Traceback" not in text, text[-3000:]
    failed = [
        line
        for line in served.http.get("/metrics").text.splitlines()
        if line.startswith("bentoml_service_request_total{") and 'http_response_code="500"' in line
    ]
    assert all(line.endswith(" 0.0") for line in failed), failed  # BentoML lists each route's 500 at zero


def test_the_docs_page_loads_nothing_from_outside(served):
    page = served.http.get("/")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no tag manager, no third-party asset
    assert served.http.get("/static_content/swagger-ui-bundle.js").status_code == 200


def test_a_client_that_never_finishes_its_headers_is_disconnected(served, applicants):
    """Slow headers: half a request line held open is closed after serve.header_timeout_s, and
    the worker answers others meanwhile; without the timer uvicorn held such connections for ever."""
    from genre.settings import ServeSettings

    timeout = ServeSettings().header_timeout_s
    port = served.http.base_url.port
    with socket.create_connection(("127.0.0.1", port), timeout=timeout + 30) as slow:
        slow.sendall(b"POST /recourse HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        started = time.monotonic()
        assert served.http.post("/recourse", json={"applicant": applicants[0]}).status_code == 200
        assert slow.recv(1) == b""  # closed by the server
        waited = time.monotonic() - started
    assert timeout - 1 <= waited <= timeout + 10
