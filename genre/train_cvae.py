"""Stage 4, train_cvae: fit the CVAE R(x+ | x-) by maximum likelihood on pairs drawn afresh from Q
each epoch (the loop itself, shared with the Transformer, is ``genre.training.fit_pairs``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from genre.artifacts import Artifacts
from genre.atomic import write_json, write_with
from genre.cvae import CVAE
from genre.datasets import load_prepared
from genre.pairs import PairingDistribution
from genre.settings import CVAESettings, Settings
from genre.synthesize_pairs import load_pairs
from genre.torch_io import save_module
from genre.training import TrainingHistory, fit_pairs

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

    return fit_pairs(model, row_loss, x_sources, x_targets, q, cfg, "train_cvae", show_progress)


def run(settings: Settings) -> dict[str, Any]:
    cfg = settings.train_cvae
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    sources, targets, q = load_pairs(paths.pairs)
    keep = np.flatnonzero(q.has_target)
    n_categories = data.preprocessor.n_categories.tolist()  # 0 for numeric features, as CVAE expects
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
