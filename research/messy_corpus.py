"""The messy corpus: datasets built from the paper's COMPAS and HELOC splits the way lenders'
data arrives, for ``tests/e2e/test_messy_corpus.py`` and ``benchmarks/own_model.py`` alike.

Each variant says how to build its train and test frames from the shared splits, which column is
the target, the one hand edit a user makes to the inferred schema (immutable and direction marks),
and the setting the pipeline's own message advises where the defaults cannot work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HOSTILE = ["yes", "no", "on", "null", "a: b", "x, y", " padded ", "Ünïcode – ☂", "#hash", "'quoted'"]

Frames = tuple[pd.DataFrame, pd.DataFrame]


def compas_messy(train: pd.DataFrame, test: pd.DataFrame) -> Frames:
    """1,000 rows; the target first, as booleans; ages as whole floats; a category column whose
    values YAML would misread; gaps in a number column and in a category column."""
    rng = np.random.default_rng(0)
    out = []
    for frame, n in ((train, 800), (test, 200)):
        frame = frame.sample(n=n, random_state=0).reset_index(drop=True)
        frame["score"] = frame["score"].astype(bool)
        frame["age"] = frame["age"].astype(float)
        frame["charge"] = rng.choice(HOSTILE, size=n)
        frame["c_charge_degree"] = frame["c_charge_degree"].map({"M": "no", "F": "yes"})
        frame["priors_count"] = frame["priors_count"].astype(float).mask(rng.random(n) < 0.05)
        frame["sex"] = frame["sex"].mask(rng.random(n) < 0.03)
        out.append(frame[["score", *[c for c in frame.columns if c != "score"]]])
    return out[0], out[1]


def heloc_imbalanced(train: pd.DataFrame, test: pd.DataFrame) -> Frames:
    """2,000 rows, 95% of them with the favourable label; labels as words; every number written
    as a whole float (as HELOC comes)."""
    out = []
    for frame, n in ((train, 1600), (test, 400)):
        good, bad = frame[frame["RiskPerformance"] == 1.0], frame[frame["RiskPerformance"] == 0.0]
        frame = pd.concat(
            [good.sample(n=int(n * 0.95), random_state=0), bad.sample(n=n - int(n * 0.95), random_state=0)]
        )
        frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
        frame["RiskPerformance"] = frame["RiskPerformance"].map({1.0: "Good", 0.0: "Bad"})
        out.append(frame)
    return out[0], out[1]


@dataclass(frozen=True)
class Variant:
    source: str  # the shared dataset it is built from
    build: Callable[[pd.DataFrame, pd.DataFrame], Frames]
    target: str
    marks: dict[str, str]  # feature -> what the user adds to its schema line
    advised: tuple[str, str, object] | None = None  # (section, key, value) the pipeline's message asks for

    def frames(self, shared: Path) -> Frames:
        folder = shared / self.source
        return self.build(pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv"))


VARIANTS = {
    "compas_messy": Variant(
        "compas",
        compas_messy,
        "score",
        {"race": "immutable: true", "sex": "immutable: true", "age": "direction: increase"},
    ),
    # The protocol's class-balanced classifier is never sure enough of a favourable row here; the
    # message names the setting, and with it changed it runs.
    "heloc_imbalanced": Variant(
        "heloc",
        heloc_imbalanced,
        "RiskPerformance",
        {"ExternalRiskEstimate": "immutable: true"},
        ("train_classifier", "class_balanced", False),
    ),
}
