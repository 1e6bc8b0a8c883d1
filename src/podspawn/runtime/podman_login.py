"""The two things the warm login path asks of rootful Podman, with the standard library only.

Podman's service (``podman system service``) answers the Docker Engine API on its own
socket, so the state check is :mod:`podspawn.runtime.docker_login`'s one raw request, sent
there. The hand-off is the Podman CLI's ``exec``, which takes the Docker CLI's options (the
same detach keys, ``-e NAME`` taking the value from its own environment) and runs the
program through conmon without the service.
"""

from __future__ import annotations

import os

from podspawn.errors import RuntimeUnavailable
from podspawn.runtime import docker_login

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping

#: Where rootful Podman's service listens (its packaged ``podman.socket`` unit, and
#: scripts/start-services.sh where there is no systemd).
DEFAULT_SOCKET = "/run/podman/podman.sock"
UNAVAILABLE = ("Podman's API service is not running on the server; an administrator must "
               "start it (podman system service --time=0 unix:///run/podman/podman.sock)")
_CLI_PATHS = ("/usr/local/bin/podman", "/usr/bin/podman", "/bin/podman")


def socket_path() -> str:
    """Podman's socket: ``CONTAINER_HOST`` (Podman's own variable) when it names a unix
    socket, else the rootful default."""
    host = os.environ.get("CONTAINER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return DEFAULT_SOCKET


def podman_cli() -> str:
    """The Podman CLI used for the session hand-off.

    Raises:
        RuntimeUnavailable: no ``podman`` program is installed.
    """
    found = next((path for path in _CLI_PATHS if os.access(path, os.X_OK)), None)
    if not found:
        raise RuntimeUnavailable(
            "the Podman CLI is missing on the server; an administrator must install podman"
        )
    return found


def poll(state: Mapping[str, object]) -> str:
    """``running``, ``stopped`` or ``gone`` for a session's engine state.

    Raises:
        RuntimeUnavailable: Podman's socket cannot be reached or answers garbage.
    """
    return docker_login.poll(state, path=socket_path(), unavailable=UNAVAILABLE)


def handoff_argv(
    state: Mapping[str, object],
    argv: list[str],
    *,
    user: str,
    workdir: str,
    env: Mapping[str, str],
    tty: bool,
    inherited: tuple[str, ...] = (),
) -> list[str]:
    """``podman exec`` of ``argv`` in the session container, attached to this process's
    stdio."""
    return docker_login.exec_argv(str(state.get("container") or ""), argv, user=user,
                                  workdir=workdir, env=env, tty=tty, inherited=inherited,
                                  cli=podman_cli())
