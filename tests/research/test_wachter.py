"""Wachter gradient search: constraints hold exactly, and it moves what the classifier rewards
(hand-set linear classifiers on a tiny schema, so every expected answer is known)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genre.data.preprocessing import Preprocessor
from genre.models.classifiers import MLPClassifier
from genre.settings import WachterSettings
from research.wachter import wachter_recourse

AGE, DEBT, SEX, JOB = range(4)
JOB_CODES = {0.0, 0.5, 1.0}


class LinearClassifier(MLPClassifier):
    """logit h(x) = w . x + b on the scaled features."""

    def __init__(self, w: list[float], b: float) -> None:
        super().__init__(4, [])
        self.register_buffer("w", torch.tensor(w, dtype=torch.float32))  # a buffer: predict_proba casts state
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w + self.b


def _check(
    pre: Preprocessor, h: MLPClassifier, x: np.ndarray, x_plus: np.ndarray, found: np.ndarray, threshold: float
) -> None:
    assert x_plus.shape == x.shape and x_plus.dtype == np.float32 and found.shape == (len(x),)
    np.testing.assert_array_equal(x_plus[:, SEX], x[:, SEX])  # immutable
    assert np.all(x_plus[:, AGE] >= x[:, AGE])  # increase-only
    assert np.all(x_plus[:, DEBT] <= x[:, DEBT])  # decrease-only
    assert np.all((x_plus >= 0) & (x_plus <= 1))
    np.testing.assert_allclose(x_plus[:, AGE] * 10, np.rint(x_plus[:, AGE] * 10), atol=1e-5)  # whole years
    assert set(np.round(x_plus[:, JOB], 6)) <= JOB_CODES  # a real category
    prob = h.predict_proba(x_plus)
    assert np.all(prob[found] > threshold)
    assert np.all(prob[~found] <= threshold)


def test_moves_only_the_feature_the_classifier_rewards(pre: Preprocessor) -> None:
    h = LinearClassifier([8.0, 0.0, 0.0, 0.0], -4.0)  # only age matters: h > 0.9 needs age > 0.775
    x = np.array([[0.2, 0.6, 1.0, 0.5], [0.1, 0.3, 0.0, 0.0], [0.4, 0.9, 1.0, 1.0]], dtype=np.float32)
    x_plus, found, seconds = wachter_recourse(x, pre, h)
    _check(pre, h, x, x_plus, found, 0.9)
    assert found.all() and seconds >= 0
    np.testing.assert_allclose(x_plus[:, AGE], 0.8, atol=1e-6)  # the cheapest whole year that clears 0.9
    np.testing.assert_array_equal(x_plus[:, 1:], x[:, 1:])  # nothing else moves


def test_immutable_feature_is_never_used_even_when_it_is_the_strongest(pre: Preprocessor) -> None:
    h = LinearClassifier([0.0, -8.0, 20.0, 0.0], 3.0)  # sex would flip it at once; debt must go below 0.1
    x = np.array([[0.5, 0.9, 0.0, 0.5], [0.5, 0.5, 0.0, 0.0]], dtype=np.float32)
    x_plus, found, _ = wachter_recourse(x, pre, h)
    _check(pre, h, x, x_plus, found, 0.9)
    assert found.all()
    assert np.all(x_plus[:, DEBT] < 0.1)
    np.testing.assert_array_equal(x_plus[:, [AGE, SEX, JOB]], x[:, [AGE, SEX, JOB]])


def test_directions_hold_and_categories_are_snapped(pre: Preprocessor) -> None:
    # h would like age down and debt up (both forbidden), so only the job category can help
    h = LinearClassifier([-8.0, 8.0, 0.0, 8.0], -4.0)
    x = np.array([[0.5, 0.5, 1.0, 0.0], [0.3, 0.4, 0.0, 0.5]], dtype=np.float32)
    x_plus, found, _ = wachter_recourse(x, pre, h)
    _check(pre, h, x, x_plus, found, 0.9)
    assert found.all()
    np.testing.assert_array_equal(x_plus[:, JOB], [1.0, 1.0])  # the relaxed code snapped to category c
    np.testing.assert_array_equal(x_plus[:, [AGE, DEBT, SEX]], x[:, [AGE, DEBT, SEX]])


def test_frozen_feature_blocks_the_only_route_and_is_reported_not_found(pre: Preprocessor) -> None:
    h = LinearClassifier([-8.0, 8.0, 0.0, 8.0], -4.0)
    x = np.array([[0.5, 0.5, 1.0, 0.0]], dtype=np.float32)
    frozen = np.array([False, False, False, True])
    x_plus, found, _ = wachter_recourse(x, pre, h, WachterSettings(rounds=3, steps=20), frozen=frozen)
    _check(pre, h, x, x_plus, found, 0.9)
    assert not found[0]
    np.testing.assert_array_equal(x_plus, x)


def test_an_already_accepted_factual_is_returned_unchanged(pre: Preprocessor) -> None:
    h = LinearClassifier([8.0, 0.0, 0.0, 0.0], -4.0)
    x = np.array([[0.9, 0.5, 0.0, 0.5], [0.2, 0.5, 0.0, 0.5]], dtype=np.float32)
    x_plus, found, _ = wachter_recourse(x, pre, h)
    assert found.all()
    np.testing.assert_array_equal(x_plus[0], x[0])
    assert x_plus[1, AGE] == pytest.approx(0.8)


def test_settings_reject_a_target_below_the_threshold() -> None:
    with pytest.raises(ValueError):
        WachterSettings(target=0.85, threshold=0.9)
