"""Answers a person can act on, on every dataset genre ships: GenRe against the nearest accepted
neighbour (NNR) under the same constraints, with what each asks of people: features changed per
answer, moves smaller than the feature's ``min_change`` (``trivial_changes``), and how many answers
are each applicant's own (``distinct_share``). Validity counts an applicant not found as invalid.

The datasets: the embedded Adult (its demo schema), Adult as published, COMPAS and HELOC with the
schemas ``genre schema infer`` writes for them (its GUESS marks kept, as a lender who accepted them
would have them), the messy corpus, and a constructed collapse case: no immutable feature and a
classifier that is never sure, so the bar ``threshold: auto`` used to find is one only the surest
training row clears. It is run twice: at that bar (the reachable score less the margin, as auto
resolved before evaluate capped and chose it), which evaluate must refuse, and with ``auto`` as
it is now (answered one by one). Also for the record: the paper's
protocol on Adult (every feature but race and sex free) with and without minimal answers, and the
time minimal answers add to the library's batch for 1,000 denied Adult applicants, side by side.

Usage: ``python benchmarks/actionable.py [--seeds 1] [--datasets adult compas ...]``
Needs ``../shared/datasets`` beside the repository (or ``--datasets-dir``).
Writes ``reports/actionable.json`` and ``reports/actionable.md``; one file per (dataset, seed) under
``reports/actionable_runs/`` (a stopped run resumes on the same commit; ``--fresh`` recomputes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from rich.console import Console

from genre.artifacts.atomic import write_json, write_text
from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_prepared
from genre.messages import InputError
from genre.models.classifiers import DECISION_THRESHOLD
from genre.recourse.threshold import auto_threshold
from genre.serving.bundle import engine_from_artifacts
from genre.settings import Settings
from genre.stages import evaluate, ingest, synthesize_pairs, train_classifier, train_generator
from research import messy_corpus
from research.benchmark_datasets import UNBALANCED, dataset_run, inferred_run, started
from research.paper_benchmark import DatasetRun, cached_seed, make_project

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "benchmarks/datasets"
KEYS = (
    "score",
    "validity_rf",
    "lof",
    "cost",
    "found_rate",
    "features_changed_median",
    "features_changed_mean",
    "trivial_changes",
    "distinct_share",
)
DATASETS = ("adult", "adult_raw", "compas", "heloc", *messy_corpus.VARIANTS, "collapse_bar_one_row", "collapse")
PAPER = ("adult_paper_minimal", "adult_paper_not_minimal")
COLLAPSE_ROWS = {"train": 4000, "test": 1000}
TIMED_APPLICANTS, TIMED_REPEATS = 1000, 5
PAPER_SCORE_BEFORE = (
    1.9434  # metrics/evaluate.json's GenRe score on the paper's protocol before minimal answers (commit a43e50d)
)


def collapse_frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A lender's file no answer should be shared in, and one where the bar used to make one: four
    numbers a person may change freely, and a label that depends on them only weakly, so the
    classifier is never sure and every denied applicant can reach its surest row."""
    rng = np.random.default_rng(seed)
    frames = []
    for rows in COLLAPSE_ROWS.values():
        x = rng.integers(0, 101, size=(rows, 4))
        p = 0.05 + 0.8 / (1 + np.exp(-(x[:, :2].mean(axis=1) - 50) / 10))  # never above 0.85
        frames.append(
            pd.DataFrame(x, columns=["savings", "tenure", "balance", "accounts"]).assign(
                approved=(rng.random(rows) < p).astype(int)
            )
        )
    return frames[0], frames[1]


def run_for(name: str, shared: Path, scratch: Path) -> DatasetRun:
    """Each dataset's data, schema and the params a user would set for it."""
    if name in ("adult", "compas_messy", "heloc_imbalanced"):
        return dataset_run(name, shared, scratch)[0]
    if name == "adult_raw":
        raw = [
            pd.read_csv(shared / "adult-raw" / f"{s}.csv.gz", dtype=str, keep_default_na=False, na_values=[""])
            for s in ("train", "test")
        ]
        return inferred_run(name, *raw, "income", {}, scratch / name, {})
    if name in ("compas", "heloc"):
        frames = [
            pd.read_csv(shared / name / f"{s}.csv", dtype=str, keep_default_na=False, na_values=[""])
            for s in ("train", "test")
        ]
        target = {"compas": "score", "heloc": "RiskPerformance"}[name]
        return inferred_run(name, *frames, target, {}, scratch / name, UNBALANCED if name == "heloc" else {})
    if name.startswith("collapse"):
        return inferred_run(name, *(f.astype(str) for f in collapse_frames()), "approved", {}, scratch / name, {})
    adult = shared / "adult"
    minimal = {"recourse": {"sparsify": name == "adult_paper_minimal"}}
    return DatasetRun(name, adult / "train.csv", adult / "test.csv", SPECS / "adult-paper.schema.yaml", minimal)


def one_seed(settings: Settings, timed: bool, bar_as_it_was: bool) -> dict[str, Any]:
    """The stages as ``dvc repro`` runs them, and evaluate's figures, also where it refused. With
    ``bar_as_it_was`` the threshold is what ``auto`` resolved to before it was capped and chosen:
    the reachable score less the margin (``genre.recourse.threshold.auto_threshold`` alone)."""
    for stage in (ingest, train_classifier, synthesize_pairs, train_generator):
        stage.run(settings)
    if bar_as_it_was:
        reachable = json.loads(Artifacts(settings.root).metrics("train_classifier").read_text())["reachable_score"]
        settings = settings.model_copy(
            update={
                "recourse": settings.recourse.model_copy(
                    update={"threshold": auto_threshold(reachable, settings.recourse.margin)}
                )
            }
        )
    refused = None
    try:
        evaluate.run(settings)
    except InputError as exc:
        refused = str(exc)
    metrics = json.loads(Artifacts(settings.root).metrics("evaluate").read_text())
    out: dict[str, Any] = {method: {k: metrics[method][k] for k in KEYS} for method in ("genre", "nnr")}
    out |= {
        k: metrics[k] for k in ("passed", "threshold", "training_rows_above_threshold", "selection", "plausible_first")
    }
    out["largest_answer_share"] = metrics["genre"]["largest_answer_share"]
    out["refused"] = refused
    moved = json.loads(Artifacts(settings.root).actionability.read_text())
    out["most_moved"] = evaluate.most_moved(moved)
    if timed:
        out["timing"] = minimal_answer_time(settings)
    return out


def minimal_answer_time(settings: Settings) -> dict[str, Any]:
    """The library's batch for the first 1,000 denied test applicants, with minimal answers and
    without, alternately, ``TIMED_REPEATS`` times each on one thread: the medians and their ratio."""
    torch.set_num_threads(1)
    engine = engine_from_artifacts(Artifacts(settings.root), settings.recourse.model_copy(update={"threshold": "auto"}))
    x = load_prepared(Artifacts(settings.root)).x_test
    x = x[engine.classifier.predict_proba(x) <= DECISION_THRESHOLD][:TIMED_APPLICANTS]
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(TIMED_REPEATS):
        for sparsify in (False, True):
            started = time.perf_counter()
            engine.recourse(x, settings=engine.settings.model_copy(update={"sparsify": sparsify}))
            seconds[sparsify].append(time.perf_counter() - started)
    on, off = statistics.median(seconds[True]), statistics.median(seconds[False])
    return {
        "applicants": len(x),
        "seconds_minimal": on,
        "seconds_not_minimal": off,
        "ratio": on / off,
        "repeats": TIMED_REPEATS,
    }


def summarise(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the seeds in the issue's shape, with what each seed's evaluate decided."""
    out: dict[str, Any] = {}
    for method in ("genre", "nnr"):
        out[method] = {k: float(np.mean([run[method][k] for run in per_seed])) for k in KEYS}
    out["passed"] = [run["passed"] for run in per_seed]
    out["refused"] = [run["refused"] for run in per_seed]
    out["threshold"] = [run["threshold"] for run in per_seed]
    out["training_rows_above_threshold"] = [run["training_rows_above_threshold"] for run in per_seed]
    out["largest_answer_share"] = [run["largest_answer_share"] for run in per_seed]
    out["selection"] = [run["selection"] for run in per_seed]
    out["most_moved"] = per_seed[0]["most_moved"]
    if "timing" in per_seed[0]:
        out["timing"] = per_seed[0]["timing"]
    out["seeds"] = len(per_seed)
    return out


def verdicts(name: str, table: dict[str, Any]) -> list[str]:
    """What the issue asks of each row, said plainly."""
    genre, nnr = table["genre"], table["nnr"]
    if name == "collapse_bar_one_row":
        return ["caught: evaluate refused" if not any(table["passed"]) else "**not caught**"]
    said = ["score >= NNR" if genre["score"] >= nnr["score"] else "**score < NNR**"]
    said.append("distinct >= 0.5" if genre["distinct_share"] >= 0.5 else "**distinct < 0.5**")
    if not all(table["passed"]):
        said.append("**evaluate refused**")
    return said


def markdown(report: dict[str, Any], preamble: str) -> str:
    header = "| dataset | method | " + " | ".join(KEYS) + " | verdict | moved most |"
    lines = [preamble, "", header, "|---" * (len(KEYS) + 4) + "|"]
    for group in ("datasets", "paper_protocol"):
        for name, table in report.get(group, {}).items():
            for method in ("genre", "nnr"):
                cells = [f"{table[method][k]:.3g}" for k in KEYS]
                extra = (
                    ["; ".join(verdicts(name, table)), table["most_moved"].split(": ", 1)[-1]]
                    if method == "genre"
                    else ["", ""]
                )
                lines.append(f"| {name} | {method} | " + " | ".join(cells) + " | " + " | ".join(extra) + " |")
    timing = report.get("timing")
    if timing:
        lines += [
            "",
            (
                f"Minimal answers' time: {timing['applicants']} denied Adult applicants, median of "
                f"{timing['repeats']}: {timing['seconds_minimal']:.3f} s against "
                f"{timing['seconds_not_minimal']:.3f} s without (ratio {timing['ratio']:.2f})."
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=[*DATASETS, *PAPER], choices=[*DATASETS, *PAPER])
    parser.add_argument("--seeds", type=int, default=1)
    args, base, report, commit = started(parser, "actionable.json")
    console = Console()
    stored = args.out / "actionable.json"
    with tempfile.TemporaryDirectory(prefix="actionable-data-") as data_dir:
        for name in args.datasets:
            run = run_for(name, args.datasets_dir, Path(data_dir))
            per_seed = []
            for seed in range(args.seeds):
                with tempfile.TemporaryDirectory(prefix=f"actionable-{name}-{seed}-") as scratch:
                    # The product's margin, not the paper benchmark's 0: this table is what a user gets.
                    settings = make_project(
                        Path(scratch), run, base, seed, {"recourse": {"margin": base["recourse"]["margin"]}}
                    )
                    key = {
                        "params": yaml.safe_load((settings.root / "params.yaml").read_text()),
                        "dataset": name,
                        "commit": commit,
                    }
                    console.print(f"[bold]{name}[/bold] seed {seed}")
                    timed = name == "adult" and seed == 0
                    path = args.out / "actionable_runs" / f"{name}-seed{seed}.json"
                    compute = lambda settings=settings, timed=timed, name=name: one_seed(
                        settings, timed, name == "collapse_bar_one_row"
                    )
                    per_seed.append(cached_seed(path, key, compute, args.fresh))
            group = "paper_protocol" if name in PAPER else "datasets"
            report.setdefault(group, {})[name] = summarise(per_seed)
            if "timing" in report[group][name]:
                report["timing"] = report[group][name].pop("timing")
            report["paper_score_before_minimal_answers"] = PAPER_SCORE_BEFORE
            report["commit"], report["machine"] = (
                commit,
                f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            )
            write_json(stored, report)
            text = markdown(report, provenance(commit, args.seeds))
            write_text(args.out / "actionable.md", text)
    console.print(text)


def provenance(commit: str, seeds: int) -> str:
    return (
        f"Written by `python benchmarks/actionable.py` at commit {commit} ({seeds} seed(s) a dataset; rows it did not "
        "rerun are kept from earlier runs). Each row is a project taken through the pipeline's stages with params.yaml "
        "(threshold auto, recourse.margin as set there); both methods answer the same denied test applicants under the "
        "same schema and count as found only above the same bar. validity_rf counts a not-found applicant as invalid; "
        "trivial_changes counts moves smaller than their feature's min_change; distinct_share is distinct answers over "
        "answers found. The paper's protocol rows are Adult with every feature but race and sex free (before minimal "
        f"answers, GenRe scored {PAPER_SCORE_BEFORE} there)."
    )


if __name__ == "__main__":
    main()
