"""Recourse in the applicant's own terms: raw units, what changes from what to what, and why.

Why: every answer for a denied applicant carries its principal reasons (a lender owes them: US
Regulation B asks for the specific reasons for a denial). They are read from the recourse itself:
for each feature it changes, how far the classifier's probability falls when that one change is
undone, everything else left as the recourse has it. The features whose change matters most are
the reasons, at most ``MAX_REASONS``, each with the applicant's value and the value the recourse
needs. Leave-one-out over the changed set, not an attribution over all features: it names only
what the person was told to change, it costs one classifier call per changed feature, and, like
the recourse, it depends on this applicant alone, never on who else was in the batch. Where no
recourse was found the most confident candidate stands in, and the sentence says it is not enough.

Every answer is built column-wise from the engine's arrays (one inverse transform per batch, no
per-row pandas objects), so formatting a batch of a thousand applicants costs little next to
sampling their candidates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genre.data.schema import FeatureSpec
from genre.recourse.cost import changed
from genre.recourse.engine import RecourseEngine
from genre.recourse.minimal import Known, scored
from genre.settings import RecourseSettings

SEED = 0  # the draws' seed for every answer served (each applicant's draws are seeded by its own values too)
MAX_REASONS = 4  # principal reasons per answer (Regulation B's official commentary: more than four seldom helps)


def _rows(frame: pd.DataFrame, names: list[str]) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (what JSON and CSV writers expect)."""
    columns = [frame[name].tolist() for name in names]
    return [dict(zip(names, values)) for values in zip(*columns)]


def _recourses(
    engine: RecourseEngine,
    before: list[dict[str, Any]],
    x: np.ndarray,
    points: np.ndarray,
    valid: np.ndarray,
    prob: np.ndarray,
    cost: np.ndarray,
    raw: pd.DataFrame | None = None,
) -> list[list[dict[str, Any]]]:
    """Per factual, its valid [m] points (scaled) as raw-unit recourses (``raw``: the points in raw
    units already, row by row, where the caller has them).

    Only the features a recourse moves are taken from the model's output; the others keep the
    applicant's own values, so "unchanged" means identical, not merely close.
    """
    n_rows, m, d = points.shape
    if not valid.any():
        return [[] for _ in range(n_rows)]
    names = engine.pre.schema.feature_names
    raw = engine.pre.inverse_transform(points.reshape(-1, d)) if raw is None else raw
    columns = [raw[name].tolist() for name in names]
    moved = changed(x[:, None, :], points).tolist()  # plain lists: walked once per answer, in Python
    out: list[list[dict[str, Any]]] = []
    for i, valid_row in enumerate(valid.tolist()):
        mine = []
        for j in (j for j, ok in enumerate(valid_row) if ok):
            flat = i * m + j
            after = dict(before[i])
            changes = []
            for f in (f for f, moves in enumerate(moved[i][j]) if moves):
                name = names[f]
                after[name] = columns[f][flat]
                changes.append({"feature": name, "from": before[i][name], "to": after[name]})
            mine.append(
                {
                    "recourse": after,
                    "changes": changes,
                    "cost": float(cost[i, j]),
                    "probability_after": float(prob[i, j]),
                }
            )
        out.append(mine)
    return out


def _shown(value: Any, spec: FeatureSpec) -> str:
    return f"{value} {spec.unit}" if spec.unit else str(value)


def _sentence(spec: FeatureSpec, name: str, value: Any, needed: Any, fall: float, found: bool) -> str:
    label, by = spec.label or name, f"{fall:.2f}" if fall >= 0.005 else "less than 0.01"
    if found:
        return (
            f"{label} is {_shown(value, spec)}; the recourse needs {_shown(needed, spec)}: without that change "
            f"the probability of approval is {by} lower."
        )
    return (
        f"{label} is {_shown(value, spec)}; {_shown(needed, spec)} raises the probability of approval by {by}, "
        "though no change found is enough."
    )


def _reasons(
    engine: RecourseEngine,
    before: list[dict[str, Any]],
    x: np.ndarray,
    x_plus: np.ndarray,
    raw_plus: pd.DataFrame | None,
    prob: np.ndarray,
    status: np.ndarray,
    known: Known,
) -> list[list[dict[str, Any]]]:
    """Per applicant, the features its recourse (or most confident candidate, ``x_plus``; in raw
    units ``raw_plus``) changes, ranked by how far the probability falls when that change alone is
    undone (ties: schema order); none for an applicant already approved. Those points are the last
    round of the answer's minimal walk, which scored them already where ``known`` kept them."""
    out: list[list[dict[str, Any]]] = [[] for _ in before]
    moved = changed(x, x_plus) & (status != "not_needed")[:, None]
    rows, features = np.nonzero(moved)
    if not len(rows) or raw_plus is None:
        return out
    undone = x_plus[rows].copy()
    undone[np.arange(len(rows)), features] = x[rows, features]
    falls = (prob[rows] - scored(engine.scorer.predict_proba, undone, known)).tolist()
    names, specs = engine.pre.schema.feature_names, engine.pre.schema.features
    after = {name: raw_plus[name].tolist() for name in names}
    ranked = sorted(zip(rows.tolist(), features.tolist(), falls, strict=True), key=lambda t: (t[0], -t[2], t[1]))
    for i, f, fall in ranked:
        if len(out[i]) == MAX_REASONS:
            continue
        name = names[f]
        needed = after[name][i]
        out[i].append(
            {
                "feature": name,
                "label": specs[name].label or name,
                "value": before[i][name],
                "needed": needed,
                "probability_fall": float(fall),
                "sentence": _sentence(specs[name], name, before[i][name], needed, fall, status[i] == "found"),
            }
        )
    return out


def answer(
    engine: RecourseEngine,
    applicants: pd.DataFrame,
    settings: RecourseSettings | None = None,
    frozen: list[str] | None = None,
    seed: int = SEED,
    alternatives: int = 0,
    max_change: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """One answer per applicant row; ``frozen`` names features this person will not change and
    ``max_change`` the most they would move some (raw units; only tightens the schema's).

    A found answer carries the chosen recourse (``recourse``, ``changes``, ``cost``,
    ``probability_after``) and up to ``alternatives`` more in ``alternatives``, each moving a
    different set of features, in the selection rule's order. Anything else carries no recourse.
    """
    if applicants.empty:
        return []
    pre = engine.pre
    names = pre.schema.feature_names
    mask = np.isin(names, frozen or [])
    steps = pre.steps(max_change) if max_change else None
    known: Known = {}  # what minimal answers scored: the reasons' points are among them
    batch = engine.recourse(
        pre.transform(applicants),
        settings=settings,
        frozen=mask,
        seed=seed,
        alternatives=alternatives,
        max_step=steps,
        known=known,
    )
    before = _rows(applicants, names)
    denied = (batch.status != "not_needed").any()
    raw_plus = pre.inverse_transform(batch.x_plus) if denied else None  # one inverse transform for both below
    one = (batch.x_plus[:, None], batch.found[:, None], batch.prob_after[:, None], batch.cost[:, None])
    chosen = _recourses(engine, before, batch.x, *one, raw=raw_plus)
    more = batch.alternatives
    others = _recourses(engine, before, batch.x, more.x_plus, more.valid, more.prob, more.cost)
    reasons = _reasons(engine, before, batch.x, batch.x_plus, raw_plus, batch.prob_after, batch.status, known)
    return [
        {
            "status": str(batch.status[i]),
            "probability_before": float(batch.prob_before[i]),
            **(
                chosen[i][0]
                if chosen[i]
                else {"recourse": None, "changes": [], "cost": None, "probability_after": None}
            ),
            "alternatives": others[i],
            "reasons": reasons[i],
        }
        for i in range(len(before))
    ]
