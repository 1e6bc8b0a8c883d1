"""Warm pools: sessions made before anyone asks, so that a first login only claims one.

``projects.NAME.warm: N`` (and ``defaults.warm`` for the default environment) keeps N ready,
unassigned sessions of that environment, each with its network, companion services and a
fresh workspace volume. The cleanup pass (and its daemon) makes what is missing and drains
what no longer fits: a slot made for an older image or Podfile (``update-project``), or one
over the count.

A slot is claimed by one user, once, by a user's first login to the environment (one with no
workspace or service volume of it yet): the slot's row goes in the same transaction that
records the claim, so two logins can never share one. The claim makes the container the
user's without a restart: their account with their host uid and name, the workspace handed
to that uid, dotfiles and ``on_start``; the user's environment (Podfile ``env``, their
overrides) goes with every command instead of the container's, and the hostname stays the
slot's (``podspawn-<project>``): neither can change in a running container. Engine objects
keep the slot's names and labels, which cannot change either, so the session row records the
slot (``runtime_state["pool"]``) and ``pool_claims`` records that the slot's volumes are now
this user's: their later sessions mount them (``SessionSpec.volumes_from``) and
``remove-user`` removes them.

A login is never worse off for a pool: when no slot fits (the user's overrides change the
container's limits or image, a persistent home, a pool that is empty) it starts a session as
it would without one.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from dataclasses import dataclass

from podspawn import log
from podspawn.config.schema import ServerConfig
from podspawn.errors import PodspawnError
from podspawn.procs import is_alive, start_time
from podspawn.runtime.base import Runtime
from podspawn.runtime.spec import SessionSpec
from podspawn.services.capacity import check_disk
from podspawn.services.networks import address_pool
from podspawn.services.pool_slots import fingerprint, remove_slot, targets
from podspawn.services.sessions import Plan, plan_for, session_spec
from podspawn.state.db import install_id
from podspawn.state.pools import PoolMember, add_member, list_members, mark_ready

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

#: A pool stops growing while fewer session subnets than this are free: they are kept for
#: logins, which matter more than a warm start.
SUBNETS_KEPT_FOR_LOGINS = 8
#: How many dead slots one claim looks past before it starts a session the usual way.
_CLAIM_TRIES = 3


@dataclass(frozen=True, slots=True)
class FillResult:
    made: int = 0
    drained: int = 0
    failed: int = 0


def slot_plan(runtime: Runtime, config: ServerConfig, project: str) -> Plan:
    """The plan of a slot of ``project``: the project's (or default) environment, no user."""
    return plan_for(runtime=runtime, config=config, user="", project=project, uid=0, gid=0,
                    progress=None)


# -- filling and draining (the cleanup pass) ----------------------------------------------


def fill(*, config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime) -> FillResult:
    """Bring every pool to its count: drop slots whose maker died, drain slots that no
    longer fit, make what is missing. One slot's failure is logged and the pass goes on."""
    made = drained = failed = 0
    iid = install_id(conn)
    wanted = targets(config)
    members = list_members(conn)
    for member in members:
        if member.status == "starting" and not is_alive(member.maker_pid, member.maker_start):
            drained += remove_slot(conn, runtime, iid, member, reason="maker_died")
    members = list_members(conn)
    for project in sorted({*wanted, *(m.project for m in members)}):
        count = wanted.get(project, 0)
        mine = [m for m in members if m.project == project]
        try:
            plan = slot_plan(runtime, config, project) if count else None
        except PodspawnError as exc:
            log.error("warm pool cannot be filled", project=project or None,
                      error=exc.detail or exc.message)
            plan = None
        spec = _slot_spec(config, plan, iid, "0" * 12, "") if plan else None
        # host binds are staged per session and user (services.binds): no slot has them
        if spec is not None and plan is not None and (
                any(c.binds for c in spec.companions) or _binds_host(plan)):
            log.warning("warm pool skipped: its companion services bind host directories",
                        project=project or None)
            plan = spec = None
        current = fingerprint(spec) if spec else ""
        fitting = [m for m in mine if m.fingerprint == current]
        for member in [m for m in mine if m.fingerprint != current] + fitting[count:]:
            drained += remove_slot(conn, runtime, iid, member, reason="drained")
        if plan is None:
            continue
        for _ in range(count - len(fitting[:count])):
            if not _room_for_one(config, runtime):
                break
            try:
                _make_one(config, conn, runtime, iid, plan, current)
                made += 1
            except PodspawnError as exc:
                failed += 1
                log.error("warm session could not be made", project=project or None,
                          error=exc.detail or exc.message)
                break
    if made or drained:
        log.info("warm pools filled", made=made, drained=drained, failed=failed)
    return FillResult(made=made, drained=drained, failed=failed)


def drain(*, config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime,
          project: str) -> int:
    """Remove every unclaimed slot of ``project`` (``update-project``, ``remove-project``);
    the next cleanup pass makes new ones from what the project is now."""
    iid = install_id(conn)
    return sum(remove_slot(conn, runtime, iid, member, reason="drained")
               for member in list_members(conn, project))


def _slot_spec(config: ServerConfig, plan: Plan, iid: str, slot: str,
               session_id: str) -> SessionSpec:
    return session_spec(config, plan, session_id=session_id, install_id=iid, pool=slot)


def _binds_host(plan: Plan) -> bool:
    """Whether the dev container binds a host directory (the Podfile's ``volumes``)."""
    from podspawn.services.companions import split_volumes

    return plan.podfile is not None and bool(split_volumes(plan.podfile.volumes)[1])


def _room_for_one(config: ServerConfig, runtime: Runtime) -> bool:
    """Whether one more slot leaves logins their disk and address space."""
    try:
        check_disk(config, runtime.name)
        pool = address_pool(config)
        if pool is not None and runtime.network_headroom(pool).left <= SUBNETS_KEPT_FOR_LOGINS:
            log.warning("warm pool not grown: the address pool is nearly used up",
                        pool=pool.base)
            return False
    except PodspawnError as exc:
        log.warning("warm pool not grown", reason=exc.detail or exc.message)
        return False
    return True


def _make_one(config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, iid: str,
              plan: Plan, current: str) -> None:
    from podspawn.services.companions import require_images

    slot, session_id = uuid.uuid4().hex[:12], uuid.uuid4().hex
    pid = os.getpid()
    member = PoolMember(slot=slot, project=plan.project, session_id=session_id,
                        fingerprint=current, image=plan.image, status="starting", engine={},
                        created_at=time.time(), maker_pid=pid, maker_start=start_time(pid) or 0)
    add_member(conn, member)
    spec = _slot_spec(config, plan, iid, slot, session_id)
    try:
        if plan.podfile is not None:
            require_images(runtime, plan.podfile.services, plan.project)
        engine = runtime.start_session(spec)
    except BaseException:
        remove_slot(conn, runtime, iid, member, reason="failed")
        raise
    if not mark_ready(conn, slot, engine):  # drained while it was being made
        remove_slot(conn, runtime, iid, dataclasses.replace(member, engine=engine),
                    reason="drained")
        return
    log.info("warm session ready", project=plan.project or None, slot=slot)


