"""The generated Great Expectations suite is the gate in front of training: good data must pass, and
each kind of bad delivery must fail with a message that says which column and which value to fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genre.data.datasets import read_raw
from genre.data.schema import DatasetSchema, load_schema
from genre.data.validation import DataValidationError, validate_frame

ADULT = Path(__file__).resolve().parents[2] / "data/raw/adult"


@pytest.fixture(scope="module")
def schema() -> DatasetSchema:
    return load_schema(ADULT / "schema.yaml")


@pytest.fixture(scope="module")
def train(schema: DatasetSchema) -> pd.DataFrame:
    return read_raw(ADULT / "train.csv.gz", schema)


def test_embedded_train_split_passes(train: pd.DataFrame, schema: DatasetSchema) -> None:
    """The shipped data must satisfy its own schema, or the default pipeline could never run."""
    report = validate_frame(train, schema)
    assert report.success, report.failures
    assert report.failures == []
    report.raise_for_failures("train")  # no-op on success


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def corrupt(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object})
        frame.loc[row, column] = value
        return frame

    return corrupt


def _drop(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda frame: frame.drop(columns=[column])


def _add(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda frame: frame.assign(**{column: 1})


# (corruption, column the message must name, expectation that must fail, text the failure must show)
CORRUPTIONS = [
    pytest.param(
        _set("age", 7, 150),
        "age",
        "expect_column_values_to_be_between",
        "1 of 300 values are outside [17.0, 90.0], e.g. [150], at line 9;",
        id="out-of-range",
    ),
    pytest.param(
        _set("workclass", 7, "Self-Employed"),
        "workclass",
        "expect_column_values_to_be_in_set",
        "['Self-Employed']",
        id="unknown-category",
    ),
    pytest.param(
        _set("occupation", 7, np.nan),
        "occupation",
        "expect_column_values_to_not_be_null",
        "1 of 300 values are missing, at line 9;",
        id="null-feature",
    ),
    pytest.param(_drop("sex"), "sex", "expect_column_to_exist", "missing", id="missing-column"),
    pytest.param(
        _add("zip_code"),
        None,
        "expect_table_columns_to_match_set",
        "columns the schema does not name: ['zip_code']",
        id="extra-column",
    ),
    pytest.param(
        _set("hours-per-week", 7, "forty"),
        "hours-per-week",
        "expect_column_values_to_be_in_type_list",
        "['forty']",
        id="non-numeric",
    ),
    pytest.param(_set("income", 7, 2), "income", "expect_column_values_to_be_in_set", "[2]", id="bad-label"),
]


@pytest.mark.parametrize(("corrupt", "column", "expectation", "shown"), CORRUPTIONS)
def test_corrupted_copy_fails_with_clear_message(
    corrupt: Callable[[pd.DataFrame], pd.DataFrame],
    column: str | None,
    expectation: str,
    shown: str,
    train: pd.DataFrame,
    schema: DatasetSchema,
    tmp_path: Path,
) -> None:
    """Corrupt 300 good rows, write them as a CSV and read them back like ingest does, then validate."""
    path = tmp_path / "bad.csv"
    corrupt(train.head(300).copy()).to_csv(path, index=False)
    frame = read_raw(path, schema)

    report = validate_frame(frame, schema)
    assert not report.success

    with pytest.raises(DataValidationError) as excinfo:
        report.raise_for_failures(str(path))
    message = str(excinfo.value)
    assert str(path) in message
    where = "table" if column is None else f"column {column!r}"
    lines = [line for line in message.splitlines() if where in line and expectation in line]
    assert len(lines) == 1, message
    assert shown in lines[0], message
    # One corruption, one line: no check that fails only because of it (GX's "could not be
    # evaluated" on a missing or non-numeric column, the column set missing a column) is shown.
    assert len(report.failures) == 1, message


def test_many_bad_rows_give_their_csv_lines_and_distinct_values_once(
    train: pd.DataFrame, schema: DatasetSchema, tmp_path: Path
) -> None:
    """The first few offending lines of the file as an editor numbers them (header = line 1), how
    many more, and each offending value once however often it occurs."""
    frame = train.head(300).copy()
    bad_rows = [3, 7, 9, 11, 15, 20, 30]
    frame.loc[bad_rows, "age"] = [500, 500, 600, 500, 500, 600, 500]
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)

    report = validate_frame(read_raw(path, schema), schema)
    (line,) = report.failures
    assert "7 of 300 values are outside [17.0, 90.0], e.g. [500, 600], at lines 5, 9, 11, 13, 17 and 2 more;" in line
    text = path.read_text().splitlines()
    for number in (5, 9, 11, 13, 17):
        assert text[number - 1].split(",")[0] in ("500", "600")


def test_a_value_that_could_forge_a_log_line_is_shown_escaped(train: pd.DataFrame, schema: DatasetSchema) -> None:
    frame = train.head(300).copy()
    frame.loc[4, "workclass"] = "Private\n2026-01-01 INFO all good\x1b[0m"
    (line,) = validate_frame(frame, schema).failures
    assert "\n" not in line and "\x1b" not in line
    assert "e.g. ['Private\\n2026-01-01 INFO all good" in line
