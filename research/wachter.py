"""Wachter-style gradient search on the classifier h: the search-based baseline GenRe replaces.

For every factual x (all factuals at once, one torch batch) it minimises

    (logit h(x') - logit(target))^2 + (1 / lambda) * ||x' - x||_1

over the box the person may actually move in (scaled values in [0, 1], immutable and per-request
frozen features fixed, increase-only features never below x, decrease-only never above). This is
Wachter et al.'s loss ``lambda * (h(x') - target)^2 + ||x' - x||_1`` divided by lambda, written on
the logit so its gradient does not vanish where h is saturated. It is solved by proximal gradient
descent: a gradient step on the squared term, then the L1 proximal step (soft-thresholding
towards x) and the box, which together are exact per coordinate, so features that should not move
stay exactly at x instead of jittering around it. Each row's step is capped (a trust region) and
its L1 threshold scaled with it, so the fixed points are the true optima at every lambda.

Categorical features are searched as their scaled code relaxed to [0, 1] and snapped onto a valid
code at the end; integers likewise. After each round of ``steps`` iterations every still-open
row's point is made actionable (``genre.recourse.engine.make_actionable``: projection, immutables,
directions) and checked against the threshold: a row whose projected point clears it is done and
keeps that point (the cheapest lambda that worked); the others get lambda multiplied by
``lambda_growth`` and continue from where they are. A row that never clears the threshold after
``rounds`` rounds is returned with its last projected point and ``found`` False.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from genre.data.preprocessing import Preprocessor
from genre.models.classifiers import MLPClassifier
from genre.recourse.engine import make_actionable
from genre.settings import WachterSettings

_MAX_STEP = 0.05  # largest L2 move of one row in one iteration (scaled units)


def wachter_recourse(
    x: np.ndarray,
    pre: Preprocessor,
    classifier: MLPClassifier,
    settings: WachterSettings | None = None,
    frozen: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """[N, d] scaled factuals -> (x_plus [N, d], found [N], seconds).

    ``frozen`` is a per-request [d] mask of features to keep, on top of the schema's immutables.
    """
    cfg = settings or WachterSettings()
    started = time.perf_counter()
    x_np = np.asarray(x, dtype=np.float32)
    n, d = x_np.shape
    keep = pre.immutable if frozen is None else (pre.immutable | np.asarray(frozen, dtype=bool))

    def actionable(points: torch.Tensor, rows: np.ndarray) -> np.ndarray:
        return make_actionable(pre, x_np[rows], points.detach().numpy()[:, None, :], frozen)[:, 0]

    classifier.eval()
    x0 = torch.from_numpy(x_np)
    # the box each coordinate may move in: [0, 1], or x itself where fixed, or one side of x
    lo = torch.zeros(n, d)
    hi = torch.ones(n, d)
    fixed = torch.from_numpy(np.broadcast_to(keep, (n, d)).copy())
    up = torch.from_numpy(np.broadcast_to(pre.direction > 0, (n, d)).copy())
    down = torch.from_numpy(np.broadcast_to(pre.direction < 0, (n, d)).copy())
    lo = torch.where(fixed | up, x0, lo)
    hi = torch.where(fixed | down, x0, hi)
    lo, hi = torch.minimum(lo, x0), torch.maximum(hi, x0)  # a factual outside [0, 1] stays feasible

    target_logit = math.log(cfg.target / (1 - cfg.target))
    x_plus = make_actionable(pre, x_np, x_np[:, None, :], frozen)[:, 0]
    found = classifier.predict_proba(x_plus) > cfg.threshold
    lam = torch.full((n,), float(cfg.lambda_init))
    point = x0.clone()

    for _ in range(cfg.rounds):
        open_rows = np.flatnonzero(~found)
        if len(open_rows) == 0:
            break
        idx = torch.from_numpy(open_rows)
        z, z0, z_lo, z_hi, z_lam = point[idx], x0[idx], lo[idx], hi[idx], lam[idx]
        for _ in range(cfg.steps):
            z.requires_grad_(True)
            gap = classifier(z) - target_logit
            (grad,) = torch.autograd.grad((gap**2).sum(), z)
            with torch.no_grad():
                norm = grad.norm(dim=1, keepdim=True)
                step = torch.clamp(_MAX_STEP / norm.clamp_min(1e-12), max=cfg.lr)
                moved = z - step * grad - z0
                shrink = step / z_lam[:, None]
                z = z0 + torch.sign(moved) * torch.clamp(moved.abs() - shrink, min=0.0)
                z = torch.minimum(torch.maximum(z, z_lo), z_hi)
        z = z.detach()
        point[idx] = z
        candidate = actionable(z, open_rows)
        ok = classifier.predict_proba(candidate) > cfg.threshold
        x_plus[open_rows] = candidate
        found[open_rows] = ok
        lam[idx] = torch.where(torch.from_numpy(ok), z_lam, z_lam * cfg.lambda_growth)

    return x_plus.astype(np.float32), found, time.perf_counter() - started
