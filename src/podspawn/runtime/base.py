"""The contract between podspawn's services and a container engine.

Every method returns podspawn's own frozen dataclasses, never an SDK object, and raises only
podspawn errors: ``RuntimeUnavailable`` when the engine cannot be reached, ``RuntimeFailure``
when it refuses, ``ImageUnavailable`` for a missing image. "Gone" is a normal answer:
``inspect`` returns None for a missing container, and removing what is already gone succeeds,
so cleanup and retries are idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from podspawn.runtime.info import ContainerInfo

__all__ = [
    "BuildLimits", "ContainerInfo", "ContainerSpec", "ExecResult", "Mount", "NetworkInfo",
    "Runtime",
]

ContainerState = Literal["created", "running", "paused", "restarting", "exited", "dead", "removing"]


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume, tmpfs or host bind of a container.

    A companion's host bind arrives here as a staging path that podspawn has already
    checked, pinned and mounted ``nosuid,nodev`` (``podspawn.services.binds``); a backend
    binds it as given and adds no remount of its own, which would drop those flags.
    """

    target: str
    source: str
    type: Literal["bind", "volume", "tmpfs"] = "bind"
    read_only: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of a named volume Docker creates on first use (``type="volume"``)."""


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """Everything needed to create a container; built as pure data and tested as such."""

    name: str
    image: str
    labels: Mapping[str, str]
    hostname: str = ""
    command: tuple[str, ...] = ("sleep", "infinity")
    """Empty means the image's own command."""
    env: Mapping[str, str] = field(default_factory=dict)
    network: str = ""
    aliases: tuple[str, ...] = ()
    nano_cpus: int = 0
    memory: int = 0
    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    pids_limit: int = 0
    read_only: bool = False
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    runtime: str = ""
    mounts: tuple[Mount, ...] = ()
    init: bool = True
    working_dir: str = ""


@dataclass(frozen=True, slots=True)
class BuildLimits:
    """What one image build may use, since its steps run a repository's commands."""

    memory: int = 0
    """Bytes of memory, swap included, of each step; 0 means no limit."""
    pids: int = 0
    """Processes of the whole build, every step's together; 0 means no limit."""
    name: str = "build"
    """Lowercase letters, digits and '-': what the engine's bookkeeping for the build (a
    cgroup) is called, such as the project's name. The caller holds a lock for this name,
    so what an earlier, killed build of the same name left behind may be removed."""


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    id: str
    name: str
    labels: Mapping[str, str]
    interface: str = ""
    """The host's interface for it (a Linux bridge), which the packet filter matches; empty
    when the engine has none."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    output: bytes


class Runtime(Protocol):
    """What podspawn needs from a container engine. A second engine implements the same."""

    name: str

    def inspect(self, name_or_id: str) -> ContainerInfo | None:
        """The container's current state; None when it does not exist (or is being removed)."""

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        """Create (not start) a container. Raises ImageUnavailable if the image is missing."""

    def start(self, name_or_id: str) -> None:
        """Start a created or stopped container; starting a running one is a no-op."""

    def exec(
        self,
        name_or_id: str,
        argv: list[str],
        *,
        user: str = "root",
        env: Mapping[str, str] | None = None,
        workdir: str = "",
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run a command to completion and return its exit code and combined output."""

    def remove(self, name_or_id: str, *, owner: Mapping[str, str]) -> None:
        """Force-remove a container and its anonymous volumes; a missing one is success.

        Only a container whose labels carry ``owner`` (``podspawn.labels.carries``) is
        removed, found by name or id and then removed by its id.

        Raises:
            Conflict: the container exists but is not the one ``owner`` describes.
        """

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """Every container (running or not) carrying all of ``labels``."""

    def create_network(
        self, name: str, labels: Mapping[str, str], *, interface: str = ""
    ) -> NetworkInfo:
        """Create a bridge network, or return the existing one of that name with our labels.

        ``interface`` names the host's bridge (``names.bridge_name``), so the packet filter
        can match every session network with one pattern; empty leaves the engine's choice.
        An existing network keeps the interface it has.
        """

    def remove_network(self, name_or_id: str, *, owner: Mapping[str, str]) -> None:
        """Remove a network whose labels carry ``owner``; a missing one is success.

        Raises:
            Conflict: the network is not the one ``owner`` describes.
            RuntimeFailure: it is still in use.
        """

    def list_networks(self, labels: Mapping[str, str]) -> list[NetworkInfo]:
        """Every network carrying all of ``labels``."""

    def image_id(self, ref: str) -> str | None:
        """The local image id for ``ref``, or None when it is not present locally."""

    def pull(self, ref: str) -> str:
        """Pull ``ref`` and return its id. Raises ImageUnavailable when it cannot."""

    def build(
        self,
        tag: str,
        dockerfile: str,
        *,
        labels: Mapping[str, str] | None = None,
        files: Mapping[str, bytes] | None = None,
        context_dirs: Mapping[str, str] | None = None,
        on_output: Callable[[str], None] | None = None,
        limits: BuildLimits | None = None,
    ) -> str:
        """Build an image from a Dockerfile text (plus context files) and return its id.

        ``context_dirs`` maps a name in the build context to a host directory copied there
        with its file modes, for ``COPY`` steps. ``limits`` bound the build's memory and
        processes.

        Raises:
            RuntimeFailure: a step failed; the message names the step and its last lines.
                Also when the engine cannot enforce ``limits``.
            BuildLimitReached: a step was stopped by one of ``limits``.
        """

    def address(self, name_or_id: str) -> str:
        """The container's IP address on its (first) network, or "" when it has none."""

    def list_volumes(self, labels: Mapping[str, str]) -> list[str]:
        """Names of the volumes carrying all of ``labels``."""

    def remove_volume(self, name: str, *, owner: Mapping[str, str]) -> None:
        """Remove a named volume whose labels carry ``owner``; a missing one is success.

        Raises:
            Conflict: the volume is not the one ``owner`` describes.
            RuntimeFailure: it is still in use.
        """

    def import_rootfs(self, tar_path: str, tag: str) -> str:
        """Import a root filesystem tarball as image ``tag`` and return its id."""
