"""What ``podspawn list`` shows: every session with live connection counts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from podspawn.procs import is_alive
from podspawn.state.sessions import list_sessions, prune_dead

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3


@dataclass(frozen=True, slots=True)
class SessionView:
    user: str
    project: str
    container: str
    status: str
    connections: int
    age_seconds: float
    lifetime_left_seconds: float | None  # None for persistent sessions
    mode: str
    grace_left_seconds: float | None
    idle_seconds: float = 0.0
    """Since the last activity (``services.idle``): terminals live, channel traffic as of
    the last cleanup pass."""
    idle_timeout_seconds: float = 0.0  # 0: never ended for idleness


def list_session_views(conn: sqlite3.Connection, *, now: float | None = None) -> list[SessionView]:
    """Sessions after dropping connections whose process is gone, so counts are true."""
    from podspawn.services.idle import idle_seconds, observe

    prune_dead(conn, is_alive)
    at = time.time() if now is None else now
    activity = observe(conn, now=at, record=False)
    views = []
    for row in list_sessions(conn):
        views.append(
            SessionView(
                user=row.user,
                project=row.project,
                container=row.container_name,
                status=row.status,
                connections=row.connections,
                age_seconds=max(0.0, at - row.created_at),
                lifetime_left_seconds=None if row.mode == "persistent"
                else row.max_lifetime - at,
                mode=row.mode,
                grace_left_seconds=(row.grace_expiry - at)
                if row.status == "grace_period" and row.grace_expiry is not None else None,
                idle_seconds=idle_seconds(row, activity, at),
                idle_timeout_seconds=row.idle_timeout,
            )
        )
    return views
