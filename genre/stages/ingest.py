"""Stage 1, ingest: validate the raw data, keep (or make) the train/test split, fit the preprocessor.

Validation runs before anything is written, so a bad delivery of data stops here with the previous
good artifacts still in place. The batches retraining accepted (``ingest.batches``) join the
training split; the files read, in order, make the data version that every model is labelled with.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genre.artifacts.atomic import atomic_dir, write_json, write_text, write_with
from genre.artifacts.paths import Artifacts
from genre.data.batches import BATCH_MIN_ROWS, batch_files
from genre.data.datasets import read_raw
from genre.data.missing import apply_missing, fit_fills
from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema, load_schema
from genre.data.validation import DataValidationError, validate_frame
from genre.settings import Settings


def sources(settings: Settings) -> dict[str, Path]:
    """Every file ingest reads, by name: ``train``, ``test`` (unless split from train) and each batch."""
    cfg = settings.ingest
    found = {"train": settings.resolve(cfg.train_csv)}
    if cfg.test_csv is not None:
        found["test"] = settings.resolve(cfg.test_csv)
    return found | {f"batch {path.name}": path for path in batch_files(settings.resolve(cfg.batches))}


def data_version(files: dict[str, Path], rows: dict[str, int]) -> dict[str, Any]:
    """A digest of the bytes of every file read, in order: two runs on the same files share it,
    and a model's label names the data it learnt from (``version`` in ``data/prepared/version.json``)."""
    digests = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}
    whole = hashlib.sha256("".join(f"{name}:{digest};" for name, digest in digests.items()).encode()).hexdigest()
    return {
        "version": whole[:12],
        "files": [
            {"name": name, "path": str(path), "sha256": digests[name], "rows": rows[name]}
            for name, path in files.items()
        ],
    }


def split(
    settings: Settings, schema: DatasetSchema, report_dir: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Validate every raw file (its GX results and Data Docs under ``report_dir``, written before
    a failure is raised so that they can be kept), then return train and test, the accepted
    batches added to train, the validation results and the data version."""
    cfg = settings.ingest
    files = sources(settings)
    frames, results = {}, {}
    for name, path in files.items():
        frame = read_raw(path, schema)
        label = name.replace(" ", "-")
        docs = None if report_dir is None else report_dir / "docs" / label
        report = validate_frame(
            frame, schema, docs_dir=docs, min_rows=BATCH_MIN_ROWS if name.startswith("batch ") else None
        )
        if report_dir is not None:
            (report_dir / f"{label}.json").write_text(json.dumps(report.result, indent=2, default=str))
        report.raise_for_failures(str(path))
        frames[name], results[name] = frame, report.result
    version = data_version(files, {name: len(frame) for name, frame in frames.items()})
    batches = [frames.pop(name) for name in files if name.startswith("batch ")]
    if "test" not in frames:
        shuffled = frames["train"].sample(frac=1.0, random_state=cfg.seed).reset_index(drop=True)
        n_test = round(len(shuffled) * cfg.test_fraction)
        frames = {"train": shuffled.iloc[n_test:], "test": shuffled.iloc[:n_test]}
    if cfg.sample_rows is not None:
        frames = {k: f.sample(n=min(cfg.sample_rows, len(f)), random_state=cfg.seed) for k, f in frames.items()}
    train = pd.concat([frames["train"], *batches], ignore_index=True)[schema.columns]
    test = frames["test"].reset_index(drop=True)[schema.columns]
    return train, test, results, version


def keep_failed_report(report_dir: Path, paths: Artifacts, keep: int = 10) -> Path:
    """Copy a refused delivery's report beside (not into) the DVC-tracked validation folder, which
    keeps the last good one; the ``keep`` newest are kept so that unattended runs cannot fill the disk."""
    kept = paths.failed_validation_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    shutil.copytree(report_dir, kept, dirs_exist_ok=True)
    for old in sorted(paths.failed_validation_dir.iterdir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return kept


def run(settings: Settings) -> dict[str, Any]:
    paths = Artifacts(settings.root)
    schema = load_schema(settings.resolve(settings.ingest.schema_path))
    with atomic_dir(paths.validation_dir) as tmp:
        try:
            train, test, results, version = split(settings, schema, report_dir=tmp)
        except DataValidationError as refused:
            refused.report = keep_failed_report(tmp, paths)
            raise
    fills = fit_fills(schema, train)
    train, train_missing = apply_missing(schema, train, fills)
    test, test_missing = apply_missing(schema, test, fills)
    preprocessor = Preprocessor.fit(schema, train, fills)
    write_with(paths.train_csv, lambda tmp: train.to_csv(tmp, index=False))
    write_with(paths.test_csv, lambda tmp: test.to_csv(tmp, index=False))
    write_text(paths.schema, schema.to_yaml())
    write_text(paths.preprocessor, preprocessor.to_json())
    write_json(paths.data_version, version)
    favourable = schema.target.favourable
    summary = {
        "data_version": version["version"],
        "batches": sum(name.startswith("batch ") for name in (f["name"] for f in version["files"])),
        "rows_train": len(train),
        "rows_test": len(test),
        "favourable_rate_train": float(np.mean(train[schema.target.name] == favourable)),
        "expectations_checked": sum(len(r.get("results", [])) for r in results.values()),
        "rows_dropped_missing": {"train": train_missing.rows_dropped, "test": test_missing.rows_dropped},
        "values_imputed": {"train": train_missing.imputed, "test": test_missing.imputed},
    }
    write_json(paths.metrics("ingest"), summary)
    return summary
