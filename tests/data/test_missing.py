"""Missing values, each policy of the schema: at ingest (fitted on the training split, applied to
both) and at inference (the same fill, named in the answer; a gap elsewhere is the row's problem)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from genre.data.missing import apply_missing, fit_fills
from genre.data.schema import DatasetSchema
from genre.data.validation import DataValidationError
from genre.serving.applicants import check_applicants
from genre.settings import load_settings
from genre.stages import ingest

REPO = Path(__file__).resolve().parents[2]


def make_schema(**policies: str) -> DatasetSchema:
    features = {
        "income": {"kind": "continuous", "min": 0, "max": 100},
        "years": {"kind": "integer", "min": 0, "max": 40},
        "job": {"kind": "categorical", "categories": ["a", "b", "c"]},
        "region": {"kind": "categorical", "categories": ["n", "s"]},
    }
    for name, policy in policies.items():
        features[name]["missing"] = policy
    return DatasetSchema.model_validate(
        {"name": "t", "target": {"name": "y", "values": ["no", "yes"], "favourable": "yes"}, "features": features}
    )


def frame_with_gaps(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "income": rng.uniform(0, 100, n).round(2),
            "years": rng.integers(0, 40, n).astype(float),
            "job": rng.choice(["a", "b", "b", "c"], n).astype(object),
            "region": rng.choice(["n", "s"], n).astype(object),
            "y": rng.choice(["no", "yes"], n).astype(object),
        }
    )
    frame.loc[[1, 5], "income"] = np.nan
    frame.loc[[2, 6, 7], "years"] = np.nan
    frame.loc[[3], "job"] = np.nan
    frame.loc[[4, 8], "region"] = np.nan
    return frame


def test_fills_come_from_the_training_split_and_fill_only_gaps() -> None:
    schema = make_schema(income="median", years="median", job="most_frequent", region="drop_row")
    train = frame_with_gaps()
    fills = fit_fills(schema, train)
    assert fills == {
        "income": float(train["income"].median()),
        "years": round(train["years"].median()),
        "job": train["job"].value_counts().idxmax(),
    }
    filled, report = apply_missing(schema, train, fills)
    assert report.rows_dropped == 2 and report.imputed == {"income": 2, "years": 3, "job": 1}
    assert len(filled) == len(train) - 2 and not filled.isna().any().any()
    assert str(filled["years"].dtype) == "int64"
    kept = train.drop(index=[4, 8]).reset_index(drop=True)
    untouched = kept.notna()
    for column in ("income", "years", "job"):
        assert (filled.loc[untouched[column], column] == kept.loc[untouched[column], column]).all()


def test_a_median_of_categories_is_refused_by_the_schema() -> None:
    with pytest.raises(ValueError, match="a categorical feature has no median"):
        make_schema(job="median")


def write_project(root: Path, frame: pd.DataFrame, schema: DatasetSchema) -> Path:
    (root / "raw").mkdir(parents=True)
    frame.to_csv(root / "raw/data.csv", index=False)
    (root / "raw/schema.yaml").write_text(schema.to_yaml())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"].update(
        train_csv=str(root / "raw/data.csv"),
        test_csv=None,
        schema_path=str(root / "raw/schema.yaml"),
        test_fraction=0.25,
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root / "params.yaml"


def test_ingest_applies_every_policy_and_reports_what_it_did(tmp_path: Path) -> None:
    schema = make_schema(income="median", years="median", job="most_frequent", region="drop_row")
    params = write_project(tmp_path, frame_with_gaps(), schema)
    summary = ingest.run(load_settings(params))
    assert summary["rows_dropped_missing"]["train"] + summary["rows_dropped_missing"]["test"] == 2
    imputed = summary["values_imputed"]
    assert sum(imputed["train"].get(n, 0) + imputed["test"].get(n, 0) for n in ("income", "years", "job")) == 6
    prepared = pd.read_csv(tmp_path / "data/prepared/train.csv")
    assert not prepared.isna().any().any()
    fills = json.loads((tmp_path / "data/prepared/preprocessor.json").read_text())["fills"]
    assert set(fills) == {"income", "years", "job"}


def test_a_gap_where_the_schema_rejects_them_fails_ingest_naming_the_column(tmp_path: Path) -> None:
    params = write_project(
        tmp_path, frame_with_gaps(), make_schema(income="median", years="median", job="most_frequent")
    )
    with pytest.raises(DataValidationError) as excinfo:
        ingest.run(load_settings(params))
    assert "column 'region': " in str(excinfo.value) and "[expect_column_values_to_not_be_null]" in str(excinfo.value)
    assert not (tmp_path / "data/prepared/train.csv").exists()


def test_at_inference_a_gap_is_filled_where_the_schema_imputes_and_refused_elsewhere() -> None:
    schema = make_schema(income="median", job="most_frequent", region="drop_row")
    fills = {"income": 50.0, "job": "b"}
    rows = [
        {"income": None, "years": 3, "region": "n"},  # income null, job absent: both filled
        {"income": 10.0, "years": 3, "job": "a", "region": None},  # drop_row: no answer without it
        {"income": 10.0, "job": "a", "region": "s"},  # years is rejected when missing
    ]
    frame, kept, errors, imputed = check_applicants(rows, schema, fills=fills)
    assert kept == [0] and imputed == [["income", "job"]]
    assert frame.iloc[0].to_dict() == {"income": 50.0, "years": 3, "job": "b", "region": "n"}
    assert [(e.row, e.field, e.problem) for e in errors] == [
        (1, "region", "is missing a value"),
        (2, "years", "is required but missing"),
    ]
    _, kept, _, imputed = check_applicants(
        [{"income": "", "years": "3", "job": "", "region": "n"}], schema, from_text=True, fills=fills
    )
    assert kept == [0] and imputed == [["income", "job"]]
