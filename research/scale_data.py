"""Adult-shaped data at any size, for the scale benchmark (``benchmarks/scale.py``).

A smoothed bootstrap: Adult's training rows drawn with replacement, so the class balance and the
dependence between features (and between features and label) are Adult's own, with each numeric
feature moved by Gaussian noise of ``bandwidth`` times its robust spread (interquartile range /
1.349), rounded where it is an integer and kept inside the schema's bounds, so that a million rows
are not 26,000 rows copied (copies make ties no lender's data has). A feature that is mostly one
value (capital gain: 0 for nine rows in ten) has no spread and is kept as drawn, as categories are:
noise would turn its zeros into small gains no one reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genre.data.schema import DatasetSchema


def adult_like(
    rows: pd.DataFrame, schema: DatasetSchema, size: int, seed: int, bandwidth: float = 0.05
) -> pd.DataFrame:
    """``size`` rows shaped like ``rows`` (raw, with the target column), see the module."""
    rng = np.random.default_rng(seed)
    out = rows.iloc[rng.integers(0, len(rows), size)].reset_index(drop=True)
    for name, spec in schema.features.items():
        if spec.kind == "categorical":
            continue
        values = out[name].to_numpy(dtype=np.float64)
        quartiles = rows[name].quantile([0.25, 0.75]).to_numpy(dtype=np.float64)
        moved = values + rng.normal(0.0, bandwidth * float(quartiles[1] - quartiles[0]) / 1.349, size)
        moved = np.clip(
            moved, spec.min if spec.min is not None else -np.inf, spec.max if spec.max is not None else np.inf
        )
        out[name] = np.rint(moved).astype(np.int64) if spec.kind == "integer" else moved
    return out
