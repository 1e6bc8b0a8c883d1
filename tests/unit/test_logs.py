"""``podspawn logs``: lines written by podspawn.log parse back to exactly their fields, and no
text a user controls (a command, a project name in an error) can make an entry someone
else's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from podspawn import log
from podspawn.services.logs import (
    Follower,
    Query,
    parse_audit_line,
    parse_log_line,
    read_merged,
)

HOSTILE = [
    "true; x=1 user=root",
    'x" user="root',
    "a\nb user=root",
    "\\x41",
    '"',
    "=",
    "",
    "tab\there",
    "é ü 中",
    "\x1b[2J",
    "line\u2028sep",
    "\U0001f600",
]


def written(level: str, message: str, **fields: object) -> str:
    return f"2026-11-28T16:05:00Z [spawn:4242] {log._format(level, message, fields)}"


@pytest.mark.parametrize("value", HOSTILE)
def test_a_written_line_parses_back_to_its_fields(value: str) -> None:
    entry = parse_log_line(written("INFO", "session attach", user="sarah", command=value,
                                   n=3))
    assert entry is not None
    assert entry.fields == {"user": "sarah", "command": value, "n": "3"}
    assert (entry.message, entry.level, entry.role, entry.pid) == ("session attach", "INFO",
                                                                   "spawn", 4242)
    assert entry.time == "2026-11-28T16:05:00Z"


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_message_stays_the_message(value: str) -> None:
    message = f"invalid project name {value!r}: use 1-40 lowercase letters"
    entry = parse_log_line(written("ERROR", message))
    assert entry is not None
    assert (entry.message, entry.fields) == (message, {})
    assert not entry.belongs_to("root", None)


def test_a_command_cannot_claim_another_users_entry() -> None:
    entry = parse_log_line(written("INFO", "session attach", user="sarah",
                                   command="true; x=1 user=root project=api"))
    assert entry is not None
    assert entry.belongs_to("sarah", None)
    assert not entry.belongs_to("root", None)
    assert not entry.belongs_to("sarah", "api")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not a log line",
        "2026-11-28T16:05:00Z [spawn:x] INFO hi",
        "2026-11-28T16:05:00Z [spawn:1] DEBUG hi",
        "2026-11-28T16:05:00Z INFO hi user=",
        '2026-11-28T16:05:00Z INFO hi user="unterminated',
        "2026-11-28T16:05:00Z INFO hi user=sarah trailing",
        "2026-11-28T16:05:00Z INFO hi user=sa'rah",
        '2026-11-28T16:05:00Z INFO hi user="a"b',
        '2026-11-28T16:05:00Z INFO hi user="bad \\q escape"',
        "2026-11-28T16:05:00Z INFO hi user=a=b",
    ],
)
def test_a_line_that_does_not_parse_to_its_end_is_nobodys(line: str) -> None:
    assert parse_log_line(line) is None


def test_a_line_without_role_parses() -> None:
    entry = parse_log_line("2026-11-28T16:05:00Z WARN disk low path=/var/lib")
    assert entry is not None
    assert (entry.role, entry.pid, entry.fields) == (None, None, {"path": "/var/lib"})


def test_audit_lines() -> None:
    entry = parse_audit_line(json.dumps({"time": "2026-11-28T16:05:01Z", "event":
                                         "session.connect", "user": "sarah",
                                         "command": "true; user=root", "exit_code": 0}))
    assert entry is not None
    assert (entry.source, entry.message) == ("audit", "session.connect")
    assert entry.fields == {"user": "sarah", "command": "true; user=root", "exit_code": 0}
    assert entry.belongs_to("sarah", "") and not entry.belongs_to("root", None)
    for bad in ["", "[]", "{}", '{"time": "yesterday", "event": "x"}', "{bad json"]:
        assert parse_audit_line(bad) is None


def test_merged_by_time_and_filtered(tmp_path: Path) -> None:
    operator = tmp_path / "podspawn.log"
    audit = tmp_path / "audit.jsonl"
    operator.write_text(
        "2026-11-28T16:05:00Z [spawn:1] INFO session attach user=sarah project=api\n"
        "2026-11-28T16:05:02Z [spawn:2] INFO session attach user=bob\n"
        "garbage line\n"
        "2026-11-28T16:05:09Z [spawn:1] INFO last connection closed, grace period started "
        "user=sarah project=api\n"
    )
    audit.write_text(
        '{"time": "2026-11-28T16:05:00Z", "event": "session.connect", "user": "sarah", '
        '"project": "api"}\n'
        '{"time": "2026-11-28T16:05:05Z", "event": "session.disconnect", "user": "sarah"}\n'
    )
    sources = [(str(operator), "log"), (str(audit), "audit"),
               (str(tmp_path / "missing"), "log")]
    everything = read_merged(sources, Query())
    assert [e.epoch for e in everything] == sorted(e.epoch for e in everything)
    assert len(everything) == 5
    sarah = read_merged(sources, Query(user="sarah"))
    assert [e.message for e in sarah] == ["session attach", "session.connect",
                                          "session.disconnect",
                                          "last connection closed, grace period started"]
    api = read_merged(sources, Query(user="sarah", project="api"))
    assert len(api) == 3
    default = read_merged(sources, Query(user="sarah", project=""))
    assert [e.message for e in default] == ["session.disconnect"]
    recent = read_merged(sources, Query(since=everything[-1].epoch))
    assert [e.message for e in recent] == ["last connection closed, grace period started"]


def test_follower_reads_complete_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "podspawn.log"
    path.write_text("2026-11-28T16:05:00Z INFO old user=sarah\n")
    follower = Follower(str(path), "log")
    assert follower.poll(Query()) == []  # starts at the end
    with open(path, "a") as fh:
        fh.write("2026-11-28T16:05:01Z INFO one user=sarah\n2026-11-28T16:05:02Z INFO tw")
    assert [e.message for e in follower.poll(Query())] == ["one"]
    with open(path, "a") as fh:
        fh.write("o user=sarah\n")
    assert [e.message for e in follower.poll(Query())] == ["two"]
    rotated = tmp_path / "podspawn.log.new"
    rotated.write_text("2026-11-28T16:06:00Z INFO fresh user=sarah\n")
    os.replace(rotated, path)
    assert [e.message for e in follower.poll(Query())] == ["fresh"]
    path.write_text("")  # truncated in place (copytruncate), seen before new lines come
    assert follower.poll(Query()) == []
    with open(path, "a") as fh:
        fh.write("2026-11-28T16:07:00Z INFO after truncation user=sarah\n")
    assert [e.message for e in follower.poll(Query(user="sarah"))] == ["after truncation"]


def test_rendering_keeps_hostile_values_quoted() -> None:
    from podspawn.cli.logs import render

    entry = parse_log_line(written("INFO", "session attach", user="sarah",
                                   command="a\nINFO forged user=root"))
    assert entry is not None
    line = render(entry)
    assert "\n" not in line
    assert parse_log_line(line) == entry
    audit = parse_audit_line('{"time": "2026-11-28T16:05:00Z", "event": "session.connect", '
                             '"user": "sarah", "exit_code": 0, "command": "x y"}')
    assert audit is not None
    assert render(audit) == ('2026-11-28T16:05:00Z [audit] AUDIT session.connect user=sarah '
                             'exit_code=0 command="x y"')
