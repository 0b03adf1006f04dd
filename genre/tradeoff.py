"""GenRe's cost against validity and plausibility as its knobs turn, with the baselines as fixed
points on the same factuals: lambda (which reshapes Q, so pairs and generator are retrained), and
the sampling temperature and candidates per factual (inference only, one trained generator).

A single number per method hides the trade-off a lender actually chooses along; this is the curve.
"""

from __future__ import annotations

from typing import Any

from genre import ingest, synthesize_pairs, train_classifier, train_generator
from genre.evaluate import Evaluation, prepare_evaluation
from genre.paper_benchmark import methods
from genre.settings import Settings

SHOWN = ("cost", "validity_rf", "validity_h", "lof", "score", "found_rate")
BASELINES = ("nnr", "wachter", "dice")


def _point(ev: Evaluation, **recourse: float) -> dict[str, float]:
    batch = ev.engine.recourse(ev.x, settings=ev.settings.recourse.model_copy(update=recourse), seed=ev.settings.evaluate.seed)
    scored = ev.judges.score(ev.x, batch.x_plus, batch.seconds, batch.found)
    return {k: scored[k] for k in SHOWN}


def sweep(settings: Settings, lambdas: list[float], temperatures: list[float], candidates: list[int], dice_factuals: int) -> dict[str, Any]:
    """Curves over lambda, temperature and n_candidates, and the baselines, all on the same factuals.
    The temperature and candidate curves use the generator trained at the params' own lambda."""
    for stage in (ingest, train_classifier):
        stage.run(settings)
    base_lam = settings.synthesize_pairs.lam
    out: dict[str, Any] = {"lam": [], "temperature": [], "n_candidates": [], "baselines": {}}
    for lam in sorted({*lambdas, base_lam}):
        at_lam = settings.model_copy(update={"synthesize_pairs": settings.synthesize_pairs.model_copy(update={"lam": lam})})
        synthesize_pairs.run(at_lam)
        train_generator.run(at_lam)
        ev = prepare_evaluation(at_lam)
        out["lam"].append({"lam": lam, **_point(ev)})
        if lam != base_lam:
            continue
        out["temperature"] = [{"temperature": t, **_point(ev, temperature=t)} for t in temperatures]
        out["n_candidates"] = [{"n_candidates": n, **_point(ev, n_candidates=n)} for n in candidates]
        runners = methods(transformer=None)
        for name in BASELINES:
            x = ev.x[:dice_factuals] if name == "dice" else ev.x
            x_plus, found, seconds = runners[name](ev, x)
            scored = ev.judges.score(x, x_plus, seconds, found)
            out["baselines"][name] = {**{k: scored[k] for k in SHOWN}, "factuals": int(len(x))}
    return out
