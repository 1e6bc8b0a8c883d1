"""Host login accounts for podspawn users, created and deleted only by podspawn.

sshd consults the AuthorizedKeysCommand only for a name in the passwd database, so each
podspawn user needs an account. It is created with no password (``*``: keys only), the shell
``/bin/sh`` (sshd runs the forced command through it), the root-owned ``/`` as home (nothing
for the user to write, no ``~/.ssh``), membership in the ``podspawn`` group (which the sshd
``Match`` block and the sudoers rule key on) and a GECOS marker. An account podspawn did not
create is never modified or deleted unless the admin adopted it.
"""

from __future__ import annotations

import grp
import pwd
import subprocess

from podspawn.errors import Conflict, SetupError
from podspawn.names import RESERVED_USERS

GROUP = "podspawn"
AUTH_USER = "podspawn-auth"
MARKER = "podspawn user"
FIRST_REGULAR_UID = 1000


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SetupError(
            f"{argv[0]} failed: {(result.stderr or result.stdout).strip()[:300]}",
        )


def find_account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def is_podspawn_made(entry: pwd.struct_passwd) -> bool:
    return entry.pw_gecos == MARKER


def check_adoptable(name: str, *, adopt: bool) -> pwd.struct_passwd | None:
    """The existing account for ``name`` if podspawn may use it, else None when there is none.

    Raises:
        Conflict: a system account (or root) is never taken; a person's account only with
            ``adopt``.
    """
    entry = find_account(name)
    if entry is None:
        return None
    if name in RESERVED_USERS or entry.pw_uid < FIRST_REGULAR_UID or entry.pw_uid == 65534:
        raise Conflict(
            f"{name} is a system account on this host; podspawn never takes those over, "
            "choose another user name"
        )
    if is_podspawn_made(entry):
        return entry
    if not adopt:
        raise Conflict(
            f"a host account named {name} already exists and podspawn did not create it; "
            "choose another name, or pass --adopt-account to turn it into a podspawn login "
            "(its normal SSH access then ends)"
        )
    return entry


def ensure_group() -> None:
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        _run(["groupadd", "--system", GROUP])


def ensure_auth_user() -> pwd.struct_passwd:
    """The unprivileged account sshd runs ``auth-keys`` as; it may read keys, nothing else."""
    entry = find_account(AUTH_USER)
    if entry is None:
        _run([
            "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
            "--shell", "/usr/sbin/nologin", "--comment", "podspawn key lookup", AUTH_USER,
        ])
        entry = pwd.getpwnam(AUTH_USER)
    return entry


def create_account(name: str) -> None:
    ensure_group()
    _run([
        "useradd", "--no-create-home", "--home-dir", "/", "--shell", "/bin/sh",
        "--gid", GROUP, "--comment", MARKER, "--password", "*", name,
    ])


def adopt_account(name: str) -> None:
    ensure_group()
    _run(["usermod", "--append", "--groups", GROUP, name])


def release_account(name: str, *, created: bool) -> bool:
    """Delete an account podspawn made, or drop an adopted one from the group.

    Returns whether anything was changed. Anything not made or adopted is left alone.
    """
    entry = find_account(name)
    if entry is None:
        return False
    if created and is_podspawn_made(entry) and entry.pw_uid >= FIRST_REGULAR_UID:
        _run(["userdel", name])
        return True
    try:
        members = grp.getgrnam(GROUP).gr_mem
    except KeyError:
        return False
    if name in members:
        _run(["gpasswd", "--delete", name, GROUP])
        return True
    return False
