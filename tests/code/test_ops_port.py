"""Health, readiness and metrics on a port of their own: the forwarder passes exactly those paths on
with the start's token, and the service answers them to nobody else."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from genre.serving.ops_port import OPS_HEADER, OPS_TOKEN_ENV, ops_server, service_port


def test_the_service_answers_ops_paths_only_with_the_token(monkeypatch) -> None:
    from genre.serving.front_door import RequestGate

    async def app(scope, receive, send) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    monkeypatch.setenv(OPS_TOKEN_ENV, "the-token")
    client = TestClient(RequestGate(app))
    for path in ("/healthz", "/livez", "/readyz", "/metrics"):
        assert client.get(path).status_code == 404
        assert client.get(path, headers={OPS_HEADER: "a-guess"}).status_code == 404
        assert client.get(path, headers={OPS_HEADER: "the-token"}).text == "ok"
    monkeypatch.delenv(OPS_TOKEN_ENV)
    assert TestClient(RequestGate(app)).get("/readyz").text == "ok"  # no ops port: BentoML's own place


@pytest.fixture
def upstream():
    seen: list[tuple[str, str | None]] = []

    class Service(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get(OPS_HEADER)))
            body = b"# metrics" if self.path == "/metrics" else b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()


def test_the_forwarder_passes_exactly_the_ops_paths_with_the_token(upstream) -> None:
    port, seen = upstream
    forwarder = ops_server("127.0.0.1", 0, port, "the-token")
    try:
        url = f"http://127.0.0.1:{forwarder.server_address[1]}"
        metrics = httpx.get(f"{url}/metrics")
        assert metrics.text == "# metrics" and metrics.headers["content-type"].startswith("text/plain")
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert httpx.get(f"{url}/recourse").status_code == 404
        assert httpx.post(f"{url}/recourse", json={}).status_code == 501  # nothing but GET
    finally:
        forwarder.shutdown()
    assert seen == [("/metrics", "the-token"), ("/readyz", "the-token")]


def test_the_answering_port_is_read_from_bentoml_serve_options() -> None:
    assert service_port(["bentoml", "serve", "b", "--port", "3100"], 3000) == 3100
    assert service_port(["--host", "0.0.0.0", "--port=3200"], 3000) == 3200
    assert service_port(["-p", "3300"], 3000) == 3300
    assert service_port(["--host", "127.0.0.1"], 3000) == 3000
