"""What unattended runs leave that nothing else keeps, kept where DVC can restore it.

The production pointer with its history, the decision records and the batch ledger
(``registry/``), and the accepted batches (``ingest.batches``) are written by runs and by hand,
not by a pipeline stage, so neither git nor ``dvc.lock`` holds them. After every retraining run
and every change by hand (promote, rollback, release, withdraw) both folders are ``dvc add``-ed:
their content goes into the DVC cache by hash, ``registry.dvc`` and ``<batches>.dvc`` name the
version, and ``dvc checkout`` brings any version back. With ``retrain.backup_remote`` naming a
DVC remote (``dvc remote add``), each version is pushed there too, so losing the machine loses
only the two small ``.dvc`` files, which a commit keeps like ``dvc.lock``. A backup that fails
does not undo the decision; it is said in the run's summary and to ``retrain.notify``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from genre.messages import InputError, one_line
from genre.serving.production import POINTER
from genre.settings import Settings

REGISTRY = POINTER.parent


class BackupFailed(InputError):
    """The folders could not be added to DVC (or pushed): one line saying why."""


def back_up(settings: Settings) -> str:
    """``dvc add`` the registry and the accepted batches (and push them); -> one line saying what was kept where."""
    cfg, root = settings.retrain, settings.root
    if not cfg.backup:
        return "not backed up (retrain.backup: false)"
    if not (root / ".dvc").is_dir():
        raise BackupFailed(f"{root} is not a DVC repository (dvc init): the registry and the batches are not backed up")
    folders = [str(f) for f in (REGISTRY, settings.ingest.batches) if (root / f).is_dir()]  # empty too: none left
    if not folders:
        return "nothing to back up yet"
    _dvc(root, "add", *folders)
    kept = f"{' and '.join(folders)} kept in the DVC cache ({', '.join(f + '.dvc' for f in folders)})"
    if cfg.backup_remote is None:
        return kept
    _dvc(root, "push", "--remote", cfg.backup_remote, *(f + ".dvc" for f in folders))
    return f"{kept} and pushed to the DVC remote {cfg.backup_remote}"


def _dvc(root: Path, *args: str) -> None:
    done = subprocess.run(["dvc", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise BackupFailed(f"dvc {args[0]} failed: {one_line(' | '.join(said[-3:]), 300)}")
