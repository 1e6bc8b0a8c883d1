"""Load the server config on the login path without importing yaml or pydantic.

``auth-keys`` and ``spawn`` run on every SSH connection, so they read a JSON snapshot that the
cold path wrote beside the config file after validating it. The snapshot records the config
file's inode, size and mtime; if any differ the snapshot is stale and the full loader runs.
A missing config file means the defaults, which cost nothing to build.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs auth-keys about 3 ms
if TYPE_CHECKING:
    from typing import Any

    from podspawn.config.schema import ServerConfig

#: ``podspawn.config.schema.DEFAULT_CONFIG_PATH``, repeated so that ``auth-keys`` (run twice
#: per login) never imports the schema: its dataclasses cost about 20 ms. A unit test keeps
#: the two equal.
DEFAULT_CONFIG_PATH = "/etc/podspawn/config.yaml"
#: ``ResourcesConfig.max_connections_per_user``'s default, repeated for the same reason.
DEFAULT_MAX_CONNECTIONS = 10


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("PODSPAWN_CONFIG") or DEFAULT_CONFIG_PATH


def cache_path(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.cache.json")


def login_snapshot_path(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.login")


def fingerprint(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _read_snapshot(path: str) -> dict[str, Any]:
    """The snapshot beside ``path``, trusted only if root (or this account) wrote it and
    nobody else can: spawn runs as root and would otherwise take key_dir, db_path and the
    container settings from a file planted in a directory others can write.

    Raises:
        OSError, ValueError: no usable snapshot.
    """
    import json  # the cold snapshot; the login path reads the text one

    with open(cache_path(path), encoding="utf-8") as fh:
        st = os.fstat(fh.fileno())
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
            raise ValueError("snapshot not written by root")
        snapshot = json.load(fh)
    if not isinstance(snapshot, dict):
        raise ValueError("snapshot is not an object")
    return snapshot


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
            snapshot = _read_snapshot(path)
            if snapshot.get("source") == fingerprint(st):
                return ServerConfig.from_trusted_dict(snapshot["config"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    from podspawn.config.loader import load_config  # cold: yaml + pydantic

    return load_config(path)


def _read_login_snapshot(path: str) -> dict[str, str]:
    """The ``key value`` login snapshot beside ``path`` if it is fresh and root-written.

    Raises:
        OSError, ValueError: no usable snapshot.
    """
    with open(login_snapshot_path(path), encoding="utf-8") as fh:
        st = os.fstat(fh.fileno())
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
            raise ValueError("snapshot not written by root")
        values = dict(line.rstrip("\n").partition(" ")[::2] for line in fh)
    source = os.stat(path)
    if values.get("source") != " ".join(str(n) for n in fingerprint(source)):
        raise ValueError("snapshot is stale")
    for key in ("key_dir", "db_path", "lock_dir", "log_file"):
        if not values.get(key, "").startswith("/"):
            raise ValueError(f"snapshot lacks {key}")
    return values


def load_key_dir(path: str | None = None) -> str:
    """``auth.key_dir`` of the config at ``path``: all that ``auth-keys`` needs.

    Read from the fresh login snapshot without building the config (it was validated when
    it was written); otherwise as ``load_fast(path).auth.key_dir``.

    Raises:
        ConfigError: (from the full loader) the file is unreadable or invalid.
    """
    path = config_path(path)
    try:
        return _read_login_snapshot(path)["key_dir"]
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
        return os.path.dirname(self.db_path)

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


def _acl(value: str) -> tuple[list[str], list[str]]:
    users, _, groups = value.partition("|")
    return [u for u in users.split(",") if u], [g for g in groups.split(",") if g]


def load_login_settings(path: str | None = None) -> LoginSettings:
    """The login settings of the config at ``path``: from a fresh snapshot when there is
    one (the cold path wrote ``grace_seconds`` and ``max_connections_per_user`` into it),
    else from the full loader.

    Raises:
        ConfigError: (from the full loader) the file is unreadable or invalid.
    """
    path = config_path(path)
    try:
        values = _read_login_snapshot(path)
        return LoginSettings(
            path=path, key_dir=values["key_dir"], db_path=values["db_path"],
            lock_dir=values["lock_dir"], log_file=values["log_file"],
            audit_log=values.get("audit_log", ""),
            grace_seconds=float(values["grace_seconds"]),
            # absent from a snapshot of an older podspawn, which refused the key in the file
            max_connections=int(values.get("max_connections_per_user",
                                           DEFAULT_MAX_CONNECTIONS)),
            acl={key[len("acl."):]: _acl(value) for key, value in values.items()
                 if key.startswith("acl.")},
        )
    except (OSError, ValueError, KeyError):
        pass
    return LoginSettings.from_config(path, load_fast(path))
