"""``recourse.threshold: auto`` and the classifier's training batch: derived from the data, so the
threshold is one the denied can reach with admissible moves, and the paper's 0.9 where they can."""

from __future__ import annotations

import numpy as np
import pytest

from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema
from genre.messages import InputError
from genre.models.classifiers import MLPClassifier, batch_and_lr
from genre.recourse.engine import resolved
from genre.recourse.threshold import (
    REACH_SHARE,
    auto_threshold,
    bar_ceiling,
    best_reachable,
    reachable_score,
    rows_wanted,
)
from genre.settings import ClassifierSettings, RecourseSettings


def _pre() -> Preprocessor:
    """One free numeric feature, one that may only rise, one immutable group."""
    schema = DatasetSchema.model_validate(
        {
            "name": "reach",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "a": {"kind": "continuous", "min": 0, "max": 1},
                "up": {"kind": "continuous", "min": 0, "max": 1, "direction": "increase"},
                "g": {"kind": "categorical", "categories": ["p", "q"], "immutable": True},
            },
        }
    )
    return Preprocessor(schema, np.zeros(3), np.ones(3))


def _rows(rng: np.random.Generator, n: int, group: int) -> np.ndarray:
    return np.column_stack([rng.random(n), rng.random(n), np.full(n, group)]).astype(np.float32)


def test_best_reachable_is_the_brute_force_best_over_admissible_approved_rows() -> None:
    rng, pre = np.random.default_rng(0), _pre()
    denied, approved = (
        np.vstack([_rows(rng, 30, 0), _rows(rng, 30, 1)]),
        np.vstack([_rows(rng, 40, 0), _rows(rng, 10, 1)]),
    )
    h = rng.uniform(0.5, 1.0, len(approved))
    expected = [
        max((h[j] for j, a in enumerate(approved) if a[2] == d[2] and a[1] >= d[1]), default=-np.inf) for d in denied
    ]
    np.testing.assert_allclose(best_reachable(denied, approved, h, pre), expected)


def test_auto_keeps_the_papers_threshold_where_the_denied_can_reach_it() -> None:
    rng = np.random.default_rng(1)
    x = np.vstack([_rows(rng, 300, 0), _rows(rng, 300, 1)])
    x[:, 1] = np.where(np.arange(600) % 2 == 0, 0.0, 1.0)  # denied rows start at the bottom of "up"
    h = np.where(np.arange(600) % 2 == 0, 0.2, 0.97)
    reachable = reachable_score(x, h, _pre(), seed=0)
    assert reachable == pytest.approx(0.97, abs=1e-5) and auto_threshold(reachable, 0.02) == 0.9 == auto_threshold(
        reachable, 0.05
    )
    assert auto_threshold(reachable, 0.1) == pytest.approx(
        0.87, abs=1e-5
    )  # 0.9 + 0.1 is past what they reach: the bar stays at 0.97


def test_auto_comes_down_to_what_most_denied_rows_can_reach_and_no_lower() -> None:
    """Group q's approved rows never score above 0.7: the surest rows overall are as sure as on
    the previous data, but half the denied could clear 0.9 with no admissible move."""
    rng, pre = np.random.default_rng(2), _pre()
    x = np.vstack([_rows(rng, 400, 0), _rows(rng, 400, 1)])
    approved = rng.random(800) < 0.5
    h = np.where(
        approved,
        np.where(x[:, 2] == 0, rng.uniform(0.91, 0.99, 800), rng.uniform(0.55, 0.7, 800)),
        rng.uniform(0, 0.5, 800),
    )
    score = reachable_score(x, h, pre, seed=0)
    assert score is not None and 0.5 < score < 0.7
    best = best_reachable(x[~approved], x[approved], h[approved], pre)
    reachable = best[np.isfinite(best)]
    assert (reachable > score).mean() >= REACH_SHARE - 0.01  # most can reach it ...
    assert (reachable > score + 0.02).mean() < REACH_SHARE  # ... and it is as high as that allows
    for margin in (0.0, 0.02, 0.05):  # auto leaves the margin below that score: the bar is what most can reach
        threshold = auto_threshold(score, margin)
        assert threshold == pytest.approx(score - margin)
        assert (
            resolved(
                RecourseSettings(selection="cheapest", plausible_first=False, margin=margin),
                MLPClassifier(3, [4], reachable=score),
            ).threshold
            == threshold
        )


def test_a_classifier_that_approves_no_row_has_no_threshold_and_says_what_to_do() -> None:
    assert reachable_score(np.zeros((50, 3)), np.full(50, 0.4), _pre(), seed=0) is None
    classifier = MLPClassifier(3, [4], reachable=None)
    with pytest.raises(InputError, match="approves no training row.*set recourse.threshold to a number"):
        resolved(RecourseSettings(threshold="auto"), classifier)
    assert (
        resolved(RecourseSettings(threshold=0.8, selection="cheapest", plausible_first=False), classifier).threshold
        == 0.8
    )
    assert resolved(
        RecourseSettings(selection="cheapest", plausible_first=False, margin=0.02),
        MLPClassifier(3, [4], reachable=0.72),
    ).threshold == pytest.approx(0.70)


@pytest.mark.parametrize(("rows", "batch"), [(800, 64), (16_383, 64), (16_384, 128), (32_768, 256), (1_000_000, 256)])
def test_the_batch_grows_with_the_data_and_the_rate_with_its_square_root(rows: int, batch: int) -> None:
    assert batch_and_lr(rows, ClassifierSettings(lr=0.001)) == (batch, pytest.approx(0.001 * np.sqrt(batch / 64)))
    assert batch_and_lr(rows, ClassifierSettings(batch_size=32, lr=0.01)) == (32, 0.01)


def test_the_bar_is_capped_where_enough_approved_rows_clear_it() -> None:
    """One row far surer than the rest would make the bar one only it clears: the ceiling is the
    score that the wanted number of rows still clear, and auto never goes above it."""
    scores = np.array([0.99, 0.6, 0.62, 0.65, 0.7, 0.55])
    ceiling = bar_ceiling(scores, 3)
    assert (scores > ceiling).sum() == 3 and ceiling == pytest.approx(0.65, abs=1e-5)
    assert auto_threshold(0.99, 0.02, ceiling) == pytest.approx(0.65 - 0.02, abs=1e-5)
    assert auto_threshold(0.6, 0.02, ceiling) == pytest.approx(0.58)  # reachable lower already: it decides
    assert (scores > bar_ceiling(scores, 50)).all()  # fewer rows than wanted: every one of them clears it
    assert bar_ceiling(np.array([]), 3) is None


def test_rows_wanted_above_the_bar() -> None:
    assert rows_wanted("auto", 500) == 30 and rows_wanted("auto", 15_562) == 156 and rows_wanted(7, 15_562) == 7


def test_auto_tries_bars_on_both_sides_of_the_reachable_one_and_never_above_the_ceiling() -> None:
    """The reachable bar first (what the others must beat), then bars down to the classifier's own
    decision and up to the paper's 0.9, capped where the wanted rows still clear the bar."""
    from types import SimpleNamespace

    from genre.stages.evaluate import threshold_bars

    scores = np.linspace(0.51, 0.99, 100)
    engine = SimpleNamespace(accepted=SimpleNamespace(h=scores), classifier=SimpleNamespace(reachable=0.7))
    bars = threshold_bars(engine, 0.02, 30)  # 30 rows clear at most a bar of about 0.846
    assert bars[0] == pytest.approx(0.68) and min(bars) == pytest.approx(0.5) and bars[1:] == sorted(bars[1:])
    assert max(bars) == pytest.approx(bar_ceiling(scores, 30) - 0.02) and (scores > max(bars) + 0.02).sum() >= 30
    capped = threshold_bars(
        SimpleNamespace(accepted=SimpleNamespace(h=scores), classifier=SimpleNamespace(reachable=0.99)), 0.02, 30
    )
    assert capped[0] == pytest.approx(bar_ceiling(scores, 30) - 0.02)  # the reachable bar itself is capped
