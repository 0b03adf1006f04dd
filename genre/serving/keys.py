"""Who may ask the service: API keys, each with a rate and a daily quota.

A served model answers with its classifier's probabilities; anyone who can ask freely can copy its
decision boundary, and every answer is a record kept about a person. So when keys are configured
(``genre production serve`` configures them by default: ``serve.api_keys``), every answering
request must carry one (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``).

* Keys are stored hashed (SHA-256; a key is 256 random bits, so no slow hash is needed to keep a
  stolen file from giving them away), in one JSON file the service re-reads when it changes: a key
  is added or revoked (``genre keys add|revoke``) without a restart. The key itself is shown once.
* A key's id (not secret, part of the key) names the caller in the answer log and the server log.
* No key, or one the file does not know: 401. A revoked key: 403.
* Each key may have a number of applicants answered per minute and per day (a batch of 100 counts
  100): over either, 429 with ``Retry-After``. The counts are kept in each worker's memory
  (``limits``' moving window), so with several workers each allows the key its full rate, and a
  restart starts the day afresh; docs/serving.md says so.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from limits import RateLimitItemPerDay, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel, Field, ValidationError

from genre.artifacts.atomic import write_text
from genre.messages import InputError, one_line

KEYS_ENV = "GENRE_API_KEYS"  # the key file a service checks callers against (set by `genre production serve`)
_PREFIX = "genre"


class StoredKey(BaseModel):
    """One key as the file keeps it: never the key, only its hash."""

    id: str
    name: str
    sha256: str
    created: str
    revoked: str | None = None
    per_minute: int | None = Field(None, ge=1, description="Applicants answered per minute; None: no limit.")
    per_day: int | None = Field(None, ge=1, description="Applicants answered per day; None: no limit.")


class KeyFile(BaseModel):
    keys: list[StoredKey] = []


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_keys(path: Path) -> KeyFile:
    """The key file, or an empty one where there is none yet."""
    if not path.is_file():
        return KeyFile()
    try:
        return KeyFile.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise InputError(f"{path}: not a key file ({one_line(str(exc), 200)})") from None


def _save(path: Path, keys: KeyFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, keys.model_dump_json(indent=2) + "\n")
    path.chmod(0o600)  # hashes only, but nobody else's business which keys exist


def add_key(path: Path, name: str, per_minute: int | None, per_day: int | None) -> str:
    """A new key for ``name``, stored hashed; -> the key, which is shown this once."""
    keys = load_keys(path)
    if any(k.name == name and k.revoked is None for k in keys.keys):
        raise InputError(f"a key named {one_line(name)!r} exists already; revoke it first, or choose another name")
    key_id = secrets.token_hex(4)
    key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    stored = StoredKey(
        id=key_id,
        name=name,
        sha256=_digest(key),
        created=datetime.now().astimezone().isoformat(timespec="seconds"),
        per_minute=per_minute,
        per_day=per_day,
    )
    _save(path, KeyFile(keys=[*keys.keys, stored]))
    return key


def revoke_key(path: Path, name: str) -> StoredKey:
    """The live key named ``name`` (or with that id) revoked; callers using it get 403 from the
    next request on."""
    keys = load_keys(path)
    live = [k for k in keys.keys if name in (k.name, k.id) and k.revoked is None]
    if not live:
        raise InputError(f"no live key named {one_line(name)!r} in {path} (genre keys list shows them)")
    when = datetime.now().astimezone().isoformat(timespec="seconds")
    revoked = [k.model_copy(update={"revoked": when}) if k in live else k for k in keys.keys]
    _save(path, KeyFile(keys=revoked))
    return live[0].model_copy(update={"revoked": when})


Verdict = Literal["missing", "unknown", "revoked", "ok"]


@dataclass(frozen=True)
class Checked:
    verdict: Verdict
    key: StoredKey | None = None


class KeyRing:
    """The key file as the service sees it: looked at on every request (one ``stat``), read again
    when it changed; a file that cannot be read keeps the keys last read, and says so once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._by_id: dict[str, StoredKey] = {}
        self.problem: str | None = None
        self._refresh()

    def _refresh(self) -> None:
        try:
            info = os.stat(self.path)
            seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            seen = (0, 0, 0)
        if seen == self._seen:
            return
        try:
            self._by_id = {k.id: k for k in load_keys(self.path).keys}
            self.problem = None
        except (InputError, OSError) as exc:
            self.problem = str(exc)  # fail closed on what was known: no key is added by a broken file
        self._seen = seen

    def check(self, key: str | None) -> Checked:
        """Whether ``key`` may ask."""
        if not key:
            return Checked("missing")
        self._refresh()
        parts = key.split("_")
        stored = self._by_id.get(parts[1]) if len(parts) >= 3 and parts[0] == _PREFIX else None
        if stored is None or not hmac.compare_digest(stored.sha256, _digest(key)):
            return Checked("unknown")
        return Checked("revoked", stored) if stored.revoked is not None else Checked("ok", stored)


class Quotas:
    """Per key, applicants answered per minute and per day, in this worker's memory."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def charge(self, key: StoredKey, applicants: int) -> tuple[float, str] | None:
        """``applicants`` more answered for ``key``, or (seconds to wait, which limit) when over one."""
        limits = [
            (kind(amount), f"{amount} applicants a {unit}")
            for kind, amount, unit in (
                (RateLimitItemPerMinute, key.per_minute, "minute"),
                (RateLimitItemPerDay, key.per_day, "day"),
            )
            if amount
        ]
        for item, said in limits:
            if applicants > item.amount:
                return math.inf, f"{applicants} applicants in one request are more than this key's {said}"
            if not self._limiter.test(item, key.id, cost=applicants):
                reset = self._limiter.get_window_stats(item, key.id).reset_time
                return max(1.0, math.ceil(reset - time.time())), f"this key's {said}"
        for item, _ in limits:
            self._limiter.hit(item, key.id, cost=applicants)
        return None
