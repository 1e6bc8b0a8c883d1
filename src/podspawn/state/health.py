"""Read-only health of the state database, for ``podspawn doctor``.

Opened with ``mode=ro``: a check must not migrate, create or repair anything, so a database
from another podspawn version is reported as it is, not upgraded behind the admin's back.
SQLite still creates a WAL database's ``-wal`` and ``-shm`` files for a reader when they are
missing (they are, after the last writer closed and checkpointed), which changes the state
directory; then nothing is unwritten, and the file is opened ``immutable`` instead.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from dataclasses import dataclass

from podspawn.errors import StateError
from podspawn.state.db import SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    integrity: tuple[str, ...]
    """``PRAGMA integrity_check``'s lines: ``("ok",)`` when sound."""
    version: int
    expected: int
    """The schema version this podspawn writes."""

    @property
    def sound(self) -> bool:
        return self.integrity == ("ok",)


def connect_read_only(path: str) -> sqlite3.Connection:
    """A connection that reads ``path`` and writes nothing beside it.

    Raises:
        sqlite3.Error: it cannot be opened.
    """
    immutable = "" if os.path.exists(f"{path}-wal") else "&immutable=1"
    return sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro{immutable}", uri=True,
                           timeout=10.0)


def inspect_database(path: str) -> DatabaseHealth:
    """Raises: StateError: the file cannot be opened or read as SQLite."""
    try:
        conn = connect_read_only(path)
        try:
            rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StateError(f"the state database {path} cannot be read: {exc}") from exc
    return DatabaseHealth(integrity=tuple(str(r[0]) for r in rows), version=version,
                          expected=SCHEMA_VERSION)
