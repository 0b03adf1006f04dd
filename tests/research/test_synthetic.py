"""The closed-form world, the true Q* on a grid, and a fast run of the consistency experiment."""

from __future__ import annotations

import numpy as np
import pytest

from genre.settings import CVAESettings
from research.consistency_experiment import ExperimentSettings, run_experiment
from research.synthetic import (
    GaussianWorld,
    Grid,
    draw_from_grid,
    true_target_distribution,
)


def test_bayes_posterior_is_one_half_midway() -> None:
    world = GaussianWorld(prior_pos=0.5)
    midway = np.array([[0.5, 0.5]])
    assert world.p_pos(midway)[0] == pytest.approx(0.5)
    assert world.p_pos(np.array([[0.9, 0.9]]))[0] > 0.9


def test_true_q_is_the_masked_tilted_density() -> None:
    """Q*(g | x-) ∝ P(g | y+) · 1[h(g) > gamma] · exp(-lam · |x- - g|_1), checked cell by cell."""
    world = GaussianWorld()
    grid = Grid.square(0.0, 1.0, 8)
    source = np.array([[0.3, 0.4]])
    q = true_target_distribution(world, source, grid, gamma=0.7, lam=3.0)[0]
    want = (
        world.density(grid.points, True)
        * (world.p_pos(grid.points) > 0.7)
        * np.exp(-3.0 * np.abs(grid.points - source).sum(1))
    )
    np.testing.assert_allclose(q, want / want.sum(), rtol=1e-9)
    assert np.all(q[world.p_pos(grid.points) <= 0.7] == 0)


def test_grid_draws_land_in_allowed_cells() -> None:
    world = GaussianWorld()
    grid = Grid.square(0.0, 1.0, 10)
    q = true_target_distribution(world, np.array([[0.2, 0.2]]), grid, gamma=0.7, lam=5.0)
    draws = draw_from_grid(q, grid, 500, np.random.default_rng(0))[0]
    cells = np.clip(((draws - 0.0) / grid.width).astype(int), 0, 9)
    index = cells[:, 0] * 10 + cells[:, 1]
    assert np.all(q[0, index] > 0)


def test_fast_experiment_runs_and_reports_every_size() -> None:
    cfg = ExperimentSettings(
        sizes=(300, 900),
        held_out_sources=8,
        samples=40,
        grid_cells=30,
        cvae=CVAESettings(latent_dim=2, hidden=[16], epochs=5, batch_size=64, patience=5),
    )
    result = run_experiment(cfg)
    assert result["sizes"] == [300, 900]
    for key in ("generator_vs_qstar", "decoder_mean_vs_qstar", "empirical_q_vs_qstar"):
        assert len(result[key]) == 2 and np.all(np.isfinite(result[key]))
    assert abs(result["qstar_vs_qstar_floor"]) < min(result["generator_vs_qstar"])
