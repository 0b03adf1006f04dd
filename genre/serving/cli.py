"""``genre``: the command line. ``genre recourse`` answers a CSV of applicants in raw units.

Rows that do not match the schema are reported by line and field and come back marked invalid;
the valid rows are still answered, and the exit code says whether every row was valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from genre.artifacts.atomic import write_with
from genre.artifacts.paths import Artifacts
from genre.messages import one_line
from genre.offline import go_offline
from genre.recourse.engine import RecourseEngine
from genre.serving.answers import answer
from genre.serving.applicants import check_applicants
from genre.serving.bundle import engine_from_artifacts, load_bundle
from genre.settings import SettingsError, load_settings

app = typer.Typer(add_completion=False, help="GenRe generative recourse.")
err = Console(stderr=True, soft_wrap=True)  # one problem, one line, however long


@app.callback()
def _root() -> None:
    """Keeps ``recourse`` a named subcommand, so more can join it."""


def _engine(params: Path, model_dir: Path | None) -> RecourseEngine:
    if model_dir is not None:
        return load_bundle(model_dir)
    try:
        settings = load_settings(params)
    except SettingsError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(code=2) from None
    return engine_from_artifacts(Artifacts(settings.root), settings.recourse)


def build_output(engine: RecourseEngine, raw: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, list[str]]:
    """-> (one output row per input row, the problems of the invalid rows)."""
    schema = engine.pre.schema
    valid, kept, errors = check_applicants(raw.to_dict("records"), schema, from_text=True, ignored=frozenset({schema.target.name}))
    answers = dict(zip(kept, answer(engine, valid, seed=seed)))
    out = raw.copy()
    extra = {"status": "invalid", "found": False, "cost": None, "probability_before": None, "probability_after": None, "error": ""}
    for column, value in extra.items():
        out[column] = pd.Series([value] * len(out), dtype=object)
    for row, given in answers.items():
        out.loc[row, ["status", "found", "cost", "probability_before", "probability_after"]] = [
            given["status"], given["status"] == "found", given["cost"], given["probability_before"], given["probability_after"]
        ]
        if given["status"] == "found":
            out.loc[row, list(given["recourse"])] = pd.Series(given["recourse"]).astype(str)
        elif given["status"] == "not_found":
            out.loc[row, schema.feature_names] = ""
    messages = []
    for e in errors:
        line = f"line {e.row + 2}: {e.field}: {e.problem}"
        out.loc[e.row, "error"] = "; ".join(filter(None, [out.loc[e.row, "error"], f"{e.field}: {e.problem}"]))
        messages.append(line)
    return out, messages


@app.command()
def recourse(
    input: Annotated[Path, typer.Option("--input", "-i", exists=True, dir_okay=False, help="CSV of applicants in raw units.")],
    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="Where to write one answer per row.")],
    params: Annotated[Path, typer.Option(help="params.yaml of the pipeline whose trained model to use.")] = Path("params.yaml"),
    model_dir: Annotated[Optional[Path], typer.Option(help="A model bundle folder instead (e.g. a BentoML model's path).")] = None,
    seed: int = 0,
) -> None:
    """Answer every applicant in INPUT; invalid rows are listed by line and field, and the exit code is 1."""
    go_offline()
    engine = _engine(params, model_dir)
    raw = pd.read_csv(input, dtype=str, keep_default_na=False)
    out, problems = build_output(engine, raw, seed)
    write_with(output, lambda tmp: out.to_csv(tmp, index=False))
    counts = out["status"].value_counts().to_dict()
    err.print(f"wrote {len(out)} rows to {escape(one_line(str(output), 500))}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for line in problems:  # quoted names and values are escaped already; the markup escape keeps rich from reading them
        err.print(f"[red]invalid[/red] {escape(line)}", highlight=False)
    if problems:
        raise typer.Exit(code=1)


