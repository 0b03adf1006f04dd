"""The classifier file (``data/models/classifier.pt``): the protocol MLP's weights, or the lender's
own model as the skops bytes they delivered, with what ``auto`` resolved to and the types they
vouched for. One file, read with torch's ``weights_only`` loader either way, so every stage, the
bundle and the service load h by one call and no artifact can run code when it is read.
"""

from __future__ import annotations

from pathlib import Path

from genre.artifacts.torch_io import (
    load_payload,
    module_from,
    save_module,
    save_payload,
)
from genre.data.preprocessing import Preprocessor
from genre.models.classifiers import Classifier, MLPClassifier
from genre.models.own_model import OwnModel

OWN = "OwnModel"


def save_classifier(classifier: MLPClassifier | OwnModel, path: Path) -> None:
    if isinstance(classifier, OwnModel):
        save_payload({"kind": OWN, "config": classifier.config, "skops": classifier.payload}, path)
    else:
        save_module(classifier, classifier.config, path)


def load_classifier(path: Path, pre: Preprocessor) -> Classifier:
    """h as saved; ``pre`` turns scaled rows back into the raw columns an own model takes."""
    payload = load_payload(path)
    config = payload["config"]
    if (
        "auto_threshold" in config
    ):  # a file from before the margin came into auto: its threshold, at most 0.9, as the score
        config["reachable"] = config.pop("auto_threshold")
    if payload.get("kind") == OWN:
        return OwnModel(payload["skops"], pre, **config)
    return module_from(MLPClassifier, payload)
