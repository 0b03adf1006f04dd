"""The classifier h whose decisions we explain: the protocol's d-10-10-10-1 ReLU MLP."""

from __future__ import annotations

import copy
import math
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from genre.models.threads import torch_threads
from genre.settings import ClassifierSettings

DECISION_THRESHOLD = 0.5  # h(x) above it approves x: the decision recourse is asked about


class Classifier(Protocol):
    """What recourse needs of h: its probabilities on scaled rows, and what ``auto`` resolves to.
    Either the protocol's MLP (below) or the lender's own model (``genre.models.own_model``)."""

    @property
    def reachable(self) -> float | None: ...

    # True where a call costs more than its rows (a lender's pipeline checks and encodes its input
    # on every call): the engine then scores the factuals and their candidates in one call (under
    # ``cheapest``, only the cheapest candidates, and the rest where they could change an answer).
    score_in_one_call: bool

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...

    def scorer(self) -> Classifier: ...


class MLPClassifier(nn.Module):
    """``reachable`` (``genre.recourse.threshold.reachable_score``) travels with the weights, so that
    every engine built from this file (evaluation, CLI, bento) resolves ``auto`` to the same value."""

    score_in_one_call = False  # a call costs its rows: nothing is sampled for an approved factual

    def __init__(self, n_features: int, hidden: list[int], reachable: float | None = None) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"n_features": n_features, "hidden": list(hidden), "reachable": reachable}
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    @property
    def reachable(self) -> float | None:
        return self.config["reachable"]

    @reachable.setter
    def reachable(self, value: float | None) -> None:
        self.config["reachable"] = value  # saved with the weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(y+ | x) for scaled rows; any leading shape. Computed in the module's own precision and
        given at float32's (see RecourseEngine for why a float64 copy is worth having)."""
        x = np.asarray(x)
        flat = torch.as_tensor(x.reshape(-1, x.shape[-1]), dtype=next(self.parameters()).dtype)
        return torch.sigmoid(self(flat)).float().numpy().reshape(x.shape[:-1]).astype(np.float64)

    def scorer(self) -> MLPClassifier:
        """A float64 copy for scoring answers: in float32 the BLAS rounds a row's products
        differently by where the row sits in the matrix, so an applicant's probabilities (and which
        candidates pass) would depend on who else is in the batch; float64's differences vanish in
        the rounding to float32. A copy, not a cast: concurrent requests share this one read-only."""
        return copy.deepcopy(self).double()


def batch_and_lr(n_rows: int, settings: ClassifierSettings) -> tuple[int, float]:
    """The batch size and learning rate training uses.

    ``batch_size: auto`` keeps the protocol's 64 for small data, where every step counts, and grows
    it to 128 and 256 once there are at least 128 batches' worth of rows per epoch; the learning
    rate grows with the square root of the batch. The MLP is so small that each step's cost is
    Python's and torch's dispatch, not arithmetic, so fewer, larger steps train it several times
    faster at about the same accuracy (docs/decisions.md).
    """
    if settings.batch_size != "auto":
        return settings.batch_size, settings.lr
    batch = 64
    while batch < 256 and n_rows >= 128 * batch * 2:
        batch *= 2
    return batch, settings.lr * math.sqrt(batch / 64)


def train_mlp(x: np.ndarray, y: np.ndarray, settings: ClassifierSettings) -> MLPClassifier:
    """Adam on (optionally class-balanced) binary cross-entropy, as in the protocol, on
    ``settings.threads`` threads (a tiny model gains nothing from more and thrashes on a busy
    machine). Each epoch permutes the rows once and takes contiguous slices, and Adam runs fused:
    the same updates with a third less of the per-step overhead that dominates here."""
    batch_size, lr = batch_and_lr(len(x), settings)
    with torch_threads(settings.threads):
        torch.manual_seed(settings.seed)
        model = MLPClassifier(x.shape[1], settings.hidden)
        xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
        yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
        pos = float(yt.mean())
        if settings.class_balanced and 0 < pos < 1:
            weights = torch.where(yt > 0.5, 0.5 / pos, 0.5 / (1 - pos))
        else:
            weights = torch.ones_like(yt)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        generator = torch.Generator().manual_seed(settings.seed)
        model.train()
        for _ in range(settings.epochs):
            order = torch.randperm(len(xt), generator=generator)
            xs, ys, ws = xt[order], yt[order], weights[order]
            for start in range(0, len(xs), batch_size):
                end = start + batch_size
                loss = nn.functional.binary_cross_entropy_with_logits(
                    model(xs[start:end]), ys[start:end], weight=ws[start:end]
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        model.eval()
    return model
