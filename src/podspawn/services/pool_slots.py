"""Warm-pool slots as engine objects and rows: which fit a login, claiming one, removing
one, and what no row stands for. ``services.pools`` fills and drains the pools with this;
``services.sessions`` claims through it (see ``services.pools`` for the whole story).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping

from podspawn import audit, labels, log
from podspawn.config.schema import ServerConfig
from podspawn.errors import PodspawnError
from podspawn.runtime.base import Found, Runtime
from podspawn.runtime.spec import SessionSpec
from podspawn.state.db import install_id
from podspawn.state.pools import (
    PoolMember,
    all_claimed_slots,
    claim_member,
    claimed_slot,
    drop_member,
    forget_claim,
    list_members,
)
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import abandon_session, get_session, list_sessions

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

    from podspawn.services.sessions import Plan

#: How many dead slots one claim looks past before it starts a session the usual way.
_CLAIM_TRIES = 3


def targets(config: ServerConfig) -> dict[str, int]:
    """How many warm sessions each environment keeps: project name, "" for the default."""
    wanted = {name: int(entry.get("warm") or 0) for name, entry in config.projects.items()}
    wanted[""] = config.defaults.warm
    return {name: count for name, count in wanted.items() if count > 0}


def fingerprint(spec: SessionSpec) -> str:
    """What a running container cannot change, hashed: a slot serves a user only if this is
    the same for the slot's spec and the user's (image, workspace, companions, limits,
    hardening...). Names, ids, user, hostname and environment are left out: a claim sets the
    user, and the environment goes with every command."""
    neutral = dataclasses.replace(spec, session_id="", install_id="", user="", hostname="",
                                  env={}, pool="", volumes_from="")
    text = json.dumps(dataclasses.asdict(neutral), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def remove_slot(conn: sqlite3.Connection, runtime: Runtime, iid: str, member: PoolMember, *,
            reason: str) -> int:
    """Remove an unclaimed slot's containers, network and volumes, then its row; 1 when
    it is all gone (a failure keeps the row, for the next pass)."""
    owner = {**labels.pool_owner(iid, member.project, member.slot),
             labels.SESSION: member.session_id}
    failures = runtime.stop_session(member.engine, owner=owner)
    failures += _remove_volumes(runtime, labels.pool_owner(iid, member.project, member.slot))
    if failures:
        log.error("warm session not removed, will retry", slot=member.slot,
                  failures="; ".join(failures))
        return 0
    drop_member(conn, member.slot)
    log.info("warm session removed", project=member.project or None, slot=member.slot,
             reason=reason)
    return 1


def _remove_volumes(runtime: Runtime, owner: Mapping[str, str]) -> list[str]:
    failures: list[str] = []
    try:
        for found in runtime.find(owner):
            if found.kind == "volume":
                try:
                    runtime.remove(found, owner=owner)
                except PodspawnError as exc:
                    failures.append(f"{found.name}: {exc.detail or exc.message}")
    except PodspawnError as exc:
        failures.append(f"listing: {exc.detail or exc.message}")
    return failures


def remove_claimed_volumes(conn: sqlite3.Connection, runtime: Runtime, user: str) -> list[str]:
    """Remove the volumes of every slot ``user`` claimed and forget the claims
    (``remove-user``); what cannot go is returned and its claim kept."""
    from podspawn.state.pools import claims_of

    iid = install_id(conn)
    failures: list[str] = []
    for project, slot in claims_of(conn, user):
        failed = _remove_volumes(runtime, labels.pool_owner(iid, project, slot))
        if failed:
            failures += failed
        else:
            forget_claim(conn, user, project)
    return failures


# -- claiming (a first login) -------------------------------------------------------------


def claim(*, config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, plan: Plan,
          spec: SessionSpec, row: Callable[[PoolMember], SessionRow], connection: Connection
          ) -> SessionRow | None:
    """Under the user's lock: take a ready slot for ``plan`` and reserve the session row
    on it (``row`` makes that row of the slot), counting ``connection``. ``spec`` is the
    session the user would get without a pool, to compare with the slots. None when no slot
    fits: the caller starts a session as usual. The caller finishes the claim without the
    lock (``services.sessions.claim_session``)."""
    project = plan.project
    if targets(config).get(project, 0) == 0 and not list_members(conn, project):
        return None
    if plan.settings.mode == "persistent" or claimed_slot(conn, plan.user, project):
        return None
    iid = install_id(conn)
    holds_data = (bool(spec.workspace) or bool(spec.volumes)
                  or any(c.volumes for c in spec.companions))
    if holds_data and _has_volumes(runtime, labels.owner(iid, plan.user, project)):
        return None  # not a first login: the user's own workspace must be mounted
    wanted = fingerprint(spec)
    for _ in range(_CLAIM_TRIES):
        member = claim_member(conn, user=plan.user, project=project, fingerprint=wanted,
                              session=row,
                              connection=connection)
        if member is None:
            return None
        if runtime.poll(member.engine) == "running":
            audit.record("pool.claim", user=plan.user, project=project, slot=member.slot)
            log.info("claimed warm session", user=plan.user, project=project or None,
                     slot=member.slot)
            return get_session(conn, plan.user, project)
        log.warning("warm session was not running; removed", slot=member.slot)
        abandon_session(conn, plan.user, project, member.session_id)
        forget_claim(conn, plan.user, project)
        remove_slot(conn, runtime, iid, member, reason="dead")
    return None


def _has_volumes(runtime: Runtime, owner: Mapping[str, str]) -> bool:
    return any(found.kind == "volume" for found in runtime.find(owner))


def tracked_slots(conn: sqlite3.Connection) -> dict[str, str]:
    """slot -> session id of every slot a pool row or a session row stands for."""
    found = {m.slot: m.session_id for m in list_members(conn)}
    for row in list_sessions(conn):
        slot = str(row.runtime_state.get("pool") or "")
        if slot:
            found[slot] = row.id
    return found


def remove_orphans(conn: sqlite3.Connection, runtime: Runtime, found: list[Found]) -> int:
    """Remove containers and networks of slots that no row stands for (a crash between two
    steps). Volumes of a claimed slot are the user's and stay."""
    iid = install_id(conn)
    tracked = tracked_slots(conn)
    claimed = all_claimed_slots(conn)
    removed = 0
    for info in found:
        slot = info.labels.get(labels.POOL, "")
        if not slot:
            continue
        if info.kind == "volume":
            if slot in claimed or slot in tracked:
                continue  # a claimed slot's volumes are its user's
        elif tracked.get(slot) == info.labels.get(labels.SESSION, ""):
            continue
        owner = labels.pool_owner(iid, info.labels.get(labels.PROJECT, ""), slot)
        try:
            runtime.remove(info, owner=owner)
            removed += 1
            log.info("removed orphaned warm-pool object", name=info.name, kind=info.kind)
        except PodspawnError as exc:
            log.error("could not remove orphaned warm-pool object", name=info.name,
                      error=exc.detail or exc.message)
    return removed
