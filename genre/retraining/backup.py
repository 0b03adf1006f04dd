"""What unattended runs leave that nothing else keeps, kept where DVC can restore it.

The production pointer with its history, the decision records and the batch ledger
(``registry/``), and the accepted batches (``ingest.batches``) are written by runs and by hand,
not by a pipeline stage, so neither git nor ``dvc.lock`` holds them. After every retraining run
and every change by hand (promote, rollback, release, withdraw) the accepted batches are copied
into ``registry/accepted/`` and ``registry/`` is ``dvc add``-ed: its content goes into the DVC
cache by hash, ``registry.dvc`` names the version, and ``dvc checkout`` brings any version back.
The batches travel as a copy, not as a ``.dvc`` file of their own: that file would sit inside
``data/raw``, which the ingest stage depends on, and every backup would then look like new
training data to ``dvc repro``. With ``retrain.backup_remote`` naming a DVC remote (``dvc remote
add``), each version is pushed there too, so losing the machine loses only ``registry.dvc``, which
a commit keeps like ``dvc.lock``. A backup that fails does not undo the decision; it is said in
the run's summary and to ``retrain.notify``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from genre.messages import InputError, one_line
from genre.serving.production import POINTER
from genre.settings import Settings

REGISTRY = POINTER.parent
BATCHES = REGISTRY / "accepted"  # the copy of the accepted batches that is backed up with the registry


FAILED = "backup failed"  # how a failed backup is said in a run's decision record (and picked out by the notifier)


class BackupFailed(InputError):
    """The folders could not be added to DVC (or pushed): one line saying why."""


def back_up(settings: Settings) -> str:
    """The accepted batches copied into the registry, the registry ``dvc add``-ed (and pushed);
    -> one line saying what was kept where."""
    cfg, root = settings.retrain, settings.root
    if not cfg.backup:
        return "not backed up (retrain.backup: false)"
    if not (root / ".dvc").is_dir():
        raise BackupFailed(f"{root} is not a DVC repository (dvc init): the registry and the batches are not backed up")
    copies = _mirrored(settings.resolve(settings.ingest.batches), root / BATCHES)
    _dvc(root, "add", str(REGISTRY))
    kept = f"{REGISTRY} (with {copies} accepted batches in {BATCHES}) kept in the DVC cache ({REGISTRY}.dvc)"
    if cfg.backup_remote is None:
        return kept
    _dvc(root, "push", "--remote", cfg.backup_remote, f"{REGISTRY}.dvc")
    return f"{kept} and pushed to the DVC remote {cfg.backup_remote}"


def _mirrored(source: Path, copy: Path) -> int:
    """``copy`` made to hold exactly ``source``'s files (a changed file copied again); -> how many."""
    copy.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in source.iterdir() if p.is_file()} if source.is_dir() else {}
    for stale in (p for p in copy.iterdir() if p.name not in wanted):
        stale.unlink()
    for name, original in wanted.items():
        there = copy / name
        if (
            not there.is_file()
            or there.stat().st_size != original.stat().st_size
            or there.read_bytes() != original.read_bytes()
        ):
            shutil.copy2(original, there)
    return len(wanted)


def _dvc(root: Path, *args: str) -> None:
    done = subprocess.run(["dvc", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise BackupFailed(f"dvc {args[0]} failed: {one_line(' | '.join(said[-3:]), 300)}")
