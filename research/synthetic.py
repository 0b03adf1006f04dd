"""A 2-D world whose class densities and Bayes classifier are known in closed form.

It exists to check the paper's consistency claim empirically: with the true densities known, the
target distribution Q*(x+ | x-) ∝ P(x+ | y+) · 1[h(x+) > gamma] · exp(-lam · ||x- - x+||_1) can be
computed exactly on a grid, and a generator trained on n synthesised pairs can be compared with it
as n grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema


@dataclass(frozen=True)
class GaussianWorld:
    """Two isotropic Gaussian classes; h is the Bayes posterior P(y+ | x)."""

    mean_neg: tuple[float, float] = (0.35, 0.35)
    mean_pos: tuple[float, float] = (0.65, 0.65)
    sigma: float = 0.15
    prior_pos: float = 0.4

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < self.prior_pos).astype(np.int64)
        means = np.where(y[:, None] == 1, self.mean_pos, self.mean_neg)
        return (means + self.sigma * rng.standard_normal((n, 2))).astype(np.float32), y

    def density(self, x: np.ndarray, positive: bool) -> np.ndarray:
        mean = np.asarray(self.mean_pos if positive else self.mean_neg)
        sq = np.sum((np.asarray(x, np.float64) - mean) ** 2, axis=-1)
        return np.exp(-sq / (2 * self.sigma**2)) / (2 * np.pi * self.sigma**2)

    def p_pos(self, x: np.ndarray) -> np.ndarray:
        pos = self.prior_pos * self.density(x, True)
        neg = (1 - self.prior_pos) * self.density(x, False)
        return pos / (pos + neg)

    def schema(self) -> DatasetSchema:
        bounds = {"kind": "continuous", "min": -1.0, "max": 2.0}
        return DatasetSchema.model_validate(
            {
                "name": "gaussian2d",
                "target": {"name": "y", "values": [0, 1], "favourable": 1},
                "features": {"x1": bounds, "x2": bounds},
            }
        )

    def preprocessor(self) -> Preprocessor:
        """The identity scaling: the world already lives in the space the models work in."""
        return Preprocessor(self.schema(), np.zeros(2), np.ones(2))


@dataclass(frozen=True)
class Grid:
    """Cell centres of a regular grid over a square, and the cell width (for jittered draws)."""

    points: np.ndarray
    width: float

    @classmethod
    def square(cls, low: float, high: float, cells: int) -> Grid:
        width = (high - low) / cells
        centres = low + width * (np.arange(cells) + 0.5)
        xx, yy = np.meshgrid(centres, centres, indexing="ij")
        return cls(np.column_stack([xx.ravel(), yy.ravel()]), width)


def true_target_distribution(
    world: GaussianWorld, x_minus: np.ndarray, grid: Grid, gamma: float, lam: float
) -> np.ndarray:
    """[S, 2] sources -> [S, cells] probabilities of Q*(. | source) over the grid cells."""
    base = world.density(grid.points, True) * (world.p_pos(grid.points) > gamma)
    cost = np.abs(np.asarray(x_minus, np.float64)[:, None, :] - grid.points[None, :, :]).sum(-1)
    logits = np.log(np.maximum(base, 1e-300))[None, :] - lam * cost
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits) * (base > 0)[None, :]
    return weights / weights.sum(axis=1, keepdims=True)


def draw_from_grid(probs: np.ndarray, grid: Grid, n: int, rng: np.random.Generator) -> np.ndarray:
    """[S, cells] -> [S, n, 2]: a cell by its probability, then uniformly inside it."""
    cumulative = np.cumsum(probs, axis=1)
    picks = np.array([np.searchsorted(row, rng.random(n) * row[-1]) for row in cumulative])
    picks = np.minimum(picks, probs.shape[1] - 1)
    jitter = (rng.random((len(probs), n, 2)) - 0.5) * grid.width
    return grid.points[picks] + jitter
