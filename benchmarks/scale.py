"""Millions of applicants: how pair synthesis grows with the data, exact against approximate.

The data are Adult-shaped rows at each size (``research.scale_data.adult_like``: Adult's training
rows resampled, numeric features smoothed); the workspace's classifier (run ``dvc repro`` first)
scores them, and ``synthesize_pairs.gamma`` splits them into sources and targets as the stage does.
Each (size, mode) runs in a fresh process, so its peak memory is its own: pair synthesis with
``synthesize_pairs.mode`` exact and approximate, at params.yaml's k, lam and chunk size; the
approximate run's recall of the exact top-k is measured as the stage measures it (a sample of
sources searched exactly). Exact is not run above ``--exact-max`` rows (its time grows with
sources x targets); the report says so and what the growth measured predicts.

This is the pair-synthesis part of issue 14's benchmark; the other stages are still to be added.

Usage: ``python benchmarks/scale.py [--sizes 10000 100000 1000000] [--exact-max 100000] [--machine "2 cores, idle"]``
Writes ``reports/scale.json`` ({"sizes": {"<rows>": {"sources", "targets", "pairs": {"exact":
{"seconds", "peak_mib"} or {"not_run"}, "approximate": {"seconds", "peak_mib", "recall"}}}},
"exponents": {"pairs_exact", "pairs_approximate"}}) and ``reports/scale.md``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from genre.artifacts.atomic import write_json, write_text
from genre.artifacts.paths import Artifacts
from genre.data.datasets import read_raw
from genre.data.preprocessing import Preprocessor
from genre.models.classifier_file import load_classifier
from genre.models.threads import torch_threads
from genre.recourse.pairs import pairing_distribution, split_sources_targets
from genre.settings import load_settings
from genre.stages.synthesize_pairs import sampled_recall
from research.scale_data import adult_like

REPO = Path(__file__).resolve().parents[1]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(size: int, mode: str, seed: int) -> dict[str, Any]:
    """In its own process: the data at ``size`` rows, then pair synthesis in ``mode``."""
    settings = load_settings(REPO / "params.yaml")
    cfg = settings.synthesize_pairs
    paths = Artifacts(settings.root)
    pre = Preprocessor.load(paths.preprocessor)
    schema = pre.schema
    rows = adult_like(read_raw(settings.resolve(settings.ingest.train_csv), schema), schema, size, seed)
    x = pre.transform(rows)
    labels = (rows[schema.target.name].to_numpy() == schema.target.favourable).astype(np.int64)
    with torch_threads(settings.train_classifier.threads):
        h = load_classifier(paths.classifier, pre).predict_proba(x)
    sources, targets = split_sources_targets(h, labels, cfg.gamma)
    before = _peak_mib()
    approximate = cfg.approximate if mode == "approximate" else None
    started = time.perf_counter()
    q = pairing_distribution(x[sources], x[targets], pre, cfg.lam, cfg.k, cfg.chunk_size, approximate)
    out: dict[str, Any] = {"sources": len(sources), "targets": len(targets), "seconds": round(time.perf_counter() - started, 2), "peak_mib": round(_peak_mib(), 1), "peak_mib_before": round(before, 1)}
    if approximate is not None:
        out["recall"] = sampled_recall(q, x[sources], x[targets], pre, cfg)
    return out


def _in_own_process(size: int, mode: str, seed: int) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, (size, mode, seed))


def exponent(sizes: list[int], seconds: list[float]) -> float | None:
    """The growth exponent e of seconds ~ rows^e between the two largest sizes measured."""
    if len(sizes) < 2:
        return None
    return round(math.log(seconds[-1] / seconds[-2]) / math.log(sizes[-1] / sizes[-2]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--exact-max", type=int, default=100_000, help="largest size exact mode is run at")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--machine", default="unnamed machine")
    args = parser.parse_args()

    report: dict[str, Any] = {"machine": args.machine, "sizes": {}}
    timed: dict[str, tuple[list[int], list[float]]] = {"exact": ([], []), "approximate": ([], [])}
    for size in args.sizes:
        entry: dict[str, Any] = {"pairs": {}}
        for mode in ("exact", "approximate"):
            if mode == "exact" and size > args.exact_max:
                sizes, seconds = timed["exact"]
                guess = exponent(sizes, seconds)
                predicted = seconds[-1] * (size / sizes[-1]) ** guess if guess is not None else None
                entry["pairs"]["exact"] = {"not_run": f"above --exact-max {args.exact_max}" + (f"; the growth measured (exponent {guess}) predicts {predicted / 60:.0f} minutes" if predicted else "")}
                continue
            result = _in_own_process(size, mode, args.seed)
            entry.update(sources=result.pop("sources"), targets=result.pop("targets"))
            entry["pairs"][mode] = result
            timed[mode][0].append(size)
            timed[mode][1].append(result["seconds"])
            print(f"{size:>9} rows, {mode:<11}: {result}", flush=True)
        report["sizes"][str(size)] = entry
    report["exponents"] = {f"pairs_{mode}": exponent(*timed[mode]) for mode in timed}
    write_json(REPO / "reports/scale.json", report)
    lines = [
        "# Pair synthesis at scale (`benchmarks/scale.py`)",
        "",
        f"Adult-shaped rows (resampled, numeric features smoothed), the workspace's classifier, params.yaml's k, lam, chunk size; {args.machine}.",
        "",
        "| rows | sources x targets | exact s | exact peak MiB | approximate s | approximate peak MiB | recall (top-k / mass) |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, entry in report["sizes"].items():
        exact, approx = entry["pairs"].get("exact", {}), entry["pairs"]["approximate"]
        shown = (f"{exact['seconds']}", f"{exact['peak_mib']}") if "seconds" in exact else (exact.get("not_run", ""), "")
        recall = approx["recall"]
        lines.append(f"| {int(size):,} | {entry['sources']:,} x {entry['targets']:,} | {shown[0]} | {shown[1]} | {approx['seconds']} | {approx['peak_mib']} | {recall['top_k']:.3f} / {recall['mass']:.3f} |")
    lines += ["", "Growth exponents between the two largest sizes measured: " + ", ".join(f"{k} {v}" for k, v in report["exponents"].items()) + "."]
    write_text(REPO / "reports/scale.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
