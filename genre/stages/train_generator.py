"""Stage 4, train_generator: fit the generator R(x+ | x-) that ``train_generator.kind`` names (the
CVAE by default, or the authors' Transformer over binned features) by maximum likelihood on pairs
drawn afresh from Q each epoch. The loop itself is shared: ``genre.models.training.fit_pairs``.

Whatever the kind, the checkpoint goes to the same file and says what it holds, so evaluation,
packaging and serving load it without knowing which was chosen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from genre.artifacts.atomic import write_with
from genre.artifacts.metrics_file import write_metrics
from genre.artifacts.paths import Artifacts
from genre.artifacts.torch_io import save_module
from genre.data.datasets import PreparedData, load_prepared
from genre.models.cvae import fit_cvae
from genre.models.threads import torch_threads
from genre.models.training import TrainingHistory
from genre.recourse.pairs import load_pairs
from genre.settings import GeneratorKind, Settings

if TYPE_CHECKING:
    from genre.models.cvae import CVAE
    from genre.models.transformer import TransformerGenerator


@dataclass(frozen=True)
class Fitted:
    model: CVAE | TransformerGenerator
    history: TrainingHistory
    seconds: float
    train_sources: int


def fit(settings: Settings, kind: GeneratorKind, data: PreparedData, show_progress: bool = True) -> Fitted:
    """Train one generator of ``kind`` on the project's pairs (the benchmark trains both kinds)."""
    cfg = settings.train_generator
    sources, targets, q = load_pairs(Artifacts(settings.root).pairs)
    keep = np.flatnonzero(q.has_target)
    x_sources, x_targets, q_kept = data.x_train[sources[keep]], data.x_train[targets], q.restrict(keep)
    started = time.perf_counter()
    model: CVAE | TransformerGenerator
    with torch_threads(cfg.threads):
        if kind == "cvae":
            n_categories = data.preprocessor.n_categories.tolist()  # 0 for numeric features, as CVAE expects
            model, history = fit_cvae(x_sources, x_targets, q_kept, n_categories, cfg.cvae, show_progress)
        else:
            from genre.models.transformer import (
                fit_transformer,  # only this kind pays for importing it
            )

            model, history = fit_transformer(x_sources, x_targets, q_kept, cfg.transformer, show_progress)
    return Fitted(model, history, time.perf_counter() - started, len(keep))


def run(settings: Settings) -> dict[str, Any]:
    kind = settings.train_generator.kind
    paths = Artifacts(settings.root)
    data = load_prepared(paths)
    fitted = fit(settings, kind, data)
    history = fitted.history
    save_module(fitted.model, fitted.model.config, paths.generator)
    rows = "epoch,train_loss,val_loss\n" + "".join(
        f"{i},{t:.6f},{v:.6f}\n" for i, (t, v) in enumerate(zip(history.train_loss, history.val_loss))
    )
    write_with(paths.plot("train_generator_loss"), lambda tmp: tmp.write_text(rows))
    metrics = {
        "kind": kind,
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.val_loss),
        "stopped_early": history.stopped_early,
        "best_val_loss": min(history.val_loss),
        "train_sources": fitted.train_sources,
        "seconds": round(fitted.seconds, 1),
        "threads": settings.train_generator.threads,
    }
    write_metrics(paths, "train_generator", metrics)
    return metrics
