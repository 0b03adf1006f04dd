"""Checking applicants in raw units against the dataset schema, one field at a time.

The CLI and the service share this so a bad row is described the same way everywhere: by row,
field and problem. Only rows that pass reach the model; the others are reported, not dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from genre.data.missing import FillValue
from genre.data.schema import DatasetSchema, FeatureSpec
from genre.messages import one_line

_ABSENT = object()  # a field the record does not have at all


@dataclass(frozen=True)
class FieldError:
    row: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.problem}"


def _check_value(value: Any, spec: FeatureSpec, from_text: bool) -> tuple[Any, str | None]:
    """-> (clean value, problem or None)."""
    if value is None or (from_text and str(value).strip() == ""):
        return None, "is missing a value"
    if spec.kind == "categorical":
        if not isinstance(value, str):
            return None, f"must be a string (one of {spec.categories}), got {type(value).__name__}"
        if value not in (spec.categories or []):
            return None, f"unknown category {one_line(repr(value))}; expected one of {spec.categories}"
        return value, None
    given = value
    if from_text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None, f"must be a number, got {one_line(repr(value))}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"must be a number, got {type(value).__name__}"
    # Python ints are exact and unbounded: no float() of one before the range check (10**400 overflows).
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"must be a finite number, got {value}"
    if spec.kind == "integer" and isinstance(value, float) and not value.is_integer():
        return None, f"must be a whole number, got {one_line(str(given))}"
    if not (spec.min <= value <= spec.max):  # type: ignore[operator]
        return None, f"{one_line(str(given))} is outside the allowed range [{spec.min:g}, {spec.max:g}]"
    return (int(value) if spec.kind == "integer" else float(value)), None


def check_applicants(
    records: Iterable[Mapping[str, Any]],
    schema: DatasetSchema,
    *,
    from_text: bool = False,
    ignored: frozenset[str] = frozenset(),
    fills: Mapping[str, FillValue] | None = None,
) -> tuple[pd.DataFrame, list[int], list[FieldError], list[list[str]]]:
    """-> (valid rows as a frame in schema order, their row numbers, every problem found, and for
    each valid row the features whose gap was filled).

    ``from_text`` accepts numbers written as strings (CSV cells); JSON callers must send real types.
    ``ignored`` names columns that may be present and are passed over (e.g. the target column).
    ``fills`` holds the training split's value for each feature the schema imputes
    (``missing: median`` or ``most_frequent``): a gap there, an absent field or an empty value, is
    filled with it and named in the row's list; a gap anywhere else is a problem of the row.
    """
    fills = fills or {}
    rows, kept, errors, imputed = [], [], [], []
    for i, record in enumerate(records):
        clean, row_errors, filled = {}, [], []
        for name, spec in schema.features.items():
            value = record.get(name, _ABSENT)
            if name in fills and (value is _ABSENT or value is None or (from_text and str(value).strip() == "")):
                clean[name] = fills[name]
                filled.append(name)
                continue
            if value is _ABSENT:
                row_errors.append(FieldError(i, name, "is required but missing"))
                continue
            value, problem = _check_value(value, spec, from_text)
            if problem:
                row_errors.append(FieldError(i, name, problem))
            clean[name] = value
        for name in record:
            if name not in schema.features and name not in ignored:
                row_errors.append(FieldError(i, one_line(str(name)), "is not a feature of this model"))
        if row_errors:
            errors.extend(row_errors)
        else:
            rows.append(clean)
            kept.append(i)
            imputed.append(filled)
    return pd.DataFrame(rows, columns=schema.feature_names), kept, errors, imputed
