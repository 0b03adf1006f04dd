"""CVAE shapes, loss and the training loop on tiny data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genre.artifacts.torch_io import load_module, save_module
from genre.models.cvae import CVAE, fit_cvae
from genre.models.generators import row_draws
from genre.recourse.pairs import pairing_distribution
from genre.settings import CVAESettings

N_CATEGORIES = [0, 0, 2, 3]  # two numeric features, a binary and a 3-way category


def _points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.random(n), rng.random(n), rng.integers(0, 2, n), rng.integers(0, 3, n) / 2]).astype(
        np.float32
    )


def _noise(rows: int, n: int, latent_dim: int = 3) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((rows, n, latent_dim)).astype(np.float32)


def test_loss_is_finite_per_row() -> None:
    model = CVAE(N_CATEGORIES, latent_dim=3, hidden=[16])
    x = torch.from_numpy(_points(7))
    nll, kl = model.loss(x, x, beta=1.0)
    assert nll.shape == (7,) and kl.shape == (7,)
    assert torch.isfinite(nll).all() and (kl >= 0).all()
    (nll + kl).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_sample_shapes_and_valid_categories() -> None:
    model = CVAE(N_CATEGORIES, latent_dim=3, hidden=[16])
    out = model.sample(_points(5), _noise(5, 4))
    assert out.shape == (5, 4, 4)
    assert set(np.unique(out[..., 2])) <= {0.0, 1.0}
    assert set(np.unique(out[..., 3])) <= {0.0, 0.5, 1.0}


def test_sampling_computes_what_the_decoder_computes() -> None:
    """The sampler's split first layer, blocks and argmax against the plain decoder of training."""
    torch.manual_seed(0)
    model = CVAE(N_CATEGORIES, latent_dim=3, hidden=[16, 16])
    with torch.no_grad():
        model.decoder[-1].weight.mul_(20)  # logits far apart: every category wins somewhere
    x, z = _points(7), _noise(7, 300)
    out = model.sample(x, z).reshape(-1, 4)
    with torch.no_grad():
        mean, logits = model.decode(
            torch.from_numpy(z.reshape(-1, 3)), torch.from_numpy(x).repeat_interleave(300, dim=0)
        )
    np.testing.assert_allclose(out[:, :2], mean.numpy(), atol=1e-6)
    codes = torch.stack([lg.argmax(1) for lg in logits], dim=1).numpy()
    np.testing.assert_array_equal(np.rint(out[:, 2:] * [1, 2]), codes)
    assert len(np.unique(codes[:, 1])) == 3  # every category of the 3-way feature comes up


def test_noise_is_per_applicant() -> None:
    """The same applicant gets the same candidates alone or inside a batch."""
    x = _points(6)
    model = CVAE(N_CATEGORIES, latent_dim=3, hidden=[16])
    alone = model.propose(x[3:4], 5, 0.5, seed=0)
    batch = model.propose(x, 5, 0.5, seed=0)
    np.testing.assert_array_equal(alone[0], batch[3])
    draws = row_draws(x, (5, 3), 0, torch.randn)
    assert not torch.equal(draws[0], draws[1])
    assert not np.array_equal(model.propose(x, 5, 0.5, seed=1), batch)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = CVAE(N_CATEGORIES, latent_dim=3, hidden=[16])
    save_module(model, model.config, tmp_path / "g.pt")
    loaded = load_module(CVAE, tmp_path / "g.pt")
    x = _points(4)
    np.testing.assert_array_equal(
        model.eval().sample(x, _noise(4, 2)),
        loaded.sample(x, _noise(4, 2)),
    )


def test_training_learns_the_pairing() -> None:
    """Validation loss falls, and the generator's mean move in feature 0 matches Q's."""
    from genre.data.preprocessing import Preprocessor
    from genre.data.schema import DatasetSchema

    schema = DatasetSchema.model_validate(
        {
            "name": "tiny",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "a": {"kind": "continuous", "min": 0, "max": 1},
                "b": {"kind": "continuous", "min": 0, "max": 1},
                "g": {"kind": "categorical", "categories": ["f", "m"]},
                "c": {"kind": "categorical", "categories": ["x", "y", "z"]},
            },
        }
    )
    pre = Preprocessor(schema, np.zeros(4), np.array([1.0, 1.0, 1.0, 2.0]))
    src = _points(400, seed=1)
    src[:, 0] *= 0.6
    tgt = src.copy()
    tgt[:, 0] += 0.3
    q = pairing_distribution(src, tgt, pre, lam=5.0, k=20, chunk_size=128)
    cfg = CVAESettings(
        latent_dim=2, hidden=[32, 32], epochs=200, batch_size=32, lr=3e-3, patience=200, val_fraction=0.2, seed=0
    )
    model, history = fit_cvae(src, tgt, q, N_CATEGORIES, cfg, show_progress=False)
    assert history.val_loss[history.best_epoch] < history.val_loss[0]
    samples = model.sample(src[:50], _noise(50, 10, latent_dim=2) * 0.5)
    shift = samples[..., 0].mean(axis=1) - src[:50, 0]
    q_draws = tgt[q.sample(np.random.default_rng(0), n=200)][:50, :, 0]
    q_shift = q_draws.mean(axis=1) - src[:50, 0]
    assert abs(float(shift.mean()) - float(q_shift.mean())) < 0.05
    assert float(q_shift.mean()) > 0.05  # the check has something to find
