"""Idle detection: the pure decisions as tables, plus what it reads from a real terminal and a
real process, its state and its settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podspawn.config.schema import ServerConfig
from podspawn.services import idle
from podspawn.services.overrides import effective
from podspawn.state.activity import io_samples, note_activity, record_io, set_idle_warned
from podspawn.state.db import SCHEMA_VERSION, open_db
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import add_connection, get_session, insert_session
from tests.unit.old_db import old_database

NOW = 1_700_000_000.0
ROW = SessionRow(
    user="alice", project="", container_id="c0ffee", container_name="podspawn-alice",
    image="debian:bookworm", status="running", connections=1, created_at=NOW - 3600,
    last_activity=NOW - 100, max_lifetime=NOW + 3600, mode="grace-period", idle_timeout=600.0,
)


@pytest.mark.parametrize(("timeout", "margin"), [
    (30.0, 6.0), (600.0, 120.0), (1500.0, 300.0), (1800.0, 300.0), (8 * 3600.0, 300.0),
])
def test_the_warning_comes_five_minutes_or_a_fifth_of_the_timeout_early(
    timeout: float, margin: float
) -> None:
    assert idle.warn_margin(timeout) == margin


@pytest.mark.parametrize(("idle_for", "timeout", "warned", "decision"), [
    (10_000.0, 0.0, False, "keep"),   # off
    (10_000.0, 0.0, True, "keep"),
    (23.9, 30.0, False, "keep"),      # not yet in the margin
    (24.0, 30.0, False, "warn"),      # margin reached
    (29.0, 30.0, False, "warn"),
    (24.0, 30.0, True, "keep"),       # warned once, not again
    (31.0, 30.0, True, "end"),        # over, and warned on an earlier pass
    (30.0, 30.0, True, "end"),
    (31.0, 30.0, False, "warn"),      # over but never warned: warn first, end next pass
    (1499.0, 1800.0, False, "keep"),
    (1500.0, 1800.0, False, "warn"),
])
def test_decide(idle_for: float, timeout: float, warned: bool, decision: str) -> None:
    assert idle.decide(idle=idle_for, timeout=timeout, warned=warned) == decision


@pytest.mark.parametrize(("delta", "elapsed", "busy"), [
    (0, 60.0, False),
    (400 * 4, 60.0, False),          # keepalives: a few hundred bytes every 15 s
    (512 * 60 - 1, 60.0, False),
    (512 * 60, 60.0, True),
    (5119, 0.5, False),               # two passes a moment apart: the window is 10 s
    (5120, 0.5, True),
    (10 * 1024 * 1024, 300.0, True),  # a file transfer
])
def test_traffic_below_the_rate_is_keepalive(delta: int, elapsed: float, busy: bool) -> None:
    assert idle.busy_traffic(delta, elapsed) is busy


@pytest.mark.parametrize(("atime", "mtime", "warned_at", "seen"), [
    (100.0, 200.0, None, 200.0),       # output latest
    (300.0, 200.0, None, 300.0),       # input latest
    (100.0, 500.0, 500.3, 100.0),      # the warning's own write (same second)
    (100.0, 504.0, 500.3, 100.0),      # ... a little later
    (100.0, 506.0, 500.3, 506.0),      # output after the warning: real
    (100.0, 499.0, 500.3, 499.0),      # output before the warning: real
    (510.0, 500.0, 500.3, 510.0),      # typing after the warning always counts
])
def test_terminal_activity_leaves_out_our_own_warning(
    atime: float, mtime: float, warned_at: float | None, seen: float
) -> None:
    assert idle.terminal_activity(atime, mtime, warned_at) == seen


@pytest.mark.parametrize(("warned_at", "last", "warned"), [
    (None, 100.0, False),
    (150.0, 100.0, True),
    (150.0, 150.0, True),
    (150.0, 151.0, False),  # activity after the warning: a new stretch
])
def test_a_warning_belongs_to_one_idle_stretch(
    warned_at: float | None, last: float, warned: bool
) -> None:
    assert idle.stretch_warned(ROW.replace(idle_warned_at=warned_at), last) is warned


def test_a_session_is_as_recent_as_its_latest_sign() -> None:
    assert idle.last_activity(ROW, None) == NOW - 100
    assert idle.last_activity(ROW, NOW - 5) == NOW - 5
    assert idle.last_activity(ROW, NOW - 500) == NOW - 100  # never goes back
    seen = idle.Activity(seen={("alice", ""): NOW - 20})
    assert idle.idle_seconds(ROW, seen, NOW) == 20
    assert idle.idle_seconds(ROW, idle.Activity(seen={}), NOW) == 100


def test_a_real_terminal_is_read_by_its_times() -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen(["sleep", "30"], stdin=slave, stdout=slave, stderr=slave)
    try:
        os.utime(slave, (NOW - 50, NOW - 40))
        assert idle._terminal_times(proc.pid) == (NOW - 50, NOW - 40)
        before = os.fstat(slave).st_mtime
        os.utime(slave, (NOW - 50, before - 16))
        os.write(slave, b"output\r\n")  # a write moves the modify time (in 8 s steps)
        assert idle._terminal_times(proc.pid)[1] > before - 16  # type: ignore[index]
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
        os.close(slave)


def test_a_process_without_a_terminal_has_no_terminal_times(tmp_path: Path) -> None:
    with open(tmp_path / "f", "w") as fh:  # a file on stdin says nothing about a user
        proc = subprocess.Popen(["sleep", "30"], stdin=fh, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        assert idle._terminal_times(proc.pid) is None
    finally:
        proc.kill()
        proc.wait()


_CHATTY = """
import sys
sys.stdout.write("ready\\n"); sys.stdout.flush()
for line in sys.stdin:
    sys.stdout.write(line); sys.stdout.flush()
"""


@pytest.fixture
def relay() -> Iterator[subprocess.Popen[str]]:
    """A parent whose child echoes its input, as ``spawn`` and its ``docker exec`` do."""
    with subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]])", _CHATTY],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as parent:
        assert parent.stdout is not None and parent.stdin is not None
        assert parent.stdout.readline() == "ready\n"
        try:
            yield parent
        finally:
            parent.kill()


def test_channel_bytes_are_the_childrens_reads_and_writes(
    relay: subprocess.Popen[str]
) -> None:
    parent = relay
    assert parent.stdout is not None and parent.stdin is not None
    children = idle._children_by_parent().get(parent.pid, [])
    assert len(children) == 1
    first = idle._io_bytes(children)
    assert first is not None
    payload = "x" * 50_000 + "\n"
    parent.stdin.write(payload)
    parent.stdin.flush()
    assert parent.stdout.readline() == payload
    second = idle._io_bytes(children)
    assert second is not None and second - first >= 2 * len(payload)
    assert idle._io_bytes([]) is None  # no hand-off (any more)


def _db(tmp_path: Path):  # type: ignore[no-untyped-def]
    conn = open_db(str(tmp_path / "state.db"), create=True)
    insert_session(conn, ROW.replace(connections=0))
    return conn


def test_activity_state_moves_forward_only(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    note_activity(conn, "alice", "", NOW - 10, clear_warning=False)
    assert get_session(conn, "alice", "").last_activity == NOW - 10  # type: ignore[union-attr]
    note_activity(conn, "alice", "", NOW - 90, clear_warning=False)
    assert get_session(conn, "alice", "").last_activity == NOW - 10  # type: ignore[union-attr]
    set_idle_warned(conn, "alice", "", NOW)
    assert get_session(conn, "alice", "").idle_warned_at == NOW  # type: ignore[union-attr]
    note_activity(conn, "alice", "", NOW - 5, clear_warning=False)
    assert get_session(conn, "alice", "").idle_warned_at == NOW  # type: ignore[union-attr]
    note_activity(conn, "alice", "", NOW + 5, clear_warning=True)
    stored = get_session(conn, "alice", "")
    assert stored is not None and stored.idle_warned_at is None
    assert stored.idle_timeout == 600.0


def test_byte_samples_are_kept_per_connection(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    add_connection(conn, Connection(user="alice", project="", pid=7, pid_start=70,
                                    started_at=NOW))
    assert io_samples(conn) == {(7, 70): (-1, 0.0)}  # none read yet
    record_io(conn, {(7, 70): (1234, NOW), (8, 80): (1, NOW)})  # a vanished one is ignored
    assert io_samples(conn) == {(7, 70): (1234, NOW)}


def test_observe_judges_traffic_between_passes(
    tmp_path: Path, relay: subprocess.Popen[str]
) -> None:
    conn = _db(tmp_path)
    parent = relay
    assert parent.stdout is not None and parent.stdin is not None
    start = _start_time(parent.pid)
    add_connection(conn, Connection(user="alice", project="", pid=parent.pid,
                                    pid_start=start, started_at=NOW))
    now = time.time()
    assert idle.observe(conn, now=now, record=True).seen == {}  # the first look: baseline
    assert idle.observe(conn, now=now + 60, record=True).seen == {}  # nothing sent
    parent.stdin.write("y" * 40_000 + "\n")
    parent.stdin.flush()
    parent.stdout.readline()
    assert idle.observe(conn, now=now + 70, record=False).seen == {("alice", ""): now + 70}
    assert idle.observe(conn, now=now + 70, record=True).seen == {("alice", ""): now + 70}
    assert idle.observe(conn, now=now + 130, record=True).seen == {}  # quiet again


def _start_time(pid: int) -> int:
    from podspawn.procs import start_time

    value = start_time(pid)
    assert value is not None
    return value


def test_a_version_3_database_gains_the_idle_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = old_database(path, version=3)
    conn.execute(
        "INSERT INTO sessions(user, project, container_id, container_name, image, created_at,"
        " last_activity, max_lifetime) VALUES('bob', '', 'c', 'podspawn-bob', 'img', 1, 2, 3)")
    conn.execute("INSERT INTO connections(pid, pid_start, user, project, started_at) "
                 "VALUES(5, 50, 'bob', '', 1)")
    conn.close()
    again = open_db(str(path))
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    row = get_session(again, "bob", "")
    assert row is not None and row.idle_timeout == 0.0 and row.idle_warned_at is None
    assert row.last_activity == 2
    assert io_samples(again) == {(5, 50): (-1, 0.0)}


def _config(tmp_path: Path, session_idle: str = "0") -> ServerConfig:
    from podspawn.config.schema import SessionConfig

    return ServerConfig(users_dir=str(tmp_path / "users"),
                        session=SessionConfig(idle_timeout=session_idle))


@pytest.mark.parametrize(("server", "user_file", "project", "expected"), [
    ("0", "", "", 0.0),
    ("30m", "", "", 1800.0),
    ("30m", "idle_timeout: 2h\n", "", 7200.0),
    ("30m", "idle_timeout: '0'\n", "", 0.0),       # the user is never ended for idleness
    ("30m", "idle_timeout: 2h\n", "10m", 600.0),   # the project's setting wins
    ("0", "idle_timeout: 2h\n", "0", 0.0),
    ("0", "", "45s", 45.0),
])
def test_who_sets_the_idle_timeout(
    tmp_path: Path, server: str, user_file: str, project: str, expected: float
) -> None:
    config = _config(tmp_path, server)
    if user_file:
        (tmp_path / "users").mkdir()
        (tmp_path / "users" / "alice.yaml").write_text(user_file)
    assert effective(config, "alice", project_idle=project).idle_timeout == expected


@pytest.mark.parametrize(("entry", "message"), [
    ({"idle_timeout": "soon"}, "projects.api.idle_timeout: 'soon' is not a duration"),
    ({"idle_timeout": True}, "projects.api.idle_timeout must be a duration such as 30m"),
    ({"idle_timeout": [1]}, "projects.api.idle_timeout must be a duration such as 30m"),
])
def test_a_bad_project_idle_timeout_is_one_sentence(entry: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        ServerConfig(projects={"api": {"repo": "x", **entry}})


def test_good_idle_timeouts_load() -> None:
    assert ServerConfig(projects={"api": {"idle_timeout": "30m"}}).projects["api"]
    assert ServerConfig(projects={"api": {"idle_timeout": 0}}).projects["api"]
    with pytest.raises(ValueError, match=r"session\.idle_timeout"):
        _config(Path("/nonexistent"), "ten minutes")


def test_a_bad_user_idle_timeout_names_the_key(tmp_path: Path) -> None:
    from podspawn.errors import ConfigError

    config = _config(tmp_path)
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / "alice.yaml").write_text("idle_timeout: later\n")
    with pytest.raises(ConfigError) as caught:
        effective(config, "alice")
    assert "idle_timeout" in (caught.value.detail or "")


def test_list_shows_idle_time_from_a_live_terminal(tmp_path: Path) -> None:
    from podspawn.services.status import list_session_views

    conn = _db(tmp_path)
    master, slave = os.openpty()
    proc = subprocess.Popen(["sleep", "30"], stdin=slave, stdout=slave, stderr=slave)
    try:
        now = time.time()
        os.utime(slave, (now - 42, now - 50))  # typed 42 s ago, printed 50 s ago
        add_connection(conn, Connection(user="alice", project="", pid=proc.pid,
                                        pid_start=_start_time(proc.pid), started_at=now - 300))
        conn.execute("UPDATE sessions SET last_activity=?", (now - 300,))
        (view,) = list_session_views(conn, now=now)
        assert 41 <= view.idle_seconds <= 43
        assert view.idle_timeout_seconds == 600.0
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
        os.close(slave)
