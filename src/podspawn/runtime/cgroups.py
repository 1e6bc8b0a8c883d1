"""A podspawn-owned cgroup for one image build, so that all of its processes share a limit.

Docker's classic builder takes a memory limit for each step's container, but no process
limit. It does take a ``cgroupparent`` for those containers. With Docker's ``cgroupfs``
driver on cgroups v1 (what these servers run), podspawn makes
``/sys/fs/cgroup/pids/podspawn-build/<name>-<random>`` with ``pids.max`` set and names it as
the parent: every step's container lands below it, so a fork bomb in any step stops at the
limit, and the kernel's ``pids.peak`` there tells afterwards whether the limit was reached.
Docker creates the same directory in the other hierarchies; everything is removed again
when the build ends. Used only by the Docker backend.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass

from podspawn import log

ROOT = "/sys/fs/cgroup"
PARENT = "podspawn-build"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True, slots=True)
class BuildGroup:
    """The cgroup of one build: ``path`` is what Docker takes as ``cgroupparent``."""

    path: str
    pids: int

    def pids_reached(self) -> bool:
        """Whether the build's processes reached ``pids`` at some point."""
        peak = _read_int(os.path.join(ROOT, "pids", self.path.lstrip("/"), "pids.peak"))
        return peak is not None and peak >= self.pids

    def memory_peak(self) -> int | None:
        """The most memory the build's steps used at once, when the kernel says."""
        return _read_int(os.path.join(ROOT, "memory", self.path.lstrip("/"),
                                      "memory.max_usage_in_bytes"))


def supported() -> bool:
    """Whether this host has the cgroups v1 pids hierarchy a build group needs."""
    return os.path.isfile(os.path.join(ROOT, "pids", "cgroup.procs"))


def make_group(name: str, pids: int) -> BuildGroup:
    """A fresh cgroup below ``podspawn-build`` limited to ``pids`` processes; give it back
    to :func:`remove_group` when the build ends.

    Raises:
        OSError: the cgroup cannot be made (no pids hierarchy, not root).
    """
    name = name if _NAME.fullmatch(name) else "build"
    _remove_leftovers(name)
    relative = f"{PARENT}/{name}-{secrets.token_hex(4)}"
    directory = os.path.join(ROOT, "pids", relative)
    os.makedirs(directory, mode=0o755)
    try:
        with open(os.path.join(directory, "pids.max"), "w", encoding="ascii") as fh:
            fh.write(str(pids))
    except OSError:
        _remove(relative)
        raise
    return BuildGroup(path=f"/{relative}", pids=pids)


def remove_group(group: BuildGroup) -> None:
    """Remove the build's cgroup from every hierarchy; a leftover is logged, not raised."""
    _remove(group.path.lstrip("/"))


def _remove_leftovers(name: str) -> None:
    """Empty groups of earlier builds of ``name`` that ended without removing theirs (the
    process was killed). The caller holds ``name``'s build lock, so none of them is in use;
    one with processes in it refuses to go and is left alone."""
    pattern = re.compile(re.escape(name) + r"-[0-9a-f]{8}")
    try:
        entries = os.listdir(os.path.join(ROOT, "pids", PARENT))
    except OSError:
        return
    for entry in entries:
        if pattern.fullmatch(entry):
            _remove(f"{PARENT}/{entry}", wait=0)


def _remove(relative: str, *, wait: float = 5) -> None:
    """Remove the build's directory from every hierarchy; Docker may still be letting go of
    the last step's container for up to ``wait`` seconds."""
    try:
        hierarchies = os.listdir(ROOT)
    except OSError:
        return
    for hierarchy in hierarchies:
        directory = os.path.join(ROOT, hierarchy, relative)
        deadline = time.monotonic() + wait
        while os.path.isdir(directory):
            try:
                os.rmdir(directory)
            except OSError as exc:
                if time.monotonic() > deadline:
                    log.warning("build cgroup left behind", path=directory, error=str(exc))
                    break
                time.sleep(0.1)


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
