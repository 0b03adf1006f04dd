"""Every model works in the scaled space and every recourse is shown in raw units, so the mapping
between the two must be lossless on real values and must snap generated points onto real values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genre.data.datasets import read_raw
from genre.data.preprocessing import Preprocessor
from genre.data.schema import DatasetSchema, load_schema

REPO = Path(__file__).resolve().parents[2]
ADULT = REPO / "data/raw/adult"


@pytest.fixture(scope="module")
def toy_schema() -> DatasetSchema:
    return DatasetSchema.model_validate(
        {
            "name": "toy",
            "target": {"name": "y", "values": [0, 1], "favourable": 1},
            "features": {
                "age": {"kind": "integer", "min": 0, "max": 120},
                "balance": {"kind": "continuous", "min": -1000.0, "max": 1000.0},
                "colour": {"kind": "categorical", "categories": ["red", "green", "blue"]},
                "owner": {"kind": "categorical", "categories": ["no", "yes"]},
            },
        }
    )


@pytest.fixture(scope="module")
def toy_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [18, 25, 40, 67, 33],
            "balance": [-250.5, 0.0, 12.25, 999.0, 3.125],
            "colour": ["red", "blue", "green", "blue", "red"],
            "owner": ["yes", "no", "no", "yes", "no"],
        }
    )


@pytest.fixture(scope="module")
def adult_schema() -> DatasetSchema:
    return load_schema(ADULT / "schema.yaml")


@pytest.fixture(scope="module")
def adult_frame(adult_schema: DatasetSchema) -> pd.DataFrame:
    return read_raw(ADULT / "train.csv.gz", adult_schema).head(500)


def test_round_trip_hand_made_frame(toy_schema: DatasetSchema, toy_frame: pd.DataFrame) -> None:
    """Integers and categories come back exactly; continuous values up to float32 precision."""
    pre = Preprocessor.fit(toy_schema, toy_frame)
    back = pre.inverse_transform(pre.transform(toy_frame))

    exact = ["age", "colour", "owner"]
    pd.testing.assert_frame_equal(back[exact], toy_frame[exact], check_dtype=False)
    assert back["age"].dtype == np.int64
    np.testing.assert_allclose(back["balance"].to_numpy(), toy_frame["balance"].to_numpy(), rtol=0, atol=1e-3)


def test_round_trip_adult_rows(adult_schema: DatasetSchema, adult_frame: pd.DataFrame) -> None:
    """Real rows (including fnlwgt up to ~1.5M, the hardest case for float32) survive exactly."""
    pre = Preprocessor.fit(adult_schema, adult_frame)
    back = pre.inverse_transform(pre.transform(adult_frame))
    pd.testing.assert_frame_equal(back, adult_frame[adult_schema.feature_names])


def test_training_frame_scales_to_unit_interval(adult_schema: DatasetSchema, adult_frame: pd.DataFrame) -> None:
    """Min-max scaling on the training split: each numeric column spans exactly [0, 1]."""
    pre = Preprocessor.fit(adult_schema, adult_frame)
    x = pre.transform(adult_frame)
    assert x.dtype == np.float32
    assert x.shape == (len(adult_frame), len(adult_schema.features))
    numeric = [j for j, spec in enumerate(adult_schema.features.values()) if spec.kind != "categorical"]
    assert numeric, "the Adult schema has numeric features"
    for j in numeric:
        assert x[:, j].min() == 0.0, adult_schema.feature_names[j]
        assert x[:, j].max() == 1.0, adult_schema.feature_names[j]
    assert ((x >= 0.0) & (x <= 1.0)).all()


def test_binary_categoricals_encode_as_zero_one(adult_schema: DatasetSchema, adult_frame: pd.DataFrame) -> None:
    """A binary feature is exactly 0/1 in schema order, so costs and one-hot codes line up."""
    pre = Preprocessor.fit(adult_schema, adult_frame)
    x = pre.transform(adult_frame)
    binary = [
        (j, name, spec)
        for j, (name, spec) in enumerate(adult_schema.features.items())
        if spec.kind == "categorical" and len(spec.categories or []) == 2
    ]
    assert len(binary) == 7
    for j, name, spec in binary:
        expected = (adult_frame[name] == spec.categories[1]).to_numpy(dtype=np.float32)
        np.testing.assert_array_equal(x[:, j], expected, err_msg=name)
        assert set(np.unique(x[:, j])) == {0.0, 1.0}, name


def test_project_clips_and_snaps_to_grid(toy_schema: DatasetSchema, toy_frame: pd.DataFrame) -> None:
    """Generated points become values an applicant can have: inside the range, on the integer grid."""
    pre = Preprocessor.fit(toy_schema, toy_frame)  # age 18..67 (range 49), colour codes 0..2
    age_mid = (30.4 - 18) / 49  # 30.4 years -> 30 years
    x = np.array(
        [
            [-0.3, -5.0, 1.7, 0.6],  # below / below / above / rounds up
            [1.4, 0.37, 0.3, 0.4],  # above / inside (continuous untouched) / colour 0.6 -> 1 / rounds down
            [age_mid, 1.0, 0.8, 1.0],
        ]
    )
    got = pre.project(x)
    expected = np.array(
        [
            [0.0, 0.0, 1.0, 1.0],
            [1.0, 0.37, 0.5, 0.0],
            [(30 - 18) / 49, 1.0, 1.0, 1.0],
        ],
        dtype=np.float32,
    )
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_array_equal(pre.project(got), got)  # projecting twice changes nothing

    raw = pre.inverse_transform(x)
    assert raw["age"].tolist() == [18, 67, 30]
    assert raw["colour"].tolist() == ["blue", "green", "blue"]
    assert raw["owner"].tolist() == ["yes", "no", "yes"]


def test_json_round_trip_gives_identical_transform(adult_schema: DatasetSchema, adult_frame: pd.DataFrame) -> None:
    """Later stages and the service reload preprocessor.json; they must encode exactly like ingest did."""
    pre = Preprocessor.fit(adult_schema, adult_frame)
    loaded = Preprocessor.from_json(pre.to_json())
    assert loaded.schema == adult_schema
    np.testing.assert_array_equal(loaded.mins, pre.mins)
    np.testing.assert_array_equal(loaded.ranges, pre.ranges)
    np.testing.assert_array_equal(loaded.transform(adult_frame), pre.transform(adult_frame))


def test_unknown_category_names_the_column(toy_schema: DatasetSchema, toy_frame: pd.DataFrame) -> None:
    """An unseen category must fail loudly, not be encoded as NaN and fed to a model."""
    pre = Preprocessor.fit(toy_schema, toy_frame)
    bad = toy_frame.copy()
    bad.loc[2, "colour"] = "purple"
    with pytest.raises(ValueError, match=r"colour: unknown category 'purple'"):
        pre.transform(bad)
