"""``recourse.threshold: auto`` and the classifier's training batch: derived from the data, so a
classifier that is never 0.9 sure still has a threshold a recourse can clear."""

from __future__ import annotations

import numpy as np
import pytest

from genre.messages import InputError
from genre.models.classifiers import MLPClassifier, batch_and_lr, confident_threshold
from genre.recourse.engine import resolved
from genre.settings import ClassifierSettings, RecourseSettings


def test_auto_keeps_the_papers_threshold_where_the_classifier_is_that_sure() -> None:
    h = np.r_[np.linspace(0.0, 0.5, 100), np.linspace(0.51, 0.99, 100)]
    assert confident_threshold(h) == 0.9


def test_auto_comes_down_to_what_the_surest_tenth_of_approved_rows_reach() -> None:
    h = np.r_[np.linspace(0.0, 0.5, 100), np.linspace(0.51, 0.66, 100)]
    threshold = confident_threshold(h)
    assert threshold == pytest.approx(np.quantile(h[h > 0.5], 0.9))
    assert 0.5 < threshold < 0.66 and (h > threshold).sum() == 10


def test_a_classifier_that_approves_no_row_has_no_threshold_and_says_what_to_do() -> None:
    assert confident_threshold(np.full(50, 0.4)) is None
    classifier = MLPClassifier(3, [4], auto_threshold=None)
    with pytest.raises(InputError, match="approves no training row.*set recourse.threshold to a number"):
        resolved(RecourseSettings(threshold="auto"), classifier)
    assert resolved(RecourseSettings(threshold=0.8), classifier).threshold == 0.8
    assert resolved(RecourseSettings(), MLPClassifier(3, [4], auto_threshold=0.72)).threshold == 0.72


@pytest.mark.parametrize(("rows", "batch"), [(800, 64), (16_383, 64), (16_384, 128), (32_768, 256), (1_000_000, 256)])
def test_the_batch_grows_with_the_data_and_the_rate_with_its_square_root(rows: int, batch: int) -> None:
    assert batch_and_lr(rows, ClassifierSettings(lr=0.001)) == (batch, pytest.approx(0.001 * np.sqrt(batch / 64)))
    assert batch_and_lr(rows, ClassifierSettings(batch_size=32, lr=0.01)) == (32, 0.01)
