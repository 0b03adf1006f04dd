"""No measured figure in the product's docstrings or comments: a timing or a score measured once
goes stale in the code while the code's reasons stay true; the figures live in reports/ and the
history of them in docs/decisions.md."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A number with a unit of time, memory or rate, "N times faster", or a figure with three or more
# decimals (a score or a rate read off a run).
MEASURED = re.compile(
    r"\b\d+(?:\.\d+)?\s?(?:ms|us|µs|MB|GB|requests/s)\b"
    r"|\b\d+(?:\.\d+)? s\b"
    r"|\b\d+(?:\.\d+)?x (?:faster|slower)"
    r"|\b\d\.\d{3,}\b"
)


STATEMENT_START = (tokenize.INDENT, tokenize.NEWLINE, tokenize.NL, tokenize.DEDENT)


def prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring-like string (a string standing alone) in ``path``."""
    found = []
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    for before, token in zip([None, *tokens], tokens, strict=False):
        if token.type == tokenize.COMMENT or (
            token.type == tokenize.STRING
            and token.string.lstrip("rbuf").startswith(('"""', "'''"))
            and (before is None or before.type in STATEMENT_START)
        ):
            found.append((token.start[0], token.string))
    return found


def test_no_measured_figures_in_docstrings_or_comments() -> None:
    offending = [
        f"{path.relative_to(REPO)}:{line}: {match.group(0)!r}"
        for folder in ("genre", "flows")
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, text in prose(path)
        for match in MEASURED.finditer(text)
    ]
    assert offending == [], "\n".join(offending)


def test_the_check_sees_a_figure() -> None:
    assert MEASURED.search("took 43 ms on one thread") and MEASURED.search("AUC 0.8778 against 0.8794")
    assert not MEASURED.search("at least 30 rows, 1% of them")
