"""Load the server config on the login path without importing yaml or pydantic.

``auth-keys`` and ``spawn`` run on every SSH connection, so they read a JSON snapshot that the
cold path wrote beside the config file after validating it. The snapshot records the config
file's inode, size and mtime; if any differ the snapshot is stale and the full loader runs.
A missing config file means the defaults, which cost nothing to build.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False  # not typing's: importing typing costs auth-keys about 3 ms
if TYPE_CHECKING:
    from typing import Any

    from podspawn.config.schema import ServerConfig

#: ``podspawn.config.schema.DEFAULT_CONFIG_PATH``, repeated so that ``auth-keys`` (run twice
#: per login) never imports the schema: its dataclasses cost about 20 ms. A unit test keeps
#: the two equal.
DEFAULT_CONFIG_PATH = "/etc/podspawn/config.yaml"


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("PODSPAWN_CONFIG") or DEFAULT_CONFIG_PATH


def cache_path(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.cache.json")


def fingerprint(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _read_snapshot(path: str) -> dict[str, Any]:
    """The snapshot beside ``path``, trusted only if root (or this account) wrote it and
    nobody else can: spawn runs as root and would otherwise take key_dir, db_path and the
    container settings from a file planted in a directory others can write.

    Raises:
        OSError, ValueError: no usable snapshot.
    """
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


def load_key_dir(path: str | None = None) -> str:
    """``auth.key_dir`` of the config at ``path``: all that ``auth-keys`` needs.

    Read straight from a fresh snapshot, without building the config (the snapshot was
    validated when it was written); otherwise as ``load_fast(path).auth.key_dir``.

    Raises:
        ConfigError: (from the full loader) the file is unreadable or invalid.
    """
    path = config_path(path)
    try:
        st = os.stat(path)
        snapshot = _read_snapshot(path)
        if snapshot.get("source") == fingerprint(st):
            key_dir = snapshot["config"]["auth"]["key_dir"]
            if isinstance(key_dir, str) and key_dir.startswith("/"):
                return key_dir
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return load_fast(path).auth.key_dir
