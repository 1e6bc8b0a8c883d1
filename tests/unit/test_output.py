"""cli/output.py tables: every value whole, at any width, piped or not."""

from __future__ import annotations

import io
import sys

import pytest

from podspawn.cli.output import Output, render_table

LONG = "podspawn-service.a-very-long-user-name.a-very-long-project-name.postgres"


def test_columns_align_and_nothing_is_cut() -> None:
    text = render_table(("USER", "PROJECT", "CONTAINER"),
                        [("sarah", "(default)", "podspawn-sarah"), ("bob-2", "api", LONG)])
    lines = text.splitlines()
    assert lines[0].split() == ["USER", "PROJECT", "CONTAINER"]
    assert LONG in lines[2]
    assert "…" not in text and "..." not in text
    # every column starts at the same offset on every line
    start = lines[0].index("CONTAINER")
    assert lines[1][start:] == "podspawn-sarah" and lines[2][start:] == LONG


def test_a_header_with_spaces_and_trailing_blanks() -> None:
    text = render_table(("USER", "LIFETIME LEFT"), [("sarah", "7h50m"), ("x", "-")])
    assert text.splitlines()[0] == "USER   LIFETIME LEFT"
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_newline_in_a_value_cannot_make_a_row() -> None:
    text = render_table(("NAME",), [("evil\nroot  x",)])
    assert text.splitlines() == ["NAME", "evil\\nroot  x"]


@pytest.mark.parametrize("columns", ["20", "80"])
def test_table_ignores_the_terminal_width(monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    Output().table(("USER", "CONTAINER"), [("sarah", LONG)], empty="none")
    assert LONG in out.getvalue()
