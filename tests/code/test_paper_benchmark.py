"""The benchmark code runs (tiny sample, few epochs) and its aggregation is right on a hand case.
The full table is a benchmark (benchmarks/paper_table.py), not a test."""

from __future__ import annotations

from pathlib import Path

import yaml

from genre.paper_benchmark import METHODS, METRICS, DatasetRun, aggregate, cached_seed, make_project, markdown, score_methods, train

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "ingest": {"sample_rows": 1200},
    "train_classifier": {"epochs": 30, "rf_n_estimators": 10, "rf_cv_folds": 2},
    "synthesize_pairs": {"k": 100},
    "train_generator": {
        "cvae": {"epochs": 5, "batch_size": 64},
        "transformer": {"epochs": 2, "batch_size": 64, "encoder_layers": 1, "decoder_layers": 1},
    },
    "recourse": {"n_candidates": 10, "threshold": 0.6},
    "evaluate": {"n_factuals": 8},
    "wachter": {"threshold": 0.6, "target": 0.7},
    "dice": {"method": "random", "sample_size": 200, "threshold": 0.6},
}


def test_every_method_is_scored_on_the_same_factuals(tmp_path: Path) -> None:
    raw = REPO / "data/raw/adult"
    run = DatasetRun("adult", raw / "train.csv.gz", raw / "test.csv.gz", raw / "schema.yaml", {"train_classifier": {"class_balanced": True}})
    settings = make_project(tmp_path, run, yaml.safe_load((REPO / "params.yaml").read_text()), seed=1, extra=TINY)
    assert settings.train_generator.cvae.seed == 1 and settings.train_generator.transformer.seed == 1 and settings.evaluate.n_factuals == 8
    scores = score_methods(settings, train(settings), METHODS, dice_factuals=2)
    assert set(scores) == set(METHODS)
    for method, metrics in scores.items():
        assert set(METRICS) <= set(metrics), method
        assert metrics["immutable_violations"] == 0, method
    assert scores["dice"]["factuals"] == 2 and scores["nnr"]["factuals"] == 8
    assert scores["genre_cvae"]["train_seconds"] > 0 and scores["genre_transformer"]["train_seconds"] > 0
    assert "train_seconds" not in scores["nnr"]


def test_a_stored_seed_is_reused_only_under_the_same_key(tmp_path: Path) -> None:
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"nnr": {"cost": float(len(calls))}}

    path = tmp_path / "adult-seed0.json"
    assert cached_seed(path, {"params": {"lam": 5}}, compute) == {"nnr": {"cost": 1.0}}
    assert cached_seed(path, {"params": {"lam": 5}}, compute) == {"nnr": {"cost": 1.0}}
    assert cached_seed(path, {"params": {"lam": 2}}, compute) == {"nnr": {"cost": 2.0}}
    assert cached_seed(path, {"params": {"lam": 2}}, compute, fresh=True) == {"nnr": {"cost": 3.0}}
    assert len(calls) == 3


def test_aggregate_and_markdown_by_hand() -> None:
    one = {m: 1.0 for m in (*METRICS, "found_rate", "factuals")}
    three = {m: 3.0 for m in (*METRICS, "found_rate", "factuals")}
    table = aggregate([{"nnr": one}, {"nnr": three}])
    assert table["nnr"]["cost"] == {"mean": 2.0, "std": 1.0}
    text = markdown({"adult": table}, {"adult": "adult"})
    assert "| nnr | 2 ± 1 |" in text and "| paper: GenRe | 0.69 | 1.00 |" in text
