"""A running service follows production: a promotion or rollback reaches the callers of a service
that is already up, without a restart and without dropping a request.

Production is one pointer file in the project (``genre.serving.production``). A service started by
``genre production serve`` is told the project's folder (``GENRE_PROJECT``); each of its workers
then looks at the pointer every ``serve.follow_seconds`` and, when it names another model, loads
that model beside the one answering, checks that it answers, and only then hands new requests to
it. Requests already being answered finish on the model they started with, and each answer names
the model that gave it. A model that cannot be loaded (not in this store, or broken) is reported
once and the service keeps answering with the model it has: a bad promotion must not take serving
down. A bento deployed away from the project (a container) does not follow; it is replaced by
deploying the bento the release names.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from genre.messages import InputError
from genre.serving.production import POINTER, production

PROJECT_ENV = "GENRE_PROJECT"  # the project whose production the service follows (set by `genre production serve`)

logger = logging.getLogger(f"bentoml.{__name__}")  # under BentoML's tree, like the service's own lines


def followed_project() -> Path | None:
    """The project folder a service was started for, if any."""
    folder = os.environ.get(PROJECT_ENV)
    return Path(folder) if folder else None


class Follower:
    """Every ``every_s``, when the pointer file changed, ``swap(tag)`` if production's model is not
    ``current()``; a tag that failed to swap is not tried again until the pointer changes."""

    def __init__(self, root: Path, every_s: float, current: Callable[[], str], swap: Callable[[str], None]) -> None:
        self.root, self.every_s, self.current, self.swap = Path(root), every_s, current, swap
        self._seen: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="genre-follow-production", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        """One look at the pointer: swap when production names another model."""
        pointer = self.root / POINTER
        try:
            stat = pointer.stat()
        except FileNotFoundError:
            return
        if (stat.st_mtime_ns, stat.st_size) == self._seen:
            return
        self._seen = (stat.st_mtime_ns, stat.st_size)
        try:
            release = production(self.root)
        except InputError as exc:
            logger.error("cannot follow production: %s", exc)
            return
        if release is None or release.model == self.current():
            return
        try:
            self.swap(release.model)
        except Exception:  # the old model keeps answering; the reason is in the log
            logger.exception(
                "production is now %s, but this service cannot load it; still answering with %s",
                release.model,
                self.current(),
            )

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s):
            self.check()
