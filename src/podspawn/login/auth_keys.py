"""``podspawn auth-keys USER [TYPE KEY]``: sshd's AuthorizedKeysCommand.

Prints the user's stored keys, each bound to the forced ``spawn`` command with ``restrict,pty``
so that sshd itself allows no forwarding, agent, X11 or user rc for a podspawn login. It never
uses the network, never fails loudly (sshd must see exit 0 and, on any problem, no keys), and
prints nothing for a name that is not a plain login name.
"""

from __future__ import annotations

import os
import sys
import time

from podspawn.config.cached import load_key_dir
from podspawn.names import is_valid_user

SUDO = "/usr/bin/sudo"
#: First line of a disposable user's key file; past that time no key is served.
EXPIRES_PREFIX = "# podspawn-expires: "


def forced_command(binary: str, config_path: str | None) -> str:
    """The command sshd runs for every session of a podspawn login.

    ``sudo -n`` to one fixed command line: the sudoers rule written by server-setup allows
    exactly these arguments, and ``spawn`` learns the user from ``SUDO_USER``, which the user
    cannot choose.
    """
    parts = [SUDO, "-n", binary]
    if config_path:
        parts += ["--config", config_path]
    parts.append("spawn")
    return " ".join(parts)


def key_lines(user: str, *, key_dir: str, command: str) -> list[str]:
    path = os.path.join(key_dir, user)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return []
    options = f'command="{command}",restrict,pty'
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(EXPIRES_PREFIX):
            try:
                if time.time() >= float(line[len(EXPIRES_PREFIX) :]):
                    return []
            except ValueError:
                return []
            continue
        if not line or line.startswith("#"):
            continue
        first = line.split(None, 1)[0]
        # stored lines are validated by add-user; a hand-edited line with options is skipped
        if first.startswith(("ssh-", "ecdsa-", "sk-")):
            lines.append(f"{options} {line}")
    return lines


def run(args: list[str], *, config_path: str | None, binary: str) -> int:
    """Print the keys for ``args[0]``. Always returns 0."""
    try:
        if not args or not is_valid_user(args[0]):
            return 0
        key_dir = load_key_dir(config_path)
        command = forced_command(binary, config_path)
        lines = key_lines(args[0], key_dir=key_dir, command=command)
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
    except Exception:
        return 0
    return 0
