"""Atomic artifact writes: a crash or a failed check never leaves a half-written file in place of a
good one, because every artifact is written beside its destination and renamed over it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path in ``dest``'s folder; on success it replaces ``dest`` in one rename."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Like :func:`atomic_path` for a whole folder: the old folder is swapped out only at the end."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        old = dest.with_name(f".{dest.name}.old")
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_with(dest: Path, writer: Callable[[Path], Any]) -> None:
    with atomic_path(dest) as tmp:
        writer(tmp)


def write_text(dest: Path, text: str) -> None:
    write_with(dest, lambda tmp: tmp.write_text(text))


def write_json(dest: Path, payload: Any) -> None:
    write_text(dest, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def write_npz(dest: Path, **arrays: Any) -> None:
    """Arrays as one ``.npz``, replaced whole; through an open file, which is closed, because
    ``np.savez`` given a path adds ``.npz`` to a name that lacks it (a temporary one does)."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as file:
            np.savez(file, **arrays)

    write_with(dest, write)
