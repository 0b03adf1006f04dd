"""Stage 1, ingest: validate the raw data, keep (or make) the train/test split, fit the preprocessor.

Validation runs before anything is written, so a bad delivery of data stops here with the previous
good artifacts still in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genre.artifacts.atomic import atomic_dir, write_json, write_text, write_with
from genre.artifacts.paths import Artifacts
from genre.data.datasets import read_raw
from genre.data.missing import apply_missing, fit_fills
from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema, load_schema
from genre.data.validation import validate_frame
from genre.settings import Settings


def split(
    settings: Settings, schema: DatasetSchema, docs_dir: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Validate every raw file (Data Docs per file under ``docs_dir``), then return train and test."""
    cfg = settings.ingest
    sources = {"train": settings.resolve(cfg.train_csv)}
    if cfg.test_csv is not None:
        sources["test"] = settings.resolve(cfg.test_csv)
    frames, results = {}, {}
    for name, path in sources.items():
        frame = read_raw(path, schema)
        report = validate_frame(frame, schema, docs_dir=None if docs_dir is None else docs_dir / name)
        report.raise_for_failures(str(path))
        frames[name], results[name] = frame, report.result
    if "test" not in frames:
        shuffled = frames["train"].sample(frac=1.0, random_state=cfg.seed).reset_index(drop=True)
        n_test = int(round(len(shuffled) * cfg.test_fraction))
        frames = {"train": shuffled.iloc[n_test:], "test": shuffled.iloc[:n_test]}
    if cfg.sample_rows is not None:
        frames = {k: f.sample(n=min(cfg.sample_rows, len(f)), random_state=cfg.seed) for k, f in frames.items()}
    train, test = (frames[k].reset_index(drop=True)[schema.columns] for k in ("train", "test"))
    return train, test, results


def run(settings: Settings) -> dict[str, Any]:
    paths = Artifacts(settings.root)
    schema = load_schema(settings.resolve(settings.ingest.schema_path))
    with atomic_dir(paths.validation_dir) as tmp:
        train, test, results = split(settings, schema, docs_dir=tmp / "docs")
        for name, result in results.items():
            (tmp / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    fills = fit_fills(schema, train)
    train, train_missing = apply_missing(schema, train, fills)
    test, test_missing = apply_missing(schema, test, fills)
    preprocessor = Preprocessor.fit(schema, train, fills)
    write_with(paths.train_csv, lambda tmp: train.to_csv(tmp, index=False))
    write_with(paths.test_csv, lambda tmp: test.to_csv(tmp, index=False))
    write_text(paths.schema, schema.to_yaml())
    write_text(paths.preprocessor, preprocessor.to_json())
    favourable = schema.target.favourable
    summary = {
        "rows_train": len(train),
        "rows_test": len(test),
        "favourable_rate_train": float(np.mean(train[schema.target.name] == favourable)),
        "expectations_checked": sum(len(r.get("results", [])) for r in results.values()),
        "rows_dropped_missing": {"train": train_missing.rows_dropped, "test": test_missing.rows_dropped},
        "values_imputed": {"train": train_missing.imputed, "test": test_missing.imputed},
    }
    write_json(paths.metrics("ingest"), summary)
    return summary
