"""The production pointer by itself (the BentoML store stubbed): one production model at a time,
a history of every change, rollback walking back through what each promotion replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre.messages import InputError
from genre.serving import production


@pytest.fixture(autouse=True)
def store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(production, "served_by", lambda tag: (tag, f"bento-of-{tag}"))


def test_promotions_and_rollbacks_walk_the_history(tmp_path: Path) -> None:
    assert production.production(tmp_path) is None
    with pytest.raises(InputError, match="no model is in production"):
        production.rollback(tmp_path)
    for model, by in (("m:a", "first model"), ("m:b", "gate"), ("m:c", "hand")):
        production.promote(tmp_path, model, by=by, reason=f"{model} is better")
    assert production.production(tmp_path).model_dump(include={"model", "bento", "by", "previous"}) == {
        "model": "m:c",
        "bento": "bento-of-m:c",
        "by": "hand",
        "previous": "m:b",
    }
    with pytest.raises(InputError, match="^m:c is production already$"):
        production.promote(tmp_path, "m:c", by="gate", reason="again")
    assert production.rollback(tmp_path).model == "m:b"
    assert production.rollback(tmp_path).model == "m:a"  # again: the one before that
    with pytest.raises(InputError, match="m:a was the first in production"):
        production.rollback(tmp_path)
    registry = production.load_registry(tmp_path)
    assert [(r.model, r.by) for r in registry.history] == [
        ("m:a", "first model"),
        ("m:b", "gate"),
        ("m:c", "hand"),
        ("m:b", "rollback"),
        ("m:a", "rollback"),
    ]
    assert registry.current == registry.history[-1]


def test_an_unreadable_record_is_one_line_and_is_not_overwritten(tmp_path: Path) -> None:
    record = tmp_path / production.POINTER
    record.parent.mkdir()
    record.write_text('{"current": {"model": 3}}')
    with pytest.raises(
        InputError, match=r"registry/production.json: not a production record this version can read .*; restore it"
    ):
        production.promote(tmp_path, "m:a", by="hand", reason="x")
    assert record.read_text() == '{"current": {"model": 3}}'
