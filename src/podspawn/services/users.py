"""Register, list and remove podspawn users: keys, host accounts and their sessions.

Every key is read and validated before anything is written, so a bad line leaves the stored
key file exactly as it was. The key file is the only thing ``auth-keys`` reads; the state
database remembers whether podspawn created the host account, which alone allows deleting it.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from podspawn import audit, log
from podspawn.config.schema import ServerConfig
from podspawn.errors import Conflict, InvalidKey, UsageError, UserNotFound
from podspawn.files import atomic_write
from podspawn.keys import PublicKey, merge_keys, parse_key, parse_key_text, render_key_file
from podspawn.locks import user_lock
from podspawn.names import RESERVED_USERS, validate_user
from podspawn.paths import host_key_paths, key_file, state_dir
from podspawn.runtime.base import Runtime
from podspawn.services import accounts
from podspawn.services.sessions import destroy_session
from podspawn.state.records import UserRow
from podspawn.state.sessions import list_sessions
from podspawn.state.users import delete_user, get_user, list_users, upsert_user

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3

_GITHUB_HANDLE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


@dataclass(frozen=True, slots=True)
class AddedUser:
    name: str
    added: int
    total: int
    account_created: bool


@dataclass(frozen=True, slots=True)
class RemovedUser:
    name: str
    sessions_destroyed: int
    kept_home: str = ""
    """A persistent home left in place (removed only with ``purge``)."""


@dataclass(frozen=True, slots=True)
class UserSummary:
    name: str
    keys: int
    sessions: int
    expires_at: float | None


def fetch_github_keys(handle: str, *, base_url: str, timeout: float = 10.0) -> list[PublicKey]:
    """The public keys GitHub publishes for ``handle``, fetched once, at add time.

    Raises:
        UsageError: the handle is malformed, the fetch failed, or it returned no key.
        InvalidKey: a returned line is not a valid key.
    """
    if not _GITHUB_HANDLE.fullmatch(handle):
        raise UsageError(f"invalid GitHub user name {handle[:40]!r}")
    url = f"{base_url.rstrip('/')}/{handle}.keys"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked by config
            text = response.read(1_000_000).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise UsageError(
            f"fetching keys for GitHub user {handle} failed (HTTP {exc.code}); check the name"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(
            f"cannot reach {base_url} to fetch keys for {handle}; check the network or "
            "auth.github_url, or pass --key instead"
        ) from exc
    keys = parse_key_text(text, source=f"GitHub keys of {handle}")
    if not keys:
        raise UsageError(f"GitHub user {handle} has no public SSH keys; pass --key instead")
    return keys


def collect_keys(
    *,
    keys: Sequence[str] = (),
    key_files: Sequence[str] = (),
    github: str | None = None,
    github_url: str,
) -> list[PublicKey]:
    """Every key from every source, validated, merged and deduplicated.

    Raises:
        UsageError: no source was given, or a file cannot be read.
        InvalidKey: a key line is wrong (the message names its source and line).
    """
    if not keys and not key_files and not github:
        raise UsageError("give at least one key: --key 'ssh-ed25519 ...', --key-file PATH "
                         "or --github HANDLE")
    groups: list[list[PublicKey]] = []
    for index, text in enumerate(keys, start=1):
        groups.append([parse_key(text, where=f"--key #{index}")])
    for path in key_files:
        try:
            with open(path, encoding="utf-8") as fh:
                content = fh.read(1_000_000)
        except OSError as exc:
            raise UsageError(f"cannot read key file {path}: {exc.strerror}") from exc
        found = parse_key_text(content, source=path)
        if not found:
            raise InvalidKey(f"{path} holds no public key")
        groups.append(found)
    if github:
        groups.append(fetch_github_keys(github, base_url=github_url))
    return merge_keys(*groups)


def key_path(config: ServerConfig, name: str) -> str:
    return key_file(config.auth.key_dir, validate_user(name))


def read_stored_keys(config: ServerConfig, name: str) -> list[PublicKey]:
    try:
        with open(key_path(config, name), encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return []
    return parse_key_text(text, source=key_path(config, name))


def add_user(
    *,
    config: ServerConfig,
    conn: sqlite3.Connection,
    name: str,
    new_keys: list[PublicKey],
    adopt: bool = False,
    ttl_seconds: float | None = None,
) -> AddedUser:
    """Store ``new_keys`` for ``name`` and make sure the host account exists.

    Raises:
        InvalidName: the name is not a plain login name.
        Conflict: the name is a system account, or someone's account and ``adopt`` is off.
    """
    validate_user(name)
    if name in RESERVED_USERS:
        raise Conflict(f"{name} is reserved; choose another user name")
    registered = get_user(conn, name)
    existing = accounts.check_adoptable(name, adopt=adopt)
    stored = read_stored_keys(config, name)
    merged = merge_keys(stored, new_keys)
    created = False
    adopted = ""
    if existing is None:
        accounts.create_account(name)
        created = True
    elif registered is None and not accounts.is_podspawn_made(existing):
        import json

        adopted = json.dumps(accounts.adopt_account(name), sort_keys=True)
    owned = created or (existing is not None and accounts.is_podspawn_made(existing))
    expires_at = time.time() + ttl_seconds if ttl_seconds else None
    try:
        _write_keys(config, name, merged, expires_at)
        upsert_user(
            conn,
            UserRow(
                name=name,
                account_created=owned,
                created_at=time.time(),
                expires_at=expires_at,
                adopted=adopted,
            ),
        )
    except BaseException:
        if created:
            accounts.release_account(name, created=True)
        if adopted:
            _unadopt(name, adopted)
        raise
    log.info("user added", user=name, keys_added=len(merged) - len(stored), keys=len(merged))
    audit.record("user.add", user=name, keys=len(merged), account_created=created,
                 expires_at=expires_at)
    return AddedUser(
        name=name, added=len(merged) - len(stored), total=len(merged), account_created=created
    )


def _write_keys(
    config: ServerConfig, name: str, keys: list[PublicKey], expires_at: float | None = None
) -> None:
    try:
        gid = grp.getgrnam(accounts.AUTH_USER).gr_gid
    except KeyError:
        gid = 0
    os.makedirs(config.auth.key_dir, mode=0o750, exist_ok=True)
    text = render_key_file(keys, expires_at=expires_at)
    atomic_write(key_path(config, name), text.encode(), mode=0o640, uid=0, gid=gid)


def registered_names(*, config: ServerConfig, conn: sqlite3.Connection) -> list[str]:
    """Every user with a row or a key file, sorted: the ones ``list-users`` shows."""
    names = {u.name for u in list_users(conn)}
    try:
        names |= {n for n in os.listdir(config.auth.key_dir) if not n.startswith(".")}
    except OSError:
        pass
    return sorted(names)


def list_all(*, config: ServerConfig, conn: sqlite3.Connection) -> list[UserSummary]:
    rows = {u.name: u for u in list_users(conn)}
    summaries = []
    for name in registered_names(config=config, conn=conn):
        try:
            count = len(read_stored_keys(config, name))
        except (InvalidKey, UsageError, ValueError):
            count = 0
        summaries.append(
            UserSummary(
                name=name,
                keys=count,
                sessions=len(list_sessions(conn, name)),
                expires_at=rows[name].expires_at if name in rows else None,
            )
        )
    return summaries


def _remove_volumes(config: ServerConfig, conn: sqlite3.Connection, name: str,
                    runtime: Runtime | None) -> None:
    """Delete the user's workspaces and service data; they end with the user."""
    from podspawn import labels
    from podspawn.errors import PodspawnError
    from podspawn.runtime import get_runtime
    from podspawn.state.db import install_id

    owner = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.INSTANCE: install_id(conn),
             labels.USER: name}
    try:
        engine = runtime or get_runtime(config.runtime.backend)
        for found in engine.find(owner):
            if found.kind == "volume":
                engine.remove(found, owner=owner)
                log.info("removed volume", user=name, volume=found.name)
        from podspawn.services.pool_slots import remove_claimed_volumes

        # the volumes of warm sessions the user claimed carry the slot's labels, not theirs
        for failure in remove_claimed_volumes(conn, engine, name):
            log.warning("could not remove a volume of a claimed warm session", user=name,
                        error=failure)
    except PodspawnError as exc:
        log.warning("could not remove the user's volumes", user=name,
                    error=exc.detail or exc.message)


def remove_user(
    *,
    config: ServerConfig,
    conn: sqlite3.Connection,
    name: str,
    force: bool,
    purge: bool = False,
    runtime: Runtime | None = None,
) -> RemovedUser:
    """Revoke ``name``: destroy sessions (with ``force``), delete keys and the account, the
    user's override file, pod host key and volumes; the persistent home only with ``purge``.

    Raises:
        UserNotFound: podspawn has no such user (nothing is changed).
        Conflict: the user has sessions and ``force`` is off.
    """
    validate_user(name)
    registered = get_user(conn, name)
    has_keys = os.path.exists(key_path(config, name))
    if name in RESERVED_USERS or (registered is None and not has_keys):
        raise UserNotFound(f"{name} is not a podspawn user; 'podspawn list-users' shows them")
    destroyed = 0
    with user_lock(config.state.lock_dir, name):
        sessions = list_sessions(conn, name)
        if sessions and not force:
            raise Conflict(
                f"{name} has {len(sessions)} running session(s); pass --force to destroy them"
            )
        for row in sessions:
            destroy_session(conn=conn, row=row, reason="user_removed", runtime=runtime)
            destroyed += 1
        _remove_volumes(config, conn, name, runtime)
        try:
            os.unlink(key_path(config, name))
        except FileNotFoundError:
            pass
    # outside the lock: the ending sessions' spawn processes take it to record their exit,
    # and userdel waits for those processes
    accounts.release_account(name, created=bool(registered and registered.account_created))
    if registered is not None and registered.adopted:
        _unadopt(name, registered.adopted)
    _forget_files(config, name)
    from podspawn.services.homes import user_homes

    home = user_homes(config, name)
    kept = ""
    if os.path.isdir(home):
        if purge:
            shutil.rmtree(home, ignore_errors=True)
        else:
            kept = home
    delete_user(conn, name)
    log.info("user removed", user=name, sessions_destroyed=destroyed)
    audit.record("user.remove", user=name, sessions_destroyed=destroyed, purged=purge)
    return RemovedUser(name=name, sessions_destroyed=destroyed, kept_home=kept)


def _unadopt(name: str, adopted: str) -> None:
    """Give an adopted account back its own shell and password field."""
    import json

    try:
        original = json.loads(adopted)
    except ValueError:
        return
    if isinstance(original, dict):
        accounts.restore_account(name, {str(k): str(v) for k, v in original.items()})


def _forget_files(config: ServerConfig, name: str) -> None:
    from podspawn.services.overrides import override_path

    host_keys = host_key_paths(state_dir(config.state.db_path), validate_user(name))
    for path in (override_path(config, name), *host_keys):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
