"""The two things the warm login path asks of Docker, with the standard library only.

A warm ``spawn`` must not pay for the docker SDK (requests, urllib3: about 75 ms) or even
``http.client`` (about 25 ms). It needs one answer (is the session's container running?) and
one hand-off (become ``docker exec`` attached to the SSH channel). The first is a single
HTTP/1.0 request on the engine's unix socket; the second is the Docker CLI, which already
handles raw terminals, window resizes, stdin end-of-file and exit statuses.
"""

from __future__ import annotations

import json
import os

from podspawn.errors import RuntimeUnavailable
from podspawn.runtime.engine_http import EngineError, EngineSocket
from podspawn.runtime.info import ContainerInfo

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping

#: A detach sequence nobody types, so Ctrl-P (shell history, editors) reaches the program.
DETACH_KEYS = "ctrl-^,ctrl-_,ctrl-^,ctrl-_,ctrl-^,ctrl-_,ctrl-^,ctrl-_"
_UNAVAILABLE = "Docker is not running on the server; an administrator must start dockerd"


def socket_path() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return "/var/run/docker.sock"


def quick_inspect(name: str, *, timeout: float = 5.0, path: str = "",
                  unavailable: str = _UNAVAILABLE) -> ContainerInfo | None:
    """The container's state from one raw API request on the engine's socket (``path``,
    Docker's by default; Podman's answers the same request); None when it does not exist.

    Raises:
        RuntimeUnavailable: the engine's socket cannot be reached or answers garbage.
    """
    try:
        status, body = EngineSocket(path or socket_path(), timeout=timeout).request(
            "GET", f"/containers/{name}/json")
    except EngineError as exc:
        raise RuntimeUnavailable(unavailable, detail=f"inspect {name}: {exc}") from exc
    if status == 404:
        return None
    if status != 200:
        raise RuntimeUnavailable(unavailable, detail=f"inspect {name}: HTTP {status}")
    attrs = json.loads(body)
    state = attrs.get("State") or {}
    if state.get("Status") == "removing":
        return None
    return ContainerInfo(
        id=attrs["Id"],
        name=str(attrs.get("Name", "")).lstrip("/"),
        state=str(state.get("Status", "")),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        image=str((attrs.get("Config") or {}).get("Image") or ""),
        created=str(attrs.get("Created", "")),
    )


def docker_cli() -> str:
    """The Docker CLI used for the session hand-off.

    Raises:
        RuntimeUnavailable: no ``docker`` program is installed.
    """
    # not shutil.which: importing shutil costs a login about 10 ms (bz2, lzma)
    found = next((path for path in ("/usr/local/bin/docker", "/usr/bin/docker", "/bin/docker")
                  if os.access(path, os.X_OK)), None)
    if not found:
        raise RuntimeUnavailable(
            "the Docker CLI is missing on the server; an administrator must install docker.io"
        )
    return found


def exec_argv(
    container: str,
    argv: list[str],
    *,
    user: str,
    workdir: str,
    env: Mapping[str, str],
    tty: bool,
    inherited: tuple[str, ...] = (),
    cli: str = "",
) -> list[str]:
    """``docker exec`` (or ``cli``, a program with the same options: ``podman``) attached
    to this process's stdin, stdout and stderr.

    ``env`` values are in the argv, which every local account can read in ``/proc``; a
    secret goes in ``inherited`` instead: only its name is in the argv, and the CLI takes
    the value from its own (root-only) environment, so the caller must set it there.
    """
    args = [cli or docker_cli(), "exec", "-i", f"--detach-keys={DETACH_KEYS}"]
    if tty:
        args.append("-t")
    args += ["-u", user, "-w", workdir]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    for key in inherited:
        args += ["-e", key]
    return [*args, container, *argv]


def poll(state: Mapping[str, object], *, path: str = "",
         unavailable: str = _UNAVAILABLE) -> str:
    """``running``, ``stopped`` or ``gone`` for a session's engine state (the contract's
    ``Runtime.poll``, without the SDK), asked of the engine at ``path``.

    Raises:
        RuntimeUnavailable: the engine's socket cannot be reached or answers garbage.
    """
    container = str(state.get("container") or "")
    if not container:
        return "gone"
    info = quick_inspect(container, path=path, unavailable=unavailable)
    if info is None:
        return "gone"
    return "running" if info.running else "stopped"


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
    """The argv that becomes the session's program attached to this process's stdio."""
    return exec_argv(str(state.get("container") or ""), argv, user=user, workdir=workdir,
                     env=env, tty=tty, inherited=inherited)
