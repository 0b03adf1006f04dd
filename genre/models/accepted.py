"""The training rows the classifier approves, with its score for each: written with the classifier
(``train_classifier``), filtered at the threshold in use by whoever reads them, so ``auto`` and a
number both work. Recourse retrieves candidates from them (``genre.recourse.retrieval``) and
evaluation's NNR searches them; they travel in the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre.artifacts.atomic import write_npz


@dataclass(frozen=True)
class AcceptedRows:
    """Training rows the classifier approves (scaled) and its score for each."""

    x: np.ndarray  # [P, d] float32
    h: np.ndarray  # [P] float32

    def above(self, threshold: float) -> np.ndarray:
        return self.x[self.h > threshold]

    def save(self, path: Path) -> None:
        write_npz(path, x=self.x, h=self.h)

    @classmethod
    def load(cls, path: Path) -> AcceptedRows:
        with np.load(path) as stored:
            return cls(stored["x"], stored["h"])

    @classmethod
    def of(cls, x: np.ndarray, h: np.ndarray, decision: float) -> AcceptedRows:
        approved = h > decision
        return cls(np.asarray(x[approved], np.float32), np.asarray(h[approved], np.float32))
