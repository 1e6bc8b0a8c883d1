"""The operator log's line format: no value a user controls can end a line or fake a field."""

from __future__ import annotations

import re

import pytest

from podspawn import log

FIELD = re.compile(r'([A-Za-z0-9._/:@,+%-]+)=([A-Za-z0-9._/:@,+%-]+|"(?:[^"\\]|\\.)*")')


def _fields(line: str) -> list[tuple[str, str]]:
    return FIELD.findall(line)


@pytest.mark.parametrize(
    "hostile",
    [
        "evil\nINFO user added user=root",
        "x user=root",
        'x" user="root',
        "x\\",
        "a\rb",
        "tab\there",
        "\x1b[2Jclear",
        "line\u2028sep",
        "",
        "=",
        "é",
    ],
)
def test_a_hostile_value_stays_one_field_of_one_line(hostile: str) -> None:
    line = log._format("INFO", "session attach", {"user": "sarah", "command": hostile})
    assert "\n" not in line and "\r" not in line and "\u2028" not in line
    assert line.isprintable()
    fields = _fields(line)
    assert [key for key, _ in fields] == ["user", "command"]
    assert fields[0] == ("user", "sarah")


def test_plain_values_stay_plain_and_others_are_quoted() -> None:
    line = log._format("INFO", "created session",
                       {"user": "sarah", "image": "podspawn/base:0123", "n": 3, "x": None,
                        "msg": "two words"})
    assert line == 'INFO created session user=sarah image=podspawn/base:0123 n=3 msg="two words"'


def test_a_message_with_a_newline_cannot_start_a_line() -> None:
    line = log._format("ERROR", "failed: bad\nINFO forged", {})
    assert "\n" not in line
    assert line == 'ERROR "failed: bad\\x0aINFO forged"'


@pytest.mark.parametrize("message", ["invalid project name 'x user=root'", 'say "hi"',
                                     '"quoted', "a=b"])
def test_a_message_that_could_pass_for_a_field_is_quoted(message: str) -> None:
    line = log._format("ERROR", message, {"user": "sarah"})
    assert line == f"ERROR {log.quote(message)} user=sarah"
    assert _fields(line)[-1] == ("user", "sarah")


def test_an_ordinary_message_stays_plain() -> None:
    assert log._format("INFO", "session attach: ok, 'fine'", {}) == (
        "INFO session attach: ok, 'fine'")


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert log.quote('a"b\\c') == '"a\\"b\\\\c"'
