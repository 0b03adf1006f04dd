"""Every batch that ever became training data, known by its rows rather than its file name.

A batch is recognised by a hash of its rows, whatever their order, the file's name or its
compression, so rows sent twice are taken once, and a batch that was refused or withdrawn cannot
come back under a new name. The ledger (``registry/batches.json``) is append-only: one entry per
event in a batch's life (accepted, set aside by a refusal, withdrawn). A person's release is
recorded apart, in ``registry/released/``, and waives the ledger for exactly one file's bytes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from genre.artifacts.atomic import write_json

LEDGER = Path("registry/batches.json")  # under the project's root
STAMP = "%Y%m%dT%H%M%SZ"
Event = Literal["accepted", "set_aside", "withdrawn"]


def rows_digest(frame: pd.DataFrame) -> str:
    """A hash of the rows as values, independent of their order: the columns' names and each row's
    hash, sorted."""
    rows = pd.util.hash_pandas_object(frame[sorted(frame.columns)], index=False).sort_values().to_numpy()
    digest = hashlib.sha256("\x1f".join(sorted(map(str, frame.columns))).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()


def now() -> str:
    return datetime.now(UTC).strftime(STAMP)


def entries(root: Path) -> list[dict[str, Any]]:
    path = Path(root) / LEDGER
    return json.loads(path.read_text()) if path.is_file() else []


def note(root: Path, event: Event, file: str, digest: str, **details: Any) -> None:
    """Append one event to the ledger (rewritten whole, atomically: it stays small)."""
    write_json(
        Path(root) / LEDGER,
        [*entries(root), {"event": event, "file": file, "rows_sha256": digest, "time": now(), **details}],
    )


def seen(root: Path, digest: str) -> dict[str, Any] | None:
    """The latest event of a batch with these rows, if any batch had them."""
    return next((e for e in reversed(entries(root)) if e["rows_sha256"] == digest), None)
