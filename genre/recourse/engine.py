"""Recourse by forward sampling: draw candidates from R(x+ | x-), make them actionable, pick one.

Every candidate is projected onto real values, has its immutable (and per-request frozen) features
copied from the factual and its increase-/decrease-only features held on the allowed side, before
the classifier sees it. A candidate is accepted only if the classifier's probability clears the
threshold plus the margin (``issue_bar``); if none does, the factual is reported as not found rather
than answered invalidly.

Candidates are ranked once per factual (accepted ones first, in the selection rule's order); the
pick is the first of the ranking and alternatives, when asked for, are the next accepted
candidates that each move a different set of features, so a person is shown different ways to
get there rather than the same way with slightly different numbers.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np
import torch

from genre.data.preprocessing import Preprocessor
from genre.messages import InputError
from genre.models.accepted import AcceptedRows
from genre.models.classifiers import DECISION_THRESHOLD, Classifier
from genre.models.generators import Generator
from genre.parallel import Mapper
from genre.recourse.cost import changed, recourse_cost
from genre.recourse.minimal import Judge, Key, Known, minimal
from genre.recourse.plausibility import Plausibility, Verdicts, best_plausible, plausible_variety
from genre.recourse.retrieval import nearest_accepted, nearest_reachable
from genre.recourse.threshold import auto_threshold
from genre.settings import RecourseSettings, Rule

Status = Literal["found", "not_found", "not_needed"]
FEWEST_POOL = (
    40  # with minimal answers, the best-ranked accepted candidates the one needing fewest changes is chosen from
)
ALTERNATIVES_POOL = 4  # with minimal answers, this many times the alternatives asked are minimised to find them
FIRST_SCORED = (
    50  # candidates per factual a costly scorer scores first, cheapest first (RecourseEngine._cheapest_first)
)


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
    can still measure how far off it was; it is never presented as a recourse. Where it is
    ``not_needed`` nothing was sampled: ``x_plus`` is the factual itself, at cost 0.
    """

    x: np.ndarray
    x_plus: np.ndarray
    status: np.ndarray
    prob_before: np.ndarray
    prob_after: np.ndarray
    cost: np.ndarray
    seconds: float
    alternatives: Alternatives
    retrieved: np.ndarray  # [N] bool: the answer is a training row retrieved, not a sampled one

    @property
    def found(self) -> np.ndarray:
        return self.status == "found"

    def replaced(self, rows: np.ndarray, other: RecourseBatch, pick: np.ndarray, seconds: float) -> RecourseBatch:
        """This batch with applicant ``rows[i]`` answered as ``other``'s applicant ``pick[i]``."""

        def put(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
            out = mine.copy()
            out[rows] = theirs[pick]
            return out

        more = Alternatives(
            *(
                put(getattr(self.alternatives, name), getattr(other.alternatives, name))
                for name in ("x_plus", "valid", "prob", "cost")
            )
        )
        return RecourseBatch(
            self.x,
            put(self.x_plus, other.x_plus),
            put(self.status, other.status),
            self.prob_before,
            put(self.prob_after, other.prob_after),
            put(self.cost, other.cost),
            seconds,
            more,
            put(self.retrieved, other.retrieved),
        )

    @classmethod
    def joined(cls, pieces: list[RecourseBatch]) -> RecourseBatch:
        """Batches of consecutive applicants as one, in order; the seconds are the pieces' sum."""
        if len(pieces) == 1:
            return pieces[0]
        x, x_plus, status, prob_before, prob_after, cost = (
            np.concatenate([getattr(p, name) for p in pieces])
            for name in ("x", "x_plus", "status", "prob_before", "prob_after", "cost")
        )
        more = Alternatives(
            *(
                np.concatenate([getattr(p.alternatives, name) for p in pieces])
                for name in ("x_plus", "valid", "prob", "cost")
            )
        )
        return cls(
            x,
            x_plus,
            status,
            prob_before,
            prob_after,
            cost,
            sum(p.seconds for p in pieces),
            more,
            np.concatenate([p.retrieved for p in pieces]),
        )


def make_actionable(
    pre: Preprocessor,
    x: np.ndarray,
    candidates: np.ndarray,
    frozen: np.ndarray | None = None,
    max_step: np.ndarray | None = None,
) -> np.ndarray:
    """[N, d] factuals, [N, n, d] candidates -> candidates a person could actually reach.

    Every constraint is a bound taken from the factual (kept features: both; increase-only: the
    lower; decrease-only: the upper; max_change: the factual give or take it), so one clamp
    applies them all: this runs on every candidate of every request. A move smaller than its
    feature's ``min_change`` is then put back. ``frozen`` and ``max_step``
    (``Preprocessor.steps``) are a request's own, on top of the schema's: they only tighten.
    """
    out = torch.from_numpy(pre.project(candidates))
    keep = pre.immutable if frozen is None else (pre.immutable | frozen)
    factual = torch.as_tensor(np.asarray(x), dtype=torch.float32)[:, None, :]
    step = torch.from_numpy(np.minimum(pre.max_step, np.inf if max_step is None else max_step).astype(np.float32))
    lower = torch.where(torch.from_numpy(keep | (pre.direction > 0)), factual, factual - step)
    upper = torch.where(torch.from_numpy(keep | (pre.direction < 0)), factual, factual + step)
    out = out.clamp_(lower, upper)
    if (pre.min_step > 0).any():  # a move too small to matter (min_change) is no move
        least = torch.from_numpy(pre.least_move.astype(np.float32))
        out = torch.where((out - factual).abs() < least, factual.expand_as(out), out)
    return out.numpy()


def _primary(prob: np.ndarray, costs: np.ndarray, accepted: np.ndarray, rule: Rule, n_features: int) -> np.ndarray:
    """The rule's key, smaller is better; rejected candidates after every accepted one.

    ``balanced`` is the protocol's score (validity + plausibility - cost / d) with the
    classifier's probability standing in for validity and plausibility left out: the cheapest
    candidates sit just past the threshold, where a classifier that cannot be very sure (one
    ``threshold: auto`` brought down) is most often wrong about the world, and a little more cost
    buys a surer answer; where plausibility is what the cheapest answers have and the surer ones
    lack (Adult), it costs more than it buys.
    """
    if rule == "cheapest":
        key = costs
    elif rule == "most_confident":
        key = -prob
    else:
        key = costs / n_features - prob
    return np.where(accepted, key, np.inf)


def rank(
    prob: np.ndarray,
    costs: np.ndarray,
    accepted: np.ndarray,
    rule: Rule,
    n_features: int,
    plausible: np.ndarray | None = None,
) -> np.ndarray:
    """[N, n] candidate indices per factual, best first: the accepted ones in the rule's order
    (``_primary``; ``n_features`` is d, for ``balanced``), the ``plausible`` ones among them
    first where it is given, then the rest most confident first. Ties keep sampling order."""
    keys = [np.where(accepted, 0.0, -prob), _primary(prob, costs, accepted, rule, n_features)]
    if plausible is not None:
        keys.append(~(accepted & plausible))
    return np.lexsort(keys, axis=-1)


def cheapest(costs: np.ndarray, k: int) -> np.ndarray:
    """[N, n] costs -> [N, n] mask of each row's k cheapest, and every other that costs no more
    than the k-th (so that what is left out costs strictly more than all that is taken)."""
    kth = min(k, costs.shape[1]) - 1
    return costs <= np.partition(costs, kth, axis=1)[:, kth, None]


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[i, index[i, j]] for [N, n, ...] values and [N, m] indices."""
    index = index.reshape(index.shape + (1,) * (values.ndim - 2))
    return np.take_along_axis(values, index, axis=1)


def diverse(moves: np.ndarray, order: np.ndarray, accepted: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """-> ([N, k'] candidate indices, [N, k'] valid) with k' = min(k, n - 1): after the pick
    (``order[:, 0]``), the best-ranked accepted candidates whose sets of moved features (``moves``
    [N, n, d]: ``changed``) differ from the pick's and from each other's."""
    n_rows, n = order.shape
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n_rows, 0), dtype=np.int64), np.zeros((n_rows, 0), dtype=bool)
    ok = _take(accepted, order)
    signature = np.concatenate([np.packbits(_take(moves, order), axis=-1), ok[..., None].astype(np.uint8)], axis=-1)
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
    """Every candidate's classifier probability, cost and acceptance under one rule: the pick is
    the first of ``order`` (the candidate indices best first), alternatives come from the rest.
    With ``verdicts`` the plausible accepted candidates come before the others
    (``genre.recourse.plausibility``), judged only as far as the pick (``pick``) or the pick and its
    alternatives (``judged_for``) need: ``order`` ranks the candidates not judged as implausible."""

    candidates: np.ndarray  # [N, n, d]
    prob: np.ndarray  # [N, n]
    costs: np.ndarray  # [N, n]
    accepted: np.ndarray  # [N, n]
    rule: Rule
    verdicts: Verdicts | None = None

    @cached_property
    def order(self) -> np.ndarray:
        plausible = None if self.verdicts is None else self.verdicts.plausible
        return rank(self.prob, self.costs, self.accepted, self.rule, self.candidates.shape[-1], plausible)

    @cached_property
    def key(self) -> np.ndarray:
        """[N, n] the rule's key (``_primary``), for the pick and for judging in the rule's order."""
        return _primary(self.prob, self.costs, self.accepted, self.rule, self.candidates.shape[-1])

    def judged_for(self, moves: np.ndarray, alternatives: int) -> Ranking:
        """This ranking with as many candidates judged as the pick and ``alternatives`` more need
        (``diverse``: each moving a different set of features, ``moves``), before ``order`` is read."""
        if self.verdicts is not None:
            plausible_variety(self.key, self.accepted, moves, self.verdicts, alternatives + 1)
        return self

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The [N, m] candidates ``index`` names -> (x_plus, accepted, prob, cost), each [N, m, ...]."""
        x_plus, accepted, prob, costs = (
            _take(values, index) for values in (self.candidates, self.accepted, self.prob, self.costs)
        )
        return x_plus, accepted, prob, costs

    def extended(self, more: Ranking) -> Ranking:
        """These candidates followed by ``more``'s (same factuals, same rule)."""
        parts = zip(
            (self.candidates, self.prob, self.costs, self.accepted),
            (more.candidates, more.prob, more.costs, more.accepted),
        )
        verdicts = None if self.verdicts is None or more.verdicts is None else self.verdicts.extended(more.verdicts)
        candidates, prob, costs, accepted = (np.concatenate(pair, axis=1) for pair in parts)
        return Ranking(candidates, prob, costs, accepted, self.rule, verdicts)

    @cached_property
    def _best_plausible(self) -> tuple[np.ndarray, np.ndarray]:
        """([N] the best plausible accepted candidate, [N] whether there is one); with no verdicts,
        the plain pick, and whether it is accepted. The plain pick is ``order[:, 0]`` without
        sorting: the key's argmin (the first of equals, as the stable sort keeps them), or where
        nothing is accepted the most confident; most requests want only the pick."""
        any_accepted = cast(np.ndarray, self.accepted.any(axis=1))  # [N, n] -> [N]: an array, not a scalar
        plain = np.where(any_accepted, self.key.argmin(axis=1), self.prob.argmax(axis=1))
        if self.verdicts is None:
            return plain, any_accepted
        best, has = best_plausible(self.key, self.accepted, self.verdicts)
        return np.where(has, best, plain), has

    @property
    def pick(self) -> np.ndarray:
        """[N] the chosen candidate's index per factual."""
        return self._best_plausible[0]

    @property
    def settled(self) -> np.ndarray:
        """[N] whether a factual has an answer it would keep: an accepted candidate, a plausible
        one where plausibility is judged (where not, retrieval's fallback looks further)."""
        return self._best_plausible[1]

    def best(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pick per factual -> (x_plus [N, d], accepted [N], prob [N], cost [N])."""
        x_plus, accepted, prob, costs = self.take(self.pick[:, None])
        return x_plus[:, 0], accepted[:, 0], prob[:, 0], costs[:, 0]


def select(
    pre: Preprocessor, classifier: Classifier, x: np.ndarray, candidates: np.ndarray, threshold: float, rule: Rule
) -> Ranking:
    """Score every candidate of every factual and rank them under the threshold and the rule."""
    return ranked(pre, x, candidates, classifier.predict_proba(candidates), threshold, rule)


def ranked(
    pre: Preprocessor, x: np.ndarray, candidates: np.ndarray, prob: np.ndarray, threshold: float, rule: Rule
) -> Ranking:
    """Candidates already scored (``prob`` [N, m]) ranked under the threshold and the rule."""
    costs = recourse_cost(pre, x[:, None, :], candidates)
    return Ranking(candidates, prob, costs, prob > threshold, rule)


def issue_bar(settings: RecourseSettings) -> float:
    """What a candidate's probability must exceed to be issued (``settings`` resolved): the
    threshold, plus the margin that leaves a retrained model room to still accept it."""
    return float(settings.threshold) + settings.margin


def resolved(settings: RecourseSettings, classifier: Classifier) -> RecourseSettings:
    """``settings`` with ``threshold: auto`` resolved from the score the classifier was saved with
    (``genre.recourse.threshold``; ``selection: auto`` and ``plausible_first: auto`` must have been
    replaced by what evaluate chose already: ``chosen_rule``)."""
    if settings.threshold == "auto":
        threshold = auto_threshold(classifier.reachable, settings.margin)
        if threshold is None:
            raise InputError(
                "recourse.threshold is auto, but the classifier approves no training row (h > 0.5), so no threshold "
                "can be derived and no recourse found: see the positive rates in metrics/train_classifier.json, or "
                "set recourse.threshold to a number"
            )
        settings = settings.model_copy(update={"threshold": threshold})
    for name in ("selection", "plausible_first"):
        if getattr(settings, name) == "auto":
            raise InputError(
                f"recourse.{name} is auto, and nothing has been chosen for this model yet: evaluate chooses it "
                f"(data/evaluation/selection.json; `dvc repro evaluate`), or set recourse.{name}"
            )
    if issue_bar(settings) >= 1:
        raise InputError(
            f"recourse.margin: threshold {float(settings.threshold):.3f} + margin {settings.margin} reaches 1, "
            "which no probability exceeds"
        )
    return settings


def _rule(cfg: RecourseSettings) -> Rule:
    """``cfg.selection`` of settings ``resolved`` has passed: a rule, never ``auto``."""
    return cast(Rule, cfg.selection)


class RecourseEngine:
    """Answers from sampled candidates and, where ``accepted`` is given and ``settings.retrieved``
    asks for them, the nearest accepted training rows (``genre.recourse.retrieval``)."""

    def __init__(
        self,
        pre: Preprocessor,
        classifier: Classifier,
        generator: Generator,
        settings: RecourseSettings,
        accepted: AcceptedRows | None = None,
    ) -> None:
        self.pre, self.classifier, self.generator, self.accepted = pre, classifier, generator, accepted
        self.plausibility = Plausibility.of(None if accepted is None else accepted.people_like)
        self.settings = resolved(settings, classifier)
        self.scorer = classifier.scorer()  # one whose answers do not depend on the rest of the batch

    def with_settings(self, settings: RecourseSettings) -> RecourseEngine:
        """The same models answering by other settings, without loading them again."""
        other = copy.copy(self)
        other.settings = resolved(settings, self.classifier)
        return other

    def candidates(
        self,
        x: np.ndarray,
        n: int,
        temperature: float,
        seed: int,
        frozen: np.ndarray | None = None,
        precision: str = "float32",
        max_step: np.ndarray | None = None,
    ) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            raw = self.generator.propose(x, n, temperature, seed)
        return make_actionable(self.pre, x, raw, frozen, max_step)

    def _retrieved(
        self,
        x: np.ndarray,
        sampled: Ranking,
        cfg: RecourseSettings,
        frozen: np.ndarray | None,
        max_step: np.ndarray | None,
    ) -> Ranking:
        """The nearest accepted training rows as a block of ``cfg.retrieved`` more candidates per
        factual, then ``cfg.reachable`` more moved within the factual's reach
        (``genre.recourse.retrieval``), searched only for the factuals that need them (with
        ``fallback``: those no sampled candidate is accepted for, or none plausible where
        plausibility is judged; the other rows' slots hold the factual and are never accepted)."""
        need = ~sampled.settled if cfg.retrieval == "fallback" else np.ones(len(x), dtype=bool)
        width = cfg.retrieved + cfg.reachable
        block, valid = np.repeat(x[:, None, :], width, axis=1), np.zeros((len(x), width), dtype=bool)
        if not need.any():  # nothing to score: the block is the factuals themselves, never accepted
            return self._judged(ranked(self.pre, x, block, np.zeros(valid.shape), issue_bar(cfg), _rule(cfg)), cfg)
        assert self.accepted is not None  # _by_rules asks for retrieved rows only where the engine has some
        pool, rows = self.accepted.above(issue_bar(cfg)), np.flatnonzero(need)
        near, valid[rows, : cfg.retrieved] = nearest_accepted(x[need], pool, self.pre, cfg.retrieved)
        block[rows, : cfg.retrieved] = make_actionable(self.pre, x[need], near, frozen, max_step)
        block[rows, cfg.retrieved :], valid[rows, cfg.retrieved :] = nearest_reachable(
            x[need],
            pool,
            self.pre,
            cfg.reachable,
            lambda factuals, moved: make_actionable(self.pre, factuals, moved, frozen, max_step),
        )
        prob = np.zeros(valid.shape)
        prob[need] = self.scorer.predict_proba(block[need])
        more = ranked(self.pre, x, block, prob, issue_bar(cfg), _rule(cfg))
        # an empty slot is never "most confident"
        return self._judged(replace(more, accepted=more.accepted & valid, prob=np.where(valid, more.prob, 0.0)), cfg)

    def _judged(self, ranking: Ranking, cfg: RecourseSettings) -> Ranking:
        """``ranking`` preferring plausible candidates, where ``cfg`` asks for it and the engine
        has approved training rows to judge them by."""
        if cfg.plausible_first is not True or self.plausibility is None:
            return ranking
        return replace(
            ranking, verdicts=Verdicts.unjudged(self.plausibility, cfg.max_outlier_factor, ranking.candidates)
        )

    def _sampled(
        self,
        x: np.ndarray,
        cfg: RecourseSettings,
        frozen: np.ndarray | None,
        seed: int,
        max_step: np.ndarray | None,
        cheapest_first: bool,
    ) -> tuple[np.ndarray, np.ndarray, Ranking]:
        """The factuals' scores, which are denied, and the denied ones' sampled candidates ranked.
        Candidates are drawn only for the denied, unless the scorer's calls cost more than their
        rows: then every factual gets them, and all are scored in the one call, or, where only
        the ``cheapest`` pick is wanted (``cheapest_first``), the cheapest of them first."""
        if not self.scorer.score_in_one_call:
            prob_before = self.scorer.predict_proba(x)
            denied = np.flatnonzero(prob_before <= DECISION_THRESHOLD)  # nothing is sampled for the others
            cands = self.candidates(x[denied], cfg.n_candidates, cfg.temperature, seed, frozen, cfg.precision, max_step)
            return (
                prob_before,
                denied,
                self._judged(select(self.pre, self.scorer, x[denied], cands, issue_bar(cfg), _rule(cfg)), cfg),
            )
        cands = self.candidates(x, cfg.n_candidates, cfg.temperature, seed, frozen, cfg.precision, max_step)
        if cheapest_first:
            return self._cheapest_first(x, cands, cfg)
        prob = self.scorer.predict_proba(np.concatenate([x[:, None, :], cands], axis=1))
        denied = np.flatnonzero(prob[:, 0] <= DECISION_THRESHOLD)
        return (
            prob[:, 0],
            denied,
            self._judged(ranked(self.pre, x[denied], cands[denied], prob[denied, 1:], issue_bar(cfg), _rule(cfg)), cfg),
        )

    def _cheapest_first(
        self, x: np.ndarray, cands: np.ndarray, cfg: RecourseSettings
    ) -> tuple[np.ndarray, np.ndarray, Ranking]:
        """``_sampled``'s answer under ``cheapest``, scoring each factual's ``FIRST_SCORED``
        cheapest candidates (with the factuals, in one call) and the rest only for the factuals
        whose answer they could change (in one more call): those with no plausible accepted
        candidate among the first. Elsewhere every unscored candidate costs more than the pick
        (``cheapest`` takes ties in), so it could only rank after it: the answers are those of
        scoring everything. A lender's pipeline costs per row as well as per call (``OwnModel``),
        and the cheapest few candidates nearly always hold its pick, so most requests score only
        those."""
        costs = recourse_cost(self.pre, x[:, None, :], cands)
        scored = cheapest(costs, FIRST_SCORED)
        prob = np.zeros(costs.shape)
        both = self.scorer.predict_proba(np.concatenate([x, cands[scored]]))
        prob_before, prob[scored] = both[: len(x)], both[len(x) :]
        denied = np.flatnonzero(prob_before <= DECISION_THRESHOLD)
        bar, prob = issue_bar(cfg), prob[denied]
        ranking = self._judged(Ranking(cands[denied], prob, costs[denied], prob > bar, "cheapest"), cfg)
        rest = ~scored[denied] & ~ranking.settled[:, None]
        if not rest.any():
            return prob_before, denied, ranking
        prob = prob.copy()  # the first ranking keeps its own
        prob[rest] = self.scorer.predict_proba(ranking.candidates[rest])
        return prob_before, denied, replace(ranking, prob=prob, accepted=prob > bar)

    def recourse(
        self,
        x: np.ndarray,
        settings: RecourseSettings | None = None,
        frozen: np.ndarray | None = None,
        seed: int = 0,
        alternatives: int = 0,
        max_step: np.ndarray | None = None,
        known: Known | None = None,
    ) -> RecourseBatch:
        """``frozen`` marks features this request will not change and ``max_step`` how far it may
        move each (``Preprocessor.steps``; both only tighten the schema's); ``alternatives`` asks
        for up to that many further recourses for each factual that is found one; ``known``, a
        dict, is filled with the probabilities minimal answers scored where the scorer's calls cost
        more than their rows (``genre.recourse.minimal.scored`` reads them)."""
        cfg = self.settings if settings is None else resolved(settings, self.classifier)
        rule = _rule(cfg)
        return self._by_rules(x, (rule,), cfg, frozen, seed, alternatives, max_step, known)[rule]

    def by_rules(
        self,
        x: np.ndarray,
        rules: Sequence[Rule],
        settings: RecourseSettings | None = None,
        frozen: np.ndarray | None = None,
        seed: int = 0,
        alternatives: int = 0,
        max_step: np.ndarray | None = None,
    ) -> dict[Rule, RecourseBatch]:
        """What ``recourse`` answers with each of ``rules`` as the selection, from candidates drawn
        and scored once: the rules only rank them differently (evaluation compares the rules on
        the same applicants). Each batch's seconds are the drawing and scoring plus its own ranking."""
        return self._by_rules(
            x,
            rules,
            self.settings if settings is None else resolved(settings, self.classifier),
            frozen,
            seed,
            alternatives,
            max_step,
        )

    def _by_rules(
        self,
        x: np.ndarray,
        rules: Sequence[Rule],
        cfg: RecourseSettings,
        frozen: np.ndarray | None,
        seed: int,
        alternatives: int,
        max_step: np.ndarray | None,
        known: Known | None = None,
    ) -> dict[Rule, RecourseBatch]:
        """``by_rules`` with ``cfg`` resolved already."""
        x = np.asarray(x, dtype=np.float32)
        started = time.perf_counter()
        cheapest_first = self.scorer.score_in_one_call and tuple(rules) == ("cheapest",) and not alternatives
        prob_before, denied, ranking = self._sampled(x, cfg, frozen, seed, max_step, cheapest_first)
        if (cfg.retrieved or cfg.reachable) and self.accepted is not None:
            ranking = ranking.extended(self._retrieved(x[denied], ranking, cfg, frozen, max_step))
        drawn = time.perf_counter() - started
        if self.scorer.score_in_one_call:  # minimal answers' probabilities, kept for the request
            known = {} if known is None else known
        else:
            known = None
        answers = {
            rule: self._answered(x, prob_before, denied, replace(ranking, rule=rule), cfg, alternatives, drawn, known)
            for rule in rules
        }
        surer = cfg.preferred_outlier_factor
        if surer is None or surer >= cfg.max_outlier_factor or ranking.verdicts is None:
            return answers
        return {
            rule: self._surer_where_no_dearer(
                x,
                prob_before,
                denied,
                replace(ranking, rule=rule),
                cfg,
                alternatives,
                drawn,
                answers[rule],
                surer,
                known,
            )
            for rule in rules
        }

    def _surer_where_no_dearer(
        self,
        x: np.ndarray,
        prob_before: np.ndarray,
        denied: np.ndarray,
        ranking: Ranking,
        cfg: RecourseSettings,
        alternatives: int,
        drawn: float,
        first: RecourseBatch,
        factor: float,
        known: Known | None,
    ) -> RecourseBatch:
        """``first``, but for each applicant whose answer is not plausible at ``factor`` (stricter
        than ``max_outlier_factor``), the answer the same candidates give with plausibility judged at
        ``factor``, where that one is plausible at it and asks for no more changes: an answer close
        to the line of plausibility is often one the world's judge calls an outlier, and a person
        loses nothing by the surer one (docs/decisions.md). Each applicant's answer is its own:
        the same alone or in any batch."""
        assert self.plausibility is not None  # verdicts were given: there is a judge
        found = np.flatnonzero(first.found[denied])  # positions among the denied
        near_line = found[self.plausibility.outlier_factor(first.x_plus[denied[found]]) >= factor]
        if not len(near_line):
            return first
        own = denied[near_line]  # the applicants, in the batch
        again = Ranking(
            ranking.candidates[near_line],
            ranking.prob[near_line],
            ranking.costs[near_line],
            ranking.accepted[near_line],
            ranking.rule,
            Verdicts.unjudged(self.plausibility, factor, ranking.candidates[near_line]),
        )
        stricter = cfg.model_copy(update={"max_outlier_factor": factor})
        other = self._answered(
            x[own], prob_before[own], np.arange(len(own)), again, stricter, alternatives, drawn, known
        )
        fewer = changed(other.x, other.x_plus).sum(1) <= changed(other.x, first.x_plus[own]).sum(1)
        pick = np.flatnonzero(other.found & fewer)
        pick = pick[self.plausibility.outlier_factor(other.x_plus[pick]) < factor]
        return first.replaced(own[pick], other, pick, first.seconds + other.seconds - drawn)

    def _answered(
        self,
        x: np.ndarray,
        prob_before: np.ndarray,
        denied: np.ndarray,
        ranking: Ranking,
        cfg: RecourseSettings,
        alternatives: int,
        drawn: float,
        known: Known | None,
    ) -> RecourseBatch:
        """The batch one ranking of the denied factuals' candidates gives (candidates past
        ``cfg.n_candidates`` are retrieved rows), minimal where ``cfg.sparsify``; ``drawn`` is
        what drawing and scoring them took; ``known``: the probabilities minimal answers have
        scored for this request, where the scorer's calls cost more than their rows."""
        started = time.perf_counter()
        x_denied, cands, n_rows = x[denied], ranking.candidates, len(x)
        pick = ranking.pick
        # made minimal, alternatives can come to move what the pick or one another moves: a wider pool is minimised
        pool = min(ALTERNATIVES_POOL * alternatives, cands.shape[1] - 1) if cfg.sparsify else alternatives
        if cfg.sparsify:
            pick = self._fewest_changes(x_denied, ranking, cfg, known)
        best_x, best_found, best_prob, best_cost = (values[:, 0] for values in ranking.take(pick[:, None]))
        if alternatives:
            moves = changed(
                x_denied[:, None, :], cands
            )  # which features each candidate moves: for judging and for variety
            others, valid = diverse(moves, ranking.judged_for(moves, pool).order, ranking.accepted, pool)
        else:
            others, valid = np.zeros((len(denied), 0), dtype=np.int64), np.zeros((len(denied), 0), dtype=bool)
        alt_x, _, alt_prob, alt_cost = ranking.take(others)
        if cfg.sparsify:
            best_x, best_prob, best_cost, alt_x, alt_prob, alt_cost, valid = self._minimal(
                x_denied,
                (best_x, best_found, best_prob),
                (alt_x, valid, alt_prob),
                cfg,
                ranking.rule,
                alternatives,
                known,
            )
        x_plus, found, prob_after, cost_after = (
            _scatter(values, denied, base)
            for values, base in zip(
                (best_x, best_found, best_prob, best_cost), (x, np.zeros(n_rows, bool), prob_before, np.zeros(n_rows))
            )
        )
        status = np.where(prob_before > DECISION_THRESHOLD, "not_needed", np.where(found, "found", "not_found"))
        seconds = drawn + time.perf_counter() - started
        alternatives_found = (
            _scatter(v, denied, np.zeros((n_rows, *v.shape[1:]), v.dtype))
            for v in (alt_x, valid & found[denied, None], alt_prob, alt_cost)
        )
        retrieved = _scatter(pick >= cfg.n_candidates, denied, np.zeros(n_rows, bool)) & (status == "found")
        return RecourseBatch(
            x,
            x_plus,
            status,
            prob_before,
            prob_after,
            cost_after,
            seconds,
            Alternatives(*alternatives_found),
            retrieved,
        )

    def _fewest_changes(
        self, x: np.ndarray, ranking: Ranking, cfg: RecourseSettings, known: Known | None
    ) -> np.ndarray:
        """[N] the candidate to answer with: of the rule's pick and the ``FEWEST_POOL`` - 1 accepted
        candidates its key ranks next, the one that needs the fewest changes once made minimal by
        the bar and the rule, the best-ranked of equals. Two candidates a little apart in cost can
        need two changes or four: a person is asked for fewer. Where plausible candidates come
        first and the pick is plausible, another is taken only once judged plausible too (judging
        only the few that would be taken)."""
        pick, verdicts, key = ranking.pick, ranking.verdicts, ranking.key
        # after the pick in the rule's order (ties: sampling order), whatever has been judged: the
        # verdicts are shared by rules that rank differently (``by_rules``)
        index = np.arange(key.shape[1])
        pick_key = np.take_along_axis(key, pick[:, None], axis=1)
        after = ranking.accepted & ((key > pick_key) | ((key == pick_key) & (index > pick[:, None])))
        pool = np.concatenate(
            [pick[:, None], np.argsort(np.where(after, key, np.inf), axis=1, kind="stable")[:, : FEWEST_POOL - 1]],
            axis=1,
        )
        n, k = pool.shape
        x_plus, _, prob, _ = ranking.take(pool)
        ok = np.concatenate([_take(ranking.accepted, pool[:, :1]), _take(after, pool[:, 1:])], axis=1)
        d = x.shape[1]
        x_rep = np.repeat(x, k, axis=0)
        rule_key = _kept_by(ranking.rule)
        walked, _ = minimal(
            x_rep,
            x_plus.reshape(-1, d),
            prob.reshape(-1),
            ok.reshape(-1),
            self.scorer.predict_proba,
            issue_bar(cfg),
            None,
            rule_key,
            known,
        )
        needed = np.where(ok, changed(x_rep, walked).sum(axis=1).reshape(n, k), np.iinfo(np.int64).max)
        chosen = np.take_along_axis(pool, np.where(ok.any(axis=1), needed.argmin(axis=1), 0)[:, None], axis=1)[
            :, 0
        ]  # first of equals
        if verdicts is not None:
            rows = np.arange(n)
            held = (
                verdicts.known[rows, pick] & verdicts.plausible[rows, pick]
            )  # the pick is plausible: so must the answer be
            ask = np.zeros_like(verdicts.known)
            ask[rows[held], chosen[held]] = True
            verdicts.ask(ask)
            chosen = np.where(held & ~verdicts.plausible[rows, chosen], pick, chosen)
        return chosen

    def _minimal(
        self,
        x: np.ndarray,
        best: tuple[np.ndarray, np.ndarray, np.ndarray],
        pool: tuple[np.ndarray, np.ndarray, np.ndarray],
        cfg: RecourseSettings,
        rule: Rule,
        alternatives: int,
        known: Known | None,
    ) -> tuple[np.ndarray, ...]:
        """The picks (x_plus, found, prob) and a pool of alternatives (x_plus, valid, prob) made
        minimal (``genre.recourse.minimal``) -> the picks (x_plus, prob, cost) and up to
        ``alternatives`` of the pool (x_plus, prob, cost, valid): each moving a set of features the
        pick and the others kept do not, in the rule's order once minimal. The pick is the same
        whatever is asked of alternatives."""
        (best_x, found, best_prob), (alt_x, valid, alt_prob) = best, pool
        judge = None if self.plausibility is None else self._plausible(cfg)
        n, k, d = alt_x.shape
        # reshaped below: typed as arrays of any shape
        both_x: np.ndarray = np.concatenate([best_x[:, None, :], alt_x], axis=1).reshape(-1, d)
        both_prob: np.ndarray = np.concatenate([best_prob[:, None], alt_prob], axis=1).reshape(-1)
        active = np.concatenate([found[:, None], valid & found[:, None]], axis=1).reshape(-1)
        x_rep = np.repeat(x, k + 1, axis=0)
        key = _kept_by(rule)
        both_x, both_prob = minimal(
            x_rep,
            both_x,
            both_prob,
            active,
            self.scorer.predict_proba,
            issue_bar(cfg),
            judge,
            key,
            known,
        )
        costs = recourse_cost(self.pre, x_rep, both_x).reshape(n, k + 1)
        both_x, both_prob = both_x.reshape(n, k + 1, d), both_prob.reshape(n, k + 1)
        chosen, kept = _distinct_alternatives(
            changed(x[:, None, :], both_x),
            valid,
            _primary(both_prob[:, 1:], costs[:, 1:], valid, rule, d),
            alternatives,
        )
        alt_x, alt_prob, alt_cost = (_take(values[:, 1:], chosen) for values in (both_x, both_prob, costs))
        return both_x[:, 0], both_prob[:, 0], costs[:, 0], alt_x, alt_prob, alt_cost, kept

    def _plausible(self, cfg: RecourseSettings) -> Judge:
        """The engine's own plausibility judge as a function of points (``cfg.max_outlier_factor``)."""
        judge = self.plausibility
        assert judge is not None
        return lambda points: judge.outlier_factor(points) < cfg.max_outlier_factor


def _answer_piece(engine: RecourseEngine, x: np.ndarray, options: dict[str, Any]) -> RecourseBatch:
    return engine.recourse(x, **options)


def recourse_in_pieces(
    engine: RecourseEngine, x: np.ndarray, mapper: Mapper, rows_per_piece: int, **options: Any
) -> RecourseBatch:
    """``engine.recourse(x, **options)``, asked ``rows_per_piece`` applicants at a time through
    ``mapper`` (``genre.parallel``) and joined. The answers are the one call's: each applicant's
    draws are seeded by its own values (``row_draws``), never by its place in a batch."""
    calls = (
        {"engine": engine, "x": x[start : start + rows_per_piece], "options": options}
        for start in range(0, max(len(x), 1), rows_per_piece)
    )
    return RecourseBatch.joined(list(mapper(_answer_piece, calls)))


def _confidence(x: np.ndarray, points: np.ndarray, prob: np.ndarray) -> np.ndarray:
    return -prob


def _kept_by(rule: Rule) -> Key | None:
    """What else than the bar a minimal answer keeps changes for: its confidence, under the most
    confident rule (whose answers would otherwise all fall to the bar); nothing under the others,
    where a change the bar does not need is one a person should not be asked for."""
    return _confidence if rule == "most_confident" else None


def _distinct_alternatives(
    moves: np.ndarray, valid: np.ndarray, key: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """[N, 1 + m, d] the features the pick and m pool candidates move, [N, m] which are valid, [N, m]
    the rule's key -> ([N, k] pool indices, [N, k] kept), best key first: valid candidates whose
    set of moved features is neither the pick's nor that of one kept before them in pool order."""
    n, m = valid.shape
    if not m:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=bool)
    signature = np.packbits(moves, axis=-1)
    same = (signature[:, :, None, :] == signature[:, None, :, :]).all(-1)  # [N, 1 + m, 1 + m]
    earlier = np.tril(np.ones((m + 1, m + 1), bool), -1)  # [i, j]: j comes before i
    kept = np.concatenate([np.ones((n, 1), bool), valid], axis=1)
    for i in range(1, m + 1):  # in pool order, so a repeat of a dropped candidate is judged against what was kept
        kept[:, i] &= ~(same[:, i] & earlier[i] & kept).any(-1)
    order = np.lexsort((np.arange(m)[None].repeat(n, 0), np.where(kept[:, 1:], key, np.inf), ~kept[:, 1:]), axis=-1)[
        :, :k
    ]
    return order, _take(kept[:, 1:], order)


def _scatter(values: np.ndarray, rows: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``base`` (the whole batch, as it stands where nothing was sampled) with ``values`` in ``rows``."""
    out = base.copy()
    out[rows] = values
    return out
