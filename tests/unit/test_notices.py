"""Notices for a connection: stored, taken once, and the signal reaches only that process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podspawn.procs import send_signal, start_time
from podspawn.services.notices import notify_session
from podspawn.state.db import SCHEMA_VERSION, open_db
from podspawn.state.notices import STALE_SECONDS, count_pending, post_notice, take_notices
from podspawn.state.records import Connection
from podspawn.state.sessions import add_connection
from tests.unit.old_db import old_database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = open_db(str(tmp_path / "state" / "state.db"), create=True)
    yield conn
    conn.close()


def test_notices_are_taken_once_in_order_and_only_by_their_connection(
    db: sqlite3.Connection,
) -> None:
    first = post_notice(db, 100, 5, "one")
    post_notice(db, 100, 5, "two")
    post_notice(db, 100, 6, "same pid, another process")
    assert count_pending(db, [first]) == 1
    assert take_notices(db, 100, 5) == ["one", "two"]
    assert take_notices(db, 100, 5) == []
    assert count_pending(db, [first]) == 0
    assert take_notices(db, 100, 6) == ["same pid, another process"]


def test_a_stale_notice_is_dropped_by_the_next_post(db: sqlite3.Connection) -> None:
    post_notice(db, 1, 1, "old")
    db.execute("UPDATE notices SET created_at=?", (time.time() - STALE_SECONDS - 1,))
    post_notice(db, 2, 2, "new")
    assert take_notices(db, 1, 1) == []
    assert take_notices(db, 2, 2) == ["new"]


def test_a_version_2_database_gains_the_table_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = old_database(path, version=2)
    conn.execute("INSERT INTO users(name, account_created, created_at) VALUES('bob', 1, 0)")
    conn.close()
    again = open_db(str(path))
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert again.execute("SELECT name FROM users").fetchall()[0][0] == "bob"
    assert take_notices(again, 1, 1) == []
    again.close()


_WAITER = """
import signal, sys, time
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
print("ready", flush=True)
deadline = time.monotonic() + 10
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
print("got" if got else "none", flush=True)
"""


def _waiter() -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _WAITER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def test_send_signal_reaches_the_process_with_that_start_time_only() -> None:
    proc = _waiter()
    started = start_time(proc.pid)
    assert started is not None
    assert not send_signal(proc.pid, started + 1, signal.SIGUSR1)  # a reused pid
    assert send_signal(proc.pid, started, signal.SIGUSR1)
    out, _ = proc.communicate(timeout=20)
    assert out == "got\n"
    assert not send_signal(proc.pid, started, signal.SIGUSR1)  # gone


def test_notify_session_tells_live_connections_and_stores_nothing_for_dead_ones(
    db: sqlite3.Connection,
) -> None:
    db.execute("INSERT INTO sessions(user, project, container_id, container_name, image, "
               "created_at, last_activity, max_lifetime) VALUES('bob', '', 'c', 'n', 'i', 0, 0, 0)")
    proc = _waiter()
    live = Connection(user="bob", project="", pid=proc.pid,
                      pid_start=start_time(proc.pid) or 0, started_at=1.0)
    dead = Connection(user="bob", project="", pid=os.getpid(), pid_start=1, started_at=2.0)
    add_connection(db, live)
    add_connection(db, dead)
    assert notify_session(db, "bob", "", "hello") == 1
    out, _ = proc.communicate(timeout=20)
    assert out == "got\n"
    assert take_notices(db, dead.pid, dead.pid_start) == []
    assert take_notices(db, live.pid, live.pid_start) == ["hello"]


_ATTACHED = """
import sys, time
from podspawn.login.handoff import expect_notices, run_attached
expect_notices()
print("ready", flush=True)
time.sleep(float(sys.argv[1]))  # a signal here, before the hand-off, must wait for it
code = run_attached(["/bin/sleep", "1"], watch_fd=0, notices=lambda: ["lifetime ends soon"])
print(code, flush=True)
"""


@pytest.mark.parametrize("before_handoff", [True, False])
def test_spawn_writes_notices_to_its_own_stderr(tmp_path: Path, before_handoff: bool) -> None:
    err = tmp_path / "err"
    with err.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-c", _ATTACHED,
                                 "0.5" if before_handoff else "0"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=sink, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(0.1 if before_handoff else 0.4)
        os.kill(proc.pid, signal.SIGUSR1)
        out, _ = proc.communicate(timeout=20)
    assert out == "0\n"  # the signal neither killed spawn nor changed the exit status
    assert err.read_text() == "podspawn: lifetime ends soon\n"


def test_a_read_only_stderr_is_never_written(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    with victim.open("rb") as read_only:
        proc = subprocess.Popen([sys.executable, "-c", _ATTACHED, "0"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=read_only, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(0.4)
        os.kill(proc.pid, signal.SIGUSR1)
        out, _ = proc.communicate(timeout=20)
    assert out == "0\n"
    assert victim.read_text() == "keep\n"
