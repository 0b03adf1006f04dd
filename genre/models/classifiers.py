"""The classifier h whose decisions we explain: the protocol's d-10-10-10-1 ReLU MLP."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genre.settings import ClassifierSettings


class MLPClassifier(nn.Module):
    def __init__(self, n_features: int, hidden: list[int]) -> None:
        super().__init__()
        self.config = {"n_features": n_features, "hidden": list(hidden)}
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(y+ | x) for scaled rows; any leading shape. Computed in the module's own precision and
        given at float32's (see RecourseEngine for why a float64 copy is worth having)."""
        x = np.asarray(x)
        flat = torch.as_tensor(x.reshape(-1, x.shape[-1]), dtype=next(self.parameters()).dtype)
        return torch.sigmoid(self(flat)).float().numpy().reshape(x.shape[:-1]).astype(np.float64)


def train_mlp(x: np.ndarray, y: np.ndarray, settings: ClassifierSettings) -> MLPClassifier:
    """Adam on (optionally class-balanced) binary cross-entropy, as in the protocol."""
    torch.manual_seed(settings.seed)
    model = MLPClassifier(x.shape[1], settings.hidden)
    xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    pos = float(yt.mean())
    if settings.class_balanced and 0 < pos < 1:
        weights = torch.where(yt > 0.5, 0.5 / pos, 0.5 / (1 - pos))
    else:
        weights = torch.ones_like(yt)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    generator = torch.Generator().manual_seed(settings.seed)
    model.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(xt), generator=generator)
        for batch in order.split(settings.batch_size):
            loss = nn.functional.binary_cross_entropy_with_logits(model(xt[batch]), yt[batch], weight=weights[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    return model
