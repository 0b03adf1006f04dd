"""The training loop every generator R(x+ | x-) shares: maximum likelihood on pairs drawn from Q.

Redrawing partners every epoch is what makes a generator learn Q itself rather than one frozen
sample of it; validation uses fixed draws on held-out sources so the early-stopping signal is not
noise from resampling. The best validation state is kept. What differs between generators is only
the model and its per-row loss, which the caller passes in.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

M = TypeVar("M", bound=nn.Module)
RowLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(x_plus [B, d], x_minus [B, d]) -> per-row loss [B]."""

_VAL_BATCH = 4096
_MIN_IMPROVEMENT = 1e-4


class LoopSettings(Protocol):
    """The settings every generator's section shares (CVAESettings, TransformerSettings)."""

    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def patience(self) -> int: ...
    @property
    def val_fraction(self) -> float: ...
    @property
    def min_steps_per_epoch(self) -> int: ...
    @property
    def max_steps_per_epoch(self) -> int: ...
    @property
    def min_val_pairs(self) -> int: ...
    @property
    def seed(self) -> int: ...


class Partners(Protocol):
    """Q(x+ | x-) over target rows for each source row (``genre.recourse.pairs.PairingDistribution``).
    The loop only narrows it to some sources and draws partners from it, so the models need not
    know how the pairs were synthesised (and do not import the recourse layer)."""

    def restrict(self, rows: np.ndarray) -> Partners: ...
    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray: ...


@dataclass
class TrainingHistory:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


def mean_loss(row_loss: RowLoss, x_plus: torch.Tensor, x_minus: torch.Tensor, batch: int = _VAL_BATCH) -> float:
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x_plus), batch):
            total += float(row_loss(x_plus[i : i + batch], x_minus[i : i + batch]).sum())
    return total / max(len(x_plus), 1)


def fit_pairs(
    model: M,
    row_loss: RowLoss,
    x_sources: np.ndarray,
    x_targets: np.ndarray,
    q: Partners,
    cfg: LoopSettings,
    name: str,
    show_progress: bool = True,
) -> tuple[M, TrainingHistory]:
    """Train ``model`` (already built; seed torch before building it) on ``row_loss`` and return it
    in eval mode holding its best validation state.

    ``q`` indexes rows of ``x_targets`` for each row of ``x_sources`` (all with a target). A fixed
    ``cfg.val_fraction`` of sources is held out with fixed partners; the validation loss is
    computed with torch reseeded, so a stochastic loss (the CVAE's latent draw) compares like with like.

    Scaled to the data: an epoch is at least ``cfg.min_steps_per_epoch`` optimiser steps (on a
    small dataset several passes, each with freshly drawn partners), so that ``epochs`` and
    ``patience`` mean as much training on 800 rows as on 36,000 (where one pass is already ~95
    steps and nothing changes); at most ``cfg.max_steps_per_epoch`` steps, on a fresh seeded sample
    of sources where one pass would take more (millions of rows: an epoch, and its draws from Q,
    stay the same size, so early stopping checks as often); and each held-out source gets as many
    fixed partners as it takes to reach ``cfg.min_val_pairs`` validation pairs, so early stopping
    follows Q and not the noise of a few dozen pairs.
    """
    if len(x_sources) < 2:
        raise ValueError(
            f"{name}: need at least 2 sources with an admissible target to train and validate, got {len(x_sources)}"
        )
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(x_sources))
    n_val = max(1, round(len(order) * cfg.val_fraction))
    val_rows, train_rows = order[:n_val], order[n_val:]
    q_train, q_val = q.restrict(train_rows), q.restrict(val_rows)
    xs = torch.from_numpy(np.asarray(x_sources, np.float32))
    xt = torch.from_numpy(np.asarray(x_targets, np.float32))
    per_source = max(1, math.ceil(cfg.min_val_pairs / n_val))
    val_minus, val_plus = (
        xs[val_rows].repeat_interleave(per_source, dim=0),
        xt[q_val.sample(rng, per_source).reshape(-1)],
    )
    per_pass = min(len(train_rows), cfg.max_steps_per_epoch * cfg.batch_size)  # sources a pass trains on
    passes = max(1, math.ceil(cfg.min_steps_per_epoch / math.ceil(per_pass / cfg.batch_size)))
    x_train = xs[train_rows]  # every pass's sources, where a pass takes them all

    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history = TrainingHistory()
    best_state, best_val, waited = copy.deepcopy(model.state_dict()), float("inf"), 0
    columns = [
        TextColumn(name),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.fields[status]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task("epochs", total=cfg.epochs, status="")
        for epoch in range(cfg.epochs):
            model.train()
            running = 0.0
            for _ in range(passes):
                if per_pass < len(train_rows):
                    chosen = np.sort(rng.choice(len(train_rows), size=per_pass, replace=False))
                    x_minus, x_plus = xs[train_rows[chosen]], xt[q_train.restrict(chosen).sample(rng)[:, 0]]
                else:
                    x_minus, x_plus = x_train, xt[q_train.sample(rng)[:, 0]]
                perm = torch.from_numpy(rng.permutation(per_pass))
                for batch in perm.split(cfg.batch_size):
                    loss = row_loss(x_plus[batch], x_minus[batch]).mean()
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    running += float(loss.detach()) * len(batch)
            model.eval()
            torch.manual_seed(cfg.seed + 1)
            val = mean_loss(row_loss, val_plus, val_minus)
            history.train_loss.append(running / (passes * per_pass))
            history.val_loss.append(val)
            if val < best_val - _MIN_IMPROVEMENT:
                best_val, best_state, waited, history.best_epoch = val, copy.deepcopy(model.state_dict()), 0, epoch
            else:
                waited += 1
            progress.update(
                task, advance=1, status=f"train {history.train_loss[-1]:.3f} val {val:.3f} best@{history.best_epoch}"
            )
            if waited >= cfg.patience:
                history.stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    return model, history
