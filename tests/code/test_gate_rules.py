"""The gate's figures on hand-made cases: promises kept, and each rule's verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genre.retraining.gate import _rules, promises_kept
from genre.settings import GateSettings, Settings


class _Engine:
    """A challenger that approves a row when its first feature exceeds 0.5, at threshold 0.8."""

    class _Pre:
        @staticmethod
        def transform(frame: pd.DataFrame) -> np.ndarray:
            return frame.to_numpy(dtype=np.float32)

    class _Scorer:
        @staticmethod
        def predict_proba(x: np.ndarray) -> np.ndarray:
            return np.where(x[:, 0] > 0.5, 0.9, 0.6)

    pre, scorer = _Pre(), _Scorer()

    class settings:
        threshold = 0.8


def test_promises_kept_is_the_share_the_challenger_still_accepts() -> None:
    issued = pd.DataFrame({"a": [0.9, 0.7, 0.2, 0.1], "b": [0, 0, 0, 0]})
    assert promises_kept(issued, _Engine()) == pytest.approx(0.5)
    assert promises_kept(issued.iloc[:0], _Engine()) is None


def _figures(score: float, gap: float, violations: int = 0) -> dict:
    return {
        "score": score,
        "found_rate": 0.9,
        "immutable_violations": violations,
        "group_gap": {"sex": {"gap": {"found_rate": gap, "validity_rf": 0.0, "cost": None}}},
    }


def test_each_rule_is_judged_against_its_limit() -> None:
    settings = Settings.model_validate(
        {"ingest": {"train_csv": "x.csv", "schema_path": "s.yaml"}, "gate": GateSettings().model_dump()}
    )
    kept = {"gate_set": 0.97, "issued": None}
    rules = {
        r.name.split(" ")[0] + ("" if "gap" not in r.name else r.name.split(" ")[3]): r
        for r in _rules(_figures(1.90, 0.10), _figures(1.885, 0.16), kept, settings)
    }
    assert rules["score"].passed and rules["score"].limit == pytest.approx(1.88)
    assert not rules["sexfound_rate"].passed and rules["sexfound_rate"].limit == pytest.approx(0.15)
    assert rules["sexvalidity_rf"].passed and "sexcost" not in rules  # a gap without a value is not judged
    assert [
        r.passed
        for r in _rules(
            _figures(1.9, 0.1), _figures(1.87, 0.1, violations=1), {"gate_set": 0.94, "issued": 0.99}, settings
        )
    ][:5] == [False, True, False, False, True]
