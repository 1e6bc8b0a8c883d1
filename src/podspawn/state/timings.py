"""Timings: how long each login and each image build took, for the metrics daemon.

Every ``spawn`` is its own short process, so a histogram of login latency cannot live in
memory: each login appends one row here (one ``INSERT``, no transaction of its own), and
``cleanup --daemon --metrics-listen`` reads the rows it has not seen into its histograms.
Rows are kept for :data:`KEEP_SECONDS` and pruned by every cleanup pass, so the table stays
small whether or not a daemon reads it.
"""

from __future__ import annotations

import sqlite3
import time

TYPE_CHECKING = False  # not typing's: the login path pays for every import
if TYPE_CHECKING:
    from collections.abc import Sequence

#: Names of what is timed: a login's time to its hand-off, an image build.
LOGIN = "login"
IMAGE_BUILD = "image_build"
#: Rows older than this are pruned; a daemon stopped for longer misses them.
KEEP_SECONDS = 86400.0


class Timing:
    """One timed event (a plain slotted class: it is built on the login path)."""

    __slots__ = ("id", "name", "label", "seconds", "at")

    def __init__(self, id: int, name: str, label: str, seconds: float, at: float) -> None:
        self.id = id
        self.name = name
        self.label = label
        self.seconds = seconds
        self.at = at

    def __repr__(self) -> str:
        return f"Timing({self.id}, {self.name!r}, {self.label!r}, {self.seconds:.3f})"


def record_timing(conn: sqlite3.Connection, name: str, seconds: float, label: str = "") -> bool:
    """Append one timing; False (and nothing stored) when the database refuses it.

    A timing is never worth a failed login or build, so a busy or read-only database is an
    answer here, not an error.
    """
    try:
        conn.execute("INSERT INTO timings(name, label, seconds, at) VALUES(?,?,?,?)",
                     (name, label, max(0.0, seconds), time.time()))
    except sqlite3.Error:
        return False
    return True


def timings_after(conn: sqlite3.Connection, last_id: int, limit: int = 10000
                  ) -> Sequence[Timing]:
    """The timings stored after the one with id ``last_id``, oldest first."""
    rows = conn.execute(
        "SELECT id, name, label, seconds, at FROM timings WHERE id > ? ORDER BY id LIMIT ?",
        (last_id, limit),
    ).fetchall()
    return [Timing(int(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4])) for r in rows]


def last_timing_id(conn: sqlite3.Connection) -> int:
    """The id of the newest timing (0: none), where a daemon that just started begins."""
    row = conn.execute("SELECT MAX(id) FROM timings").fetchone()
    return int(row[0] or 0)


def prune_timings(conn: sqlite3.Connection, now: float | None = None) -> int:
    """Drop timings older than :data:`KEEP_SECONDS`; returns how many went."""
    cutoff = (time.time() if now is None else now) - KEEP_SECONDS
    cursor = conn.execute("DELETE FROM timings WHERE at < ?", (cutoff,))
    return int(cursor.rowcount)
