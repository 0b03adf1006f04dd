"""Unattended retraining replayed on Adult: a base of its training data, then weekly batches, one
corrupted and one drifted among them, and one week whose params make a deliberately worse model
(the generator trained one epoch), each week one run of the retraining flow (``python -m
flows.retrain``, the flow ``flows.schedule`` deploys, in its own process as a deployment runs it)
against the shared local Prefect server, in a scratch copy of the project.

Per run: each batch's verdict, the decision and its reason, champion and challenger figures on the
gate set (promises kept and group gaps for the challenger), and the run's seconds. Checked and
written beside them: no corrupted or drifted batch's rows and no refused model ever reached
production, every promotion kept at least ``gate.min_promises_kept`` of its predecessor's
promises, and each run's time against 10 minutes.

Usage: ``python benchmarks/retraining.py [--weeks 5] [--machine "2 cores, idle"]``
Writes ``reports/retraining.json`` and ``reports/retraining.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from genre.artifacts.atomic import write_json, write_text
from research.provenance import stamped
from research.scratch_project import scratch_project, with_params

REPO = Path(__file__).resolve().parents[1]
ADULT = REPO / "data/raw/adult"
FIGURES = ("score", "validity_rf", "lof", "cost", "found_rate")
TARGET_SECONDS = 600.0
BATCH_ROWS = 2000


def weeks(train: pd.DataFrame, n: int) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """The base (all but ``n`` batches of rows) and ``n`` weekly batches, in a seeded order."""
    shuffled = train.sample(frac=1.0, random_state=0).reset_index(drop=True)
    base = shuffled.iloc[: len(shuffled) - n * BATCH_ROWS]
    return base, [shuffled.iloc[len(base) + i * BATCH_ROWS : len(base) + (i + 1) * BATCH_ROWS] for i in range(n)]


def corrupted(batch: pd.DataFrame) -> pd.DataFrame:
    """A delivery gone wrong: ages in months for a few hundred rows, and a label nobody uses."""
    bad = batch.head(500).copy()
    bad.loc[bad.index[:300], "age"] = bad["age"].iloc[:300] * 12
    bad.loc[bad.index[300], "income"] = 7
    return bad


def drifted(batch: pd.DataFrame) -> pd.DataFrame:
    """Valid rows of another population: every applicant 20 years older (ages capped at 90)."""
    moved = batch.copy()
    moved["age"] = (moved["age"] + 20).clip(upper=90)
    return moved


def plan(n_weeks: int, train: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Run 1: the base alone (the first model). Then one run a week; week 2 also brings a corrupted
    delivery, week 3's batch has drifted, week 4 runs with a one-epoch generator."""
    base, batches = weeks(train, n_weeks)
    runs: list[dict[str, Any]] = [{"files": {}, "params": {}}]
    for week, batch in enumerate(batches, start=1):
        files = {f"2026-w{week:02d}.csv": batch}
        params: dict[str, Any] = {}
        if week == 2:
            files[f"2026-w{week:02d}-extra.csv"] = corrupted(batches[0])
        if week == 3:
            files = {f"2026-w{week:02d}.csv": drifted(batch)}
        if week == 4:
            params = {"train_generator": {"cvae": {"epochs": 1}}}
        runs.append({"files": files, "params": params})
    return base, runs


def figures(comparison: dict[str, Any] | None, side: str) -> dict[str, Any] | None:
    if not comparison:
        return None
    shown = {k: comparison["figures"][side][k] for k in FIGURES}
    if side == "challenger":
        shown |= {
            "promises_kept": comparison["promises_kept"]["gate_set"],
            "group_gap": {f: g["gap"] for f, g in comparison["figures"][side]["group_gap"].items()},
        }
    return shown


def checks(root: Path, runs: list[dict[str, Any]], min_kept: float, bad_files: set[str]) -> dict[str, Any]:
    """The issue's targets, from the records and the store."""
    registry = json.loads((root / "registry/production.json").read_text())
    promoted = [r for r in runs if r["decision"] == "promoted"]
    refused = {r["challenger_tag"] for r in runs if r["decision"] == "refused"}
    ever_production = {release["model"] for release in registry["history"]}
    data_files = set()
    for model in ever_production:
        done = subprocess.run(
            ["bentoml", "models", "get", model, "-o", "json"],
            cwd=root,
            env=ENV,
            capture_output=True,
            text=True,
            check=True,
        )
        data_files |= {Path(f["path"]).name for f in json.loads(done.stdout)["metadata"]["data"]["files"]}
    kept = [r["challenger"]["promises_kept"] for r in promoted if r["challenger"]]
    return {
        "no_bad_batch_in_production": not (data_files & bad_files),
        "no_refused_model_in_production": not (ever_production & refused),
        "gated_promotions": len(kept),
        "promotions_keep_promises": all(k is not None and k >= min_kept for k in kept)
        if kept
        else None,  # None: no promotion to check
        "min_promises_kept": min(kept) if kept else None,
        "longest_run_seconds": max(r["seconds"] for r in runs),
        "runs_within_10_minutes": all(r["seconds"] <= TARGET_SECONDS for r in runs),
    }


def page(report: dict[str, Any]) -> str:
    lines = [
        "# Unattended retraining on Adult (`benchmarks/retraining.py`)",
        "",
        (
            f"Commit {report.get('commit', 'unknown')}, {report['machine']}. "
            f"Base {report['base_rows']} rows; weekly batches of {BATCH_ROWS}. "
            "One run of `python -m flows.retrain` per week."
        ),
        "",
        (
            "| run | batches | decision | judged (approved outright) | champion score / validity / LOF / cost "
            "| challenger score / validity / LOF / cost | promises kept | seconds | reason |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        batches = ", ".join(f"{b['file']}: {b['verdict']}" for b in r["batches"]) or "none"
        champion, challenger = r["champion"] or {}, r["challenger"] or {}
        judged = f"{r['judged']} ({r['approved_outright']})" if r["judged"] is not None else ""
        lines.append(
            f"| {r['run']} | {batches} | {r['decision']} | {judged} | {_figures(champion)} | {_figures(challenger)} | "
            f"{_cell(challenger.get('promises_kept'), 3)} | {r['seconds']:.0f} | {r['reason'][:200]} |"
        )
    lines += ["", "## Targets", "", *(f"- {name}: {value}" for name, value in report["checks"].items())]
    return "\n".join(lines) + "\n"


def _cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _figures(side: dict[str, Any]) -> str:
    return " / ".join(_cell(side.get(k), 3) for k in ("score", "validity_rf", "lof", "cost")) if side else ""


ENV: dict[str, str] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=5)
    parser.add_argument("--root", type=Path, default=REPO / "reports/tmp/retraining")
    parser.add_argument(
        "--machine", default=f"{os.cpu_count()} cores", help="The machine and how busy it was, for the report."
    )
    args = parser.parse_args()
    ENV.update(scratch_project(args.root))
    root = args.root
    train = pd.read_csv(ADULT / "train.csv.gz")
    base, runs = plan(args.weeks, train)
    (root / "data/raw/base").mkdir(parents=True)
    base.to_csv(root / "data/raw/base/train.csv", index=False)
    with_params(root, (root / "params.yaml").read_text(), {"ingest": {"train_csv": "data/raw/base/train.csv"}})
    base_params = (root / "params.yaml").read_text()
    min_kept = yaml.safe_load(base_params)["gate"]["min_promises_kept"]
    bad_files: set[str] = set()
    results = []
    for number, step in enumerate(runs, start=1):
        incoming = root / "data/incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        for name, frame in step["files"].items():
            frame.to_csv(incoming / name, index=False)
        with_params(root, base_params, step["params"])
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "flows.retrain"], cwd=root, env=ENV, capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - started
        records = sorted((root / "registry/decisions").glob("*.json"))
        record = json.loads(records[-1].read_text()) if records else {}
        bad_files |= {b["file"] for b in record.get("batches", []) if b["verdict"] in ("quarantined", "drifted")}
        result = {
            "run": number,
            "params": step["params"],
            "batches": [{"file": b["file"], "verdict": b["verdict"]} for b in record.get("batches", [])],
            "decision": record.get("decision", "error"),
            "reason": record.get("reason", done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""),
            "champion_tag": record.get("champion"),
            "challenger_tag": record.get("challenger"),
            "judged": (record.get("comparison") or {}).get("judged"),
            "approved_outright": (record.get("comparison") or {}).get("approved_outright"),
            "champion": figures(record.get("comparison"), "champion"),
            "challenger": figures(record.get("comparison"), "challenger"),
            "exit": done.returncode,
            "seconds": round(seconds, 1),
        }
        results.append(result)
        print(f"run {number}: {result['decision']} in {seconds:.0f} s: {result['reason'][:200]}", flush=True)
    with_params(root, base_params, {})
    report = {
        "machine": args.machine,
        "base_rows": len(base),
        "runs": results,
        "checks": checks(root, results, min_kept, bad_files),
    }
    report = stamped(report)
    write_json(REPO / "reports/retraining.json", report)
    write_text(REPO / "reports/retraining.md", page(report))
    print(json.dumps(report["checks"], indent=2))


if __name__ == "__main__":
    main()
