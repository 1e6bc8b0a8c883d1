"""Session and connection rows.

A session's connection count is the number of its ``connections`` rows whose serving process
still lives; ``prune_dead`` drops the rest, so a ``spawn`` killed with SIGKILL, or a client that
vanished, can never keep a container alive forever. The ``connections`` column mirrors that
count for ``list`` and for readers of the Go schema.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from podspawn.state.records import Connection, SessionRow

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from typing import Any


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short write transaction; concurrent writers wait on the busy timeout."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def get_session(conn: sqlite3.Connection, user: str, project: str) -> SessionRow | None:
    row = conn.execute(
        "SELECT * FROM sessions WHERE user=? AND project=?", (user, project)
    ).fetchone()
    return SessionRow.from_row(row) if row else None


def list_sessions(conn: sqlite3.Connection, user: str | None = None) -> list[SessionRow]:
    if user is None:
        rows = conn.execute("SELECT * FROM sessions ORDER BY user, project").fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM sessions WHERE user=? ORDER BY project", (user,)
        ).fetchall()
    return [SessionRow.from_row(r) for r in rows]


def insert_session(conn: sqlite3.Connection, session: SessionRow) -> None:
    with transaction(conn):
        _insert(conn, session)


def reserve_session(
    conn: sqlite3.Connection, session: SessionRow, connection: Connection
) -> None:
    """Insert a ``starting`` row and count ``connection`` in it, in one transaction.

    The row claims (user, project) before any container exists, so the slow work of making
    the session can run without the user's lock: a second login finds the row and waits,
    and ``remove-user`` or ``stop`` can end it midway (``finish_session`` then says so).

    Raises:
        sqlite3.IntegrityError: the pair already has a row (the caller holds the user's lock
            and looked first, so this means a bug, not a race).
    """
    with transaction(conn):
        _insert(conn, session)
        _add_connection(conn, connection)
        _sync_count(conn, session.user, session.project)


def finish_session(
    conn: sqlite3.Connection, user: str, project: str, session_id: str, **values: Any
) -> bool:
    """Turn the ``starting`` row ``session_id`` into a running session with ``values``.

    Returns False, changing nothing, when that row is gone or is no longer starting: the
    session was ended while it was being made, and the caller must remove what it made.
    """
    values = {"status": "running", **values}
    _check_columns(values)
    if "runtime_state" in values:
        values["runtime_state"] = json.dumps(values["runtime_state"], sort_keys=True)
    assignments = ", ".join(f"{name}=?" for name in values)
    with transaction(conn):
        cursor = conn.execute(
            f"UPDATE sessions SET {assignments} "  # noqa: S608 - column names from code
            "WHERE user=? AND project=? AND id=? AND status='starting'",
            (*values.values(), user, project, session_id),
        )
        return cursor.rowcount == 1


def abandon_session(conn: sqlite3.Connection, user: str, project: str, session_id: str) -> None:
    """Drop the ``starting`` row ``session_id`` and its connections after a failed start;
    a row that is gone or belongs to another session is left alone."""
    with transaction(conn):
        cursor = conn.execute(
            "DELETE FROM sessions WHERE user=? AND project=? AND id=? AND status='starting'",
            (user, project, session_id),
        )
        if cursor.rowcount:
            conn.execute("DELETE FROM connections WHERE user=? AND project=?", (user, project))


def _insert(conn: sqlite3.Connection, session: SessionRow) -> None:
    import uuid  # sessions are inserted on the cold path only

    conn.execute(
        """INSERT INTO sessions(user, project, id, container_id, container_name, image,
               status, connections, grace_expiry, created_at, last_activity, max_lifetime,
               network_id, service_ids, mode, lifetime_warned, runtime_state, idle_timeout)
           VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
        (
            session.user,
            session.project,
            session.id or uuid.uuid4().hex,
            session.container_id,
            session.container_name,
            session.image,
            session.status,
            session.connections,
            session.grace_expiry,
            session.created_at,
            session.last_activity,
            session.max_lifetime,
            session.network_id,
            session.service_ids,
            session.mode,
            int(session.lifetime_warned),
            json.dumps(session.runtime_state, sort_keys=True),
            session.idle_timeout,
        ),
    )


def delete_session(conn: sqlite3.Connection, user: str, project: str) -> None:
    """Drop the row and its connections; deleting what is gone is success."""
    with transaction(conn):
        conn.execute("DELETE FROM connections WHERE user=? AND project=?", (user, project))
        conn.execute("DELETE FROM sessions WHERE user=? AND project=?", (user, project))


def add_connection(conn: sqlite3.Connection, connection: Connection) -> int:
    """Record a live connection, leave any grace period, and return the new count."""
    with transaction(conn):
        _add_connection(conn, connection)
        return _sync_count(conn, connection.user, connection.project, running=True)


def _add_connection(conn: sqlite3.Connection, connection: Connection) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO connections(pid, pid_start, user, project, started_at) "
        "VALUES(?,?,?,?,?)",
        (
            connection.pid,
            connection.pid_start,
            connection.user,
            connection.project,
            connection.started_at,
        ),
    )


def remove_connection(conn: sqlite3.Connection, connection: Connection) -> int:
    """Forget a finished connection and return how many remain."""
    with transaction(conn):
        conn.execute(
            "DELETE FROM connections WHERE pid=? AND pid_start=?",
            (connection.pid, connection.pid_start),
        )
        return _sync_count(conn, connection.user, connection.project)


def list_connections(
    conn: sqlite3.Connection, user: str | None = None, project: str | None = None
) -> list[Connection]:
    query, args = "SELECT * FROM connections", []
    if user is not None and project is not None:
        query, args = query + " WHERE user=? AND project=?", [user, project]
    rows = conn.execute(query + " ORDER BY started_at", args).fetchall()
    return [
        Connection(
            user=r["user"],
            project=r["project"],
            pid=r["pid"],
            pid_start=r["pid_start"],
            started_at=r["started_at"],
        )
        for r in rows
    ]


def count_connections(conn: sqlite3.Connection, user: str) -> int:
    """How many connections ``user`` has open, across all their sessions."""
    return int(conn.execute("SELECT COUNT(*) FROM connections WHERE user=?",
                            (user,)).fetchone()[0])


def prune_dead(conn: sqlite3.Connection, is_alive: Callable[[int, int], bool]) -> int:
    """Drop connections whose process is gone; recount every session. Returns rows dropped."""
    dead = [c for c in list_connections(conn) if not is_alive(c.pid, c.pid_start)]
    if not dead:
        return 0
    with transaction(conn):
        for c in dead:
            conn.execute(
                "DELETE FROM connections WHERE pid=? AND pid_start=?", (c.pid, c.pid_start)
            )
        for user, project in {(c.user, c.project) for c in dead}:
            _sync_count(conn, user, project)
    return len(dead)


def set_grace(conn: sqlite3.Connection, user: str, project: str, expiry: float) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE sessions SET status='grace_period', grace_expiry=? "
            "WHERE user=? AND project=? AND connections=0",
            (expiry, user, project),
        )


def update_session(conn: sqlite3.Connection, user: str, project: str, **values: Any) -> None:
    """Set named columns of one row; the column names come from code, never from users."""
    _check_columns(values)
    if "runtime_state" in values:
        values["runtime_state"] = json.dumps(values["runtime_state"], sort_keys=True)
    assignments = ", ".join(f"{name}=?" for name in values)
    with transaction(conn):
        conn.execute(
            f"UPDATE sessions SET {assignments} WHERE user=? AND project=?",  # noqa: S608
            (*values.values(), user, project),
        )


_UPDATABLE = frozenset({"container_id", "status", "grace_expiry", "lifetime_warned",
                        "runtime_state", "service_ids", "network_id", "image"})


def _check_columns(values: dict[str, Any]) -> None:
    unknown = set(values) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")


def _sync_count(
    conn: sqlite3.Connection, user: str, project: str, *, running: bool = False
) -> int:
    count = int(
        conn.execute(
            "SELECT COUNT(*) FROM connections WHERE user=? AND project=?", (user, project)
        ).fetchone()[0]
    )
    if running:
        # a session being made stays "starting" until finish_session
        conn.execute(
            "UPDATE sessions SET connections=?, last_activity=?, grace_expiry=NULL, "
            "status=CASE status WHEN 'starting' THEN 'starting' ELSE 'running' END "
            "WHERE user=? AND project=?",
            (count, time.time(), user, project),
        )
    else:
        conn.execute(
            "UPDATE sessions SET connections=?, last_activity=? WHERE user=? AND project=?",
            (count, time.time(), user, project),
        )
    return count
