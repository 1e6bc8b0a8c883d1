"""What ``podspawn doctor`` asks a container engine, beyond the session contract.

Kept out of :class:`podspawn.runtime.base.Runtime` because no session needs it: the engine's
version, where it keeps its data (the disk that fills up), and how many more bridge
networks it can hand out (every session takes one, and Docker's default pools hold about
31; :mod:`podspawn.runtime.subnets` does the arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass

from podspawn.runtime.subnets import AddressPool

BACKENDS = {"docker": "podspawn.runtime.docker_facts:engine_facts"}


@dataclass(frozen=True, slots=True)
class EngineFacts:
    version: str
    endpoint: str
    """Where the engine was reached, such as ``unix:///var/run/docker.sock``."""
    data_root: str
    pools: tuple[AddressPool, ...]
    pools_source: str
    """Where ``pools`` came from, for messages: a config file or the engine's defaults."""
    taken: tuple[str, ...]
    """IPv4 subnets the engine will not allocate: its networks' and the host's routes."""
    podspawn_networks: int


def engine_facts(name: str = "docker") -> EngineFacts:
    """Ask the engine called ``name``; imported only when asked.

    Raises:
        ConfigError: no backend has that name.
        RuntimeUnavailable: the engine does not answer.
    """
    import importlib

    from podspawn.errors import ConfigError

    try:
        module_name, _, attr = BACKENDS[name].partition(":")
    except KeyError:
        raise ConfigError(f"unknown runtime {name!r}; use one of {', '.join(BACKENDS)}") from None
    facts: EngineFacts = getattr(importlib.import_module(module_name), attr)()
    return facts
