"""Stage 3, synthesize_pairs: Q(x+ | x-) for every source row of the training split."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from genre.artifacts.atomic import atomic_dir
from genre.artifacts.metrics_file import write_metrics
from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_labels, load_prepared
from genre.data.preprocessing import Preprocessor
from genre.messages import InputError
from genre.models.classifier_file import load_classifier
from genre.parallel import chunk_runner
from genre.recourse.pairs import PairingDistribution, pairing_distribution, recall, save_pairs, split_sources_targets
from genre.settings import PairSettings, Settings


def sampled_recall(
    q: PairingDistribution, x_sources: np.ndarray, x_targets: np.ndarray, pre: Preprocessor, cfg: PairSettings
) -> dict[str, float | int]:
    """What the approximate search missed, on a seeded sample of sources searched exactly too."""
    rng = np.random.default_rng(cfg.approximate.seed)
    rows = np.sort(rng.choice(len(x_sources), size=min(cfg.approximate.recall_sources, len(x_sources)), replace=False))
    exact = pairing_distribution(x_sources[rows], x_targets, pre, cfg.lam, cfg.k, cfg.chunk_size)
    return {"sources": len(rows), **recall(q.restrict(rows), exact)}


def run(settings: Settings) -> dict[str, Any]:
    cfg = settings.synthesize_pairs
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    labels = load_labels(paths)["pairs"]  # the forest's draws for the MLP; the data's own for a lender's model
    h = load_classifier(paths.classifier, data.preprocessor).predict_proba(data.x_train)

    started = time.perf_counter()
    sources, targets = split_sources_targets(h, labels, cfg.gamma)
    approximate = cfg.approximate if cfg.mode == "approximate" else None
    x_sources, x_targets = data.x_train[sources], data.x_train[targets]
    with atomic_dir(paths.pairs) as folder:  # Q is written as it is computed: a failed run leaves the last good pairs
        with chunk_runner(settings.runner, "pairs-piece") as mapper:
            q = pairing_distribution(
                x_sources,
                x_targets,
                data.preprocessor,
                cfg.lam,
                cfg.k,
                cfg.chunk_size,
                approximate,
                mapper,
                settings.runner.parts,
                settings.runner.chunk_rows,
                folder,
            )
        seconds = time.perf_counter() - started
        _check_enough(q, h, labels, len(sources), len(targets), cfg.gamma)
        save_pairs(folder, sources, targets, q)
        metrics = _metrics(q, len(sources), len(targets), seconds, settings)
        if approximate is not None:
            metrics["recall"] = sampled_recall(q, x_sources, x_targets, data.preprocessor, cfg)
    write_metrics(paths, "synthesize_pairs", metrics)
    return metrics


def _check_enough(
    q: PairingDistribution, h: np.ndarray, labels: np.ndarray, sources: int, targets: int, gamma: float
) -> None:
    if q.has_target.sum() < 2:  # the generator cannot learn (or validate) from fewer
        best = float(h[labels == 1].max()) if (labels == 1).any() else float("nan")
        raise InputError(
            f"synthesize_pairs: {int(q.has_target.sum())} of {sources} sources have an admissible target, "
            f"{targets} training rows have the favourable label and P_h > gamma = {gamma} (the highest P_h "
            f"of such a row is {best:.3f}); the generator needs at least 2: lower synthesize_pairs.gamma below "
            "that, or let the classifier be surer (train_classifier.class_balanced: false where labels are imbalanced, "
            "more train_classifier.epochs)"
        )


def _metrics(q: PairingDistribution, sources: int, targets: int, seconds: float, settings: Settings) -> dict[str, Any]:
    effective, lengths = q.effective_neighbours(), q.lengths[q.has_target]
    return {
        "sources": sources,
        "targets": targets,
        "sources_without_target": int((~q.has_target).sum()),
        "neighbours_per_source": int(lengths.max(initial=0)),  # the most any source keeps (<= k: those float16 holds)
        "neighbours_per_source_mean": float(lengths.mean()) if len(lengths) else 0.0,
        "effective_neighbours_mean": float(effective.mean()) if len(effective) else 0.0,
        "nearest_cost_mean": float(q.nearest_cost[q.has_target].mean()) if q.has_target.any() else float("nan"),
        "seconds": round(seconds, 2),
        "mode": settings.synthesize_pairs.mode,
        "runner": settings.runner.kind,
    }
