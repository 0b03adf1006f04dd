"""The training rows the classifier approves, with its score for each, and the training rows whose
own label is favourable: written with the classifier (``train_classifier``), filtered at the
threshold in use by whoever reads them, so ``auto`` and a number both work. Recourse retrieves
candidates from the approved rows (``genre.recourse.retrieval``) and judges plausibility against
the favourable ones (``genre.recourse.plausibility``); evaluation's NNR searches the approved rows;
they travel in the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre.artifacts.atomic import write_npz


@dataclass(frozen=True)
class AcceptedRows:
    """Training rows the classifier approves (scaled) and its score for each; ``favourable``: the
    training rows labelled favourable (None in a file from before they travelled)."""

    x: np.ndarray  # [P, d] float32
    h: np.ndarray  # [P] float32
    favourable: np.ndarray | None = None  # [F, d] float32

    def above(self, threshold: float) -> np.ndarray:
        return self.x[self.h > threshold]

    @property
    def people_like(self) -> np.ndarray:
        """The rows an answer should look like: those labelled favourable, or in a file from before
        they travelled, those approved."""
        return self.x if self.favourable is None else self.favourable

    def save(self, path: Path) -> None:
        more = {} if self.favourable is None else {"favourable": self.favourable}
        write_npz(path, x=self.x, h=self.h, **more)

    @classmethod
    def load(cls, path: Path) -> AcceptedRows:
        with np.load(path) as stored:
            return cls(stored["x"], stored["h"], stored.get("favourable"))

    @classmethod
    def of(cls, x: np.ndarray, h: np.ndarray, decision: float, labels: np.ndarray | None = None) -> AcceptedRows:
        """``labels``: the rows' own labels, 1 = favourable."""
        approved = h > decision
        return cls(
            np.asarray(x[approved], np.float32),
            np.asarray(h[approved], np.float32),
            None if labels is None else np.asarray(x[np.asarray(labels) == 1], np.float32),
        )
