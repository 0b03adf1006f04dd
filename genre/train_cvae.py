"""Stage 4, train_cvae: fit R(x+ | x-) by maximum likelihood on pairs drawn afresh from Q each epoch.

Redrawing partners every epoch is what makes the generator learn Q itself rather than one frozen
sample of it; validation uses fixed draws on held-out sources so the early-stopping signal is not
noise from resampling.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from genre.artifacts import Artifacts
from genre.atomic import write_json, write_with
from genre.cvae import CVAE
from genre.datasets import load_prepared
from genre.pairs import PairingDistribution
from genre.settings import CVAESettings, Settings
from genre.synthesize_pairs import load_pairs
from genre.torch_io import save_module


@dataclass
class TrainingHistory:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


def _mean_loss(model: CVAE, x_plus: torch.Tensor, x_minus: torch.Tensor, beta: float, batch: int) -> float:
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x_plus), batch):
            nll, kl = model.loss(x_plus[i : i + batch], x_minus[i : i + batch], beta)
            total += float((nll + kl).sum())
    return total / max(len(x_plus), 1)


def fit_cvae(
    x_sources: np.ndarray,
    x_targets: np.ndarray,
    q: PairingDistribution,
    n_categories: list[int],
    cfg: CVAESettings,
    show_progress: bool = True,
) -> tuple[CVAE, TrainingHistory]:
    """``q`` indexes rows of ``x_targets`` for each row of ``x_sources`` (all with a target)."""
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    order = rng.permutation(len(x_sources))
    n_val = max(1, int(round(len(order) * cfg.val_fraction)))
    val_rows, train_rows = order[:n_val], order[n_val:]
    q_train, q_val = q.restrict(train_rows), q.restrict(val_rows)
    xs = torch.from_numpy(np.asarray(x_sources, np.float32))
    xt = torch.from_numpy(np.asarray(x_targets, np.float32))
    val_minus, val_plus = xs[val_rows], xt[q_val.sample(rng)[:, 0]]

    model = CVAE(n_categories, cfg.latent_dim, cfg.hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history = TrainingHistory()
    best_state, best_val, waited = copy.deepcopy(model.state_dict()), float("inf"), 0
    columns = [TextColumn("train_cvae"), BarColumn(), TextColumn("{task.completed}/{task.total} {task.fields[status]}"), TimeElapsedColumn()]
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task("epochs", total=cfg.epochs, status="")
        for epoch in range(cfg.epochs):
            model.train()
            x_minus = xs[train_rows]
            x_plus = xt[q_train.sample(rng)[:, 0]]
            perm = torch.from_numpy(rng.permutation(len(train_rows)))
            running = 0.0
            for batch in perm.split(cfg.batch_size):
                nll, kl = model.loss(x_plus[batch], x_minus[batch], cfg.beta)
                loss = (nll + kl).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                running += float(loss.detach()) * len(batch)
            model.eval()
            torch.manual_seed(cfg.seed + 1)
            val = _mean_loss(model, val_plus, val_minus, cfg.beta, 4096)
            history.train_loss.append(running / len(train_rows))
            history.val_loss.append(val)
            if val < best_val - 1e-4:
                best_val, best_state, waited, history.best_epoch = val, copy.deepcopy(model.state_dict()), 0, epoch
            else:
                waited += 1
            progress.update(task, advance=1, status=f"train {history.train_loss[-1]:.3f} val {val:.3f} best@{history.best_epoch}")
            if waited >= cfg.patience:
                history.stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    return model, history


def run(settings: Settings) -> dict[str, Any]:
    cfg = settings.train_cvae
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    sources, targets, q = load_pairs(paths.pairs)
    keep = np.flatnonzero(q.has_target)
    n_categories = [int(n) if c else 0 for n, c in zip(data.preprocessor.n_categories, data.preprocessor.categorical)]
    started = time.perf_counter()
    model, history = fit_cvae(data.x_train[sources[keep]], data.x_train[targets], q.restrict(keep), n_categories, cfg)
    seconds = time.perf_counter() - started
    save_module(model, model.config, paths.generator)
    rows = "epoch,train_loss,val_loss\n" + "".join(
        f"{i},{t:.6f},{v:.6f}\n" for i, (t, v) in enumerate(zip(history.train_loss, history.val_loss))
    )
    write_with(paths.plot("train_cvae_loss"), lambda tmp: tmp.write_text(rows))
    metrics = {
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.val_loss),
        "stopped_early": history.stopped_early,
        "best_val_loss": min(history.val_loss),
        "train_sources": int(len(keep)),
        "seconds": round(seconds, 1),
    }
    write_json(paths.metrics("train_cvae"), metrics)
    return metrics
