"""The batches a retraining replay feeds a project: Adult's training rows cut into a base and weekly
batches, and the two ways a batch goes wrong that no schema check sees (swapped labels, an older
population)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ADULT = REPO / "data/raw/adult"
LABEL = "income"


def adult_rows() -> pd.DataFrame:
    """The embedded Adult training rows in one fixed shuffled order, so every replay cuts the same base and batches."""
    return pd.read_csv(ADULT / "train.csv.gz").sample(frac=1.0, random_state=0).reset_index(drop=True)


def poisoned(batch: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Labels swapped between approved and denied rows, ``share`` of the batch in all: the label
    rate, and every feature, stay as they were, so no drift check can see it."""
    bad = batch.copy()
    rng = np.random.default_rng(seed)
    labels = bad[LABEL].to_numpy(copy=True)
    pairs = min(int(share * len(bad) / 2), int((labels == 1).sum()), int((labels == 0).sum()))
    ones = rng.choice(np.flatnonzero(labels == 1), pairs, replace=False)
    zeros = rng.choice(np.flatnonzero(labels == 0), pairs, replace=False)
    labels[ones], labels[zeros] = 0, 1
    bad[LABEL] = labels
    return bad


def drifted(batch: pd.DataFrame) -> pd.DataFrame:
    """Every applicant 20 years older (at most 90)."""
    moved = batch.copy()
    moved["age"] = (moved["age"] + 20).clip(upper=90)
    return moved
