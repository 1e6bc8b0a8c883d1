"""Idle detection: warn, then end, connected sessions that nobody uses.

What counts as activity, per live connection (``connections`` rows, served by a ``spawn``):

* **A terminal connection** (the ``spawn``'s stdin, stdout or stderr is a pseudo-terminal:
  ``ssh -t``, a plain interactive login) is active when that terminal is read or written: its
  access time moves on input (the user typed) and its modify time on output (a program
  printed), which is what ``w`` shows as IDLE. The kernel moves these in steps of 8 seconds.
  podspawn's own idle warning is output too, so a modify time within
  ``OWN_WRITE_SECONDS`` after the warning went out is not counted.
* **Any other connection** (``ssh host cmd`` without a terminal, sftp, scp, rsync, the
  ``.pod`` tunnel that carries an IDE, its terminals and its forwarded ports) is active when
  its channel carried at least ``TRAFFIC_RATE`` bytes per second, averaged over the time
  since the previous cleanup pass (at least ``MIN_WINDOW`` seconds). The bytes are the
  hand-off processes' (the ``spawn``'s children, ``docker exec``) read plus written counts
  from ``/proc/<pid>/io``, so each byte through the channel counts about twice. SSH
  keepalives and an IDE's heartbeats stay well below that rate: an IDE that stays connected
  but untouched is idle.
* A connection opening or closing moves the session's ``last_activity`` too.

A session's idle time is now minus the latest of these. Cleanup warns its connections once,
``warn_margin`` before ``idle_timeout``, and the first pass after ``idle_timeout`` whose
idle stretch was already warned on an earlier pass ends it like an expired lifetime.
Sessions without a live connection are left to their mode (grace period, persistent).
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from podspawn import log
from podspawn.procs import is_alive
from podspawn.runtime.base import Runtime
from podspawn.services.notices import notify_session
from podspawn.state.activity import io_samples, note_activity, record_io, set_idle_warned
from podspawn.state.records import SessionRow
from podspawn.state.sessions import list_connections, list_sessions

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3

Decision = Literal["keep", "warn", "end"]
SessionKey = tuple[str, str]

#: Bytes per second (read plus written by the hand-off) below which a channel is idle.
TRAFFIC_RATE = 512.0
#: The shortest averaging window, so two passes a moment apart need real traffic too.
MIN_WINDOW = 10.0
#: A terminal's modify time this soon after the idle warning is the warning itself.
OWN_WRITE_SECONDS = 5.0
#: The longest warning margin: five minutes.
MAX_MARGIN = 300.0
#: Device majors of Unix98 pseudo-terminal slaves (``/dev/pts/N``).
_PTY_MAJORS = range(136, 144)


def warn_margin(timeout: float) -> float:
    """How long before ``timeout`` users are warned: five minutes, or a fifth of it."""
    return min(MAX_MARGIN, timeout / 5)


def decide(*, idle: float, timeout: float, warned: bool) -> Decision:
    """What cleanup does with a connected session idle for ``idle`` seconds.

    ``warned`` says the warning for this idle stretch went out on an earlier pass; a session
    is never ended by the pass that first warns it, so a user always gets the warning.
    """
    if timeout <= 0:
        return "keep"
    if idle >= timeout and warned:
        return "end"
    if idle >= timeout - warn_margin(timeout) and not warned:
        return "warn"
    return "keep"


def busy_traffic(delta: int, elapsed: float) -> bool:
    """Whether ``delta`` channel bytes in ``elapsed`` seconds are use, not keepalives."""
    return delta >= TRAFFIC_RATE * max(elapsed, MIN_WINDOW)


def terminal_activity(atime: float, mtime: float, warned_at: float | None) -> float:
    """The latest input or output on a terminal, leaving out our own warning's output."""
    if warned_at is not None and math.floor(warned_at) <= mtime <= warned_at + OWN_WRITE_SECONDS:
        return atime
    return max(atime, mtime)


def last_activity(row: SessionRow, seen: float | None) -> float:
    return max(row.last_activity, seen or 0.0)


def stretch_warned(row: SessionRow, last: float) -> bool:
    """Whether the idle warning on record belongs to the idle stretch ending at ``last``."""
    return row.idle_warned_at is not None and row.idle_warned_at >= last


@dataclass(frozen=True, slots=True)
class Activity:
    """What one look at the connections found, by session."""

    seen: Mapping[SessionKey, float]
    """The latest activity seen on each session's connections (sessions with none left out)."""


def observe(conn: sqlite3.Connection, *, now: float, record: bool) -> Activity:
    """Look at every live connection's terminal times and channel byte counts.

    With ``record``, the byte counts are kept for the next look (cleanup); without, traffic
    is judged against the previous pass's counts and nothing is written (``list``).
    """
    warned = {(r.user, r.project): r.idle_warned_at for r in list_sessions(conn)}
    connections = list_connections(conn)
    previous = io_samples(conn) if connections else {}
    children: dict[int, list[int]] | None = None
    seen: dict[SessionKey, float] = {}
    samples: dict[tuple[int, int], tuple[int, float]] = {}
    for c in connections:
        key = (c.user, c.project)
        times = _terminal_times(c.pid)
        at: float | None = None
        if times is not None:
            at = terminal_activity(*times, warned.get(key))
        else:
            if children is None:
                children = _children_by_parent()
            count = _io_bytes(children.get(c.pid, []))
            if count is not None:
                samples[(c.pid, c.pid_start)] = (count, now)
                before, before_at = previous.get((c.pid, c.pid_start), (-1, 0.0))
                if before >= 0 and busy_traffic(count - before, now - before_at):
                    at = now
        if at is not None and is_alive(c.pid, c.pid_start):
            seen[key] = max(seen.get(key, 0.0), at)
    if record:
        record_io(conn, samples)
    return Activity(seen=seen)


def idle_seconds(row: SessionRow, activity: Activity, now: float) -> float:
    return max(0.0, now - last_activity(row, activity.seen.get((row.user, row.project))))


def enforce(
    *,
    conn: sqlite3.Connection,
    runtime: Runtime,
    row: SessionRow,
    activity: Activity,
    at: float,
) -> Decision:
    """Record the session's activity, then warn or end it if it has been idle too long.

    The caller holds the user's lock (``destroy_session`` needs it).
    """
    from podspawn.services.sessions import destroy_session
    from podspawn.units import format_duration

    last = last_activity(row, activity.seen.get((row.user, row.project)))
    warned = stretch_warned(row, last)
    if last > row.last_activity or (row.idle_warned_at is not None and not warned):
        note_activity(conn, row.user, row.project, last, clear_warning=not warned)
    if row.status != "running" or row.connections == 0:
        return "keep"
    idle = at - last
    decision = decide(idle=idle, timeout=row.idle_timeout, warned=warned)
    where = {"user": row.user, "project": row.project or None,
             "container": row.container_name, "idle": format_duration(idle),
             "idle_timeout": format_duration(row.idle_timeout)}
    if decision == "warn":
        set_idle_warned(conn, row.user, row.project, at)  # first: it marks our own output
        left = max(0.0, row.idle_timeout - idle)
        told = notify_session(
            conn, row.user, row.project, f"this session has been idle for {format_duration(idle)} "
            f"and will be ended in about {format_duration(left)} unless you use it (type "
            "something); save your work")
        log.info("idle warning sent", **where, connections=told)
    elif decision == "end":
        log.info("idle timeout reached, ending session", **where)
        notify_session(conn, row.user, row.project, "this session was idle for "
                       f"{format_duration(idle)} and is being ended", wait=2.0)
        destroy_session(conn=conn, row=row, reason="idle_timeout", runtime=runtime)
    return decision


def _terminal_times(pid: int) -> tuple[float, float] | None:
    """(access, modify) times of the pseudo-terminal the ``spawn`` serves, if it has one.

    Only a pseudo-terminal counts, and only the descriptors ``spawn`` was started with (the
    SSH channel): a regular file or another device there says nothing about the user.
    """
    for fd in (0, 1, 2):
        try:
            st = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _PTY_MAJORS:
            return st.st_atime, st.st_mtime
    return None


def _children_by_parent() -> dict[int, list[int]]:
    """Every process's children, from one walk over ``/proc`` (the kernel here offers no
    ``/proc/<pid>/task/<tid>/children``)."""
    table: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        try:
            table.setdefault(int(fields[1]), []).append(int(name))
        except (IndexError, ValueError):
            continue
    return table


def _io_bytes(pids: list[int]) -> int | None:
    """Bytes read plus written by ``pids`` (``rchar`` + ``wchar``), or None if none is left."""
    total, found = 0, False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/io", encoding="ascii") as fh:
                for line in fh:
                    name, _, value = line.partition(":")
                    if name in ("rchar", "wchar"):
                        total += int(value)
                        found = True
        except (OSError, ValueError):
            continue
    return total if found else None
