"""Reconcile state with reality: expire sessions, repair counts, remove orphans.

One pass, in order: put the packet-filter policy back if it is missing; drop connections
whose process died and start the grace period of sessions left with none; warn users whose
session nears its max lifetime or its idle timeout (``services.idle``); destroy sessions
whose grace period, lifetime or idle timeout is over;
drop rows whose container vanished; remove containers and networks that carry this
installation's id but belong to no row; unmount the staged host binds of sessions that have
no row any more (``services.binds``); remove disposable users whose time is up; drop
timings older than a day (``state.timings``); bring the warm pools to their counts
(``services.pools``). Each item runs under its user's lock and in
its own ``try``, so one failure is logged and the pass goes on.

Only resources labelled with this installation's id are ever removed: local-mode containers
and other installations on the same Docker host are left alone.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from podspawn import audit, labels, log
from podspawn.config.schema import ServerConfig
from podspawn.errors import PodspawnError
from podspawn.lifecycle import abandoned, engine_state, lifetime_expired, on_last_disconnect
from podspawn.locks import user_lock
from podspawn.names import is_valid_user
from podspawn.procs import is_alive
from podspawn.runtime.base import Runtime
from podspawn.services import idle, pool_slots, pools
from podspawn.services.binds import reconcile as reconcile_binds
from podspawn.services.networks import pool_warning
from podspawn.services.notices import notify_session
from podspawn.services.sessions import destroy_session
from podspawn.state.db import install_id
from podspawn.state.records import SessionRow
from podspawn.state.sessions import (
    get_session,
    list_sessions,
    prune_dead,
    set_grace,
    update_session,
)
from podspawn.state.timings import prune_timings
from podspawn.state.users import list_users

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3


@dataclass(frozen=True, slots=True)
class CleanupResult:
    grace_expired: int = 0
    lifetime_expired: int = 0
    orphans_removed: int = 0
    rows_dropped: int = 0
    users_expired: int = 0
    warned: int = 0
    binds_released: int = 0
    idle_ended: int = 0
    pool_warning: str | None = None
    """Set when the session address pool is nearly used up (``services.networks``)."""
    warm_made: int = 0
    """Warm sessions made to bring the pools to their counts (``services.pools``)."""
    warm_drained: int = 0
    """Warm sessions removed: made for an older image or Podfile, or over the count."""


def warn_window(lifetime_seconds: float) -> float:
    """How long before the max lifetime connected users are warned: 10 min, or half of it."""
    return min(600.0, lifetime_seconds / 2)


def run_pass(
    *,
    config: ServerConfig,
    conn: sqlite3.Connection,
    runtime: Runtime,
    now: Callable[[], float] = time.time,
) -> CleanupResult:
    """One reconciliation pass; see the module docstring for the order."""
    counts = {"grace": 0, "lifetime": 0, "orphans": 0, "rows": 0, "users": 0, "warned": 0,
              "binds": 0, "idle": 0}
    _ensure_network_policy(config, conn, runtime)
    prune_dead(conn, is_alive)
    activity = idle.observe(conn, now=now(), record=True)
    for row in list_sessions(conn):
        try:
            with _user_lock(config, row.user):
                current = get_session(conn, row.user, row.project)
                if current is not None:
                    _reconcile_row(config, conn, runtime, current, now(), counts)
                    _check_idle(conn, runtime, current, activity, now(), counts)
        except PodspawnError as exc:
            log.error("cleanup of a session failed", user=row.user, project=row.project or None,
                      error=exc.detail or exc.message)
    _remove_orphans(config, conn, runtime, counts)
    counts["binds"] = reconcile_binds(config.state.db_path, _session_keeper(config, conn))
    _expire_users(config, conn, runtime, now(), counts)
    prune_timings(conn, now())
    warm = pools.fill(config=config, conn=conn, runtime=runtime)
    warning = _pool_warning(config, runtime)
    result = CleanupResult(
        grace_expired=counts["grace"],
        lifetime_expired=counts["lifetime"],
        orphans_removed=counts["orphans"],
        rows_dropped=counts["rows"],
        users_expired=counts["users"],
        warned=counts["warned"],
        binds_released=counts["binds"],
        idle_ended=counts["idle"],
        pool_warning=warning,
        warm_made=warm.made,
        warm_drained=warm.drained,
    )
    log.info(
        "cleanup pass complete",
        grace_expired=result.grace_expired,
        lifetime_expired=result.lifetime_expired,
        orphans_removed=result.orphans_removed,
        idle_ended=result.idle_ended,
    )
    audit.record("cleanup.run", grace_expired=result.grace_expired,
                 lifetime_expired=result.lifetime_expired,
                 orphans_removed=result.orphans_removed, users_expired=result.users_expired)
    return result


def _pool_warning(config: ServerConfig, runtime: Runtime) -> str | None:
    try:
        return pool_warning(config, runtime)
    except PodspawnError as exc:
        log.error("address pool check failed", error=exc.detail or exc.message)
        return None


def _ensure_network_policy(
    config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime
) -> None:
    """Put the packet filter back if a reboot, a dockerd restart or a flush removed it."""
    from podspawn.services.firewall import ensure

    try:
        ensure(config=config, conn=conn, runtime=runtime)
    except PodspawnError as exc:
        log.error("network policy check failed", error=exc.detail or exc.message)


def _user_lock(config: ServerConfig, user: str):  # type: ignore[no-untyped-def]
    return user_lock(config.state.lock_dir, user, timeout=60)


def _reconcile_row(
    config: ServerConfig,
    conn: sqlite3.Connection,
    runtime: Runtime,
    row: SessionRow,
    at: float,
    counts: dict[str, int],
) -> None:
    where = {"user": row.user, "project": row.project or None, "container": row.container_name}
    if lifetime_expired(row, at):
        log.info("max lifetime reached, destroying", **where)
        notify_session(conn, row.user, row.project, "this session reached its maximum "
                       f"lifetime ({config.session.max_lifetime}) and is being ended",
                       wait=2.0)
        destroy_session(conn=conn, row=row, reason="lifetime_expired", runtime=runtime)
        counts["lifetime"] += 1
        return
    if row.status == "starting":
        if abandoned(row):  # its maker died midway
            log.info("session abandoned while starting, removing", **where)
            destroy_session(conn=conn, row=row, reason="abandoned", runtime=runtime)
            counts["rows"] += 1
        return  # else a login is making it right now
    if row.status == "grace_period" and row.grace_expiry is not None and at >= row.grace_expiry:
        log.info("grace period expired, destroying", **where)
        destroy_session(conn=conn, row=row, reason="grace_expired", runtime=runtime)
        counts["grace"] += 1
        return
    if runtime.poll(engine_state(row)) == "gone":
        log.info("container gone, dropping session", **where)
        destroy_session(conn=conn, row=row, reason="container_gone", runtime=runtime)
        counts["rows"] += 1
        return
    if row.connections == 0 and row.status == "running":
        action = on_last_disconnect(row.mode, config.session.grace_seconds)
        if action == "grace":
            set_grace(conn, row.user, row.project, at + config.session.grace_seconds)
            log.info("no live connection, grace period started", **where)
        elif action == "destroy":
            destroy_session(conn=conn, row=row, reason="disconnect", runtime=runtime)
            return
    left = row.max_lifetime - at
    if (row.mode != "persistent" and not row.lifetime_warned and row.connections > 0
            and left <= warn_window(config.session.lifetime_seconds)):
        minutes = max(1, round(left / 60))
        told = notify_session(
            conn, row.user, row.project, "this session reaches its maximum lifetime in about "
            f"{minutes} minute(s) and will then be ended; save your work")
        update_session(conn, row.user, row.project, lifetime_warned=1)
        log.info("lifetime warning sent", **where, connections=told)
        counts["warned"] += told


def _check_idle(
    conn: sqlite3.Connection,
    runtime: Runtime,
    row: SessionRow,
    activity: idle.Activity,
    at: float,
    counts: dict[str, int],
) -> None:
    """Warn or end a session nobody uses (``services.idle``), if ``_reconcile_row`` left it."""
    current = get_session(conn, row.user, row.project)
    if current is None or current.id != row.id:
        return
    decision = idle.enforce(conn=conn, runtime=runtime, row=current, activity=activity, at=at)
    if decision == "warn":
        counts["warned"] += current.connections
    elif decision == "end":
        counts["idle"] += 1


def _remove_orphans(
    config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, counts: dict[str, int]
) -> None:
    iid = install_id(conn)
    ours = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.INSTANCE: iid}
    found = runtime.find(ours)
    counts["orphans"] += pool_slots.remove_orphans(conn, runtime, found)
    found = [f for f in found if labels.POOL not in f.labels]  # the pools' own, just done
    for info in (f for f in found if f.kind == "container"):
        user = info.labels.get(labels.USER, "")
        project = info.labels.get(labels.PROJECT, "")
        try:
            if not is_valid_user(user):
                raise PodspawnError("label without a valid user")
            with _user_lock(config, user):
                if _tracked(get_session(conn, user, project), info.labels):
                    continue
                log.info("removing orphaned container", name=info.name, id=info.id[:12])
                runtime.remove(info, owner=labels.owner(iid, user, project))
                counts["orphans"] += 1
        except PodspawnError as exc:
            log.error("could not remove orphan", name=info.name, error=exc.detail or exc.message)
    for net in (f for f in found if f.kind == "network"):
        user = net.labels.get(labels.USER, "")
        project = net.labels.get(labels.PROJECT, "")
        if is_valid_user(user) and get_session(conn, user, project) is not None:
            continue
        try:
            runtime.remove(net, owner=labels.owner(iid, user, project))
            log.info("removed orphaned network", name=net.name)
        except PodspawnError as exc:
            log.error("could not remove network", name=net.name, error=exc.detail or exc.message)


def _tracked(row: SessionRow | None, object_labels: Mapping[str, str]) -> bool:
    """Whether an object belongs to ``row``'s session: it carries the row's session id.

    Objects of the previous release carry no session id; they belong to a row of that
    release for the same (user, project), and are orphans once a newer session replaced it.
    """
    if row is None:
        return False
    session = object_labels.get(labels.SESSION)
    if session:
        return session == row.id
    return "engine" not in row.runtime_state


def _session_keeper(
    config: ServerConfig, conn: sqlite3.Connection
) -> Callable[[str, str, str], bool]:
    """Whether staged binds still belong to a session: its row exists with that id. Asked
    under the user's lock, so a session still being created is waited for; a busy lock
    keeps the mounts until the next pass."""

    def keep(user: str, project: str, session: str) -> bool:
        try:
            with _user_lock(config, user):
                row = get_session(conn, user, project)
        except PodspawnError as exc:
            log.error("could not check staged binds", user=user, error=exc.detail or exc.message)
            return True
        return row is not None and row.id == session

    return keep


def _expire_users(
    config: ServerConfig,
    conn: sqlite3.Connection,
    runtime: Runtime,
    at: float,
    counts: dict[str, int],
) -> None:
    from podspawn.services.users import remove_user

    for user in list_users(conn):
        if user.expires_at is None or user.expires_at > at:
            continue
        try:
            remove_user(config=config, conn=conn, name=user.name, force=True, runtime=runtime)
            log.info("disposable user expired, removed", user=user.name)
            counts["users"] += 1
        except PodspawnError as exc:
            log.error("could not remove expired user", user=user.name,
                      error=exc.detail or exc.message)


def run_daemon(
    *,
    config: ServerConfig,
    conn: sqlite3.Connection,
    runtime: Runtime,
    interval: float,
    on_pass: Callable[[CleanupResult | None, float], None] | None = None,
) -> None:
    """Run passes every ``interval`` seconds until SIGTERM or SIGINT.

    ``on_pass`` hears of each pass: its result (None when it failed) and how many seconds it
    took; the metrics endpoint counts them.
    """
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("cleanup daemon started", interval=format_interval(interval))
    while not stop.is_set():
        began = time.monotonic()
        result: CleanupResult | None = None
        try:
            result = run_pass(config=config, conn=conn, runtime=runtime)
        except PodspawnError as exc:
            log.error("cleanup pass failed", error=exc.detail or exc.message)
        if on_pass is not None:
            on_pass(result, time.monotonic() - began)
        stop.wait(interval)
    log.info("cleanup daemon stopped")


def format_interval(seconds: float) -> str:
    """Go-style duration text, as the Go implementation logs it (``1m0s``)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{seconds:g}s"
