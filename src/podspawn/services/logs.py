"""``podspawn logs``: the operator log and the audit log, parsed, filtered and merged by time.

The operator log (``log.file``) has one line per event, written by :mod:`podspawn.log`::

    2026-11-28T16:05:00Z [spawn:4242] INFO session attach user=sarah kind=shell command="a b"

A message containing ``=`` or ``"`` is written quoted, and so is any value that is not plain,
so the first word holding ``=`` starts the fields and each field is one ``key=value`` with a
plain or fully quoted value. A line that does not parse that way, to its end, is not
attributed to anyone: it shows only when no user is asked for. The audit log
(``log.audit_log``) is JSON Lines, so it needs no such care. Entries are attributed by their
``user`` and ``project`` fields only, never by text inside a message or another value, so a
command line such as ``true; x=1 user=root`` stays one value of its own entry.
"""

from __future__ import annotations

import calendar
import heapq
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from podspawn.log import PLAIN

LEVELS = frozenset({"INFO", "WARN", "ERROR"})
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class Entry:
    time: str
    """UTC, ``2026-11-28T16:05:00Z``."""
    epoch: float
    source: str
    """``log`` or ``audit``."""
    message: str
    """The log line's message, or the audit event's name."""
    fields: dict[str, object] = field(default_factory=dict)
    level: str | None = None
    role: str | None = None
    pid: int | None = None

    def belongs_to(self, user: str | None, project: str | None) -> bool:
        """Whether this entry is ``user``'s (any project when ``project`` is None; ``""``
        means the default session)."""
        if user is not None and self.fields.get("user") != user:
            return False
        return project is None or str(self.fields.get("project") or "") == project


# -- parsing ----------------------------------------------------------------------------------


def parse_stamp(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text, _STAMP)))
    except ValueError:
        return None


def parse_log_line(line: str) -> Entry | None:
    """One operator-log line, or None when it is not in podspawn's format."""
    stamp, _, rest = line.rstrip("\n").partition(" ")
    epoch = parse_stamp(stamp)
    if epoch is None:
        return None
    role = pid = None
    if rest.startswith("["):
        tag, sep, rest = rest[1:].partition("] ")
        name, colon, number = tag.rpartition(":")
        if not sep or not colon or not number.isdigit():
            return None
        role, pid = name, int(number)
    level, _, rest = rest.partition(" ")
    if level not in LEVELS:
        return None
    parsed = _message_and_fields(rest)
    if parsed is None:
        return None
    message, fields = parsed
    return Entry(time=stamp, epoch=epoch, source="log", message=message,
                 fields=dict(fields), level=level, role=role, pid=pid)


def _message_and_fields(text: str) -> tuple[str, list[tuple[str, str]]] | None:
    if text.startswith('"'):
        found = _quoted(text, 0)
        if found is None:
            return None
        message, pos = found
        if pos < len(text) and text[pos] != " ":
            return None
    else:
        words = text.split(" ")
        count = next((i for i, w in enumerate(words) if "=" in w), len(words))
        message = " ".join(words[:count])
        pos = len(message)
    fields = _fields(text, pos)
    return None if fields is None else (message, fields)


def _fields(text: str, pos: int) -> list[tuple[str, str]] | None:
    """``key=value`` pairs from ``pos`` to the end, each after one space; None if anything
    else is there."""
    pairs = []
    while pos < len(text):
        if text[pos] != " ":
            return None
        key, pos = _token(text, pos + 1)
        if key is None or pos >= len(text) or text[pos] != "=":
            return None
        value, pos = _token(text, pos + 1)
        if value is None:
            return None
        pairs.append((key, value))
    return pairs


def _token(text: str, pos: int) -> tuple[str | None, int]:
    """A plain run of safe characters, or one quoted string, starting at ``pos``."""
    if pos < len(text) and text[pos] == '"':
        found = _quoted(text, pos)
        return (None, pos) if found is None else found
    end = pos
    while end < len(text) and text[end] in PLAIN:
        end += 1
    if end == pos or (end < len(text) and text[end] not in " ="):
        return None, pos
    return text[pos:end], end


_ESCAPES = {"x": 2, "u": 4, "U": 8}


def _quoted(text: str, pos: int) -> tuple[str, int] | None:
    """The string :func:`podspawn.log.quote` wrote at ``pos``, unescaped, and the index
    after its closing quote."""
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = text[i + 1: i + 2]
        if kind in ('"', "\\"):
            out.append(kind)
            i += 2
        elif kind in _ESCAPES:
            digits = text[i + 2: i + 2 + _ESCAPES[kind]]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                return None
            i += 2 + _ESCAPES[kind]
        else:
            return None
    return None


def parse_audit_line(line: str) -> Entry | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    stamp, event = data.get("time"), data.get("event")
    epoch = parse_stamp(stamp) if isinstance(stamp, str) else None
    if epoch is None or not isinstance(event, str):
        return None
    fields = {k: v for k, v in data.items() if k not in ("time", "event")}
    return Entry(time=str(stamp), epoch=epoch, source="audit", message=event, fields=fields)


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    user: str | None = None
    project: str | None = None
    since: float | None = None
    """Epoch seconds; older entries are left out."""

    def wants(self, entry: Entry) -> bool:
        if self.since is not None and entry.epoch < self.since:
            return False
        return entry.belongs_to(self.user, self.project)


def entries(lines: Iterable[str], source: str, query: Query) -> Iterator[Entry]:
    parse = parse_log_line if source == "log" else parse_audit_line
    for line in lines:
        entry = parse(line)
        if entry is not None and query.wants(entry):
            yield entry


def read_merged(sources: Iterable[tuple[str, str]], query: Query) -> list[Entry]:
    """Every wanted entry of each ``(path, source)``, oldest first. A file's own order is
    kept among entries of the same second (the logs stamp whole seconds)."""
    streams = []
    for path, source in sources:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                streams.append(list(entries(fh, source, query)))
        except FileNotFoundError:
            continue
    return list(heapq.merge(*streams, key=lambda e: e.epoch))


class Follower:
    """New complete lines appended to a file since the last :meth:`poll`; starts at the end.

    A file that is replaced or truncated (log rotation) is read again from its start.
    """

    def __init__(self, path: str, source: str) -> None:
        self.path, self.source = path, source
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        try:
            st = os.stat(path)
            self._inode, self._offset = st.st_ino, st.st_size
        except OSError:
            pass

    def poll(self, query: Query) -> list[Entry]:
        try:
            st = os.stat(self.path)
        except OSError:
            return []
        if st.st_ino != self._inode or st.st_size < self._offset:
            self._inode, self._offset, self._partial = st.st_ino, 0, b""
        if st.st_size == self._offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        complete, _, self._partial = data.rpartition(b"\n")
        if not complete:
            self._partial = data
            return []
        text = complete.decode("utf-8", "replace").split("\n")
        return list(entries(text, self.source, query))
