"""Recourse in the applicant's own terms: raw units, what changes from what to what, and why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genre.cost import changed
from genre.recourse import RecourseBatch, RecourseEngine
from genre.settings import RecourseSettings


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def answer(
    engine: RecourseEngine,
    applicants: pd.DataFrame,
    settings: RecourseSettings | None = None,
    frozen: list[str] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One answer per applicant row; ``frozen`` names features this person will not change."""
    if applicants.empty:
        return []
    pre = engine.pre
    mask = np.isin(pre.schema.feature_names, frozen or [])
    batch: RecourseBatch = engine.recourse(pre.transform(applicants), settings=settings, frozen=mask, seed=seed)
    proposals = pre.inverse_transform(batch.x_plus)
    out = []
    for i in range(len(applicants)):
        status = str(batch.status[i])
        result: dict[str, Any] = {"status": status, "probability_before": float(batch.prob_before[i])}
        if status == "found":
            before = {k: _plain(v) for k, v in applicants.iloc[i].items()}
            moved = [k for k, c in zip(pre.schema.feature_names, changed(batch.x[i], batch.x_plus[i])) if c]
            after = {**before, **{k: _plain(proposals.iloc[i][k]) for k in moved}}
            result.update(
                recourse=after,
                changes=[{"feature": k, "from": before[k], "to": after[k]} for k in moved],
                cost=float(batch.cost[i]),
                probability_after=float(batch.prob_after[i]),
            )
        else:
            result.update(recourse=None, changes=[], cost=None, probability_after=None)
        out.append(result)
    return out
