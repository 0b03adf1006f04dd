"""The dataset schema: what each feature is, what may change, and which label is favourable.

Everything downstream (validation, encoding, constraints on recourse, the service's input checks)
is derived from this one file, so pointing the pipeline at a new dataset means writing a schema,
not code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from genre.messages import InputError
from genre.strict_yaml import StrictYaml

FeatureKind = Literal["continuous", "integer", "categorical"]
Direction = Literal["increase", "decrease"]
MissingPolicy = Literal["reject", "drop_row", "median", "most_frequent"]  # genre.data.missing says what each does
# A label as the data holds it: 0/1, true/false, or a string such as "good" or ">50K".
Label = StrictBool | StrictInt | str
# More distinct strings than this is an identifier or free text, not a category (schema inference's
# default; here, beside what a feature is, so the CLI can show it without loading the inference code).
MAX_CATEGORIES = 50


class SchemaError(InputError):
    """The schema file cannot be used; ``str()`` is one line per problem, each with its line."""


def same_label(a: Label, b: Label) -> bool:
    """Equal as labels: ``True`` is not the label ``1``, though Python says they are equal."""
    return type(a) is type(b) and a == b


class FeatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FeatureKind
    categories: list[str] | None = None
    min: float | None = None
    max: float | None = None
    # Never changed by a recourse. An immutable category (race, sex) or count (past delinquencies)
    # also splits the training rows a recourse is learnt from and retrieved among into groups; an
    # immutable number with many values (a sampling weight) has too many to match, so it is only
    # kept: the answer carries the applicant's own value (genre.data.preprocessing).
    immutable: bool = False
    direction: Direction | None = None
    # The most a recourse may move it, in its own units (say age: 5; steps for an ordered
    # category): a person would not accept more. Applied to the pairs, the sampler's constraints,
    # retrieval and NNR alike.
    max_change: float | None = Field(None, gt=0)
    # The smallest move of it that matters to a person, in its own units (say capital gain: 500;
    # hours a week: 2): a recourse never moves it by less, so nobody is told to add $9 of capital
    # loss. A smaller move of a candidate is put back to the applicant's own value.
    min_change: float | None = Field(None, gt=0)
    # How hard a change of it is, relative to the others: its term of the cost (a scaled unit of a
    # number or ordered category, one change of any other category) is multiplied by this. Used
    # wherever a recourse is chosen or costed; the protocol's unweighted cost stays in the metrics.
    cost: float = Field(1.0, gt=0)
    # Categories listed from lowest to highest (education levels, say): costed by steps, like an
    # integer, and able to take a direction and a max_change.
    ordered: bool = False
    missing: MissingPolicy = "reject"
    # How answers name it to a person ("Years of education"; the column's name when unset) and
    # the unit its values are in ("years", "dollars"): the principal reasons of a denial use both.
    label: str | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.kind == "categorical" and self.missing == "median":
            raise ValueError("a categorical feature has no median; use missing: most_frequent (or drop_row, reject)")
        if self.kind == "categorical":
            if not self.categories:
                raise ValueError("a categorical feature needs a non-empty 'categories' list")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("'categories' has duplicates")
            if self.min is not None or self.max is not None:
                raise ValueError("a categorical feature takes no 'min'/'max'")
        else:
            if self.categories is not None:
                raise ValueError(f"a {self.kind} feature takes no 'categories'")
            if self.min is None or self.max is None or self.min > self.max:
                raise ValueError(f"a {self.kind} feature needs bounds with min <= max")
        if self.ordered and self.kind != "categorical":
            raise ValueError("'ordered' is for a categorical feature (a number is ordered already)")
        unordered = self.kind == "categorical" and not self.ordered
        if self.max_change is not None and (unordered or self.immutable):
            raise ValueError(
                "max_change is for a number or ordered feature a recourse may change "
                "(not an unordered categorical or immutable one)"
            )
        if self.min_change is not None and (unordered or self.immutable):
            raise ValueError(
                "min_change is for a number or ordered feature a recourse may change "
                "(not an unordered categorical or immutable one)"
            )
        if self.min_change is not None and self.max_change is not None and self.min_change > self.max_change:
            raise ValueError(
                f"min_change ({self.min_change}) is larger than max_change ({self.max_change}): "
                "no move would be allowed"
            )
        if self.immutable and self.direction is not None:
            raise ValueError("an immutable feature cannot also have a direction")
        if self.direction is not None and unordered:
            raise ValueError(
                "a direction needs an order: add 'ordered: true' (categories listed from lowest to highest)"
            )
        return self


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    values: list[Label] = Field(min_length=2, max_length=2)
    favourable: Label

    @model_validator(mode="after")
    def _favourable_is_a_value(self) -> TargetSpec:
        first, second = self.values
        if same_label(first, second):
            raise ValueError(f"'values' names the label {first!r} twice; a target has two different labels")
        if not any(same_label(self.favourable, v) for v in self.values):
            raise ValueError(
                f"'favourable' ({self.favourable!r}) must be one of 'values' {self.values}, "
                "written the same way (quoted or not)"
            )
        return self

    @property
    def text_labels(self) -> bool:
        """String labels are read as text, so a label like "1" is never read as the number 1."""
        return all(isinstance(v, str) for v in self.values)


class DatasetSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    target: TargetSpec
    features: dict[str, FeatureSpec] = Field(min_length=1)
    min_rows: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _target_not_a_feature(self) -> DatasetSchema:
        if self.target.name in self.features:
            raise ValueError("the target column cannot also be a feature")
        return self

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    @property
    def columns(self) -> list[str]:
        return [*self.features, self.target.name]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


def load_schema(path: Path) -> DatasetSchema:
    """Read strictly (``genre.strict_yaml``): ``yes``/``no`` stay strings, a key written twice is
    an error, and every problem is raised at once as a ``SchemaError`` line with its line number."""
    schema = StrictYaml(Path(path), SchemaError)
    return schema.validate(DatasetSchema, schema.mapping())
