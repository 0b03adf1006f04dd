"""Loading the prepared splits in the scaled space, with the labels the models learn from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from genre.artifacts import Artifacts
from genre.ingest import read_raw
from genre.preprocessing import Preprocessor


@dataclass(frozen=True)
class PreparedData:
    preprocessor: Preprocessor
    train_raw: pd.DataFrame
    test_raw: pd.DataFrame
    x_train: np.ndarray
    x_test: np.ndarray

    def observed_labels(self, split: str) -> np.ndarray:
        """The data's own labels, as 1 = favourable."""
        target = self.preprocessor.schema.target
        frame = self.train_raw if split == "train" else self.test_raw
        return (frame[target.name].to_numpy() == target.favourable).astype(np.int64)


def load_prepared(paths: Artifacts) -> PreparedData:
    preprocessor = Preprocessor.load(paths.preprocessor)
    schema = preprocessor.schema
    train = read_raw(paths.train_csv, schema)
    test = read_raw(paths.test_csv, schema)
    return PreparedData(preprocessor, train, test, preprocessor.transform(train), preprocessor.transform(test))


def load_labels(paths: Artifacts) -> dict[str, np.ndarray]:
    """Ground-truth draws for each split (``train``, ``test``) and the forest's probabilities."""
    with np.load(paths.labels) as stored:
        return {k: stored[k] for k in stored.files}
