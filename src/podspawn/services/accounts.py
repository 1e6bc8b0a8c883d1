"""Host login accounts for podspawn users, created and deleted only by podspawn.

sshd consults the AuthorizedKeysCommand only for a name in the passwd database, so each
podspawn user needs an account. It is created with no password (``*``: keys only), the shell
``/bin/sh`` (sshd runs the forced command through it), the root-owned ``/`` as home (nothing
for the user to write, no ``~/.ssh``), membership in the ``podspawn`` group (which the sshd
``Match`` block and the sudoers rule key on) and a GECOS marker. An account podspawn did not
create is never modified or deleted unless the admin adopted it.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import signal
import stat
import subprocess
import time

from podspawn.errors import Conflict, SetupError
from podspawn.names import RESERVED_USERS
from podspawn.paths import SUDOERS_DIR

GROUP = "podspawn"
AUTH_USER = "podspawn-auth"
#: Every installation's sudoers Cmnd_Alias for ``spawn`` starts so (``server_setup`` writes
#: them, :func:`spawn_rule_commands` finds them).
SPAWN_ALIAS_PREFIX = "PODSPAWN_SPAWN"
MARKER = "podspawn user"
FIRST_REGULAR_UID = 1000

#: Groups that hand their members the host, by family: administration (root, sudo, wheel,
#: admin), logs and secrets (adm, systemd-journal, shadow), raw devices (disk, kmem, kvm),
#: root's search path (staff owns /usr/local on Debian), and container or VM managers, each
#: of which starts root processes on request. Groups outside the list are caught by what
#: they own (``ENGINE_SOCKETS``) or by the sudo rules they carry (``sudo -l``).
PRIVILEGED_GROUPS = frozenset({
    "root", "sudo", "wheel", "admin", "adm", "staff", "shadow", "systemd-journal",
    "disk", "kmem", "kvm", "docker", "podman", "containerd", "lxd", "lxc", "incus",
    "incus-admin", "libvirt", "libvirtd", "libvirt-qemu", "microk8s",
})
#: Sockets whose group members drive a root daemon (whatever the group is called).
ENGINE_SOCKETS = (
    "/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock",
    "/run/containerd/containerd.sock", "/var/run/libvirt/libvirt-sock",
    "/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket",
    "/var/lib/incus/unix.socket",
)


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
    if not is_podspawn_made(entry) and not adopt:
        raise Conflict(
            f"a host account named {name} already exists and podspawn did not create it; "
            "choose another name, or pass --adopt-account to turn it into a podspawn login "
            "(its normal SSH access then ends)"
        )
    reason = host_privilege(entry)
    if reason:
        raise Conflict(
            f"{name} {reason}, so podspawn will not make it a login; take that away first, "
            "or choose another user name"
        )
    return entry


def host_privilege(entry: pwd.struct_passwd) -> str:
    """Why this account already reaches the host as root, or "" if nothing says so.

    A podspawn login must not: whatever its sessions are confined to, the account itself
    could use the right through any other door (a cron job, a file it owns, another login
    method). Checked: the primary and every supplementary group (gid 0, ``PRIVILEGED_GROUPS``,
    the owner group of an engine socket) and sudo rights other than podspawn's own rule.

    Raises:
        SetupError: sudo is installed but cannot say what the account may run.
    """
    sockets = _socket_groups()
    for gid in os.getgrouplist(entry.pw_name, entry.pw_gid):
        group = _group_name(gid)
        kind = "primary group" if gid == entry.pw_gid else "group"
        if gid == 0 or group in PRIVILEGED_GROUPS:
            return f"is in {kind} {group}, which gives access to the host"
        if gid in sockets:
            return f"is in {kind} {group}, which may use {sockets[gid]} (root on the host)"
    rules = sudo_rights(entry.pw_name)
    if rules:
        return f"may run {rules[0]!r} with sudo ('sudo -l -U {entry.pw_name}' lists it)"
    return ""


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _socket_groups() -> dict[int, str]:
    """{gid: socket} for each engine socket its group may write to."""
    from podspawn.runtime.docker_login import socket_path

    found: dict[int, str] = {}
    for path in (socket_path(), *ENGINE_SOCKETS):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISSOCK(st.st_mode) and st.st_mode & stat.S_IWGRP:
            found.setdefault(st.st_gid, path)
    return found


def sudo_rights(name: str) -> list[str]:
    """The commands sudo lets ``name`` run, podspawn's own spawn rule left out.

    ``sudo -ll -U`` (root only) asks sudo itself, so rules from include files, aliases,
    groups and LDAP all count. Its long format puts each command on a tab-indented line
    below ``Commands:``. Output that says rules exist but shows no command line counts as
    a right: an unknown format must refuse, not pass.

    Raises:
        SetupError: sudo exists but failed.
    """
    try:
        result = subprocess.run(["sudo", "-n", "-ll", "-U", name], capture_output=True,
                                text=True, check=False, timeout=30)
    except FileNotFoundError:
        return []  # no sudo, no sudo rights
    if result.returncode != 0:
        raise SetupError(
            f"cannot tell whether {name} has sudo rights ('sudo -l -U {name}' failed: "
            f"{result.stderr.strip()[:200]}); fix sudo's configuration and try again"
        )
    return _other_commands(result.stdout, spawn_rule_commands())


def _other_commands(listing: str, ours: frozenset[str]) -> list[str]:
    """The commands in a ``sudo -ll`` listing that are not in ``ours``."""
    if "may run the following commands" not in listing:
        return []
    commands: list[str] = []
    in_commands = False
    for line in listing.splitlines():
        if line.strip() == "Commands:":
            in_commands = True
        elif in_commands and line.startswith("\t") and line.strip():
            commands.append(" ".join(line.split()))
        else:
            in_commands = False
    if not commands:
        return ["(a rule sudo lists in a format podspawn does not read)"]
    return [c for c in commands if c not in ours]


def spawn_rule_commands() -> frozenset[str]:
    """The command lines of every podspawn sudoers drop-in on this host (one per
    installation): the rule ``server-setup`` grants the podspawn group, which is no host
    access of the account's own."""
    found = set()
    try:
        names = os.listdir(SUDOERS_DIR)
    except OSError:
        return frozenset()
    for file_name in names:
        if not file_name.startswith("podspawn"):
            continue
        try:
            with open(os.path.join(SUDOERS_DIR, file_name), encoding="utf-8") as fh:
                text = fh.read()
        except OSError:
            continue
        for line in text.splitlines():
            head, sep, command = line.partition("=")
            words = head.split()
            if sep and len(words) == 2 and words[0] == "Cmnd_Alias" \
                    and words[1].startswith(SPAWN_ALIAS_PREFIX):
                found.add(" ".join(command.split()))
    return frozenset(found)


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


def adopt_account(name: str) -> dict[str, str]:
    """Add ``name`` to the podspawn group, and let sshd accept it for key logins.

    ``useradd`` leaves a bare ``!`` (no password, locked), and sshd without PAM refuses a
    locked account even for keys; ``*`` means the same "no password" without the lock. A
    password hash, locked or not, is left as it is.

    The login shell becomes ``/bin/sh``: sshd runs the forced command through it, and bash
    (built with SSH_SOURCE_BASHRC on Debian) or zsh would first run the account's own
    ``~/.bashrc`` or ``~/.zshenv`` on the host.
    """
    ensure_group()
    entry = pwd.getpwnam(name)
    original = {"shell": entry.pw_shell}
    _run(["usermod", "--append", "--groups", GROUP, "--shell", "/bin/sh", name])
    current = _shadow_password(name)
    if current and current != "*" and set(current) <= {"!", "*"}:
        original["password"] = current
        _run(["usermod", "--password", "*", name])
    return original


def restore_account(name: str, original: dict[str, str]) -> None:
    """Put back what ``adopt_account`` changed (shell, password field) on release."""
    if find_account(name) is None:
        return
    shell = original.get("shell", "")
    if shell.startswith("/") and ":" not in shell:
        _run(["usermod", "--shell", shell, name])
    password = original.get("password", "")
    if password and set(password) <= {"!", "*"}:
        _run(["usermod", "--password", password, name])


def _shadow_password(name: str) -> str | None:
    try:
        with open("/etc/shadow", encoding="utf-8") as fh:
            for line in fh:
                fields = line.rstrip("\n").split(":")
                if fields[0] == name and len(fields) > 1:
                    return fields[1]
    except OSError:
        return None
    return None


def _processes_of(uid: int) -> list[int]:
    """Processes whose real, effective or saved uid is ``uid`` (what userdel looks at)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if str(uid) in line.split()[1:4]:
                            found.append(int(entry))
                        break
        except OSError:
            continue
    return found


def end_processes(uid: int, *, grace: float = 3.0) -> None:
    """End what still runs as a podspawn login that is being deleted.

    That is sshd's per-connection process and the forced command's parents. With the user's
    containers gone they normally exit within a moment; a connection without a session
    (``ssh -N``) would stay forever. userdel refuses while any is alive, and a revoked user
    must not keep a connection, so after ``grace`` seconds they get SIGTERM, then SIGKILL.
    """
    deadline = time.monotonic() + grace
    signals = [signal.SIGTERM, signal.SIGKILL]
    while pids := _processes_of(uid):
        if time.monotonic() >= deadline:
            if not signals:
                return
            sig = signals.pop(0)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 2.0
        time.sleep(0.05)


def release_account(name: str, *, created: bool) -> bool:
    """Delete an account podspawn made, or drop an adopted one from the group.

    Returns whether anything was changed. Anything not made or adopted is left alone.
    """
    entry = find_account(name)
    if entry is None:
        return False
    if created and is_podspawn_made(entry) and entry.pw_uid >= FIRST_REGULAR_UID:
        end_processes(entry.pw_uid)
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
