"""Taking a batch back out of the training data (``genre data withdraw``).

A batch found bad after it was accepted (mislabelled, poisoned, sent by mistake) is moved out of
``ingest.batches`` into ``retrain.withdrawn``, beside a record of who withdrew it, when and why.
The next retraining run trains without it; production keeps the model trained with it until a
challenger without it is promoted. Its rows stay in the ledger, so the same rows sent again under
another name are refused at intake. The project's run lock is held throughout, so a withdrawal
never happens under a run that is reading the training data.
"""

from __future__ import annotations

from pathlib import Path

from genre.artifacts.atomic import write_json
from genre.data.batches import batch_files, move_whole
from genre.data.datasets import read_raw
from genre.data.schema import load_schema
from genre.messages import InputError, one_line
from genre.retraining import ledger
from genre.retraining.lock import run_lock
from genre.settings import Settings
from genre.who import who


def withdraw_batch(settings: Settings, batch: str, reason: str) -> Path:
    """Move the accepted batch named ``batch`` (a file name in ``ingest.batches``, or a path to it)
    to ``retrain.withdrawn``, its record written first; -> where it now is."""
    if not reason.strip():
        raise InputError("--reason: say why the batch is withdrawn; the record keeps it")
    accepted = settings.resolve(settings.ingest.batches)
    name = Path(batch).name
    source = accepted / name
    if source not in batch_files(accepted):
        have = ", ".join(p.name for p in batch_files(accepted)) or "none"
        raise InputError(f"{one_line(batch, 200)}: not a batch in {settings.ingest.batches} (there: {have})")
    with run_lock(settings.root):
        rows = read_raw(source, load_schema(settings.resolve(settings.ingest.schema_path)))
        digest = ledger.rows_digest(rows)
        stamp, by = ledger.now(), who()
        dest = settings.resolve(settings.retrain.withdrawn) / f"{stamp}-{name}"
        write_json(
            dest.with_name(dest.name + ".withdrawal.json"),
            {
                "batch": name,
                "rows": len(rows),
                "rows_sha256": digest,
                "reason": reason,
                "by": by,
                "time": stamp,
            },
        )
        move_whole(source, dest)
        ledger.note(settings.root, "withdrawn", name, digest, reason=reason, by=by)
    return dest
