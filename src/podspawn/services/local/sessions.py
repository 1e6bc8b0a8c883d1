"""``dev``, ``down`` and ``prebuild``: a checkout's session on the invoking user's Docker.

One session per checkout directory (``context.session_name``), recorded in the local state
database under (user, session name). ``dev`` builds the image ``add-project`` would build
(same function, same tag), starts the session through ``Runtime.start_session`` with the
checkout bind-mounted at the workspace path and the Podfile's ports published on 127.0.0.1,
then hands the terminal to ``docker exec``. Leaving starts the grace period; with no
cleanup daemon on a laptop, every ``dev``, ``down`` and ``list`` first reconciles what has
expired (:func:`reconcile`).

All bookkeeping runs under one lock in ``~/.podspawn/locks``; the hand-off does not.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from podspawn import audit, labels, log
from podspawn.errors import PodfileError, RuntimeFailure, SessionNotFound, UsageError
from podspawn.lifecycle import engine_state, expired, on_last_disconnect
from podspawn.locks import file_lock
from podspawn.names import container_name
from podspawn.procs import is_alive, start_time
from podspawn.runtime.spec import Bind, PortPublish
from podspawn.services.local.context import (
    MODE_VALUE,
    LocalContext,
    project_name,
    session_name,
    state_dir,
)
from podspawn.services.local.ports import HOST_IP, PortChoice, candidates, choose
from podspawn.services.local.workspace import OnCreateFailed, forget_on_create
from podspawn.state.db import install_id
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import (
    add_connection,
    get_session,
    insert_session,
    list_sessions,
    prune_dead,
    remove_connection,
    set_grace,
)

if TYPE_CHECKING:
    import sqlite3

    from podspawn.podfile import LoadedPodfile, Podfile
    from podspawn.services.overrides import Effective

Progress = Callable[[str], None]
MOUNTS = ("bind", "copy", "none")


@dataclass(frozen=True, slots=True)
class DevOptions:
    name: str = ""
    ports: tuple[int, ...] = ()
    ephemeral: bool = False
    fresh: bool = False
    mount: str = ""
    """``bind``, ``copy`` or ``none``; "" takes the Podfile's ``mount``."""


@dataclass(frozen=True, slots=True)
class Banner:
    """What ``dev`` tells the user about the session it attaches to."""

    name: str
    base: str
    packages: tuple[str, ...]
    services: tuple[tuple[str, tuple[int, ...]], ...]
    ports: tuple[PortChoice, ...]
    mount: tuple[str, str] | None
    """(host directory, container path), or None for no mount."""
    mount_mode: str
    """``bind``, ``copy`` or ``none``."""
    reattached: bool
    started_at: float


@dataclass(frozen=True, slots=True)
class Attached:
    row: SessionRow
    banner: Banner
    connection: Connection = field(compare=False)


def _grace_seconds(ctx: LocalContext) -> float:
    """``PODSPAWN_LOCAL_GRACE`` (a duration such as ``10m``), else the server default."""
    from podspawn.units import parse_duration

    text = os.environ.get("PODSPAWN_LOCAL_GRACE", "")
    if not text:
        return ctx.config.session.grace_seconds
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"PODSPAWN_LOCAL_GRACE: {exc}") from None


@contextmanager
def locked(ctx: LocalContext) -> Iterator[None]:
    with file_lock(os.path.join(ctx.config.state.lock_dir, "local.lock"), timeout=3600):
        yield


# -- the checkout ------------------------------------------------------------------------


def load_checkout(directory: str) -> LoadedPodfile:
    """The directory's Podfile (or devcontainer.json), resolved as a server would.

    Raises:
        PodfileError: none there (the message points at ``podspawn init``), or invalid.
    """
    from podspawn.podfile import find_podfile, http_fetcher, load_podfile
    from podspawn.podfile.devcontainer import find_devcontainer

    if find_podfile(directory) is None and find_devcontainer(directory) is None:
        raise PodfileError(f"no podfile.yaml or devcontainer.json in {directory}; run "
                           "'podspawn init' there to create one")
    return load_podfile(directory, fetch=http_fetcher())


def prebuild(ctx: LocalContext, directory: str, *, tag: str = "",
             progress: Progress | None = None) -> str:
    """Build (or find) the checkout's image and return its tag; ``tag`` also names it."""
    loaded = load_checkout(directory)
    image = image_for(ctx, directory, loaded, progress)
    if tag and tag != image:
        from podspawn.runtime.base import ImageRecipe

        # a one-line build names the same image through the contract (no engine "tag" verb)
        ctx.runtime.build(ImageRecipe(tag=tag, dockerfile=f"FROM {image}\n"))
        return tag
    return image


def image_for(ctx: LocalContext, directory: str, loaded: LoadedPodfile,
           progress: Progress | None) -> str:
    """The image ``add-project`` of this project builds: same recipe, same tag."""
    from podspawn.services.companions import pull_service_images
    from podspawn.services.projects import build_project_image, project_lock

    project = project_name(directory, loaded.podfile.name)
    with project_lock(ctx.config, project):
        pull_service_images(ctx.runtime, loaded.podfile.services, progress=progress)
        return build_project_image(runtime=ctx.runtime, config=ctx.config, project=project,
                                   loaded=loaded, checkout=directory, progress=progress)


# -- dev ---------------------------------------------------------------------------------


def dev(ctx: LocalContext, directory: str, options: DevOptions, *,
        progress: Progress | None = None) -> Attached:
    """Reattach to the checkout's session, or make it; counts this process as connected.

    Raises:
        PodfileError: no Podfile, or an invalid one.
        UsageError: a bad ``--mount`` or ``--ports``, or a busy port under ``expose``.
        RuntimeFailure, ImageUnavailable: the engine refused.
    """
    directory = os.path.abspath(directory)
    loaded = load_checkout(directory)
    podfile = loaded.podfile
    project = project_name(directory, podfile.name)
    name = options.name or session_name(directory, project)
    mount = options.mount or podfile.mount
    if mount not in MOUNTS:
        raise UsageError(f"mount {mount!r} is not supported in local mode; use --mount bind "
                         "(the checkout itself), copy (a copy of it) or none")
    me = ctx.me
    connection = Connection(user=me.user, project=name, pid=os.getpid(),
                            pid_start=start_time(os.getpid()) or 0, started_at=time.time())
    with locked(ctx):
        reconcile(ctx)
        row = get_session(ctx.conn, me.user, name)
        if options.fresh:
            forget_on_create(state_dir(), directory)
            if row is not None:
                destroy(ctx, row, "fresh")
                row = None
        if row is not None:
            return join(ctx, row, connection)
    _choose_ports(podfile, options)  # a refusal before a build of minutes, not after
    # the build can take minutes: outside the lock (project_lock serialises it)
    image = image_for(ctx, directory, loaded, progress)
    with locked(ctx):
        row = get_session(ctx.conn, me.user, name)
        if row is not None:  # another dev of this checkout was quicker
            return join(ctx, row, connection)
        start = Start(name=name, project=project, image=image, podfile=podfile,
                      directory=directory, mount=mount,
                      ports=tuple(_choose_ports(podfile, options)),
                      ephemeral=options.ephemeral)
        try:
            row = create_session(ctx, start, progress)
        except OnCreateFailed as exc:
            raise OnCreateFailed(
                f"on_create failed in {directory} (status {exc.exit_code}); your checkout is "
                "as it left it: fix the Podfile's on_create or the files and run "
                "'podspawn dev' again", exit_code=exc.exit_code, output=exc.output) from None
        add_connection(ctx.conn, connection)
    return Attached(row=row, banner=banner_of(row, reattached=False), connection=connection)


def join(ctx: LocalContext, row: SessionRow, connection: Connection) -> Attached:
    if ctx.runtime.poll(engine_state(row)) == "stopped":
        ctx.runtime.resume(engine_state(row))
    add_connection(ctx.conn, connection)
    return Attached(row=row, banner=banner_of(row, reattached=True), connection=connection)


@dataclass(frozen=True, slots=True)
class Start:
    """One new local session: a dev checkout's, a named machine's or a throw-away one."""

    name: str
    project: str
    image: str
    podfile: Podfile | None
    directory: str
    """The host checkout: bind-mounted, copied in, or (``none``) only recorded."""
    mount: str
    ports: tuple[PortChoice, ...] = ()
    ephemeral: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    """More keys for the session's runtime state (a machine's name)."""


def create_session(ctx: LocalContext, start: Start, progress: Progress | None) -> SessionRow:
    """Start the session and record it; anything that fails is rolled back. The caller
    holds the lock.

    Raises:
        OnCreateFailed: ``on_create`` failed in the mounted workspace (the session is gone,
            the checkout untouched).
        RuntimeFailure, ImageUnavailable: the engine refused.
    """
    from podspawn.podfile import default_workspace
    from podspawn.services.companions import require_images
    from podspawn.services.local.workspace import copy_in, run_on_create
    from podspawn.services.personalise import personalise, set_up_user
    from podspawn.services.sessions import Plan, session_spec

    podfile, me, name, mount = start.podfile, ctx.me, start.name, start.mount
    settings = _settings(ctx, podfile, ephemeral=start.ephemeral)
    plan = Plan(user=me.user, project=name, image=start.image, settings=settings,
                podfile=podfile, uid=me.uid, gid=me.gid)
    session_id = uuid.uuid4().hex
    iid = install_id(ctx.conn)
    target = (podfile.workspace if podfile else "") or default_workspace(start.project)
    spec = replace(
        session_spec(ctx.config, plan, session_id=session_id, install_id=iid),
        workspace="",
        binds=(Bind(source=start.directory, target=target),) if mount == "bind" else (),
        published=tuple(PortPublish(host_ip=HOST_IP, host_port=c.host,
                                    container_port=c.container) for c in start.ports),
        labels={labels.MODE: MODE_VALUE},
    )
    if podfile is not None:
        require_images(ctx.runtime, podfile.services, start.project)
    in_workspace = mount in ("bind", "copy") and bool(start.directory)
    engine: dict[str, object] = {}
    try:
        engine = ctx.runtime.start_session(spec, progress=progress)
        shell, home = set_up_user(ctx.runtime, engine, user=me.user, uid=me.uid, gid=me.gid,
                                  shell=settings.defaults.shell,
                                  workdir=target if in_workspace else "")
        workdir = target if in_workspace else home
        if mount == "copy" and start.directory:
            copy_in(ctx.runtime, engine, directory=start.directory, target=target,
                    user=me.user, uid=me.uid, gid=me.gid)
        if mount == "bind" and start.directory and podfile is not None and podfile.on_create:
            run_on_create(ctx.runtime, engine, state_root=state_dir(),
                          directory=start.directory, script=podfile.on_create, user=me.user,
                          home=home, workdir=target, progress=progress)
        personalise(ctx.runtime, engine, user=me.user, home=home, workdir=workdir,
                    settings=settings, podfile=podfile, progress=progress)
    except BaseException:
        owner = {**labels.owner(iid, me.user, name), labels.SESSION: session_id}
        for failure in ctx.runtime.stop_session(engine, owner=owner):
            log.error("rollback step failed", target=failure)
        raise
    now = time.time()
    row = SessionRow(
        id=session_id, user=me.user, project=name, container_id=str(engine.get("container")),
        container_name=container_name(me.user, name), image=start.image, status="running",
        connections=0, created_at=now, last_activity=now,
        max_lifetime=now + ctx.config.session.lifetime_seconds, mode=settings.mode,
        runtime_state={
            "version": 2, "backend": ctx.runtime.name, "engine": engine, "shell": shell,
            "home": home, "workdir": workdir, "directory": start.directory,
            "mount": [start.directory, target] if mount == "bind" else [],
            "copied": [start.directory, target] if mount == "copy" else [],
            "ports": [[c.container, c.host] for c in start.ports],
            "base": podfile.base if podfile else start.image,
            "packages": list(podfile.packages) if podfile else [],
            "services": [[s.name, list(s.ports)] for s in podfile.services] if podfile else [],
            **start.extra,
        },
    )
    insert_session(ctx.conn, row)
    log.info("created local session", user=me.user, session=name, image=start.image)
    audit.record("container.create", user=me.user, project=name,
                 container=row.container_name, image=start.image, mode=row.mode)
    return row


def _choose_ports(podfile: Podfile, options: DevOptions) -> list[PortChoice]:
    strategy = podfile.ports.strategy
    return choose(candidates(podfile.ports.expose, strategy, options.ports), strategy)


def _settings(ctx: LocalContext, podfile: Podfile | None, *, ephemeral: bool) -> Effective:
    from podspawn.services.limits import clamp_cpus, clamp_memory
    from podspawn.services.overrides import effective

    config = ctx.config
    if podfile is None:
        settings = effective(config, ctx.me.user, podfile_mode="", base=config.defaults)
        return replace(settings, mode="destroy-on-disconnect") if ephemeral else settings
    base = replace(
        config.defaults, shell=podfile.shell,
        cpus=clamp_cpus(config, podfile.resources.cpus) or config.defaults.cpus,
        memory=clamp_memory(config, podfile.resources.memory) or config.defaults.memory,
    )
    settings = effective(config, ctx.me.user, podfile_mode=podfile.mode or "", base=base)
    return replace(settings, mode="destroy-on-disconnect") if ephemeral else settings


def banner_of(row: SessionRow, *, reattached: bool) -> Banner:
    state = row.runtime_state
    mount = state.get("mount") or state.get("copied") or []
    mode = "bind" if state.get("mount") else "copy" if state.get("copied") else "none"
    return Banner(
        name=row.project, base=str(state.get("base", "")),
        packages=tuple(state.get("packages") or ()),
        services=tuple((str(n), tuple(p)) for n, p in state.get("services") or ()),
        ports=tuple(PortChoice(container=int(c), host=int(h)) for c, h in state.get("ports") or ()),
        mount=(str(mount[0]), str(mount[1])) if mount else None, mount_mode=mode,
        reattached=reattached, started_at=row.created_at,
    )


def handoff_argv(row: SessionRow, argv: list[str], *, tty: bool) -> list[str]:
    """``docker exec`` (through the backend's login module) of ``argv``, or a login shell."""
    from podspawn.lifecycle import backend
    from podspawn.runtime import login_module

    state = row.runtime_state
    home = str(state.get("home") or f"/home/{row.user}")
    command = argv or [str(state.get("shell") or "/bin/sh"), "-l"]
    return login_module(backend(row)).handoff_argv(
        engine_state(row), command, user=row.user, workdir=str(state.get("workdir") or home),
        env={"HOME": home, "USER": row.user, "TERM": os.environ.get("TERM", "xterm")},
        tty=tty)


def leave(ctx: LocalContext, attached: Attached) -> str:
    """Forget this process's connection; the last one out starts the grace period (or ends
    an ephemeral session). Returns what happened: ``grace``, ``destroy``, ``keep``, or
    ``connected`` while another ``dev`` is still attached."""
    with locked(ctx):
        row = get_session(ctx.conn, attached.row.user, attached.row.project)
        if row is None:
            return "destroy"
        if remove_connection(ctx.conn, attached.connection):
            return "connected"
        grace = _grace_seconds(ctx)
        action = on_last_disconnect(row.mode, grace)
        if action == "destroy":
            destroy(ctx, row, "disconnect")
        elif action == "grace":
            set_grace(ctx.conn, row.user, row.project, time.time() + grace)
        return action


# -- down, reconcile ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ended:
    name: str
    volumes: tuple[str, ...] = ()
    stopped: bool = True
    """False for ``--clean`` of a session already gone (only its volumes were removed)."""


def down(ctx: LocalContext, directory: str, *, name: str = "", clean: bool = False) -> Ended:
    """End the checkout's session and its services; ``clean`` also removes its volumes.

    Raises:
        SessionNotFound: this directory (or ``name``) has no local session.
        RuntimeFailure: something could not be removed (the session stays recorded).
    """
    directory = os.path.abspath(directory)
    if not name:
        try:
            podfile_name = load_checkout(directory).podfile.name
        except PodfileError:
            podfile_name = None
        name = session_name(directory, project_name(directory, podfile_name))
    user = ctx.me.user
    with locked(ctx):
        reconcile(ctx)
        row = get_session(ctx.conn, user, name)
        if row is not None:
            destroy(ctx, row, "down")
        elif not clean:
            raise SessionNotFound(f"no local session {name} for this directory; "
                                  "'podspawn list --local' shows them")
        removed = _remove_volumes(ctx, name) if clean else ()
    return Ended(name=name, volumes=removed, stopped=row is not None)


def destroy(ctx: LocalContext, row: SessionRow, reason: str) -> None:
    from podspawn.services.sessions import destroy_session

    destroy_session(conn=ctx.conn, row=row, reason=reason, runtime=ctx.runtime)
    if get_session(ctx.conn, row.user, row.project) is not None:
        raise RuntimeFailure(f"session {row.project} could not be removed completely; see "
                             f"{ctx.config.log_file} and run 'podspawn down' again")


def _remove_volumes(ctx: LocalContext, name: str) -> tuple[str, ...]:
    owner = {**labels.owner(install_id(ctx.conn), ctx.me.user, name), labels.ROLE: "volume"}
    removed = []
    for found in ctx.runtime.find(owner):
        if found.kind == "volume":
            ctx.runtime.remove(found, owner=owner)
            removed.append(found.name)
    return tuple(removed)


def reconcile(ctx: LocalContext) -> list[str]:
    """End the invoker's local sessions whose grace period or lifetime is over, or whose
    container is gone; a session left by a killed ``dev`` enters its grace period. The
    caller holds the lock. Returns the names ended."""
    prune_dead(ctx.conn, is_alive)
    now, grace, ended = time.time(), _grace_seconds(ctx), []
    for row in list_sessions(ctx.conn, ctx.me.user):
        if row.connections == 0 and row.status == "running":
            action = on_last_disconnect(row.mode, grace)
            if action == "grace":
                set_grace(ctx.conn, row.user, row.project, now + grace)
                continue
            if action == "keep":
                continue
            reason = "disconnect"
        elif expired(row, now):
            reason = "expired"
        elif ctx.runtime.poll(engine_state(row)) == "gone":
            reason = "container_gone"
        else:
            continue
        try:
            destroy(ctx, row, reason)
            ended.append(row.project)
        except RuntimeFailure as exc:
            log.error("local session not reconciled", session=row.project, error=exc.message)
    return ended


def reconcile_now(ctx: LocalContext) -> list[str]:
    """:func:`reconcile` under the lock (``cleanup --local``)."""
    with locked(ctx):
        return reconcile(ctx)


def reconciled(ctx: LocalContext) -> sqlite3.Connection:
    """The local state, once the expired sessions are ended (``list --local``)."""
    reconcile_now(ctx)
    return ctx.conn
