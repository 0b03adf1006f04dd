"""Recourse by forward sampling: draw candidates from R(x+ | x-), make them actionable, pick one.

Every candidate is projected onto real values, has its immutable (and per-request frozen) features
copied from the factual and its increase-/decrease-only features held on the allowed side, before
the classifier sees it. A candidate is accepted only if the classifier's probability clears the
threshold; if none does, the factual is reported as not found rather than answered invalidly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from genre.classifiers import MLPClassifier
from genre.cost import cost
from genre.generators import Generator
from genre.preprocessing import Preprocessor
from genre.settings import RecourseSettings

Status = Literal["found", "not_found", "not_needed"]
DECISION_THRESHOLD = 0.5


@dataclass(frozen=True)
class RecourseBatch:
    """Per factual: the returned point (scaled) and what the classifier thinks of it.

    Where ``status`` is ``not_found`` ``x_plus`` holds the most confident candidate, so evaluation
    can still measure how far off it was; it is never presented as a recourse.
    """

    x: np.ndarray
    x_plus: np.ndarray
    status: np.ndarray
    prob_before: np.ndarray
    prob_after: np.ndarray
    cost: np.ndarray
    seconds: float

    @property
    def found(self) -> np.ndarray:
        return self.status == "found"


def make_actionable(pre: Preprocessor, x: np.ndarray, candidates: np.ndarray, frozen: np.ndarray | None = None) -> np.ndarray:
    """[N, d] factuals, [N, n, d] candidates -> candidates a person could actually reach."""
    out = pre.project(candidates)
    keep = pre.immutable if frozen is None else (pre.immutable | frozen)
    x3 = np.asarray(x, dtype=np.float32)[:, None, :]
    out = np.where(keep, x3, out)
    out = np.where(pre.direction > 0, np.maximum(out, x3), out)
    out = np.where(pre.direction < 0, np.minimum(out, x3), out)
    return out.astype(np.float32)


def select(
    pre: Preprocessor,
    classifier: MLPClassifier,
    x: np.ndarray,
    candidates: np.ndarray,
    threshold: float,
    rule: Literal["cheapest", "most_confident"],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pick one candidate per factual -> (x_plus, accepted, prob_after, cost)."""
    prob = classifier.predict_proba(candidates)
    costs = cost(x[:, None, :], candidates, pre.categorical)
    accepted = prob > threshold
    if rule == "cheapest":
        score = np.where(accepted, -costs, -np.inf)
        best = np.where(accepted.any(1), score.argmax(1), prob.argmax(1))
    else:
        best = prob.argmax(1)
    rows = np.arange(len(x))
    return candidates[rows, best], accepted[rows, best], prob[rows, best], costs[rows, best]


class RecourseEngine:
    def __init__(self, pre: Preprocessor, classifier: MLPClassifier, generator: Generator, settings: RecourseSettings) -> None:
        self.pre, self.classifier, self.generator, self.settings = pre, classifier, generator, settings

    def candidates(self, x: np.ndarray, n: int, temperature: float, seed: int, frozen: np.ndarray | None = None) -> np.ndarray:
        raw = self.generator.propose(x, n, temperature, seed)
        return make_actionable(self.pre, x, raw, frozen)

    def recourse(
        self,
        x: np.ndarray,
        settings: RecourseSettings | None = None,
        frozen: np.ndarray | None = None,
        seed: int = 0,
    ) -> RecourseBatch:
        cfg = settings or self.settings
        x = np.asarray(x, dtype=np.float32)
        started = time.perf_counter()
        prob_before = self.classifier.predict_proba(x)
        cands = self.candidates(x, cfg.n_candidates, cfg.temperature, seed, frozen)
        x_plus, accepted, prob_after, costs = select(self.pre, self.classifier, x, cands, cfg.threshold, cfg.selection)
        seconds = time.perf_counter() - started
        status = np.where(prob_before > DECISION_THRESHOLD, "not_needed", np.where(accepted, "found", "not_found"))
        return RecourseBatch(x, x_plus, status, prob_before, prob_after, costs, seconds)
