"""Stage 3, synthesize_pairs: Q(x+ | x-) for every source row of the training split."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from genre.artifacts import Artifacts
from genre.atomic import write_json, write_with
from genre.classifiers import MLPClassifier
from genre.datasets import load_labels, load_prepared
from genre.pairs import PairingDistribution, pairing_distribution, split_sources_targets
from genre.settings import Settings
from genre.torch_io import load_module


def save_pairs(path: Path, sources: np.ndarray, targets: np.ndarray, q: PairingDistribution) -> None:
    arrays = {
        "sources": sources,
        "targets": targets,
        "neighbours": q.neighbours.astype(np.int32),
        "probs": q.probs,
        "has_target": q.has_target,
        "nearest_cost": q.nearest_cost,
    }
    write_with(path, lambda tmp: np.savez(tmp.open("wb"), **arrays))


def load_pairs(path: Path) -> tuple[np.ndarray, np.ndarray, PairingDistribution]:
    """Source and target row indices of the training split, and Q over targets."""
    with np.load(path) as s:
        q = PairingDistribution(s["neighbours"].astype(np.int64), s["probs"], s["has_target"], s["nearest_cost"])
        return s["sources"], s["targets"], q


def run(settings: Settings) -> dict[str, Any]:
    cfg = settings.synthesize_pairs
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    labels = load_labels(paths)["train"]
    h = load_module(MLPClassifier, paths.classifier).predict_proba(data.x_train)

    started = time.perf_counter()
    sources, targets = split_sources_targets(h, labels, cfg.gamma)
    q = pairing_distribution(
        data.x_train[sources], data.x_train[targets], data.preprocessor, cfg.lam, cfg.k, cfg.chunk_size
    )
    seconds = time.perf_counter() - started
    save_pairs(paths.pairs, sources, targets, q)

    effective = 1.0 / np.square(q.probs[q.has_target].astype(np.float64)).sum(axis=1)
    metrics = {
        "sources": int(len(sources)),
        "targets": int(len(targets)),
        "sources_without_target": int((~q.has_target).sum()),
        "neighbours_per_source": int(q.neighbours.shape[1]),
        "effective_neighbours_mean": float(effective.mean()) if len(effective) else 0.0,
        "nearest_cost_mean": float(q.nearest_cost[q.has_target].mean()) if q.has_target.any() else float("nan"),
        "seconds": round(seconds, 2),
    }
    write_json(paths.metrics("synthesize_pairs"), metrics)
    return metrics
