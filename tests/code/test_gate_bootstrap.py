"""The gate's intervals: a difference inside the noise is not a refusal, a real one is."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from genre.retraining.bootstrap import (
    auc_difference,
    auc_interval,
    gap_change,
    mean_difference,
    resamples,
    share_upper_bound,
    weighted_auc,
)


def test_each_resample_draws_every_row_count_once_in_total() -> None:
    weights = resamples(50, 200, seed=0)
    assert weights.shape == (200, 50) and (weights.sum(axis=1) == 50).all()


def scores(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """Per-applicant scores as the protocol's: validity + LOF - cost / d."""
    return rng.binomial(1, 0.95, n) + rng.binomial(1, 0.9, n) - rng.gamma(2.0, 0.25, n) / 13 + shift


def test_two_equally_good_models_are_rarely_refused_and_a_worse_one_always() -> None:
    """The score rule at tolerance 0.02 on 200 applicants: refusals of a challenger as good as the
    champion (both drawn from one distribution), by the interval and by the point estimate."""
    rng = np.random.default_rng(0)
    tolerance, trials, n = 0.02, 200, 200
    by_interval = by_point = worse_caught = 0
    for trial in range(trials):
        champion, challenger = scores(rng, n), scores(rng, n)
        diff, _, high = mean_difference(champion, challenger, resamples(n, 300, trial), 0.95)
        by_interval += high < -tolerance
        by_point += diff < -tolerance
        worse = scores(rng, n, shift=-0.25)
        worse_caught += mean_difference(champion, worse, resamples(n, 300, trial), 0.95)[2] < -tolerance
    assert by_interval / trials <= 0.03 < by_point / trials, (by_interval, by_point)
    assert worse_caught == trials


def test_a_gap_that_does_not_change_stays_inside_its_interval() -> None:
    rng = np.random.default_rng(1)
    labels = rng.choice(["a", "b", "c"], size=300, p=[0.6, 0.3, 0.1])
    before = rng.binomial(1, 0.9, 300).astype(float)
    low, high = gap_change(labels, ["a", "b", "c"], before, before, resamples(300, 200, 0), 0.95)
    assert low == high == 0.0
    widened = np.where(labels == "c", 0.0, before)  # group c never found a recourse any more
    low, _ = gap_change(labels, ["a", "b", "c"], before, widened, resamples(300, 200, 0), 0.95)
    assert low > 0.5


def test_a_classifier_that_lost_its_ranking_is_seen() -> None:
    rng = np.random.default_rng(2)
    labels = rng.binomial(1, 0.3, 2000)
    good = np.clip(labels * 0.4 + rng.normal(0.3, 0.2, 2000), 0, 1)
    same = auc_difference(labels, good, good, 100, 0, 0.95)
    assert same[2] == 0.0 and same[3] == same[4] == 0.0
    poisoned = np.where(rng.random(2000) < 0.5, 1 - good, good)  # half its rows ranked backwards
    before, after, diff, low, high = auc_difference(labels, good, poisoned, 100, 0, 0.95)
    assert after < before and high < -0.1 and low <= diff <= high


def test_a_share_inside_the_noise_of_its_count_may_still_pass() -> None:
    assert share_upper_bound(0.93, 100, 0.95) > 0.95  # 93 of 100 kept: 95% is within reach
    assert share_upper_bound(0.80, 400, 0.95) < 0.95  # 320 of 400: it is not
    assert share_upper_bound(0.0, 0, 0.95) == 1.0


def test_the_resampled_auc_is_the_auc_of_each_resample() -> None:
    """All resamples at once (weights) give what roc_auc_score gives each drawn sample, ties included."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.binomial(1, 0.4, 300)
    scores = np.round(np.clip(labels * 0.3 + rng.normal(0.4, 0.2, 300), 0, 1), 1)  # many ties
    weights = resamples(300, 5, 7)
    expected = [roc_auc_score(np.repeat(labels, w.astype(int)), np.repeat(scores, w.astype(int))) for w in weights]
    assert weighted_auc(labels, scores, weights) == pytest.approx(expected)
    assert weighted_auc(labels, scores, np.ones((1, 300)))[0] == pytest.approx(roc_auc_score(labels, scores))
    assert np.isnan(weighted_auc(labels, scores, (labels == 1)[None, :].astype(float)))[0]  # one class only


def test_one_classifiers_auc_interval_holds_its_auc_and_says_none_for_one_class() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 500)
    scores = labels * 0.3 + rng.random(500)
    auc, low, high = auc_interval(labels, scores, 500, 0, 0.95)
    assert auc == pytest.approx(roc_auc_score(labels, scores)) and low < auc < high and high - low < 0.1
    assert auc_interval(np.ones(50, int), rng.random(50), 100, 0, 0.95) is None
