"""What ``podspawn status`` reports: the server at a glance, and the gauges of ``/metrics``.

Sessions, connections, users and projects come from the state database and the config; the
containers and the address-pool headroom from the engine, counted as ``doctor``'s
``address-pools`` check counts it (:func:`podspawn.services.networks.session_headroom`:
``network.pool`` when set, else the engine's pools). When the engine does not answer, the
summary still reports what the database knows, and says why the rest is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from podspawn import labels
from podspawn.config.schema import ServerConfig
from podspawn.errors import PodspawnError
from podspawn.procs import is_alive
from podspawn.services.networks import session_headroom
from podspawn.services.users import registered_names
from podspawn.state.db import install_id
from podspawn.state.sessions import list_sessions, prune_dead

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3

    from podspawn.runtime.base import Runtime

#: Every status a session row can have; each is reported, with 0 when none has it.
STATUSES = ("running", "grace_period", "starting")


@dataclass(frozen=True, slots=True)
class EngineSummary:
    containers: int
    """Containers of this installation (sessions and companions, running or not)."""
    pool_capacity: int
    """Bridge subnets the engine's address pools hold; each session takes one."""
    pool_free: int
    pools_source: str


@dataclass(frozen=True, slots=True)
class WarmPool:
    target: int
    """``defaults.warm`` or ``projects.NAME.warm``."""
    ready: int
    starting: int


@dataclass(frozen=True, slots=True)
class Summary:
    sessions: dict[str, int]
    """Sessions by status, every status of :data:`STATUSES` present."""
    connections: int
    users: int
    projects: int
    oldest_session_seconds: float | None
    """The age of the oldest session (None: no session)."""
    engine: EngineSummary | None
    engine_error: str = ""
    """Why ``engine`` is None."""
    warm: dict[str, WarmPool] = field(default_factory=dict)
    """Warm pools by environment (project name, "" for the default), each that has a
    count or slots (``services.pools``)."""

    @property
    def total_sessions(self) -> int:
        return sum(self.sessions.values())


def summarize(*, config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime | None = None,
              now: float | None = None) -> Summary:
    """The server's state now; dead connections are dropped first, so counts are true.

    ``runtime`` is reused when given (the metrics daemon asks at every scrape); otherwise
    one is made for this call.
    """
    prune_dead(conn, is_alive)
    at = time.time() if now is None else now
    rows = list_sessions(conn)
    by_status = dict.fromkeys(STATUSES, 0)
    for row in rows:
        by_status[row.status] = by_status.get(row.status, 0) + 1
    oldest = max((at - row.created_at for row in rows), default=None)
    engine, why = _engine(config, install_id(conn), runtime)
    return Summary(
        sessions=by_status,
        connections=sum(row.connections for row in rows),
        users=len(registered_names(config=config, conn=conn)),
        projects=len(config.projects),
        oldest_session_seconds=None if oldest is None else max(0.0, oldest),
        engine=engine,
        engine_error=why,
        warm=_warm(config, conn),
    )


def _warm(config: ServerConfig, conn: sqlite3.Connection) -> dict[str, WarmPool]:
    from podspawn.services.pool_slots import targets
    from podspawn.state.pools import list_members

    wanted, members = targets(config), list_members(conn)
    return {name: WarmPool(
        target=wanted.get(name, 0),
        ready=sum(m.project == name and m.status == "ready" for m in members),
        starting=sum(m.project == name and m.status == "starting" for m in members))
        for name in sorted({*wanted, *(m.project for m in members)})}


def _engine(config: ServerConfig, iid: str, runtime: Runtime | None
            ) -> tuple[EngineSummary | None, str]:
    from podspawn.runtime import get_runtime
    from podspawn.runtime.facts import engine_facts

    try:
        facts = engine_facts(config.runtime.backend)
        runtime = runtime or get_runtime(config.runtime.backend)
        found = runtime.find({labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
                              labels.INSTANCE: iid})
    except PodspawnError as exc:  # the detail names the endpoint and what it said
        return None, str(exc.detail or exc.message).removeprefix("answer: ")
    room, source = session_headroom(config, facts)
    return EngineSummary(
        containers=sum(1 for f in found if f.kind == "container"),
        pool_capacity=room.capacity,
        pool_free=room.left,
        pools_source=source,
    ), ""
