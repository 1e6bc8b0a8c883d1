"""``podspawn doctor``'s checks of the host: sshd, sudo, accounts, the state database, disk
and the packet filter."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess

from podspawn.authorized_keys import forced_command
from podspawn.paths import SUDOERS_DIR
from podspawn.services import accounts
from podspawn.services.doctor.base import Check, Context, fail, ok, warn
from podspawn.services.server_setup import (
    render_block,
    render_sudoers,
    sshd_effective,
    sshd_test,
    sudoers_name,
)
from podspawn.units import parse_size

#: Free space below this on the state or Docker filesystem is a warning (bytes).
DISK_WARN_BYTES = 5 * 1024**3
#: The connection ``sshd -T -C`` is asked about: a documentation address (RFC 5737), so no
#: ``Match Address`` block meant for the admin's own network applies.
PROBE_HOST = "doctor.invalid"
PROBE_ADDR = "198.51.100.7"

#: What the ``Match Group podspawn`` block must leave in effect for a podspawn login.
LOCKDOWN = {
    "disableforwarding": "yes",
    "allowtcpforwarding": "no",
    "allowstreamlocalforwarding": "no",
    "allowagentforwarding": "no",
    "x11forwarding": "no",
    "permittunnel": "no",
    "permituserrc": "no",
    "authorizedkeysfile": "none",
    "permitopen": "none",
    "permitlisten": "none",
}


# -- sshd, sudo, accounts ----------------------------------------------------------------------


def probe_users(ctx: Context) -> list[str]:
    """The registered users whose account is in the podspawn group, to ask sshd about:
    every one, since a ``Match User`` or an Include may reopen forwarding for one alone."""
    members = _group_members(accounts.GROUP)
    return [name for name in ctx.users if name in members]


def check_sshd(ctx: Context) -> Check:
    name = "sshd"
    users = probe_users(ctx)
    if not users:
        return warn(name, "no podspawn user yet, so the Match block cannot be tested",
                    "add a user with podspawn add-user, then run doctor again")
    expected = dict(LOCKDOWN)
    expected["authorizedkeyscommand"] = _block_value(ctx, "AuthorizedKeysCommand")
    expected["authorizedkeyscommanduser"] = accounts.AUTH_USER
    expected["forcecommand"] = forced_command(ctx.binary, ctx.explicit_config)
    for user in users:
        settings = sshd_effective(ctx.sshd_config,
                                  match=f"user={user},host={PROBE_HOST},addr={PROBE_ADDR}")
        if not settings:
            problem = sshd_test(ctx.sshd_config) or "sshd -T printed nothing"
            return fail(name, f"sshd rejects {ctx.sshd_config}: {problem.splitlines()[0]}",
                        f"fix {ctx.sshd_config} until 'sshd -t -f {ctx.sshd_config}' passes")
        wrong = [f"{key} is {settings.get(key, '(unset)')!r}, not {value!r}"
                 for key, value in expected.items()
                 if " ".join(settings.get(key, "").split()) != value]
        if wrong:
            return fail(name, f"for podspawn user {user}: " + "; ".join(wrong),
                        f"run podspawn server-setup --sshd-config {ctx.sshd_config} again, and "
                        "remove any earlier line or Include that overrides podspawn's block")
    who = users[0] if len(users) == 1 else f"all {len(users)} podspawn users"
    return ok(name, f"{ctx.sshd_config}: for {who}, keys come from podspawn auth-keys, the "
                    "spawn command is forced and every forward is off")


def _block_value(ctx: Context, key: str) -> str:
    for line in render_block(binary=ctx.binary, config_path=ctx.explicit_config).splitlines():
        head, _, value = line.strip().partition(" ")
        if head == key:
            return value
    return ""


def check_sudoers(ctx: Context) -> Check:
    name = "sudoers"
    path = os.path.join(SUDOERS_DIR, sudoers_name(ctx.explicit_config)[0])
    fix = f"run podspawn server-setup --sshd-config {ctx.sshd_config}, which rewrites {path}"
    try:
        st = os.lstat(path)
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        return fail(name, f"{path} is missing, so no login can start a session", fix)
    problems = []
    if text != render_sudoers(binary=ctx.binary, config_path=ctx.explicit_config):
        problems.append("its content differs from the rule server-setup writes")
    if st.st_uid != 0 or (st.st_mode & 0o7777) != 0o440:
        problems.append(f"it is mode {st.st_mode & 0o7777:04o} owned by uid {st.st_uid}, "
                        "not 0440 root")
    visudo = shutil.which("visudo", path="/usr/sbin:/usr/bin:/sbin")
    if visudo is None:
        problems.append("visudo is missing (is sudo installed?)")
    else:
        checked = subprocess.run([visudo, "-cf", path], capture_output=True, text=True,
                                 check=False)
        if checked.returncode != 0:
            said = (checked.stderr or checked.stdout).strip().splitlines()
            problems.append(f"visudo -cf fails ({said[0] if said else checked.returncode})")
    if problems:
        return fail(name, f"{path}: " + "; ".join(problems), fix)
    return ok(name, f"{path} allows exactly the spawn command, 0440 root, visudo accepts it")


def check_accounts(ctx: Context) -> Check:
    name = "accounts"
    fix = f"run podspawn server-setup --sshd-config {ctx.sshd_config}"
    try:
        grp.getgrnam(accounts.GROUP)
        pwd.getpwnam(accounts.AUTH_USER)
    except KeyError:
        return fail(name, f"the group {accounts.GROUP} or the user {accounts.AUTH_USER} is "
                          "missing", fix)
    members = _group_members(accounts.GROUP)
    docker = _group_members("docker")
    missing = [u for u in ctx.users if u not in members]
    if docker & set(ctx.users):
        bad = ", ".join(sorted(docker & set(ctx.users)))
        return fail(name, f"podspawn users in the docker group, which is root on the host: "
                          f"{bad}", f"remove them with: gpasswd -d USER docker ({bad})")
    if missing:
        return fail(name, "users with keys but no account in the podspawn group: "
                          + ", ".join(missing),
                    "run podspawn add-user NAME --key-file ... again for each, which "
                    "recreates the account")
    return ok(name, f"group {accounts.GROUP}, user {accounts.AUTH_USER} and "
                    f"{len(ctx.users)} user account(s) in place, none in the docker group")


def _group_members(group: str) -> set[str]:
    """Names in ``group``, as a supplementary or a primary group."""
    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return set()
    members = set(entry.gr_mem)
    members.update(p.pw_name for p in pwd.getpwall() if p.pw_gid == entry.gr_gid)
    return members


# -- state database, disk, packet filter -------------------------------------------------------


def check_database(ctx: Context) -> Check:
    from podspawn.state.health import inspect_database

    name = "database"
    path = ctx.config.state.db_path
    if not os.path.exists(path):
        return fail(name, f"{path} does not exist", "run podspawn server-setup")
    health = inspect_database(path)
    if not health.sound:
        return fail(name, f"{path} is damaged: {'; '.join(health.integrity[:3])}",
                    "stop logins and restore the database from a backup "
                    "(docs/operations.md, Backups)")
    if health.version > health.expected:
        return fail(name, f"{path} has schema version {health.version}, newer than this "
                          f"podspawn's {health.expected}", "upgrade podspawn to the version "
                          "that wrote the database")
    if health.version < health.expected:
        return warn(name, f"{path} has schema version {health.version}; this podspawn "
                          f"writes {health.expected}", "nothing to do: the next podspawn "
                          "command that opens it migrates it forward")
    return ok(name, f"{path}: integrity ok, schema version {health.version}")


def check_disk(ctx: Context) -> Check:
    name = "disk"
    places = [("state", _existing(os.path.dirname(ctx.config.state.db_path)))]
    if ctx.engine is not None and ctx.engine.data_root:
        places.append(("docker data", _existing(ctx.engine.data_root)))
    seen: dict[int, str] = {}
    parts, low, refusing = [], [], []
    minimum = parse_size(ctx.config.state.min_free)
    for label, path in places:
        try:
            st = os.statvfs(path)
            device = os.stat(path).st_dev
        except OSError as exc:
            return fail(name, f"cannot read the {label} filesystem at {path}: {exc.strerror}",
                        f"check {path} as root")
        free = st.f_bavail * st.f_frsize
        same = f", same filesystem as {seen[device]}" if device in seen else ""
        seen.setdefault(device, label)
        parts.append(f"{label} {path}: {free / 1024**3:.1f} GiB free{same}")
        if free < minimum:
            refusing.append(path)
        if free < DISK_WARN_BYTES:
            low.append(path)
    message = "; ".join(parts)
    if refusing:
        return fail(name, f"{message}; below state.min_free ({ctx.config.state.min_free}): "
                    "new sessions are refused", f"free space on {', '.join(refusing)} "
                    "(docker image prune removes unused images), or lower state.min_free")
    if low:
        return warn(name, message, f"free space on {', '.join(low)}: below "
                    f"{DISK_WARN_BYTES // 1024**3} GiB, image builds and logins start to fail "
                    "(docker image prune removes unused images)")
    if ctx.engine is None:
        return warn(name, message + "; Docker's data root not checked (Docker does not "
                    "answer)", "start dockerd, then run doctor again")
    return ok(name, message)


def _existing(path: str) -> str:
    """``path``, or its nearest existing parent: where its files will land."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def check_packet_filter(ctx: Context) -> Check:
    """The packet-filter policy that keeps containers off the host (``services.firewall``)
    is installed as the config asks; reads only, on a read-only view of the database."""
    import sqlite3

    from podspawn.errors import PodspawnError
    from podspawn.services import firewall
    from podspawn.state.health import connect_read_only

    name = "packet-filter"
    path = ctx.config.state.db_path
    if not os.path.exists(path):
        return warn(name, "not checked: there is no state database yet",
                    "run podspawn server-setup")
    try:
        conn = connect_read_only(path)
    except sqlite3.Error as exc:
        return warn(name, f"not checked: the state database cannot be read ({exc})",
                    "see the database check")
    try:
        found = firewall.status(config=ctx.config, conn=conn, runtime=ctx.runtime)
    except (PodspawnError, sqlite3.Error) as exc:
        message = exc.message if isinstance(exc, PodspawnError) else str(exc)
        return warn(name, f"not checked: {message}", "see podspawn firewall status")
    finally:
        conn.close()
    states = ", ".join(f"{f.family} {f.state}" for f in found.families)
    if found.in_place:
        return ok(name, f"containers cannot reach the host ({states})")
    return fail(name, f"the policy that keeps containers off the host is not in place "
                f"({states})", "run podspawn firewall apply (cleanup and logins also do)")
