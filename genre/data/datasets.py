"""Loading the prepared splits in the scaled space, with the labels the models learn from."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genre.artifacts.paths import Artifacts
from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema
from genre.messages import InputError, one_line


def read_raw(path: Path, schema: DatasetSchema) -> pd.DataFrame:
    """Categories (and string labels) are read as strings whatever they look like, so '1' and 1
    never both appear; an integer feature stored as whole-number floats (as pandas writes any
    integer column that ever held a missing value: 1.0, 2.0) is read as the integers it holds."""
    text = {n: str for n, s in schema.features.items() if s.kind == "categorical"}
    if schema.target.text_labels:
        text[schema.target.name] = str
    # Only an empty cell is missing: "NA", "None" or "null" can be categories, and a number column
    # holding such a word is reported as the word it holds.
    try:
        frame = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (see ingest.train_csv / ingest.test_csv in params.yaml)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a CSV file pandas can read: {one_line(str(exc).strip(), 200)}") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # not a disk's failure: the file's own bytes
        said = one_line(str(exc).strip() or type(exc).__name__, 200)
        raise InputError(f"{path}: not a readable gzip file: {said}") from None
    for name, spec in schema.features.items():
        if spec.kind == "integer" and name in frame and pd.api.types.is_float_dtype(frame[name]):
            values = frame[name]
            if (
                values.notna().all() and (values == values.round()).all()
            ):  # with gaps it stays float: missing values are reported as such
                frame[name] = values.astype("int64")
    return frame


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
