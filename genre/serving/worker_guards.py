"""What each worker of the service sets up in BentoML's logging and metrics, once.

* A caller's mistake is one WARNING line, not an ERROR with a traceback (``QuietClientErrors``):
  a bad request must not look like a broken server, and a flood of them must not fill the disk
  with tracebacks. A 503 whose cause was logged once already (the answer log's disk) is one line too.
* Every record is one line, whatever a caller put in it (``OneLineRecords``): no request can forge
  a log line.
* Request metrics are labelled by the service's own routes, every other path by ``other``
  (``KnownEndpoints``): BentoML labels each request by its raw path, so every random path a caller
  tried was a new series, and /metrics (and each scrape) grew without bound.

BentoML offers no setting for the last two, so its objects are wrapped; the bento pins the BentoML
version this was written against, and tests/service/test_serve.py checks the behaviour on a served bento.
"""

from __future__ import annotations

import logging
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException
from pydantic_core import ValidationError
from starlette.types import Receive, Scope, Send

from genre.messages import escaped, one_line


class QuietClientErrors(logging.Filter):
    """Turns BentoML's "Exception on /path" ERROR record with a traceback into one WARNING line when
    the exception is the caller's fault (a validation error or a 4xx), or a 503 whose cause was
    logged once already (the answer log's disk): a bad request must not look like a broken server
    in the logs, and a flood of them must not fill the disk with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            status, text = (
                400,
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)),
            )
        elif isinstance(exc, BentoMLException) and (400 <= exc.error_code < 500 or exc.error_code == 503):
            status, text = int(exc.error_code), str(exc)
        else:
            return True
        where = one_line(record.getMessage().removeprefix("Exception on "), 200)
        record.msg, record.args = "%s -> HTTP %d: %s", (where, status, one_line(text, 500))
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


class OneLineRecords(logging.Filter):
    """On the log handlers: a record's message is written as one line whatever a caller put in it
    (a path, a header, a key reaching a library's log line), so no request can forge a line. A
    traceback, ours, is still printed whole: it comes from ``exc_info``, not the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.isprintable():
            record.msg, record.args = escaped(message), ()
        return True


OTHER_PATHS = "other"  # the one metrics label every path the service does not serve shares
SERVED_ELSEWHERE = frozenset({"/", "/docs", "/docs.json", "/metrics", "/healthz", "/livez", "/readyz"})


class KnownEndpoints:
    """A Prometheus metric whose ``endpoint`` label is a route the service serves, or ``other``:
    BentoML labels each request by its raw path, so every random path a caller tries would be a
    new series, and /metrics (and each scrape) would grow without bound."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.known = SERVED_ELSEWHERE | set(bentoml.server_context.service_routes)  # set before the first request

    def labels(self, **labels: Any) -> Any:
        if labels.get("endpoint") is not None and labels["endpoint"] not in self.known:
            labels["endpoint"] = OTHER_PATHS
        return self.metric.labels(**labels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metric, name)


def install_metrics_guard() -> None:
    """Once per worker: BentoML's request metrics labelled by known routes only (``KnownEndpoints``).
    BentoML offers no setting for it, so its traffic middleware's set-up is wrapped; the bento pins
    the BentoML version this was written against, and tests/service/test_serve.py checks it."""
    from bentoml._internal.server.http import instruments

    middleware = instruments.RunnerTrafficMetricsMiddleware
    if getattr(middleware.__call__, "guarded", False):
        return
    original = middleware.__call__

    async def call(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._is_setup:  # lazily, on the first request: often a readiness probe before the model loads
            self._setup()
        for name in ("metrics_request_duration", "metrics_request_total", "metrics_request_in_progress"):
            if not isinstance(getattr(self, name), KnownEndpoints):
                setattr(self, name, KnownEndpoints(getattr(self, name)))
        await original(self, scope, receive, send)

    call.guarded = True  # type: ignore[attr-defined]
    middleware.__call__ = call  # type: ignore[method-assign]


def install_log_filters() -> None:
    """Once per worker: client errors as one WARNING line, every record as one line."""
    client_errors = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, QuietClientErrors) for f in client_errors.filters):
        client_errors.addFilter(QuietClientErrors())
    for handler in {*logging.getLogger("bentoml").handlers, *logging.getLogger().handlers}:
        if not any(isinstance(f, OneLineRecords) for f in handler.filters):
            handler.addFilter(OneLineRecords())
