"""The paper's benchmark, run through the pipeline's own stages: per dataset and seed, a scratch
project is trained exactly as ``dvc repro`` would train it, then every method answers the same
factuals and is scored by the same judges.

A dataset is described by data, a schema and params overrides, never by code: COMPAS and HELOC are
configured the way a user would configure their own data.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from genre.artifacts.atomic import write_json
from genre.artifacts.paths import Artifacts
from genre.data.datasets import load_prepared
from genre.recourse.engine import RecourseEngine
from genre.settings import Settings, load_settings, merge_overrides
from genre.stages import ingest, synthesize_pairs, train_classifier, train_generator
from genre.stages.evaluate import Evaluation, prepare_evaluation
from research.dice_baseline import dice_recourse
from research.wachter import wachter_recourse

METHODS = ("genre_cvae", "genre_transformer", "nnr", "wachter", "dice")
METRICS = (
    "cost",
    "validity_rf",
    "validity_h",
    "lof",
    "score",
    "immutable_violations",
    "sparsity",
    "seconds_per_recourse",
)
EXTRAS = ("found_rate", "factuals", "train_seconds")
PAPER_GENRE = {  # GenRe, authors' released notebook, 200 factuals (method doc, "Target numbers")
    "adult": {"lof": 0.98, "validity_rf": 1.00, "cost": 0.69},
    "compas": {"lof": 0.97, "validity_rf": 0.99, "cost": 0.51},
    "heloc": {"lof": 1.00, "validity_rf": 1.00, "cost": 2.01},
}


@dataclass(frozen=True)
class DatasetRun:
    """One row group of the table: which data (train and test CSV, optionally gzipped), which schema,
    which params overrides, and which paper figures it compares with (if any)."""

    name: str
    train_csv: Path
    test_csv: Path
    schema: Path
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    paper: str | None = None


def make_project(
    root: Path, run: DatasetRun, base_params: dict[str, Any], seed: int, extra: dict[str, dict[str, Any]]
) -> Settings:
    """A project folder laid out as a user's: raw data and schema under data/raw, one params.yaml."""
    raw = root / "data/raw" / run.name
    raw.mkdir(parents=True, exist_ok=True)
    copies = {}
    for split, source in (("train", run.train_csv), ("test", run.test_csv)):
        copies[split] = raw / f"{split}{''.join(source.suffixes)}"
        shutil.copyfile(source, copies[split])
    shutil.copyfile(run.schema, raw / "schema.yaml")
    params = yaml.safe_load(yaml.safe_dump(base_params))
    params["ingest"].update(
        train_csv=str(copies["train"].relative_to(root)),
        test_csv=str(copies["test"].relative_to(root)),
        schema_path=f"data/raw/{run.name}/schema.yaml",
    )
    seeded = {
        "train_classifier": {"seed": seed},
        "train_generator": {"cvae": {"seed": seed}, "transformer": {"seed": seed}},
        "evaluate": {"seed": seed},
        "recourse": {
            "margin": 0.0
        },  # the paper's protocol: accepted above the threshold, no headroom for a retrained model
    }
    for layer in (run.overrides, seeded, extra):
        merge_overrides(params, layer)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return load_settings(root / "params.yaml")


@dataclass(frozen=True)
class Trained:
    """The Transformer (the CVAE lives in the project's artifacts) and each generator's training time."""

    transformer: Any
    train_seconds: dict[str, float]


def train(settings: Settings, with_transformer: bool = True) -> Trained:
    """The pipeline's training stages (its generator the CVAE), then, unless a run leaves it out,
    the Transformer on the very same pairs (on Adult it trains five times as long as the CVAE)."""
    if settings.train_generator.kind != "cvae":
        raise ValueError(
            "the benchmark trains the CVAE through the pipeline and the Transformer beside it: "
            "leave train_generator.kind at cvae"
        )
    for stage in (ingest, train_classifier, synthesize_pairs):
        stage.run(settings)
    cvae_seconds = float(train_generator.run(settings)["seconds"])
    if not with_transformer:
        return Trained(None, {"genre_cvae": cvae_seconds})
    transformer = train_generator.fit(
        settings, "transformer", load_prepared(Artifacts(settings.root)), show_progress=False
    )
    return Trained(transformer.model, {"genre_cvae": cvae_seconds, "genre_transformer": transformer.seconds})


Method = Callable[[Evaluation, np.ndarray], tuple[np.ndarray, np.ndarray, float]]


def methods(transformer: Any) -> dict[str, Method]:
    """Each method maps factuals to (x_plus, found, seconds) under the same constraints."""

    def generative(engine_of: Callable[[Evaluation], RecourseEngine]) -> Method:
        def answer(ev: Evaluation, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
            batch = engine_of(ev).recourse(x, seed=ev.settings.evaluate.seed)
            return batch.x_plus, batch.found, batch.seconds

        return answer

    return {
        "genre_cvae": generative(lambda ev: ev.engine),
        "genre_transformer": generative(
            # the CVAE's settings as evaluate resolved them: its threshold, and its rule where selection is auto
            lambda ev: RecourseEngine(ev.engine.pre, ev.engine.classifier, transformer, ev.engine.settings)
        ),
        "nnr": lambda ev, x: ev.nnr(x),
        "wachter": lambda ev, x: wachter_recourse(x, ev.engine.pre, ev.engine.classifier, ev.settings.wachter),
        "dice": lambda ev, x: dice_recourse(
            x,
            ev.engine.pre,
            ev.engine.classifier,
            ev.data.train_raw,
            ev.settings.dice.model_copy(update={"seed": ev.settings.evaluate.seed}),
        ),
    }


def score_methods(
    settings: Settings, trained: Trained, chosen: tuple[str, ...], dice_factuals: int
) -> dict[str, dict[str, float]]:
    """Every chosen method on the same factuals (DiCE, being slow, on the first ``dice_factuals``);
    the generators' rows also carry their training time."""
    out = score_on(prepare_evaluation(settings), methods(trained.transformer), chosen, dice_factuals)
    for name, seconds in trained.train_seconds.items():
        if name in out:
            out[name]["train_seconds"] = seconds
    return out


def score_on(
    ev: Evaluation, runners: dict[str, Method], chosen: tuple[str, ...], dice_factuals: int
) -> dict[str, dict[str, float]]:
    """Each chosen method's scores on the evaluation's factuals (DiCE on the first ``dice_factuals``)."""
    out = {}
    for name in chosen:
        x = ev.x[:dice_factuals] if name == "dice" else ev.x
        x_plus, found, seconds = runners[name](ev, x)
        out[name] = {**ev.judges.score(x, x_plus, seconds, found), "factuals": len(x)}
    return out


def cached_seed(
    path: Path, key: dict[str, Any], compute: Callable[[], dict[str, Any]], fresh: bool = False
) -> dict[str, Any]:
    """One (dataset, seed) result, reused when it was stored under the same key (params, methods):
    the full table takes hours on 2 cores, and a stopped run should not start over."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    if not fresh and path.exists():
        stored = json.loads(path.read_text())
        if stored.get("digest") == digest:
            return stored["results"]
    results = compute()
    write_json(path, {"digest": digest, "results": results})
    return results


def aggregate(per_seed: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """{method: {metric: {"mean", "std"}}} over seeds (training time for the generators only)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for method, first in per_seed[0].items():
        table[method] = {}
        for metric in (m for m in (*METRICS, *EXTRAS) if m in first):
            values = np.array([run[method][metric] for run in per_seed], dtype=np.float64)
            table[method][metric] = {"mean": float(values.mean()), "std": float(values.std())}
    return table


def markdown(report: dict[str, Any], paper_of: dict[str, str | None], preamble: str = "") -> str:
    """One table per dataset, mean ± std, with the paper's GenRe figures beside ours, and how many
    times faster than DiCE each generator answered in the same run."""
    lines = [preamble, ""] if preamble else []
    shown = (*METRICS, "found_rate", "train_seconds")
    for dataset, table in report.items():
        lines += [f"### {dataset}", "", "| method | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
        for method, metrics in table.items():
            cells = [f"{metrics[m]['mean']:.3g} ± {metrics[m]['std']:.2g}" if m in metrics else "" for m in shown]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        paper = PAPER_GENRE.get(paper_of.get(dataset) or "")
        if paper:
            cells = [f"{paper[m]:.2f}" if m in paper else "" for m in shown]
            lines.append("| paper: GenRe | " + " | ".join(cells) + " |")
        lines.append("")
        if "dice" in table:
            dice = table["dice"]["seconds_per_recourse"]["mean"]
            ratios = [
                f"{m} {dice / table[m]['seconds_per_recourse']['mean']:,.0f}x"
                for m in ("genre_cvae", "genre_transformer")
                if m in table
            ]
            if ratios:
                lines += ["Faster than DiCE per recourse (mean seconds, same run): " + ", ".join(ratios) + ".", ""]
    return "\n".join(lines)
