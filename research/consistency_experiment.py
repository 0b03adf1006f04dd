"""Consistency, shown empirically: the distance between a generator trained on n synthesised pairs
and the true Q*, for growing n, on the closed-form 2-D world of ``research.synthetic``.

K is set to every target so that the empirical Q_n itself converges to Q* (a fixed K would shrink
the neighbourhood as n grows); the same held-out sources are used for every n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genre.evaluation.consistency import mean_energy_distance
from genre.models.cvae import CVAE, fit_cvae
from genre.recourse.pairs import pairing_distribution, split_sources_targets
from genre.settings import CVAESettings
from research.synthetic import (
    GaussianWorld,
    Grid,
    draw_from_grid,
    true_target_distribution,
)


@dataclass(frozen=True)
class ExperimentSettings:
    sizes: tuple[int, ...] = (500, 2000, 8000)
    gamma: float = 0.7
    lam: float = 5.0
    held_out_sources: int = 40
    samples: int = 200
    grid_cells: int = 120
    seed: int = 0
    cvae: CVAESettings = CVAESettings(latent_dim=2, hidden=[64, 64], epochs=300, batch_size=128, patience=30)


def model_samples(model: CVAE, x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Draws from the full model p(x+ | x-) = ∫ N(x+; mean(z, x-), sigma²) p(z) dz (numeric features)."""
    generator = torch.Generator().manual_seed(seed)
    rep = torch.from_numpy(np.repeat(np.asarray(x, np.float32), n, axis=0))
    with torch.no_grad():
        z = torch.randn(len(rep), model.latent_dim, generator=generator)
        mean, _ = model.decode(z, rep)
        noise = torch.randn(mean.shape, generator=generator) * model.log_sigma.exp()
    return (mean + noise).numpy().reshape(len(x), n, -1)


def run_experiment(
    cfg: ExperimentSettings, world: GaussianWorld = GaussianWorld()
) -> dict[str, list[float] | float | list[int]]:
    pre = world.preprocessor()
    rng = np.random.default_rng(cfg.seed)
    pool, _ = world.sample(20 * cfg.held_out_sources, rng)
    held_out = pool[world.p_pos(pool) <= cfg.gamma][: cfg.held_out_sources]
    grid = Grid.square(-0.3, 1.3, cfg.grid_cells)
    q_star = true_target_distribution(world, held_out, grid, cfg.gamma, cfg.lam)
    reference = draw_from_grid(q_star, grid, cfg.samples, rng)
    floor = mean_energy_distance(draw_from_grid(q_star, grid, cfg.samples, rng), reference)

    curve: dict[str, list[float]] = {"generator_vs_qstar": [], "decoder_mean_vs_qstar": [], "empirical_q_vs_qstar": []}
    for n in cfg.sizes:
        x, y = world.sample(n, np.random.default_rng([cfg.seed, n]))
        sources, targets = split_sources_targets(world.p_pos(x), y, cfg.gamma)
        q = pairing_distribution(x[sources], x[targets], pre, cfg.lam, k=len(targets), chunk_size=1024)
        keep = np.flatnonzero(q.has_target)
        model, _ = fit_cvae(x[sources[keep]], x[targets], q.restrict(keep), [0, 0], cfg.cvae, show_progress=False)
        q_held = pairing_distribution(held_out, x[targets], pre, cfg.lam, k=len(targets), chunk_size=1024)
        empirical = x[targets][q_held.sample(rng, cfg.samples)]
        curve["generator_vs_qstar"].append(
            mean_energy_distance(model_samples(model, held_out, cfg.samples, cfg.seed), reference)
        )
        curve["decoder_mean_vs_qstar"].append(
            mean_energy_distance(model.propose(held_out, cfg.samples, 1.0, cfg.seed), reference)
        )
        curve["empirical_q_vs_qstar"].append(mean_energy_distance(empirical, reference))
    return {"sizes": list(cfg.sizes), **curve, "qstar_vs_qstar_floor": floor}
