"""What gets through the service's door: every request passes here before BentoML parses it.

* Only the forwarder of the ops port reaches health, readiness and metrics when there is one
  (``genre.serving.ops_port``).
* The docs page at ``/`` is the service's own, loading nothing from outside.
* An answering request needs a live API key when keys are configured (401, 403), and its
  applicants count against the key's rate and quota (429 with ``Retry-After``;
  ``genre.serving.keys``); each request gets an id, named in its records and its response.
* A body that is not JSON (415), encoded other than gzip (415), over the size limit (413, also once
  decoded), nested deeper than any request needs (400), or naming a key twice in one object (400)
  is refused before anything parses it; a client that leaves mid-body is no error.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import re
import zlib
from http import HTTPStatus
from typing import Any

import bentoml
import numpy as np
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genre.messages import one_line
from genre.serving.ops_port import OPS_HEADER, OPS_PATHS, OPS_TOKEN_ENV
from genre.serving.records import Caller, new_id, set_caller

logger = logging.getLogger(f"bentoml.{__name__}")  # under BentoML's tree, where the server shows it


class RequestGate:
    """Refuses a POST before anything parses it when its body is not JSON (HTTP 415: BentoML would
    otherwise try a multipart or other decoder on it), is encoded other than gzip (415), is over
    the served model's ``serve.max_body_bytes`` (413), or names a key twice in one object (400:
    JSON parsers silently keep the last, so ``{"age": 300, "age": 40}`` would be answered as 40).
    The declared length is checked first, then the body is read up to the limit, so a client that
    declares no length cannot slip past; a gzip body is decoded only up to the limit too, so a
    small body cannot expand into a large one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        token = os.environ.get(OPS_TOKEN_ENV)  # health and metrics only through the ops port (genre.serving.ops_port)
        self.ops_token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.ops_token is not None and scope["type"] == "http" and scope["path"] in OPS_PATHS:
            given = dict(scope["headers"]).get(OPS_HEADER.encode(), b"")
            if not hmac.compare_digest(given, self.ops_token):
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"] == "/":
            await HTMLResponse(DOCS_PAGE)(scope, receive, send)  # BentoML's own page loads a tag manager
            return
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        service = bentoml.get_current_service()
        request_id, key = new_id(), None
        send = _with_request_id(send, request_id)
        if service.keys is not None:
            checked = service.keys.check(presented_key(headers))
            if checked.key is None or checked.verdict != "ok":
                await refuse(scope, receive, send, *KEY_REFUSALS[checked.verdict])
                return
            key = checked.key
        set_caller(Caller(key_id=key.id if key else None, request_id=request_id))
        media_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if media_type != b"application/json":
            given = one_line(repr(media_type.decode("latin-1")))
            await refuse(
                scope, receive, send, 415, "unsupported_media_type", f"send the body as application/json, not {given}"
            )
            return
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in (b"identity", *GZIP):
            given = one_line(repr(encoding.decode("latin-1")))
            await refuse(
                scope,
                receive,
                send,
                415,
                "unsupported_encoding",
                f"send the body as is or gzip-encoded, not Content-Encoding {given}",
            )
            return
        limit = service.served.limits.max_body_bytes
        too_large = f"the request body is over {limit} bytes (serve.max_body_bytes); send fewer applicants per request"
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await refuse(scope, receive, send, 413, "too_large", too_large)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nobody to answer, nothing failed
                logger.info("%s [POST]: the client left before its request was whole", one_line(scope["path"], 200))
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await refuse(scope, receive, send, 413, "too_large", too_large)
                return
        if encoding in GZIP:
            body, problem = gunzip(body, limit)
            if problem == "too_large":
                await refuse(scope, receive, send, 413, "too_large", too_large + " (after gzip decoding)")
                return
            if problem:
                await refuse(scope, receive, send, 400, "invalid_encoding", problem)
                return
            kept = [(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")]
            scope = {**scope, "headers": kept + [(b"content-length", str(len(body)).encode())]}
        if nesting_depth(body) > MAX_NESTING:
            await refuse(
                scope,
                receive,
                send,
                400,
                "too_deep",
                f"the body nests arrays and objects more than {MAX_NESTING} deep; a request needs 3",
            )
            return
        parsed, twice = read_json(body)
        if twice is not None:
            await refuse(
                scope,
                receive,
                send,
                400,
                "duplicate_key",
                f"the key {one_line(repr(twice))} appears twice in one object; send each key once",
            )
            return
        over = service.quotas.charge(key, applicants_in(parsed)) if key is not None else None
        if over is not None:
            wait, said = over
            retry = {} if math.isinf(wait) else {"retry-after": str(int(wait))}
            await refuse(scope, receive, send, 429, "too_many", f"over {said}; try again later", retry)
            return
        await self.app(scope, _replay({"type": "http.request", "body": body, "more_body": False}, receive), send)


GZIP = (b"gzip", b"x-gzip")
# The OpenAPI page at / (and /docs): BentoML's bundled Swagger UI, from this server only. BentoML's
# own page also loads a third-party tag manager, which an offline service must not.
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>GenRe recourse service</title>
<link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css">
<link rel="stylesheet" type="text/css" href="./static_content/index.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
"""
MAX_NESTING = 16  # a request nests 3 deep; JSON parsers recurse per level, so depth is refused before parsing
_ESCAPED = re.compile(rb"\\.", re.DOTALL)  # a backslash and the character it escapes, inside a JSON string
_QUOTE, _OPENING, _CLOSING = ord('"'), np.frombuffer(b"[{", dtype=np.uint8), np.frombuffer(b"]}", dtype=np.uint8)


def nesting_depth(body: bytes) -> int:
    """How deep ``body``'s arrays and objects nest, counted without parsing it (a hostile body
    cannot exhaust a parser's recursion) in time linear in its length: with escapes blanked out,
    a bracket after an odd number of quotes is inside a string and does not count."""
    shape = np.frombuffer(_ESCAPED.sub(b"__", body), dtype=np.uint8)
    outside = np.cumsum(shape == _QUOTE) % 2 == 0
    steps = (np.isin(shape, _OPENING).astype(np.int32) - np.isin(shape, _CLOSING)) * outside
    return int(np.cumsum(steps).max(initial=0))


def gunzip(body: bytes, limit: int) -> tuple[bytes, str | None]:
    """-> (decoded body, problem): ``"too_large"`` once the decoded body passes ``limit``, which is
    all that gets decoded, or what is wrong with the encoding."""
    decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        decoded = decoder.decompress(body, limit + 1)
    except zlib.error:
        return b"", "the body is declared gzip-encoded (Content-Encoding: gzip) but is not valid gzip"
    if len(decoded) > limit:
        return b"", "too_large"
    if not decoder.eof:
        return b"", "the gzip-encoded body is cut short"
    return decoded, None


KEY_REFUSALS: dict[str, tuple[int, str, str, dict[str, str]]] = {
    "missing": (
        401,
        "no_key",
        "this service answers callers with an API key: send Authorization: Bearer <key>",
        {"www-authenticate": "Bearer"},
    ),
    "unknown": (401, "unknown_key", "this API key is not one of the service's", {"www-authenticate": "Bearer"}),
    "revoked": (403, "revoked_key", "this API key was revoked", {}),
}


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    bearer = headers.get(b"authorization", b"").decode("latin-1").strip()
    if bearer[:7].lower() == "bearer ":
        return bearer[7:].strip() or None
    return headers.get(b"x-api-key", b"").decode("latin-1").strip() or None


def applicants_in(body: Any) -> int:
    """How many applicants a request asks about (what a key's rate and quota count)."""
    if isinstance(body, dict) and isinstance(body.get("applicants"), list):
        return max(len(body["applicants"]), 1)
    return 1


def _with_request_id(send: Send, request_id: str) -> Send:
    """``send`` that names the request in its response (``X-Request-ID``, as the record does)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
        await send(message)

    return sending


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


def read_json(body: bytes) -> tuple[Any, str | None]:
    """-> (``body`` parsed, None), or (None, the first key named twice in one of its objects); a
    body that is not JSON is (None, None), left to the request models, which say where it breaks."""
    try:
        return json.loads(body, object_pairs_hook=_refuse_repeats), None
    except _RepeatedKey as repeat:
        return None, repeat.key
    except ValueError:  # not JSON (or not UTF-8): reported by the request models
        return None, None


async def refuse(
    scope: Scope, receive: Receive, send: Send, status: int, kind: str, msg: str, headers: dict[str, str] | None = None
) -> None:
    """The same error body as every 400 of this service, naming the body as the problem."""
    logger.warning("%s [POST] -> HTTP %d: %s", one_line(scope["path"], 200), status, msg)
    response = JSONResponse(
        {"error": HTTPStatus(status).phrase, "detail": [{"type": kind, "loc": ["body"], "msg": msg}]},
        status_code=status,
    )
    response.headers["connection"] = "close"  # the rest of an unread body is not worth reading
    response.headers.update(headers or {})
    await response(scope, receive, send)


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive channel that yields ``first`` once, then the real channel (for a later disconnect)."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
