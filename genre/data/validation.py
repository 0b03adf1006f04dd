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
from genre.messages import InputError

_NUMERIC_TYPES = {
    "integer": ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "Int64"],
    "continuous": ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "Int64",
                   "float16", "float32", "float64", "Float64"],
}
_EXAMPLES = 5


class DataValidationError(InputError):
    """Raised with one line per failed expectation, so the log says what to fix in the data."""


@dataclass
class ValidationReport:
    success: bool
    failures: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def raise_for_failures(self, source: str) -> None:
        if not self.success:
            lines = "\n".join(f"  - {f}" for f in self.failures)
            raise DataValidationError(f"{source} failed validation ({len(self.failures)} expectations):\n{lines}")


def build_expectations(schema: DatasetSchema) -> list[Any]:
    ex = gx.expectations
    expectations: list[Any] = [
        ex.ExpectTableColumnsToMatchSet(column_set=schema.columns, exact_match=True),
        ex.ExpectTableRowCountToBeBetween(min_value=schema.min_rows),
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


def validate_frame(frame: pd.DataFrame, schema: DatasetSchema, docs_dir: Path | None = None) -> ValidationReport:
    """Run the schema's suite on ``frame``; optionally render GX Data Docs (static HTML) into ``docs_dir``."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas("raw").add_dataframe_asset(schema.name).add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=f"{schema.name}_raw"))
    for expectation in build_expectations(schema):
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=f"{schema.name}_raw", data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    if docs_dir is not None:
        _build_docs(context, docs_dir)
    failures = [_describe(r, frame) for r in result.results if not r.success]
    return ValidationReport(success=bool(result.success), failures=failures, result=result.to_json_dict())


def _describe(r: Any, frame: pd.DataFrame) -> str:
    config = r.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
    column = config.kwargs.get("column")
    where = f"column {column!r}" if column is not None else "table"
    detail = r.result or {}
    errors = _exception_messages(r.exception_info)
    if config.type == "expect_column_values_to_be_in_type_list" and column in frame.columns:
        # GX reports only the dtype (or, for object columns, the first values, good ones included),
        # so name the offending values (non-numeric, or fractional in an integer column) to fix.
        found = f"observed dtype {str(frame[column].dtype)!r}{_wrong_type_examples(frame[column], kwargs['type_list'])}"
    elif config.type == "expect_column_to_exist":
        found = "the column is missing"
    elif errors:
        found = f"could not be evaluated: {errors[0]}"
    elif "partial_unexpected_list" in detail:
        examples = detail["partial_unexpected_list"][:_EXAMPLES]
        found = f"{detail.get('unexpected_count')} unexpected values, e.g. {examples}"
    else:
        found = f"observed {detail.get('observed_value')!r}"
        mismatched = (detail.get("details") or {}).get("mismatched")
        if mismatched:
            found += f", mismatched {mismatched}"
    return f"{where}: {config.type} {kwargs}: {found}"


def _exception_messages(info: Any) -> list[str]:
    """GX 1.x nests metric errors by metric id ({id: {raised_exception, exception_message}})."""
    if not info:
        return []
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    return [str(e.get("exception_message")) for e in entries if e.get("raised_exception")]


def _wrong_type_examples(values: pd.Series, type_list: list[str]) -> str:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & numbers.isna()
    if not any(t.startswith("float") or t == "Float64" for t in type_list):
        bad |= numbers.notna() & (numbers != numbers.round())
    if not bad.any():
        return ""
    examples = values[bad].drop_duplicates().head(_EXAMPLES).tolist()
    return f"; {int(bad.sum())} values of the wrong type, e.g. {examples}"


def _build_docs(context: Any, docs_dir: Path) -> None:
    """Data Docs are a convenience; they are rendered from local templates and need no network."""
    context.add_data_docs_site(
        site_name="local",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(Path(docs_dir).resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.build_data_docs(site_names=["local"])
