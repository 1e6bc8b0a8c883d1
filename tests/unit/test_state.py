"""The state layer on a temporary SQLite file: schema, sessions, connections, users."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from podspawn.errors import StateError
from podspawn.state.db import SCHEMA_VERSION, install_id, open_db
from podspawn.state.records import Connection, SessionRow, UserRow
from podspawn.state.sessions import (
    add_connection,
    delete_session,
    get_session,
    insert_session,
    list_connections,
    list_sessions,
    prune_dead,
    remove_connection,
    set_grace,
    update_session,
)
from podspawn.state.users import delete_user, get_user, list_users, upsert_user

NOW = 1_700_000_000.0

ROW = SessionRow(
    user="alice",
    project="",
    container_id="c0ffee",
    container_name="podspawn-alice",
    image="ubuntu:24.04",
    status="running",
    connections=0,
    created_at=NOW,
    last_activity=NOW,
    max_lifetime=NOW + 8 * 3600,
    mode="grace-period",
    network_id="n1",
    runtime_state={"version": 1, "shell": "/bin/bash", "home": "/home/alice"},
)


def _conn(pid: int, user: str = "alice", project: str = "", start: int = 100) -> Connection:
    return Connection(user=user, project=project, pid=pid, pid_start=start, started_at=NOW + pid)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "state" / "state.db")


@pytest.fixture
def db(db_path: str) -> sqlite3.Connection:
    conn = open_db(db_path, create=True)
    yield conn
    conn.close()


def test_open_db_without_create_refuses_a_missing_file(db_path: str) -> None:
    with pytest.raises(StateError) as info:
        open_db(db_path)
    assert "server-setup" in info.value.message
    assert db_path not in info.value.message  # safe to show a remote user
    assert db_path in (info.value.detail or "")
    assert not os.path.exists(db_path)


def test_open_db_of_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="unusable"):
        open_db(str(path))


def test_open_db_creates_and_migrates(db: sqlite3.Connection, db_path: str) -> None:
    assert os.path.isfile(db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"sessions", "connections", "users", "meta", "notices", "timings",
                      "sqlite_sequence", "pool", "pool_claims"}


def test_install_id_is_stable(db: sqlite3.Connection, db_path: str, tmp_path: Path) -> None:
    first = install_id(db)
    assert len(first) == 12
    int(first, 16)
    again = open_db(db_path)
    assert install_id(again) == first
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again.close()
    other = open_db(str(tmp_path / "other.db"), create=True)
    assert install_id(other) != first
    other.close()


def test_insert_get_delete_session(db: sqlite3.Connection) -> None:
    assert get_session(db, "alice", "") is None
    insert_session(db, ROW)
    stored = get_session(db, "alice", "")
    assert stored is not None
    assert len(stored.id) == 32  # a fresh id when none was given
    assert stored == ROW.replace(id=stored.id)
    other = ROW.replace(project="api", container_name="podspawn-alice-api", id="fixed",
                    lifetime_warned=True, grace_expiry=NOW + 60, status="grace_period")
    insert_session(db, other)
    assert get_session(db, "alice", "api") == other
    assert [r.project for r in list_sessions(db)] == ["", "api"]
    assert [r.project for r in list_sessions(db, "alice")] == ["", "api"]
    assert list_sessions(db, "bob") == []
    delete_session(db, "alice", "")
    assert get_session(db, "alice", "") is None
    assert get_session(db, "alice", "api") == other
    delete_session(db, "alice", "")  # deleting what is gone is success


def test_a_second_session_for_the_same_key_is_refused(db: sqlite3.Connection) -> None:
    insert_session(db, ROW)
    with pytest.raises(sqlite3.IntegrityError):
        insert_session(db, ROW.replace(container_id="other"))
    assert get_session(db, "alice", "").container_id == "c0ffee"  # type: ignore[union-attr]
    assert not db.in_transaction


def test_update_session(db: sqlite3.Connection) -> None:
    insert_session(db, ROW)
    update_session(db, "alice", "", container_id="new", lifetime_warned=True,
                   runtime_state={"version": 2})
    row = get_session(db, "alice", "")
    assert row is not None
    assert (row.container_id, row.lifetime_warned, row.runtime_state) == ("new", True,
                                                                         {"version": 2})
    with pytest.raises(ValueError, match="not updatable"):
        update_session(db, "alice", "", container_name="podspawn-bob")


def test_connections_are_counted(db: sqlite3.Connection) -> None:
    insert_session(db, ROW)
    assert add_connection(db, _conn(11)) == 1
    assert add_connection(db, _conn(12)) == 2
    assert add_connection(db, _conn(12)) == 2  # the same process twice counts once
    assert add_connection(db, _conn(12, start=999)) == 3  # a reused pid is another process
    assert add_connection(db, _conn(13, project="api")) == 1
    assert get_session(db, "alice", "").connections == 3  # type: ignore[union-attr]
    assert remove_connection(db, _conn(11)) == 2
    assert remove_connection(db, _conn(11)) == 2
    assert remove_connection(db, _conn(12)) == 1
    assert remove_connection(db, _conn(12, start=999)) == 0
    assert get_session(db, "alice", "").connections == 0  # type: ignore[union-attr]
    assert [c.pid for c in list_connections(db)] == [13]
    assert list_connections(db, "alice", "") == []


def test_grace_is_set_only_without_connections_and_left_on_connect(
    db: sqlite3.Connection,
) -> None:
    insert_session(db, ROW)
    add_connection(db, _conn(1))
    set_grace(db, "alice", "", NOW + 60)
    row = get_session(db, "alice", "")
    assert (row.status, row.grace_expiry) == ("running", None)  # type: ignore[union-attr]
    remove_connection(db, _conn(1))
    set_grace(db, "alice", "", NOW + 60)
    row = get_session(db, "alice", "")
    assert (row.status, row.grace_expiry) == ("grace_period", NOW + 60)  # type: ignore[union-attr]
    add_connection(db, _conn(2))
    row = get_session(db, "alice", "")
    assert (row.status, row.grace_expiry, row.connections) == (  # type: ignore[union-attr]
        "running", None, 1
    )


def test_prune_dead(db: sqlite3.Connection) -> None:
    insert_session(db, ROW)
    insert_session(db, ROW.replace(user="bob", container_name="podspawn-bob"))
    for c in (_conn(1), _conn(2), _conn(3), _conn(4, user="bob")):
        add_connection(db, c)
    assert prune_dead(db, lambda pid, start: True) == 0
    alive = {(2, 100)}
    assert prune_dead(db, lambda pid, start: (pid, start) in alive) == 3
    assert [c.pid for c in list_connections(db)] == [2]
    assert get_session(db, "alice", "").connections == 1  # type: ignore[union-attr]
    assert get_session(db, "bob", "").connections == 0  # type: ignore[union-attr]
    assert prune_dead(db, lambda pid, start: False) == 1
    assert list_connections(db) == []


def test_users(db: sqlite3.Connection) -> None:
    assert list_users(db) == []
    assert get_user(db, "bob") is None
    bob = UserRow(name="bob", account_created=True, created_at=NOW)
    alice = UserRow(name="alice", account_created=False, created_at=NOW + 1, expires_at=NOW + 9)
    upsert_user(db, bob)
    upsert_user(db, alice)
    assert list_users(db) == [alice, bob]
    # an upsert changes the expiry, never who owns the account or when it was added
    upsert_user(db, UserRow(name="bob", account_created=False, created_at=NOW + 5,
                            expires_at=NOW + 100))
    assert get_user(db, "bob") == UserRow(name="bob", account_created=True, created_at=NOW,
                                          expires_at=NOW + 100)
    delete_user(db, "bob")
    delete_user(db, "bob")
    assert list_users(db) == [alice]


PROCESSES = 8
OPS = 20


def _hammer(path: str, index: int, barrier: object, errors: object) -> None:
    """One worker: open the database, then add OPS connections and remove half of them."""
    try:
        barrier.wait()  # type: ignore[attr-defined]
        conn = open_db(path)  # as spawn does: server-setup created the database
        mine = [_conn(10_000 * (index + 1) + n) for n in range(OPS)]
        for c in mine:
            add_connection(conn, c)
        for c in mine[::2]:
            remove_connection(conn, c)
        conn.close()
    except BaseException as exc:
        detail = getattr(exc, "detail", None) or ""
        errors.put(f"worker {index}: {type(exc).__name__}: {exc} {detail}")  # type: ignore[attr-defined]
        raise


def _check_after_hammer(path: str) -> None:
    conn = open_db(path)
    assert len(list_connections(conn)) == PROCESSES * OPS // 2
    row = get_session(conn, "alice", "")
    assert row is not None
    assert row.connections == PROCESSES * OPS // 2
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_concurrent_processes_never_see_a_locked_database(db_path: str) -> None:
    conn = open_db(db_path, create=True)
    insert_session(conn, ROW)
    conn.close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    errors = ctx.SimpleQueue()
    workers = [
        ctx.Process(target=_hammer, args=(db_path, i, barrier, errors)) for i in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    _check_after_hammer(db_path)


def test_concurrent_threads_never_see_a_locked_database(db_path: str) -> None:
    conn = open_db(db_path, create=True)
    insert_session(conn, ROW)
    conn.close()

    class Errors(list):
        def put(self, item: str) -> None:
            self.append(item)

    errors = Errors()
    barrier = threading.Barrier(PROCESSES)
    threads = [
        threading.Thread(target=_hammer, args=(db_path, i, barrier, errors))
        for i in range(PROCESSES)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    _check_after_hammer(db_path)


def test_a_version_1_database_is_migrated_forward(tmp_path):
    """A database made before the ``adopted`` column keeps its rows and gains the column."""
    import sqlite3

    from podspawn.state import db as dbmod
    from podspawn.state.users import get_user

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(dbmod._MIGRATIONS[0])
    old.execute("INSERT INTO users(name, account_created, created_at) VALUES('ann', 1, 5.0)")
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    conn = dbmod.open_db(str(path))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(dbmod._MIGRATIONS)
    row = get_user(conn, "ann")
    assert row is not None and row.account_created and row.adopted == ""


def test_reserve_finish_and_abandon(db: sqlite3.Connection) -> None:
    from podspawn.state.sessions import abandon_session, finish_session, reserve_session

    starting = ROW.replace(id="s1", status="starting", container_id="")
    reserve_session(db, starting, _conn(7))
    row = get_session(db, "alice", "")
    assert row is not None and row.status == "starting" and row.connections == 1
    # joining a session being made keeps it "starting"
    add_connection(db, _conn(8))
    assert get_session(db, "alice", "").status == "starting"
    # only the maker's own reservation is finished ...
    assert not finish_session(db, "alice", "", "someone-else", container_id="x")
    assert finish_session(db, "alice", "", "s1", container_id="c1", service_ids="a,b",
                          runtime_state={"version": 2})
    done = get_session(db, "alice", "")
    assert (done.status, done.container_id, done.service_ids) == ("running", "c1", "a,b")
    assert done.runtime_state == {"version": 2}
    # ... and once finished it is no longer abandonable
    abandon_session(db, "alice", "", "s1")
    assert get_session(db, "alice", "") is not None


def test_a_reservation_ended_midway_cannot_be_finished(db: sqlite3.Connection) -> None:
    from podspawn.state.sessions import abandon_session, finish_session, reserve_session

    reserve_session(db, ROW.replace(id="s1", status="starting", container_id=""), _conn(7))
    delete_session(db, "alice", "")  # remove-user, stop
    assert not finish_session(db, "alice", "", "s1", container_id="c1")
    assert get_session(db, "alice", "") is None
    reserve_session(db, ROW.replace(id="s2", status="starting", container_id=""), _conn(9))
    abandon_session(db, "alice", "", "s2")
    assert get_session(db, "alice", "") is None
    assert list_connections(db) == []
