"""Turn what the SSH client asked for into the program to run in the container; pure.

sshd hands a forced command the client's request in ``SSH_ORIGINAL_COMMAND``: empty for a
shell, the command line for ``ssh host cmd`` (also ``scp -t``/``-f`` and ``rsync --server``),
and the configured Subsystem command for sftp (``internal-sftp`` or a path ending in
``sftp-server``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SFTP_SERVER = "/usr/lib/openssh/sftp-server"

Kind = Literal["shell", "command", "sftp"]


@dataclass(frozen=True, slots=True)
class Request:
    kind: Kind
    command: str = ""
    tty: bool = False


def classify(original: str, *, tty: bool) -> Request:
    text = original.strip()
    if not text:
        return Request(kind="shell", tty=tty)
    first = text.split(None, 1)[0]
    if first == "internal-sftp" or first.rsplit("/", 1)[-1] == "sftp-server":
        return Request(kind="sftp", command=text)
    return Request(kind="command", command=original, tty=tty)


def container_argv(request: Request, *, shell: str) -> list[str]:
    """The argv to exec in the container for ``request``."""
    if request.kind == "shell":
        return [shell, "-l"]
    if request.kind == "sftp":
        return [SFTP_SERVER]
    return [shell, "-c", request.command]
