"""What production answers by, handed to a retraining run's evaluate.

Under ``auto``, evaluate chooses the recourse threshold, the selection rule and the plausible-first
preference on a few hundred applicants, and on near ties the choice flipped from one retrain to the
next: the bar a denied person must clear moved between 0.6 and 0.9 on honest weekly retrains, and
the gate refused what the moves did to groups' costs. What people are told to clear is a decision
for a person, not a scheduled run: a retraining run hands evaluate production's choices
(``genre.retraining.run.train_challenger``), and the challenger answers by them (where its
classifier can: a bar it cannot reach is chosen afresh), with what it would have chosen afresh
recorded beside them. Outside a retraining run nothing is handed down and evaluate chooses afresh,
so a ``dvc repro`` by hand gives the same on any machine, whatever its registry holds.
"""

from __future__ import annotations

import json
import os
from typing import Any

INCUMBENT_ENV = "GENRE_INCUMBENT"  # production's choices as JSON: model, threshold, selection, plausible_first
CHOSEN = ("threshold", "selection", "plausible_first")  # what evaluate chooses under auto, and production keeps


def incumbent() -> dict[str, Any] | None:
    """Production's choices as a retraining run handed them down, or None."""
    said = os.environ.get(INCUMBENT_ENV)
    return json.loads(said) if said else None
