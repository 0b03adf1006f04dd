"""``genre schema infer``: a schema written from a CSV reads back exactly, describes the embedded
Adult data as its hand-written schema does, validates the CSV it came from, and refuses, one line
per column, what it cannot describe."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from genre.cli.main import app
from genre.data.datasets import read_raw
from genre.data.inference import InferenceError, infer_schema, schema_yaml
from genre.data.schema import DatasetSchema, SchemaError, load_schema
from genre.data.validation import validate_frame

REPO = Path(__file__).resolve().parents[2]
ADULT = REPO / "data/raw/adult"
HOSTILE = [
    "yes",
    "no",
    "on",
    "off",
    "null",
    "~",
    "None",
    "NA",
    "a: b",
    "x, y",
    " lead",
    "trail ",
    "ünïcødé",
    "#hash",
    "- dash",
    "'q'",
    '"dq"',
    "true",
    "1",
    "@at",
    "tab\there",
]


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame as `genre schema infer` reads a CSV: every cell text, empty cells missing."""
    return frame.astype(str).where(frame.notna(), None)


def written(tmp_path: Path, frame: pd.DataFrame, target: str, **options: object) -> tuple[DatasetSchema, Path]:
    """Infer, write the YAML, and read it back as the pipeline will."""
    inferred = infer_schema(as_text(frame), target, name="t", source="t.csv", **options)
    path = tmp_path / "schema.yaml"
    path.write_text(schema_yaml(inferred))
    return load_schema(path), path


def test_the_embedded_adult_csv_gets_the_embedded_schema_and_passes_its_validation(tmp_path: Path) -> None:
    csv = ADULT / "train.csv.gz"
    out = tmp_path / "schema.yaml"
    result = CliRunner().invoke(app, ["schema", "infer", str(csv), "--target", "income", "--output", str(out)])
    assert result.exit_code == 0, result.output
    inferred, embedded = load_schema(out), load_schema(ADULT / "schema.yaml")
    assert inferred.target == embedded.target
    assert list(inferred.features) == list(embedded.features)
    for name, spec in embedded.features.items():
        assert (inferred.features[name].kind, inferred.features[name].categories) == (spec.kind, spec.categories), name
    assert validate_frame(read_raw(csv, inferred), inferred).success


def test_yaml_hostile_categories_read_back_exactly(tmp_path: Path) -> None:
    frame = pd.DataFrame({"c": HOSTILE * 3, "y": [0, 1, 1] * len(HOSTILE)})
    schema, _ = written(tmp_path, frame, "y")
    assert schema.features["c"].categories == sorted(HOSTILE)
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert validate_frame(read_raw(tmp_path / "d.csv", schema), schema).success


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1).filter(lambda t: t.strip() != ""), min_size=2, max_size=6, unique=True))
def test_any_category_text_reads_back_exactly(tmp_path_factory: pytest.TempPathFactory, categories: list[str]) -> None:
    frame = pd.DataFrame({"c": categories, "y": [i % 2 for i in range(len(categories))]})
    if pd.to_numeric(frame["c"], errors="coerce").notna().mean() >= 0.9:
        return  # a numeric column, not a categorical one
    schema, _ = written(tmp_path_factory.mktemp("h"), frame, "y")
    assert schema.features["c"].categories == sorted(categories)


@pytest.mark.parametrize(
    ("labels", "values", "favourable"),
    [
        (["bad", "good", "good"], ["bad", "good"], "good"),  # a word that says it
        ([True, False, False], [False, True], True),  # booleans, as pandas reads True/False
        (["no", "yes", "yes"], ["no", "yes"], "yes"),  # strings, not YAML 1.1 booleans
        ([0, 1, 1], [0, 1], 1),
        (["<=50K", ">50K", "<=50K"], ["<=50K", ">50K"], ">50K"),  # no word: the rarer label, said as a guess
    ],
)
def test_labels_of_any_scalar_kind_are_kept_as_the_data_holds_them(tmp_path: Path, labels, values, favourable) -> None:
    frame = pd.DataFrame({"y": labels * 10, "x": range(30)})  # the target first
    schema, _ = written(tmp_path, frame, "y")
    assert schema.target.values == values and schema.target.favourable == favourable
    assert type(schema.target.favourable) is type(favourable)
    frame.to_csv(tmp_path / "d.csv", index=False)
    read = read_raw(tmp_path / "d.csv", schema)
    assert validate_frame(read, schema).success
    assert (read["y"] == favourable).sum() == labels.count(favourable) * 10


def test_whole_numbers_stored_as_floats_are_integers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": [1.0, 2.0, None, 40.0] * 5, "f": [0.5, 1.5, 2.0, 3.0] * 5, "y": [0, 1] * 10})
    schema, _ = written(tmp_path, frame, "y")
    assert schema.features["n"].kind == "integer" and (schema.features["n"].min, schema.features["n"].max) == (1, 40)
    assert schema.features["f"].kind == "continuous"
    frame.fillna(3.0).to_csv(tmp_path / "d.csv", index=False)  # pandas writes 1.0, 2.0, 3.0, 40.0
    read = read_raw(tmp_path / "d.csv", schema)
    assert str(read["n"].dtype) == "int64"
    assert validate_frame(read, schema).success


def test_a_margin_widens_bounds_but_not_below_zero(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": [0, 10] * 5, "m": [-5.0, 5.0] * 5, "y": [0, 1] * 5})
    schema, _ = written(tmp_path, frame, "y", margin=0.1)
    assert (schema.features["n"].min, schema.features["n"].max) == (0, 11)
    assert (schema.features["m"].min, schema.features["m"].max) == (-6.0, 6.0)


def test_what_cannot_be_described_is_one_line_per_column() -> None:
    frame = pd.DataFrame(
        {
            "id": [f"row-{i}" for i in range(60)],
            "mostly_numbers": [str(i) for i in range(58)] + ["n/a", "?"],
            "constant": ["same"] * 60,
            "y": ["a", "b", "c"] * 20,
        }
    )
    with pytest.raises(InferenceError) as excinfo:
        infer_schema(as_text(frame), "y", name="t")
    lines = str(excinfo.value).splitlines()
    assert lines == [
        (
            "column 'id': 60 distinct text values, more than a category can have (50, --max-categories): "
            "drop the column (an identifier or free text) or group its values"
        ),
        (
            "column 'mostly_numbers': 58 numbers and 2 other values, e.g. ['n/a', '?']: "
            "write those as empty cells (missing) or fix them"
        ),
        "column 'constant': a single value 'same' in every row: drop the column",
        "target 'y': 3 distinct labels ['a', 'b', 'c']: recourse needs exactly two (favourable and not)",
    ]


def test_the_command_never_overwrites_without_force_and_reports_one_line(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    out.write_text("mine")
    args = ["schema", "infer", str(ADULT / "test.csv.gz"), "--target", "income", "--output", str(out)]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and out.read_text() == "mine"
    assert refused.output.strip() == f"{out} exists; pass --force to overwrite it, or choose another --output"
    wrong = CliRunner().invoke(app, [*args[:4], "salary", "--output", str(out), "--force"])
    assert (
        wrong.exit_code == 2
        and wrong.output.startswith("--target 'salary' is not a column of test.csv.gz")
        and out.read_text() == "mine"
    )
    assert CliRunner().invoke(app, [*args, "--force", "--favourable", "1"]).exit_code == 0
    assert load_schema(out).name == "adult"  # named after its folder, not "test"


def test_a_hand_written_schema_is_read_strictly_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(
        "name: t\n"
        "target: {name: y, values: [no, yes], favourable: yes}\n"
        "features:\n"
        "  status: {kind: categorical, categories: [male : single, female]}\n"
        "  n: {kind: integer, min: 0, max: 9}\n"
        "  n: {kind: integer, min: 0, max: 8}\n"
    )
    with pytest.raises(SchemaError) as excinfo:
        load_schema(path)
    assert str(excinfo.value).splitlines() == [
        f"{path}:6: features.n: written twice (first on line 5); keep one",
        (
            f"{path}:4: features.status.categories.0: Input should be a valid string "
            f"(got {{\"male\": \"single\"}}) (a value holding ': ' or ', ' must be quoted)"
        ),
    ]


def test_marks_a_lender_would_otherwise_think_of_alone_are_written_as_guesses(tmp_path: Path) -> None:
    """Protected characteristics and records of the past immutable, age only up by a few years,
    and a smallest meaningful change for every other number: each on its line, marked GUESS,
    and read back as written."""
    frame = pd.DataFrame(
        {
            "Ethnicity": ["a", "b"] * 50,
            "marital_status": ["single", "married"] * 50,
            "NumTimes90DaysLate": [0, 1, 2, 0] * 25,
            "MonthsSinceDelinquency": list(range(100)),
            "Age": [20 + i % 50 for i in range(100)],
            "two_year_recid": [0, 1] * 50,
            "EducationYears": [8 + i % 10 for i in range(100)],
            "Income": [1000 * (30 + i) for i in range(100)],
            "y": [0, 1] * 50,
        }
    )
    schema, path = written(tmp_path, frame, "y")
    assert {n for n, f in schema.features.items() if f.immutable} == {
        "Ethnicity",
        "marital_status",
        "NumTimes90DaysLate",
        "MonthsSinceDelinquency",
        "two_year_recid",
    }
    assert (
        schema.features["EducationYears"].direction == "increase" and schema.features["EducationYears"].min_change == 1
    )
    age, income = schema.features["Age"], schema.features["Income"]
    assert (age.direction, age.max_change, age.min_change) == ("increase", 5, 1)
    assert income.min_change == 5000 and income.direction is None  # 5% of the median income, rounded up to 5 x 10^3
    lines = {
        line.split(":")[0].strip().strip('"'): line for line in path.read_text().splitlines() if line.startswith("  ")
    }
    assert "GUESS immutable: a protected characteristic" in lines["Ethnicity"]
    assert (
        "GUESS immutable: a record of the past" in lines["NumTimes90DaysLate"]
        and "(late)" in lines["NumTimes90DaysLate"]
    )
    assert "GUESS only up, by at most 5" in lines["Age"] and "GUESS min_change 5000" in lines["Income"]


@pytest.mark.parametrize(
    ("values", "whole", "expected"),
    [
        ([0, 1, 2, 3], True, 1),
        ([0.0, 0.1, 0.2, 0.3, 10.0], False, 0.1),
        ([0, 150, 300, 9000], True, 200),
        ([1000, 1001, 1002, 1003], True, 100),
        ([4, 4], True, None),
    ],
)
def test_min_change_from_the_spacing_and_size_of_the_values(
    values: list[float], whole: bool, expected: float | None
) -> None:
    import numpy as np

    from genre.data.inference import min_change

    assert min_change(np.array(values, dtype=float), whole) == expected
