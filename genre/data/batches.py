"""Labelled batches of new data: which files in a folder are batches, and in what order.

Ingest reads the accepted ones into the training split and retraining takes new ones in; both ask
here, so the two can never disagree on what counts as a batch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

BATCH_SUFFIXES = (".csv", ".csv.gz")
BATCH_MIN_ROWS = 1  # a batch joins training data that has the schema's min_rows already


def move_whole(path: Path, dest: Path) -> None:
    """Move a batch file to ``dest`` in one rename (on one filesystem), never edited; the last step
    of setting a batch anywhere, after the report or record that says why is written, so a process
    killed before it leaves the batch where it was, never moved without its reason."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, dest)


def waiting_files(folder: Path) -> list[Path]:
    """Every file in ``folder`` but hidden ones (a copy in progress), in name order: what intake
    must account for, batch or not."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def batch_files(folder: Path) -> list[Path]:
    """The CSV files in ``folder`` in name order (an absent folder holds none): the order batches
    are taken in, so a name that starts with the date orders them by arrival."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith(BATCH_SUFFIXES) and not p.name.startswith(".")
    )
