"""The timings table: what spawn and image builds append and the metrics daemon reads."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podspawn.errors import RuntimeFailure
from podspawn.state.db import SCHEMA_VERSION, open_db
from podspawn.state.timings import (
    IMAGE_BUILD,
    KEEP_SECONDS,
    LOGIN,
    last_timing_id,
    prune_timings,
    record_timing,
    timings_after,
)
from tests.unit.old_db import old_database


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


def test_a_version_4_database_gains_the_table_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = old_database(path, version=4)
    conn.execute("INSERT INTO users(name, account_created, created_at) VALUES('bob', 1, 0)")
    conn.close()
    again = open_db(str(path))
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert again.execute("SELECT name FROM users").fetchall()[0][0] == "bob"
    assert record_timing(again, LOGIN, 0.3, "warm")
    assert len(timings_after(again, 0)) == 1


_HANDOFF = """
import os, sys, time
from podspawn.login.handoff import run_attached
from podspawn.procs import seconds_since, start_time
from podspawn.state.db import open_db
from podspawn.state.timings import LOGIN, record_timing
conn = open_db(sys.argv[1])
me = os.getpid()
time.sleep(0.3)  # the login's own work, before the hand-off
seen = []
def started():
    seen.append(time.monotonic())
    record_timing(conn, LOGIN, seconds_since(start_time(me)), "warm")
began = time.monotonic()
code = run_attached(["/bin/sh", "-c", "sleep 0.5; exit 7"], watch_fd=0, started=started)
print(code, len(seen), round(seen[0] - began, 1), flush=True)
"""


def test_the_login_time_is_stored_while_the_handoff_runs(tmp_path: Path) -> None:
    """``started`` runs once, in the parent, at once after the fork (not after the child):
    the stored time covers the process from its start to the hand-off, sleep included."""
    path = tmp_path / "state.db"
    open_db(str(path), create=True).close()
    result = subprocess.run([sys.executable, "-c", _HANDOFF, str(path)], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
    assert result.stdout.split() == ["7", "1", "0.0"], result.stderr
    conn = open_db(str(path))
    (stored,) = timings_after(conn, 0)
    assert (stored.name, stored.label) == (LOGIN, "warm")
    assert 0.3 <= stored.seconds < 5.0


class _Builder:
    """Only ``build``, which is all ``timed_build`` asks of a runtime."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def build(self, recipe: object, *, on_output: object = None) -> str:
        if self.fail:
            raise RuntimeFailure("step 2 failed")
        return "sha256:built"


def test_builds_are_timed_whether_they_succeed_or_fail(tmp_path: Path) -> None:
    from podspawn.runtime.base import ImageRecipe
    from podspawn.services.images import timed_build

    path = str(tmp_path / "state.db")
    open_db(path, create=True).close()
    recipe = ImageRecipe(tag="podspawn/x:1", dockerfile="FROM scratch\n")
    assert timed_build(_Builder(False), recipe, kind="layer", db_path=path) == "sha256:built"  # type: ignore[arg-type]
    with pytest.raises(RuntimeFailure, match="step 2"):
        timed_build(_Builder(True), recipe, kind="project", db_path=path)  # type: ignore[arg-type]
    labels = [(t.name, t.label) for t in timings_after(open_db(path), 0)]
    assert labels == [(IMAGE_BUILD, "layer:ok"), (IMAGE_BUILD, "project:failed")]


def test_a_build_without_a_database_still_builds(tmp_path: Path) -> None:
    from podspawn.runtime.base import ImageRecipe
    from podspawn.services.images import timed_build

    recipe = ImageRecipe(tag="podspawn/x:1", dockerfile="FROM scratch\n")
    assert timed_build(_Builder(False), recipe, kind="layer",  # type: ignore[arg-type]
                       db_path=str(tmp_path / "absent.db")) == "sha256:built"
