"""A project's ``host_requirements`` (a devcontainer's ``hostRequirements``) against this
server: what is missing is a warning, never a refusal, since the project may well work
with less and the admin is the one to judge."""

from __future__ import annotations

import glob
import os
import shutil
from typing import TYPE_CHECKING

from podspawn.units import parse_memory

if TYPE_CHECKING:
    from podspawn.podfile.model import HostRequirements


def host_memory() -> int:
    """Bytes of memory the host has (``MemTotal``), 0 when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def has_gpu() -> bool:
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/dri/renderD*"))


def unmet(wanted: HostRequirements, *, storage_path: str = "/", cpus: int | None = None,
          memory: int | None = None, free: int | None = None, gpu: bool | None = None
          ) -> list[str]:
    """One sentence per requirement this host does not meet (the keyword arguments replace
    what is measured, for tests)."""
    problems = []
    have_cpus = (os.cpu_count() or 0) if cpus is None else cpus
    if wanted.cpus and have_cpus < wanted.cpus:
        problems.append(f"the project asks for {wanted.cpus} CPUs and this host has "
                        f"{have_cpus}")
    if wanted.memory:
        have = host_memory() if memory is None else memory
        if have and have < parse_memory(wanted.memory):
            problems.append(f"the project asks for {wanted.memory} of memory and this host has "
                            f"{have // 1024**2}m")
    if wanted.storage:
        try:
            have_free = shutil.disk_usage(storage_path).free if free is None else free
        except OSError:
            have_free = 0
        if have_free and have_free < parse_memory(wanted.storage):
            problems.append(f"the project asks for {wanted.storage} of storage and {storage_path} "
                            f"has {have_free // 1024**3}g free")
    if wanted.gpu and not (has_gpu() if gpu is None else gpu):
        problems.append("the project asks for a GPU and this host has none")
    return problems
