"""The two snapshots of a validated config that the login path reads instead of the YAML.

Root commands validate ``config.yaml`` (``podspawn.config.loader``) and write, beside it:

* ``.<name>.cache.json``: the whole config as JSON, for a cold ``spawn``;
* ``.<name>.login``: ``key value`` lines with the few settings ``auth-keys`` and a warm
  ``spawn`` need, read without importing ``json``.

Both record the config file's inode, size and mtime (``source``); a snapshot whose source
differs is stale. Both are trusted only if root (or the reading account) wrote them and
nobody else can write them: spawn runs as root and would otherwise take ``key_dir``,
``db_path`` and the container settings from a planted file. This module is the format, read
and written; it imports nothing heavy, since the login path reads through it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs auth-keys about 3 ms
if TYPE_CHECKING:
    from typing import Any

    from podspawn.config.schema import ServerConfig

#: Keys of the login snapshot that must hold absolute paths for it to be used.
LOGIN_PATHS = ("key_dir", "db_path", "lock_dir", "log_file")
#: A project's access list in the login snapshot: ``acl.<project> users|groups``.
ACL_PREFIX = "acl."


def cache_path(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.cache.json")


def login_snapshot_path(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.login")


def fingerprint(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


# -- reading --------------------------------------------------------------------------------


def read_whole(path: str) -> dict[str, Any]:
    """The JSON snapshot beside the config at ``path``, if root-written (fresh or not).

    Raises:
        OSError, ValueError: no usable snapshot.
    """
    import json  # the cold snapshot; the login path reads the text one

    with open(cache_path(path), encoding="utf-8") as fh:
        _check_owner(os.fstat(fh.fileno()))
        snapshot = json.load(fh)
    if not isinstance(snapshot, dict):
        raise ValueError("snapshot is not an object")
    return snapshot


def read_login(path: str) -> dict[str, str]:
    """The ``key value`` login snapshot beside ``path`` if it is fresh and root-written.

    Raises:
        OSError, ValueError: no usable snapshot.
    """
    with open(login_snapshot_path(path), encoding="utf-8") as fh:
        _check_owner(os.fstat(fh.fileno()))
        values = dict(line.rstrip("\n").partition(" ")[::2] for line in fh)
    source = os.stat(path)
    if values.get("source") != " ".join(str(n) for n in fingerprint(source)):
        raise ValueError("snapshot is stale")
    for key in LOGIN_PATHS:
        if not values.get(key, "").startswith("/"):
            raise ValueError(f"snapshot lacks {key}")
    return values


def parse_acl(value: str) -> tuple[list[str], list[str]]:
    """``(users, groups)`` from a login snapshot's ``users|groups`` value."""
    users, _, groups = value.partition("|")
    return [u for u in users.split(",") if u], [g for g in groups.split(",") if g]


def login_acls(values: dict[str, str]) -> dict[str, tuple[list[str], list[str]]]:
    return {key[len(ACL_PREFIX):]: parse_acl(value) for key, value in values.items()
            if key.startswith(ACL_PREFIX)}


def _check_owner(st: os.stat_result) -> None:
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
        raise ValueError("snapshot not written by root")


# -- writing --------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` with tuples as lists, as JSON and YAML write them."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def acl_line(entry: dict[str, Any]) -> str:
    """A project's access list as the login snapshot stores it: ``users|groups``, each a
    comma list (names hold neither character)."""
    return ",".join(entry.get("users") or ()) + "|" + ",".join(entry.get("groups") or ())


def write(path: str, st: os.stat_result, config: ServerConfig) -> None:
    """Write both snapshots of ``config``, read from the file at ``path`` whose stat is ``st``.

    Best effort: a failed snapshot only costs the next login a full parse.
    """
    import json

    whole = json.dumps({"source": fingerprint(st), "config": plain(config.to_dict()),
                        "grace_seconds": config.session.grace_seconds})
    source = " ".join(str(n) for n in fingerprint(st))
    login = "".join(
        f"{key} {value}\n"
        for key, value in (
            ("source", source),
            ("key_dir", config.auth.key_dir),
            ("db_path", config.state.db_path),
            ("lock_dir", config.state.lock_dir),
            ("log_file", config.log_file),
            ("audit_log", config.log.audit_log),
            ("grace_seconds", repr(config.session.grace_seconds)),
            ("max_connections_per_user", str(config.resources.max_connections_per_user)),
            *(
                (f"{ACL_PREFIX}{name}", acl_line(entry))
                for name, entry in sorted(config.projects.items())
                if entry.get("users") is not None or entry.get("groups") is not None
            ),
        )
    )
    for target, text in ((cache_path(path), whole), (login_snapshot_path(path), login)):
        _write_file(target, text)


def _write_file(target: str, text: str) -> None:
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        # O_EXCL|O_NOFOLLOW: never write through a link planted beside the config
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
