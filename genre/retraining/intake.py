"""New data in: the labelled batches waiting in ``retrain.incoming``, taken in name order.

Each batch is read and validated with the GX suite generated from the schema; one that fails is
moved to ``retrain.quarantine`` beside its report, and the others go on. So is any other file
found there (only ``.csv`` and ``.csv.gz`` are batches), one that cannot be read, and one whose
rows were taken before under any name (``genre.retraining.ledger``). Each that passes is
compared with the data the production model was trained on (``genre.data.drift``); a batch that
drifted is moved to ``retrain.held`` beside its drift report and a picture per drifted feature,
and the run stops before any training: the batches that passed stay where they are, for the next
run. When nothing drifted, the batches that passed move to ``ingest.batches``, where ingest makes
them part of the training data (a new data version). Files are moved whole, never edited, and a
file is never half in two places: each move is one rename.

Drift is a question for a person, not a verdict: one who has looked at a held batch and judged the
change real (a new branch, a new product) releases it (``release_held``, ``genre data release``). It
goes back to incoming under its own name, and the next run validates it as ever but waives its
drift check, for exactly those bytes; the release is recorded under ``registry/released/``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from genre.artifacts.atomic import write_json, write_text
from genre.artifacts.paths import Artifacts
from genre.data.batches import BATCH_MIN_ROWS, BATCH_SUFFIXES, move_whole, waiting_files
from genre.data.datasets import read_raw
from genre.data.drift import DriftReport, LabelAgreement, drift_report
from genre.data.missing import apply_missing
from genre.data.schema import DatasetSchema, load_schema
from genre.data.validation import DataValidationError, validate_frame
from genre.messages import InputError, one_line
from genre.models.classifiers import DECISION_THRESHOLD
from genre.recourse.engine import RecourseEngine
from genre.retraining import ledger
from genre.retraining.bootstrap import auc_interval
from genre.retraining.pictures import feature_picture
from genre.serving.production import REFERENCE, Release, model_path
from genre.settings import Settings

# accepted: now training data; quarantined: failed validation; drifted: held for a person, the run
# stopped; waiting: left in incoming (checked or not) because a batch of the run drifted
Verdict = Literal["accepted", "quarantined", "drifted", "waiting"]
RELEASED = Path("registry/released")  # under the project's root: one record per held batch a person released


@dataclass(frozen=True)
class Batch:
    file: str
    verdict: Verdict
    rows: int
    reason: str
    report: str | None = None  # the validation or drift report, beside the moved file
    rows_sha256: str | None = None  # the rows' hash (genre.retraining.ledger), once they were read


@dataclass(frozen=True)
class Intake:
    batches: list[Batch] = field(default_factory=list)
    reference: str = ""  # what the batches were compared with

    @property
    def stopped(self) -> bool:
        return any(b.verdict == "drifted" for b in self.batches)

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(b) for b in self.batches]


def _scored(engine: RecourseEngine, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``frame``'s labels (1: favourable) and ``engine``'s classifier's probabilities for its rows."""
    target = engine.pre.schema.target
    labels = (frame[target.name] == target.favourable).to_numpy(np.int64)
    return labels, engine.scorer.predict_proba(engine.pre.transform(frame))


def label_agreement(
    reference: tuple[np.ndarray, np.ndarray],
    batch: tuple[np.ndarray, np.ndarray],
    held_out_auc: float | None,
    settings: Settings,
) -> LabelAgreement | None:
    """How well the batch's labels agree with the classifier (each frame ``_scored``), against its
    AUC on its held-out rows (``held_out_auc``; for a model packaged without it, its AUC on the
    reference, its own training rows, which flatters it: a stricter bar for the batch)."""
    gate = settings.gate
    seen = auc_interval(*batch, gate.draws, gate.seed, gate.confidence)
    if held_out_auc is not None:
        expected, on = held_out_auc, "its held-out rows"
    elif np.unique(reference[0]).size == 2:
        expected, on = float(roc_auc_score(*reference)), "its training rows"
    else:
        return None
    return None if seen is None else LabelAgreement(expected, *seen, settings.drift.max_label_auc_drop, on)


def batch_drift(
    engine: RecourseEngine,
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    settings: Settings,
    held_out_auc: float | None,
) -> tuple[DriftReport, pd.DataFrame]:
    """A validated batch (raw) against the reference rows, its approvals and labels by ``engine``;
    -> the report, and the batch with its gaps handled as the engine handles them (what was compared)."""
    batch, _ = apply_missing(engine.pre.schema, batch, engine.pre.fills)
    old, new = _scored(engine, reference), _scored(engine, batch)
    rates = float(np.mean(old[1] > DECISION_THRESHOLD)), float(np.mean(new[1] > DECISION_THRESHOLD))
    labels = label_agreement(old, new, held_out_auc, settings)
    return drift_report(reference, batch, engine.pre.schema, rates, settings.drift, labels), batch


def reference_rows(
    settings: Settings, release: Release | None, schema: DatasetSchema
) -> tuple[pd.DataFrame | None, str]:
    """The rows the production model was trained on (a sample kept in its folder); before any model
    is in production, the workspace's training data; before any run, none."""
    if release is not None:
        kept = model_path(release.model) / REFERENCE
        if kept.is_file():
            return read_raw(kept, schema), f"the training data of {release.model} (production)"
    prepared = Artifacts(settings.root).train_csv
    if prepared.is_file():
        return read_raw(prepared, schema), "the workspace's training data"
    return None, "nothing: no model was trained yet"


def take_batches(
    settings: Settings,
    production: RecourseEngine | None,
    reference: pd.DataFrame | None,
    source: str,
    held_out_auc: float | None = None,
) -> Intake:
    """Validate, check and move every waiting batch (the module's docstring); -> each one's verdict."""
    cfg = settings.retrain
    schema = load_schema(settings.resolve(settings.ingest.schema_path))
    accepted_dir = settings.resolve(settings.ingest.batches)
    stamp = ledger.now()  # the prefix a held or quarantined batch's name gets: when it was set aside
    verdicts: list[Batch] = []
    passed: list[tuple[Path, int, str, str]] = []  # file, rows, why, rows' hash
    taken: dict[str, str] = {}  # rows' hash -> file, this run's
    for path in waiting_files(settings.resolve(cfg.incoming)):
        if Intake(verdicts).stopped:
            verdicts.append(
                Batch(path.name, "waiting", 0, "not checked, left in incoming: an earlier batch of this run drifted")
            )
            continue
        frame = None
        try:
            if not path.name.endswith(BATCH_SUFFIXES):
                raise InputError(f"{path.name}: not a batch (only .csv and .csv.gz files are read)")
            if (accepted_dir / path.name).exists():
                raise InputError(
                    f"a batch named {path.name} was accepted already; rename this one if it holds other rows"
                )
            frame = read_raw(path, schema)
            report = validate_frame(frame, schema, min_rows=BATCH_MIN_ROWS)
            report.raise_for_failures(path.name)
            digest = ledger.rows_digest(frame)
            waived = released(settings, path)
            if waived is None:
                _taken_once(settings, path, digest, taken)
        except InputError as exc:
            verdicts.append(
                _quarantine(
                    settings.resolve(cfg.quarantine) / f"{stamp}-{path.name}",
                    path,
                    exc,
                    0 if frame is None else len(frame),
                )
            )
            continue
        if production is None or reference is None or waived is not None:
            checked = (
                ""
                if reference is None
                else " and the drift check"
                if waived is None
                else f"; drift check waived, released by hand {waived['time']}: {waived['reason']}"
            )
            passed.append((path, len(frame), "passed validation" + checked, digest))
            continue
        drift, compared = batch_drift(production, reference, frame, settings, held_out_auc)
        if drift.drifted:
            verdicts.append(
                _hold(
                    settings.resolve(cfg.held) / f"{stamp}-{path.name}",
                    path,
                    compared,
                    reference,
                    drift,
                    production.pre.schema,
                    source,
                )
            )
            continue
        passed.append((path, len(frame), "passed validation and the drift check", digest))
    stopped = Intake(verdicts).stopped
    for path, rows, why, digest in passed:
        if stopped:
            verdicts.append(
                Batch(path.name, "waiting", rows, "passed, left in incoming: another batch of this run drifted")
            )
        else:
            move_whole(path, accepted_dir / path.name)
            ledger.note(settings.root, "accepted", path.name, digest)
            verdicts.append(Batch(path.name, "accepted", rows, why, rows_sha256=digest))
    return Intake(sorted(verdicts, key=lambda b: b.file), source)


def _taken_once(settings: Settings, path: Path, digest: str, taken: dict[str, str]) -> None:
    """Refuse rows taken before, under any name (a file a person released is not asked)."""
    if digest in taken:
        raise InputError(f"{path.name}: the same rows as {taken[digest]}, taken in this run; rows are taken once")
    prior = ledger.seen(settings.root, digest)
    if prior is not None:
        raise InputError(
            f"{path.name}: the same rows as {prior['file']} ({prior['event'].replace('_', ' ')} {prior['time']}); "
            "rows are taken once"
        )
    taken[digest] = path.name


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def release_held(settings: Settings, held: Path, reason: str) -> Path:
    """Put a batch held for drift, or set aside by a refused challenger, back in incoming under the
    name it arrived with, its drift check and its rows' earlier verdict waived for exactly these
    bytes; -> where it now waits. The record is written before the move, so a release killed
    half-way is simply released again."""
    folders = [settings.resolve(settings.retrain.held).resolve(), settings.resolve(settings.retrain.refused).resolve()]
    held = held.resolve()
    stamp, _, name = held.name.partition("-")
    if held.parent not in folders or not held.is_file() or not name.endswith(BATCH_SUFFIXES):
        raise InputError(
            f"{held.name}: not a batch held in {settings.retrain.held} or set aside in {settings.retrain.refused} "
            "(the batch's CSV, not its report or pictures)"
        )
    incoming, accepted = settings.resolve(settings.retrain.incoming), settings.resolve(settings.ingest.batches)
    for folder in (incoming, accepted):
        if (folder / name).exists():
            raise InputError(f"{held.name}: a batch named {name} is in {folder} already; rename one of them")
    record = {
        "file": name,
        "held_as": held.name,
        "held_since": stamp,
        "sha256": _digest(held),
        "reason": reason,
        "time": ledger.now(),
    }
    write_json(settings.root / RELEASED / f"{name}.json", record)
    move_whole(held, incoming / name)
    return incoming / name


def released(settings: Settings, path: Path) -> dict[str, Any] | None:
    """The release record of the batch at ``path``, if a person released exactly these bytes."""
    record = settings.root / RELEASED / f"{path.name}.json"
    if not record.is_file():
        return None
    said = json.loads(record.read_text())
    return said if said.get("sha256") == _digest(path) else None


def _quarantine(dest: Path, path: Path, problem: InputError, rows: int) -> Batch:
    lines = str(problem).splitlines()
    report = dest.with_name(dest.name + ".validation.txt")
    write_text(report, "\n".join(lines) + "\n")
    move_whole(path, dest)
    failures = problem.failures if isinstance(problem, DataValidationError) else lines
    return Batch(
        path.name,
        "quarantined",
        rows,
        one_line(f"{len(failures)} problem(s), the first: {failures[0]}", 300),
        str(report),
    )


def _hold(
    dest: Path,
    path: Path,
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    drift: DriftReport,
    schema: DatasetSchema,
    source: str,
) -> Batch:
    report = dest.with_name(dest.name + ".drift.json")
    pictures = []
    for feature in (f.feature for f in drift.features if f.drifted):
        picture = dest.with_name(f"{dest.name}.{feature}.png")
        feature_picture(reference, frame, feature, schema, picture)
        pictures.append(str(picture))
    write_json(
        report,
        {
            "batch": path.name,
            "rows": len(frame),
            "reference": source,
            "reference_rows": len(reference),
            "pictures": pictures,
            **drift.to_json(),
        },
    )
    move_whole(path, dest)
    return Batch(path.name, "drifted", len(frame), one_line("drifted: " + "; ".join(drift.drifted), 300), str(report))
