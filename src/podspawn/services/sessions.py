"""Sessions: find, repair, create and destroy a user's container for (user, project).

A login (``open_session``) holds the user's lock only for short bookkeeping, never while
anything slow runs. Under the lock it either joins the running session or *reserves* the
pair with a ``starting`` row that counts this connection; without the lock it then makes the
network, services and container, sets up the user and runs ``on_start``; under the lock
again it *finishes* the row. So one login stuck in a slow ``on_start`` delays neither the
same user's login to another project nor ``remove-user`` or ``stop``, which may end a session
midway: the maker then finds its row gone, removes what it made and says so. A second login
to the same pair waits for the first one's result instead of making a second container.

A ``starting`` row whose maker died has no live connection left (``lifecycle.abandoned``);
the next login or cleanup pass removes what it left, found by its session-id label.

``destroy_session`` assumes the caller holds the lock (a ``flock``: taking it twice in one
process would wait forever).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from podspawn import audit, labels, log
from podspawn.config.schema import ServerConfig
from podspawn.errors import (
    PermissionDenied,
    RuntimeFailure,
    SessionNotFound,
    StateError,
)
from podspawn.lifecycle import abandoned, backend, engine_state, expired, grace_expired
from podspawn.locks import user_lock
from podspawn.names import (
    container_name,
    hostname,
    pool_hostname,
    validate_project,
    validate_user,
)
from podspawn.procs import is_alive
from podspawn.quotas import check_connections
from podspawn.runtime import get_runtime
from podspawn.runtime.base import Runtime
from podspawn.runtime.spec import (
    Bind,
    CompanionSpec,
    EngineState,
    Hardening,
    Limits,
    SessionSpec,
    Volume,
)
from podspawn.services.binds import BindPolicy, session_staging
from podspawn.services.binds import release as release_binds
from podspawn.services.capacity import check_disk, make_room
from podspawn.services.companions import companion_specs, require_images, stager
from podspawn.services.firewall import guard_login
from podspawn.services.images import ensure_layer
from podspawn.services.limits import clamp_cpus, clamp_memory
from podspawn.services.networks import address_pool
from podspawn.services.overrides import Effective, effective
from podspawn.services.personalise import personalise, set_up_user
from podspawn.state.db import install_id
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import (
    abandon_session,
    add_connection,
    delete_session,
    finish_session,
    get_session,
    prune_dead,
    reserve_session,
)
from podspawn.units import parse_memory

if TYPE_CHECKING:
    import sqlite3

    from podspawn.podfile import Podfile
    from podspawn.state.pools import PoolMember

Progress = Callable[[str], None]

_NO_STATE: Mapping[str, Any] = {}

#: How long a login waits for the same user's other login that is making this session.
START_WAIT_SECONDS = 900.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What a new session of (user, project) will be, decided before any lock is taken."""

    user: str
    project: str
    image: str
    settings: Effective
    podfile: Podfile | None
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Made:
    """What making a session created: enough to record it, or to remove it again."""

    engine: EngineState
    """The backend's state of the session (opaque here)."""
    shell: str
    home: str
    workdir: str
    binds: str = ""
    """The staging directory of the services' host binds (``services.binds``), or ""."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The session's environment when its container does not carry it (a claimed warm
    session): the login passes it with every command."""


@dataclass(frozen=True, slots=True)
class StartPlan:
    """How a reserved session will be started, decided from its :class:`Plan` alone."""

    spec: SessionSpec
    """The session as backend-neutral data; ``home`` is filled in when it has been made."""
    binds: BindPolicy
    """Where the companions may bind host directories from, and where they are staged."""
    home_target: str
    """Where a persistent home is mounted in the container, or "" for none."""


def _stderr_progress(message: str) -> None:
    try:
        sys.stderr.write(message + "\r\n" if os.isatty(2) else message + "\n")
        sys.stderr.flush()
    except OSError:
        pass


def open_session(
    *,
    config: ServerConfig,
    conn: sqlite3.Connection,
    connection: Connection,
    runtime: Runtime | None = None,
    progress: Progress | None = _stderr_progress,
) -> SessionRow:
    """Join or create the session for ``connection`` and count the connection in it.

    Raises:
        PermissionDenied: the project's access list leaves this user out; nothing is made.
        LimitReached: the user already holds ``resources.max_per_user`` sessions and none
            is idle, or ``resources.max_connections_per_user`` connections, or the disk is
            below ``state.min_free`` (``services.capacity``); nothing is made.
        SetupError: the packet-filter policy is not in place and cannot be installed.
        ImageUnavailable: the session's image is missing and cannot be pulled.
        SessionNotFound: the session was ended (``stop``, ``remove-user``) while starting.
        StateError: another login of this user has been making the session for too long.
        RuntimeUnavailable, RuntimeFailure: the engine is down or refused.
    """
    runtime = runtime or get_runtime(config.runtime.backend)
    user, project = connection.user, connection.project
    check_access(config, user, project)
    # before any container of this login starts or restarts (a reboot empties the filter)
    guard_login(config=config, conn=conn, runtime=runtime)
    plan = plan_session(runtime=runtime, config=config, user=user, project=project,
                        progress=progress)
    deadline = time.monotonic() + START_WAIT_SECONDS
    announced = False
    while True:
        with _user_lock(config, user):
            joined, reserved = _join_or_reserve(config, conn, runtime, plan, connection,
                                                progress)
        if joined is not None:
            return joined
        if reserved is not None:
            return _make(config, conn, runtime, plan, reserved, progress)
        if time.monotonic() > deadline:
            raise StateError(
                "your other login is still starting this session; try again in a minute",
                detail=f"waited {START_WAIT_SECONDS:.0f}s for {user}/{project or '-'}",
            )
        if progress and not announced:
            progress("Waiting for your other login, which is starting this session...")
            announced = True
        time.sleep(0.25)


def check_access(config: ServerConfig, user: str, project: str) -> None:
    """Refuse a user outside a project's ``users``/``groups`` access list.

    Raises:
        PermissionDenied: the project has an access list and the user is on neither part.
    """
    from podspawn.access import check

    entry = config.projects.get(project) if project else None
    if entry is not None:
        check(user, project, entry.get("users"), entry.get("groups"))


def _user_lock(config: ServerConfig, user: str) -> AbstractContextManager[None]:
    return user_lock(config.state.lock_dir, user)


def _join_or_reserve(
    config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, plan: Plan,
    connection: Connection, progress: Progress | None = None,
) -> tuple[SessionRow | None, SessionRow | None]:
    """Under the user's lock: (the joined row, None), (None, a fresh reservation), or
    (None, None) while another login of this user is still making the session."""
    user, project = plan.user, plan.project
    prune_dead(conn, is_alive)
    check_connections(conn, user, config.resources.max_connections_per_user)
    row = get_session(conn, user, project)
    if row is not None:
        if row.status == "starting" and not abandoned(row):
            return None, None
        reason = "abandoned" if row.status == "starting" else ""
        if not reason:
            status = runtime.poll(engine_state(row))
            now = time.time()
            if status != "gone" and not expired(row, now):
                if status == "stopped":
                    log.info("restarting stopped container", user=user,
                             container=row.container_name)
                    runtime.resume(engine_state(row))
                add_connection(conn, connection)
                return row, None
            reason = "container_gone" if status == "gone" else (
                "grace_expired" if grace_expired(row, now) else "lifetime_expired")
        destroy_session(conn=conn, row=row, reason=reason, runtime=runtime)
        if get_session(conn, user, project) is not None:
            raise RuntimeFailure(
                "your previous session could not be removed; try again in a minute, or ask "
                "an administrator to check the podspawn log"
            )
    check_disk(config, runtime.name)
    make_room(conn, config, user, notify=progress, end=lambda idle: destroy_session(
        conn=conn, row=idle, reason="made_room", runtime=runtime))
    from podspawn.services.pool_slots import claim

    claimed = claim(conn=conn, runtime=runtime, config=config, plan=plan,
                    spec=session_spec(config, plan, session_id="", install_id=install_id(conn)),
                    row=lambda slot: _reservation(config, plan, runtime.name, slot),
                    connection=connection)
    if claimed is not None:
        return None, claimed
    reserved = _reservation(config, plan, runtime.name)
    reserve_session(conn, reserved, connection)
    return None, get_session(conn, user, project)


def _reservation(config: ServerConfig, plan: Plan, backend_name: str,
                 slot: PoolMember | None = None) -> SessionRow:
    """The ``starting`` row of a new session, or of one claimed from the warm-pool ``slot``
    (its ids, its engine state and the slot, whose labels its objects carry)."""
    import uuid

    now = time.time()
    state: dict[str, Any] = {"version": 2, "backend": backend_name}
    if slot is not None:
        state.update(engine=slot.engine, pool=slot.slot)
    return SessionRow(
        id=slot.session_id if slot else uuid.uuid4().hex,
        user=plan.user,
        project=plan.project,
        container_id=str(slot.engine.get("container") or "") if slot else "",
        container_name=(str(slot.engine.get("name") or "") if slot
                        else container_name(plan.user, plan.project)),
        image=plan.image,
        status="starting",
        connections=0,
        created_at=now,
        last_activity=now,
        max_lifetime=now + config.session.lifetime_seconds,
        mode=plan.settings.mode,
        idle_timeout=plan.settings.idle_timeout,
        runtime_state=state,
    )


def _make(
    config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, plan: Plan,
    row: SessionRow, progress: Progress | None,
) -> SessionRow:
    """Make the reserved session without the user's lock (or finish claiming the warm one
    it stands for), then record it under the lock."""
    try:
        if row.runtime_state.get("pool"):
            made = claim_session(config=config, conn=conn, runtime=runtime, plan=plan,
                                 row=row, progress=progress)
        else:
            made = create_session(config=config, conn=conn, runtime=runtime, plan=plan,
                                  session_id=row.id, progress=progress)
    except BaseException:
        with _user_lock(config, plan.user):
            abandon_session(conn, plan.user, plan.project, row.id)
        raise
    return record_session(config=config, conn=conn, runtime=runtime, plan=plan, row=row,
                          made=made)


def record_session(
    *, config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, plan: Plan,
    row: SessionRow, made: Made,
) -> SessionRow:
    """Under the user's lock, turn the reservation ``row`` into a running session of ``made``.

    Raises:
        SessionNotFound: ``stop`` or ``remove-user`` ended the session while it was being
            made; what was made has been removed again.
    """
    state = {**row.runtime_state, "backend": runtime.name, "engine": made.engine,
             "shell": made.shell, "home": made.home, "workdir": made.workdir,
             "binds": made.binds}
    if made.env:
        state["env"] = dict(made.env)
    with _user_lock(config, plan.user):
        recorded = finish_session(conn, plan.user, plan.project, row.id, runtime_state=state)
        final = get_session(conn, plan.user, plan.project) if recorded else None
    if final is None:
        _remove_made(runtime, install_id(conn), plan, row.id, made, row.runtime_state)
        log.info("session ended while it was starting", user=plan.user,
                 project=plan.project or None)
        raise SessionNotFound(
            "your session was ended by an administrator while it was starting; log in again "
            "if you still have access"
        )
    log.info("created session", user=plan.user, project=plan.project or None,
             container=row.container_name, image=plan.image)
    audit.record("container.create", user=plan.user, project=plan.project,
                 container=row.container_name, image=plan.image, mode=row.mode)
    return final


def plan_session(
    *, runtime: Runtime, config: ServerConfig, user: str, project: str,
    progress: Progress | None,
) -> Plan:
    """The image, settings, Podfile and ids of a new session, before any lock is taken.

    A registered project uses its Podfile's image (built once, shared by every user, and
    without holding the user's lock, so it never blocks their other projects); anything
    else uses the default image plus podspawn's layer.

    Raises:
        PermissionDenied: the user has no host account to take a uid from.
    """
    uid, gid = host_ids(user)
    return plan_for(runtime=runtime, config=config, user=user, project=project, uid=uid,
                    gid=gid, progress=progress)


def plan_for(
    *, runtime: Runtime, config: ServerConfig, user: str, project: str, uid: int, gid: int,
    progress: Progress | None,
) -> Plan:
    """:func:`plan_session` for known ids; ``user`` "" plans a warm-pool slot, with no
    user's overrides (``services.pools``)."""
    if project and project in config.projects:
        from podspawn.services.projects import project_image

        image, loaded = project_image(runtime=runtime, config=config, project=project)
        podfile = loaded.podfile
        base = replace(  # the Podfile's requests, clamped to today's ceilings
            config.defaults,
            shell=podfile.shell,
            cpus=clamp_cpus(config, podfile.resources.cpus) or config.defaults.cpus,
            memory=clamp_memory(config, podfile.resources.memory) or config.defaults.memory,
        )
        settings = effective(
            config, user, project_mode=str(config.projects[project].get("mode", "")),
            podfile_mode=podfile.mode or "", base=base,
            project_idle=str(config.projects[project].get("idle_timeout", "")),
        )
        return Plan(user=user, project=project, image=image, settings=settings,
                    podfile=podfile, uid=uid, gid=gid)
    settings = effective(config, user)
    image = ensure_layer(
        runtime, settings.defaults.image, lock_dir=config.state.lock_dir, progress=progress,
        config=config,
    )
    return Plan(user=user, project=project, image=image, settings=settings, podfile=None,
                uid=uid, gid=gid)


def host_ids(user: str) -> tuple[int, int]:
    """The (uid, gid) a user's processes get in their containers: the login account's uid,
    which no other host account has, and a group of the same number.

    Raises:
        PermissionDenied: no such host account, or one with a system uid.
    """
    import pwd

    from podspawn.services.accounts import FIRST_REGULAR_UID

    try:
        uid = pwd.getpwnam(validate_user(user)).pw_uid
    except KeyError:
        raise PermissionDenied(
            f"{user} has no login account on this server; an administrator must run "
            f"'podspawn add-user {user}'"
        ) from None
    if uid < FIRST_REGULAR_UID or uid == 65534:
        raise PermissionDenied(
            f"{user}'s account has a system uid ({uid}); podspawn runs nobody as one"
        )
    return uid, uid


def create_session(
    *,
    config: ServerConfig,
    conn: sqlite3.Connection,
    runtime: Runtime,
    plan: Plan,
    session_id: str,
    progress: Progress | None = None,
) -> Made:
    """Start a reserved session through the runtime, then set up the user and run what the
    project asks to run at start: :func:`start_plan`, then :func:`converge_session`.

    Runs without the user's lock. Every object carries the session id, so a crash leaves
    nothing that the next login or cleanup cannot find; on an error everything made here is
    removed again before the error propagates.
    """
    from podspawn.state.pools import claimed_slot

    start = start_plan(config, plan, session_id=session_id, install_id=install_id(conn),
                       volumes_from=claimed_slot(conn, plan.user, plan.project))
    return converge_session(config=config, runtime=runtime, plan=plan, start=start,
                            progress=progress)


def claim_session(
    *, config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, plan: Plan,
    row: SessionRow, progress: Progress | None = None,
) -> Made:
    """Make the claimed warm session ``row`` the user's, without a restart: their account,
    uid and workspace, dotfiles and ``on_start`` (``services.pools``). On an error the
    slot's containers and network are removed before it propagates; its volumes are the
    user's now and stay."""
    engine = engine_state(row)
    iid = install_id(conn)
    spec = session_spec(config, plan, session_id=row.id, install_id=iid)
    try:
        podfile = plan.podfile
        shell, home_dir = set_up_user(
            runtime, engine, user=plan.user, uid=plan.uid, gid=plan.gid,
            shell=plan.settings.defaults.shell, workdir=spec.workspace,
            image_user=podfile.image_user or "" if podfile is not None else "",
            own=tuple(v.target for v in spec.volumes if not v.read_only))
        workdir = spec.workspace or home_dir
        personalise(runtime, engine, user=plan.user, home=home_dir, workdir=workdir,
                    settings=plan.settings, podfile=plan.podfile, progress=progress,
                    env=spec.env)
    except BaseException:
        _remove_made(runtime, iid, plan, row.id,
                     Made(engine=engine, shell="", home="", workdir=""), row.runtime_state)
        raise
    return Made(engine=engine, shell=shell, home=home_dir, workdir=workdir,
                env=dict(spec.env))


def start_plan(config: ServerConfig, plan: Plan, *, session_id: str, install_id: str,
               volumes_from: str = "") -> StartPlan:
    """How the session ``session_id`` of ``plan`` starts; pure, so tested as data.
    ``volumes_from`` is the warm-pool slot whose volumes the user took over, if any."""
    staging = session_staging(config.state.db_path, plan.user, plan.project, session_id)
    return StartPlan(
        spec=session_spec(config, plan, session_id=session_id, install_id=install_id,
                          volumes_from=volumes_from),
        binds=BindPolicy(roots=config.security.allowed_bind_roots, staging=staging),
        home_target=f"/home/{plan.user}" if plan.settings.mode == "persistent" else "",
    )


def converge_session(
    *, config: ServerConfig, runtime: Runtime, plan: Plan, start: StartPlan,
    progress: Progress | None = None,
) -> Made:
    """Make what ``start`` describes: the home, the runtime's session, the user's account,
    dotfiles and ``on_start``. On any error, everything made is removed before it propagates.
    """
    user, settings, podfile = plan.user, plan.settings, plan.podfile
    spec, staging = start.spec, start.binds.staging
    if start.home_target:
        from podspawn.services.homes import home_path

        spec = replace(spec, home=Bind(
            source=home_path(config, user, plan.project, uid=plan.uid, gid=plan.gid),
            target=start.home_target))
    engine: EngineState = {}
    try:
        if podfile is not None:
            from podspawn.services.dev_storage import stage_session_binds

            require_images(runtime, podfile.services, plan.project)
            _warn_host(config, podfile, progress)
            if podfile.volumes:
                spec = replace(spec, binds=(*spec.binds,
                                            *stage_session_binds(podfile, start.binds)))
        account: list[tuple[str, str]] = []  # (shell, home), made while companions start

        def add_user(started: EngineState) -> None:
            account.append(set_up_user(
                runtime, started, user=user, uid=plan.uid, gid=plan.gid,
                shell=settings.defaults.shell, workdir=spec.workspace,
                home_mounted=spec.home is not None,
                image_user=podfile.image_user or "" if podfile is not None else "",
                own=tuple(v.target for v in spec.volumes if not v.read_only)))

        engine = runtime.start_session(
            spec, stage=stager(podfile, start.binds) if podfile else None, progress=progress,
            meanwhile=add_user)
        shell, home_dir = account[0]
        workdir = spec.workspace or home_dir
        personalise(runtime, engine, user=user, home=home_dir, workdir=workdir,
                    settings=settings, podfile=podfile, progress=progress)
    except BaseException:
        _remove_made(runtime, spec.install_id, plan, spec.session_id,
                     Made(engine=engine, shell="", home="", workdir="", binds=staging))
        raise
    return Made(engine=engine, shell=shell, home=home_dir, workdir=workdir, binds=staging)


def _warn_host(config: ServerConfig, podfile: Podfile, progress: Progress | None) -> None:
    """Tell the user, as their session starts, what the host lacks of the project's
    ``host_requirements`` (a warning: the project may well work with less)."""
    wanted = podfile.host_requirements
    if progress is None or not (wanted.cpus or wanted.memory or wanted.storage or wanted.gpu):
        return
    from podspawn.services.host_requirements import unmet

    for problem in unmet(wanted, storage_path=os.path.dirname(config.state.db_path)):
        progress(f"warning: {problem} (hostRequirements)")


def session_spec(config: ServerConfig, plan: Plan, *, session_id: str, install_id: str,
                 home: Bind | None = None, pool: str = "", volumes_from: str = ""
                 ) -> SessionSpec:
    """What a new session of ``plan`` is, as backend-neutral data (tested without an engine).

    A warm-pool slot's (``pool``) has no user yet: no environment (a claim passes the
    user's with every command instead) and a hostname without a user.
    """
    user, project, settings, podfile = plan.user, plan.project, plan.settings, plan.podfile
    sec, defaults = config.security, settings.defaults
    env = dict(settings.env)
    workspace = ""
    companions: tuple[CompanionSpec, ...] = ()
    volumes: tuple[Volume, ...] = ()
    if podfile is not None:
        from podspawn.podfile.env_values import default_workspace, session_env
        from podspawn.services.dev_storage import session_volumes

        workspace = podfile.workspace or default_workspace(project)
        if not pool:
            env = {**session_env(podfile, user=user, project=project, home=f"/home/{user}"),
                   **env}
        companions = companion_specs(config, podfile.services)
        volumes = session_volumes(podfile)
    return SessionSpec(
        session_id=session_id,
        install_id=install_id,
        user=user,
        project=project,
        image=plan.image,
        hostname=pool_hostname(project) if pool else hostname(user, project),
        env={} if pool else env,
        pool=pool,
        volumes_from=volumes_from,
        workspace=workspace,
        home=home,
        companions=companions,
        limits=Limits(cpus=defaults.cpus, memory=parse_memory(defaults.memory),
                      pids=sec.pids_limit),
        hardening=Hardening(cap_drop=sec.cap_drop, cap_add=sec.cap_add,
                            no_new_privileges=sec.no_new_privileges,
                            read_only=sec.readonly_rootfs, tmpfs=dict(sec.tmpfs),
                            oci_runtime=sec.runtime),
        address_pool=address_pool(config),
        volumes=volumes,
    )


def owner_of(iid: str, user: str, project: str, state: Mapping[str, Any]) -> dict[str, str]:
    """The owner labels of a session's objects: its (user, project)'s, or, for a session a
    first login claimed from a warm pool (``services.pools``), its slot's."""
    slot = str(state.get("pool") or "")
    return labels.pool_owner(iid, project, slot) if slot else labels.owner(iid, user, project)


def _remove_made(runtime: Runtime, iid: str, plan: Plan, session_id: str, made: Made,
                 state: Mapping[str, Any] = _NO_STATE) -> None:
    """Remove what making one session created, logging (not raising) what cannot go."""
    owner = {**owner_of(iid, plan.user, plan.project, state), labels.SESSION: session_id}
    for failure in runtime.stop_session(made.engine, owner=owner):
        log.error("rollback step failed", target=failure)
    for failure in release_binds(made.binds):
        log.error("rollback step failed", target=failure)


def destroy_session(
    *, conn: sqlite3.Connection, row: SessionRow, reason: str, runtime: Runtime | None = None
) -> None:
    """Remove the session's containers and network, its staged binds, then the row. Caller
    holds the lock.

    A failure leaves the row in place so that the next login or cleanup pass tries again. A
    ``starting`` row goes regardless: its maker is still creating objects, and only a missing
    row tells it to remove them (``_make``); cleanup finds any it misses by their session id.
    """
    runtime = runtime or get_runtime(backend(row))
    log.info("destroying session", user=row.user, project=row.project or None,
             container=row.container_name, reason=reason)
    owner = owner_of(install_id(conn), row.user, row.project, row.runtime_state)
    if row.id:
        owner[labels.SESSION] = row.id
    failures = runtime.stop_session(engine_state(row), owner=owner)
    if not failures:  # the services are gone: unmount their staged host binds (services.binds)
        failures += release_binds(str(row.runtime_state.get("binds") or ""))
    if failures:
        log.error("destroy incomplete, will retry", user=row.user, failures="; ".join(failures))
        if row.status != "starting":
            return
    delete_session(conn, row.user, row.project)
    audit.record("container.destroy", user=row.user, project=row.project,
                 container=row.container_name, reason=reason)


def stop_session(
    *, config: ServerConfig, conn: sqlite3.Connection, user: str, project: str,
    runtime: Runtime | None = None,
) -> SessionRow:
    """End one session now, connected or not (``podspawn stop``).

    Raises:
        SessionNotFound: the user has no session for that project.
    """
    from podspawn.errors import SessionNotFound

    validate_user(user)
    if project:
        validate_project(project)
    with user_lock(config.state.lock_dir, user):
        row = get_session(conn, user, project)
        if row is None:
            where = f"{user}@{project}" if project else user
            raise SessionNotFound(f"no active session {where}; 'podspawn list' shows them")
        destroy_session(conn=conn, row=row, reason="stopped", runtime=runtime)
    return row
