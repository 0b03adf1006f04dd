"""The generator R(x+ | x-): a conditional VAE over the scaled feature space.

Continuous features get a Gaussian likelihood around x- plus a learned shift (staying put is the
cheapest recourse, so it should be the easiest thing to express), categorical features a
categorical likelihood over their values. At inference the noise goes into the latent only and the
decoder's mean is returned: decoder noise puts implausible values into wide features.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genre.generators import row_normal
from genre.pairs import PairingDistribution
from genre.settings import CVAESettings
from genre.training import TrainingHistory, fit_pairs

_MIN_LOG_SIGMA = -4.0
_SAMPLE_BLOCK = 256  # rows per decoder call when sampling; see CVAE.decode


def _mlp(width_in: int, hidden: list[int], width_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width_in, h), nn.SiLU()]
        width_in = h
    layers.append(nn.Linear(width_in, width_out))
    return nn.Sequential(*layers)


class CVAE(nn.Module):
    def __init__(self, n_categories: list[int], latent_dim: int, hidden: list[int]) -> None:
        """``n_categories[j]`` is 0 for a numeric feature, else the number of categories."""
        super().__init__()
        self.config = {"n_categories": list(n_categories), "latent_dim": latent_dim, "hidden": list(hidden)}
        self.latent_dim = latent_dim
        sizes = torch.tensor(n_categories)
        self.register_buffer("numeric", sizes == 0, persistent=False)
        self.register_buffer("cat_sizes", sizes[sizes > 0], persistent=False)
        self.register_buffer("cat_scale", (sizes[sizes > 0] - 1).clamp(min=1).float(), persistent=False)
        n_numeric = int((sizes == 0).sum())
        width = n_numeric + int(self.cat_sizes.sum())
        self.encoder = _mlp(2 * width, hidden, 2 * latent_dim)
        self.decoder = _mlp(latent_dim + width, hidden, width)
        self.log_sigma = nn.Parameter(torch.full((n_numeric,), -2.0))
        self.n_numeric = n_numeric

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Numeric columns as they are, categorical columns one-hot."""
        parts = [x[:, self.numeric]]
        codes = self.codes(x)
        for j, size in enumerate(self.cat_sizes.tolist()):
            parts.append(nn.functional.one_hot(codes[:, j], size).float())
        return torch.cat(parts, dim=1)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x[:, ~self.numeric] * self.cat_scale).long()

    def decode(self, z: torch.Tensor, x_minus: torch.Tensor, block: int | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``block`` runs the decoder on fixed-size blocks of rows (the last zero-padded), so a row's
        output does not depend on how many rows share the call: the BLAS picks its kernel by the
        matrix's shape, and two kernels round differently in the last bit."""
        inputs = torch.cat([z, self.embed(x_minus)], dim=1)
        if block is None:
            out = self.decoder(inputs)
        else:
            padded = nn.functional.pad(inputs, (0, 0, 0, -len(inputs) % block))
            out = torch.cat([self.decoder(part) for part in padded.split(block)])[: len(inputs)]
        mean = x_minus[:, self.numeric] + out[:, : self.n_numeric]
        logits = list(out[:, self.n_numeric :].split(self.cat_sizes.tolist(), dim=1))
        return mean, logits

    def loss(self, x_plus: torch.Tensor, x_minus: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Negative ELBO per row, split as (reconstruction, KL)."""
        stats = self.encoder(torch.cat([self.embed(x_plus), self.embed(x_minus)], dim=1))
        mu, log_var = stats.chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        mean, logits = self.decode(z, x_minus)
        log_sigma = self.log_sigma.clamp(min=_MIN_LOG_SIGMA)
        nll = (0.5 * ((x_plus[:, self.numeric] - mean) / log_sigma.exp()) ** 2 + log_sigma).sum(1)
        codes = self.codes(x_plus)
        for j, lg in enumerate(logits):
            nll = nll + nn.functional.cross_entropy(lg, codes[:, j], reduction="none")
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(1)
        return nll, beta * kl

    def propose(self, x: np.ndarray, n: int, temperature: float, seed: int) -> np.ndarray:
        """Candidates from latent draws scaled by ``temperature`` (noise in the latent only)."""
        return self.sample(x, row_normal(x, (n, self.latent_dim), seed) * temperature)

    @torch.no_grad()
    def sample(self, x_minus: np.ndarray, z: np.ndarray) -> np.ndarray:
        """[B, d] factuals and [B, n, latent] draws -> [B, n, d] candidates in the scaled space
        (the decoder's mean for numeric features, the most likely category otherwise)."""
        x = torch.from_numpy(np.asarray(x_minus, dtype=np.float32))
        n = z.shape[1]
        if len(x) == 0:
            return np.empty((0, n, x.shape[1]), dtype=np.float32)
        rep = x.repeat_interleave(n, dim=0)
        z_rows = torch.from_numpy(np.asarray(z, np.float32)).reshape(-1, self.latent_dim)
        mean, logits = self.decode(z_rows, rep, block=_SAMPLE_BLOCK)  # same answer alone or in any batch
        out = rep.clone()
        out[:, self.numeric] = mean
        if logits:
            codes = torch.stack([lg.argmax(1) for lg in logits], dim=1).float()
            out[:, ~self.numeric] = codes / self.cat_scale
        return out.reshape(len(x), n, -1).numpy()


def fit_cvae(
    x_sources: np.ndarray,
    x_targets: np.ndarray,
    q: PairingDistribution,
    n_categories: list[int],
    cfg: CVAESettings,
    show_progress: bool = True,
) -> tuple[CVAE, TrainingHistory]:
    """``q`` indexes rows of ``x_targets`` for each row of ``x_sources`` (all with a target)."""
    torch.manual_seed(cfg.seed)
    model = CVAE(n_categories, cfg.latent_dim, cfg.hidden)

    def row_loss(x_plus: torch.Tensor, x_minus: torch.Tensor) -> torch.Tensor:
        nll, kl = model.loss(x_plus, x_minus, cfg.beta)
        return nll + kl

    return fit_pairs(model, row_loss, x_sources, x_targets, q, cfg, "train_generator", show_progress)
