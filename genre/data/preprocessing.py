"""Raw rows <-> the scaled feature space every model works in.

Min-max scaling uses the training split's min and range (the protocol's choice, so costs are
comparable with the paper's); categories are label-encoded in schema order and scaled the same way,
so a binary feature is exactly 0/1. ``project`` maps any point of the space back onto values a real
applicant can have, which is what makes sampled candidates usable as recourse.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from genre.data.missing import FillValue
from genre.data.schema import DatasetSchema

SAME = 1e-6  # scaled values this close are one value: no move (genre.recourse.cost.changed, min_change)
MATCHED_VALUES = (
    64  # an immutable whole number spanning fewer values is matched like a category (a count of past events)
)


class Preprocessor:
    def __init__(
        self, schema: DatasetSchema, mins: np.ndarray, ranges: np.ndarray, fills: dict[str, FillValue] | None = None
    ) -> None:
        self.schema = schema
        self.fills: dict[str, FillValue] = dict(fills or {})  # what a gap in an imputed feature is filled with
        self.mins = np.asarray(mins, dtype=np.float64)
        self.ranges = np.asarray(ranges, dtype=np.float64)
        specs = list(schema.features.values())
        self.categorical = np.array([s.kind == "categorical" for s in specs])
        # Where a change costs its weight whatever its size (an unordered category), and each
        # feature's weight (genre.recourse.cost.recourse_cost).
        self.flat_cost = np.array([s.kind == "categorical" and not s.ordered for s in specs])
        self.cost_weights = np.array([s.cost for s in specs], dtype=np.float64)
        self.discrete = np.array([s.kind != "continuous" for s in specs])
        self.immutable = np.array([s.immutable for s in specs])
        # Immutable categories and counts (whole numbers with few values): training rows match an
        # applicant on them (pairs, retrieval, NNR, the threshold's reach); any other immutable
        # number is kept in every answer but not matched (genre.data.schema).
        few = self.discrete & (self.ranges < MATCHED_VALUES)
        self.matched = self.immutable & (self.categorical | few)
        self.direction = np.array(
            [{"increase": 1, "decrease": -1}.get(s.direction or "", 0) for s in specs], dtype=np.int8
        )
        self.n_categories = np.array([len(s.categories or []) for s in specs], dtype=np.int64)
        self.max_step = self.steps({n: s.max_change for n, s in schema.features.items() if s.max_change is not None})
        self.min_step = self.least_steps(
            {n: s.min_change for n, s in schema.features.items() if s.min_change is not None}
        )

    def steps(self, max_change: dict[str, float]) -> np.ndarray:
        """Per-feature limits in raw units (a feature left out: none) as the most a recourse may
        move each feature in the scaled space (inf where none): whole steps only for an integer
        feature or an ordered category, so rounding a clamped value never takes it past the limit."""
        raw = np.array([max_change.get(n, np.inf) for n in self.schema.feature_names], dtype=np.float64)
        return np.where(self.discrete, np.floor(raw), raw) / np.where(self.ranges > 0, self.ranges, 1.0)

    def least_steps(self, min_change: dict[str, float]) -> np.ndarray:
        """Per-feature smallest moves in raw units (a feature left out: none) as the smallest
        move that counts in the scaled space (0 where none): whole steps, rounded up, for an
        integer feature or an ordered category."""
        raw = np.array([min_change.get(n, 0.0) for n in self.schema.feature_names], dtype=np.float64)
        return np.where(self.discrete, np.ceil(raw), raw) / np.where(self.ranges > 0, self.ranges, 1.0)

    def trivial(self, x: np.ndarray, x_plus: np.ndarray) -> np.ndarray:
        """[..., d] mask of moves smaller than their feature's ``min_change`` (but not none)."""
        moved = np.abs(np.asarray(x_plus, np.float64) - np.asarray(x, np.float64))
        return (moved > SAME) & (moved < self.least_move)

    @property
    def least_move(self) -> np.ndarray:
        """[d] a scaled move below this is smaller than its feature's ``min_change`` (float32's
        rounding of a move of exactly the minimum is not)."""
        return self.min_step * (1 - 1e-6) - SAME

    @property
    def n_features(self) -> int:
        return len(self.mins)

    @classmethod
    def fit(cls, schema: DatasetSchema, train: pd.DataFrame, fills: dict[str, FillValue] | None = None) -> Preprocessor:
        codes = _encode_raw(schema, train)
        mins = np.zeros(len(schema.features))
        ranges = np.ones(len(schema.features))
        for j, spec in enumerate(schema.features.values()):
            if spec.kind == "categorical":
                ranges[j] = max(len(spec.categories or []) - 1, 1)
            else:
                mins[j] = codes[:, j].min()
                ranges[j] = codes[:, j].max() - mins[j] or 1.0
        return cls(schema, mins, ranges, fills)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return ((_encode_raw(self.schema, frame) - self.mins) / self.ranges).astype(np.float32)

    def inverse_transform(self, x: np.ndarray) -> pd.DataFrame:
        raw = self.project(x).astype(np.float64) * self.ranges + self.mins
        out: dict[str, object] = {}
        for j, (name, spec) in enumerate(self.schema.features.items()):
            if spec.kind == "categorical":
                cats = np.array(spec.categories)
                out[name] = cats[np.rint(raw[:, j]).astype(int)]
            elif spec.kind == "integer":
                out[name] = np.rint(raw[:, j]).astype(np.int64)
            else:
                out[name] = raw[:, j]
        return pd.DataFrame(out)

    def project(self, x: np.ndarray) -> np.ndarray:
        """Clip to the training range and snap integers and categories onto their grid.

        In float32 torch: this runs on every candidate of every request (fused and on every core,
        about a third of numpy's time), and float32 holds every integer below 2**24 exactly, so
        the grid is hit all the same. (torch is imported here: the ingest stage fits a
        Preprocessor but never projects, and need not pay for importing it.)
        """
        import torch

        clipped = torch.as_tensor(np.asarray(x), dtype=torch.float32).clamp(0.0, 1.0)
        mins, ranges = (torch.from_numpy(v.astype(np.float32)) for v in (self.mins, self.ranges))
        snapped = torch.addcmul(mins, clipped, ranges).round_().sub_(mins).div_(ranges)
        return torch.where(torch.from_numpy(self.discrete), snapped, clipped).numpy()

    def category_codes(self, x: np.ndarray) -> np.ndarray:
        """Integer codes of the categorical columns, for one-hot encoding and likelihoods."""
        cols = np.asarray(x)[..., self.categorical]
        return np.rint(cols * self.ranges[self.categorical]).astype(np.int64)

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema": self.schema.model_dump(mode="json"),
                "mins": self.mins.tolist(),
                "ranges": self.ranges.tolist(),
                "fills": self.fills,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Preprocessor:
        payload = json.loads(text)
        schema = DatasetSchema.model_validate(payload["schema"])
        return cls(schema, np.array(payload["mins"]), np.array(payload["ranges"]), payload.get("fills"))

    @classmethod
    def load(cls, path: Path) -> Preprocessor:
        return cls.from_json(Path(path).read_text())


def _encode_raw(schema: DatasetSchema, frame: pd.DataFrame) -> np.ndarray:
    """Raw units as floats, categories replaced by their index in the schema's list.

    Plain lists rather than pandas ``map``: the service encodes one applicant per request, where
    pandas' per-call overhead was most of the request's time.
    """
    cols = []
    for name, spec in schema.features.items():
        values = frame[name].tolist()
        if spec.kind == "categorical":
            index = {c: i for i, c in enumerate(spec.categories or [])}
            codes = [index.get(str(v)) for v in values]
            if None in codes:
                raise ValueError(f"{name}: unknown category {values[codes.index(None)]!r}")
            cols.append(codes)
        else:
            cols.append(values)
    return np.array(cols, dtype=np.float64).T.reshape(len(frame), len(cols))
