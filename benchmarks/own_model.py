"""GenRe against the nearest accepted neighbour (NNR) on every kind of data a lender brings: the
paper's three datasets, Adult as it is published (schema inferred), each dataset of the messy
corpus, Adult explained for a lender's own gradient-boosted model, and Adult with settings a person
would accept (``benchmarks/datasets/adult-person.schema.yaml``: age and education only up, and by
a few steps, costly; marriage costly).

Each (dataset, seed) is a scratch project taken through the pipeline's own stages with the
project's ``params.yaml`` (threshold ``auto``, and its ``recourse.margin``: the bar the product issues
recourses above, which NNR's neighbours must clear as well; only what a user would set per dataset changed:
HELOC's and the imbalanced corpus's ``class_balanced: false``, and the own model), and the row
is what the evaluate stage wrote: both methods on the same denied test applicants, accepted above the
same bar. An inferred schema gets only the marks the README asks for.

Usage: ``python benchmarks/own_model.py [--seeds 3] [--datasets adult compas ...]``
Needs ``../shared/datasets`` beside the repository (or ``--datasets-dir``).
Writes ``reports/own_model.json`` ({dataset: {"genre": {...}, "nnr": {...}}}: means over seeds,
with ``std``, ``seeds``, ``threshold``, ``passed_seeds`` and ``rules``, GenRe's score under each
``recourse.selection``, ``selection``, the rule each seed answered by, and ``plausible_first``,
whether it put plausible candidates first, beside them),
``reports/own_model.md`` (mean ± std, which candidates won, the rule chosen per seed and the
best-scoring rule in hindsight), and one file per (dataset, seed) under
``reports/own_model_runs/`` (a stopped run resumes on the same commit; ``--fresh`` recomputes). Datasets already in
the report and not named by ``--datasets`` are kept, so a slow dataset can run with fewer seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console

from genre.artifacts.atomic import write_json, write_text
from genre.artifacts.paths import Artifacts
from genre.messages import InputError
from genre.settings import Settings
from genre.stages import (
    evaluate,
    ingest,
    synthesize_pairs,
    train_classifier,
    train_generator,
)
from research import messy_corpus
from research.benchmark_datasets import LENDER_MODEL, dataset_run, started
from research.paper_benchmark import cached_seed, make_project

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "benchmarks/datasets"
SHOWN = ("score", "validity_rf", "lof", "cost", "weighted_cost", "found_rate", "seconds_per_recourse")
DATASETS = ("adult", "compas", "heloc", "adult_raw", *messy_corpus.VARIANTS, "adult_user_model", "adult_person")


def one_seed(settings: Settings, model: bytes | None) -> dict[str, Any]:
    """The stages as ``dvc repro`` runs them; evaluate's metrics, also where its gate refused."""
    if model is not None:
        (settings.root / LENDER_MODEL).parent.mkdir(parents=True, exist_ok=True)
        (settings.root / LENDER_MODEL).write_bytes(model)
    for stage in (ingest, train_classifier, synthesize_pairs, train_generator):
        stage.run(settings)
    try:
        evaluate.run(settings)
    except InputError as exc:  # below evaluate.min_found_rate: the metrics are written, and say so
        print(f"  evaluate refused: {exc}")
    metrics = json.loads(Artifacts(settings.root).metrics("evaluate").read_text())
    keep = (*SHOWN, "retrieved_share")
    return {
        **{method: {k: metrics[method][k] for k in keep if k in metrics[method]} for method in ("genre", "nnr")},
        **{k: metrics[k] for k in ("threshold", "passed", "factuals", "selection", "plausible_first")},
        "rules": {rule: figures["score"] for rule, figures in metrics["selection_rules"].items()},
    }


def summarise(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Means per method and metric over the seeds (the issue's shape), their spread under
    ``std``, the threshold, how many seeds passed evaluation's gate, and how many seeds ran."""
    out: dict[str, Any] = {"std": {}}
    for method in ("genre", "nnr"):
        values = {k: np.array([run[method][k] for run in per_seed], dtype=np.float64) for k in per_seed[0][method]}
        out[method] = {k: float(v.mean()) for k, v in values.items()}
        out["std"][method] = {k: float(v.std()) for k, v in values.items()}
    out["threshold"] = float(np.mean([run["threshold"] for run in per_seed]))
    out["rules"] = {
        rule: float(np.mean([run["rules"][rule] for run in per_seed])) for rule in per_seed[0]["rules"]
    }  # GenRe's score per selection rule
    out["selection"] = [
        run["selection"] for run in per_seed
    ]  # the rule each seed's evaluate answered by (auto: the one it chose)
    out["plausible_first"] = [
        run["plausible_first"] for run in per_seed
    ]  # whether plausible candidates came first (auto: evaluate's choice)
    out["passed_seeds"] = sum(bool(run["passed"]) for run in per_seed)
    out["seeds"] = len(per_seed)
    return out


def markdown(report: dict[str, Any], preamble: str) -> str:
    header = (
        "| dataset | seeds | method | "
        + " | ".join(SHOWN)
        + " | won by retrieved | score >= NNR | found >= NNR | rule per seed | plausible first per seed"
        " | best selection rule: score |"
    )
    lines = [preamble, "", header, "|---" * (len(SHOWN) + 9) + "|"]
    for dataset, table in report.items():
        genre, nnr = table["genre"], table["nnr"]
        rules = table.get("rules", {})
        best = max(rules, key=rules.get) if rules else None
        verdicts = [
            f"{genre.get('retrieved_share', 0.0):.3f}",
            "yes" if genre["score"] >= nnr["score"] else "**no**",
            "yes" if genre["found_rate"] >= nnr["found_rate"] else "**no**",
            ", ".join(table.get("selection", [])),
            ", ".join("yes" if first else "no" for first in table.get("plausible_first", [])),
            f"{best}: {rules[best]:.3f}" if best else "",
        ]
        for method in ("genre", "nnr"):
            cells = [f"{table[method][m]:.3g} ± {table['std'][method][m]:.2g}" for m in SHOWN]
            extra = verdicts if method == "genre" else [""] * len(verdicts)
            lines.append(
                f"| {dataset} | {table['seeds']} | {method} | " + " | ".join(cells) + " | " + " | ".join(extra) + " |"
            )
    return "\n".join(lines) + "\n"


def provenance(args: argparse.Namespace, commit: str) -> str:
    command = " ".join(["python benchmarks/own_model.py", *sys.argv[1:]])
    return (
        f"Last updated by `{command}` at commit {commit} on {os.cpu_count()} CPU cores (rows of datasets it did not "
        "name were kept from earlier runs): mean ± std over each dataset's seeds, each a project trained through the "
        "pipeline's stages with params.yaml (threshold auto, recourse.margin as set there); both methods answer the "
        "same denied test applicants and count as found only above the same bar, the threshold plus the margin. "
        "'won by retrieved' is the share of GenRe's found answers that a retrieved training row gave; 'rule per seed' "
        "is the recourse.selection GenRe answered by (under auto, the one evaluate chose on denied training "
        "applicants) and 'plausible first per seed' whether it chose plausible candidates first "
        "(recourse.plausible_first, chosen the same way); 'best selection rule' is the one whose GenRe score on the "
        "test factuals (evaluate's selection_rules) is highest, mean over the seeds: hindsight, for comparison."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--factuals",
        type=int,
        help="denied test applicants per seed (evaluate.n_factuals; default params.yaml's 200, the paper's): "
        "a seed's LOF from 200 has a standard error of about 0.01",
    )
    args, base, report, commit = started(
        parser, "own_model.json"
    )  # the commit keys each seed's cache: a stopped run resumes only on the same code
    console = Console()
    stored = args.out / "own_model.json"
    with tempfile.TemporaryDirectory(prefix="own-model-data-") as data_dir:
        for name in args.datasets:
            run, model = dataset_run(name, args.datasets_dir, Path(data_dir))
            per_seed = []
            for seed in range(args.seeds):
                with tempfile.TemporaryDirectory(prefix=f"own-model-{name}-{seed}-") as scratch:
                    # The product's margin, not the paper benchmark's 0 (make_project's protocol): this table is what a
                    # user gets.
                    extra = {
                        "recourse": {"margin": base["recourse"]["margin"]},
                        "evaluate": {"n_factuals": args.factuals or base["evaluate"]["n_factuals"]},
                    }
                    settings = make_project(Path(scratch), run, base, seed, extra)
                    key = {
                        "params": yaml.safe_load((settings.root / "params.yaml").read_text()),
                        "dataset": name,
                        "model": hashlib.sha256(model or b"").hexdigest(),
                        "commit": commit,
                    }
                    console.print(f"[bold]{name}[/bold] seed {seed}")
                    per_seed.append(
                        cached_seed(
                            args.out / "own_model_runs" / f"{name}-seed{seed}.json",
                            key,
                            lambda settings=settings, model=model: one_seed(settings, model),
                            args.fresh,
                        )
                    )
            report[name] = summarise(per_seed)
            write_json(stored, report)
            text = markdown(report, provenance(args, commit))
            write_text(args.out / "own_model.md", text)
    console.print(text)


if __name__ == "__main__":
    main()
