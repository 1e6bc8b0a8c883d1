"""Turn what the SSH client asked for into the program to run in the container; pure.

sshd hands a forced command the client's request in ``SSH_ORIGINAL_COMMAND``: empty for a
shell, the command line for ``ssh host cmd`` (also ``scp -t``/``-f`` and ``rsync --server``),
and the configured Subsystem command for sftp (``internal-sftp`` or a path ending in
``sftp-server``).
"""

from __future__ import annotations

from podspawn.state.records import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Literal

    Kind = Literal["shell", "command", "sftp", "tunnel", "hostkey", "version"]

SFTP_SERVER = "/usr/lib/openssh/sftp-server"

#: What ``podspawn connect`` asks the outer connection for (see ``login.inner_sshd``).
TUNNEL_VERB = "podspawn-tunnel"
HOSTKEY_VERB = "podspawn-hostkey"
#: ``podspawn ping`` asks for this over the outer connection; answered before any session.
VERSION_VERB = "podspawn-version"


class Request(Record):
    __slots__ = ("kind", "command", "tty")
    _defaults: Mapping[str, Any] = {"command": "", "tty": False}
    kind: Kind
    command: str  # the command line; for a tunnel, the project asked for
    tty: bool

    if TYPE_CHECKING:
        def __init__(self, *, kind: Kind, command: str = "", tty: bool = False) -> None: ...


def classify(original: str, *, tty: bool) -> Request:
    text = original.strip()
    if not text:
        return Request(kind="shell", tty=tty)
    words = text.split()
    first = words[0]
    if first == TUNNEL_VERB and len(words) <= 2:
        return Request(kind="tunnel", command=words[1] if len(words) == 2 else "")
    if first == HOSTKEY_VERB and len(words) == 1:
        return Request(kind="hostkey")
    if first == VERSION_VERB and len(words) == 1:
        return Request(kind="version")
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
