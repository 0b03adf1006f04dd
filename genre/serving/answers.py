"""Recourse in the applicant's own terms: raw units, what changes from what to what, and why.

Every answer is built column-wise from the engine's arrays (one inverse transform per batch, no
per-row pandas objects), so formatting a batch of a thousand applicants costs little next to
sampling their candidates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genre.recourse.cost import changed
from genre.recourse.engine import RecourseEngine
from genre.settings import RecourseSettings


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
) -> list[list[dict[str, Any]]]:
    """Per factual, its valid [m] points (scaled) as raw-unit recourses.

    Only the features a recourse moves are taken from the model's output; the others keep the
    applicant's own values, so "unchanged" means identical, not merely close.
    """
    n_rows, m, d = points.shape
    if not valid.any():
        return [[] for _ in range(n_rows)]
    names = engine.pre.schema.feature_names
    raw = engine.pre.inverse_transform(points.reshape(-1, d))
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


def answer(
    engine: RecourseEngine,
    applicants: pd.DataFrame,
    settings: RecourseSettings | None = None,
    frozen: list[str] | None = None,
    seed: int = 0,
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
    batch = engine.recourse(
        pre.transform(applicants), settings=settings, frozen=mask, seed=seed, alternatives=alternatives, max_step=steps
    )
    before = _rows(applicants, names)
    one = (batch.x_plus[:, None], batch.found[:, None], batch.prob_after[:, None], batch.cost[:, None])
    chosen = _recourses(engine, before, batch.x, *one)
    more = batch.alternatives
    others = _recourses(engine, before, batch.x, more.x_plus, more.valid, more.prob, more.cost)
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
        }
        for i in range(len(before))
    ]
