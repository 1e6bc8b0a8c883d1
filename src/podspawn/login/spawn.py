"""``podspawn spawn``: the forced command behind every podspawn SSH session.

The warm path (the user's container is running) costs one SQLite transaction, one raw engine
request and a fork/exec of ``docker exec``. Anything else, such as a first login, a stopped
container or an expired session, goes to ``podspawn.services.sessions``, imported on demand.
"""

from __future__ import annotations

import os
import sys
import time

from podspawn import audit, inner_sshd, log
from podspawn.config.cached import LoginSettings, load_login_settings
from podspawn.errors import PermissionDenied, UsageError
from podspawn.lifecycle import backend, engine_state, on_last_disconnect, reusable
from podspawn.locks import user_lock
from podspawn.login.handoff import expect_notices, run_attached
from podspawn.login.hostkeys import ensure_host_key
from podspawn.login.identity import current_user
from podspawn.login.router import Request, classify, container_argv, container_env
from podspawn.names import project_from_host
from podspawn.paths import key_file
from podspawn.procs import is_alive, seconds_since, start_time
from podspawn.quotas import check_connections
from podspawn.runtime import login_module
from podspawn.state.db import open_db
from podspawn.state.notices import take_notices
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import add_connection, get_session, prune_dead, remove_connection
from podspawn.state.timings import LOGIN, record_timing
from podspawn.state.users import get_user

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3

_PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "SSH_CONNECTION", "SSH_CLIENT")


def _parse(args: list[str]) -> tuple[str | None, str | None]:
    user = project = None
    rest = list(args)
    while rest:
        head = rest.pop(0)
        if head in ("--user", "--project") and rest:
            value = rest.pop(0)
        elif head.startswith(("--user=", "--project=")):
            head, value = head.split("=", 1)
        else:
            raise UsageError(f"unexpected argument {head[:40]!r} to spawn")
        if head == "--user":
            user = value
        else:
            project = value
    return user, project


def main(args: list[str], *, config_path: str | None) -> int:
    claimed_user, claimed_project = _parse(args)
    config = load_login_settings(config_path)
    log.configure(config.log_file, role="spawn")
    audit.configure(config.audit_log)
    user = current_user(claimed_user)
    request = classify(os.environ.get("SSH_ORIGINAL_COMMAND", ""), tty=os.isatty(0))
    if request.kind == "hostkey":
        return _print_host_key(config, user)
    if request.kind == "version":
        from podspawn import __version__

        sys.stdout.write(f"podspawn {__version__}\n")
        return 0
    raw_project = claimed_project or os.environ.get("PODSPAWN_PROJECT", "")
    if request.kind == "tunnel":
        raw_project = request.command
    project = project_from_host(raw_project) if raw_project else ""
    if project in config.acl:
        from podspawn.access import check

        check(user, project, *config.acl[project])

    conn = open_db(config.db_path)
    registered = get_user(conn, user)
    if registered is not None and registered.expires_at is not None \
            and time.time() >= registered.expires_at:
        raise PermissionDenied("your access to this server has expired")
    me = os.getpid()
    connection = Connection(
        user=user, project=project, pid=me, pid_start=start_time(me) or 0, started_at=time.time()
    )
    expect_notices()  # before the connection is recorded: from then on notices may come
    row = _join_warm(conn, config, connection)
    path = "warm"
    if row is None:
        from podspawn.services.sessions import open_session

        path = "cold"
        row = open_session(config=config.full(), conn=conn, connection=connection)
    log.info("session attach", user=user, project=project or None, kind=request.kind,
             container=row.container_name)
    audit.record("session.connect", user=user, project=project, container=row.container_name,
                 kind=request.kind, command=request.command or None,
                 client=os.environ.get("SSH_CLIENT"))
    try:
        code = run_attached(
            _handoff_argv(config, row, request, user=user, project=project),
            notices=lambda: take_notices(conn, connection.pid, connection.pid_start),
            started=lambda: _record_login(conn, connection, path),
        )
    finally:
        _leave(conn, config, connection)
    audit.record("session.disconnect", user=user, project=project,
                 container=row.container_name, exit_code=code)
    return code


def _record_login(conn: sqlite3.Connection, connection: Connection, path: str) -> None:
    """Store how long this login took, from the start of this process to the hand-off, for
    the metrics daemon's latency histogram (``path`` is ``warm`` or ``cold``)."""
    if connection.pid_start:
        record_timing(conn, LOGIN, seconds_since(connection.pid_start), path)


def _join_warm(
    conn: sqlite3.Connection, config: LoginSettings, connection: Connection
) -> SessionRow | None:
    """Join the running session under the user's lock, or return None for the cold path.

    Raises:
        LimitReached: the user has ``resources.max_connections_per_user`` open already.
    """
    with user_lock(config.lock_dir, connection.user):
        prune_dead(conn, is_alive)
        check_connections(conn, connection.user, config.max_connections)
        row = get_session(conn, connection.user, connection.project)
        if row is None or row.status == "starting":
            return None
        status = login_module(backend(row)).poll(engine_state(row))
        if not reusable(row, status, time.time()):
            return None
        add_connection(conn, connection)
        return row


def _leave(conn: sqlite3.Connection, config: LoginSettings, connection: Connection) -> None:
    """Record the disconnect; the last one starts the grace period or destroys the session."""
    with user_lock(config.lock_dir, connection.user):
        remaining = remove_connection(conn, connection)
        row = get_session(conn, connection.user, connection.project)
        if row is None or remaining > 0:
            return
        action = on_last_disconnect(row.mode, config.grace_seconds)
        if action == "grace":
            from podspawn.state.sessions import set_grace

            set_grace(conn, row.user, row.project, time.time() + config.grace_seconds)
            log.info("last connection closed, grace period started", user=row.user,
                     project=row.project or None, container=row.container_name)
            return
        if action == "destroy":
            from podspawn.services.sessions import destroy_session

            destroy_session(conn=conn, row=row, reason="disconnect")


def _print_host_key(config: LoginSettings, user: str) -> int:
    with user_lock(config.lock_dir, user):
        _, public = ensure_host_key(config.state_dir, user)
    sys.stdout.write(public + "\n")
    return 0


def _tunnel_argv(config: LoginSettings, row: SessionRow, user: str, project: str) -> list[str]:
    """The in-container sshd, speaking SSH on this channel."""
    with user_lock(config.lock_dir, user):
        private, _ = ensure_host_key(config.state_dir, user)
    try:
        with open(key_file(config.key_dir, user), encoding="utf-8") as fh:
            keys = fh.read()
    except OSError:
        keys = ""
    env = inner_sshd.start_env(
        user=user, authorized_keys=keys, host_key=private, project=project,
        workdir=str(row.runtime_state.get("workdir", "")),
    )
    # the private host key and the user's keys must not be in the engine CLI's argv
    # (world-readable in /proc): it inherits them from this root-only environment instead
    os.environ.update(env)
    return _argv(
        row,
        inner_sshd.start_command(),
        user="root",
        workdir="/",
        env={},
        inherited=tuple(env),
        tty=False,
    )


def _handoff_argv(
    config: LoginSettings, row: SessionRow, request: Request, *, user: str, project: str
) -> list[str]:
    if request.kind == "tunnel":
        return _tunnel_argv(config, row, user, project)
    shell = str(row.runtime_state.get("shell", "/bin/sh"))
    home = str(row.runtime_state.get("home", "/"))
    env = {"USER": user, "LOGNAME": user, "HOME": home, "SHELL": shell,
           "PODSPAWN_USER": user, "PODSPAWN_PROJECT": project}
    if request.tty:
        env["TERM"] = os.environ.get("TERM", "xterm")
    for key in _PASSED_ENV:
        value = os.environ.get(key)
        if value is not None and "\n" not in value:
            env[key] = value
    hidden = container_env(request, shell=shell)
    os.environ.update(hidden)  # the engine's CLI passes these on, out of every argv
    return _argv(
        row,
        container_argv(request, shell=shell),
        user=user,
        workdir=str(row.runtime_state.get("workdir", home)),
        env=env,
        tty=request.tty and request.kind != "sftp",
        inherited=tuple(hidden),
    )


def _argv(row: SessionRow, argv: list[str], *, user: str, workdir: str,
          env: dict[str, str], tty: bool, inherited: tuple[str, ...]) -> list[str]:
    """The hand-off to the session's backend (``docker exec`` for Docker): attached to this
    process's stdio, so no byte of the session passes through Python.

    A session claimed from a warm pool has its environment in its row, not in its
    container: it goes with the command, out of the argv like the other hidden values."""
    session_env = row.runtime_state.get("env")
    if session_env:
        carried = {str(k): str(v) for k, v in session_env.items()
                   if k not in env and k not in inherited}
        os.environ.update(carried)
        inherited = (*carried, *inherited)
    return login_module(backend(row)).handoff_argv(
        engine_state(row), argv, user=user, workdir=workdir, env=env, tty=tty,
        inherited=inherited)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:], config_path=None))
