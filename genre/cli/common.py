"""What every ``genre`` command shares: where problems are printed, and how a project's settings
are read (a missing or wrong params.yaml is one line and exit code 2, never a traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genre.messages import one_line
from genre.settings import Settings, SettingsError, load_settings

err = Console(stderr=True, soft_wrap=True)  # one problem, one line, however long
ParamsOption = Annotated[Path, typer.Option(help="params.yaml of the project.")]


def refuse(message: str) -> typer.Exit:
    """A problem the user must fix: its lines on stderr as they are (no markup), exit code 2."""
    err.print(message, highlight=False, markup=False)
    return typer.Exit(code=2)


def project_settings(params: Path) -> Settings:
    """The project's params.yaml, or one line saying what is wrong with it (exit code 2)."""
    if not params.is_file():
        raise refuse(
            f"no params file at {one_line(str(params.resolve()), 500)}: run this in the pipeline's project folder, "
            "or pass --params path/to/params.yaml (or, for recourse, --model-dir with a model bundle)"
        )
    try:
        return load_settings(params)
    except SettingsError as exc:
        raise refuse(str(exc)) from None
