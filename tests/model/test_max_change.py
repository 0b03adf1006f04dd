"""``max_change`` per feature: the most a recourse may move it, in its own units, applied to the
pairs' admissibility (hence retrieval and NNR) and to the sampler's constraints alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from genre.data.preprocessing import Preprocessor
from genre.data.schema import FeatureSpec
from genre.recourse.engine import make_actionable
from genre.recourse.neighbours import admissible


def limited(pre: Preprocessor, **limits: float) -> Preprocessor:
    features = {
        n: s.model_copy(update={"max_change": limits[n]}) if n in limits else s for n, s in pre.schema.features.items()
    }
    return Preprocessor(pre.schema.model_copy(update={"features": features}), pre.mins, pre.ranges)


def test_admissible_targets_stay_within_reach(pre: Preprocessor) -> None:
    capped = limited(pre, age=3.0)
    source = torch.tensor([[0.2, 0.5, 0.0, 0.0]])  # age 2 (of 0-10), increase-only
    targets = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.6, 0.5, 0.0, 0.0], [0.1, 0.5, 0.0, 0.0]])  # +3, +4, -1
    assert admissible(source, targets, pre).tolist() == [[True, True, False]]
    assert admissible(source, targets, capped).tolist() == [[True, False, False]]


def test_candidates_are_clamped_to_the_reach_in_whole_steps(pre: Preprocessor) -> None:
    capped = limited(pre, age=2.5, debt=0.1)  # an integer feature moves whole steps: 2, not 2.5
    x = np.array([[0.2, 0.5, 0.0, 0.0]], dtype=np.float32)
    wild = np.array([[[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.5]]], dtype=np.float32)
    out = make_actionable(capped, x, wild)
    raw = capped.inverse_transform(out.reshape(-1, 4))
    assert raw["age"].tolist() == [4, 2]  # +2 at most, never down (increase-only)
    assert np.allclose(raw["debt"], [0.4, 0.5])  # down by 0.1 at most, never up (decrease-only)


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "categorical", "categories": ["a", "b"], "max_change": 1},
        {"kind": "integer", "min": 0, "max": 9, "immutable": True, "max_change": 2},
        {"kind": "integer", "min": 0, "max": 9, "max_change": 0},
    ],
)
def test_max_change_only_where_it_means_something(spec: dict) -> None:
    with pytest.raises(ValidationError):
        FeatureSpec.model_validate(spec)
