"""The configuration reference (``docs/configuration.md``), written from the settings themselves.

Each key's default, allowed values and meaning are stated once, in ``genre.settings``; this page is
derived from them (``genre params reference``) and a test holds the committed page to what it
writes, so the reference cannot drift from the code.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from genre.settings import Settings

HEADER = """# Configuration reference

<!-- Written by `genre params reference --out docs/configuration.md` from genre/settings.py: edit the
settings' descriptions, not this page (tests/code/test_config_reference.py holds the two together). -->

Everything the pipeline reads is in `params.yaml`, one section per DVC stage, plus `recourse` (shared by
evaluate, package, the CLI and the service) and the sections of serving, retraining and the runner. A key
left out takes the default below; an unknown key, a key written twice, or a value of the wrong kind stops
every command with one line naming the key and its line in `params.yaml`.
"""

_BOUNDS = {
    annotated_types.Gt: (">", "gt"),
    annotated_types.Ge: (">=", "ge"),
    annotated_types.Lt: ("<", "lt"),
    annotated_types.Le: ("<=", "le"),
}
_NAMES = {int: "integer", float: "number", bool: "true or false", str: "text", Path: "path", type(None): "null"}


def _bounds(metadata: list[Any]) -> list[str]:
    """The numeric bounds among a field's constraints, as ``> 0``."""
    said = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            said += _bounds(item.metadata)
        for kind, (sign, attribute) in _BOUNDS.items():
            if isinstance(item, kind):
                said.append(f"{sign} {getattr(item, attribute)}")
    return said


def allowed(annotation: Any, metadata: list[Any] | None = None) -> str:
    """What a value of this type may be, in words: ``integer > 0, or `auto```."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return allowed(base, [*(metadata or []), *extra])
    if origin in (Union, types.UnionType):
        return ", or ".join(allowed(part) for part in get_args(annotation))
    if origin is Literal:
        return ", ".join(f"`{value}`" for value in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation)
        return f"list of {allowed(item)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    name = _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))
    return " ".join([name, " and ".join(_bounds(metadata or []))]).strip()


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined:
        return "required"
    value = field.default
    if isinstance(value, BaseModel):
        return "(below)"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(name: str, model: type[BaseModel]) -> list[str]:
    """One section's table, then its nested sections'."""
    lines = [f"## `{name}`", ""]
    if model.__doc__:
        lines += [" ".join(model.__doc__.split()).replace("``", "`"), ""]
    lines += ["| key | default | allowed | what it does |", "|---|---|---|---|"]
    nested = []
    for key, field in model.model_fields.items():
        lines.append(
            f"| `{key}` | {_cell(_default(field))} | {_cell(allowed(field.annotation, field.metadata))} "
            f"| {_cell(field.description or '')} |"
        )
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            nested.append((f"{name}.{key}", field.annotation))
    lines.append("")
    for child, child_model in nested:
        lines += _section(child, child_model)
    return lines


def reference() -> str:
    """The whole page: every section of ``Settings`` (``root`` is set by where params.yaml is, not in it)."""
    lines = [HEADER]
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            lines += _section(name, field.annotation)
    return "\n".join(lines).rstrip() + "\n"


def undescribed() -> list[str]:
    """Keys with no description: the reference would leave them unexplained."""
    missing = []

    def walk(prefix: str, model: type[BaseModel]) -> None:
        for key, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{prefix}{key}")
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                walk(f"{prefix}{key}.", field.annotation)

    walk("", Settings)
    return missing
