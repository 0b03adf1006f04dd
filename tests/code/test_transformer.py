"""The binned autoregressive Transformer generator: targets, loss, sampling, persistence, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genre.artifacts.torch_io import load_module, save_module
from genre.models.generators import load_generator
from genre.models.transformer import (
    TransformerGenerator,
    _IncrementalDecoder,
    bin_index,
    fit_transformer,
    soft_bin_targets,
)
from genre.recourse.pairs import pairing_distribution
from genre.settings import TransformerSettings

D = 4


def _model(bins: int = 50, seed: int = 0) -> TransformerGenerator:
    torch.manual_seed(seed)
    return TransformerGenerator(
        n_features=D, bins=bins, width=16, heads=4, encoder_layers=1, decoder_layers=2, sharpen=10.0
    ).eval()


def _points(n: int, seed: int = 0) -> np.ndarray:
    """Two continuous features, a binary and a 3-way categorical (scaled codes 0, 0.5, 1)."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.random(n), rng.random(n), rng.integers(0, 2, n), rng.integers(0, 3, n) / 2]).astype(
        np.float32
    )


def test_soft_bin_targets_sum_to_one_and_peak_at_the_nearest_edge() -> None:
    v = torch.tensor([0.0, 0.123, 0.372, 0.5, 0.999, 1.0])
    t = soft_bin_targets(v, 50)
    assert t.shape == (6, 50)
    torch.testing.assert_close(t.sum(-1), torch.ones(6))
    assert t.argmax(-1).tolist() == [0, 6, 19, 25, 49, 49]
    assert bin_index(v, 50).tolist() == [0, 6, 19, 25, 49, 49]
    # one bin's width: the neighbouring edges of an edge value get exp(-1/2) of its weight
    assert float(t[3, 24] / t[3, 25]) == pytest.approx(np.exp(-0.5), rel=1e-4)


def test_loss_is_finite_per_row_and_trains_every_parameter() -> None:
    model = _model().train()
    x_minus, x_plus = torch.from_numpy(_points(7, seed=1)), torch.from_numpy(_points(7, seed=2))
    loss = model.loss(x_plus, x_minus)
    assert loss.shape == (7,)
    assert torch.isfinite(loss).all() and (loss > 0).all()
    loss.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_incremental_sampling_decoder_matches_the_causal_decoder() -> None:
    """Sampling decodes one position at a time with caches; it must see what training sees."""
    model = _model()
    x_minus, x_plus = torch.from_numpy(_points(5, seed=1)), torch.from_numpy(_points(15, seed=2))
    with torch.no_grad():
        teacher = model.logits(x_plus, x_minus.repeat_interleave(3, dim=0))
        decoder = _IncrementalDecoder(model, model.encode(x_minus), 3)
        token, steps = model.start.expand(15, -1), []
        for j in range(D):
            steps.append(model.head(decoder.step(token + model.query_embedding[j])) + model.head_bias[j])
            token = model.value_tokens(x_plus[:, j : j + 1], slice(j, j + 1))[:, 0]
    torch.testing.assert_close(torch.stack(steps, dim=1), teacher, atol=1e-5, rtol=1e-5)


def test_propose_shapes_and_values() -> None:
    x = _points(6)
    out = _model().propose(x, 9, temperature=1.0, seed=0)
    assert out.shape == (6, 9, D) and out.dtype == np.float32
    assert (out >= 0).all() and (out <= 1).all()
    # every value is a bin edge or the factual's own value (its bin decodes to it exactly)
    edges = np.arange(50) / 50
    on_edge = np.isclose(out[..., None], edges, atol=1e-6).any(-1)
    assert (on_edge | (out == x[:, None, :])).all()


def test_low_temperature_collapses_onto_the_most_likely_path() -> None:
    out = _model(seed=3).propose(_points(4), 6, temperature=1e-4, seed=0)
    np.testing.assert_array_equal(out, np.repeat(out[:, :1], 6, axis=1))
    spread = _model(seed=3).propose(_points(4), 6, temperature=100.0, seed=0)
    assert not np.array_equal(spread, np.repeat(spread[:, :1], 6, axis=1))


def test_randomness_is_per_applicant() -> None:
    """The same applicant gets the same candidates alone or inside any batch; seeds matter."""
    x = _points(6)
    model = _model()
    batch = model.propose(x, 5, 10.0, seed=0)
    np.testing.assert_array_equal(model.propose(x[3:4], 5, 10.0, seed=0)[0], batch[3])
    np.testing.assert_array_equal(model.propose(x[[5, 0, 3]], 5, 10.0, seed=0), batch[[5, 0, 3]])
    assert not np.array_equal(model.propose(x, 5, 10.0, seed=1), batch)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = _model(bins=20)
    save_module(model, model.config, tmp_path / "g.pt")
    loaded = load_module(TransformerGenerator, tmp_path / "g.pt")
    by_kind = load_generator(tmp_path / "g.pt")
    assert isinstance(by_kind, TransformerGenerator) and by_kind.config == model.config
    x = _points(4)
    expected = model.propose(x, 7, 5.0, seed=2)
    np.testing.assert_array_equal(loaded.propose(x, 7, 5.0, seed=2), expected)
    np.testing.assert_array_equal(by_kind.propose(x, 7, 5.0, seed=2), expected)


def test_training_learns_the_pairing() -> None:
    """Validation loss falls, and the generator's mean move in feature 0 matches Q's."""
    from genre.data.preprocessing import Preprocessor
    from genre.data.schema import DatasetSchema

    schema = DatasetSchema.model_validate(
        {
            "name": "tiny2d",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "a": {"kind": "continuous", "min": 0, "max": 1},
                "b": {"kind": "continuous", "min": 0, "max": 1},
            },
        }
    )
    pre = Preprocessor(schema, np.zeros(2), np.ones(2))
    rng = np.random.default_rng(1)
    src = np.column_stack([rng.random(400) * 0.6, rng.random(400)]).astype(np.float32)
    tgt = src.copy()
    tgt[:, 0] += 0.3
    q = pairing_distribution(src, tgt, pre, lam=5.0, k=20, chunk_size=128)
    cfg = TransformerSettings(
        width=16,
        heads=2,
        encoder_layers=1,
        decoder_layers=1,
        epochs=20,
        batch_size=32,
        lr=3e-3,
        patience=20,
        val_fraction=0.2,
    )
    model, history = fit_transformer(src, tgt, q, cfg, show_progress=False)
    assert history.val_loss[history.best_epoch] < 0.8 * history.val_loss[0]
    # temperature = sharpen undoes the sharpening: samples from the model's own distribution
    samples = model.propose(src[:50], 20, temperature=cfg.sharpen, seed=0)
    shift = samples[..., 0].mean(axis=1) - src[:50, 0]
    q_draws = tgt[q.sample(np.random.default_rng(0), n=200)][:50, :, 0]
    q_shift = q_draws.mean(axis=1) - src[:50, 0]
    assert float(q_shift.mean()) > 0.05  # the check has something to find
    assert abs(float(shift.mean()) - float(q_shift.mean())) < 0.05
    # the authors' sharpened sampling (temperature 1) moves the same way
    sharp = model.propose(src[:50], 5, temperature=1.0, seed=0)[..., 0].mean(axis=1) - src[:50, 0]
    assert abs(float(sharp.mean()) - float(q_shift.mean())) < 0.1
