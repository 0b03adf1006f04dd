"""Every retraining decision, kept: a JSON record and a page a person reads, under
``registry/decisions/`` in the project. They accumulate, one pair per decision, named by time.

A record says what data came in (each batch's verdict), which data versions the champion and the
challenger learnt from, both models' figures side by side with each gate rule's value, limit and
verdict, and the decision. Where the gate ran, the page shows the cost of recourse on the gate set
and each immutable group's found rate, champion against challenger, as pictures beside it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from genre.artifacts.atomic import write_json, write_text
from genre.retraining.gate import GateRule, shown
from genre.retraining.pictures import cost_picture, group_picture
from genre.who import who

DECISIONS = Path("registry/decisions")  # under the project's root
SHOWN = ("score", "validity_rf", "lof", "cost", "found_rate", "immutable_violations")


def provenance(root: Path) -> dict[str, Any]:
    """What an auditor needs to tie a decision to its cause: who ran it and where, the project's
    git commit (with ``+`` if its tracked files differ from it), a hash of ``params.yaml``, and
    the Prefect flow run it was part of."""
    from prefect.runtime import flow_run

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    dirty = commit and git("status", "--porcelain", "--untracked-files=no")
    params = Path(root) / "params.yaml"
    return {
        "by": who(),
        "commit": (commit + ("+" if dirty else "")) or None,
        "params_sha256": hashlib.sha256(params.read_bytes()).hexdigest() if params.is_file() else None,
        "flow_run": flow_run.id,
    }


def record_path(root: Path, stamp: str) -> Path:
    return Path(root) / DECISIONS / f"{stamp}.json"


def new_stamp() -> str:
    """A record's name: the UTC time, to the microsecond, so records sort by time."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def write_record(root: Path, record: dict[str, Any], stamp: str) -> Path:
    """``record`` (its ``decision`` and ``reason``, and where the gate ran its ``comparison``)
    as JSON and markdown named ``stamp``; -> the JSON's path."""
    folder = Path(root) / DECISIONS
    record = {"time": stamp, **record}
    pictures = _pictures(folder, stamp, record.get("comparison"))
    write_json(folder / f"{stamp}.json", record | {"pictures": pictures})
    write_text(folder / f"{stamp}.md", _page(record, pictures))
    return record_path(root, stamp)


def read_records(root: Path) -> list[dict[str, Any]]:
    """Every decision so far, oldest first."""
    folder = Path(root) / DECISIONS
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def _pictures(folder: Path, stamp: str, comparison: dict[str, Any] | None) -> list[str]:
    if not comparison:
        return []
    names = []
    costs = {name: np.asarray(values) for name, values in comparison["costs"].items()}
    cost_picture(costs, folder / f"{stamp}.cost.png")
    names.append(f"{stamp}.cost.png")
    figures = comparison["figures"]
    for feature in figures["challenger"]["group_gap"]:
        groups = {name: figures[name]["group_gap"].get(feature, {}) for name in ("champion", "challenger")}
        group_picture(groups, "found_rate", folder / f"{stamp}.{feature}.png")
        names.append(f"{stamp}.{feature}.png")
    return names


def _page(record: dict[str, Any], pictures: list[str]) -> str:
    lines = [f"# Decision {record['time']}: {record['decision']}", "", record.get("reason", ""), ""]
    if record.get("by"):
        lines += [
            (
                f"Run by {record['by']}, project commit {record.get('commit') or 'none (not a git checkout)'}, "
                f"params.yaml sha256 {str(record.get('params_sha256'))[:12]}, Prefect flow run "
                f"{record.get('flow_run') or 'none (by hand)'}."
            ),
            "",
        ]
    if record.get("champion") or record.get("challenger"):
        lines += [
            (
                f"- champion (production): `{record.get('champion')}`, "
                f"data version {record.get('data_versions', {}).get('champion')}"
            ),
            (
                f"- challenger: `{record.get('challenger')}`, "
                f"data version {record.get('data_versions', {}).get('challenger')}"
            ),
            "",
        ]
    batches = record.get("batches", [])
    if batches:
        lines += ["## New data", "", "| batch | rows | verdict | why | report |", "|---|---|---|---|---|"]
        lines += [
            f"| {b['file']} | {b['rows']} | {b['verdict']} | {b['reason']} | {b.get('report') or ''} |" for b in batches
        ]
        lines += [""]
        if record.get("reference"):
            lines += [f"Compared for drift with {record['reference']}.", ""]
    if record.get("set_aside"):
        lines += ["Set aside, no longer training data (`genre data release` puts one back):", ""]
        lines += [f"- `{path}`" for path in record["set_aside"]] + [""]
    comparison = record.get("comparison")
    if comparison:
        figures, kept = comparison["figures"], comparison["promises_kept"]
        models = [name for name in ("champion", "challenger", "sibling") if name in figures]
        twin = comparison.get("sibling")
        lines += [
            "## Champion and challenger",
            "",
            (
                f"On the {comparison['judged']} of {comparison['gate_set']} applicants production denies "
                f"({comparison['gate_set_new']} of them from the new batches) that the challenger denies too "
                f"({comparison['approved_outright']} it approves outright), "
                f"judged by {comparison.get('judges', 'the workspace forest and plausibility model')}."
            ),
            "",
            *(
                [
                    (
                        "The challenger fell short of the champion, so it was judged also against what production "
                        "is expected to give, luck aside: each applicant's figures averaged over production and its "
                        f"sibling (production retrained on its own rows with other seeds: {twin}), on the "
                        f"{comparison.get('judged_with_sibling')} applicants all three deny (the sibling's column)."
                    ),
                    "",
                ]
                if twin
                else [f"No sibling to judge it against: {comparison['sibling_missing']}.", ""]
                if comparison.get("sibling_missing")
                else []
            ),
            f"| figure | {' | '.join(models)} |",
            "|---" * (len(models) + 1) + "|",
            *(f"| {name} | {' | '.join(f'{figures[m][name]:.4g}' for m in models)} |" for name in SHOWN),
            f"| promises kept (gate set) | | {shown(kept['gate_set'])} |"
            + (f" {shown(kept['sibling_gate_set'])} |" if "sibling_gate_set" in kept else ""),
            f"| promises kept (issued, {kept['issued_count']} in the answer log) | | {shown(kept['issued'])} |",
            "",
            "## Promises kept by margin",
            "",
            "The champion's answers to the gate set issued with each margin above its threshold (recourse.margin):",
            "what the headroom costs the people it answers, and how many of its recourses the challenger accepts.",
            "",
            "| margin | found rate | mean cost | promises kept |",
            "|---|---|---|---|",
            *(
                f"| {row['margin']:g} | {row['found_rate']:.3f} | {shown(row['cost'])} "
                f"| {shown(row['promises_kept'])} |"
                for row in comparison.get("promises_by_margin", [])
            ),
            "",
            "## Rules",
            "",
            *(f"- {GateRule(**rule).said()}" for rule in comparison["rules"]),
            "",
            "## Group gaps (largest difference between groups)",
            "",
            "| feature | figure | champion | challenger |",
            "|---|---|---|---|",
        ]
        for feature, gaps in figures["challenger"]["group_gap"].items():
            before = figures["champion"]["group_gap"].get(feature, {}).get("gap", {})
            lines += [
                f"| {feature} | {figure} | {shown(before.get(figure))} | {shown(gaps['gap'][figure])} |"
                for figure in gaps["gap"]
            ]
        lines += ["", *(f"![{name}]({name})" for name in pictures)]
    return "\n".join(lines).rstrip() + "\n"
