"""Missing values, feature by feature, as the schema says (``missing:`` on a feature).

Real credit data has gaps (an income nobody declared, an occupation left blank). Each feature
states what to do with one: ``reject`` (the default: the data is refused, a request gets 400),
``drop_row`` (training rows with a gap there are left out; a request with one is refused, since
no answer can be given for a person we cannot describe), or an imputation, ``median`` (numbers)
or ``most_frequent``, fitted on the training split only and saved with the preprocessor, so the
service fills a request's gap with the very value training used, and says that it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from genre.data.schema import DatasetSchema
from genre.messages import InputError

FillValue = float | int | str


@dataclass
class MissingReport:
    """What the policies did to one split: rows dropped, and values filled per feature."""

    rows_dropped: int = 0
    imputed: dict[str, int] = field(default_factory=dict)


def fit_fills(schema: DatasetSchema, train: pd.DataFrame) -> dict[str, FillValue]:
    """The value each imputed feature's gaps are filled with, from the training split alone.

    Ties of the most frequent value go to the first in sorted order, so a refit on the same data
    gives the same value. A feature with no value at all in training cannot be filled.
    """
    fills: dict[str, FillValue] = {}
    for name, spec in schema.features.items():
        values = train[name].dropna()
        if spec.missing not in ("median", "most_frequent"):
            continue
        if values.empty:
            raise ValueError(f"{name}: every training value is missing, so there is nothing to impute from")
        if spec.missing == "median":
            median = float(values.median())
            fills[name] = round(median) if spec.kind == "integer" else median
        else:
            counts = values.value_counts()
            top = min(counts[counts == counts.max()].index)
            fills[name] = (
                int(top) if spec.kind == "integer" else (float(top) if spec.kind == "continuous" else str(top))
            )
    return fills


def apply_missing(
    schema: DatasetSchema, frame: pd.DataFrame, fills: dict[str, FillValue]
) -> tuple[pd.DataFrame, MissingReport]:
    """Drop the rows the ``drop_row`` features leave no value in, fill the imputed features' gaps,
    and give integer features their integer type back (pandas reads a column with gaps as floats)."""
    report = MissingReport()
    dropped = [n for n, s in schema.features.items() if s.missing == "drop_row"]
    if dropped:
        keep = frame[dropped].notna().all(axis=1)
        report.rows_dropped = int((~keep).sum())
        frame = frame[keep].reset_index(drop=True)
    frame = frame.copy()
    for name, value in fills.items():
        gaps = frame[name].isna()
        if gaps.any():
            report.imputed[name] = int(gaps.sum())
            frame[name] = frame[name].where(~gaps, value)
    for name, spec in schema.features.items():
        values = frame[name]
        if spec.kind == "integer" and values.notna().all() and not pd.api.types.is_integer_dtype(values):
            fractional = values[values != values.round()]
            if not fractional.empty:
                examples = fractional.drop_duplicates().head(5).tolist()
                raise InputError(
                    f"column {name!r}: {len(fractional)} values are not whole numbers, e.g. {examples}; "
                    "the schema says integer"
                )
            frame[name] = values.astype("int64")
    return frame, report
