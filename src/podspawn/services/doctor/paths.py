"""Owners and modes for ``podspawn doctor``: what server-setup made, and what sshd executes.

A podspawn user must not be able to write the key store, the state, the config or any
program that runs as root for them. sshd itself refuses an ``AuthorizedKeysCommand`` below a
non-root or group/world-writable directory; the forced command runs podspawn as root through
sudo with no such check, so every directory above the podspawn executable, its interpreter
and its package is checked here the way sshd checks its own.
"""

from __future__ import annotations

import grp
import os
import stat
import sys
from dataclasses import dataclass

from podspawn.services.doctor.base import Check, Context, fail, ok

SUDO = "/usr/bin/sudo"


@dataclass(frozen=True, slots=True)
class Rule:
    """``path`` must be owned by root, and no bit of ``forbidden`` may be set in its mode."""

    path: str
    forbidden: int
    mode: int
    """The mode server-setup gives it, for the fix."""
    group: str = "root"


def problem(rule: Rule) -> tuple[str, str] | None:
    """(what is wrong, the fix) for one path, or None when it is right."""
    try:
        st = os.lstat(rule.path)
    except FileNotFoundError:
        return f"{rule.path} does not exist", "run podspawn server-setup, which creates it"
    except OSError as exc:
        return f"cannot read {rule.path}: {exc.strerror}", "check the path as root"
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return f"{rule.path} is a symbolic link", f"replace {rule.path} with the real path"
    if st.st_uid != 0 or (rule.group != "root" and st.st_gid != _gid(rule.group)):
        return (f"{rule.path} is owned by {st.st_uid}:{st.st_gid}, not root:{rule.group}",
                f"chown root:{rule.group} {rule.path}")
    if mode & rule.forbidden:
        who = _who(mode & rule.forbidden)
        return (f"{rule.path} is mode {mode:04o}: {who}",
                f"chmod {rule.mode:04o} {rule.path}")
    return None


def _gid(group: str) -> int | None:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def _who(bits: int) -> str:
    parts = []
    if bits & 0o022:
        parts.append("group or others can write it")
    if bits & 0o005:
        parts.append("others can read it")
    return " and ".join(parts) or "it has setuid/setgid bits"


def _report(name: str, rules: list[Rule], good: str) -> Check:
    found = [p for p in (problem(rule) for rule in rules) if p]
    if found:
        return fail(name, "; ".join(what for what, _ in found),
                    "; ".join(dict.fromkeys(fix for _, fix in found)))
    return ok(name, good)


def check_key_store(ctx: Context) -> Check:
    key_dir = ctx.config.auth.key_dir
    rules = [Rule(key_dir, 0o027, 0o750, group="podspawn-auth")]
    try:
        names = sorted(n for n in os.listdir(key_dir) if not n.startswith("."))
    except OSError:
        names = []
    rules += [Rule(os.path.join(key_dir, n), 0o037, 0o640, group="podspawn-auth")
              for n in names]
    return _report("key-store", rules, f"{key_dir} and its {len(names)} key file(s): root, "
                                       "not writable or readable by users")


def check_state(ctx: Context) -> Check:
    state = ctx.config.state
    rules = [
        Rule(os.path.dirname(state.db_path), 0o077, 0o700),
        Rule(state.db_path, 0o077, 0o600),
        Rule(state.lock_dir, 0o077, 0o700),
        Rule(state.homes_dir, 0o077, 0o700),
    ]
    return _report("state", rules, "state directory, database, lock and homes directories: "
                                   "root only")


def check_config_files(ctx: Context) -> Check:
    config = os.path.abspath(ctx.config_path)
    if not os.path.exists(config):
        return fail("config", f"{config} does not exist, so podspawn runs on built-in "
                              "defaults", f"write {config} (install.sh writes a first one)")
    rules = [Rule(config, 0o022, 0o644)]
    rules += [Rule(d, 0o022, 0o755) for d in _ancestors(config)]
    log_dir = os.path.dirname(ctx.config.log_file)
    rules.append(Rule(log_dir, 0o027, 0o750))
    for log_file in (ctx.config.log_file, ctx.config.log.audit_log):
        if log_file and os.path.exists(log_file):
            rules.append(Rule(log_file, 0o037, 0o640))
    if os.path.isdir(ctx.config.users_dir):
        rules.append(Rule(ctx.config.users_dir, 0o022, 0o755))
    return _report("config", rules, f"{config}, the directories above it and the logs: root, "
                                    "not writable by users")


def exec_paths(binary: str) -> list[str]:
    """What runs as root for a login: sudo, podspawn, its interpreter and its package."""
    import podspawn

    paths = [SUDO, os.path.realpath(binary)]
    interpreter = _shebang(binary)
    if interpreter:
        paths.append(os.path.realpath(interpreter))
    paths.append(os.path.realpath(os.path.dirname(podspawn.__file__)))
    paths.append(os.path.realpath(sys.executable))
    return list(dict.fromkeys(paths))


def check_exec_paths(ctx: Context) -> Check:
    rules = []
    for path in exec_paths(ctx.binary):
        rules.append(Rule(path, 0o022, 0o755))
        rules += [Rule(d, 0o022, 0o755) for d in _ancestors(path)]
    unique = list({r.path: r for r in rules}.values())
    return _report("exec-paths", unique, f"sudo, {ctx.binary}, its interpreter and package, "
                                         "and every directory above them: root, not writable "
                                         "by group or others")


def _ancestors(path: str) -> list[str]:
    found = []
    current = os.path.dirname(path)
    while True:
        found.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            return found
        current = parent


def _shebang(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            first = fh.readline(512)
    except OSError:
        return ""
    if not first.startswith(b"#!"):
        return ""
    words = first[2:].decode("utf-8", "replace").split()
    return words[0] if words else ""
