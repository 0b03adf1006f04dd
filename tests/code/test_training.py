"""The generators' shared training loop scales an epoch to the data: on a small dataset an epoch
is several passes (``min_steps_per_epoch`` optimiser steps at least) and validation holds enough
fixed pairs (``min_val_pairs``); on a large one both are what they always were, and on a very
large one an epoch is a sample of at most ``max_steps_per_epoch`` steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from genre.models.training import fit_pairs
from genre.settings import CVAESettings


class Uniform:
    """Q over ``m`` targets, uniform, for ``n`` sources."""

    def __init__(self, n: int, m: int) -> None:
        self.n, self.m = n, m

    def restrict(self, rows: np.ndarray) -> Uniform:
        return Uniform(len(rows), self.m)

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        return rng.integers(0, self.m, (self.n, n))


def counted_fit(sources: int, **settings: object) -> tuple[list[int], list[int]]:
    """(rows per training step, rows per validation call) over one epoch."""
    torch.manual_seed(0)
    model = nn.Linear(3, 3)
    steps: list[int] = []
    validation: list[int] = []

    def row_loss(x_plus: torch.Tensor, x_minus: torch.Tensor) -> torch.Tensor:
        (steps if model.training else validation).append(len(x_plus))
        return ((model(x_minus) - x_plus) ** 2).sum(-1)

    rng = np.random.default_rng(0)
    cfg = CVAESettings(epochs=1, batch_size=64, **settings)
    fit_pairs(
        model,
        row_loss,
        rng.random((sources, 3)),
        rng.random((50, 3)),
        Uniform(sources, 50),
        cfg,
        "test",
        show_progress=False,
    )
    return steps, validation


@pytest.mark.parametrize(("sources", "passes", "val_pairs"), [(100, 25, 1000), (20_000, 1, 2000)])
def test_an_epoch_is_scaled_to_the_data(sources: int, passes: int, val_pairs: int) -> None:
    steps, validation = counted_fit(sources, min_steps_per_epoch=50, min_val_pairs=1000)
    n_val = round(sources * 0.1)
    per_pass = -(-(sources - n_val) // 64)
    assert len(steps) == passes * per_pass and sum(steps) == passes * (sources - n_val)
    assert sum(validation) == val_pairs


def test_one_pass_per_epoch_when_asked() -> None:
    steps, validation = counted_fit(100, min_steps_per_epoch=1, min_val_pairs=1)
    assert sum(steps) == 90 and sum(validation) == 10


def test_a_large_epoch_is_a_sample_of_at_most_max_steps() -> None:
    """Millions of sources: an epoch is ``max_steps_per_epoch`` steps on a fresh sample of them,
    partners drawn for that sample only."""
    steps, validation = counted_fit(20_000, min_steps_per_epoch=5, max_steps_per_epoch=10, min_val_pairs=1000)
    assert len(steps) == 10 and sum(steps) == 640
    assert sum(validation) == 2000
