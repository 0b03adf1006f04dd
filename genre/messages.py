"""Quoting what someone else wrote (a field name, a value, a header, a path) inside our messages,
and the kind of error that is theirs to fix.

A message is read as one line: by a log file, by grep, by a person at a terminal. A newline, a
carriage return, an ANSI escape or a NUL copied from a request would let the caller forge log lines
or hide text, and a megabyte-long value would bury the message; so every foreign string is shown
escaped and cut short.
"""

from __future__ import annotations


def escaped(text: str) -> str:
    """``text`` with every non-printable character written as its Python escape (``\\n``,
    ``\\x1b``, ``\\x00``, ``\\u2028``), so it cannot break or colour a line."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def one_line(text: str, limit: int = 80) -> str:
    """``text`` escaped and cut to at most ``limit`` characters: an error must not echo a megabyte."""
    shown = escaped(text[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class InputError(ValueError):
    """Something a person gave us (a params file, a schema, a dataset) that they must fix: shown
    to them as its message, one line per problem, never as a traceback."""
