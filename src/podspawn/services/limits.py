"""A Podfile's ``resources`` are requests within the admin's ceilings.

The Podfile comes from a repository, which the admin does not control (DESIGN-NOTES
invariant 6), so what it asks for the dev container (``resources``) and for each service
(``services[].resources``) is bounded by ``resources.max_cpus`` and ``resources.max_memory``:

* ``add-project`` and ``update-project`` refuse a request above a ceiling
  (:func:`check_requests`), before anything is built or registered;
* a login clamps every request to the ceilings again (:func:`clamp_cpus`,
  :func:`clamp_memory`), since the admin may have lowered one after ``add-project``.

A memory request of ``0`` asks for no limit, which is above every ceiling (``max_memory`` is
never 0). A CPU request is also bounded by the CPUs the machine has, which Docker enforces by
refusing the container: refused at ``add-project``, clamped at login. What the admin sets
themselves (``defaults``, ``resources.service_*``, the per-user override files) is not capped
here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from podspawn.config.schema import ServerConfig
from podspawn.errors import PodfileError
from podspawn.units import parse_memory

if TYPE_CHECKING:
    from podspawn.podfile import Podfile


def check_requests(config: ServerConfig, podfile: Podfile) -> None:
    """Refuse a Podfile that asks for more than the server's ceilings.

    Raises:
        PodfileError: one sentence per request above a ceiling, naming the field, the value
            and the ceiling, such as ``services.db.resources.memory: 64g is more than this
            server allows (resources.max_memory: 8g)``.
    """
    requests = [("resources", podfile.resources.cpus, podfile.resources.memory)]
    requests += [(f"services.{service.name}.resources", service.resources.cpus,
                  service.resources.memory) for service in podfile.services]
    problems: list[str] = []
    ceiling, machine = config.resources.max_cpus, machine_cpus()
    for where, cpus, memory in requests:
        if cpus is not None and ceiling and cpus > ceiling:
            problems.append(f"{where}.cpus: {cpus:g} is more than this server allows "
                            f"(resources.max_cpus: {ceiling:g})")
        elif cpus is not None and cpus > machine:
            problems.append(f"{where}.cpus: {cpus:g} is more than this server has "
                            f"({machine} CPUs)")
        if memory is not None and clamp_memory(config, memory) != memory:
            shown = f"{memory} (no limit)" if parse_memory(memory) == 0 else memory
            problems.append(f"{where}.memory: {shown} is more than this server allows "
                            f"(resources.max_memory: {config.resources.max_memory})")
    if problems:
        raise PodfileError(
            "; ".join(problems) + "; ask for less in the Podfile, or raise the ceiling in "
            "the server config"
        )


def machine_cpus() -> int:
    """The CPUs this process may run on, which is what Docker allows a container at most."""
    return len(os.sched_getaffinity(0)) or 1


def clamp_cpus(config: ServerConfig, requested: float | None) -> float | None:
    """A Podfile's CPU request capped at ``resources.max_cpus`` and at the machine's CPUs;
    None when it asks none."""
    if requested is None:
        return None
    ceiling = config.resources.max_cpus
    return min(requested, ceiling or requested, machine_cpus())


def clamp_memory(config: ServerConfig, requested: str | None) -> str | None:
    """A Podfile's memory request capped at ``resources.max_memory`` (``0``, no limit, is
    capped too); None when it asks none. The text stays as written when it is within."""
    if requested is None:
        return None
    ceiling = config.resources.max_memory
    size = parse_memory(requested)
    return ceiling if size == 0 or size > parse_memory(ceiling) else requested


def service_limits(config: ServerConfig, cpus: float | None, memory: str | None
                   ) -> tuple[float, int]:
    """(CPUs, memory in bytes) of a companion service that asks for ``cpus`` and ``memory``.

    Unset requests get the admin's ``resources.service_cpus`` and ``service_memory``; a
    ``service_cpus`` of 0 means the ``max_cpus`` ceiling. The memory is never unlimited.
    """
    res = config.resources
    granted = clamp_cpus(config, cpus if cpus is not None else res.service_cpus or res.max_cpus)
    return granted or 0.0, parse_memory(clamp_memory(config, memory) or res.service_memory)
