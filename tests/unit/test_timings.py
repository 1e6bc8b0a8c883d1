"""The timings table: what spawn and image builds append and the metrics daemon reads."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from podspawn.state.db import SCHEMA_VERSION, open_db
from podspawn.state.timings import (
    KEEP_SECONDS,
    LOGIN,
    last_timing_id,
    prune_timings,
    record_timing,
    timings_after,
)


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return open_db(str(tmp_path / "state.db"), create=True)


def test_timings_are_read_in_order_after_an_id(db: sqlite3.Connection) -> None:
    assert last_timing_id(db) == 0
    assert record_timing(db, LOGIN, 0.25, "warm")
    assert record_timing(db, LOGIN, -1.0, "cold")  # a clock step back is stored as 0
    first, second = timings_after(db, 0)
    assert (first.name, first.label, first.seconds) == (LOGIN, "warm", 0.25)
    assert (second.label, second.seconds) == ("cold", 0.0)
    assert [t.id for t in timings_after(db, first.id)] == [second.id]
    assert last_timing_id(db) == second.id
    assert timings_after(db, second.id) == []


def test_ids_never_go_back_after_a_prune_empties_the_table(db: sqlite3.Connection) -> None:
    """A daemon remembers the last id it read; a reused id would hide new logins from it."""
    for _ in range(3):
        record_timing(db, LOGIN, 0.1, "warm")
    seen = last_timing_id(db)
    assert prune_timings(db, now=time.time() + KEEP_SECONDS + 1) == 3
    record_timing(db, LOGIN, 0.2, "warm")
    (fresh,) = timings_after(db, seen)
    assert fresh.id > seen


def test_prune_keeps_recent_rows(db: sqlite3.Connection) -> None:
    record_timing(db, LOGIN, 0.1, "warm")
    db.execute("UPDATE timings SET at = at - ?", (KEEP_SECONDS + 60,))
    record_timing(db, LOGIN, 0.2, "cold")
    assert prune_timings(db) == 1
    assert [t.label for t in timings_after(db, 0)] == ["cold"]


def test_a_refusing_database_loses_the_timing_not_the_login(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_db(str(path), create=True).close()
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert record_timing(read_only, LOGIN, 0.1, "warm") is False


def test_a_version_3_database_gains_the_table_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = open_db(str(path), create=True)
    conn.execute("DROP TABLE timings")
    conn.execute("PRAGMA user_version=3")
    conn.execute("INSERT INTO users(name, account_created, created_at) VALUES('bob', 1, 0)")
    conn.close()
    again = open_db(str(path))
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert again.execute("SELECT name FROM users").fetchall()[0][0] == "bob"
    assert record_timing(again, LOGIN, 0.3, "warm")
    assert len(timings_after(again, 0)) == 1
