"""Tell connected users something: a notice to one connection, or to all of a session's.

The text is stored for the connection and its ``spawn`` is sent ``NOTICE_SIGNAL``; the
``spawn`` (``login.handoff``) writes it to its own stderr, which is the SSH channel's, so it
reaches that user and nobody else, with no access beyond the channel's own descriptor. See
``podspawn.state.notices`` for why root never writes into the channel itself.
"""

from __future__ import annotations

import time

from podspawn import log
from podspawn.procs import send_signal
from podspawn.state.notices import NOTICE_SIGNAL, count_pending, post_notice, take_notices
from podspawn.state.sessions import list_connections

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3

    from podspawn.state.records import Connection


def notify(conn: sqlite3.Connection, connection: Connection, message: str) -> int:
    """Post ``message`` to one connection and wake its ``spawn``; the notice's id, or 0 when
    the process is gone (then nothing stays stored)."""
    notice = post_notice(conn, connection.pid, connection.pid_start, message)
    if send_signal(connection.pid, connection.pid_start, NOTICE_SIGNAL):
        return notice
    take_notices(conn, connection.pid, connection.pid_start)
    return 0


def notify_session(
    conn: sqlite3.Connection, user: str, project: str, message: str, *, wait: float = 0.0
) -> int:
    """Post ``message`` to every live connection of the session; returns how many were told.

    With ``wait``, return once every ``spawn`` has taken its notice or ``wait`` seconds have
    passed: a caller about to end the session gives the message time to be written first.
    """
    posted = [n for n in (notify(conn, c, message) for c in list_connections(conn, user, project))
              if n]
    deadline = time.monotonic() + wait
    while posted and count_pending(conn, posted) and time.monotonic() < deadline:
        time.sleep(0.05)
    if posted:
        log.info("notice sent", user=user, project=project or None, connections=len(posted))
    return len(posted)
