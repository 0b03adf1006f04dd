"""The gate's figures on hand-made cases: promises kept, and each rule's verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genre.retraining.gate import _rules, promises_kept
from genre.settings import GateSettings, Settings


class _Engine:
    """A challenger that approves a row (0.7 > the decision's 0.5) when its first feature exceeds
    0.5, and whose recourse bar is 0.8: a promise is about the decision, not that bar."""

    class _Pre:
        @staticmethod
        def transform(frame: pd.DataFrame) -> np.ndarray:
            return frame.to_numpy(dtype=np.float32)

    class _Scorer:
        @staticmethod
        def predict_proba(x: np.ndarray) -> np.ndarray:
            return np.where(x[:, 0] > 0.5, 0.7, 0.3)

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


def _sure(score: tuple[float, float, float], gap_low: float, promised_upper: float | None) -> dict:
    return {
        "score_difference": list(score),
        "found_rate_difference": [score[0] * 2, score[1] * 2, score[2] * 2],
        "group_gap_change": {"sex": {"found_rate": [gap_low, gap_low + 0.1], "validity_rf": [-0.05, 0.05]}},
        "promises_kept": {"gate_set": promised_upper, "issued": None},
    }


def _quality(high: float) -> dict:
    return {
        "rows": 500,
        "auc": {"champion": 0.88, "challenger": 0.88 + high - 0.02},
        "difference": [high - 0.02, high - 0.04, high],
    }


def _label(name: str) -> str:
    words = name.split(" ")
    if "gap" in words:
        return words[0] + words[3]
    if words[0] == "promises":
        return "promises " + name.split("(")[1].rstrip(")")
    if name.startswith("found rate not below"):
        return "found rate not below"
    return words[0]


def test_each_rule_is_judged_by_its_interval_against_its_limit() -> None:
    settings = Settings.model_validate(
        {"ingest": {"train_csv": "x.csv", "schema_path": "s.yaml"}, "gate": GateSettings().model_dump()}
    )
    kept = {"gate_set": 0.94, "issued": None}

    def judged(sure: dict, quality: dict, violations: int = 0) -> dict:
        rules = _rules(_figures(1.90, 0.10), _figures(1.87, 0.16, violations), kept, sure, quality, settings)
        return {_label(r.name): r for r in rules}

    # Inside the noise: a lower score, a lower share of promises and a wider gap whose intervals
    # still reach the limits all pass, each with the interval it was read from.
    noise = judged(_sure((-0.03, -0.07, 0.01), 0.0, 0.97), _quality(0.0))
    assert all(r.passed for r in noise.values()), [r.said() for r in noise.values()]
    assert noise["score"].limit == pytest.approx(1.88) and noise["score"].interval == (-0.07, 0.01)
    assert "sexcost" not in noise, "a gap without a value is not judged"
    assert "interval -0.07 to 0.01" in noise["score"].said()

    # Beyond it: each fails on its own.
    worse = judged(_sure((-0.1, -0.14, -0.06), 0.08, 0.90), _quality(-0.05), violations=1)
    assert {name: r.passed for name, r in worse.items()} == {
        "score": False,
        "found": True,  # the floor: evaluate.min_found_rate
        "found rate not below": False,
        "immutable": False,
        "classifier": False,
        "promises gate set": False,
        "promises issued": True,  # none issued: nothing to keep
        "sexfound_rate": False,
        "sexvalidity_rf": True,
    }


def test_a_promise_repeated_to_the_same_person_counts_once(tmp_path) -> None:
    """A person who asks ten times and is told the same thing holds one promise; ten would narrow
    the promises' interval as if ten people were waiting on it."""
    from types import SimpleNamespace

    from genre.retraining.gate import _issued
    from genre.serving.answer_log import AnswerLog

    log = AnswerLog(tmp_path, keep_days=30)
    same = {"applicant": {"a": 1, "b": 0}, "status": "found", "recourse": {"a": 2, "b": 0}}
    other = {"applicant": {"a": 3, "b": 0}, "status": "found", "recourse": {"a": 2, "b": 0}}
    log.append("m:1", [same] * 10 + [other, {**other, "status": "not_found", "recourse": None}])
    issued = _issued(tmp_path, 30, SimpleNamespace(schema=SimpleNamespace(feature_names=["a", "b"])))
    assert issued.to_dict("records") == [{"a": 2, "b": 0}, {"a": 2, "b": 0}]  # two people, two promises
