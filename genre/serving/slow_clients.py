"""A client that never finishes its request's headers is disconnected.

Uvicorn, which BentoML serves with, has no header-read timeout: a connection that sends half a
request line and waits is held for ever, and a few hundred of them (a slow-headers attack) tie up
a worker's connections and file descriptors at no cost to the attacker. Its keep-alive timer does
not help: any byte received cancels it. So each worker arms a timer of its own whenever a
connection waits for a request (when it is made, and after each answer), and closes the
connection if no whole request has arrived when it fires. Uvicorn offers no setting for this, so
its h11 protocol is wrapped once per worker; the bento pins the uvicorn that BentoML brings, and
tests/service/test_serve.py checks the behaviour on a served bento.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(f"bentoml.{__name__}")  # under BentoML's tree, like the service's own lines


def install_header_timeout(seconds: float) -> None:
    """Once per worker: connections that send no whole request within ``seconds`` are closed."""
    from uvicorn.protocols.http import h11_impl

    protocol = h11_impl.H11Protocol
    if getattr(protocol.connection_made, "guarded", False):
        return
    made, answered = protocol.connection_made, protocol.on_response_complete

    def arm(self: Any) -> None:
        waiting = self.cycle  # a new request replaces it; until one does, the client is still sending

        def expire() -> None:
            if self.cycle is waiting and not self.transport.is_closing():
                logger.info("a client sent no whole request within %g s; its connection was closed", seconds)
                self.transport.close()

        self.loop.call_later(seconds, expire)

    def connection_made(self: Any, transport: Any) -> None:
        made(self, transport)
        arm(self)

    def on_response_complete(self: Any) -> None:
        answered(self)
        arm(self)

    connection_made.guarded = True  # type: ignore[attr-defined]
    protocol.connection_made = connection_made  # type: ignore[method-assign]
    protocol.on_response_complete = on_response_complete  # type: ignore[method-assign]
