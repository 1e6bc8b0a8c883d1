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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from podspawn import audit, labels, log
from podspawn.config.schema import DefaultsConfig, ServerConfig, parse_memory
from podspawn.errors import (
    LimitReached,
    PermissionDenied,
    PodspawnError,
    RuntimeFailure,
    SessionNotFound,
    StateError,
)
from podspawn.lifecycle import abandoned, expired, grace_expired
from podspawn.locks import file_lock
from podspawn.names import (
    bridge_name,
    container_name,
    hostname,
    lock_file_name,
    network_name,
    validate_project,
    validate_user,
    workspace_volume,
)
from podspawn.procs import is_alive
from podspawn.runtime import get_runtime
from podspawn.runtime.base import ContainerSpec, Mount, Runtime
from podspawn.services.binds import BindPolicy, session_staging
from podspawn.services.binds import release as release_binds
from podspawn.services.companions import start_services
from podspawn.services.firewall import guard_login
from podspawn.services.images import ensure_layer
from podspawn.services.limits import clamp_cpus, clamp_memory
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
    list_sessions,
    prune_dead,
    reserve_session,
)

if TYPE_CHECKING:
    import sqlite3

    from podspawn.podfile import Podfile

Progress = Callable[[str], None]

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

    container_id: str
    service_ids: tuple[str, ...]
    network_id: str
    network: str
    shell: str
    home: str
    workdir: str
    binds: str = ""
    """The staging directory of the services' host binds (``services.binds``), or ""."""


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
        LimitReached: the user already holds ``resources.max_per_user`` sessions.
        SetupError: the packet-filter policy is not in place and cannot be installed.
        ImageUnavailable: the session's image is missing and cannot be pulled.
        SessionNotFound: the session was ended (``stop``, ``remove-user``) while starting.
        StateError: another login of this user has been making the session for too long.
        RuntimeUnavailable, RuntimeFailure: the engine is down or refused.
    """
    runtime = runtime or get_runtime()
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
            joined, reserved = _join_or_reserve(config, conn, runtime, plan, connection)
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


def _user_lock(config: ServerConfig, user: str):  # type: ignore[no-untyped-def]
    return file_lock(os.path.join(config.state.lock_dir, lock_file_name(user)))


def _join_or_reserve(
    config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, plan: Plan,
    connection: Connection,
) -> tuple[SessionRow | None, SessionRow | None]:
    """Under the user's lock: (the joined row, None), (None, a fresh reservation), or
    (None, None) while another login of this user is still making the session."""
    user, project = plan.user, plan.project
    prune_dead(conn, is_alive)
    row = get_session(conn, user, project)
    if row is not None:
        if row.status == "starting" and not abandoned(row):
            return None, None
        reason = "abandoned" if row.status == "starting" else ""
        if not reason:
            info = runtime.inspect(row.container_id or row.container_name)
            now = time.time()
            if info is not None and info.id == row.container_id and not expired(row, now):
                if not info.running:
                    log.info("restarting stopped container", user=user,
                             container=row.container_name)
                    runtime.start(info.id)
                add_connection(conn, connection)
                return row, None
            reason = "container_gone" if info is None else (
                "grace_expired" if grace_expired(row, now) else "lifetime_expired")
        destroy_session(conn=conn, row=row, reason=reason, runtime=runtime)
        if get_session(conn, user, project) is not None:
            raise RuntimeFailure(
                "your previous session could not be removed; try again in a minute, or ask "
                "an administrator to check the podspawn log"
            )
    _check_quota(conn, config, user)
    reserved = _reservation(config, conn, plan)
    reserve_session(conn, reserved, connection)
    return None, get_session(conn, user, project)


def _reservation(config: ServerConfig, conn: sqlite3.Connection, plan: Plan) -> SessionRow:
    import uuid

    now = time.time()
    return SessionRow(
        id=uuid.uuid4().hex,
        user=plan.user,
        project=plan.project,
        container_id="",
        container_name=container_name(plan.user, plan.project),
        image=plan.image,
        status="starting",
        connections=0,
        created_at=now,
        last_activity=now,
        max_lifetime=now + config.session.lifetime_seconds,
        mode=plan.settings.mode,
        runtime_state={"version": 2, "backend": "docker",
                       "network": network_name(plan.user, plan.project)},
    )


def _make(
    config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime, plan: Plan,
    row: SessionRow, progress: Progress | None,
) -> SessionRow:
    """Make the reserved session without the user's lock, then record it under the lock."""
    try:
        made = create_session(config=config, conn=conn, runtime=runtime, plan=plan,
                              session_id=row.id, progress=progress)
    except BaseException:
        with _user_lock(config, plan.user):
            abandon_session(conn, plan.user, plan.project, row.id)
        raise
    state = {**row.runtime_state, "backend": runtime.name, "network": made.network,
             "shell": made.shell, "home": made.home, "workdir": made.workdir,
             "binds": made.binds}
    with _user_lock(config, plan.user):
        recorded = finish_session(
            conn, plan.user, plan.project, row.id, container_id=made.container_id,
            service_ids=",".join(made.service_ids), network_id=made.network_id,
            runtime_state=state)
        final = get_session(conn, plan.user, plan.project) if recorded else None
    if final is None:
        _remove_made(runtime, install_id(conn), plan, row.id, made)
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
        )
        return Plan(user=user, project=project, image=image, settings=settings,
                    podfile=podfile, uid=uid, gid=gid)
    settings = effective(config, user)
    image = ensure_layer(
        runtime, settings.defaults.image, lock_dir=config.state.lock_dir, progress=progress
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


def _check_quota(conn: sqlite3.Connection, config: ServerConfig, user: str) -> None:
    limit = config.resources.max_per_user
    held = list_sessions(conn, user)
    if limit and len(held) >= limit:
        names = ", ".join(r.project or "(default)" for r in held)
        raise LimitReached(
            f"you already have {len(held)} session(s) ({names}) and the limit is {limit}; "
            "log out of one and wait for it to end, or ask an administrator to stop it"
        )


def create_session(
    *,
    config: ServerConfig,
    conn: sqlite3.Connection,
    runtime: Runtime,
    plan: Plan,
    session_id: str,
    progress: Progress | None = None,
) -> Made:
    """Make the network, services and container of a reserved session and set up the user.

    Runs without the user's lock. Every object carries the session id, so a crash leaves
    nothing that the next login or cleanup cannot find; on an error everything made here is
    removed again before the error propagates.
    """
    user, project, settings, podfile = plan.user, plan.project, plan.settings, plan.podfile
    owner = labels.owner(install_id(conn), user, project)
    session_labels = {**owner, labels.SESSION: session_id}
    name = container_name(user, project)
    _clear_leftovers(runtime, owner, session_id, name=name, network=network_name(user, project))
    network = runtime.create_network(
        network_name(user, project), {**session_labels, labels.ROLE: "network"},
        interface=bridge_name(owner[labels.INSTANCE], network_name(user, project)))
    container_id = ""
    service_ids: list[str] = []
    staging = session_staging(config.state.db_path, user, project, session_id)
    try:
        mounts: tuple[Mount, ...] = ()
        env = dict(settings.env)
        workdir = ""
        if settings.mode == "persistent":
            from podspawn.services.homes import home_path

            mounts = (Mount(target=f"/home/{user}", source=home_path(
                config, user, project, uid=plan.uid, gid=plan.gid)),)
        if podfile is not None:
            from podspawn.podfile import default_workspace, session_env

            workdir = podfile.workspace or default_workspace(project)
            mounts += (Mount(target=workdir, source=workspace_volume(user, project),
                             type="volume", labels={**owner, labels.ROLE: "workspace"}),)
            env = {**session_env(podfile, user=user, project=project, home=f"/home/{user}"),
                   **env}
            service_ids = start_services(
                runtime=runtime, config=config, services=podfile.services, user=user,
                project=project, network=network.name, labels=session_labels,
                progress=progress,
                binds=BindPolicy(roots=config.security.allowed_bind_roots, staging=staging),
            )
        spec = build_spec(config, name=name, image=plan.image,
                          labels={**session_labels, labels.ROLE: "session"},
                          network=network.name, hostname=hostname(user, project),
                          defaults=settings.defaults, env=env, mounts=mounts)
        container_id = runtime.create(spec).id
        runtime.start(container_id)
        shell, home = set_up_user(
            runtime, container_id, user=user, uid=plan.uid, gid=plan.gid,
            shell=settings.defaults.shell, workdir=workdir,
            home_mounted=settings.mode == "persistent")
        personalise(runtime, container_id, user=user, home=home, workdir=workdir or home,
                    settings=settings, podfile=podfile, progress=progress)
    except BaseException:
        _remove_made(runtime, owner[labels.INSTANCE], plan, session_id,
                     Made(container_id=container_id, service_ids=tuple(service_ids),
                          network_id=network.id, network=network.name, shell="", home="",
                          workdir="", binds=staging))
        raise
    return Made(container_id=container_id, service_ids=tuple(service_ids),
                network_id=network.id, network=network.name, shell=shell, home=home,
                workdir=workdir or home, binds=staging)


def _remove_made(runtime: Runtime, iid: str, plan: Plan, session_id: str, made: Made) -> None:
    """Remove what making one session created, logging (not raising) what cannot go."""
    owner = {**labels.owner(iid, plan.user, plan.project), labels.SESSION: session_id}
    for info in runtime.list_containers(owner):
        _quietly(runtime.remove, info.id, owner)
    _quietly(runtime.remove, made.container_id, {**owner, labels.ROLE: "session"})
    for target in made.service_ids:
        _quietly(runtime.remove, target, {**owner, labels.ROLE: "service"})
    _quietly(runtime.remove_network, made.network, {**owner, labels.ROLE: "network"})
    for failure in release_binds(made.binds):
        log.error("rollback step failed", target=failure)


def build_spec(
    config: ServerConfig,
    *,
    name: str,
    image: str,
    labels: Mapping[str, str],
    network: str,
    hostname: str = "",
    defaults: DefaultsConfig | None = None,
    env: Mapping[str, str] | None = None,
    mounts: tuple[Mount, ...] = (),
) -> ContainerSpec:
    """The container for a session, as plain data (tested without an engine)."""
    sec = config.security
    defaults = defaults or config.defaults
    return ContainerSpec(
        name=name,
        image=image,
        hostname=hostname or name,
        labels=labels,
        network=network,
        aliases=(hostname or name,),
        nano_cpus=round(defaults.cpus * 1e9),  # int() would make 2.01 into 2009999999
        memory=parse_memory(defaults.memory),
        env=dict(env or {}),
        mounts=mounts,
        cap_drop=sec.cap_drop,
        cap_add=sec.cap_add,
        security_opt=("no-new-privileges:true",) if sec.no_new_privileges else (),
        pids_limit=sec.pids_limit,
        read_only=sec.readonly_rootfs,
        tmpfs=sec.tmpfs,
        runtime=sec.runtime,
    )


def destroy_session(
    *, conn: sqlite3.Connection, row: SessionRow, reason: str, runtime: Runtime | None = None
) -> None:
    """Remove the container, its services and network, then the row. Caller holds the lock.

    Each removal is tried even if an earlier one failed; a failure leaves the row in place so
    that the next login or cleanup pass tries again. A ``starting`` row goes regardless:
    its maker is still creating objects, and only a missing row tells it to remove them
    (``_make``); cleanup finds any it misses by their session id.
    """
    runtime = runtime or get_runtime()
    log.info("destroying session", user=row.user, project=row.project or None,
             container=row.container_name, reason=reason)
    failures: list[str] = []
    owner = labels.owner(install_id(conn), row.user, row.project)
    if row.id:
        owner[labels.SESSION] = row.id
    targets = [] if row.status == "starting" and not row.container_id else [
        (row.container_id or row.container_name, "session")]
    targets += [(s, "service") for s in row.service_ids.split(",") if s]
    if row.id:  # a session being made has no ids recorded yet: its labels find its objects
        try:
            targets += [(info.id, "") for info in runtime.list_containers(owner)]
        except PodspawnError as exc:
            failures.append(f"listing {row.id}: {exc.detail or exc.message}")
    for target, role in targets:
        try:
            runtime.remove(target, owner={**owner, labels.ROLE: role} if role else owner)
        except PodspawnError as exc:
            failures.append(f"{target}: {exc.detail or exc.message}")
    network = str(row.runtime_state.get("network") or row.network_id)
    if network:
        try:
            runtime.remove_network(network, owner={**owner, labels.ROLE: "network"})
        except PodspawnError as exc:
            failures.append(f"{network}: {exc.detail or exc.message}")
    if not failures:  # the services are gone: unmount their staged host binds (services.binds)
        failures += release_binds(str(row.runtime_state.get("binds") or ""))
    if failures:
        log.error("destroy incomplete, will retry", user=row.user, failures="; ".join(failures))
        if row.status != "starting":
            return
    delete_session(conn, row.user, row.project)
    audit.record("container.destroy", user=row.user, project=row.project,
                 container=row.container_name, reason=reason)


def _clear_leftovers(
    runtime: Runtime, owner: Mapping[str, str], session_id: str, *, name: str, network: str
) -> None:
    """Remove what a crashed session of this (user, project) left behind, and nothing else.

    The caller holds the reservation of the pair, so every container carrying ``owner`` and
    another session's id is a leftover. Something else under the session's names (another
    tenant's, or not podspawn's at all) is refused by the removals' label check, and so
    stops the login with a clear error.

    Raises:
        Conflict: a container or network of the session's name belongs to someone else.
    """
    for info in runtime.list_containers(owner):
        if info.labels.get(labels.SESSION) != session_id:
            runtime.remove(info.id, owner=owner)
    runtime.remove(name, owner={**owner, labels.ROLE: "session"})
    runtime.remove_network(network, owner={**owner, labels.ROLE: "network"})


def _quietly(action: Callable[..., None], target: str, owner: Mapping[str, str]) -> None:
    if not target:
        return
    try:
        action(target, owner=owner)
    except PodspawnError as exc:
        log.error("rollback step failed", target=target, error=exc.detail or exc.message)


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
    with file_lock(os.path.join(config.state.lock_dir, lock_file_name(user))):
        row = get_session(conn, user, project)
        if row is None:
            where = f"{user}@{project}" if project else user
            raise SessionNotFound(f"no active session {where}; 'podspawn list' shows them")
        destroy_session(conn=conn, row=row, reason="stopped", runtime=runtime)
    return row
