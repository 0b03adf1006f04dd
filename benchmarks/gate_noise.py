"""How often the gate refuses a good model, and whether it still refuses a bad one: honest and
poisoned challengers, each judged against the same production model.

A sample-sized Adult project is trained on a base of rows and its first model promoted. Then, one
at a time, a batch joins the training data (honest: rows like the base; poisoned: 40% of its labels
swapped), ``dvc repro`` trains a challenger on base + batch, handed production's threshold, rule
and plausible-first preference to answer by, as a retraining run hands them (``--fresh-choices``:
chosen afresh, as by hand), ``genre production compare`` judges it against
production (recorded, production unchanged) and the batch is taken out again. The honest
challengers differ from production only by the noise of retraining on a little more data of the
same kind: every one the gate refuses is a false refusal.

Per challenger, every rule's value, limit, interval and verdict, and for each tolerance-governed
rule the tolerance it would have needed to pass; the summary gives the false-refusal rate, the
poisoned challengers caught, and per rule the largest tolerance an honest challenger needed.

Usage: ``python benchmarks/gate_noise.py [--honest 8] [--poisoned 2] [--base-rows 8000]``
Writes ``reports/gate_noise.json`` and ``reports/gate_noise.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from genre.artifacts.atomic import write_json, write_text
from genre.recourse.incumbent import INCUMBENT_ENV
from research.provenance import head_commit, stamped
from research.scratch_project import scratch_project, with_params
from research.weekly_batches import adult_rows, poisoned

REPO = Path(__file__).resolve().parents[1]
# rule name prefix -> which end of its interval must stay within the tolerance, and its sign
NEEDS = {
    "score not below": ("high", -1.0),
    "found rate not below": ("high", -1.0),
    "classifier AUC": ("high", -1.0),
    "gap in": ("low", 1.0),
}


def needed(rule: dict[str, Any]) -> float | None:
    """The smallest tolerance under which ``rule`` passes (None for a rule no tolerance governs)."""
    interval = rule.get("interval")
    for marker, (end, sign) in NEEDS.items():
        if marker in rule["name"] and interval is not None:
            return max(0.0, sign * float(interval[1] if end == "high" else interval[0]))
    return None


def family(name: str) -> str:
    """A rule's name without its feature: the gap rules of every immutable feature are one family."""
    return name.split(" ", 1)[1].split(",")[0] if " gap in " in name else name.split(",")[0]


def production_choices(root: Path, env: dict[str, str], model: str) -> str:
    """What a retraining run hands its ``dvc repro``: production's choices, as JSON."""
    code = f"import json; from genre.serving.production import choices; print(json.dumps(choices({model!r})))"
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def repro(root: Path, env: dict[str, str]) -> str:
    """``dvc repro`` in the project; -> the model it packaged."""
    done = subprocess.run(["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dvc repro failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return str(json.loads((root / "metrics/package.json").read_text())["model_tag"])


def judged(root: Path, env: dict[str, str], model: str) -> dict[str, Any]:
    """``genre production compare`` of ``model``; -> its record."""
    since = time.time()
    subprocess.run(["genre", "production", "compare", model], cwd=root, env=env, capture_output=True, text=True)
    records = [p for p in (root / "registry/decisions").glob("*.json") if p.stat().st_mtime >= since]
    if not records:
        raise SystemExit(f"genre production compare {model} wrote no record")
    return json.loads(max(records, key=lambda p: p.stat().st_mtime).read_text())


def summarise(challengers: list[dict[str, Any]]) -> dict[str, Any]:
    honest = [c for c in challengers if c["kind"] == "honest"]
    bad = [c for c in challengers if c["kind"] == "poisoned"]
    families: dict[str, list[float]] = {}
    for c in honest:
        for rule in c["rules"]:
            if rule["needed_tolerance"] is not None:
                families.setdefault(family(rule["name"]), []).append(rule["needed_tolerance"])
    return {
        "honest": len(honest),
        "honest_refused": sum(not c["passed"] for c in honest),
        "false_refusal_rate": round(sum(not c["passed"] for c in honest) / len(honest), 3) if honest else None,
        "poisoned": len(bad),
        "poisoned_refused": sum(not c["passed"] for c in bad),
        "honest_failed_rules": sorted({r for c in honest for r in c["failed"]}),
        "poisoned_failed_rules": sorted({r for c in bad for r in c["failed"]}),
        "honest_needed_tolerance_max": {name: round(max(v), 4) for name, v in sorted(families.items())},
        "thresholds": [round(float(c["choices"]["threshold"]), 3) for c in challengers],
    }


def page(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        "# The gate's false refusals (`benchmarks/gate_noise.py`)",
        "",
        (
            f"Commit {report['commit']}, {report['machine']}. Base {report['base_rows']} rows of Adult; each "
            f"challenger trained on base + one batch ({report['batch_rows']} honest rows, or "
            f"{report['poisoned_rows']} with 40% of labels swapped), judged against the same production model."
        ),
        "",
        "| challenger | batch | passed | failed rules |",
        "|---|---|---|---|",
        *(
            f"| {c['model']} | {c['kind']} | {c['passed']} | {'; '.join(c['failed'])[:300] or '-'} |"
            for c in report["challengers"]
        ),
        "",
        "## Summary",
        "",
        *(f"- {name}: {value}" for name, value in s.items()),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--honest", type=int, default=8)
    parser.add_argument("--poisoned", type=int, default=2)
    parser.add_argument("--base-rows", type=int, default=8000)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--poisoned-rows", type=int, default=2000)
    parser.add_argument("--root", type=Path, default=REPO / "reports/tmp/gate_noise")
    parser.add_argument("--out", default="gate_noise", help="The reports' name under reports/ (.json, .md).")
    parser.add_argument(
        "--fresh-choices",
        action="store_true",
        help="Let each challenger's evaluate choose its threshold and rules afresh, not keep production's.",
    )
    args = parser.parse_args()
    root, commit, started = args.root, head_commit(), time.monotonic()
    env = scratch_project(root)
    rows = adult_rows()
    (root / "data/raw/base").mkdir(parents=True)
    rows.iloc[: args.base_rows].to_csv(root / "data/raw/base/train.csv", index=False)
    with_params(root, (root / "params.yaml").read_text(), {"ingest": {"train_csv": "data/raw/base/train.csv"}})
    production = repro(root, env)
    print(f"production: {production}", flush=True)
    if not args.fresh_choices:  # as a retraining run trains its challenger (genre.retraining.run.train_challenger)
        env = {**env, INCUMBENT_ENV: production_choices(root, env, production)}
    accepted = root / "data/raw/accepted"
    accepted.mkdir(parents=True, exist_ok=True)
    kinds = ["honest"] * args.honest + ["poisoned"] * args.poisoned
    offset, challengers = args.base_rows, []
    for i, kind in enumerate(kinds):
        size = args.poisoned_rows if kind == "poisoned" else args.batch_rows
        batch = rows.iloc[offset : offset + size]
        offset += size
        if kind == "poisoned":
            batch = poisoned(batch, 0.4, seed=i)
        path = accepted / f"{kind}-{i:02d}.csv"
        batch.to_csv(path, index=False)
        model = repro(root, env)
        record = judged(root, env, model)
        path.unlink()
        rules = [{**r, "needed_tolerance": needed(r)} for r in record["comparison"]["rules"]]
        challengers.append(
            {
                "kind": kind,
                "model": model,
                "passed": bool(record["comparison"]["passed"]),
                "failed": [r["name"] for r in rules if not r["passed"]],
                "rules": rules,
                "classifier_quality": record["comparison"]["classifier_quality"],
                "choices": json.loads(production_choices(root, env, model)),
            }
        )
        print(f"{kind} {i}: {model} passed={challengers[-1]['passed']} {challengers[-1]['failed']}", flush=True)
    report = stamped(
        {
            "commit": commit,
            "base_rows": args.base_rows,
            "batch_rows": args.batch_rows,
            "poisoned_rows": args.poisoned_rows,
            "production": production,
            "keeps_production_choices": not args.fresh_choices,
            "seconds": round(time.monotonic() - started, 1),
            "challengers": challengers,
            "summary": summarise(challengers),
        }
    )
    write_json(REPO / f"reports/{args.out}.json", report)
    write_text(REPO / f"reports/{args.out}.md", page(report))
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
