"""Recourse by forward sampling: draw candidates from R(x+ | x-), make them actionable, pick one.

Every candidate is projected onto real values, has its immutable (and per-request frozen) features
copied from the factual and its increase-/decrease-only features held on the allowed side, before
the classifier sees it. A candidate is accepted only if the classifier's probability clears the
threshold; if none does, the factual is reported as not found rather than answered invalidly.

Candidates are ranked once per factual (accepted ones first, in the selection rule's order); the
pick is the first of the ranking and alternatives, when asked for, are the next accepted
candidates that each move a different set of features, so a person is shown different ways to
get there rather than the same way with slightly different numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from genre.classifiers import MLPClassifier
from genre.cost import changed, cost
from genre.generators import Generator
from genre.preprocessing import Preprocessor
from genre.settings import RecourseSettings

Status = Literal["found", "not_found", "not_needed"]
Rule = Literal["cheapest", "most_confident"]
DECISION_THRESHOLD = 0.5


@dataclass(frozen=True)
class Alternatives:
    """Per factual, up to k further accepted candidates in ranking order; ``valid[i, j]`` is False
    where factual i has fewer (those slots hold padding, never a recourse)."""

    x_plus: np.ndarray  # [N, k, d]
    valid: np.ndarray  # [N, k]
    prob: np.ndarray  # [N, k]
    cost: np.ndarray  # [N, k]


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
    alternatives: Alternatives

    @property
    def found(self) -> np.ndarray:
        return self.status == "found"


def make_actionable(pre: Preprocessor, x: np.ndarray, candidates: np.ndarray, frozen: np.ndarray | None = None) -> np.ndarray:
    """[N, d] factuals, [N, n, d] candidates -> candidates a person could actually reach.

    Only the constrained columns are touched (in place, on the projection's fresh array): most
    features are free, and this runs on every candidate of every request.
    """
    out = pre.project(candidates)
    keep = pre.immutable if frozen is None else (pre.immutable | frozen)
    x3 = np.broadcast_to(np.asarray(x, dtype=np.float32)[:, None, :], out.shape)
    out[..., keep] = x3[..., keep]
    up, down = pre.direction > 0, pre.direction < 0
    out[..., up] = np.maximum(out[..., up], x3[..., up])
    out[..., down] = np.minimum(out[..., down], x3[..., down])
    return out


def rank(prob: np.ndarray, costs: np.ndarray, accepted: np.ndarray, rule: Rule) -> np.ndarray:
    """[N, n] candidate indices per factual, best first: the accepted ones cheapest (or most
    confident) first, then the rest most confident first. Ties keep sampling order."""
    primary = np.where(accepted, costs if rule == "cheapest" else -prob, np.inf)
    return np.lexsort((np.where(accepted, 0.0, -prob), primary), axis=-1)


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[i, index[i, j]] for [N, n, ...] values and [N, m] indices."""
    index = index.reshape(index.shape + (1,) * (values.ndim - 2))
    return np.take_along_axis(values, index, axis=1)


def diverse(x: np.ndarray, candidates: np.ndarray, order: np.ndarray, accepted: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """-> ([N, k'] candidate indices, [N, k'] valid) with k' = min(k, n - 1): after the pick
    (``order[:, 0]``), the best-ranked accepted candidates whose sets of moved features differ from
    the pick's and from each other's."""
    n_rows, n = order.shape
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n_rows, 0), dtype=np.int64), np.zeros((n_rows, 0), dtype=bool)
    ok = _take(accepted, order)
    moves = _take(changed(x[:, None, :], candidates), order)  # [N, n, d] in ranking order
    signature = np.concatenate([np.packbits(moves, axis=-1), ok[..., None].astype(np.uint8)], axis=-1)
    by_signature = np.lexsort(signature.transpose(2, 0, 1)[::-1], axis=-1)  # stable: rank order within a group
    grouped = _take(signature, by_signature)
    starts = np.ones((n_rows, n), dtype=bool)
    starts[:, 1:] = (grouped[:, 1:] != grouped[:, :-1]).any(-1)
    first = np.empty_like(starts)
    np.put_along_axis(first, by_signature, starts, axis=1)
    keep = (first & ok)[:, 1:]  # the pick itself is position 0
    slots = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    return _take(order[:, 1:], slots), _take(keep, slots)


@dataclass(frozen=True)
class Ranking:
    """Every candidate's classifier probability, cost and acceptance, and per factual the candidate
    indices best first: the pick is the first of ``order``, alternatives come from the rest."""

    candidates: np.ndarray  # [N, n, d]
    prob: np.ndarray  # [N, n]
    costs: np.ndarray  # [N, n]
    accepted: np.ndarray  # [N, n]
    order: np.ndarray  # [N, n]

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The [N, m] candidates ``index`` names -> (x_plus, accepted, prob, cost), each [N, m, ...]."""
        x_plus, accepted, prob, costs = (_take(values, index) for values in (self.candidates, self.accepted, self.prob, self.costs))
        return x_plus, accepted, prob, costs

    def best(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pick per factual -> (x_plus [N, d], accepted [N], prob [N], cost [N])."""
        x_plus, accepted, prob, costs = self.take(self.order[:, :1])
        return x_plus[:, 0], accepted[:, 0], prob[:, 0], costs[:, 0]


def select(pre: Preprocessor, classifier: MLPClassifier, x: np.ndarray, candidates: np.ndarray, threshold: float, rule: Rule) -> Ranking:
    """Score every candidate of every factual and rank them under the threshold and the rule."""
    prob = classifier.predict_proba(candidates)
    costs = cost(x[:, None, :], candidates, pre.categorical)
    accepted = prob > threshold
    return Ranking(candidates, prob, costs, accepted, rank(prob, costs, accepted, rule))


class RecourseEngine:
    def __init__(self, pre: Preprocessor, classifier: MLPClassifier, generator: Generator, settings: RecourseSettings) -> None:
        self.pre, self.classifier, self.generator, self.settings = pre, classifier, generator, settings

    def candidates(
        self, x: np.ndarray, n: int, temperature: float, seed: int, frozen: np.ndarray | None = None, precision: str = "float32"
    ) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            raw = self.generator.propose(x, n, temperature, seed)
        return make_actionable(self.pre, x, raw, frozen)

    def recourse(
        self,
        x: np.ndarray,
        settings: RecourseSettings | None = None,
        frozen: np.ndarray | None = None,
        seed: int = 0,
        alternatives: int = 0,
    ) -> RecourseBatch:
        """``frozen`` marks features this request will not change; ``alternatives`` asks for up to
        that many further recourses for each factual that is found one."""
        cfg = settings or self.settings
        x = np.asarray(x, dtype=np.float32)
        started = time.perf_counter()
        prob_before = self.classifier.predict_proba(x)
        cands = self.candidates(x, cfg.n_candidates, cfg.temperature, seed, frozen, cfg.precision)
        ranking = select(self.pre, self.classifier, x, cands, cfg.threshold, cfg.selection)
        x_plus, found, prob_after, cost_after = ranking.best()
        status = np.where(prob_before > DECISION_THRESHOLD, "not_needed", np.where(found, "found", "not_found"))
        others, valid = diverse(x, cands, ranking.order, ranking.accepted, alternatives)
        alt_x, _, alt_prob, alt_cost = ranking.take(others)
        seconds = time.perf_counter() - started
        return RecourseBatch(
            x, x_plus, status, prob_before, prob_after, cost_after, seconds,
            Alternatives(alt_x, valid & (status == "found")[:, None], alt_prob, alt_cost),
        )
