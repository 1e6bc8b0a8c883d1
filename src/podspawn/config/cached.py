"""Load the server config on the login path without importing yaml or pydantic.

``auth-keys`` and ``spawn`` run on every SSH connection, so they read a JSON snapshot that the
cold path wrote beside the config file after validating it. The snapshot records the config
file's inode, size and mtime; if any differ the snapshot is stale and the full loader runs.
A missing config file means the defaults, which cost nothing to build. The snapshots'
format is :mod:`podspawn.config.snapshot`.
"""

from __future__ import annotations

import os

from podspawn.config import snapshot
from podspawn.paths import config_path, state_dir

#: ``ResourcesConfig.max_connections_per_user``'s default, repeated so that a warm login
#: never imports the schema (its dataclasses cost about 20 ms); a unit test keeps them equal.
DEFAULT_MAX_CONNECTIONS = 10

TYPE_CHECKING = False  # not typing's: importing typing costs auth-keys about 3 ms
if TYPE_CHECKING:
    from podspawn.config.schema import ServerConfig


def load_fast(path: str | None = None) -> ServerConfig:
    """The config at ``path``, from the snapshot when it is fresh.

    Raises:
        ConfigError: (from the full loader) the file is unreadable or invalid.
    """
    from podspawn.config.schema import ServerConfig

    path = config_path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ServerConfig()
    except OSError:
        st = None
    if st is not None:
        try:
            whole = snapshot.read_whole(path)
            if whole.get("source") == snapshot.fingerprint(st):
                return ServerConfig.from_trusted_dict(whole["config"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    from podspawn.config.loader import load_config  # cold: yaml + pydantic

    return load_config(path)


def load_key_dir(path: str | None = None) -> str:
    """``auth.key_dir`` of the config at ``path``: all that ``auth-keys`` needs.

    Read from the fresh login snapshot without building the config (it was validated when
    it was written); otherwise as ``load_fast(path).auth.key_dir``.

    Raises:
        ConfigError: (from the full loader) the file is unreadable or invalid.
    """
    path = config_path(path)
    try:
        return snapshot.read_login(path)["key_dir"]
    except (OSError, ValueError, KeyError):
        pass
    return load_fast(path).auth.key_dir


class LoginSettings:
    """The few settings a warm ``spawn`` needs, without building the whole config.

    A plain slotted class, not a dataclass: ``dataclasses`` alone costs about 12 ms to
    import, paid on every SSH session. ``full()`` gives the complete, validated config for
    the cold path.
    """

    __slots__ = ("acl", "audit_log", "db_path", "grace_seconds", "key_dir", "lock_dir",
                 "log_file", "max_connections", "path")

    def __init__(self, *, path: str, key_dir: str, db_path: str, lock_dir: str,
                 log_file: str, audit_log: str, grace_seconds: float,
                 acl: dict[str, tuple[list[str], list[str]]] | None = None,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        self.path = path
        self.key_dir = key_dir
        self.db_path = db_path
        self.lock_dir = lock_dir
        self.log_file = log_file
        self.audit_log = audit_log
        self.grace_seconds = grace_seconds
        #: ``resources.max_connections_per_user`` (0: unlimited)
        self.max_connections = max_connections
        #: project -> (users, groups), only for projects that have an access list
        self.acl = acl or {}

    @property
    def state_dir(self) -> str:
        return state_dir(self.db_path)

    def full(self) -> ServerConfig:
        return load_fast(self.path)

    @classmethod
    def from_config(cls, path: str, config: ServerConfig) -> LoginSettings:
        acl = {
            name: (list(entry.get("users") or ()), list(entry.get("groups") or ()))
            for name, entry in config.projects.items()
            if entry.get("users") is not None or entry.get("groups") is not None
        }
        return cls(path=path, key_dir=config.auth.key_dir, db_path=config.state.db_path,
                   lock_dir=config.state.lock_dir, log_file=config.log_file,
                   audit_log=config.log.audit_log,
                   grace_seconds=config.session.grace_seconds, acl=acl,
                   max_connections=config.resources.max_connections_per_user)


def load_login_settings(path: str | None = None) -> LoginSettings:
    """The login settings of the config at ``path``: from a fresh snapshot when there is
    one (the cold path wrote ``grace_seconds`` and ``max_connections_per_user`` into it),
    else from the full loader.

    Raises:
        ConfigError: (from the full loader) the file is unreadable or invalid.
    """
    path = config_path(path)
    try:
        values = snapshot.read_login(path)
        return LoginSettings(
            path=path, key_dir=values["key_dir"], db_path=values["db_path"],
            lock_dir=values["lock_dir"], log_file=values["log_file"],
            audit_log=values.get("audit_log", ""),
            grace_seconds=float(values["grace_seconds"]),
            acl=snapshot.login_acls(values),
            # absent from a snapshot of an older podspawn, which refused the key in the file
            max_connections=int(values.get("max_connections_per_user",
                                           DEFAULT_MAX_CONNECTIONS)),
        )
    except (OSError, ValueError, KeyError):
        pass
    return LoginSettings.from_config(path, load_fast(path))
