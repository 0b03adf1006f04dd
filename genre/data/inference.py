"""A first schema written from a CSV, for a person to review rather than to write.

Writing a schema by hand from pandas output was most of a new user's time, and YAML made it
worse: ``no`` and ``yes`` became booleans and a category holding ``: `` or ``, `` became a mapping.
What the data shows is written out here (each column's kind, its bounds, its categories, the two
labels of the target), every string quoted so YAML reads it back exactly, with a comment on what
was guessed (the favourable label) and how to mark what recourse must not change.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genre.data.schema import MAX_CATEGORIES, DatasetSchema, FeatureSpec, Label, TargetSpec
from genre.messages import InputError, one_line

# Columns a recourse must not touch, found by name: protected characteristics (the grounds of US
# fair-lending law and the EU's non-discrimination law) and records of the past, which no one
# can change now. Matched against the column name's words, lower-cased.
PROTECTED_WORDS = (
    "race",
    "racial",
    "ethnic",
    "ethnicity",
    "colour",
    "color",
    "religion",
    "religious",
    "nationality",
    "national",
    "native",
    "origin",
    "citizenship",
    "sex",
    "gender",
    "marital",
    "married",
    "relationship",
)
PAST_WORDS = (
    "delinquency",
    "delinquencies",
    "delinquent",
    "delq",
    "derog",
    "derogatory",
    "ever",
    "history",
    "prior",
    "priors",
    "previous",
    "past",
    "bankruptcy",
    "bankruptcies",
    "defaults",
    "defaulted",
    "late",
    "since",
    "oldest",
    "arrests",
    "convictions",
    "recid",
    "recidivism",
    "charge",
    "charges",
    "jail",
    "custody",
)
AGE_WORDS = ("age",)
SCHOOLING_WORDS = ("education", "schooling")  # a number of them only rises: nobody unlearns
AGE_YEARS = 5  # the most years a recourse may ask a person to wait (max_change guessed for age)
MIN_CHANGE_SHARE = (
    0.05  # the smallest change that matters: this share of a typical (median nonzero) value, or the data's spacing
)
FAVOURABLE_WORDS = ("1", "true", "yes", "y", "good", "approved", "accepted", "granted", "paid")


class InferenceError(InputError):
    """The CSV cannot be described by a schema as it stands; one line per column to fix."""


@dataclass(frozen=True)
class Inferred:
    """The schema, and what the YAML should say about it that the schema itself cannot."""

    schema: DatasetSchema
    notes: dict[str, str]  # per feature: what was observed (range, missing values)
    guesses: dict[
        str, str
    ]  # per feature with a guessed mark (immutable, direction, min_change): what and why, to check
    favourable_note: str  # why this label is the favourable one, or that it is a guess
    source: str
    rows: int


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    *,
    name: str,
    favourable: str | None = None,
    margin: float = 0.0,
    max_categories: int = MAX_CATEGORIES,
    source: str = "",
    min_rows: int | None = None,
) -> Inferred:
    """Describe ``frame`` (read with every cell as text, empty cells as missing).

    Numbers whose every value is whole are integers (``3.0`` included), other numbers are
    continuous, text with at most ``max_categories`` distinct values is categorical. Bounds are
    the observed range widened by ``margin`` times its width on each side (never below 0 for a
    column that never was). ``min_rows`` (at most 100) is the smallest delivery the schema will
    accept: at most the smallest file it was inferred from, so each of them passes. Raises
    ``InferenceError`` naming every column it cannot describe.
    """
    if target not in frame.columns:
        raise InferenceError(
            f"--target {one_line(repr(target))} is not a column of {source or 'the CSV'}; "
            f"its columns are {list(frame.columns)}"
        )
    problems, features, notes, guesses = [], {}, {}, {}
    for column in frame.columns:
        if column == target:
            continue
        spec, note, problem = _infer_feature(frame[column], margin, max_categories)
        if problem or spec is None:
            problems.append(f"column {one_line(repr(column))}: {problem}")
        else:
            features[column], notes[column] = spec, note
            features[column], guess = _guess_marks(column, spec, frame[column])
            if guess:
                guesses[column] = guess
    labels, favourite, favourable_note, problem = _infer_target(frame[target], favourable)
    if problem:
        problems.append(f"target {one_line(repr(target))}: {problem}")
    if problems:
        raise InferenceError("\n".join(problems))
    if not features:
        raise InferenceError(f"{source or 'the CSV'} has no column besides the target {target!r}")
    schema = DatasetSchema(
        name=name,
        target=TargetSpec(name=target, values=labels, favourable=favourite),
        features=features,
        min_rows=min(100, len(frame) if min_rows is None else min_rows),
    )
    return Inferred(schema, notes, guesses, favourable_note, source, len(frame))


def _words(name: str) -> set[str]:
    """A column name's words, lower-cased: ``NumTrades60Ever2DerogPubRec`` -> num, trades, ever, derog, pub, rec."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return {w for w in re.split(r"[^a-z]+", spaced.lower()) if w}


def _guess_marks(column: str, spec: FeatureSpec, values: pd.Series) -> tuple[FeatureSpec, str]:
    """``spec`` with the marks a lender would otherwise have to think of alone, guessed from the
    column's name and values, and the note saying what was guessed (empty: nothing)."""
    words = _words(column)
    protected, past = sorted(words & set(PROTECTED_WORDS)), sorted(words & set(PAST_WORDS))
    if protected:
        return spec.model_copy(
            update={"immutable": True}
        ), f"GUESS immutable: a protected characteristic by its name ({', '.join(protected)})"
    if past:
        return spec.model_copy(
            update={"immutable": True}
        ), f"GUESS immutable: a record of the past by its name ({', '.join(past)})"
    if spec.kind == "categorical":
        return spec, ""
    age = bool(words & set(AGE_WORDS))
    least = min_change(
        pd.to_numeric(values, errors="coerce").dropna().to_numpy(np.float64), spec.kind == "integer", spacing_only=age
    )
    update: dict[str, object] = {} if least is None else {"min_change": least}
    said = [] if least is None else [f"min_change {_number(least)} (smaller moves are no moves)"]
    if age:
        reach = float(AGE_YEARS) if least is None else max(float(AGE_YEARS), least)
        update |= {"direction": "increase", "max_change": reach}
        said.insert(0, f"only up, by at most {_number(reach)} (a person can only wait)")
    elif words & set(SCHOOLING_WORDS):
        update |= {"direction": "increase"}
        said.insert(0, "only up (nobody unlearns)")
    return spec.model_copy(update=update), ("GUESS " + "; ".join(said)) if said else ""


def min_change(values: np.ndarray, whole: bool, spacing_only: bool = False) -> float | None:
    """The smallest change of a number that matters, from its observed values: the larger of the
    median spacing of its distinct values and (unless ``spacing_only``: a year of age is a year)
    ``MIN_CHANGE_SHARE`` of its median nonzero size, rounded up to 1, 2 or 5 times a power of ten
    (at least 1 for whole numbers). None for a column with a single value."""
    distinct = np.unique(values)
    if len(distinct) < 2:
        return None
    nonzero = np.abs(values[values != 0])
    share = MIN_CHANGE_SHARE * float(np.median(nonzero)) if len(nonzero) and not spacing_only else 0.0
    least = max(float(np.median(np.diff(distinct))), share)
    power = 10.0 ** math.floor(math.log10(least)) if least > 0 else 1.0
    nice = next(step * power for step in (1, 2, 5, 10) if step * power >= least * (1 - 1e-9))
    return max(nice, 1.0) if whole else nice


def _missing(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype(str).str.strip() == "")


def _infer_feature(values: pd.Series, margin: float, max_categories: int) -> tuple[FeatureSpec | None, str, str | None]:
    """-> (spec, note for the YAML, or the problem that stops it)."""
    missing = _missing(values)
    present = values[~missing]
    note = (
        f"{int(missing.sum())} missing ({missing.mean():.1%}): filled, or set missing: drop_row / reject; "
        if missing.any()
        else ""
    )
    if present.empty:
        return None, "", "every value is missing: drop the column"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all() and numbers.map(math.isfinite).all():
        whole = bool((numbers == numbers.round()).all())
        low, high = float(numbers.min()), float(numbers.max())
        width = (high - low) * margin
        lo, hi = low - width, high + width
        if low >= 0:
            lo = max(lo, 0.0)
        if whole:
            lo, hi = math.floor(lo), math.ceil(hi)
        observed = f"observed {_number(low)} to {_number(high)}"
        policy = "median" if missing.any() else "reject"
        return (
            FeatureSpec(kind="integer" if whole else "continuous", min=lo, max=hi, missing=policy),
            note + observed,
            None,
        )
    if numbers.notna().mean() >= 0.9:
        odd = present[numbers.isna()].drop_duplicates().head(5).tolist()
        return (
            None,
            "",
            (
                f"{numbers.notna().sum()} numbers and {numbers.isna().sum()} other values, e.g. {odd}: "
                "write those as empty cells (missing) or fix them"
            ),
        )
    categories = sorted(present.astype(str).unique())
    if len(categories) > max_categories:
        return (
            None,
            "",
            (
                f"{len(categories)} distinct text values, more than a category can have ({max_categories}, "
                "--max-categories): drop the column (an identifier or free text) or group its values"
            ),
        )
    if len(categories) < 2:
        return None, "", f"a single value {categories[0]!r} in every row: drop the column"
    policy = "most_frequent" if missing.any() else "reject"
    return (
        FeatureSpec(kind="categorical", categories=categories, missing=policy),
        note + f"{len(categories)} categories",
        None,
    )


def _infer_target(values: pd.Series, favourable: str | None) -> tuple[list[Label], Label, str, str | None]:
    """-> (the two labels as pandas will read them, the favourable one, why it is, or the problem)."""
    missing = _missing(values)
    if missing.any():
        return (
            [],
            "",
            "",
            f"{int(missing.sum())} rows have no label: drop them, a label is needed for every training row",
        )
    text = values.astype(str).str.strip()
    distinct = sorted(text.unique())
    if len(distinct) != 2:
        shown = distinct[:10]
        return (
            [],
            "",
            "",
            (
                f"{len(distinct)} distinct labels {shown}{' ...' if len(distinct) > 10 else ''}: "
                "recourse needs exactly two (favourable and not)"
            ),
        )
    labels = [_label(v, distinct) for v in distinct]
    counts = text.value_counts()
    if favourable is not None:
        if favourable not in distinct:
            return [], "", "", f"--favourable {favourable!r} is not one of its labels {distinct}"
        chosen, why = favourable, "given with --favourable"
    else:
        known = [v for v in distinct if v.lower() in FAVOURABLE_WORDS]
        if len(known) == 1:
            chosen, why = known[0], "a GUESS from its name; check it, or pass --favourable"
        else:
            chosen = min(distinct, key=lambda v: (counts[v], v))
            why = f"a GUESS: the rarer label ({counts[chosen]} of {len(text)} rows); check it, or pass --favourable"
    return labels, labels[distinct.index(chosen)], why, None


def _label(text: str, both: list[str]) -> Label:
    """A label typed the way pandas will read the column: integers if both are, booleans if both
    are true/false, else the strings themselves."""
    if all(re.fullmatch(r"[+-]?\d+", v) for v in both):
        return int(text)
    if all(v.lower() in ("true", "false") for v in both) and all(
        v in ("True", "False", "true", "false", "TRUE", "FALSE") for v in both
    ):
        return text.lower() == "true"
    return text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _quoted(value: object) -> str:
    """A YAML scalar that reads back as exactly ``value``: strings double-quoted (JSON escapes
    are YAML escapes), with the characters YAML would treat as line breaks escaped too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    text = json.dumps(str(value), ensure_ascii=False)
    return "".join(
        c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}" for c in text
    )


def schema_yaml(inferred: Inferred) -> str:
    """The schema as YAML a person can review: one line per feature, what was observed beside it."""
    schema = inferred.schema
    target = schema.target
    lines = [
        f"# Inferred by `genre schema infer` from {inferred.source} ({inferred.rows} rows). Review it before training:",
        "# - bounds are the observed range (pass --margin to widen them); an applicant outside them is refused;",
        "# - a feature with gaps in the data is filled (missing: median / most_frequent, fitted on the training",
        "#   split; an applicant's gap is filled the same way); drop_row leaves such rows out, reject refuses them;",
        "# - mark what a recourse must never change with `immutable: true`, and a feature that may only",
        "#   rise (or fall) with `direction: increase` (or `decrease`), e.g. age:",
        '#     "age": {kind: integer, min: 17, max: 90, direction: increase}',
        "# - lines marked GUESS were marked for you (protected characteristics and records of the past",
        "#   immutable, age only up, the smallest change that matters): check each, keep or remove it;",
        "# - label is how answers name a feature to a person (the principal reasons of a denial): replace",
        '#   the column name with words, and add a unit where it has one (label: "Hours worked", unit: hours);',
        f"name: {_quoted(schema.name)}",
        "target:",
        f"  name: {_quoted(target.name)}",
        f"  values: [{', '.join(_quoted(v) for v in target.values)}]",
        f"  favourable: {_quoted(target.favourable)}  # {inferred.favourable_note}",
        f"min_rows: {schema.min_rows}",
        "features:",
    ]
    for feature, spec in schema.features.items():
        if spec.kind == "categorical":
            body = f"kind: categorical, categories: [{', '.join(_quoted(c) for c in spec.categories or [])}]"
        else:
            body = f"kind: {spec.kind}, min: {_quoted(spec.min)}, max: {_quoted(spec.max)}"
        if spec.missing != "reject":
            body += f", missing: {spec.missing}"
        for mark in ("immutable", "direction", "max_change", "min_change"):
            value = getattr(spec, mark)
            if value not in (None, False):
                body += f", {mark}: {_quoted(value)}"
        body += f", label: {_quoted(spec.label or feature)}"
        said = inferred.notes[feature] + (f"; {inferred.guesses[feature]}" if feature in inferred.guesses else "")
        lines.append(f"  {_quoted(feature)}: {{{body}}}  # {said}")
    return "\n".join(lines) + "\n"
