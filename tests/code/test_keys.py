"""API keys: stored hashed, shown once, re-read when the file changes, revoked without a restart;
each key's rate and daily quota counted in applicants."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genre.messages import InputError
from genre.serving.keys import KeyRing, Quotas, StoredKey, add_key, load_keys, revoke_key


def test_a_key_is_stored_hashed_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "api-keys.json"
    key = add_key(path, "frontend", per_minute=10, per_day=100)
    text = path.read_text()
    assert key not in text and key.split("_", 2)[2] not in text  # only the hash is kept
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ring = KeyRing(path)
    assert ring.check(key).verdict == "ok" and ring.check(key).key.name == "frontend"
    assert ring.check(None).verdict == "missing"
    assert ring.check(key[:-1] + ("A" if key[-1] != "A" else "B")).verdict == "unknown"  # same id, wrong secret
    assert ring.check("not-a-key").verdict == "unknown"
    with pytest.raises(InputError, match="exists already"):
        add_key(path, "frontend", None, None)


def test_keys_added_and_revoked_reach_a_running_ring_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    ring = KeyRing(path)  # no file yet: nobody may ask
    first = add_key(path, "first", None, None)
    assert ring.check(first).verdict == "ok"
    revoked = revoke_key(path, "first")
    assert revoked.revoked is not None and ring.check(first).verdict == "revoked"
    second = add_key(path, "first", None, None)  # the name may be used again once revoked
    assert ring.check(second).verdict == "ok" and ring.check(first).verdict == "revoked"
    path.write_text("{ torn")
    os.utime(path, ns=(1, 1))
    assert ring.check(second).verdict == "ok" and ring.problem  # a broken file keeps what was known
    with pytest.raises(InputError, match="no live key"):
        revoke_key(tmp_path / "api-keys-2.json", "nobody")
    assert [k.name for k in load_keys(tmp_path / "missing.json").keys] == []


def test_rate_and_quota_count_applicants_and_say_when_to_come_back() -> None:
    quotas = Quotas()
    key = StoredKey(id="k1", name="n", sha256="x", created="now", per_minute=10, per_day=15)
    assert quotas.charge(key, 6) is None and quotas.charge(key, 4) is None
    wait, said = quotas.charge(key, 1)
    assert 1 <= wait <= 60 and said == "this key's 10 applicants a minute"
    huge, said = quotas.charge(key, 11)
    assert huge == float("inf") and "more than this key's 10 applicants a minute" in said
    other = key.model_copy(update={"id": "k2", "per_minute": None})
    assert quotas.charge(other, 15) is None
    wait, said = quotas.charge(other, 1)
    assert said == "this key's 15 applicants a day" and wait > 60
    free = key.model_copy(update={"id": "k3", "per_minute": None, "per_day": None})
    assert all(quotas.charge(free, 1000) is None for _ in range(10))
