"""The benchmark code runs (tiny sample, few epochs) and its aggregation is right on a hand case.
The full table is a benchmark (benchmarks/paper_table.py), not a test."""

from __future__ import annotations

from pathlib import Path

from research.paper_benchmark import (
    METHODS,
    METRICS,
    aggregate,
    cached_seed,
    markdown,
    score_methods,
    train,
)


def test_every_method_is_scored_on_the_same_factuals(tiny_adult_project) -> None:
    settings = tiny_adult_project(1)
    assert (
        settings.train_generator.cvae.seed == 1
        and settings.train_generator.transformer.seed == 1
        and settings.evaluate.n_factuals == 8
    )
    scores = score_methods(settings, train(settings), METHODS, dice_factuals=2)
    assert set(scores) == set(METHODS)
    for method, metrics in scores.items():
        assert set(METRICS) <= set(metrics), method
        assert metrics["immutable_violations"] == 0, method
    assert scores["dice"]["factuals"] == 2 and scores["nnr"]["factuals"] == 8
    assert scores["genre_cvae"]["train_seconds"] > 0 and scores["genre_transformer"]["train_seconds"] > 0
    assert "train_seconds" not in scores["nnr"]


def test_a_run_without_the_transformer_does_not_train_it(tiny_adult_project) -> None:
    settings = tiny_adult_project(2)
    trained = train(settings, with_transformer=False)
    assert trained.transformer is None and set(trained.train_seconds) == {"genre_cvae"}
    scores = score_methods(settings, trained, ("genre_cvae", "nnr"), dice_factuals=2)
    assert set(scores) == {"genre_cvae", "nnr"} and scores["genre_cvae"]["train_seconds"] > 0


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
    text = markdown({"adult": table}, {"adult": "adult"}, preamble="Produced by a hand case.")
    assert text.startswith("Produced by a hand case.")
    assert "| nnr | 2 ± 1 |" in text and "| paper: GenRe | 0.69 | 1.00 |" in text
    slow, fast = ({**one, "seconds_per_recourse": v} for v in (3.0, 0.001))
    assert "genre_cvae 3,000x" in markdown({"adult": aggregate([{"dice": slow, "genre_cvae": fast}])}, {})
