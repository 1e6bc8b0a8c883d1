"""A state database as an older podspawn left it, for migration tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from podspawn.state import db


def old_database(path: Path, *, version: int) -> sqlite3.Connection:
    """A database with only the first ``version`` migrations applied, as that release made it."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    for migration in db._MIGRATIONS[:version]:
        conn.executescript(migration)
    conn.execute("INSERT INTO meta(key, value) VALUES('install_id', 'abcdef012345')")
    conn.execute(f"PRAGMA user_version={version}")
    return conn
