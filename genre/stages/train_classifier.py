"""Stage 2, train_classifier: the ground-truth forest, its sampled labels, and the classifier h."""

from __future__ import annotations

import time
from typing import Any

import joblib
import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score

from genre.artifacts.atomic import write_json, write_with
from genre.artifacts.paths import Artifacts
from genre.artifacts.torch_io import save_module
from genre.data.datasets import load_prepared
from genre.models.accepted import AcceptedRows
from genre.models.classifiers import (
    DECISION_THRESHOLD,
    batch_and_lr,
    confident_threshold,
    train_mlp,
)
from genre.models.ground_truth import (
    fit_ground_truth,
    positive_probability,
    sample_labels,
)
from genre.settings import Settings


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    both = len(np.unique(y)) == 2
    return {"accuracy": float(accuracy_score(y, p > 0.5)), "auc": float(roc_auc_score(y, p)) if both else float("nan")}


def run(settings: Settings) -> dict[str, Any]:
    cfg = settings.train_classifier
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    y_train_obs, y_test_obs = data.observed_labels("train"), data.observed_labels("test")

    forest = fit_ground_truth(
        np.vstack([data.x_train, data.x_test]), np.concatenate([y_train_obs, y_test_obs]), cfg
    )
    rng = np.random.default_rng(cfg.seed)
    p_train, p_test = positive_probability(forest, data.x_train), positive_probability(forest, data.x_test)
    labels = {"train": sample_labels(p_train, rng), "test": sample_labels(p_test, rng), "p_train": p_train, "p_test": p_test}

    started = time.perf_counter()
    classifier = train_mlp(data.x_train, labels["train"], cfg)
    seconds = time.perf_counter() - started
    batch_size, lr = batch_and_lr(len(data.x_train), cfg)
    h_test = classifier.predict_proba(data.x_test)
    h_train = classifier.predict_proba(data.x_train)
    auto_threshold = confident_threshold(h_train)
    classifier.config["auto_threshold"] = auto_threshold  # saved with the weights

    write_with(paths.ground_truth, lambda tmp: joblib.dump(forest, tmp, compress=3))
    write_with(paths.labels, lambda tmp: np.savez(tmp.open("wb"), **labels))
    save_module(classifier, classifier.config, paths.classifier)
    AcceptedRows.of(data.x_train, h_train, DECISION_THRESHOLD).save(paths.accepted)
    metrics = {
        "classifier": _scores(labels["test"], h_test),
        "ground_truth": _scores(y_test_obs, p_test),
        "auto_threshold": auto_threshold,  # null: it approves no training row (evaluation then fails)
        "training": {"batch_size": batch_size, "lr": lr, "threads": cfg.threads, "seconds": round(seconds, 1)},
        "positive_rate": {
            "sampled_labels_train": float(labels["train"].mean()),
            "classifier_test": float((h_test > 0.5).mean()),
        },
    }
    write_json(paths.metrics("train_classifier"), metrics)
    return metrics
