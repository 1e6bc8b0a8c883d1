"""Who runs local mode, where its state lives, and what its sessions are called.

Everything sits in ``~/.podspawn`` (``PODSPAWN_LOCAL_STATE`` moves it, for tests): a state
database of the server's schema, its locks and its log. The server's settings are reused
with those paths, so the image recipe and the session spec are the server's own.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from podspawn.config.schema import ImagesConfig, LogConfig, ServerConfig, StateConfig
from podspawn.errors import PermissionDenied, RuntimeUnavailable, UsageError
from podspawn.names import is_valid_user

if TYPE_CHECKING:
    import sqlite3

    from podspawn.runtime.base import Runtime

#: Local sessions carry this as ``labels.MODE``.
MODE_VALUE = "local"


def state_dir() -> str:
    from podspawn.client.paths import podspawn_dir

    return os.environ.get("PODSPAWN_LOCAL_STATE") or podspawn_dir()


def local_config(root: str) -> ServerConfig:
    """The server's defaults with state under ``root``; builds unlimited in processes,
    since a per-build cgroup needs root (the laptop is the user's own)."""
    base = ServerConfig()
    return replace(
        base,
        state=StateConfig(db_path=os.path.join(root, "state.db"),
                          lock_dir=os.path.join(root, "locks"),
                          homes_dir=os.path.join(root, "homes")),
        log=LogConfig(file=os.path.join(root, "podspawn.log")),
        images=replace(ImagesConfig(), build_pids=0),
        projects_file=os.path.join(root, "projects.yaml"),
        users_dir=os.path.join(root, "users"),
    )


@dataclass(frozen=True, slots=True)
class Invoker:
    """The host account running local mode; its uid becomes the container user's."""

    user: str
    uid: int
    gid: int


def invoker() -> Invoker:
    """The invoking account.

    Raises:
        PermissionDenied: run as root, or under a name containers cannot carry.
    """
    import pwd

    uid = os.getuid()
    if uid == 0:
        raise PermissionDenied("local mode runs as your own account, not root; run podspawn "
                               "dev as a user in the docker group")
    name = pwd.getpwuid(uid).pw_name
    if not is_valid_user(name):
        raise PermissionDenied(f"your account name {name!r} cannot name a container user; "
                               "local mode needs lowercase letters, digits, '_' or '-'")
    return Invoker(user=name, uid=uid, gid=os.getgid())


@dataclass
class LocalContext:
    config: ServerConfig
    conn: sqlite3.Connection
    runtime: Runtime
    me: Invoker


def open_context() -> LocalContext:
    """State, log and engine for one local command.

    Raises:
        PermissionDenied: see :func:`invoker`.
        RuntimeUnavailable: Docker cannot be reached.
    """
    from podspawn import log
    from podspawn.runtime import get_runtime
    from podspawn.state.db import open_db

    me = invoker()
    root = state_dir()
    os.makedirs(root, mode=0o700, exist_ok=True)
    config = local_config(root)
    os.makedirs(config.state.lock_dir, mode=0o700, exist_ok=True)
    log.configure(config.log_file, role="local")
    conn = open_db(config.state.db_path, create=True)
    try:
        runtime = get_runtime("docker")
        runtime.image_id("podspawn-local-probe")  # a first call reaches the engine, or fails
    except RuntimeUnavailable as exc:
        raise RuntimeUnavailable(laptop_unavailable(), detail=exc.detail) from None
    return LocalContext(config=config, conn=conn, runtime=runtime, me=me)


def laptop_unavailable() -> str:
    """The server runtime's message speaks to an administrator; this one to a laptop's
    owner, naming the socket it tried."""
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return (f"Docker is not reachable at {where}; start Docker Desktop or the docker "
            "service (or point DOCKER_HOST at a running engine) and try again")


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9-]", "", text.lower())[:limit].strip("-")


def project_name(directory: str, podfile_name: str | None) -> str:
    """The project a checkout builds as: the Podfile's ``name``, else the directory's name.
    ``add-project`` of the same name gets the same image tag.

    Raises:
        UsageError: nothing usable is left of the directory's name.
    """
    if podfile_name:
        return podfile_name
    name = _slug(os.path.basename(os.path.abspath(directory)), 39)
    if not name:
        raise UsageError("this directory's name has no letters or digits to name the "
                         "project; set name: in the Podfile")
    return name


def session_name(directory: str, project: str) -> str:
    """``<project, 30 chars>-<4 hex of the path's sha256>``: two checkouts of one project
    get two sessions, and the same checkout always the same one."""
    digest = hashlib.sha256(os.path.abspath(directory).encode()).hexdigest()[:4]
    return f"{_slug(project, 30) or 'dev'}-{digest}"
