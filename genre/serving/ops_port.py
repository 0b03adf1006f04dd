"""Health, readiness and metrics on a port of their own, so the answering port can be the only one
callers reach.

BentoML serves everything on one port. With ``genre production serve --ops-port N`` the service is
told a token made for this start (``GENRE_OPS_TOKEN``), answers ``/healthz``, ``/livez``,
``/readyz`` and ``/metrics`` only to requests that carry it (anyone else gets 404, as for a path
that is not there), and a small forwarder on port ``N`` passes exactly those four GET paths on
with the token. The orchestrator's probes and the metrics scraper use port ``N``; an ingress
exposes only the answering port. The token never leaves the two processes.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPS_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
OPS_TOKEN_ENV = "GENRE_OPS_TOKEN"  # set by `genre production serve --ops-port`
OPS_HEADER = "x-genre-ops-token"
FORWARD_TIMEOUT_S = 30


def ops_server(host: str, port: int, service_port: int, token: str) -> ThreadingHTTPServer:
    """A server on ``host:port`` that forwards the ops paths to the service on ``service_port``
    (started in a daemon thread; ``shutdown()`` stops it)."""

    class Forward(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in OPS_PATHS:
                self.send_error(404, "only /healthz, /livez, /readyz and /metrics are served here")
                return
            upstream = http.client.HTTPConnection("127.0.0.1", service_port, timeout=FORWARD_TIMEOUT_S)
            try:
                upstream.request("GET", self.path, headers={OPS_HEADER: token})
                answer = upstream.getresponse()
                body = answer.read()
            except OSError:
                self.send_error(503, "the service is not answering")
                return
            finally:
                upstream.close()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.getheader("Content-Type", "text/plain"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Forward)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="genre-ops-port", daemon=True).start()
    return server


def service_port(args: list[str], default: int) -> int:
    """The port ``bentoml serve`` will answer on, from its options (``--port N``, ``--port=N``, ``-p N``)."""
    for i, arg in enumerate(args):
        if arg in ("--port", "-p") and i + 1 < len(args) and args[i + 1].isdigit():
            return int(args[i + 1])
        if arg.startswith("--port=") and arg.removeprefix("--port=").isdigit():
            return int(arg.removeprefix("--port="))
    return default
