"""What any generator R(x+ | x-) offers the recourse engine, and how one is loaded by kind.

The engine only needs candidates for each factual; the CVAE and the autoregressive Transformer
produce them differently but are sampled, constrained and selected the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from genre.artifacts.torch_io import load_module, saved_kind

if TYPE_CHECKING:
    from genre.models.cvae import CVAE
    from genre.models.transformer import TransformerGenerator


class Generator(Protocol):
    def propose(self, x: np.ndarray, n: int, temperature: float, seed: int) -> np.ndarray:
        """[N, d] scaled factuals -> [N, n, d] raw candidates (not yet made actionable)."""
        ...


def row_draws(
    x: np.ndarray,
    shape: tuple[int, ...],
    seed: int,
    draw: Callable[..., torch.Tensor],
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """[N, *shape] draws (``torch.randn`` or ``torch.rand``), row i from its own stream, seeded by
    ``seed`` and the row's own values, so an applicant gets the same answer whether asked alone or
    inside any batch. Torch's generator, reseeded per row, costs about a third of a fresh numpy
    generator per row: a batch of 1,000 applicants is 1,000 streams."""
    rows = np.ascontiguousarray(x, dtype=np.float32)
    salt = zlib.crc32(int(seed).to_bytes(8, "little", signed=True))
    out = torch.empty((len(rows), *shape), dtype=dtype)
    stream = torch.Generator()
    for i, row in enumerate(rows):
        stream.manual_seed(zlib.crc32(row.tobytes(), salt))
        draw(shape, generator=stream, dtype=dtype, out=out[i])
    return out


def load_generator(path: Path) -> CVAE | TransformerGenerator:
    """Load whichever generator kind the file holds, importing only that kind's module (the
    imports are written out, not computed, so the stages' dependency check can see them)."""
    kind = saved_kind(path)
    if kind == "CVAE":
        from genre.models.cvae import CVAE

        return load_module(CVAE, path)
    if kind == "TransformerGenerator":
        from genre.models.transformer import TransformerGenerator

        return load_module(TransformerGenerator, path)
    raise ValueError(f"{path}: unknown generator kind {kind!r}; expected 'CVAE' or 'TransformerGenerator'")
