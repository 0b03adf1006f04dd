"""The trade-off sweep runs end to end on a tiny project and its curves are what they claim to be."""

from __future__ import annotations

from research.tradeoff import BASELINES, SHOWN, sweep


def test_sweep_covers_every_knob_and_the_baselines_on_the_same_factuals(tiny_adult_project) -> None:
    settings = tiny_adult_project(0)
    result = sweep(settings, lambdas=[10.0], temperatures=[0.3, 1.0], candidates=[1, 10], dice_factuals=2)
    assert [p["lam"] for p in result["lam"]] == sorted({10.0, settings.synthesize_pairs.lam})
    assert [p["temperature"] for p in result["temperature"]] == [0.3, 1.0]
    assert [p["n_candidates"] for p in result["n_candidates"]] == [1, 10]
    assert set(result["baselines"]) == set(BASELINES)
    assert result["baselines"]["dice"]["factuals"] == 2 and result["baselines"]["nnr"]["factuals"] == 8
    for curve in ("lam", "temperature", "n_candidates"):
        for point in result[curve]:
            assert set(SHOWN) <= set(point)
            assert 0.0 <= point["validity_rf"] <= 1.0 and point["cost"] >= 0.0
