"""TCP reachability of the configured servers, probed in parallel for ``podspawn servers``.

Each probe runs in a daemon thread and the caller waits at most ``timeout`` (plus a little)
for all of them together, so a name that hangs in DNS cannot hold the command up.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from podspawn.client.config import ClientConfig, Server

PROBE_TIMEOUT = 3.0
DEFAULT_LABEL = "(default)"


@dataclass(frozen=True, slots=True)
class ServerStatus:
    label: str
    server: Server
    millis: float | None  # None: unreachable

    @property
    def reachable(self) -> bool:
        return self.millis is not None

    @property
    def status(self) -> str:
        return "unreachable" if self.millis is None else f"ok ({round(self.millis)}ms)"


def probe(host: str, port: int, *, timeout: float = PROBE_TIMEOUT) -> float | None:
    """Milliseconds to open a TCP connection to ``host:port``, or None if it fails."""
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError:
        return None
    return (time.monotonic() - start) * 1000.0


def probe_all(targets: Sequence[tuple[str, Server]], *,
              timeout: float = PROBE_TIMEOUT) -> list[ServerStatus]:
    """Probe every ``(label, server)`` at once; results in the order given."""
    results: list[float | None] = [None] * len(targets)

    def one(index: int, server: Server) -> None:
        results[index] = probe(server.host, server.probe_port, timeout=timeout)

    threads = [threading.Thread(target=one, args=(i, server), daemon=True)
               for i, (_, server) in enumerate(targets)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [ServerStatus(label=label, server=server,
                         millis=results[i] if not threads[i].is_alive() else None)
            for i, (label, server) in enumerate(targets)]


def configured_servers(config: ClientConfig) -> list[tuple[str, Server]]:
    """The default (labelled ``(default)``), then each mapping by name."""
    rows: list[tuple[str, Server]] = []
    if config.default is not None:
        rows.append((DEFAULT_LABEL, config.default))
    rows.extend(sorted(config.mappings.items()))
    return rows
