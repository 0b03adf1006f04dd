"""The answers the service issued, kept for as long as they may be needed and no longer.

A recourse is a promise: "change this, and you will be approved". To know whether a retrained
model still keeps the promises production made, the retraining gate must know which recourses were
actually issued. Unless ``serve.answer_log`` is null, the service appends one JSON line per answer
(the time, the model version, the applicant and the answer) to a file per UTC day in that folder:
on by default, since a gate that only sees a simulated set of promises cannot hold a challenger to
the real ones. A relative folder is taken from the project a service follows (``genre production
serve``), where the gate reads it, else from the folder the server was started in. These are personal
data: files older than ``serve.answer_log_days`` are deleted when a new day's file is started,
and nothing reads them but the gate and ``genre record`` (show, replay, forget). Each line is a
record (``genre.serving.records``): an answer that cannot be recorded is not given (the service
answers 503, see ``LogFailed``), and a write that fails half-way is cut back to where it began,
so a full disk leaves no torn line. A line torn anyway (a worker killed mid-write) is skipped and
reported by the reader, so one bad line cannot stop every later gate. Erasing a person's records
rewrites a day's file under the same lock the writers take, so no answer written meanwhile is lost.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from genre.serving.follow import followed_project

_PREFIX, _SUFFIX = "answers-", ".jsonl"
HEADROOM_BYTES = 1 << 20  # free space below which a failed log is not yet taken as mended

logger = logging.getLogger(__name__)
served_logger = logging.getLogger(f"bentoml.{__name__}")  # in a service, only BentoML's tree is shown


def answer_log_folder(setting: str | None) -> Path | None:
    """Where a service keeps its answer log under ``serve.answer_log`` (None: it keeps none); a
    relative folder is taken from where the service was started (``started_in``)."""
    if setting is None:
        return None
    folder = Path(setting)
    return folder if folder.is_absolute() else started_in() / folder


def started_in() -> Path:
    """The project a service follows, else the folder the server was started in. Not the working
    directory of a ``bentoml serve`` worker: BentoML runs it inside the bento's own folder in the
    store, where personal data must not end up (``bentoml export`` would ship it); its parent,
    ``bentoml serve``, stays where it was started."""
    project = followed_project()
    if project is not None:
        return project
    import bentoml  # here: the gate's reader needs no BentoML

    if bentoml.server_context.worker_index is not None:
        return Path(psutil.Process(os.getppid()).cwd())
    return Path.cwd()


class LogFailed(OSError):
    """The answers could not be recorded (a full or failing disk): they must not be given."""


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
        self.failure: str | None = None  # why the last write failed, until one succeeds

    def healthy(self) -> bool:
        """Whether answers can be recorded: no write has failed since the last that succeeded, or
        the disk has room again (a readiness probe must see the mend without an answer to try)."""
        if self.failure is None:
            return True
        try:
            room = os.statvfs(self.folder)
        except OSError:
            return False
        return room.f_bavail * room.f_frsize >= HEADROOM_BYTES and os.access(self.folder, os.W_OK)

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
            try:
                _locked(self.folder / f"{_PREFIX}{day}{_SUFFIX}", partial(_append, data=lines.encode("utf-8")))
            except OSError as exc:
                if self.failure is None:
                    served_logger.error(
                        "the answer log %s cannot be written (%s): answers are refused until it can", self.folder, exc
                    )
                self.failure = str(exc)
                raise LogFailed(exc.errno, f"the answer could not be recorded ({exc.strerror or exc})") from exc
            if self.failure is not None:
                served_logger.warning("the answer log %s is written again", self.folder)
                self.failure = None

    def _forget_before(self, cutoff: datetime) -> None:
        for path in log_files(self.folder):
            if _day_of(path) < cutoff.strftime("%Y-%m-%d"):
                path.unlink(missing_ok=True)


def _locked(path: Path, change: Callable[[int], None]) -> None:
    """``change(fd)`` on ``path`` under its ``flock``, on the file now at ``path``: a file that
    ``forget`` replaced while this waited for the lock is let go and the new one opened."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                change(fd)
                return
        finally:
            os.close(fd)  # and with it the flock


def _append(fd: int, data: bytes) -> None:
    """``data`` written whole, or the file cut back to where it was: never a torn line."""
    start = os.fstat(fd).st_size
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        try:
            os.ftruncate(fd, start)
        except OSError:
            served_logger.error("a part-written answer could not be cut back to byte %d; the reader skips it", start)
        raise


def forget(folder: Path, wanted: Callable[[dict[str, Any]], bool]) -> int:
    """Every line of the log for which ``wanted(entry)`` holds, erased; -> how many. Each day's
    file is rewritten beside itself and moved into place under the writers' lock."""
    erased = 0
    for path in log_files(folder):
        found = 0

        def rewrite(fd: int, path: Path = path) -> None:
            nonlocal found
            kept = []
            with open(fd, "rb", closefd=False) as whole:
                for line in whole.read().splitlines(keepends=True):
                    entry = _entry(line)
                    if entry is not None and wanted(entry):
                        found += 1
                    else:
                        kept.append(line)
            if found:
                fresh = path.with_name(f".{path.name}.forget")
                out = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(out, "wb") as written:
                    written.write(b"".join(kept))
                    written.flush()
                    os.fsync(out)
                os.replace(fresh, path)

        _locked(path, rewrite)
        erased += found
    return erased


def find(folder: Path, record_id: str) -> dict[str, Any] | None:
    """The record with this id, or None (newest day first: an id is asked about soon after)."""
    marker = record_id.encode()
    for path in reversed(log_files(folder)):
        for line in path.read_bytes().splitlines():
            if marker in line:
                entry = _entry(line)
                if entry is not None and entry.get("record_id") == record_id:
                    return entry
    return None


def _entry(line: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


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
