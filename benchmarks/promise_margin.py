"""What a margin above the threshold buys: promises kept by retrained models, and what it costs.

The champion is the workspace's model (run ``dvc repro`` first). Each challenger is its classifier
retrained as a retraining run would retrain it: on a bootstrap resample of the training rows, with
labels sampled afresh from the ground-truth forest and its own seed. The champion answers a gate set
(held-out applicants it denies) at each margin (``recourse.margin``); per margin and challenger:
the found rate, the mean cost of the recourses found, and the share the challenger still accepts at
its threshold (``genre.retraining.gate.promises_by_margin``, the table every gate decision shows).

Usage: ``python benchmarks/promise_margin.py [--challengers 3] [--margins 0 0.02 0.04 0.06]``
Writes ``reports/promise_margin.json`` ({"threshold", "gate_set", "margins": [{"margin",
"found_rate", "cost", "promises_kept": [per challenger], "min_kept"}]}) and ``.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from genre.artifacts.atomic import write_json, write_text
from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_prepared
from genre.models.classifiers import train_mlp
from genre.models.ground_truth import sample_labels
from genre.retraining.gate import gate_set, promises_by_margin, shown
from genre.serving.bundle import engine_from_artifacts
from genre.settings import load_settings
from research.provenance import stamped

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--challengers", type=int, default=3)
    parser.add_argument("--margins", nargs="+", type=float, default=[0.0, 0.01, 0.02, 0.04, 0.06])
    parser.add_argument("--applicants", type=int, default=400, help="gate set size")
    parser.add_argument(
        "--resample",
        type=float,
        default=0.9,
        help="each challenger's training rows, as a share drawn with replacement",
    )
    parser.add_argument("--machine", default="unnamed machine")
    args = parser.parse_args()

    settings = load_settings(REPO / "params.yaml")
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    champion = engine_from_artifacts(paths, settings.recourse)
    forest_p = np.load(paths.labels)["p_train"]
    rows = gate_set(
        champion,
        data.test_raw[data.preprocessor.schema.feature_names],
        args.applicants,
        np.random.default_rng(settings.gate.seed),
    )
    tables = []
    for seed in range(1, args.challengers + 1):
        rng = np.random.default_rng(seed)
        picked = rng.choice(len(data.x_train), size=int(args.resample * len(data.x_train)), replace=True)
        started = time.perf_counter()
        retrained = train_mlp(
            data.x_train[picked],
            sample_labels(forest_p[picked], rng),
            settings.train_classifier.model_copy(update={"seed": seed}),
        )
        challenger = SimpleNamespace(
            scorer=retrained, pre=champion.pre, settings=champion.settings
        )  # same space, the champion's threshold
        tables.append(promises_by_margin(champion, challenger, rows, args.margins, settings.gate.seed))
        print(
            f"challenger {seed}: trained in {time.perf_counter() - started:.0f} s; kept "
            + ", ".join(f"{r['margin']:g}: {r['promises_kept']:.3f}" for r in tables[-1]),
            flush=True,
        )

    margins = [
        {
            **{k: first[k] for k in ("margin", "found_rate", "cost")},
            "promises_kept": kept,
            "min_kept": min(kept),
        }
        for first, kept in ((table[0], [t[i]["promises_kept"] for t in tables]) for i, table in enumerate(zip(*tables)))
    ]
    result = {
        "threshold": champion.settings.threshold,
        "gate_set": len(rows),
        "challengers": args.challengers,
        "resample": args.resample,
        "machine": args.machine,
        "margins": margins,
    }
    result = stamped(result)
    write_json(REPO / "reports/promise_margin.json", result)
    lines = [
        "# Promises kept against the margin above the threshold",
        "",
        (
            f"Champion: the workspace's model (threshold {champion.settings.threshold:g}); "
            f"{args.challengers} challengers, each its classifier retrained on a {args.resample:g} bootstrap "
            f"resample with labels sampled afresh; gate set {len(rows)} held-out applicants the champion denies. "
            f"Commit {result['commit']}, {result['machine']}. Written by `benchmarks/promise_margin.py`."
        ),
        "",
        "| margin | found rate | mean cost | promises kept (each challenger) | lowest |",
        "|---|---|---|---|---|",
        *(
            f"| {m['margin']:g} | {m['found_rate']:.3f} | {shown(m['cost'])} "
            f"| {', '.join(f'{k:.3f}' for k in m['promises_kept'])} | {m['min_kept']:.3f} |"
            for m in margins
        ),
    ]
    write_text(REPO / "reports/promise_margin.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
