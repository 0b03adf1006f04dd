"""The schema is the single source of truth for validation, encoding and recourse constraints, so a
malformed one must be rejected when it is loaded, not discovered halfway through a pipeline run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from genre.data.schema import DatasetSchema, FeatureSpec, load_schema

REPO = Path(__file__).resolve().parents[2]
ADULT_SCHEMA = REPO / "data/raw/adult/schema.yaml"


def _valid() -> dict[str, Any]:
    """A minimal valid schema; each test breaks exactly one thing in a copy of it."""
    return {
        "name": "toy",
        "target": {"name": "y", "values": [0, 1], "favourable": 1},
        "features": {
            "age": {"kind": "integer", "min": 0, "max": 100},
            "income": {"kind": "continuous", "min": 0.0, "max": 1e6},
            "sex": {"kind": "categorical", "categories": ["F", "M"], "immutable": True},
        },
    }


def test_minimal_schema_is_valid() -> None:
    """Guards the fixture: the failure tests below are only meaningful if the base schema passes."""
    schema = DatasetSchema.model_validate(_valid())
    assert schema.columns == ["age", "income", "sex", "y"]


def _broken(path: list[str], value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(_valid())
    node = raw
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(
            ["features", "sex", "categories"], _DELETE, "non-empty 'categories'", id="categorical-no-categories"
        ),
        pytest.param(
            ["features", "sex", "categories"], [], "non-empty 'categories'", id="categorical-empty-categories"
        ),
        pytest.param(
            ["features", "sex", "categories"], ["F", "F"], "duplicates", id="categorical-duplicate-categories"
        ),
        pytest.param(["features", "age", "min"], _DELETE, "needs bounds", id="integer-no-min"),
        pytest.param(["features", "income", "max"], _DELETE, "needs bounds", id="continuous-no-max"),
        pytest.param(["features", "age", "min"], 101, "min <= max", id="min-above-max"),
        pytest.param(
            ["features", "sex", "direction"],
            "increase",
            "immutable feature cannot also have a direction",
            id="immutable-with-direction",
        ),
        pytest.param(
            ["target", "favourable"], 2, r"'favourable' \(2\) must be one of 'values'", id="favourable-not-a-value"
        ),
        pytest.param(
            ["features", "y"],
            {"kind": "integer", "min": 0, "max": 1},
            "target column cannot also be a feature",
            id="target-is-feature",
        ),
        pytest.param(["features", "age", "kind"], "ordinal", "kind", id="unknown-kind"),
        pytest.param(["features", "age", "mutable"], True, "mutable", id="unknown-key"),
        pytest.param(
            ["features", "job"],
            {"kind": "categorical", "categories": ["a", "b"], "direction": "increase"},
            "a direction needs an order",
            id="direction-on-unordered-category",
        ),
        pytest.param(
            ["features", "age", "ordered"], True, "'ordered' is for a categorical feature", id="ordered-number"
        ),
        pytest.param(["features", "age", "cost"], 0, "greater than 0", id="zero-cost-weight"),
        pytest.param(
            ["features", "sex", "min_change"],
            1,
            "min_change is for a number or ordered feature",
            id="min-change-on-category",
        ),
        pytest.param(["features", "age", "min_change"], 0, "greater than 0", id="zero-min-change"),
    ],
)
def test_invalid_schema_is_rejected(path: list[str], value: Any, message: str) -> None:
    """Each inconsistency is caught at load time, with a message that says what is wrong."""
    with pytest.raises(ValidationError, match=message):
        DatasetSchema.model_validate(_broken(path, value))


def test_numeric_feature_with_categories_is_rejected() -> None:
    """A stray 'categories' on a number would otherwise be silently ignored by the encoder."""
    with pytest.raises(ValidationError, match="takes no 'categories'"):
        FeatureSpec(kind="integer", min=0, max=1, categories=["a"])


def test_adult_schema_is_the_demo_a_lender_would_show() -> None:
    """The embedded default must stay loadable, and never tell a person to change what they
    cannot: the census's sampling weight, protected characteristics, last year's losses; age
    only by waiting, at most five years; no move too small to matter."""
    schema = load_schema(ADULT_SCHEMA)
    assert (schema.name, schema.target.name, schema.target.favourable, len(schema.features)) == (
        "adult",
        "income",
        1,
        13,
    )
    immutable = {name for name, spec in schema.features.items() if spec.immutable}
    assert immutable == {"fnlwgt", "marital-status", "relationship", "race", "sex", "capital-loss", "native-country"}
    age = schema.features["age"]
    assert (age.direction, age.max_change, age.min_change) == ("increase", 5, 1)
    assert all(
        spec.min_change for spec in schema.features.values() if spec.kind != "categorical" and not spec.immutable
    )


def test_the_paper_protocol_schema_frees_every_feature_but_race_and_sex() -> None:
    """The research benchmark's Adult: the paper's constraints, nothing more."""
    schema = load_schema(REPO / "benchmarks/datasets/adult-paper.schema.yaml")
    assert {name for name, spec in schema.features.items() if spec.immutable} == {"race", "sex"}
    assert not any(spec.direction or spec.max_change or spec.min_change for spec in schema.features.values())


def test_direction_increase_loads_and_survives_yaml_round_trip(tmp_path: Path) -> None:
    """The documented 'direction: increase' on age must load, and the copy ingest writes must keep it."""
    raw = yaml.safe_load((REPO / "benchmarks/datasets/adult-paper.schema.yaml").read_text())
    raw["features"]["age"]["direction"] = "increase"
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))

    schema = load_schema(path)
    assert schema.features["age"].direction == "increase"
    assert all(spec.direction is None for name, spec in schema.features.items() if name != "age")

    copy_path = tmp_path / "copy.yaml"
    copy_path.write_text(schema.to_yaml())
    assert load_schema(copy_path) == schema


def test_an_ordered_category_takes_a_direction_and_a_max_change_in_steps() -> None:
    raw = copy.deepcopy(_valid())
    raw["features"]["grade"] = {
        "kind": "categorical",
        "categories": ["low", "mid", "high"],
        "ordered": True,
        "direction": "increase",
        "max_change": 1,
        "cost": 2.5,
    }
    grade = DatasetSchema.model_validate(raw).features["grade"]
    assert grade.ordered and grade.direction == "increase" and grade.max_change == 1 and grade.cost == 2.5
