"""The protocol's recourse metrics, computed the same way for every method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.neighbors import LocalOutlierFactor

from genre.data.preprocessing import Preprocessor
from genre.evaluation.actionability import answer_summary
from genre.models.classifiers import Classifier
from genre.models.ground_truth import positive_probability
from genre.recourse.cost import changed, cost, recourse_cost


def fit_plausibility(
    x_all: np.ndarray, forest: CalibratedClassifierCV, n_neighbors: int, max_rows: int | None = None, seed: int = 0
) -> LocalOutlierFactor:
    """LOF novelty detector over the rows the world calls favourable: 'looks like an accepted
    applicant'. Past ``max_rows`` of them it is fitted on a seeded sample of that many: LOF's
    neighbour search grows faster than the rows, and a sample that large describes the density as
    well (``n_samples_fit_`` says how many it saw)."""
    positive = x_all[positive_probability(forest, x_all) > 0.5]
    if max_rows is not None and len(positive) > max_rows:
        positive = positive[np.sort(np.random.default_rng(seed).choice(len(positive), size=max_rows, replace=False))]
    return LocalOutlierFactor(n_neighbors=n_neighbors, novelty=True).fit(positive)


def protocol_score(validity: Any, lof: Any, cost: Any, n_features: int) -> Any:
    """The paper's score, validity + LOF - cost / d: of means, or row by row (arrays)."""
    return validity + lof - cost / n_features


@dataclass(frozen=True)
class Judges:
    """What recourse is scored against: the world, the classifier, and plausibility."""

    pre: Preprocessor
    forest: CalibratedClassifierCV
    classifier: Classifier
    lof: LocalOutlierFactor

    def per_row(self, x: np.ndarray, x_plus: np.ndarray, found: np.ndarray) -> dict[str, np.ndarray]:
        """Each factual's figures: what ``score`` averages and ``group_gaps`` compares by group. An
        applicant not ``found`` a recourse is invalid, whatever the judges make of the point
        ``x_plus`` holds for them: nobody was told it."""
        found = np.asarray(found, bool)
        return {
            "cost": cost(x, x_plus, self.pre.categorical),  # the protocol's, as the paper reports it
            "weighted_cost": recourse_cost(self.pre, x, x_plus),  # the schema's weights: what recourse minimises
            "validity_rf": ((positive_probability(self.forest, x_plus) > 0.5) & found).astype(float),
            "validity_h": ((self.classifier.predict_proba(x_plus) > 0.5) & found).astype(float),
            "lof": (self.lof.predict(x_plus) == 1).astype(float),
            "sparsity": changed(x, x_plus).sum(axis=1).astype(float),
        }

    def score(
        self,
        x: np.ndarray,
        x_plus: np.ndarray,
        seconds: float,
        found: np.ndarray,
        rows: dict[str, np.ndarray] | None = None,
    ) -> dict[str, float]:
        """The protocol's means, and what a person is asked to do: features changed per answer,
        moves smaller than their feature's ``min_change``, and how many answers are each
        applicant's own; ``rows`` is ``per_row(x, x_plus, found)`` where the caller already has it."""
        out: dict[str, float] = {}
        for name, values in (self.per_row(x, x_plus, found) if rows is None else rows).items():
            out[name] = float(values.mean())
            out[f"{name}_std"] = float(values.std())
        out["score"] = protocol_score(out["validity_rf"], out["lof"], out["cost"], x.shape[1])
        out["immutable_violations"] = int(
            changed(x[:, self.pre.immutable], x_plus[:, self.pre.immutable]).any(axis=1).sum()
        )
        out["found_rate"] = float(np.mean(found))
        out["seconds_per_recourse"] = seconds / max(len(x), 1)
        return out | answer_summary(self.pre, x, x_plus, found)
