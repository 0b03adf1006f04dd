"""Stage 2, train_classifier: the ground-truth forest, its sampled labels, and the classifier h:
the protocol's MLP trained on those labels, or the lender's own model read from ``models/``."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import joblib
import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score

from genre.artifacts.atomic import atomic_path, write_npz
from genre.artifacts.metrics_file import HELD_OUT, write_metrics
from genre.artifacts.paths import Artifacts
from genre.data.datasets import PreparedData, load_prepared
from genre.models.accepted import AcceptedRows
from genre.models.classifier_file import save_classifier
from genre.models.classifiers import (
    DECISION_THRESHOLD,
    MLPClassifier,
    batch_and_lr,
    train_mlp,
)
from genre.models.ground_truth import (
    fit_ground_truth,
    positive_probability,
    sample_labels,
)
from genre.models.own_model import OwnModel, check_every_category, check_scores, read_model_file
from genre.recourse.threshold import reachable_score
from genre.settings import ClassifierSettings, Settings


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    both = len(np.unique(y)) == 2
    return {"accuracy": float(accuracy_score(y, p > 0.5)), "auc": float(roc_auc_score(y, p)) if both else float("nan")}


def run(settings: Settings) -> dict[str, Any]:
    cfg = settings.train_classifier
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    y_train_obs, y_test_obs = data.observed_labels("train"), data.observed_labels("test")
    started = time.perf_counter()
    own = None if cfg.model is None else own_model(settings, data)  # a model that cannot be used stops before any work
    read_seconds = time.perf_counter() - started

    forest = fit_ground_truth(np.vstack([data.x_train, data.x_test]), np.concatenate([y_train_obs, y_test_obs]), cfg)
    rng = np.random.default_rng(cfg.seed)
    p_train, p_test = positive_probability(forest, data.x_train), positive_probability(forest, data.x_test)
    labels = {
        "train": sample_labels(p_train, rng),
        "test": sample_labels(p_test, rng),
        "p_train": p_train,
        "p_test": p_test,
    }

    # The forest's compressed dump (zlib releases the GIL) is written while h trains on one thread;
    # it replaces the old forest only once the stage has succeeded.
    with atomic_path(paths.ground_truth) as forest_tmp, ThreadPoolExecutor(max_workers=1) as writer:
        dumping = writer.submit(joblib.dump, forest, forest_tmp, compress=3)
        observed = {"train": y_train_obs, "test": y_test_obs}
        classifier, training, judged_by = _classifier(data, labels, observed, own, read_seconds, cfg)
        labels["pairs"] = judged_by["train"]
        h_test = classifier.predict_proba(data.x_test)
        h_train = classifier.predict_proba(data.x_train)
        classifier.reachable = reachable_score(data.x_train, h_train, data.preprocessor, cfg.seed)
        dumping.result()
        write_npz(paths.labels, **labels)
        save_classifier(classifier, paths.classifier)
        AcceptedRows.of(data.x_train, h_train, DECISION_THRESHOLD, y_train_obs).save(paths.accepted)
    metrics = {
        "classifier": _scores(judged_by["test"], h_test),
        # h against the held-out rows' own labels: what retraining's intake expects of a batch's
        # labels (genre.retraining.intake), whatever labels h was trained to answer
        HELD_OUT: _scores(y_test_obs, h_test),
        "ground_truth": _scores(y_test_obs, p_test),
        # What 90% of the sampled denied training rows can reach (threshold auto: at most this less
        # recourse.margin, and at most 0.9; metrics/evaluate.json has the value used); null: h
        # approves no training row (evaluation then fails).
        "reachable_score": classifier.reachable,
        "training": training,
        "positive_rate": {
            "sampled_labels_train": float(labels["train"].mean()),
            "classifier_test": float((h_test > 0.5).mean()),
        },
    }
    write_metrics(paths, "train_classifier", metrics)
    return metrics


def _classifier(
    data: PreparedData,
    labels: dict[str, np.ndarray],
    observed: dict[str, np.ndarray],
    own: OwnModel | None,
    read_seconds: float,
    cfg: ClassifierSettings,
) -> tuple[MLPClassifier | OwnModel, dict[str, Any], dict[str, np.ndarray]]:
    """h, what its training metrics say, and the labels it answers to: the protocol's MLP learns
    the forest's sampled labels (and pairs use them); a lender's model answers to the data's own."""
    if own is not None:
        training = {
            "model": str(cfg.model),
            "trusted_types": cfg.trusted_types,
            "seconds": round(read_seconds, 1),
        }  # reading and trying the file
        return own, training, observed
    started = time.perf_counter()
    classifier = train_mlp(data.x_train, labels["train"], cfg)
    batch_size, lr = batch_and_lr(len(data.x_train), cfg)
    return (
        classifier,
        {
            "batch_size": batch_size,
            "lr": lr,
            "threads": cfg.threads,
            "seconds": round(time.perf_counter() - started, 1),
        },
        labels,
    )


def own_model(settings: Settings, data: PreparedData) -> OwnModel:
    """``train_classifier.model`` read, checked against the schema, and tried on the training rows,
    so that a model which cannot score this data stops here, in one line, not in a request."""
    cfg: ClassifierSettings = settings.train_classifier
    assert cfg.model is not None
    model = OwnModel(read_model_file(settings.root, cfg.model), data.preprocessor, cfg.trusted_types)
    check_scores(model, data.x_train[:100], str(cfg.model))
    check_every_category(model, data.x_train[0])  # and every category the schema allows, not only those rows'
    return model
