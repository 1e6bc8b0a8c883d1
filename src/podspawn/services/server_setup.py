"""``server-setup``: wire podspawn into the host's stock sshd, safely and idempotently.

What it owns: one marker-delimited block in sshd_config (global AuthorizedKeysCommand lines,
then a ``Match Group podspawn`` block that forces the spawn command and turns off every kind
of forwarding, agent, X11, tunnel and user rc for podspawn logins), one sudoers drop-in
allowing exactly one command line, two accounts (the ``podspawn`` group and the unprivileged
``podspawn-auth`` user that sshd runs ``auth-keys`` as), the key and state directories, and
the packet-filter policy that keeps containers off the host (``services.firewall``).

Safety: ``sshd -t`` must pass before anything is touched; the original is backed up; the new
file is written atomically and checked with ``sshd -t`` again, and on any failure the original
bytes are put back. sshd is reloaded, never restarted. A second run changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field

from podspawn import audit, log
from podspawn.authorized_keys import forced_command
from podspawn.config.schema import ServerConfig
from podspawn.errors import SetupError, UsageError
from podspawn.files import BEGIN, END, atomic_write, find_block, with_block
from podspawn.paths import DEFAULT_CONFIG_PATH, SUDOERS_DIR
from podspawn.services import accounts
from podspawn.services.accounts import SPAWN_ALIAS_PREFIX
from podspawn.state.db import open_db

DEFAULT_SSHD_CONFIG = "/etc/ssh/sshd_config"
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9/._-]+$")
_ENV_KEEP = (
    "SSH_ORIGINAL_COMMAND PODSPAWN_PROJECT SSH_CONNECTION SSH_CLIENT SSH_TTY "
    "TERM LANG LC_ALL LC_CTYPE LC_MESSAGES"
)


@dataclass
class SetupReport:
    lines: list[str] = field(default_factory=list)
    changed: bool = False

    def say(self, line: str) -> None:
        self.lines.append(line)
        log.info(line)


def _safe_path(kind: str, path: str) -> str:
    if not _SAFE_PATH.fullmatch(path):
        raise UsageError(
            f"{kind} {path!r} must be an absolute path of letters, digits, '/', '.', '_' or '-' "
            "(it is written into sshd_config and sudoers)"
        )
    return path


def sshd_binary() -> str:
    found = shutil.which("sshd", path="/usr/sbin:/usr/local/sbin:/usr/bin:/sbin")
    if not found:
        raise SetupError("sshd is not installed; run: apt-get install -y openssh-server")
    return found


def sshd_test(sshd_config: str) -> str | None:
    """None when ``sshd -t`` accepts the file, else its complaint."""
    result = subprocess.run(
        [sshd_binary(), "-t", "-f", sshd_config], capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return None
    return (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"


def sshd_effective(sshd_config: str, *, match: str = "") -> dict[str, str]:
    """sshd's global settings after Includes, lower-cased keys (``sshd -T``).

    ``match`` is a connection spec for ``-C`` (``user=NAME,host=H,addr=A``): the settings
    then include the ``Match`` blocks that apply to that connection. Empty when sshd fails.
    """
    result = subprocess.run(
        [sshd_binary(), "-T", "-f", sshd_config, *(["-C", match] if match else [])],
        capture_output=True, text=True, check=False,
    )
    settings: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key.lower(), value.strip())
    return settings


def render_block(*, binary: str, config_path: str | None) -> str:
    """podspawn's sshd_config block; pure, so it is tested as text."""
    spawn = forced_command(binary, config_path)
    auth = f"{binary} --config {config_path}" if config_path else binary
    return "\n".join(
        [
            f"{BEGIN} (written by 'podspawn server-setup'; edits inside are replaced)",
            f"AuthorizedKeysCommand {auth} auth-keys %u %t %k",
            f"AuthorizedKeysCommandUser {accounts.AUTH_USER}",
            "AcceptEnv PODSPAWN_PROJECT",
            f"Match Group {accounts.GROUP}",
            "    AuthorizedKeysFile none",
            f"    ForceCommand {spawn}",
            "    DisableForwarding yes",
            "    AllowTcpForwarding no",
            "    AllowStreamLocalForwarding no",
            "    AllowAgentForwarding no",
            "    X11Forwarding no",
            "    PermitTunnel no",
            "    PermitListen none",
            "    PermitOpen none",
            "    GatewayPorts no",
            "    PermitUserRC no",
            "    PermitTTY yes",
            "    PasswordAuthentication no",
            "    KbdInteractiveAuthentication no",
            "Match all",
            END,
            "",
        ]
    )


def _block_command(text: str, span: tuple[int, int] | None) -> str | None:
    """The AuthorizedKeysCommand value inside podspawn's existing block, if any."""
    if span is None:
        return None
    for line in text[span[0] : span[1]].splitlines():
        key, _, value = line.strip().partition(" ")
        if key.lower() == "authorizedkeyscommand":
            return " ".join(value.split())
    return None


def sudoers_name(config_path: str | None) -> tuple[str, str]:
    """(file name, Cmnd_Alias) for this installation's sudoers drop-in."""
    if not config_path:
        return "podspawn", SPAWN_ALIAS_PREFIX
    digest = hashlib.sha256(config_path.encode()).hexdigest()[:8]
    return f"podspawn-{digest}", f"{SPAWN_ALIAS_PREFIX}_{digest.upper()}"


def render_sudoers(*, binary: str, config_path: str | None) -> str:
    _, alias = sudoers_name(config_path)
    command = forced_command(binary, config_path).split(" ", 2)[2]  # drop "sudo -n"
    return (
        "# Written by 'podspawn server-setup'. podspawn logins may run exactly one command as\n"
        "# root: the spawn entry point, which takes the user from SUDO_USER.\n"
        f"Cmnd_Alias {alias} = {command}\n"
        f'Defaults!{alias} env_keep += "{_ENV_KEEP}"\n'
        f"Defaults!{alias} !use_pty, !pam_session, !lecture\n"
        f"%{accounts.GROUP} ALL=(root) NOPASSWD: {alias}\n"
    )


def server_setup(
    *,
    config: ServerConfig,
    config_path: str,
    binary: str,
    sshd_config: str = DEFAULT_SSHD_CONFIG,
    dry_run: bool = False,
) -> SetupReport:
    """Configure sshd, sudo, accounts and directories for podspawn.

    Raises:
        SetupError: sshd_config is invalid already, another AuthorizedKeysCommand is set, or
            a step failed (sshd_config is then restored).
        UsageError: a path cannot be written safely into sshd_config or sudoers.
    """
    report = SetupReport()
    binary = _safe_path("podspawn binary", binary)
    explicit = None if os.path.abspath(config_path) == DEFAULT_CONFIG_PATH else config_path
    if explicit:
        _safe_path("config path", explicit)
    if not dry_run and os.geteuid() != 0:
        raise SetupError("server-setup changes sshd, sudo and accounts; run it with sudo")
    try:
        with open(sshd_config, encoding="utf-8") as fh:
            original = fh.read()
    except OSError as exc:
        raise SetupError(f"cannot read {sshd_config}: {exc.strerror}") from exc
    problem = sshd_test(sshd_config)
    if problem:
        raise SetupError(
            f"{sshd_config} already fails 'sshd -t' ({problem.splitlines()[0]}); fix it first, "
            "nothing was changed"
        )
    block = render_block(binary=binary, config_path=explicit)
    updated = with_block(original, block, before_match=True)
    ours = find_block(original)
    # sshd keeps the first value it reads, so a line before our block (or in an Include
    # read earlier) silently wins over ours: refuse that too, not only a missing block.
    current = " ".join(sshd_effective(sshd_config).get("authorizedkeyscommand", "none").split())
    if current not in ("none", "") and current != _block_command(original, ours):
        raise SetupError(
            f"sshd already uses another AuthorizedKeysCommand ({current}); podspawn cannot "
            "share it: remove it (check Include files too) and run server-setup again"
        )

    if dry_run:
        report.say(f"[dry-run] would back up {sshd_config} to {sshd_config}.podspawn.bak"
                   if updated != original else f"[dry-run] {sshd_config} is already configured")
        if updated != original:
            report.say(f"[dry-run] would add the podspawn block to {sshd_config}")
        report.say("[dry-run] would write sudoers rule, accounts and directories, then reload sshd")
        report.say("[dry-run] would install the packet-filter policy: containers reach nothing "
                   "on this host nor 169.254.0.0/16; egress allowed to "
                   f"{_egress_text(config)}")
        return report

    if updated == original:
        report.say(f"AuthorizedKeysCommand already configured in {sshd_config}, no change")
    else:
        _apply_sshd_config(sshd_config, original, updated, report)

    _ensure_accounts_and_dirs(config, report)
    _ensure_sudoers(binary, explicit, report)
    if report.changed:
        report.say(_reload_sshd(sshd_config))
    # last: if iptables fails here, sshd is already consistent, and logins fail closed
    # (services.firewall.guard_login) until the policy is in place
    _ensure_network_policy(config, report)
    report.say("server-setup complete")
    audit.record("server.setup", sshd_config=sshd_config, changed=report.changed)
    return report


def _apply_sshd_config(path: str, original: str, updated: str, report: SetupReport) -> None:
    backup = f"{path}.podspawn.bak"
    atomic_write(backup, original.encode(), mode=0o600)
    report.say(f"backed up {path} to {backup}")
    try:
        atomic_write(path, updated.encode())
        problem = sshd_test(path)
        if problem:
            raise SetupError(f"the edited {path} fails 'sshd -t' ({problem.splitlines()[0]}); "
                             "the original was restored")
    except BaseException:
        atomic_write(path, original.encode())
        log.error("restored sshd_config from backup", path=path)
        raise
    report.changed = True
    report.say(f"appended AuthorizedKeysCommand to {path}")


def _ensure_accounts_and_dirs(config: ServerConfig, report: SetupReport) -> None:
    accounts.ensure_group()
    auth = accounts.ensure_auth_user()
    key_dir = config.auth.key_dir
    _ensure_dir(key_dir, 0o750, gid=auth.pw_gid)
    for path in (config.state.db_path,):
        _ensure_dir(os.path.dirname(path), 0o700)
    _ensure_dir(config.state.lock_dir, 0o700)
    _ensure_dir(config.state.homes_dir, 0o700)  # setuid files from containers: root-only
    _ensure_dir(os.path.dirname(config.log_file), 0o750)
    open_db(config.state.db_path, create=True).close()
    os.chmod(config.state.db_path, 0o600)
    report.say(f"state database ready at {config.state.db_path}")


def _ensure_network_policy(config: ServerConfig, report: SetupReport) -> None:
    """Install the packet filter that keeps containers off this host (``services.firewall``)."""
    from podspawn.errors import RuntimeUnavailable
    from podspawn.runtime import get_runtime
    from podspawn.services import firewall

    try:
        runtime = get_runtime(config.runtime.backend)
    except RuntimeUnavailable:
        runtime = None  # the next cleanup pass adds bridges of earlier sessions
    conn = open_db(config.state.db_path)
    try:
        result = firewall.apply(config=config, conn=conn, runtime=runtime)
    finally:
        conn.close()
    families = ", ".join(f"{f.family} {f.state}" for f in result.families)
    report.say(f"network policy installed ({families}): containers reach nothing on this host "
               f"nor 169.254.0.0/16; egress allowed to {_egress_text(config)}; bridges "
               f"{result.bridge_prefix}+")


def _egress_text(config: ServerConfig) -> str:
    return ", ".join(config.security.egress) or "nothing beyond the session's own network"


def _ensure_dir(path: str, mode: int, *, gid: int = 0) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)
    os.chown(path, 0, gid)
    os.chmod(path, mode)


def _ensure_sudoers(binary: str, config_path: str | None, report: SetupReport) -> None:
    name, _ = sudoers_name(config_path)
    path = os.path.join(SUDOERS_DIR, name)
    text = render_sudoers(binary=binary, config_path=config_path)
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return
    except FileNotFoundError:
        pass
    visudo = shutil.which("visudo", path="/usr/sbin:/usr/bin:/sbin")
    if visudo is None:
        raise SetupError("sudo is not installed; run: apt-get install -y sudo")
    os.makedirs(SUDOERS_DIR, mode=0o750, exist_ok=True)
    staged = os.path.join(SUDOERS_DIR, f".{name}.new")
    atomic_write(staged, text.encode(), mode=0o440, uid=0, gid=0)
    check = subprocess.run([visudo, "-cf", staged], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        os.unlink(staged)
        raise SetupError(f"the sudoers rule did not validate: {check.stdout.strip()[:200]}")
    os.replace(staged, path)
    report.changed = True
    report.say(f"wrote sudoers rule {path}")


def _reload_sshd(sshd_config: str) -> str:
    """Reload, never restart: running sessions stay up. Returns the line to print."""
    if sshd_config == DEFAULT_SSHD_CONFIG and os.path.isdir("/run/systemd/system"):
        for unit in ("ssh", "sshd"):
            result = subprocess.run(["systemctl", "reload", unit], capture_output=True,
                                    check=False)
            if result.returncode == 0:
                return f"reloaded {unit}"
    pidfile = sshd_effective(sshd_config).get("pidfile", "/run/sshd.pid")
    try:
        with open(pidfile, encoding="utf-8") as fh:
            pid = int(fh.read().split()[0])
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError, IndexError):
        return "sshd is not running; it will read the new config when it starts"
    return "reloaded ssh"
