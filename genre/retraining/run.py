"""One retraining run, in three steps: new data in, a challenger trained, the challenger judged.

1. ``take_new_data``: the batches waiting in ``retrain.incoming`` (``genre.retraining.intake``);
   a drifted batch stops the run here, before any training.
2. ``train_challenger``: ``dvc repro`` in the project, the same command a person runs, so
   ``dvc.lock`` records every run and a run killed part-way is resumed from the stages that had
   finished. The challenger is trained in the project's workspace: production is the model and
   bento that ``registry/production.json`` names in BentoML's store, which no stage changes once a
   first model is in production, and the CLI and the service answer from it, not from the workspace.
3. ``judge_challenger``: the newest packaged model against production under the gate's rules
   (``genre.retraining.gate``), promoted only if every rule passes; the decision is recorded
   (``genre.retraining.record``) with the batches of every run since the last decision, so a run
   killed after its intake and resumed still reports them.

A batch is training data for good only once a challenger trained on it is promoted. Where the
challenger is refused, or its training fails, the batches it was the first to train on are set
aside in ``retrain.refused``, each beside the decision, so one bad batch is not trained on by
every later run; a person who judges one sound puts it back with ``genre data release``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import bentoml
import pandas as pd

from genre.artifacts.atomic import write_json
from genre.artifacts.paths import Artifacts
from genre.data.batches import move_whole, waiting_files
from genre.data.datasets import read_raw
from genre.data.missing import apply_missing
from genre.data.schema import load_schema
from genre.messages import InputError, one_line
from genre.processes import die_with_parent
from genre.recourse.incumbent import INCUMBENT_ENV
from genre.retraining import ledger
from genre.retraining.gate import compare
from genre.retraining.intake import reference_rows, take_batches
from genre.retraining.record import new_stamp, provenance, read_records, record_path, write_record
from genre.retraining.sibling import kept_path, sibling
from genre.serving import production
from genre.serving.bundle import load_bundle
from genre.settings import Settings

PENDING = Path("registry/pending-intake.json")  # batches taken since the last decision
LOGS = Path("registry/logs")  # each run's dvc repro output


class TrainingFailed(InputError):
    """``dvc repro`` failed (a stage refused its data, or evaluate's floors): production stays.
    ``decision`` is the run's record."""

    def __init__(self, reason: str, decision: dict[str, Any]) -> None:
        super().__init__(reason)
        self.decision = decision


def take_new_data(settings: Settings) -> dict[str, Any]:
    """Step 1: every waiting batch validated, checked for drift against production's training
    data and moved; a drifted one ends the run with a record. -> the intake, as JSON."""
    if not waiting_files(settings.resolve(settings.retrain.incoming)):  # the usual week without data: nothing to load
        return {"batches": [], "stopped": False, "reference": "", "decision": None}
    release = production.production(settings.root)
    engine = load_bundle(production.model_path(release.model)) if release is not None else None
    schema = load_schema(settings.resolve(settings.ingest.schema_path))
    reference, source = reference_rows(settings, release, schema)
    expected = production.held_out_auc(release.model) if release is not None else None
    intake = take_batches(settings, engine, reference, source, expected)
    pending = _pending(settings.root) + intake.to_json()
    write_json(settings.root / PENDING, pending)
    decision = (
        _decide(
            settings,
            "stopped",
            next(b.reason for b in intake.batches if b.verdict == "drifted") + "; nothing was trained",
            source,
        )
        if intake.stopped
        else None
    )
    return {"batches": intake.to_json(), "stopped": intake.stopped, "reference": source, "decision": decision}


def train_challenger(settings: Settings, env: Mapping[str, str], log_name: str) -> str:
    """Step 2: ``dvc repro`` (its output in ``registry/logs/``); -> the newest packaged model.
    ``env`` is laid over this process's environment (the run lock handed down, the Prefect API),
    with production's choices for evaluate (``genre.recourse.incumbent``): the challenger answers
    by production's threshold, rule and plausible-first preference, so a scheduled retrain changes
    the models, not what people are told to clear."""
    release = production.production(settings.root)
    if release is not None:
        env = {**env, INCUMBENT_ENV: json.dumps(production.choices(release.model))}
    log = settings.root / LOGS / f"{log_name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        # die_with_parent: a run killed with -9 takes its dvc repro (and that its stage) with it
        done = subprocess.run(
            ["dvc", "repro"],
            cwd=settings.root,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            check=False,
        )
    if done.returncode != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-6:]
        reason = f"dvc repro failed (exit {done.returncode}; {log}): " + " | ".join(
            one_line(line, 200) for line in tail
        )
        raise TrainingFailed(reason, _decide(settings, "failed", reason, ""))
    return json.loads(Artifacts(settings.root).metrics("package").read_text())["model_tag"]


def judge_challenger(settings: Settings, challenger: str) -> dict[str, Any]:
    """Step 3: the decision on ``challenger`` (promoted, refused or unchanged), recorded."""
    release = _in_production(
        settings, "no model is in production, and the package stage promotes the first: see registry/production.json"
    )
    judged = any(
        r.get("challenger") == challenger and r["decision"] in ("promoted", "refused")
        for r in read_records(settings.root)
    )
    if release.model == challenger and release.by == "first model" and not judged:
        return _decide(
            settings,
            "promoted",
            "the first model: it passed evaluate's floors, and the package stage promoted it",
            "",
            None,
            challenger,
        )
    if release.model == challenger or judged:
        return _decide(
            settings,
            "unchanged",
            f"{challenger} was judged already: no new data or settings since",
            "",
            release.model,
            challenger,
        )
    return _gated(settings, release, challenger, promote=True, by_hand=False)


def gate_by_hand(settings: Settings, challenger: str, promote: bool) -> dict[str, Any]:
    """``genre production compare`` (``promote=False``) and ``promote --gate``: ``challenger``
    against production, recorded, and promoted if asked and every rule passes."""
    release = _in_production(
        settings,
        "no model is in production yet: run dvc repro (its first model is promoted), "
        "or genre production promote <model>",
    )
    challenger, _ = production.served_by(challenger)
    return _gated(settings, release, challenger, promote=promote, by_hand=True)


def _in_production(settings: Settings, if_none: str) -> production.Release:
    """The release in production, or ``if_none`` for the user: a gate needs a champion."""
    release = production.production(settings.root)
    if release is None:
        raise InputError(if_none)
    return release


def _gated(
    settings: Settings, release: production.Release, challenger: str, promote: bool, by_hand: bool
) -> dict[str, Any]:
    champion, contender = (load_bundle(production.model_path(tag)) for tag in (release.model, challenger))
    log = settings.resolve(Path(settings.serve.answer_log)) if settings.serve.answer_log else None
    newcomers = None if by_hand else _new_rows(settings, contender)
    # luck, or worse than luck? Where a rule fails, production's own retrain says (trained on first need)
    sibling_log = settings.root / LOGS / f"{new_stamp()}-sibling.log"
    twin = partial(sibling, settings, release.model, sibling_log) if settings.gate.sibling else None
    comparison = compare(settings, champion, contender, log, newcomers, release.model, twin)
    if "judged_with_sibling" in comparison:
        comparison["sibling"] = str(kept_path(release.model))
    elif twin is not None and not comparison["passed"]:
        comparison["sibling_missing"] = (
            f"production's bundle carries no params to retrain by, or its retrain failed ({sibling_log.name})"
        )
    how = "by hand: " if by_hand else ""
    if not promote:
        return _decide(
            settings,
            "compared",
            how
            + ("every gate rule passed" if comparison["passed"] else "some gate rule failed")
            + "; production unchanged",
            "",
            release.model,
            challenger,
            comparison,
            pending=False,
        )
    if comparison["passed"]:  # promoted first, then recorded: a record never says "promoted" of a model that is not
        stamp = new_stamp()
        production.promote(
            settings.root,
            challenger,
            by="gate",
            reason=f"passed the gate (record: {record_path(settings.root, stamp)})",
        )
        return _decide(
            settings,
            "promoted",
            how + "every gate rule passed",
            "",
            release.model,
            challenger,
            comparison,
            pending=not by_hand,
            stamp=stamp,
        )
    failed = [r["name"] for r in comparison["rules"] if not r["passed"]]
    return _decide(
        settings,
        "refused",
        how + "failed: " + "; ".join(failed),
        "",
        release.model,
        challenger,
        comparison,
        pending=not by_hand,
    )


def _new_rows(settings: Settings, contender: Any) -> pd.DataFrame:
    """The rows of the batches accepted since the last decision (raw, gaps handled), for the gate set."""
    accepted = settings.resolve(settings.ingest.batches)
    schema = contender.pre.schema
    frames = [
        read_raw(accepted / b["file"], schema)
        for b in _pending(settings.root)
        if b["verdict"] == "accepted" and (accepted / b["file"]).is_file()
    ]
    if not frames:
        return pd.DataFrame()
    return apply_missing(schema, pd.concat(frames, ignore_index=True), contender.pre.fills)[0]


def _pending(root: Path) -> list[dict[str, Any]]:
    path = Path(root) / PENDING
    return json.loads(path.read_text()) if path.is_file() else []


def _set_aside(
    settings: Settings, batches: list[dict[str, Any]], decision: str, reason: str, record: Path
) -> list[str]:
    """Move the accepted ``batches`` out of the training data into ``retrain.refused``, each beside
    the decision (written first: a batch is never set aside without its reason); -> where each went."""
    accepted, refused = settings.resolve(settings.ingest.batches), settings.resolve(settings.retrain.refused)
    moved = []
    for batch in batches:
        source = accepted / batch["file"]
        if batch["verdict"] != "accepted" or not source.is_file():
            continue
        dest = refused / f"{record.stem}-{batch['file']}"
        why = {"decision": decision, "reason": reason, "record": str(record), "time": ledger.now()}
        write_json(dest.with_name(dest.name + ".decision.json"), {"batch": batch["file"], **why})
        move_whole(source, dest)
        ledger.note(settings.root, "set_aside", batch["file"], batch.get("rows_sha256") or "", decision=decision)
        moved.append(str(dest.relative_to(settings.root) if dest.is_relative_to(settings.root) else dest))
    return moved


def _data_version(tag: str | None) -> str | None:
    if tag is None:
        return None
    try:
        return bentoml.models.get(tag).info.labels.get("data_version")
    except Exception:  # noqa: BLE001 (a model from before data versions, or gone from the store: the record says none)
        return None


def _decide(
    settings: Settings,
    decision: str,
    reason: str,
    reference: str,
    champion: str | None = None,
    challenger: str | None = None,
    comparison: dict[str, Any] | None = None,
    pending: bool = True,
    stamp: str | None = None,
) -> dict[str, Any]:
    """Write the record (with the batches taken since the last decision, which it then clears);
    a refusal or a failure first sets those batches aside."""
    batches = _pending(settings.root) if pending else []
    stamp = stamp or new_stamp()
    set_aside = (
        _set_aside(settings, batches, decision, reason, record_path(settings.root, stamp))
        if decision in ("refused", "failed")
        else []
    )
    record = {
        "decision": decision,
        "reason": reason,
        "champion": champion,
        "challenger": challenger,
        "data_versions": {"champion": _data_version(champion), "challenger": _data_version(challenger)},
        "batches": batches,
        "reference": reference,
        "comparison": comparison,
        "set_aside": set_aside,
        **provenance(settings.root),
    }
    path = write_record(settings.root, record, stamp)
    if pending:
        (settings.root / PENDING).unlink(missing_ok=True)
    return record | {"path": str(path)}
