"""Champion against challenger: may a retrained model replace the one in production?

Both are judged by the same judges, on the same gate set (the held-out applicants the champion
turns down, a fixed random subset): a ground-truth forest and plausibility model fitted on the
rows the champion was trained on (the sample its bundle carries), in the champion's feature
space. That is data production already trusts, never a batch still on trial, and the judges stay
the same for every challenger the champion meets (fitted once, kept in ``registry/judges/``), so
the champion's own figures do not move from one gate to the next. Each model answers in its own
feature space; the answers are judged in the champion's. Beside the protocol's figures, two that
recourse tools do not report:

* **promises kept**: of the recourses the champion gives on the gate set, and of those production
  actually issued (the service's answer log), the share the challenger's classifier still
  approves. A retrained model that turns down people who did what we told them has broken a
  promise (recourse invalidation under model updates);
* **group gaps** (``genre.evaluation.group_gap``): a challenger must not widen them.

Promises are kept more often when recourses are issued with headroom above the threshold
(``recourse.margin``), at some cost to the person. So that an operator can choose it on evidence,
the gate also answers its set with the champion at each of ``gate.margins`` and reports, per
margin, the found rate, the mean cost and the share of those recourses the challenger accepts.

Beside recourse, the classifier itself: both models rank the workspace's held-out test rows, a set
fixed across runs, and the challenger's AUC may not fall below the champion's (a poisoned batch
wrecks the classifier before it shows in recourse).

The rules and their tolerances are the ``gate`` section of ``params.yaml``. Each comparison with
the champion is judged with a paired bootstrap interval (``genre.retraining.bootstrap``): a rule
fails only where the challenger is worse beyond the noise of a few hundred applicants. The champion
is one draw of its training, and after a few promotions a lucky one: where the challenger falls
short of it, the run judges it also against the champion and its sibling averaged
(``genre.retraining.sibling``), what the champion gives luck aside. Each rule is reported with its
value, its limit, its interval, what it was compared with and its verdict, and the challenger is
promoted only if every rule passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from genre.artifacts.atomic import atomic_path
from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_prepared, read_raw
from genre.data.preprocessing import Preprocessor
from genre.evaluation.group_gap import GAP_FIGURES, group_gaps
from genre.evaluation.metrics import Judges, fit_plausibility, protocol_score
from genre.models.classifiers import DECISION_THRESHOLD
from genre.models.ground_truth import fit_ground_truth
from genre.recourse.engine import RecourseBatch, RecourseEngine, issue_bar
from genre.retraining.bootstrap import auc_difference, gap_change, mean_difference, resamples, share_upper_bound
from genre.serving.answer_log import read_answers
from genre.serving.production import REFERENCE, model_path
from genre.settings import Settings

Judged = tuple[dict[str, Any], dict[str, np.ndarray]]  # a model's figures on some applicants, and each one's
JUDGES = Path("registry/judges")  # under the project's root: each champion's judges, fitted once


@dataclass(frozen=True)
class GateRule:
    name: str
    value: float | None
    limit: float
    passed: bool
    # the interval the verdict was read from: of the difference from the champion, or of the value
    interval: tuple[float, float] | list[float] | None = None
    # whose figures the limit and interval come from: the champion's, or (where the challenger fell
    # short of the champion's) those production is expected to give, averaged with its sibling's
    against: str = "champion"

    def said(self) -> str:
        sure = "" if self.interval is None else f"; interval {shown(self.interval[0])} to {shown(self.interval[1])}"
        whose = " against production and its sibling, averaged" if self.against == "expected" else ""
        verdict = "pass" if self.passed else "FAIL"
        return f"{verdict} {self.name}: {shown(self.value)} (limit {self.limit:.4g}{sure}{whose})"


class _Seen:
    """A contender's classifier over rows of the workspace's feature space: each model has its
    own (ranges fitted on its own data), so a row is taken to raw units and into the model's."""

    score_in_one_call = False

    def __init__(self, engine: RecourseEngine, space: Preprocessor) -> None:
        self.engine, self.space = engine, space
        self.reachable = engine.classifier.reachable

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.engine.scorer.predict_proba(self.engine.pre.transform(self.space.inverse_transform(x)))

    def scorer(self) -> _Seen:
        return self


def promises_kept(issued: pd.DataFrame, challenger: RecourseEngine) -> float | None:
    """Share of issued recourses (raw rows) the challenger's classifier approves: the decision the
    person was promised, not the challenger's recourse bar (``threshold: auto`` moves that bar from
    one model to the next, and a person above the decision is approved whatever it is); None when
    none were issued."""
    if issued.empty:
        return None
    prob = challenger.scorer.predict_proba(challenger.pre.transform(issued))
    return float(np.mean(prob > DECISION_THRESHOLD))


def promises_by_margin(
    champion: RecourseEngine,
    challenger: RecourseEngine,
    gate_rows: pd.DataFrame,
    margins: list[float],
    seed: int,
    own: RecourseBatch | None = None,
) -> list[dict[str, Any]]:
    """The champion's answers to ``gate_rows`` issued at each margin (its own among them, and none
    whose bar reaches 1) -> per margin the found rate, the mean cost of the recourses found (the
    champion's own cost units) and the share the challenger accepts. ``own``: its answers at its
    own margin, where the caller has them already (the same, with the same seed)."""
    table = []
    for margin in sorted({*margins, champion.settings.margin}):
        cfg = champion.settings.model_copy(update={"margin": margin})
        if issue_bar(cfg) >= 1:
            continue
        if own is not None and margin == champion.settings.margin:
            batch = own
        else:
            batch = champion.recourse(champion.pre.transform(gate_rows), settings=cfg, seed=seed)
        given = champion.pre.inverse_transform(batch.x_plus)[batch.found].reset_index(drop=True)
        cost = float(batch.cost[batch.found].mean()) if batch.found.any() else None
        table.append(
            {
                "margin": margin,
                "found_rate": float(batch.found.mean()),
                "cost": cost,
                "promises_kept": promises_kept(given, challenger),
            }
        )
    return table


def _answered(engine: RecourseEngine, gate_rows: pd.DataFrame, seed: int) -> tuple[Any, pd.DataFrame]:
    """The engine's answers to the gate set, and its recourses (or the applicant) in raw units."""
    batch = engine.recourse(engine.pre.transform(gate_rows), seed=seed)
    return batch, engine.pre.inverse_transform(batch.x_plus)


def _judged(
    engine: RecourseEngine,
    found: np.ndarray,
    seconds: float,
    answered: pd.DataFrame,
    gate_rows: pd.DataFrame,
    judges: Judges,
    min_group: int,
) -> Judged:
    """The answers to ``gate_rows`` judged in the workspace's feature space (the engine's own
    classifier for validity under h); -> the figures, and each applicant's (``score`` and
    ``found_rate`` among them, for the bootstrap)."""
    space = judges.pre
    judges = replace(judges, classifier=_Seen(engine, space))
    x, x_plus = space.transform(gate_rows), space.transform(answered)
    rows = judges.per_row(x, x_plus, found)
    figures: dict[str, Any] = judges.score(x, x_plus, seconds, found, rows)
    figures["group_gap"] = group_gaps(space, x, rows, found, min_group)
    rows["score"] = protocol_score(rows["validity_rf"], rows["lof"], rows["cost"], x.shape[1])
    rows["found_rate"] = np.asarray(found, float)
    return figures, rows


def gate_set(champion: RecourseEngine, applicants: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    """Up to ``size`` of ``applicants`` (raw) the champion denies, a random subset in their order."""
    denied = np.flatnonzero(champion.scorer.predict_proba(champion.pre.transform(applicants)) <= DECISION_THRESHOLD)
    return applicants.iloc[np.sort(rng.choice(denied, size=min(size, len(denied)), replace=False))].reset_index(
        drop=True
    )


def trusted_judges(settings: Settings, champion_tag: str, champion: RecourseEngine) -> tuple[Any, Any]:
    """The ground-truth forest and plausibility model fitted on the rows ``champion`` was trained
    on, in its feature space; fitted once per champion and kept under ``registry/judges/``."""
    kept = Path(settings.root) / JUDGES / f"{champion_tag.replace(':', '-')}.joblib"
    if kept.is_file():
        return joblib.load(kept)
    schema = champion.pre.schema
    rows = read_raw(model_path(champion_tag) / REFERENCE, schema)
    x = champion.pre.transform(rows[schema.feature_names])
    y = (rows[schema.target.name].to_numpy() == schema.target.favourable).astype(np.int64)
    forest = fit_ground_truth(x, y, settings.train_classifier)
    ev = settings.evaluate
    judges = (forest, fit_plausibility(x, forest, ev.lof_neighbors, ev.plausibility_rows, ev.seed))
    with atomic_path(kept) as tmp:
        joblib.dump(judges, tmp, compress=3)
    return judges


def compare(
    settings: Settings,
    champion: RecourseEngine,
    challenger: RecourseEngine,
    log_dir: Path | None,
    newcomers: pd.DataFrame | None = None,
    champion_tag: str | None = None,
    sibling: Callable[[], RecourseEngine | None] | None = None,
) -> dict[str, Any]:
    """Both models on the gate set (held-out applicants the champion denies, and up to as many
    from ``newcomers``, the new batches' rows), the promises kept, and every rule with its verdict.
    Judged by ``trusted_judges`` of ``champion_tag`` where its bundle carries its training rows;
    otherwise (a model packaged without them) by the workspace's forest and plausibility model.
    ``sibling``: gets production's own retrain (``genre.retraining.sibling``), called only where a
    rule fails against the champion (it may train one); a comparison the challenger fails against
    the champion passes if it passes against what production is expected to give, luck aside
    (``_expected``: each applicant's figures averaged over the two, where all three models deny);
    the classifier's AUC is compared with the champion's alone."""
    cfg = settings.gate
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    if champion_tag is not None and (model_path(champion_tag) / REFERENCE).is_file():
        space = champion.pre
        forest, plausibility = trusted_judges(settings, champion_tag, champion)
        judged_by = f"judges fitted on the training rows of {champion_tag} (production)"
    else:
        space = data.preprocessor
        forest = joblib.load(paths.ground_truth)
        plausibility = fit_plausibility(
            np.vstack([data.x_train, data.x_test]),
            forest,
            settings.evaluate.lof_neighbors,
            settings.evaluate.plausibility_rows,
            settings.evaluate.seed,
        )
        judged_by = "the workspace's forest and plausibility model (the champion carries no training rows)"
    judges = Judges(space, forest, _Seen(challenger, space), plausibility)
    features = space.schema.feature_names
    rng = np.random.default_rng(cfg.seed)
    held_out = gate_set(champion, data.test_raw[features], cfg.applicants, rng)
    new = (
        gate_set(champion, newcomers[features], cfg.applicants, rng)
        if newcomers is not None and len(newcomers)
        else held_out.iloc[:0]
    )
    gate_rows = pd.concat([held_out, new], ignore_index=True)

    engines = {"champion": champion, "challenger": challenger}
    answers = {name: _answered(engine, gate_rows, cfg.seed) for name, engine in engines.items()}

    def judged_where(mask: np.ndarray, names: tuple[str, ...]) -> dict[str, Judged]:
        """Each of ``names``' answers judged on the gate rows ``mask`` keeps."""
        out = {}
        for name in names:
            batch, answered = answers[name]
            kept_answered, kept_rows = (frame[mask].reset_index(drop=True) for frame in (answered, gate_rows))
            out[name] = _judged(
                engines[name],
                batch.found[mask],
                batch.seconds,
                kept_answered,
                kept_rows,
                judges,
                settings.evaluate.min_group_factuals,
            )
        return out

    def denies(name: str) -> np.ndarray:
        return answers[name][0].status != "not_needed"

    # Recourse is compared where both models deny: an applicant the challenger approves outright
    # needs none from it (counted apart), and would enter its figures at cost 0, judged as denied.
    both = denies("champion") & denies("challenger")
    judged = judged_where(both, ("champion", "challenger"))
    champion_batch, champion_answers = answers["champion"]
    champion_given = champion_answers[champion_batch.found].reset_index(
        drop=True
    )  # every promise it made, both-denied or not
    issued = _issued(log_dir, cfg.promise_days, space) if log_dir is not None else pd.DataFrame()
    kept = {
        "gate_set": promises_kept(champion_given, challenger),
        "issued": promises_kept(issued, challenger),
        "issued_count": len(issued),
    }
    promises = {
        where: None if share is None else share_upper_bound(share, count, cfg.confidence)
        for where, share, count in (
            ("gate_set", kept["gate_set"], len(champion_given)),
            ("issued", kept["issued"], len(issued)),
        )
    }
    quality = _classifier_quality(settings, data, champion, challenger)

    def rules_against(reference: Judged, contender: Judged, rows: pd.DataFrame) -> list[GateRule]:
        """Every rule, the ``contender`` judged against ``reference`` on the applicants ``rows``."""
        (figures, per_row), (contender_figures, contender_rows) = reference, contender
        sure = _intervals(settings, per_row, contender_rows, figures, rows) | {"promises_kept": promises}
        return _rules(figures, contender_figures, kept, sure, quality, settings)

    rules = rules_against(judged["champion"], judged["challenger"], gate_rows[both].reset_index(drop=True))
    twin = sibling() if sibling is not None and not all(rule.passed for rule in rules) else None
    extra: dict[str, Any] = {}
    if twin is not None:  # where all three deny: the champion's verdicts above stand as they were
        engines["sibling"], answers["sibling"] = twin, _answered(twin, gate_rows, cfg.seed)
        kept["sibling_gate_set"] = promises_kept(champion_given, twin)  # what production's own retrain keeps
        every = both & denies("sibling")
        three = judged_where(every, ("champion", "challenger", "sibling"))
        rows = gate_rows[every].reset_index(drop=True)
        expected = _expected(three["champion"], three["sibling"], space.transform(rows), space, settings)
        also = {rule.name: rule for rule in rules_against(expected, three["challenger"], rows)}
        rules = [  # a comparison production's luck alone could fail passes against what it expects
            replace(also[rule.name], against="expected")
            if not rule.passed and rule.name in also and also[rule.name].passed
            else rule
            for rule in rules
        ]
        judged["sibling"] = three["sibling"]
        extra["judged_with_sibling"] = int(every.sum())
    found = {name: judged[name][1]["found_rate"].astype(bool) for name in ("champion", "challenger")}
    return {
        "gate_set": len(gate_rows),
        "gate_set_new": len(new),
        "judged": int(both.sum()),
        "approved_outright": int(np.sum(answers["challenger"][0].status == "not_needed")),
        "costs": {
            name: [float(c) for c in judged[name][1]["cost"][found[name]]] for name in ("champion", "challenger")
        },
        "classifier_quality": quality,
        "judges": judged_by,
        "figures": {name: figures for name, (figures, _) in judged.items()},
        "promises_kept": kept,
        "promises_by_margin": promises_by_margin(
            champion, challenger, gate_rows, cfg.margins, cfg.seed, champion_batch
        ),
        "rules": [rule.__dict__ for rule in rules],
        "passed": all(rule.passed for rule in rules),
    } | extra


def _expected(champion: Judged, sibling: Judged, x: np.ndarray, space: Preprocessor, settings: Settings) -> Judged:
    """What production is expected to do, luck aside: each applicant's figures averaged over
    production and its sibling (two draws of the same training), and the figures the rules read
    (score, found rate, group gaps) taken from those averages."""
    rows = {name: (champion[1][name] + sibling[1][name]) / 2 for name in champion[1]}
    figures = {
        "score": float(rows["score"].mean()),
        "found_rate": float(rows["found_rate"].mean()),
        "group_gap": group_gaps(space, x, rows, rows["found_rate"], settings.evaluate.min_group_factuals),
    }
    return figures, rows


def _intervals(
    settings: Settings,
    champion: dict[str, np.ndarray],
    challenger: dict[str, np.ndarray],
    champion_figures: dict[str, Any],
    rows: pd.DataFrame,
) -> dict[str, Any]:
    """Paired bootstrap intervals, on the applicants both models were judged on: of the score's
    difference, and of each group gap's change (over the groups large enough to count). The gap
    rules are many (each immutable feature times each figure), and a challenger fails if any one
    does, so their intervals are widened for the family (Bonferroni): at 95% each, fifteen rules
    refuse an equal challenger far more often than one in twenty."""
    cfg = settings.gate
    weights = resamples(len(rows), cfg.draws, cfg.seed)
    score = mean_difference(champion["score"], challenger["score"], weights, cfg.confidence)
    counted = {
        feature: [g for g, held in gap["groups"].items() if held["factuals"] >= settings.evaluate.min_group_factuals]
        for feature, gap in champion_figures["group_gap"].items()
    }
    counted = {feature: groups for feature, groups in counted.items() if len(groups) >= 2}
    family = 1.0 - (1.0 - cfg.confidence) / max(1, len(counted) * len(GAP_FIGURES))
    gaps: dict[str, dict[str, list[float]]] = {}
    for feature, groups in counted.items():
        labels = rows[feature].astype(str).to_numpy()
        gaps[feature] = {
            figure: list(gap_change(labels, groups, champion[figure], challenger[figure], weights, family))
            for figure in GAP_FIGURES
        }
    found = mean_difference(champion["found_rate"], challenger["found_rate"], weights, cfg.confidence)
    return {"score_difference": list(score), "found_rate_difference": list(found), "group_gap_change": gaps}


def _classifier_quality(
    settings: Settings, data: Any, champion: RecourseEngine, challenger: RecourseEngine
) -> dict[str, Any]:
    """Both classifiers' AUC on the workspace's held-out test rows (a seeded sample of
    ``gate.quality_rows``, the same every run) and the interval of their difference."""
    cfg = settings.gate
    labels = data.observed_labels("test")
    rng = np.random.default_rng(cfg.seed)
    rows = np.sort(rng.choice(len(labels), size=min(cfg.quality_rows, len(labels)), replace=False))
    raw = data.test_raw[data.preprocessor.schema.feature_names].iloc[rows]
    prob = {
        name: e.scorer.predict_proba(e.pre.transform(raw))
        for name, e in (("champion", champion), ("challenger", challenger))
    }
    if labels[rows].min() == labels[rows].max():
        return {"rows": len(rows), "auc": None}
    before, after, diff, low, high = auc_difference(
        labels[rows], prob["champion"], prob["challenger"], cfg.draws, cfg.seed, cfg.confidence
    )
    return {"rows": len(rows), "auc": {"champion": before, "challenger": after}, "difference": [diff, low, high]}


def _issued(log_dir: Path, days: int, space: Preprocessor) -> pd.DataFrame:
    """The recourses production issued in the last ``days`` days (the service's answer log), each
    promise once: a person who asked again and was told the same is one promise, not many (counted
    many times, a few people asking often would narrow the promises' interval to nothing)."""
    since = datetime.now(UTC) - timedelta(days=days)
    promises = {
        json.dumps([entry["applicant"], entry["recourse"]], sort_keys=True, default=str): entry["recourse"]
        for entry in read_answers(log_dir, since)
        if entry.get("status") == "found"
    }
    given = list(promises.values())
    return pd.DataFrame(given, columns=space.schema.feature_names) if given else pd.DataFrame()


def _rules(
    champion: dict[str, Any],
    challenger: dict[str, Any],
    kept: dict[str, Any],
    sure: dict[str, Any],
    quality: dict[str, Any],
    settings: Settings,
) -> list[GateRule]:
    """Every rule's verdict; a comparison with the champion fails only beyond its interval."""
    cfg = settings.gate
    _, low, high = sure["score_difference"]
    rules = [
        GateRule(
            "score not below the champion's minus gate.score_tolerance, beyond the noise",
            challenger["score"],
            champion["score"] - cfg.score_tolerance,
            high >= -cfg.score_tolerance,
            (low, high),
        ),
        GateRule(
            "found rate at least evaluate.min_found_rate",
            challenger["found_rate"],
            settings.evaluate.min_found_rate,
            challenger["found_rate"] >= settings.evaluate.min_found_rate,
        ),
        GateRule(
            "found rate not below the champion's minus gate.found_rate_tolerance, beyond the noise",
            challenger["found_rate"],
            champion["found_rate"] - cfg.found_rate_tolerance,
            sure["found_rate_difference"][2] >= -cfg.found_rate_tolerance,
            (sure["found_rate_difference"][1], sure["found_rate_difference"][2]),
        ),
        GateRule(
            "immutable violations", challenger["immutable_violations"], 0, challenger["immutable_violations"] == 0
        ),
    ]
    if quality["auc"] is not None:
        _, low, high = quality["difference"]
        rules.append(
            GateRule(
                "classifier AUC on the held-out test rows not below the champion's minus gate.auc_tolerance",
                quality["auc"]["challenger"],
                quality["auc"]["champion"] - cfg.auc_tolerance,
                high >= -cfg.auc_tolerance,
                (low, high),
            )
        )
    for where in ("gate_set", "issued"):
        value, upper = kept[where], sure["promises_kept"][where]
        rules.append(
            GateRule(
                f"promises kept ({where.replace('_', ' ')})",
                value,
                cfg.min_promises_kept,
                upper is None or upper >= cfg.min_promises_kept,
                None if value is None or upper is None else (value, upper),
            )
        )
    for feature, gaps in challenger["group_gap"].items():
        for figure in GAP_FIGURES:
            before, after = champion["group_gap"].get(feature, {}).get("gap", {}).get(figure), gaps["gap"][figure]
            change = sure["group_gap_change"].get(feature, {}).get(figure)
            if before is not None and after is not None and change is not None:
                rules.append(
                    GateRule(
                        f"{feature} gap in {figure} not wider than the champion's + gate.group_gap_tolerance, "
                        "beyond the noise",
                        after,
                        before + cfg.group_gap_tolerance,
                        change[0] <= cfg.group_gap_tolerance,
                        (change[0], change[1]),
                    )
                )
    return rules


def shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"
