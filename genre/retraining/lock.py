"""One pipeline run at a time.

Two runs of the same project at once would interleave their writes to the same artifacts and
each package a model. The lock is an advisory ``flock`` on a file in the project: the kernel
releases it when the process holding it ends, however it ends, so a run killed with ``kill -9``
never leaves it stuck; the file itself only says who holds it, for the message.

A retraining run holds the lock and runs ``dvc repro``, whose stages each take it again in
processes of their own. It hands the lock down by naming itself in ``GENRE_RUN_LOCK_OWNER``: a
process finding the lock held by that pid, which must also be its own ancestor, runs inside it,
and ends when that pid does (``follow_owner``): a stage running on after its run was killed would
write the project's artifacts without the lock, beside the next run's stage.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from genre.messages import InputError

LOCK_FILE = ".genre-run.lock"
OWNER_ENV = "GENRE_RUN_LOCK_OWNER"  # the pid of a process that holds the lock for its children (flows.retrain)
_held: dict[Path, int] = {}  # lock files this process holds, and how deep: a pipeline's stages run inside it


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold the project's run lock for the block, or stop at once with one line if another run
    does. Reentrant within a process: the pipeline flow holds it, and each stage it runs takes it
    again (under ``dvc repro`` each stage's process takes it alone)."""
    path = (Path(root) / LOCK_FILE).resolve()
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            if _handed_down(holder):
                yield
                return
            raise InputError(
                f"another pipeline run is in progress in {Path(root).resolve()} ({holder}); start this one when it ends"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        handle.flush()
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            fcntl.flock(handle, fcntl.LOCK_UN)


OWNER_POLL_S = 1.0  # how often a handed-down process checks that the run it works for is alive


def follow_owner() -> None:
    """In a process started under a run that handed its lock down: end this process (SIGTERM)
    as soon as that run's process is gone, however it went. DVC sits between the run and a stage,
    so the kernel's parent-death signal alone would not reach the stage."""
    owner = os.environ.get(OWNER_ENV, "")
    if not owner.isdigit():
        return

    def alive() -> bool:
        try:
            return psutil.Process(int(owner)).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def watch() -> None:
        while alive():
            time.sleep(OWNER_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="follow-run-owner", daemon=True).start()


def _handed_down(holder: str) -> bool:
    """Whether the lock's holder (``pid N since ...``) is the ancestor that handed it to this process."""
    owner = os.environ.get(OWNER_ENV, "")
    if not owner.isdigit() or not holder.startswith(f"pid {owner} "):
        return False
    return int(owner) in {parent.pid for parent in psutil.Process().parents()}
