"""Turn what the SSH client asked for into the program to run in the container; pure.

sshd hands a forced command the client's request in ``SSH_ORIGINAL_COMMAND``: empty for a
shell, the command line for ``ssh host cmd`` (also ``scp -t``/``-f`` and ``rsync --server``),
and the configured Subsystem command for sftp (``internal-sftp`` or a path ending in
``sftp-server``).

The command line itself never goes into an argv: every account on the host can read every
process's argv (``ps``), the container's processes included. It travels in ``COMMAND_VAR``
through ``docker exec``'s inherited (root-only) environment, and the container's shell runs
it with ``eval``: the same parser as ``-c``, the same exit status and streams.
"""

from __future__ import annotations

from podspawn.record import Record
from podspawn.shells import POSIX_SHELLS

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Literal

    Kind = Literal["shell", "command", "sftp", "tunnel", "hostkey", "version"]

SFTP_SERVER = "/usr/lib/openssh/sftp-server"

#: What ``podspawn connect`` asks the outer connection for (see ``podspawn.inner_sshd``).
TUNNEL_VERB = "podspawn-tunnel"
HOSTKEY_VERB = "podspawn-hostkey"
#: ``podspawn ping`` asks for this over the outer connection; answered before any session.
VERSION_VERB = "podspawn-version"

COMMAND_VAR = "PODSPAWN_COMMAND"
#: The variable is unset inside the eval'd text, so the command sees the environment it
#: always had; the newline keeps the user's text a script of its own, parsed line by line.
EVAL_COMMAND = f'eval "unset {COMMAND_VAR}\n${COMMAND_VAR}"'


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


def hides_command(shell: str) -> bool:
    """Whether ``shell`` can run a command from ``COMMAND_VAR`` (see ``POSIX_SHELLS``)."""
    return shell.rsplit("/", 1)[-1] in POSIX_SHELLS


def container_argv(request: Request, *, shell: str) -> list[str]:
    """The argv to exec in the container for ``request``; see ``container_env``."""
    if request.kind == "shell":
        return [shell, "-l"]
    if request.kind == "sftp":
        return [SFTP_SERVER]
    if hides_command(shell):
        return [shell, "-c", EVAL_COMMAND]
    return [shell, "-c", request.command]


def container_env(request: Request, *, shell: str) -> dict[str, str]:
    """What the argv of ``container_argv`` needs in its environment, kept out of argv."""
    if request.kind == "command" and hides_command(shell):
        return {COMMAND_VAR: request.command}
    return {}
