"""What sshd is told for a podspawn login: the key store's file format and the forced command.

The key store (``auth.key_dir``) holds one file per user, written by ``add-user`` from keys
that :mod:`podspawn.keys` parsed and validated, and read by ``auth-keys`` on every connection
attempt. So this module is standard library only, with no ``dataclasses`` or ``base64``:
it is the format, and :mod:`podspawn.keys` is the parser of what goes in.
"""

from __future__ import annotations

import time

from podspawn.paths import key_file

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


def key_file_text(lines: list[str], *, expires_at: float | None = None) -> str:
    """A user's key file: the expiry header of a disposable user, then one key per line."""
    header = f"{EXPIRES_PREFIX}{expires_at:.0f}\n" if expires_at else ""
    return header + "".join(f"{line}\n" for line in lines)


def key_lines(user: str, *, key_dir: str, command: str) -> list[str]:
    """The user's stored keys as authorized_keys lines bound to ``command`` with
    ``restrict,pty``; none when the file is missing or the user has expired."""
    try:
        with open(key_file(key_dir, user), encoding="utf-8") as fh:
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
