"""docs/configuration.md is what ``genre params reference`` writes from the settings, and every key
has a description to write."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveInt
from typer.testing import CliRunner

from genre.cli.main import app
from genre.config_reference import allowed, reference, undescribed

PAGE = Path(__file__).resolve().parents[2] / "docs/configuration.md"


def test_every_key_is_described() -> None:
    assert undescribed() == []


def test_the_committed_page_is_what_the_settings_write() -> None:
    assert PAGE.read_text() == reference(), "run: genre params reference --out docs/configuration.md"


def test_every_section_and_key_of_params_yaml_is_on_the_page() -> None:
    import yaml

    params = yaml.safe_load((PAGE.parents[1] / "params.yaml").read_text())
    page = reference()

    def walk(prefix: str, section: dict) -> None:
        for key, value in section.items():
            if isinstance(value, dict):
                assert f"## `{prefix}{key}`" in page
                walk(f"{prefix}{key}.", value)
            else:
                assert f"| `{key}` |" in page, f"{prefix}{key}"

    walk("", params)


def test_allowed_values_are_said_in_words() -> None:
    assert allowed(PositiveInt | Literal["auto"]) == "integer > 0, or `auto`"
    assert allowed(Annotated[float, Field(ge=0, lt=1)] | None) == "number >= 0 and < 1, or null"
    assert allowed(list[str]) == "list of text"


def test_the_command_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    done = CliRunner().invoke(app, ["params", "reference", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert out.read_text() == reference()
