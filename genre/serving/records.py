"""Every answer the service gives is a record a lender can show later: what was asked, by whom,
of which model, and exactly what was said.

A lender that turns someone down must be able to say afterwards what it told them and why (US
Regulation B keeps it 25 months; the EU AI Act asks a high-risk credit system for automatic logs),
and to erase one person's records when the law says so. So each answer carries a ``record_id``,
and its line in the answer log (``genre.serving.answer_log``) holds everything needed to find it,
regenerate it and erase it: the request it came in (``request_id``), the caller's key id (never
the key), a hash of the applicant as sent (``input_hash``: SHA-256 of the applicant's JSON with
sorted keys and no spaces, which a lender can compute from its own copy of the application), the
applicant and the options, the model version and its data version, a hash of the recourse
settings it answered with, the seed, and the answer with its reasons.

The caller (key id and request id) is set by the service's front door (``RequestGate``) for the
request being handled and read where the answer is recorded: a context variable, since single
requests may be answered together in one model call.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    """Who asked, as far as the record is concerned."""

    key_id: str | None  # None: the service runs without API keys
    request_id: str


_CALLER: ContextVar[Caller | None] = ContextVar("genre_caller", default=None)


def new_id() -> str:
    """A fresh, unguessable id for a record or a request."""
    return uuid.uuid4().hex


def set_caller(caller: Caller) -> None:
    """The caller of the request being handled (by the front door, before the request goes on)."""
    _CALLER.set(caller)


def current_caller() -> Caller:
    """The caller of the request being handled; a request that came in no other way (a test's own
    call) is its own request, without a key."""
    caller = _CALLER.get()
    return caller if caller is not None else Caller(key_id=None, request_id=new_id())


def input_hash(applicant: dict[str, Any]) -> str:
    """SHA-256 of the applicant as sent, keys sorted, no spaces: the same person's same
    application gives the same hash wherever it is computed."""
    text = json.dumps(applicant, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record(
    answer: dict[str, Any],
    applicant: dict[str, Any],
    options: dict[str, Any],
    caller: Caller,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """One answer's line in the log (the log adds the time and the model version)."""
    return {
        "record_id": answer["record_id"],
        "request_id": caller.request_id,
        "key_id": caller.key_id,
        "input_hash": input_hash(applicant),
        **provenance,
        "options": options,
        "applicant": applicant,
        **answer,
    }
