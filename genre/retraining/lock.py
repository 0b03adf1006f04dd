"""One pipeline run at a time.

Two runs of the same project at once would interleave their writes to the same artifacts and
each package a model. The lock is an advisory ``flock`` on a file in the project: the kernel
releases it when the process holding it ends, however it ends, so a run killed with ``kill -9``
never leaves it stuck; the file itself only says who holds it, for the message.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genre.messages import InputError

LOCK_FILE = ".genre-run.lock"
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
            raise InputError(f"another pipeline run is in progress in {Path(root).resolve()} ({holder}); start this one when it ends") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        handle.flush()
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            fcntl.flock(handle, fcntl.LOCK_UN)
