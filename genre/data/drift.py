"""Has a batch of new applicants moved away from the data the model was trained on?

Per feature, two figures: a two-sample test (Kolmogorov-Smirnov for a numeric feature, chi-square
over the categories for a categorical one) says whether the batch differs at all, and the
population stability index (PSI, over the reference's deciles or categories) says by how much. A
feature has drifted only where both say so: the test's p-value, corrected for testing every
feature at once (Benjamini-Hochberg), is below ``alpha``, and the PSI reaches ``max_psi``; with
thousands of rows a test alone flags shifts too small to matter, and a PSI alone flags noise in a
small batch. Beside the features: the favourable-label rate (a batch with its labels inverted
passes every check of its columns), the classifier's approval rate on the batch, and whether the
batch's labels agree with the classifier as well as its held-out rows' did (a batch with labels
swapped both ways keeps every rate, but the classifier that ranked held-out rows well ranks these
badly: the labels were changed, or what they mean did; either way a person looks before a model
learns them).

Both tests and the correction are scipy's; a drift library (Evidently, NannyML) would bring a web
stack and dozens of packages for the same three formulas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from genre.data.schema import DatasetSchema
from genre.settings import DriftSettings

_FLOOR = 1e-4  # a share of 0 in either sample, for PSI's logarithm
_BINS = 10


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    test: str  # "ks" or "chi2"
    p_value: float
    q_value: float  # Benjamini-Hochberg over the batch's features
    psi: float
    drifted: bool


@dataclass(frozen=True)
class RateShift:
    reference: float
    batch: float
    limit: float

    @property
    def drifted(self) -> bool:
        return abs(self.batch - self.reference) > self.limit


@dataclass(frozen=True)
class LabelAgreement:
    """The classifier's AUC on the batch's labels, with its bootstrap interval, against its AUC on
    the held-out rows it was judged on when trained (``expected``)."""

    expected: float
    batch: float
    low: float
    high: float
    limit: float  # how far below ``expected`` even the interval's top may fall
    expected_on: str = "its held-out rows"

    @property
    def drifted(self) -> bool:
        return self.high < self.expected - self.limit


@dataclass(frozen=True)
class DriftReport:
    features: list[FeatureDrift]
    label_rate: RateShift
    approval_rate: RateShift
    labels: LabelAgreement | None = None  # None where the batch, or the held-out rows, hold one class

    @property
    def drifted(self) -> list[str]:
        """What drifted, one phrase each; empty when nothing did."""
        out = [f"{f.feature} (PSI {f.psi:.3f}, q {f.q_value:.2g})" for f in self.features if f.drifted]
        for name, shift in (("favourable-label rate", self.label_rate), ("approval rate", self.approval_rate)):
            if shift.drifted:
                out.append(f"{name} {shift.reference:.3f} -> {shift.batch:.3f} (limit ±{shift.limit})")
        if self.labels is not None and self.labels.drifted:
            agree = self.labels
            out.append(
                f"labels: the classifier's AUC on the batch's labels {agree.batch:.3f} (interval {agree.low:.3f} to "
                f"{agree.high:.3f}) against {agree.expected:.3f} on {agree.expected_on} (may fall {agree.limit})"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "features": [asdict(f) for f in self.features],
            **{
                name: {**asdict(shift), "drifted": shift.drifted}
                for name, shift in (("label_rate", self.label_rate), ("approval_rate", self.approval_rate))
            },
            "labels": None if self.labels is None else {**asdict(self.labels), "drifted": self.labels.drifted},
        }


def psi(reference: np.ndarray, batch: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    p = np.maximum(reference / max(reference.sum(), 1), _FLOOR)
    q = np.maximum(batch / max(batch.sum(), 1), _FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _numeric(reference: np.ndarray, batch: np.ndarray) -> tuple[float, float]:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, _BINS + 1)[1:-1]))
    counts = [
        np.bincount(np.searchsorted(edges, v, side="right"), minlength=len(edges) + 1) for v in (reference, batch)
    ]
    return float(stats.ks_2samp(reference, batch).pvalue), psi(*counts)


def _categorical(reference: pd.Series, batch: pd.Series, categories: list[Any]) -> tuple[float, float]:
    counts = np.array([[int((s == c).sum()) for c in categories] for s in (reference, batch)])
    seen = counts.sum(axis=0) > 0
    p_value = float(stats.chi2_contingency(counts[:, seen]).pvalue) if seen.sum() > 1 else 1.0
    return p_value, psi(counts[0], counts[1])


def feature_drift(
    reference: pd.DataFrame, batch: pd.DataFrame, schema: DatasetSchema, alpha: float, max_psi: float
) -> list[FeatureDrift]:
    """Each feature of ``schema``: raw frames (after missing values are handled), one row each."""
    tests, p_values, psis = [], [], []
    for name, spec in schema.features.items():
        if spec.kind == "categorical":
            p, shift = _categorical(reference[name], batch[name], list(spec.categories or []))
            tests.append("chi2")
        else:
            p, shift = _numeric(reference[name].to_numpy(float), batch[name].to_numpy(float))
            tests.append("ks")
        p_values.append(p)
        psis.append(shift)
    q_values = stats.false_discovery_control(np.clip(p_values, 0.0, 1.0), method="bh") if p_values else []
    return [
        FeatureDrift(name, test, p, float(q), s, bool(q < alpha and s >= max_psi))
        for name, test, p, q, s in zip(schema.feature_names, tests, p_values, q_values, psis, strict=True)
    ]


def drift_report(
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    schema: DatasetSchema,
    approval: tuple[float, float],
    cfg: DriftSettings,
    labels: LabelAgreement | None = None,
) -> DriftReport:
    """``reference`` and ``batch``: raw labelled frames with missing values handled as the
    preprocessor handles them; ``approval``: the classifier's approval rate on each, and
    ``labels`` how well it agrees with the batch's labels (the caller holds the classifier)."""
    target = schema.target
    label = [float(np.mean(frame[target.name] == target.favourable)) for frame in (reference, batch)]
    return DriftReport(
        feature_drift(reference, batch, schema, cfg.alpha, cfg.max_psi),
        RateShift(label[0], label[1], cfg.max_label_shift),
        RateShift(*approval, cfg.max_approval_shift),
        labels,
    )
