"""What ``podspawn doctor`` asks a container engine, beyond the session contract.

Kept out of :class:`podspawn.runtime.base.Runtime` because no session needs it: the engine's
version, where it keeps its data (the disk that fills up), and how many more bridge
networks it can hand out (every session takes one, and Docker's default pools hold about
31; :mod:`podspawn.runtime.subnets` does the arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass

from podspawn.runtime.subnets import AddressPool

BACKENDS = {"docker": "podspawn.runtime.docker_facts:engine_facts",
            "podman": "podspawn.runtime.podman_facts:engine_facts"}
#: Each backend's ``data_root() -> str``: one cheap question, asked before a new session.
DATA_ROOTS = {"docker": "podspawn.runtime.docker_facts:data_root",
              "podman": "podspawn.runtime.podman_facts:data_root"}


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


def engine_data_root(name: str = "docker") -> str:
    """The directory on this host where the engine called ``name`` keeps images, containers
    and volumes (the disk the disk guard watches); "" when that is not known here: no such
    backend, a remote engine, or no answer (the session's own start then says why).
    """
    import importlib

    from podspawn.errors import PodspawnError

    try:
        module_name, _, attr = DATA_ROOTS[name].partition(":")
    except KeyError:
        return ""
    try:
        root: str = getattr(importlib.import_module(module_name), attr)()
    except PodspawnError:
        return ""
    return root
