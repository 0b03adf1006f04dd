"""Production's sibling is production's own retrain: its params with other training seeds, reading
production's rows and the workspace's held-out rows, and nothing else changed."""

from __future__ import annotations

from pathlib import Path

import yaml

from genre.retraining.sibling import SEEDS, sibling_params
from genre.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def test_the_params_a_model_is_packaged_with_read_back_as_the_same_settings(tmp_path) -> None:
    settings = load_settings(REPO / "params.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(settings.written_out(), sort_keys=False))
    again = load_settings(tmp_path / "params.yaml")
    assert again.model_dump(exclude={"root"}) == settings.model_dump(exclude={"root"})


def test_a_sibling_moves_only_the_training_seeds_and_reads_productions_rows() -> None:
    params = load_settings(REPO / "params.yaml").written_out()
    params["ingest"]["sample_rows"] = 500
    twin = sibling_params(params, "data/raw/sibling/schema.yaml")
    for *sections, key in SEEDS:
        mine, its = params, twin
        for name in sections:
            mine, its = mine[name], its[name]
        assert its[key] == mine[key] + 1
    assert twin["ingest"]["train_csv"].endswith("reference.csv.gz") and twin["ingest"]["sample_rows"] is None
    assert twin["ingest"]["test_csv"] == "data/raw/sibling/test.csv"
    assert (twin["ingest"]["seed"], twin["evaluate"]["seed"], twin["gate"]["seed"]) == (
        params["ingest"]["seed"],
        params["evaluate"]["seed"],
        params["gate"]["seed"],
    )
    for *sections, key in SEEDS:  # put back what a sibling changes: the rest is production's own
        its = twin
        for name in sections:
            its = its[name]
        its[key] -= 1
    assert twin | {"ingest": params["ingest"]} == params
    assert params["ingest"]["sample_rows"] == 500  # production's own params are not changed
