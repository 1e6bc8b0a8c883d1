"""Notices: short messages for one live connection, written out by that connection's own
``spawn``.

Whoever has something to tell a connected user (cleanup, as root) must not open the user's
channel itself: ``/proc/<pid>/fd/2`` reopened by root gives root's access to whatever the
descriptor was, which the user chooses. So the text is stored here under the connection's
(pid, start time), the ``spawn`` is signalled, and it takes its notices and writes them to
the descriptor it already holds, with exactly the access that descriptor has.
"""

from __future__ import annotations

import signal
import time

from podspawn.state.sessions import transaction

#: What wakes a ``spawn`` when a notice waits for its connection (``login.handoff`` catches
#: it, ``services.notices`` sends it).
NOTICE_SIGNAL = signal.SIGUSR1

TYPE_CHECKING = False  # not typing's: the login path pays for every import
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

#: A notice nobody took within this many seconds is dropped: its connection is gone.
STALE_SECONDS = 600.0


def post_notice(conn: sqlite3.Connection, pid: int, pid_start: int, message: str) -> int:
    """Store ``message`` for the connection (pid, pid_start); returns the notice's id."""
    now = time.time()
    with transaction(conn):
        conn.execute("DELETE FROM notices WHERE created_at < ?", (now - STALE_SECONDS,))
        cursor = conn.execute(
            "INSERT INTO notices(pid, pid_start, message, created_at) VALUES(?,?,?,?)",
            (pid, pid_start, message, now),
        )
        return int(cursor.lastrowid or 0)


def take_notices(conn: sqlite3.Connection, pid: int, pid_start: int) -> list[str]:
    """The connection's notices, oldest first, removed as they are returned."""
    with transaction(conn):
        rows = conn.execute(
            "SELECT id, message FROM notices WHERE pid=? AND pid_start=? ORDER BY id",
            (pid, pid_start),
        ).fetchall()
        conn.execute("DELETE FROM notices WHERE pid=? AND pid_start=?", (pid, pid_start))
    return [str(r["message"]) for r in rows]


def count_pending(conn: sqlite3.Connection, ids: Sequence[int]) -> int:
    """How many of the notices ``ids`` have not been taken yet."""
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    row = conn.execute(f"SELECT COUNT(*) FROM notices WHERE id IN ({marks})",  # noqa: S608
                       tuple(ids)).fetchone()
    return int(row[0])
