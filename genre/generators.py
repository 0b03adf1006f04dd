"""What any generator R(x+ | x-) offers the recourse engine, and how one is loaded by kind.

The engine only needs candidates for each factual; the CVAE and the autoregressive Transformer
produce them differently but are sampled, constrained and selected the same way.
"""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from genre.torch_io import load_module, saved_kind


class Generator(Protocol):
    def propose(self, x: np.ndarray, n: int, temperature: float, seed: int) -> np.ndarray:
        """[N, d] scaled factuals -> [N, n, d] raw candidates (not yet made actionable)."""
        ...


def row_generators(x: np.ndarray, seed: int) -> list[np.random.Generator]:
    """One random stream per row, seeded by the row's own values, so an applicant gets the same
    answer whether asked alone or inside any batch."""
    rows = np.ascontiguousarray(x, dtype=np.float32)
    return [np.random.default_rng([seed, zlib.crc32(row.tobytes())]) for row in rows]


def row_normal(x: np.ndarray, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """[N, *shape] standard normal draws from each row's own stream."""
    out = np.empty((len(x), *shape), dtype=np.float32)
    for i, rng in enumerate(row_generators(x, seed)):
        out[i] = rng.standard_normal(shape)
    return out


_KINDS = {"CVAE": "genre.cvae", "TransformerGenerator": "genre.transformer"}


def load_generator(path: Path) -> torch.nn.Module:
    """Load whichever generator kind the file holds, importing only that kind's module."""
    kind = saved_kind(path)
    if kind not in _KINDS:
        raise ValueError(f"{path}: unknown generator kind {kind!r}; expected one of {sorted(_KINDS)}")
    return load_module(getattr(importlib.import_module(_KINDS[kind]), kind), path)
