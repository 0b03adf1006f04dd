"""Raw-data validation with Great Expectations, the suite generated from the dataset schema.

Generating the suite (instead of hand-writing one per dataset) keeps the schema the single source
of truth: a user's own dataset is validated as strictly as the embedded one without extra code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from genre.data.schema import DatasetSchema
from genre.messages import InputError, one_line

_NUMERIC_TYPES = {
    "integer": ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "Int64"],
    "continuous": [
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "Int64",
        "float16",
        "float32",
        "float64",
        "Float64",
    ],
}
_EXAMPLES = 5


class DataValidationError(InputError):
    """One line per failed check of one file, then where the full report was kept, so the person
    who delivered the data knows what to fix without reading a traceback or GX's JSON."""

    def __init__(self, source: str, failures: list[str], report: Path | None = None) -> None:
        self.source, self.failures, self.report = source, failures, report
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [
            f"{self.source} failed validation ({len(self.failures)} problem{'s' if len(self.failures) > 1 else ''}):",
            *(f"  - {f}" for f in self.failures),
        ]
        if self.report is not None:
            lines.append(f"  the full report (GX results, Data Docs): {self.report}")
        return "\n".join(lines)


@dataclass
class ValidationReport:
    success: bool
    failures: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def raise_for_failures(self, source: str) -> None:
        if not self.success:
            raise DataValidationError(source, self.failures)


def build_expectations(schema: DatasetSchema, min_rows: int | None = None) -> list[Any]:
    """The suite the schema implies; ``min_rows`` (default the schema's) is lower for a batch of
    new rows, which joins training data that has enough of them."""
    ex = gx.expectations
    expectations: list[Any] = [
        ex.ExpectTableColumnsToMatchSet(column_set=schema.columns, exact_match=True),
        ex.ExpectTableRowCountToBeBetween(min_value=schema.min_rows if min_rows is None else min_rows),
    ]
    for name, spec in schema.features.items():
        expectations.append(ex.ExpectColumnToExist(column=name))
        if spec.missing == "reject":
            expectations.append(ex.ExpectColumnValuesToNotBeNull(column=name))
        if spec.kind == "categorical":
            expectations.append(ex.ExpectColumnValuesToBeInSet(column=name, value_set=list(spec.categories or [])))
        else:
            # An integer column with gaps is read as floats; its values' wholeness is checked by
            # read_raw's caller once the gaps are dealt with (genre.data.missing).
            types = _NUMERIC_TYPES["continuous" if spec.missing != "reject" else spec.kind]
            expectations.append(ex.ExpectColumnValuesToBeInTypeList(column=name, type_list=types))
            expectations.append(ex.ExpectColumnValuesToBeBetween(column=name, min_value=spec.min, max_value=spec.max))
    target = schema.target.name
    expectations.append(ex.ExpectColumnToExist(column=target))
    expectations.append(ex.ExpectColumnValuesToNotBeNull(column=target))
    expectations.append(ex.ExpectColumnValuesToBeInSet(column=target, value_set=list(schema.target.values)))
    return expectations


def validate_frame(
    frame: pd.DataFrame, schema: DatasetSchema, docs_dir: Path | None = None, min_rows: int | None = None
) -> ValidationReport:
    """Run the schema's suite on ``frame``; optionally render GX Data Docs (static HTML) into ``docs_dir``."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset(schema.name)
        .add_batch_definition_whole_dataframe("all")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=f"{schema.name}_raw"))
    for expectation in build_expectations(schema, min_rows):
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{schema.name}_raw", data=batch, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    if docs_dir is not None:
        _build_docs(context, docs_dir)
    failures = _failure_lines(result.results, frame, schema)
    return ValidationReport(success=bool(result.success), failures=failures, result=result.to_json_dict())


def _failure_lines(results: list[Any], frame: pd.DataFrame, schema: DatasetSchema) -> list[str]:
    """One line per failed check, in the order a person would fix them. A column missing from the
    file is said once: GX's other checks on it fail only as a consequence ("could not be
    evaluated"), as does a range check on a column already reported as not numeric."""
    failed = [r for r in results if not r.success]
    absent = {
        r.expectation_config.kwargs["column"] for r in failed if r.expectation_config.type == "expect_column_to_exist"
    }
    mistyped = {
        r.expectation_config.kwargs["column"]
        for r in failed
        if r.expectation_config.type == "expect_column_values_to_be_in_type_list"
    }
    gaps = {
        r.expectation_config.kwargs["column"]
        for r in failed
        if r.expectation_config.type == "expect_column_values_to_not_be_null"
    }
    lines = []
    for r in failed:
        kind, column = r.expectation_config.type, r.expectation_config.kwargs.get("column")
        if column in absent and kind != "expect_column_to_exist":
            continue
        if column in mistyped and _exception_messages(r.exception_info):
            continue
        if kind == "expect_table_columns_to_match_set" and not _extra_columns(r):
            continue  # only columns missing, each said once by its own check
        if (
            kind == "expect_column_values_to_be_in_type_list"
            and column in gaps
            and not _wrong_type_mask(frame[column], r).any()
        ):
            continue  # an integer column with gaps is read as floats: the gaps are the problem, said once
        lines.append(_describe(r, frame, schema))
    return lines


def _describe(r: Any, frame: pd.DataFrame, schema: DatasetSchema) -> str:
    """What is wrong, where (the first few CSV lines, the header being line 1), distinct examples,
    what to change, and the GX expectation that found it (to find it in the saved report)."""
    config = r.expectation_config
    kind = config.type
    column = config.kwargs.get("column")
    detail = r.result or {}
    errors = _exception_messages(r.exception_info)
    is_target = column == schema.target.name
    where = "table" if column is None else f"column {one_line(repr(column), 60)}"
    of = f"{detail.get('unexpected_count')} of {detail.get('element_count')} values"
    at = _lines(detail.get("partial_unexpected_index_list"), detail.get("unexpected_count"))
    examples = _examples([c["value"] for c in detail.get("partial_unexpected_counts", [])])
    if kind == "expect_column_to_exist":
        found = "missing from the file" + ("" if is_target else "; add it, or take the feature out of the schema")
    elif kind == "expect_table_columns_to_match_set":
        found = (
            f"columns the schema does not name: {_examples(_extra_columns(r))}; "
            "drop them from the file, or add them to the schema"
        )
    elif kind == "expect_table_row_count_to_be_between":
        found = (
            f"{detail.get('observed_value')} rows, fewer than the schema's min_rows {config.kwargs.get('min_value')}"
        )
    elif kind == "expect_column_values_to_be_in_type_list" and column in frame.columns:
        found = _wrong_type(frame[column], r, schema.features[column].kind)
    elif errors:
        found = f"could not be evaluated: {one_line(errors[0], 200)}"
    elif kind == "expect_column_values_to_not_be_null":
        if is_target:
            fix = "rows without a label cannot be learned from; drop or label them"
        else:
            median = "" if schema.features[column].kind == "categorical" else "median, "
            fix = f"set missing: {median}most_frequent or drop_row for it in the schema, or fill them"
        found = f"{of} are missing, at {at}; {fix}"
    elif kind == "expect_column_values_to_be_in_set":
        fix = (
            "fix or drop those rows"
            if is_target
            else "add them to the feature's categories in the schema, or fix those rows"
        )
        found = (
            f"{of} are not among the schema's {'target.values' if is_target else 'categories'}, "
            f"e.g. {examples}, at {at}; {fix}"
        )
    elif kind == "expect_column_values_to_be_between":
        bounds = f"[{config.kwargs.get('min_value')}, {config.kwargs.get('max_value')}]"
        found = f"{of} are outside {bounds}, e.g. {examples}, at {at}; widen min/max in the schema, or fix those rows"
    else:
        found = f"observed {one_line(repr(detail.get('observed_value')), 200)}"
    return f"{where}: {found} [{kind}]"


def _extra_columns(r: Any) -> list[str]:
    return ((r.result or {}).get("details") or {}).get("mismatched", {}).get("unexpected") or []


def _lines(index: list[int] | None, count: int | None) -> str:
    """Frame rows as CSV line numbers (header = line 1), the first few, and how many more."""
    shown = [i + 2 for i in (index or [])[:_EXAMPLES]]
    more = (count or 0) - len(shown)
    word = "line" if len(shown) == 1 and more <= 0 else "lines"
    return f"{word} " + ", ".join(map(str, shown)) + (f" and {more} more" if more > 0 else "")


def _examples(values: list[Any]) -> str:
    """Distinct values, the first few, each quoted and escaped: they come from the user's file."""
    distinct = list(dict.fromkeys(None if pd.isna(v) else v for v in values))[:_EXAMPLES]
    return "[" + ", ".join(one_line(repr(v), 40) for v in distinct) + "]"


def _exception_messages(info: Any) -> list[str]:
    """GX 1.x nests metric errors by metric id ({id: {raised_exception, exception_message}})."""
    if not info:
        return []
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    return [str(e.get("exception_message")) for e in entries if e.get("raised_exception")]


def _wrong_type_mask(values: pd.Series, r: Any) -> pd.Series:
    """Values that are not numbers, or (where the check allows no float type) not whole numbers."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & numbers.isna()
    if not any(t.startswith("float") or t == "Float64" for t in r.expectation_config.kwargs["type_list"]):
        bad |= numbers.notna() & (numbers != numbers.round())
    return bad


def _wrong_type(values: pd.Series, r: Any, kind: str) -> str:
    """GX reports only the dtype (or, for text columns, the first values, good ones included), so
    name the offending values and their lines."""
    bad = _wrong_type_mask(values, r)
    wanted = "whole numbers" if kind == "integer" else "numbers"
    if not bad.any():
        return f"read as {str(values.dtype)!r}, not {wanted}"
    rows = values.index[bad]
    return (
        f"{int(bad.sum())} of {len(values)} values are not {wanted}, e.g. {_examples(values[bad].tolist())}, "
        f"at {_lines(list(rows), int(bad.sum()))}; fix those rows, or make it kind: categorical in the schema"
    )


def _build_docs(context: Any, docs_dir: Path) -> None:
    """Data Docs are a convenience; they are rendered from local templates and need no network."""
    context.add_data_docs_site(
        site_name="local",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(Path(docs_dir).resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.build_data_docs(site_names=["local"])
