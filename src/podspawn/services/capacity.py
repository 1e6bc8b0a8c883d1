"""What a new session must fit in: free disk (``state.min_free``) and the user's session
quota (``resources.max_per_user``).

Both are checked only when a login is about to reserve a new session, under the user's
lock and before the ``starting`` row is written, so a refusal leaves no row and no
container, and a login that joins a running session pays for neither.

* The disk guard measures the filesystem of the state database and the one of the
  engine's data (Docker's ``DockerRootDir``, from the runtime's facts; only the state's
  when the engine's is unknown here). A full disk breaks image layers and SQLite writes
  halfway; refusing early keeps both whole, and running sessions still attach.
* The quota does not count against the user a session that nobody uses: when it is full,
  the session idle longest (no connection, not ``persistent``) is ended to make room and
  the user is told so in one line. Only when every session is connected (or persistent) is
  the login refused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from podspawn import log
from podspawn.config.schema import ServerConfig
from podspawn.errors import LimitReached
from podspawn.state.sessions import list_sessions
from podspawn.units import parse_size

if TYPE_CHECKING:
    import sqlite3

    from podspawn.state.records import SessionRow

STATE_ROLE = "podspawn's state"
ENGINE_ROLE = "the container engine's data"


@dataclass(frozen=True, slots=True)
class Filesystem:
    """One filesystem the disk guard watches, as measured."""

    roles: tuple[str, ...]
    """What podspawn keeps there, for the user's sentence (never a host path)."""
    path: str
    """The directory measured, for the operator's log."""
    device: int
    free: int
    """Bytes an unprivileged writer may still use (``df``'s *Avail*)."""


def measure(role: str, path: str) -> Filesystem | None:
    """The filesystem holding ``path``, or None when ``path`` is not there to measure."""
    try:
        st, vfs = os.stat(path), os.statvfs(path)
    except OSError:
        return None
    return Filesystem(roles=(role,), path=path, device=st.st_dev,
                      free=vfs.f_bavail * vfs.f_frsize)


def low_filesystems(measured: Iterable[Filesystem | None], minimum: int) -> list[Filesystem]:
    """The filesystems with less than ``minimum`` bytes free (0: none is ever low), each
    once with every role it holds."""
    by_device: dict[int, Filesystem] = {}
    for fs in measured:
        if fs is None:
            continue
        seen = by_device.get(fs.device)
        by_device[fs.device] = fs if seen is None else Filesystem(
            roles=(*seen.roles, *fs.roles), path=seen.path, device=seen.device, free=seen.free)
    return [fs for fs in by_device.values() if minimum and fs.free < minimum]


def human_size(size: int) -> str:
    """``size`` bytes the way config sizes are written: ``1.5G``, ``640M``, ``3T``."""
    for unit, factor in (("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", 1024**2),
                         ("K", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + unit
    return f"{size}B"


def disk_refusal(fs: Filesystem, min_free: str) -> str:
    """The sentence refusing a new session on a filesystem below ``state.min_free``."""
    return (f"this server is low on disk space: the filesystem of {' and '.join(fs.roles)} "
            f"has {human_size(fs.free)} free, less than state.min_free ({min_free}); no new "
            "session can start until an administrator frees space there, but sessions that "
            "are already running still attach")


def check_disk(config: ServerConfig, backend: str) -> None:
    """Refuse a new session when a filesystem it would write to is low (``state.min_free``).

    Raises:
        LimitReached: the state's or the engine's filesystem has less than
            ``state.min_free`` free; the log names the directory measured.
    """
    minimum = parse_size(config.state.min_free)
    if not minimum:
        return
    from podspawn.runtime.facts import engine_data_root

    watched = [measure(STATE_ROLE, os.path.dirname(config.state.db_path))]
    root = engine_data_root(backend)
    if root:
        watched.append(measure(ENGINE_ROLE, root))
    low = low_filesystems(watched, minimum)
    if low:
        fs = low[0]
        log.warning("low on disk, new session refused", filesystem=fs.path,
                    holds=", ".join(fs.roles), free=human_size(fs.free),
                    min_free=config.state.min_free)
        raise LimitReached(disk_refusal(fs, config.state.min_free),
                           detail=f"{fs.path} has {fs.free} bytes free")


def idle_sessions(rows: Sequence[SessionRow]) -> list[SessionRow]:
    """The sessions that may be ended to make room, idle longest first: no connection, not
    being made, and not ``persistent`` (kept on purpose while nobody is connected)."""
    idle = [r for r in rows if r.connections == 0 and r.status != "starting"
            and r.mode != "persistent"]
    return sorted(idle, key=lambda r: (r.last_activity, r.created_at))


def quota_refusal(rows: Sequence[SessionRow], limit: int) -> str:
    """The sentence refusing a session over ``resources.max_per_user``."""
    names = ", ".join(r.project or "(default)" for r in rows)
    return (f"you already have {len(rows)} session(s) ({names}) and the limit is {limit} "
            "(resources.max_per_user), and each has a connection open or is persistent: "
            "close every connection to one of them and log in again, or ask an "
            "administrator to stop one")


def make_room(
    conn: sqlite3.Connection, config: ServerConfig, user: str, *,
    end: Callable[[SessionRow], None], notify: Callable[[str], None] | None,
) -> None:
    """Free a slot under ``resources.max_per_user`` for one more session of ``user``.

    Ends idle sessions (``end`` removes one; the caller holds the user's lock), oldest idle
    first, until one more fits; one that cannot be removed is passed over.

    Raises:
        LimitReached: the quota is full and no session is idle.
    """
    limit = config.resources.max_per_user
    if not limit:
        return
    held = list_sessions(conn, user)
    tried: set[str] = set()
    while len(held) >= limit:
        idle = [r for r in idle_sessions(held) if r.id not in tried]
        if not idle:
            raise LimitReached(quota_refusal(held, limit))
        victim = idle[0]
        tried.add(victim.id)
        end(victim)
        held = list_sessions(conn, user)
        if any(r.id == victim.id for r in held):
            continue  # its removal failed and was logged; it stays until cleanup retries
        since = time.strftime("%H:%M UTC", time.gmtime(victim.last_activity))
        label = victim.project or "(default)"
        log.info("ended idle session to make room", user=user, project=victim.project or None,
                 container=victim.container_name, idle_since=since, limit=limit)
        if notify is not None:
            notify(f"Ended your idle session {label} (no connection since {since}) to make "
                   f"room for this one: the limit is {limit} session(s) "
                   "(resources.max_per_user).")
