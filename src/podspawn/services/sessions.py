"""Sessions: find, repair, create and destroy a user's container for (user, project).

``open_session`` is the whole rule for a login and takes the user's lock itself;
``destroy_session`` assumes the caller holds it (the lock is a ``flock``, so taking it twice
in one process would wait forever).
"""

from __future__ import annotations

import os
import posixpath
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from podspawn import audit, labels, log
from podspawn.config.schema import DefaultsConfig, ServerConfig, parse_memory
from podspawn.errors import LimitReached, PodspawnError, RuntimeFailure
from podspawn.lifecycle import expired, grace_expired
from podspawn.locks import file_lock
from podspawn.names import (
    container_name,
    hostname,
    lock_file_name,
    network_name,
    validate_user,
    workspace_volume,
)
from podspawn.procs import is_alive
from podspawn.runtime import get_runtime
from podspawn.runtime.base import ContainerSpec, Mount, Runtime
from podspawn.services.companions import start_services
from podspawn.services.images import ensure_layer
from podspawn.services.limits import clamp_cpus, clamp_memory
from podspawn.services.overrides import Effective, effective
from podspawn.state.db import install_id
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import (
    add_connection,
    delete_session,
    get_session,
    insert_session,
    list_sessions,
    prune_dead,
)

if TYPE_CHECKING:
    import sqlite3

    from podspawn.podfile import Podfile

Progress = Callable[[str], None]
CONTAINER_UID = 1000

#: Runs as root in a new container: the login-named user with uid 1000 and passwordless sudo.
USER_SETUP = r"""set -e
u="$PODSPAWN_USER"; shell="$PODSPAWN_SHELL"
[ -x "$shell" ] || shell=/bin/sh
if ! getent passwd "$u" >/dev/null 2>&1; then
  other=$(getent passwd 1000 | cut -d: -f1 || true)
  if [ -n "$other" ]; then
    # the image's uid-1000 user (a project's build user, ubuntu's "ubuntu") becomes $u,
    # keeping what on_create left in its home
    group=$(id -gn "$other")
    usermod -l "$u" -d "/home/$u" -m "$other" 2>/dev/null || usermod -l "$u" -d "/home/$u" "$other"
    # absolute paths baked at build time (a venv's scripts) keep working
    if [ ! -e "/home/$other" ]; then ln -s "/home/$u" "/home/$other"; fi
    if [ "$group" = "$other" ]; then groupmod -n "$u" "$group"; fi
    usermod -s "$shell" "$u"
  else
    group=$(getent group 1000 | cut -d: -f1 || true)
    if [ -n "$group" ]; then groupmod -n "$u" "$group"; else groupadd -g 1000 "$u"; fi
    useradd -u 1000 -g 1000 -m -s "$shell" "$u"
  fi
  mkdir -p "/home/$u" && chown 1000:1000 "/home/$u"
fi
usermod -p '*' "$u"
mkdir -p /etc/sudoers.d
printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$u" > "/etc/sudoers.d/podspawn-$u"
chmod 0440 "/etc/sudoers.d/podspawn-$u"
home=$(getent passwd "$u" | cut -d: -f6)
printf '%s\n%s\n' "$shell" "$home"
"""


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
        LimitReached: the user already holds ``resources.max_per_user`` sessions.
        ImageUnavailable: the session's image is missing and cannot be pulled.
        RuntimeUnavailable, RuntimeFailure: the engine is down or refused.
    """
    runtime = runtime or get_runtime()
    user, project = connection.user, connection.project
    image, settings, podfile = plan_session(
        runtime=runtime, config=config, user=user, project=project, progress=progress
    )
    with file_lock(os.path.join(config.state.lock_dir, lock_file_name(user))):
        prune_dead(conn, is_alive)
        row = get_session(conn, user, project)
        if row is not None:
            info = runtime.inspect(row.container_id or row.container_name)
            if (
                info is not None
                and info.id == row.container_id
                and not expired(row, time.time())
            ):
                if not info.running:
                    log.info("restarting stopped container", user=user,
                             container=row.container_name)
                    runtime.start(info.id)
                add_connection(conn, connection)
                return row
            reason = "container_gone" if info is None else (
                "grace_expired" if grace_expired(row, time.time()) else "lifetime_expired")
            if info is not None and info.id != row.container_id:
                reason = "container_replaced"
            destroy_session(conn=conn, row=row, reason=reason, runtime=runtime)
        _check_quota(conn, config, user)
        row = create_session(
            config=config, conn=conn, runtime=runtime, user=user, project=project, image=image,
            settings=settings, podfile=podfile, progress=progress,
        )
        add_connection(conn, connection)
        return row


def plan_session(
    *, runtime: Runtime, config: ServerConfig, user: str, project: str,
    progress: Progress | None,
) -> tuple[str, Effective, Podfile | None]:
    """The image, settings and Podfile of a new session, built before any lock is taken.

    A registered project uses its Podfile's image (built once, shared by every user, and
    without holding the user's lock, so it never blocks their other projects); anything
    else uses the default image plus podspawn's layer.
    """
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
        return image, settings, podfile
    settings = effective(config, user)
    image = ensure_layer(
        runtime, settings.defaults.image, lock_dir=config.state.lock_dir, progress=progress
    )
    return image, settings, None


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
    user: str,
    project: str,
    image: str,
    settings: Effective | None = None,
    podfile: Podfile | None = None,
    progress: Progress | None = None,
) -> SessionRow:
    """Create network and container, set up the user, and insert the row (0 connections).

    On any failure everything created here is removed again before the error propagates.
    """
    import uuid

    settings = settings or effective(config, user)
    iid = install_id(conn)
    session_id = uuid.uuid4().hex
    owner = labels.owner(iid, user, project)
    session_labels = {**owner, labels.SESSION: session_id}
    name = container_name(user, project)
    _clear_leftovers(runtime, owner, name=name, network=network_name(user, project))
    network = runtime.create_network(
        network_name(user, project), {**session_labels, labels.ROLE: "network"})
    container_id = ""
    service_ids: list[str] = []
    try:
        mounts: tuple[Mount, ...] = ()
        env = dict(settings.env)
        workdir = ""
        if settings.mode == "persistent":
            mounts = (Mount(target=f"/home/{user}", source=persistent_home(config, user)),)
        if podfile is not None:
            from podspawn.podfile import default_workspace, session_env

            workdir = podfile.workspace or default_workspace(project)
            mounts += (Mount(target=workdir, source=workspace_volume(user, project),
                             type="volume", labels={**owner, labels.ROLE: "workspace"}),)
            env = {**session_env(podfile, user=user, project=project, home=f"/home/{user}"),
                   **env}
            service_ids = start_services(
                runtime=runtime, config=config, services=podfile.services, user=user,
                project=project,
                network=network.name, labels=session_labels, progress=progress,
            )
        spec = build_spec(config, name=name, image=image,
                          labels={**session_labels, labels.ROLE: "session"},
                          network=network.name, hostname=hostname(user, project),
                          defaults=settings.defaults, env=env, mounts=mounts)
        info = runtime.create(spec)
        container_id = info.id
        runtime.start(container_id)
        setup = runtime.exec(
            container_id,
            ["sh", "-c", USER_SETUP],
            env={"PODSPAWN_USER": user, "PODSPAWN_SHELL": settings.defaults.shell},
        )
        if setup.exit_code != 0:
            raise RuntimeFailure(
                "setting up your user in the container failed; ask an administrator to check "
                "the image",
                detail=setup.output.decode(errors="replace")[-2000:],
            )
        shell, home = setup.output.decode(errors="replace").strip().splitlines()[-2:]

        now = time.time()
        row = SessionRow(
            id=session_id,
            user=user,
            project=project,
            container_id=container_id,
            container_name=name,
            image=image,
            status="running",
            connections=0,
            created_at=now,
            last_activity=now,
            max_lifetime=now + config.session.lifetime_seconds,
            mode=settings.mode,
            network_id=network.id,
            service_ids=",".join(service_ids),
            runtime_state={
                "version": 1,
                "backend": runtime.name,
                "network": network.name,
                "shell": shell,
                "home": home,
                "workdir": workdir or home,
            },
        )
        _personalise(runtime, container_id, user=user, home=home, workdir=workdir or home,
                     settings=settings, podfile=podfile, progress=progress)
        insert_session(conn, row)
    except BaseException:
        _quietly(runtime.remove, container_id, {**session_labels, labels.ROLE: "session"})
        for target in service_ids:
            _quietly(runtime.remove, target, {**session_labels, labels.ROLE: "service"})
        _quietly(runtime.remove_network, network.name, {**session_labels, labels.ROLE: "network"})
        raise
    log.info("created session", user=user, project=project or None, container=name,
             image=image)
    audit.record("container.create", user=user, project=project, container=name, image=image,
                 mode=row.mode)
    return row


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


def persistent_home(config: ServerConfig, user: str) -> str:
    """``homes_dir/<user>``, made on first use and owned by the container user (uid 1000).

    ``homes_dir`` itself is kept root-only (0700): root in a container can leave setuid-root
    programs in the home and open it up, so no host account may traverse to it.
    """
    homes = config.state.homes_dir
    os.makedirs(homes, mode=0o700, exist_ok=True)
    if os.stat(homes).st_mode & 0o077:
        os.chmod(homes, 0o700)
    path = os.path.join(homes, validate_user(user))
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chown(path, CONTAINER_UID, CONTAINER_UID)
    return path


def _run_on_start(
    runtime: Runtime, container_id: str, user: str, home: str, workdir: str, script: str,
    progress: Progress | None,
) -> None:
    """The Podfile's on_start, as the user in the workspace; output shown, failure a warning."""
    result = runtime.exec(container_id, ["sh", "-c", script], user=user,
                          env={"HOME": home, "USER": user}, workdir=workdir)
    text = result.output.decode(errors="replace").rstrip()
    if progress and text:
        for line in text.splitlines()[-40:]:
            progress(line)
    if result.exit_code != 0:
        log.warning("on_start failed", user=user, exit_code=result.exit_code)
        if progress:
            progress(f"warning: on_start exited with status {result.exit_code}")


def _personalise(
    runtime: Runtime, container_id: str, *, user: str, home: str, workdir: str,
    settings: Effective, podfile: Podfile | None, progress: Progress | None,
) -> None:
    """Dotfiles (the user's own replace the project's), extra repos, then on_start.

    Everything here runs as the user and only warns on failure: a broken dotfiles repo must
    not keep anyone out of their environment.
    """
    repo, install = settings.dotfiles.repo, settings.dotfiles.install
    if not repo and podfile is not None and podfile.dotfiles is not None:
        repo, install = podfile.dotfiles.repo, podfile.dotfiles.install or ""
    base_env = {"HOME": home, "USER": user}
    if repo:
        _as_user(runtime, container_id, user, home, _DOTFILES,
                 {**base_env, "REPO": repo, "INSTALL": install}, "installing your dotfiles",
                 progress)
    for extra in podfile.repos if podfile is not None else ():
        target = extra.path or posixpath.join(home, _repo_dir(extra.url))
        _as_user(runtime, container_id, user, home, _CLONE,
                 {**base_env, "REPO": extra.url, "TARGET": target, "BRANCH": extra.branch or ""},
                 f"cloning {extra.url}", progress)
    if podfile is not None and podfile.on_start:
        _run_on_start(runtime, container_id, user, home, workdir, podfile.on_start, progress)


_DOTFILES = (
    'command -v git >/dev/null 2>&1 || { echo "git is not in the image" >&2; exit 1; }\n'
    'git clone --depth 1 -q -- "$REPO" "$HOME/dotfiles" && cd "$HOME/dotfiles" '
    '&& if [ -n "$INSTALL" ]; then sh -c "$INSTALL"; fi\n'
)
_CLONE = (
    'command -v git >/dev/null 2>&1 || { echo "git is not in the image" >&2; exit 1; }\n'
    'set -- git clone -q --single-branch\n'
    'if [ -n "$BRANCH" ]; then set -- "$@" --branch "$BRANCH"; fi\n'
    '"$@" -- "$REPO" "$TARGET"\n'
)


def _repo_dir(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return name.removesuffix(".git") or "repo"


def _as_user(
    runtime: Runtime, container_id: str, user: str, home: str, script: str,
    env: dict[str, str], what: str, progress: Progress | None,
) -> None:
    result = runtime.exec(container_id, ["sh", "-c", script], user=user, env=env, workdir=home)
    if result.exit_code != 0:
        tail = result.output.decode(errors="replace").strip().splitlines()[-3:]
        log.warning(f"{what} failed", user=user, output=" | ".join(tail))
        if progress:
            progress(f"warning: {what} failed: " + " ".join(tail)[:200])


def destroy_session(
    *, conn: sqlite3.Connection, row: SessionRow, reason: str, runtime: Runtime | None = None
) -> None:
    """Remove the container, its services and network, then the row. Caller holds the lock.

    Each removal is tried even if an earlier one failed; a failure leaves the row in place so
    that the next login or cleanup pass tries again.
    """
    runtime = runtime or get_runtime()
    log.info("destroying session", user=row.user, project=row.project or None,
             container=row.container_name, reason=reason)
    failures: list[str] = []
    owner = labels.owner(install_id(conn), row.user, row.project)
    if row.id:
        owner[labels.SESSION] = row.id
    targets = [(row.container_id or row.container_name, "session")]
    targets += [(s, "service") for s in row.service_ids.split(",") if s]
    for target, role in targets:
        try:
            runtime.remove(target, owner={**owner, labels.ROLE: role})
        except PodspawnError as exc:
            failures.append(f"{target}: {exc.detail or exc.message}")
    network = str(row.runtime_state.get("network") or row.network_id)
    if network:
        try:
            runtime.remove_network(network, owner={**owner, labels.ROLE: "network"})
        except PodspawnError as exc:
            failures.append(f"{network}: {exc.detail or exc.message}")
    if failures:
        log.error("destroy incomplete, will retry", user=row.user, failures="; ".join(failures))
        return
    delete_session(conn, row.user, row.project)
    audit.record("container.destroy", user=row.user, project=row.project,
                 container=row.container_name, reason=reason)


def _clear_leftovers(
    runtime: Runtime, owner: Mapping[str, str], *, name: str, network: str
) -> None:
    """Remove what a crashed session of this (user, project) left behind, and nothing else.

    The caller found no session row, so every container carrying ``owner`` is a leftover.
    Something else under the session's names (another tenant's, or not podspawn's at all) is
    refused by the removals' label check and so stops the login with a clear error.

    Raises:
        Conflict: a container or network of the session's name belongs to someone else.
    """
    for info in runtime.list_containers(owner):
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
    from podspawn.names import validate_project

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
