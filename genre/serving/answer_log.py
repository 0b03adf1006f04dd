"""The answers the service issued, kept for as long as they may be needed and no longer.

A recourse is a promise: "change this, and you will be approved". To know whether a retrained
model still keeps the promises production made, the retraining gate must know which recourses were
actually issued. With ``serve.answer_log`` set, the service appends one JSON line per answer (the
time, the model version, the applicant and the answer) to a file per UTC day in that folder. These
are personal data: files older than ``serve.answer_log_days`` are deleted when a new day's file is
started, and nothing else reads them but the gate.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_PREFIX, _SUFFIX = "answers-", ".jsonl"


class AnswerLog:
    """Append-only, one file per UTC day; whole lines under concurrent requests, and under several
    worker processes writing to the same folder (each batch of lines is one write under ``flock``)."""

    def __init__(self, folder: Path, keep_days: int) -> None:
        self.folder, self.keep_days = Path(folder), keep_days
        self.folder.mkdir(parents=True, exist_ok=True)
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
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if datetime.fromisoformat(entry["time"]) >= since:
                out.append(entry)
    return out
