"""What idle detection keeps between cleanup passes (``services.idle``).

A session's ``last_activity`` only moves forward; ``idle_warned_at`` says when the idle
warning went out, so one idle stretch is warned once and ended only after it was warned. Each
connection keeps the channel byte count read at the previous pass (``io_bytes``, -1 before
the first) and when it was read, because traffic is judged by its rate between two passes.
"""

from __future__ import annotations

from podspawn.state.sessions import transaction

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    Key = tuple[int, int]


def io_samples(conn: sqlite3.Connection) -> dict[Key, tuple[int, float]]:
    """Each connection's (pid, pid_start) -> (bytes, read at) from the previous pass."""
    rows = conn.execute("SELECT pid, pid_start, io_bytes, io_seen_at FROM connections")
    return {(int(r[0]), int(r[1])): (int(r[2]), float(r[3])) for r in rows}


def record_io(conn: sqlite3.Connection, samples: Mapping[Key, tuple[int, float]]) -> None:
    """Keep this pass's byte counts for the next one to compare with."""
    if not samples:
        return
    with transaction(conn):
        conn.executemany(
            "UPDATE connections SET io_bytes=?, io_seen_at=? WHERE pid=? AND pid_start=?",
            [(count, at, pid, start) for (pid, start), (count, at) in samples.items()],
        )


def note_activity(
    conn: sqlite3.Connection, user: str, project: str, at: float, *, clear_warning: bool
) -> None:
    """Move the session's ``last_activity`` up to ``at`` (never back); with
    ``clear_warning``, forget a warning that activity since has made stale."""
    with transaction(conn):
        conn.execute(
            "UPDATE sessions SET last_activity=MAX(last_activity, ?), "
            "idle_warned_at=CASE WHEN ? THEN NULL ELSE idle_warned_at END "
            "WHERE user=? AND project=?",
            (at, int(clear_warning), user, project),
        )


def set_idle_warned(conn: sqlite3.Connection, user: str, project: str, at: float) -> None:
    with transaction(conn):
        conn.execute("UPDATE sessions SET idle_warned_at=? WHERE user=? AND project=?",
                     (at, user, project))
