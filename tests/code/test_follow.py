"""A service follows production: the pointer file is looked at, a new production model is swapped
in, a model that cannot be loaded leaves the old one answering, and nothing is reloaded twice."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from genre.serving.follow import Follower
from genre.serving.production import POINTER, Registry, Release, _save


def point_at(root: Path, model: str) -> None:
    release = Release(model=model, bento=f"svc:{model}", by="hand", reason="test", at="now", previous=None)
    _save(root, Registry(current=release, history=[release]))


class Swaps:
    def __init__(self, current: str, broken: frozenset[str] = frozenset()) -> None:
        self.current, self.broken, self.tried = current, broken, []

    def swap(self, tag: str) -> None:
        self.tried.append(tag)
        if tag in self.broken:
            raise RuntimeError(f"{tag} cannot be loaded")
        self.current = tag


def test_a_promotion_is_swapped_in_once(tmp_path: Path) -> None:
    swaps = Swaps("m:1")
    follower = Follower(tmp_path, 1.0, lambda: swaps.current, swaps.swap)
    follower.check()  # no pointer yet: nothing to follow
    point_at(tmp_path, "m:1")
    follower.check()
    assert swaps.tried == []  # production is what answers already
    point_at(tmp_path, "m:2")
    follower.check()
    follower.check()
    assert (swaps.current, swaps.tried) == ("m:2", ["m:2"])


def test_a_model_that_cannot_be_loaded_leaves_the_old_one_answering(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    swaps = Swaps("m:1", broken=frozenset({"m:2"}))
    follower = Follower(tmp_path, 1.0, lambda: swaps.current, swaps.swap)
    point_at(tmp_path, "m:2")
    with caplog.at_level(logging.ERROR):
        follower.check()
        follower.check()  # the same pointer: not tried again
    assert (swaps.current, swaps.tried) == ("m:1", ["m:2"])
    assert "cannot load it; still answering with m:1" in caplog.text
    point_at(tmp_path, "m:3")
    follower.check()
    assert swaps.current == "m:3"


def test_an_unreadable_pointer_is_reported_not_followed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    swaps = Swaps("m:1")
    (tmp_path / POINTER).parent.mkdir(parents=True)
    (tmp_path / POINTER).write_text("{not json")
    with caplog.at_level(logging.ERROR):
        Follower(tmp_path, 1.0, lambda: swaps.current, swaps.swap).check()
    assert swaps.tried == [] and "cannot follow production" in caplog.text


def test_the_watch_thread_follows_within_its_period(tmp_path: Path) -> None:
    swaps = Swaps("m:1")
    follower = Follower(tmp_path, 0.05, lambda: swaps.current, swaps.swap).start()
    try:
        point_at(tmp_path, "m:2")
        for _ in range(100):
            if swaps.current == "m:2":
                break
            time.sleep(0.02)
    finally:
        follower.stop()
    assert swaps.current == "m:2"
