"""Stage 5, evaluate: the protocol's metrics for GenRe and NNR on the same factuals, the gaps
between the groups of each immutable feature, the cost/validity trade-off over the sampling
budget, GenRe's figures under each selection rule, the consistency check, and (``recourse.selection:
auto``, ``recourse.plausible_first: auto``) the selection rule and the plausibility preference the
model is packaged with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, get_args

import joblib
import numpy as np
import pandas as pd

from genre.artifacts.atomic import write_json, write_with
from genre.artifacts.metrics_file import write_metrics
from genre.artifacts.paths import Artifacts
from genre.data.datasets import PreparedData, load_prepared
from genre.evaluation.actionability import actionability, most_moved
from genre.evaluation.baselines import nearest_neighbour_recourse
from genre.evaluation.consistency import mean_energy_distance
from genre.evaluation.group_gap import group_gaps
from genre.evaluation.metrics import Judges, fit_plausibility, protocol_score
from genre.messages import InputError
from genre.models.classifiers import DECISION_THRESHOLD, Classifier
from genre.parallel import chunk_runner
from genre.recourse.engine import RecourseBatch, RecourseEngine, issue_bar, recourse_in_pieces
from genre.recourse.incumbent import incumbent
from genre.recourse.pairs import load_pairs, pairing_distribution, split_sources_targets
from genre.recourse.threshold import PAPER_THRESHOLD, auto_threshold, bar_ceiling, rows_wanted
from genre.serving.bundle import engine_from_artifacts
from genre.settings import Rule, Settings

POOL_PER_APPLICANT = 10  # training rows scored per selection applicant wanted: the cost is the same at any data size
# How many standard errors a rule's mean score must beat the paper's rule (cheapest) by, on the
# selection applicants, for auto to answer by it: a rule narrowly ahead on a few hundred applicants
# can fall well behind on the test factuals (docs/decisions.md).
CLEARLY_BETTER = 2.0
PAPER_RULE: Rule = "cheapest"
THRESHOLD_STEPS = (
    7  # thresholds auto tries on each side of the reachable one: down to the decision, up to the paper's 0.9
)
PLOTTED = ("share_changed", "median_change")  # per feature, in plots/evaluate_actionability.csv
SWEPT = (
    "cost",
    "validity_rf",
    "validity_h",
    "lof",
    "score",
    "found_rate",
)  # the figures of each sweep point and selection rule


def choose_factuals(h_test: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Test rows the classifier turns down, a fixed random subset."""
    denied = np.flatnonzero(h_test <= DECISION_THRESHOLD)
    return np.sort(np.random.default_rng(seed).choice(denied, size=min(n, len(denied)), replace=False))


def consistency(
    settings: Settings, engine: RecourseEngine, data: PreparedData, x_targets: np.ndarray
) -> dict[str, float | None]:
    """Energy distance R vs Q and Q vs Q on held-out (test-split) sources."""
    cfg, pcfg = settings.evaluate, settings.synthesize_pairs
    h_test = engine.classifier.predict_proba(data.x_test)
    sources, _ = split_sources_targets(h_test, np.zeros_like(h_test), pcfg.gamma)
    rng = np.random.default_rng(cfg.seed)
    chosen = rng.choice(sources, size=min(cfg.consistency_sources, len(sources)), replace=False)
    q = pairing_distribution(data.x_test[chosen], x_targets, data.preprocessor, pcfg.lam, pcfg.k, pcfg.chunk_size)
    x_src = data.x_test[chosen][q.has_target]
    if not len(
        x_src
    ):  # no held-out source has an admissible target (strict constraints, little data): nothing to compare
        return {"sources": 0, "energy_generator_vs_q": None, "energy_q_vs_q_floor": None}
    m = cfg.consistency_samples
    draws = q.sample(rng, 2 * m)
    q_first, q_second = x_targets[draws[:, :m]], x_targets[draws[:, m:]]
    generated = engine.candidates(x_src, m, temperature=1.0, seed=cfg.seed)
    return {
        "sources": len(x_src),
        "energy_generator_vs_q": mean_energy_distance(generated, q_first),
        "energy_q_vs_q_floor": mean_energy_distance(q_second, q_first),
    }


@dataclass(frozen=True)
class Evaluation:
    """What every method is compared on: the same factuals, classifier, world and plausibility judge."""

    settings: Settings
    data: PreparedData
    engine: RecourseEngine
    judges: Judges
    x_targets: np.ndarray  # the pairs' targets (h > gamma, favourable label): Q's support
    # Training rows h accepts at the threshold GenRe's answers must clear: NNR's candidates, so
    # that its found rate means what GenRe's does (a recourse above the same threshold).
    x_accepted: np.ndarray
    factual_rows: np.ndarray
    selection: dict[str, Any]  # choose_rule's: the rule the engine answers by, and each rule's score

    def nnr(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """NNR's answers; found only where the row, with the applicant's own immutable numbers, still
        clears the bar GenRe's answers must (an unmatched immutable can move the score)."""
        x_plus, found, seconds = nearest_neighbour_recourse(
            x, self.x_accepted, self.data.preprocessor, self.settings.synthesize_pairs.chunk_size
        )
        return x_plus, found & (self.engine.scorer.predict_proba(x_plus) > issue_bar(self.engine.settings)), seconds

    @property
    def x(self) -> np.ndarray:
        return self.data.x_test[self.factual_rows]


def selection_applicants(x_train: np.ndarray, classifier: Classifier, n: int, seed: int) -> np.ndarray:
    """Denied training rows, up to ``n`` of a seeded pool of ``POOL_PER_APPLICANT * n``: whom the
    rule is chosen for, so that the test factuals the metrics report play no part in the choice."""
    pool = x_train[
        np.sort(
            np.random.default_rng(seed).choice(
                len(x_train), size=min(len(x_train), POOL_PER_APPLICANT * n), replace=False
            )
        )
    ]
    return pool[choose_factuals(classifier.predict_proba(pool), n, seed)]


def prepare_evaluation(settings: Settings) -> Evaluation:
    """Everything the methods are judged with, and the engine answering by the threshold and rule
    in use (under ``threshold: auto``, the bar ``choose_threshold`` finds best, under ``selection:
    auto``, the rule ``choose_rule`` does, and under ``plausible_first: auto`` what
    ``choose_plausible_first`` finds; never what an earlier run chose)."""
    cfg = settings.evaluate
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    wanted = settings.recourse
    provisional = wanted.model_copy(
        update={
            "selection": PAPER_RULE if wanted.selection == "auto" else wanted.selection,
            "plausible_first": wanted.plausible_first is not False,  # auto: bar and rule chosen as it would answer
        }
    )
    engine = engine_from_artifacts(paths, provisional)
    forest = joblib.load(paths.ground_truth)
    plausibility = fit_plausibility(
        np.vstack([data.x_train, data.x_test]), forest, cfg.lof_neighbors, cfg.plausibility_rows, cfg.seed
    )
    _, targets, _ = load_pairs(paths.pairs)
    rows = choose_factuals(engine.classifier.predict_proba(data.x_test), cfg.n_factuals, cfg.seed)
    judges = Judges(data.preprocessor, forest, engine.classifier, plausibility)
    ev = Evaluation(
        settings, data, engine, judges, data.x_train[targets], np.zeros((0, data.x_train.shape[1])), rows, {}
    )
    applicants = selection_applicants(data.x_train, engine.classifier, cfg.selection_applicants, cfg.seed)
    held = incumbent()
    selection: dict[str, Any] = {"incumbent": held}
    if wanted.threshold == "auto":  # package carries the chosen threshold as it does the rule
        bars = threshold_bars(engine, wanted.margin, cfg.min_rows_above_bar)
        if held is not None and "threshold" in held:
            bars = kept_first(bars, held["threshold"])
        selection |= choose_threshold(ev, applicants, bars)
        if held is not None and bars[0] == held.get("threshold"):
            selection = kept(selection, "threshold", held["threshold"])
        engine = engine.with_settings(engine.settings.model_copy(update={"threshold": selection["threshold"]}))
    assert engine.accepted is not None  # the workspace's bundle holds the accepted rows (train_classifier)
    ev = replace(
        ev, engine=engine, x_accepted=engine.accepted.above(issue_bar(engine.settings))
    )  # NNR answers from the rows GenRe could issue
    selection = choose_rule(ev, applicants) | selection
    if held is not None and "selection" in held and wanted.selection == "auto":
        selection = kept(selection, "rule", held["selection"])
    ev = replace(ev, engine=engine.with_settings(engine.settings.model_copy(update={"selection": selection["rule"]})))
    selection |= choose_plausible_first(ev, applicants, wanted.plausible_first)
    if held is not None and "plausible_first" in held and wanted.plausible_first == "auto":
        selection = kept(selection, "plausible_first", held["plausible_first"])
    return replace(
        ev,
        engine=ev.engine.with_settings(
            ev.engine.settings.model_copy(update={"plausible_first": selection["plausible_first"]})
        ),
        selection=selection,
    )


def judged(ev: Evaluation, batch: RecourseBatch) -> dict[str, float]:
    """The protocol's figures for GenRe's answers ``batch``."""
    return ev.judges.score(batch.x, batch.x_plus, batch.seconds, batch.found)


def by_rule(ev: Evaluation, x: np.ndarray) -> dict[Rule, RecourseBatch]:
    """GenRe's answers to ``x`` under every selection rule: one drawing of candidates, ranked by each."""
    return ev.engine.by_rules(x, get_args(Rule), seed=ev.settings.evaluate.seed)


def score_at(ev: Evaluation, **recourse: Any) -> dict[str, float]:
    """GenRe judged on the evaluation's factuals with some recourse settings changed: one point
    of a sweep over candidates, temperature and the like."""
    return judged(
        ev,
        ev.engine.recourse(
            ev.x, settings=ev.engine.settings.model_copy(update=recourse), seed=ev.settings.evaluate.seed
        ),
    )


def row_scores(ev: Evaluation, batch: RecourseBatch) -> np.ndarray:
    """The protocol score of each of ``batch``'s answers."""
    rows = ev.judges.per_row(batch.x, batch.x_plus, batch.found)
    return protocol_score(rows["validity_rf"], rows["lof"], rows["cost"], batch.x.shape[1])


def standard_errors_ahead(rule: np.ndarray, paper: np.ndarray) -> float:
    """How many standard errors of the paired difference ``rule``'s mean score is above
    ``paper``'s (row scores of the same applicants; 0 for fewer than two)."""
    diff = rule - paper
    if len(diff) < 2:
        return 0.0
    return float(diff.mean() / max(diff.std(ddof=1) / np.sqrt(len(diff)), 1e-12))


def clearly_best(per_row: dict[Any, np.ndarray], baseline: Any) -> Any:
    """The option whose row scores (the same applicants for each) have the best mean, where it
    beats ``baseline``'s by ``CLEARLY_BETTER`` standard errors of the paired difference; else
    ``baseline`` (also where nothing was scored)."""
    if not per_row:
        return baseline
    best = max(per_row, key=lambda option: float(per_row[option].mean()))
    return (
        best
        if best == baseline or standard_errors_ahead(per_row[best], per_row[baseline]) >= CLEARLY_BETTER
        else baseline
    )


def choose_rule(ev: Evaluation, x: np.ndarray) -> dict[str, Any]:
    """Each selection rule's score (the protocol's) for ``x``, the selection applicants, and the rule to
    answer by: under ``recourse.selection: auto`` the best of them where it beats the paper's rule,
    the cheapest, by ``CLEARLY_BETTER`` standard errors on the same applicants, else the cheapest;
    a rule that is set is kept. Which rule scores best depends on the data: the cheapest answer
    sits just past the threshold, where a classifier that cannot be very sure is most often wrong
    about the world, and on such data a surer one is worth its cost (own_model's
    heloc_imbalanced; on Adult it is not). So it is measured for each model rather than fixed for
    all; where the classifier denies no training row to measure it on, auto takes the cheapest."""
    per_row = {rule: row_scores(ev, batch) for rule, batch in by_rule(ev, x).items()} if len(x) else {}
    scores = {rule: float(values.mean()) for rule, values in per_row.items()}
    ahead = {
        rule: standard_errors_ahead(values, per_row[PAPER_RULE])
        for rule, values in per_row.items()
        if rule != PAPER_RULE
    }
    best = clearly_best(per_row, PAPER_RULE)
    wanted = ev.settings.recourse.selection
    return {
        "rule": best if wanted == "auto" else wanted,
        "auto": wanted == "auto",
        "applicants": len(x),
        "scores": scores,
        "standard_errors_ahead_of_cheapest": ahead,
    }


def threshold_bars(engine: RecourseEngine, margin: float, min_rows: int | str) -> list[float]:
    """The thresholds ``auto`` chooses among, the one most of the denied can reach first
    (``genre.recourse.threshold``), then ``THRESHOLD_STEPS`` from the classifier's own decision up
    to it and as many from it up to the paper's 0.9, none putting the bar where fewer than
    ``evaluate.min_rows_above_bar`` approved training rows clear it. The reach is estimated from
    training rows, which an immutable number kept but not matched can make look nearer than they are."""
    assert engine.accepted is not None  # the workspace's bundle holds the accepted rows (train_classifier)
    ceiling = bar_ceiling(engine.accepted.h, rows_wanted(min_rows, len(engine.accepted.h)))
    reach = auto_threshold(engine.classifier.reachable, margin, ceiling)
    high = auto_threshold(PAPER_THRESHOLD + margin, margin, ceiling)
    assert reach is not None and high is not None  # the engine resolved auto already: the classifier approves some rows
    low = min(reach, DECISION_THRESHOLD)
    others = {
        float(t)
        for t in (*np.linspace(low, reach, THRESHOLD_STEPS), *np.linspace(reach, max(high, reach), THRESHOLD_STEPS))
    } - {reach}
    return [reach, *sorted(others)]


def kept_first(bars: list[float], production: float) -> list[float]:
    """``bars`` with production's threshold first, where it lies among them (so it is scored beside
    the others, and kept: ``kept``); ``bars`` as they are where this classifier cannot use it."""
    if not min(bars) <= production <= max(bars):
        return bars
    return [production, *(t for t in bars if t != production)]


def kept(chosen: dict[str, Any], name: str, production: Any) -> dict[str, Any]:
    """``chosen`` with production's ``name`` in force, and what evaluate would have chosen afresh
    beside it (``<name>_afresh``). A retraining run keeps what production answers by: a bar, a rule
    or a preference that moved would change what every denied person is told, a decision for a
    person (``dvc repro`` by hand chooses afresh, and ``genre production promote --gate`` judges the
    result), not for a scheduled run; on honest retrains the choices flipped on near ties and the
    gate refused the changes they made to groups' costs."""
    return chosen | {name: production, f"{name}_afresh": chosen[name]}


def choose_threshold(ev: Evaluation, x: np.ndarray, bars: list[float]) -> dict[str, Any]:
    """The threshold to answer by under ``threshold: auto``, and each candidate's mean score on
    ``x``, the selection applicants: the reachable one (the first of ``bars``) unless another
    beats it by ``CLEARLY_BETTER`` standard errors. A bar most of the denied can reach is still
    one a classifier that cannot be very sure there is often wrong at: with the constraints a
    person would accept, the reachable bar is low, and an answer just past it is one the world
    turns down more often; a higher bar is surer where it still finds. Where the reach was
    overestimated, a lower bar finds more. Not-found applicants count as invalid, so a bar too
    high for them loses what it gains."""
    per_bar = (
        {
            t: row_scores(
                ev,
                ev.engine.recourse(
                    x, settings=ev.engine.settings.model_copy(update={"threshold": t}), seed=ev.settings.evaluate.seed
                ),
            )
            for t in bars
        }
        if len(x)
        else {}
    )
    return {
        "threshold": clearly_best(per_bar, bars[0]),
        "threshold_scores": {f"{t:.4f}": float(v.mean()) for t, v in per_bar.items()},
    }


def choose_plausible_first(ev: Evaluation, x: np.ndarray, wanted: bool | str) -> dict[str, Any]:
    """Whether plausible candidates are chosen first (``genre.recourse.plausibility``), by the rule
    in use, and the mean score of ``x``, the selection applicants, each way: under ``auto`` the
    preference is kept where it scores higher. It trades cost (and at times validity) for
    plausibility, and which way it falls depends on the data: where the classifier approves too few
    training rows to tell plausible from not, it can lower validity and the score."""
    engine = ev.engine
    scores = {}
    for first in (False, True):
        answers = engine.with_settings(engine.settings.model_copy(update={"plausible_first": first})).recourse(
            x, seed=ev.settings.evaluate.seed
        )
        scores[first] = float(row_scores(ev, answers).mean()) if len(x) else 0.0
    chosen = scores[True] > scores[False] if wanted == "auto" else bool(wanted)
    return {"plausible_first": chosen, "plausible_first_scores": {"on": scores[True], "off": scores[False]}}


def swept(scored: dict[str, float]) -> dict[str, float]:
    """The figures a sweep point or a selection rule is reported with."""
    return {k: scored[k] for k in SWEPT}


def run(settings: Settings) -> dict[str, Any]:
    cfg = settings.evaluate
    paths = Artifacts(settings.root)
    ev = prepare_evaluation(settings)
    pre, engine, judges, x = ev.data.preprocessor, ev.engine, ev.judges, ev.x
    with chunk_runner(settings.runner, "recourse-piece") as mapper:
        sampled = recourse_in_pieces(engine, x, mapper, settings.runner.chunk_rows, seed=cfg.seed)
    nnr_plus, nnr_found, nnr_seconds = ev.nnr(x)
    genre_rows, nnr_rows = (
        judges.per_row(x, sampled.x_plus, sampled.found),
        judges.per_row(x, nnr_plus, nnr_found),
    )  # each judged once: means and group gaps
    metrics: dict[str, Any] = {
        "threshold": engine.settings.threshold,
        "margin": engine.settings.margin,
        "selection": engine.settings.selection,
        "plausible_first": engine.settings.plausible_first,
        # the training applicants' scores per rule, and with the plausibility preference and without
        "selection_chosen_on": {k: v for k, v in ev.selection.items() if k not in ("rule", "plausible_first")},
        # every selection rule on the same factuals, the one in use among them: what to choose by
        "selection_rules": {rule: swept(judged(ev, batch)) for rule, batch in by_rule(ev, x).items()},
        "genre": {
            **judges.score(x, sampled.x_plus, sampled.seconds, sampled.found, genre_rows),
            # which candidates won: the share of found answers that are retrieved training rows
            "retrieved_share": float(sampled.retrieved.sum() / max(sampled.found.sum(), 1)),
        },
        "nnr": judges.score(x, nnr_plus, nnr_seconds, nnr_found, nnr_rows),
        "consistency": consistency(settings, engine, ev.data, ev.x_targets),
        # LOF judges plausibility from at most evaluate.plausibility_rows favourable rows: how many it saw
        "plausibility_rows": int(judges.lof.n_samples_fit_),
        "factuals": len(x),
        "group_gap": {
            "genre": group_gaps(pre, x, genre_rows, sampled.found, cfg.min_group_factuals),
            "nnr": group_gaps(pre, x, nnr_rows, nnr_found, cfg.min_group_factuals),
        },
    }

    sweeps: dict[str, tuple[str, Sequence[float]]] = {
        "evaluate_candidates": ("n_candidates", cfg.sweep_candidates),
        "evaluate_temperature": ("temperature", cfg.sweep_temperatures),
    }
    for plot, (key, values) in sweeps.items():
        rows = []
        for value in values:
            rows.append({key: value, **swept(score_at(ev, **{key: value}))})
        frame = pd.DataFrame(rows)
        write_with(paths.plot(plot), partial(frame.to_csv, index=False))

    factuals_raw = ev.data.test_raw.iloc[ev.factual_rows].reset_index(drop=True)
    recourses_raw = pre.inverse_transform(sampled.x_plus).add_suffix("__recourse")
    table = pd.concat([factuals_raw, recourses_raw], axis=1).assign(
        status=sampled.status, cost=sampled.cost, prob_before=sampled.prob_before, prob_after=sampled.prob_after
    )
    write_with(paths.recourses, lambda tmp: table.to_csv(tmp, index=False))
    write_json(paths.selection, ev.selection)  # what package carries into the bundle
    moved = actionability(pre, x, sampled.x_plus, sampled.found)
    write_json(paths.actionability, moved)
    frame = pd.DataFrame(
        [
            {"feature": name, **{k: v for k, v in figures.items() if k in PLOTTED}}
            for name, figures in moved["features"].items()
        ]
    )
    write_with(paths.plot("evaluate_actionability"), lambda tmp: frame.to_csv(tmp, index=False))
    print(most_moved(moved))
    failures = gate(metrics["genre"]["found_rate"], len(ev.x_accepted), issue_bar(engine.settings), cfg.min_found_rate)
    failures += one_answer_for_many(metrics["genre"]["largest_answer_share"], cfg.max_answer_share, len(ev.x_accepted))
    metrics.update(training_rows_above_threshold=len(ev.x_accepted), passed=not failures)
    write_metrics(paths, "evaluate", metrics)  # a failed evaluation's figures too: `dvc metrics show` shows why
    if failures:
        raise InputError("\n".join(f"evaluate: {f}; the model is not packaged" for f in failures))
    return metrics


def one_answer_for_many(share: float, most: float, rows_above_bar: int) -> list[str]:
    """Why this model must not be served, if one same answer goes to too many applicants."""
    if share <= most:
        return []
    return [
        (
            f"one same answer was given to {share:.1%} of the applicants found one, above "
            f"evaluate.max_answer_share = {most} ({rows_above_bar} training rows clear the bar: "
            "raise evaluate.min_rows_above_bar or lower recourse.threshold)"
        )
    ]


def gate(found_rate: float, accepted: int, threshold: float, floor: float) -> list[str]:
    """Why this model must not be served, if it must not: recourse it could rarely give."""
    failures = []
    if accepted == 0:
        failures.append(
            f"no training row clears the threshold {threshold:.3f} (recourse.threshold + recourse.margin), "
            "so no recourse can be shown to reach it"
        )
    if found_rate < floor:
        failures.append(
            f"GenRe found a recourse for {found_rate:.3f} of the denied test applicants, "
            f"below evaluate.min_found_rate = {floor} (threshold {threshold:.3f})"
        )
    return failures
