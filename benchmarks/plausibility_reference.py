"""How much of the demo's plausibility figure is the draw of applicants, and how much the judge's rows.

The protocol's LOF judges answers against the rows the world (its forest) calls favourable, from
the training and the held-out split alike; the engine judges its candidates against the training
rows labelled favourable, the only ones it may see. On the workspace's model (run ``dvc repro``
first), answering as evaluate configures it:

1. **Draws.** The engine's answers to ``--draws`` seeded draws of denied held-out applicants (draw
   0 is evaluate's own), and to the training applicants evaluate chooses its settings by, each
   judged as ``metrics/evaluate.json`` is.
2. **References.** The held-out rows are split in two seeded halves, A and B, and a protocol judge
   is fitted on the world's favourable rows of the training split and half A only. The engine then
   judges its candidates against the training rows labelled favourable (the product's reference),
   against those and half B's (rows the judge has never seen), and against those and half A's (rows
   the judge was fitted on). Were more rows of the same people what helps, both would help alike;
   where only A helps, a reference that includes the held-out rows would be fitted to the judge's
   own sample, not to the people.

Usage: ``python benchmarks/plausibility_reference.py [--draws 10] [--machine "..."]``
Writes ``reports/plausibility_reference.json`` ({"draws": [per draw: "seed", "lof", "validity_rf",
"found_rate", "features_changed_median", "features_changed_mean", "score"], "training_applicants":
{same}, "references": {"judge_rows", "halves_seed", "rows": {name: {"reference_rows",
"lof_by_draw", "lof_mean"}}}}) and ``.md``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.neighbors import LocalOutlierFactor

from genre.artifacts.atomic import write_json, write_text
from genre.evaluation.metrics import fit_plausibility, protocol_score
from genre.recourse.engine import RecourseEngine
from genre.settings import load_settings
from genre.stages.evaluate import choose_factuals, prepare_evaluation, selection_applicants
from research.provenance import stamped

REPO = Path(__file__).resolve().parents[1]
HALVES_SEED = 7  # which held-out rows fall in half A


def figures(per_row: dict[str, np.ndarray], found: np.ndarray, n_features: int) -> dict[str, float]:
    """What the demo's target names, from one batch's per-row judgements."""
    return {
        "lof": float(per_row["lof"].mean()),
        "validity_rf": float(per_row["validity_rf"].mean()),
        "found_rate": float(np.mean(found)),
        "features_changed_median": float(np.median(per_row["sparsity"])),
        "features_changed_mean": float(per_row["sparsity"].mean()),
        "score": float(protocol_score(per_row["validity_rf"], per_row["lof"], per_row["cost"], n_features).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=10, help="seeded draws of denied held-out applicants")
    parser.add_argument("--machine", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the stages answer

    settings = load_settings(REPO / "params.yaml")
    cfg = settings.evaluate
    ev = prepare_evaluation(settings)
    data, engine, judges = ev.data, ev.engine, ev.judges
    d = data.x_train.shape[1]
    h_test = engine.classifier.predict_proba(data.x_test)
    draws = [(seed, data.x_test[choose_factuals(h_test, cfg.n_factuals, seed)]) for seed in range(args.draws)]

    def judged(
        answering: RecourseEngine, x: np.ndarray, seed: int, judge: LocalOutlierFactor | None = None
    ) -> dict[str, float]:
        batch = answering.recourse(x, seed=seed)
        per_row = (judges if judge is None else replace(judges, lof=judge)).per_row(batch.x, batch.x_plus, batch.found)
        return figures(per_row, batch.found, d)

    by_draw = [{"seed": seed, **judged(engine, x, seed)} for seed, x in draws]
    training = judged(
        engine, selection_applicants(data.x_train, engine.classifier, cfg.selection_applicants, cfg.seed), cfg.seed
    )
    print("draws:", ", ".join(f"{r['lof']:.3f}" for r in by_draw), "| training applicants:", f"{training['lof']:.3f}")

    half_a = np.random.default_rng(HALVES_SEED).random(len(data.x_test)) < 0.5
    judge_rows = np.vstack([data.x_train, data.x_test[half_a]])
    judge = fit_plausibility(judge_rows, judges.forest, cfg.lof_neighbors, cfg.plausibility_rows, cfg.seed)
    assert engine.accepted is not None  # the workspace's bundle holds them (train_classifier)
    own = engine.accepted.people_like
    held_out_favourable = data.x_test[data.observed_labels("test") == 1]
    in_a = half_a[data.observed_labels("test") == 1]
    references = {
        "training rows labelled favourable (the product's)": own,
        "those and half B's (rows the judge never saw)": np.vstack([own, held_out_favourable[~in_a]]),
        "those and half A's (rows the judge was fitted on)": np.vstack([own, held_out_favourable[in_a]]),
    }
    rows: dict[str, dict[str, Any]] = {}
    for name, reference in references.items():
        accepted = replace(engine.accepted, favourable=np.asarray(reference, np.float32))
        answering = RecourseEngine(engine.pre, engine.classifier, engine.generator, engine.settings, accepted)
        lofs = [judged(answering, x, seed, judge)["lof"] for seed, x in draws]
        rows[name] = {"reference_rows": len(reference), "lof_by_draw": lofs, "lof_mean": float(np.mean(lofs))}
        print(f"{name}: {len(reference)} rows, LOF by the half-A judge {np.mean(lofs):.3f}")

    report = stamped(
        {
            "draws": by_draw,
            "training_applicants": training,
            "references": {
                "judge_rows": int(judge.n_samples_fit_),
                "halves_seed": HALVES_SEED,
                "rows": rows,
            },
            "threshold": engine.settings.threshold,
            "selection": engine.settings.selection,
            "applicants_per_draw": cfg.n_factuals,
            **({"machine": args.machine} if args.machine else {}),
        }
    )
    write_json(REPO / "reports/plausibility_reference.json", report)
    write_text(REPO / "reports/plausibility_reference.md", markdown(report))


def markdown(report: dict[str, Any]) -> str:
    draws = report["draws"]
    lofs = np.array([r["lof"] for r in draws])
    n = report["applicants_per_draw"]
    lines = [
        "# The demo's plausibility: the draw and the judge's rows",
        "",
        (
            f"Written by `python benchmarks/plausibility_reference.py` at commit {report['commit']} on "
            f"{report['machine']}: the workspace's model answering as evaluate configures it (threshold "
            f"{report['threshold']:.4f}, rule {report['selection']}), {n} denied held-out applicants a draw "
            "(draw 0 is evaluate's own)."
        ),
        "",
        "| applicants | LOF | validity (RF) | found | features changed (median / mean) | score |",
        "|---|---|---|---|---|---|",
    ]
    for r in [*draws, {"seed": "training", **report["training_applicants"]}]:
        who = "evaluate's training applicants" if r["seed"] == "training" else f"held-out draw {r['seed']}"
        lines.append(
            f"| {who} | {r['lof']:.3f} | {r['validity_rf']:.3f} | {r['found_rate']:.3f} | "
            f"{r['features_changed_median']:g} / {r['features_changed_mean']:.2f} | {r['score']:.4f} |"
        )
    lines += [
        "",
        (
            f"Held-out draws: LOF mean {lofs.mean():.3f}, from {lofs.min():.3f} to {lofs.max():.3f}; one draw's "
            f"standard error at that mean is {np.sqrt(lofs.mean() * (1 - lofs.mean()) / n):.3f}."
        ),
        "",
        (
            f"References, judged by a protocol judge fitted on the training split and half A of the held-out one "
            f"({report['references']['judge_rows']} favourable rows), over the same draws:"
        ),
        "",
        "| the engine's reference | rows | LOF (mean over draws) | by draw |",
        "|---|---|---|---|",
    ]
    for name, row in report["references"]["rows"].items():
        by = ", ".join(f"{v:.3f}" for v in row["lof_by_draw"])
        lines.append(f"| {name} | {row['reference_rows']} | {row['lof_mean']:.3f} | {by} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
