"""The caps on a new session and connection: decisions over a real SQLite state database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from podspawn.config.schema import ServerConfig, StateConfig
from podspawn.errors import LimitReached
from podspawn.quotas import check_connections, connection_refusal
from podspawn.services.capacity import (
    ENGINE_ROLE,
    STATE_ROLE,
    Filesystem,
    check_disk,
    disk_refusal,
    human_size,
    idle_sessions,
    low_filesystems,
    make_room,
    measure,
)
from podspawn.state.db import open_db
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import (
    add_connection,
    delete_session,
    insert_session,
    list_sessions,
)
from podspawn.units import parse_size

NOW = 1_700_000_000.0


def _row(project: str, *, status: str = "grace_period", connections: int = 0,
         idle_since: float = NOW, created: float = NOW - 100, mode: str = "grace-period",
         user: str = "alice") -> SessionRow:
    return SessionRow(user=user, project=project, id=f"id-{user}-{project or 'default'}",
                      container_id="", container_name=f"podspawn-{user}-{project}",
                      image="debian:bookworm", status=status, connections=connections,
                      created_at=created, last_activity=idle_since,
                      max_lifetime=NOW + 3600, mode=mode)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = open_db(str(tmp_path / "state" / "state.db"), create=True)
    yield conn
    conn.close()


def _config(tmp_path: Path, *, max_per_user: int = 3, min_free: str = "2G") -> ServerConfig:
    base = ServerConfig()
    return replace(
        base,
        state=StateConfig(db_path=str(tmp_path / "state" / "state.db"),
                          lock_dir=str(tmp_path / "locks"), min_free=min_free),
        resources=replace(base.resources, max_per_user=max_per_user),
    )


def _store(db: sqlite3.Connection, *rows: SessionRow) -> None:
    for row in rows:
        insert_session(db, row)


# -- connections --------------------------------------------------------------------------

@pytest.mark.parametrize(("held", "limit", "refused"), [
    (0, 10, False), (9, 10, False), (10, 10, True), (11, 10, True), (500, 0, False),
    (0, 1, False), (1, 1, True),
])
def test_connection_refusal_only_at_the_limit(held: int, limit: int, refused: bool) -> None:
    message = connection_refusal(held, limit)
    assert (message is not None) == refused
    if message:
        assert f"the limit is {limit} (resources.max_connections_per_user)" in message
        assert "close one of them" in message


def test_connections_are_counted_across_all_of_a_users_sessions(db: sqlite3.Connection
                                                                ) -> None:
    _store(db, _row("", status="running"), _row("api", status="running"),
           _row("", status="running", user="bob"))
    for pid, project in ((11, ""), (12, "api")):
        add_connection(db, Connection(user="alice", project=project, pid=pid, pid_start=1,
                                      started_at=NOW))
    add_connection(db, Connection(user="bob", project="", pid=13, pid_start=1, started_at=NOW))
    check_connections(db, "alice", 3)
    check_connections(db, "alice", 0)
    check_connections(db, "bob", 2)  # another user's connections are not alice's
    with pytest.raises(LimitReached, match="you already have 2 SSH connection"):
        check_connections(db, "alice", 2)


# -- disk -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "size"), [
    ("2G", 2 * 1024**3), ("500m", 500 * 1024**2), ("1t", 1024**4), ("100P", 100 * 1024**5),
    ("1.5g", int(1.5 * 1024**3)), ("0", 0), ("4096", 4096),
])
def test_sizes_take_disk_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["2x", "-1G", "G", "1 G", "1e9"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_min_free_is_validated_with_its_key() -> None:
    with pytest.raises(ValueError, match=r"state\.min_free"):
        StateConfig(min_free="lots")


@pytest.mark.parametrize(("size", "text"), [
    (3 * 1024**3, "3G"), (int(1.5 * 1024**3), "1.5G"), (640 * 1024**2, "640M"),
    (5 * 1024**4, "5T"), (100, "100B"), (2048, "2K"),
])
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_low_filesystems_names_a_shared_filesystem_once_with_both_roles() -> None:
    state = Filesystem(roles=(STATE_ROLE,), path="/var/lib/podspawn", device=1, free=10)
    engine = Filesystem(roles=(ENGINE_ROLE,), path="/var/lib/docker", device=1, free=10)
    [low] = low_filesystems([state, engine, None], 100)
    assert low.roles == (STATE_ROLE, ENGINE_ROLE) and low.path == "/var/lib/podspawn"
    assert low_filesystems([state, engine], 10) == []  # exactly the minimum is enough
    assert low_filesystems([state], 0) == []  # 0 turns the guard off


def test_only_the_low_filesystem_is_reported() -> None:
    roomy = Filesystem(roles=(STATE_ROLE,), path="/srv", device=1, free=10**12)
    full = Filesystem(roles=(ENGINE_ROLE,), path="/var/lib/docker", device=2, free=5)
    assert low_filesystems([roomy, full], 10**9) == [full]


def test_the_refusal_names_the_filesystem_by_role_its_space_and_the_key() -> None:
    fs = Filesystem(roles=(ENGINE_ROLE,), path="/var/lib/docker", device=2,
                    free=int(1.2 * 1024**3))
    message = disk_refusal(fs, "2G")
    assert message.startswith("this server is low on disk space: the filesystem of the "
                              "container engine's data has 1.2G free, less than "
                              "state.min_free (2G);")
    assert "already running still attach" in message
    assert "/var/lib" not in message  # a remote user reads this: no host path


def test_measure_reads_the_real_filesystem(tmp_path: Path) -> None:
    fs = measure(STATE_ROLE, str(tmp_path))
    assert fs is not None and fs.free > 0 and fs.roles == (STATE_ROLE,)
    assert measure(STATE_ROLE, str(tmp_path / "absent")) is None


def test_check_disk_refuses_above_the_free_space_and_passes_below(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    # "none" is no backend: the engine's root is unknown, so only the state is measured
    check_disk(_config(tmp_path, min_free="1k"), "none")
    check_disk(_config(tmp_path, min_free="0"), "none")
    with pytest.raises(LimitReached, match=r"podspawn's state has .* free, less than "
                                           r"state.min_free \(100P\)") as caught:
        check_disk(_config(tmp_path, min_free="100P"), "none")
    assert caught.value.detail and str(tmp_path / "state") in caught.value.detail


# -- max_per_user ---------------------------------------------------------------------------

def test_idle_sessions_are_unconnected_non_persistent_ones_idle_longest_first() -> None:
    rows = [
        _row("new", idle_since=NOW),
        _row("old", idle_since=NOW - 600),
        _row("busy", status="running", connections=1, idle_since=NOW - 900),
        _row("kept", status="running", mode="persistent", idle_since=NOW - 900),
        _row("making", status="starting", idle_since=NOW - 900),
        _row("lost", status="running", idle_since=NOW - 300),  # its spawn was killed
    ]
    assert [r.project for r in idle_sessions(rows)] == ["old", "lost", "new"]


def test_make_room_ends_the_oldest_idle_session_and_says_so(db: sqlite3.Connection,
                                                            tmp_path: Path) -> None:
    _store(db, _row("", status="running", connections=1), _row("other", idle_since=NOW - 60),
           _row("work", idle_since=NOW - 7200))
    ended: list[str] = []
    told: list[str] = []

    def end(row: SessionRow) -> None:
        ended.append(row.project)
        delete_session(db, row.user, row.project)

    make_room(db, _config(tmp_path), "alice", end=end, notify=told.append)
    assert ended == ["work"]
    assert [r.project for r in list_sessions(db, "alice")] == ["", "other"]
    [line] = told
    assert line.startswith("Ended your idle session work (no connection since ")
    assert "the limit is 3 session(s) (resources.max_per_user)" in line


def test_make_room_does_nothing_below_the_limit_or_without_one(db: sqlite3.Connection,
                                                               tmp_path: Path) -> None:
    _store(db, _row("a"), _row("b"))

    def end(row: SessionRow) -> None:
        raise AssertionError(f"ended {row.project}")

    make_room(db, _config(tmp_path, max_per_user=3), "alice", end=end, notify=None)
    make_room(db, _config(tmp_path, max_per_user=0), "alice", end=end, notify=None)


def test_make_room_refuses_when_every_session_is_in_use(db: sqlite3.Connection,
                                                        tmp_path: Path) -> None:
    _store(db, _row("", status="running", connections=1),
           _row("other", status="running", connections=2),
           _row("work", status="running", mode="persistent"))
    with pytest.raises(LimitReached) as caught:
        make_room(db, _config(tmp_path), "alice", end=lambda row: None, notify=None)
    assert caught.value.message.startswith(
        "you already have 3 session(s) ((default), other, work) and the limit is 3 "
        "(resources.max_per_user), and each has a connection open or is persistent")
    assert len(list_sessions(db, "alice")) == 3


def test_make_room_refuses_when_the_idle_session_cannot_be_removed(db: sqlite3.Connection,
                                                                   tmp_path: Path) -> None:
    _store(db, _row("", status="running", connections=1), _row("stuck"))
    attempts: list[str] = []
    told: list[str] = []
    with pytest.raises(LimitReached, match="the limit is 2"):
        make_room(db, _config(tmp_path, max_per_user=2), "alice",
                  end=lambda row: attempts.append(row.project), notify=told.append)
    assert attempts == ["stuck"]  # tried once, then passed over, never in a loop
    assert told == []  # nothing was ended, so nothing is claimed


def test_make_room_counts_only_this_users_sessions(db: sqlite3.Connection,
                                                   tmp_path: Path) -> None:
    _store(db, _row("a", user="bob"), _row("b", user="bob"), _row("c", user="bob"),
           _row("a", status="running", connections=1))

    def end(row: SessionRow) -> None:
        raise AssertionError(f"ended {row.user}/{row.project}")

    make_room(db, _config(tmp_path), "alice", end=end, notify=None)
