"""The answers the service issued, kept for as long as they may be needed and no longer.

A recourse is a promise: "change this, and you will be approved". To know whether a retrained
model still keeps the promises production made, the retraining gate must know which recourses were
actually issued. Unless ``serve.answer_log`` is null, the service appends one JSON line per answer
(the time, the model version, the applicant and the answer) to a file per UTC day in that folder:
on by default, since a gate that only sees a simulated set of promises cannot hold a challenger to
the real ones. A relative folder is taken from the project a service follows (``genre production
serve``), where the gate reads it, else from the server's working directory. These are personal
data: files older than ``serve.answer_log_days`` are deleted when a new day's file is started,
and nothing else reads them but the gate. A line left torn (a full disk, a killed worker) is
skipped and reported by the reader, so one bad line cannot stop every later gate.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genre.serving.follow import followed_project

_PREFIX, _SUFFIX = "answers-", ".jsonl"

logger = logging.getLogger(__name__)


def answer_log_folder(setting: str | None) -> Path | None:
    """Where a service keeps its answer log under ``serve.answer_log`` (None: it keeps none)."""
    if setting is None:
        return None
    folder, project = Path(setting), followed_project()
    return project / folder if project is not None and not folder.is_absolute() else folder


class AnswerLog:
    """Append-only, one file per UTC day; whole lines under concurrent requests, and under several
    worker processes writing to the same folder (each batch of lines is one write under ``flock``)."""

    def __init__(self, folder: Path, keep_days: int) -> None:
        self.folder, self.keep_days = Path(folder), keep_days
        if not self.folder.is_dir():  # a folder the operator made keeps the access they gave it
            self.folder.mkdir(parents=True)
            self.folder.chmod(0o700)  # personal data: the service's user alone may list or read it
        self._lock = threading.Lock()
        self._day: str | None = None

    def append(self, model_version: str, entries: list[dict[str, Any]]) -> None:
        """One line per answer: ``{"time", "model_version", **entry}``."""
        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="milliseconds")
        lines = "".join(
            json.dumps({"time": stamp, "model_version": model_version, **entry}, default=str) + "\n"
            for entry in entries
        )
        with self._lock:
            day = now.strftime("%Y-%m-%d")
            if day != self._day:
                self._day = day
                self._forget_before(now - timedelta(days=self.keep_days))
            fd = os.open(self.folder / f"{_PREFIX}{day}{_SUFFIX}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                data = lines.encode("utf-8")
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)  # and with it the flock

    def _forget_before(self, cutoff: datetime) -> None:
        for path in log_files(self.folder):
            if _day_of(path) < cutoff.strftime("%Y-%m-%d"):
                path.unlink(missing_ok=True)


def log_files(folder: Path) -> list[Path]:
    """The day files of an answer log folder, oldest first."""
    return sorted(Path(folder).glob(f"{_PREFIX}*{_SUFFIX}"))


def _day_of(path: Path) -> str:
    return path.name.removeprefix(_PREFIX).removesuffix(_SUFFIX)


def read_answers(folder: Path, since: datetime) -> list[dict[str, Any]]:
    """Every logged answer from ``since`` on: the promises production made, for the retraining gate."""
    out: list[dict[str, Any]] = []
    for path in log_files(folder):
        if _day_of(path) < since.strftime("%Y-%m-%d"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            try:
                entry = json.loads(line)
                when = datetime.fromisoformat(entry["time"])
            except (ValueError, KeyError, TypeError):
                logger.warning("%s line %d: not a whole answer, skipped", path, number)
                continue
            if when >= since:
                out.append(entry)
    return out
