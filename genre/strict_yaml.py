"""Reading the YAML files people write (``params.yaml``, dataset schemas) into typed models,
strictly, with every problem named by its line.

PyYAML reads YAML 1.1, where ``yes``, ``no``, ``on`` and ``off`` are booleans, so a category
``no`` or a label ``yes`` silently became ``False`` or ``True``; here only ``true`` and ``false``
are booleans (as in YAML 1.2) and everything else unquoted stays a string. A key written twice in
one mapping, which PyYAML silently resolves to the last, is an error. Values are validated in
pydantic's strict mode through JSON, so numbers must be numbers and flags booleans, while paths,
lists and choices are read from the strings and lists YAML gives.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from genre.messages import one_line

Model = TypeVar("Model", bound=BaseModel)
Location = tuple[str | int, ...]
_BOOL = "tag:yaml.org,2002:bool"


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans: only true and false (any case of those)."""

    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class attribute, replaced whole)
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _BOOL]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class StrictYaml:
    """One YAML file read to plain data, remembering the line of every key; ``validate`` turns it
    into a model or raises ``error`` with one line per problem, each saying where."""

    def __init__(self, path: Path, error: type[ValueError]) -> None:
        self.source, self.error = str(path), error
        self.lines: dict[Location, int] = {}
        self.problems: list[str] = []
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise error(f"{self.source}: cannot read the file: {exc.strerror}") from None
        self.loader = Loader(text)
        try:
            node = self.loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
            raise error(f"{self.source}:{line}: not valid YAML: {exc.problem}") from None
        self.data: Any = None if node is None else self._data(node, ())

    def _data(self, node: yaml.Node, at: Location) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in out:
                    self.problems.append(
                        f"{self.source}:{line}: {dotted((*at, key))}: "
                        f"written twice (first on line {self.lines[(*at, key)]}); keep one"
                    )
                    continue
                self.lines[(*at, key)] = line
                out[key] = self._data(value_node, (*at, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[(*at, i)] = item.start_mark.line + 1
            return [self._data(item, (*at, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node)

    def mapping(self) -> dict[Any, Any]:
        """The file's top level, which must be a mapping (an empty file is an empty one)."""
        if self.data is None:
            return {}
        if not isinstance(self.data, dict):
            raise self.error(f"{self.source}: must be a mapping of keys to values, got {type(self.data).__name__}")
        return self.data

    def validate(self, model: type[Model], data: dict[str, Any]) -> Model:
        problems = list(self.problems)
        try:
            # Dates become strings, which no field accepts where a number belongs.
            found = model.model_validate_json(json.dumps(data, default=str, ensure_ascii=False), strict=True)
        except ValidationError as exc:
            problems.extend(self._describe(exc))
        if problems:
            raise self.error("\n".join(problems))
        return found

    def line_of(self, loc: Location) -> int | None:
        """The line of the deepest key of ``loc`` that is in the file (a missing key: its parent's)."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def _describe(self, exc: ValidationError) -> list[str]:
        lines = []
        for error in _unions_merged(exc.errors(include_url=False), self.lines):
            loc = tuple(error["loc"])
            line = self.line_of(loc)
            where = f"{self.source}:{line}: {dotted(loc)}" if line else f"{self.source}: {dotted(loc)}"
            if error["type"] == "value_error":  # our own validators' messages quote the value already
                lines.append(f"{where}: {error['ctx']['error']}")
            elif error["type"] in ("missing", "extra_forbidden"):
                lines.append(f"{where}: {error['msg']}")
            else:
                given = error.get("input")
                hint = (
                    " (a value holding ': ' or ', ' must be quoted)"
                    if isinstance(given, (dict, list)) and error["type"] == "string_type"
                    else ""
                )
                lines.append(f"{where}: {error['msg']} (got {one_line(json.dumps(given))}){hint}")
        return lines


def _unions_merged(errors: list[Any], keys: dict[Location, int]) -> list[Any]:
    """A value matching no member of a union (``threshold: 0.9 | auto``) is one error per member,
    each under a member tag (``threshold.constrained-float``, ``threshold.literal['auto']``); said
    as one: ``threshold: Input should be a valid number, or 'auto'``."""
    merged: dict[Location, Any] = {}
    out = []
    for error in errors:
        loc = tuple(error["loc"])
        if (
            len(loc) > 1
            and loc[:-1] in keys
            and loc not in keys
            and isinstance(loc[-1], str)
            and error["type"] != "extra_forbidden"
        ):
            if loc[:-1] in merged:
                merged[loc[:-1]]["msg"] += ", or " + error["msg"].removeprefix("Input should be ")
                continue
            error = merged[loc[:-1]] = {**error, "loc": loc[:-1]}
        out.append(error)
    return out


def dotted(loc: Location) -> str:
    return one_line(".".join(str(part) for part in loc)) or "(top level)"
