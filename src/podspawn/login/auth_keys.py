"""``podspawn auth-keys USER [TYPE KEY]``: sshd's AuthorizedKeysCommand.

Prints the user's stored keys, each bound to the forced ``spawn`` command with ``restrict,pty``
so that sshd itself allows no forwarding, agent, X11 or user rc for a podspawn login. It never
uses the network, never fails loudly (sshd must see exit 0 and, on any problem, no keys), and
prints nothing for a name that is not a plain login name. The file format and the forced
command are in :mod:`podspawn.authorized_keys`.
"""

from __future__ import annotations

import sys

from podspawn.authorized_keys import forced_command, key_lines
from podspawn.config.cached import load_key_dir
from podspawn.names import is_valid_user


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
