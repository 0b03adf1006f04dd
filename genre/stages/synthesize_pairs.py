"""Stage 3, synthesize_pairs: Q(x+ | x-) for every source row of the training split."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from genre.artifacts.atomic import write_json
from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_labels, load_prepared
from genre.data.preprocessing import Preprocessor
from genre.messages import InputError
from genre.models.classifier_file import load_classifier
from genre.parallel import chunk_runner
from genre.recourse.pairs import PairingDistribution, pairing_distribution, recall, save_pairs, split_sources_targets
from genre.settings import PairSettings, Settings


def sampled_recall(q: PairingDistribution, x_sources: np.ndarray, x_targets: np.ndarray, pre: Preprocessor, cfg: PairSettings) -> dict[str, float | int]:
    """What the approximate search missed, on a seeded sample of sources searched exactly too."""
    rng = np.random.default_rng(cfg.approximate.seed)
    rows = np.sort(rng.choice(len(x_sources), size=min(cfg.approximate.recall_sources, len(x_sources)), replace=False))
    exact = pairing_distribution(x_sources[rows], x_targets, pre, cfg.lam, q.neighbours.shape[1], cfg.chunk_size)
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
    with chunk_runner(settings.runner, "pairs-piece") as mapper:
        q = pairing_distribution(x_sources, x_targets, data.preprocessor, cfg.lam, cfg.k, cfg.chunk_size, approximate, mapper, settings.runner.parts)
    seconds = time.perf_counter() - started
    if q.has_target.sum() < 2:  # the generator cannot learn (or validate) from fewer
        best = float(h[labels == 1].max()) if (labels == 1).any() else float("nan")
        raise InputError(
            f"synthesize_pairs: {int(q.has_target.sum())} of {len(sources)} sources have an admissible target, "
            f"{len(targets)} training rows have the favourable label and P_h > gamma = {cfg.gamma} (the highest P_h "
            f"of such a row is {best:.3f}); the generator needs at least 2: lower synthesize_pairs.gamma below "
            "that, or let the classifier be surer (train_classifier.class_balanced: false where labels are imbalanced, "
            "more train_classifier.epochs)"
        )
    save_pairs(paths.pairs, sources, targets, q)

    effective = 1.0 / np.square(q.probs[q.has_target].astype(np.float64)).sum(axis=1)
    metrics = {
        "sources": len(sources),
        "targets": len(targets),
        "sources_without_target": int((~q.has_target).sum()),
        "neighbours_per_source": int(q.neighbours.shape[1]),
        "effective_neighbours_mean": float(effective.mean()) if len(effective) else 0.0,
        "nearest_cost_mean": float(q.nearest_cost[q.has_target].mean()) if q.has_target.any() else float("nan"),
        "seconds": round(seconds, 2),
        "mode": cfg.mode,
        "runner": settings.runner.kind,
    }
    if approximate is not None:
        metrics["recall"] = sampled_recall(q, x_sources, x_targets, data.preprocessor, cfg)
    write_json(paths.metrics("synthesize_pairs"), metrics)
    return metrics
