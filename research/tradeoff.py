"""GenRe's cost against validity and plausibility as its knobs turn, with the baselines as fixed
points on the same factuals: lambda (which reshapes Q, so pairs and generator are retrained), and
the sampling temperature and candidates per factual (inference only, one trained generator).

A single number per method hides the trade-off a lender actually chooses along; this is the curve.
"""

from __future__ import annotations

from typing import Any

from genre.settings import Settings
from genre.stages import ingest, synthesize_pairs, train_classifier, train_generator
from genre.stages.evaluate import Evaluation, prepare_evaluation, score_at
from research.paper_benchmark import methods, score_on

SHOWN = ("cost", "validity_rf", "validity_h", "lof", "score", "found_rate")
BASELINES = ("nnr", "wachter", "dice")


def _point(ev: Evaluation, **recourse: float) -> dict[str, float]:
    scored = score_at(ev, **recourse)
    return {k: scored[k] for k in SHOWN}


def sweep(
    settings: Settings, lambdas: list[float], temperatures: list[float], candidates: list[int], dice_factuals: int
) -> dict[str, Any]:
    """Curves over lambda, temperature and n_candidates, and the baselines, all on the same factuals.
    The temperature and candidate curves use the generator trained at the params' own lambda."""
    for stage in (ingest, train_classifier):
        stage.run(settings)
    base_lam = settings.synthesize_pairs.lam
    out: dict[str, Any] = {"lam": [], "temperature": [], "n_candidates": [], "baselines": {}}
    for lam in sorted({*lambdas, base_lam}):
        at_lam = settings.model_copy(
            update={"synthesize_pairs": settings.synthesize_pairs.model_copy(update={"lam": lam})}
        )
        synthesize_pairs.run(at_lam)
        train_generator.run(at_lam)
        ev = prepare_evaluation(at_lam)
        out["lam"].append({"lam": lam, **_point(ev)})
        if lam != base_lam:
            continue
        out["temperature"] = [{"temperature": t, **_point(ev, temperature=t)} for t in temperatures]
        out["n_candidates"] = [{"n_candidates": n, **_point(ev, n_candidates=n)} for n in candidates]
        scored = score_on(ev, methods(transformer=None), BASELINES, dice_factuals)
        out["baselines"] = {name: {k: s[k] for k in (*SHOWN, "factuals")} for name, s in scored.items()}
    return out
