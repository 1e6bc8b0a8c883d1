"""Which host ports a local session publishes: pure decisions, the probe injected.

Ports are published on 127.0.0.1 only: the Go peer publishes on every address, so a dev
server on a laptop is open to the whole café's network.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from podspawn.errors import UsageError

HOST_IP = "127.0.0.1"
#: How far past a busy port a free one is looked for.
SCAN = 100


@dataclass(frozen=True, slots=True)
class PortChoice:
    container: int
    host: int

    @property
    def moved(self) -> bool:
        return self.host != self.container


def candidates(expose: Iterable[int], strategy: str, extra: Iterable[int]) -> list[int]:
    """``manual`` publishes only ``--ports``; otherwise the Podfile's ``ports.expose`` and
    then every ``--ports`` not already listed.

    Raises:
        UsageError: a port outside 1-65535.
    """
    wanted = list(extra) if strategy == "manual" else [*expose, *extra]
    seen: list[int] = []
    for port in wanted:
        if not 1 <= port <= 65535:
            raise UsageError(f"port {port} is not between 1 and 65535; fix --ports or the "
                             "Podfile's ports.expose")
        if port not in seen:
            seen.append(port)
    return seen


def is_free(port: int, host_ip: str = HOST_IP) -> bool:
    """Whether ``host_ip:port`` can be bound now (a listener on any address makes it busy).

    SO_REUSEADDR, as the engine's own port proxy sets it: a port whose last connections
    linger in TIME_WAIT (the session ``--fresh`` just ended) is free to the engine too.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def choose(ports: Iterable[int], strategy: str, *,
           free: Callable[[int], bool] = is_free) -> list[PortChoice]:
    """The host port for each container port: the same one when free; with ``expose`` a
    busy one is refused, otherwise the next free one within :data:`SCAN` is taken.

    Raises:
        UsageError: a busy port under ``expose``, or none free near it.
    """
    taken: set[int] = set()
    chosen: list[PortChoice] = []
    for port in ports:
        if port not in taken and free(port):
            host = port
        elif strategy == "expose":
            raise UsageError(f"port {port} is already in use on this machine and the "
                             "Podfile's ports.strategy is expose; free the port or use "
                             "strategy auto")
        else:
            host = next((p for p in range(port + 1, min(port + SCAN, 65535) + 1)
                         if p not in taken and free(p)), 0)
            if not host:
                raise UsageError(f"no free port near {port} (tried up to {SCAN} above it); "
                                 "free one or choose others with --ports")
        taken.add(host)
        chosen.append(PortChoice(container=port, host=host))
    return chosen
