"""The low-level face of a container engine (Docker, Podman): one object at a time.

A Kubernetes backend has no such face; it implements :class:`podspawn.runtime.base.Runtime`
directly. The Docker and Podman backends share their session logic
(:class:`podspawn.runtime.container_runtime.ContainerRuntime`) over this protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from podspawn.runtime.base import (
    BuildLimits,
    BuildOptions,
    ContainerInfo,
    ContainerSpec,
    NetworkInfo,
)
from podspawn.runtime.spec import ExecResult


class ContainerEngine(Protocol):
    """Containers, networks, volumes and images, one object at a time: what the shared
    session logic (:mod:`podspawn.runtime.container_runtime`) needs of Docker or Podman.

    Nothing outside the container backends uses this: services speak
    :class:`podspawn.runtime.base.Runtime`, one session at a time.
    """

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
        self, name: str, labels: Mapping[str, str], *, interface: str = "", subnet: str = ""
    ) -> NetworkInfo:
        """Create a bridge network, or return the existing one of that name with our labels.

        Raises:
            Conflict: a network of that name exists without ``labels`` (someone else's).

        ``interface`` names the host's bridge (``names.bridge_name``), so the packet filter
        can match every session network with one pattern; empty leaves the engine's choice.
        ``subnet`` (a CIDR) is its address range; empty lets the engine pick from its pools.
        An existing network keeps the interface and subnet it has.

        Raises:
            SubnetTaken: another network holds an overlapping range (a concurrent login).
        """

    def network_subnets(self) -> list[str]:
        """The IPv4 subnets of every network the engine has, podspawn's or not."""

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
        options: BuildOptions | None = None,
    ) -> str:
        """Build an image from a Dockerfile text (plus context files) and return its id.

        ``context_dirs`` maps a name in the build context to a host directory copied there
        with its file modes, for ``COPY`` steps. ``limits`` bound the build's memory and
        processes. ``options`` carry a repository's own context, build arguments and target.

        Raises:
            RuntimeFailure: a step failed; the message names the step and its last lines.
                Also when the engine cannot enforce ``limits``.
            BuildLimitReached: a step was stopped by one of ``limits``.
        """

    def address(self, name_or_id: str) -> str:
        """The container's IP address on its (first) network, or "" when it has none."""

    def list_volumes(self, labels: Mapping[str, str]) -> list[tuple[str, Mapping[str, str]]]:
        """(name, labels) of every volume carrying all of ``labels``."""

    def remove_volume(self, name: str, *, owner: Mapping[str, str]) -> None:
        """Remove a named volume whose labels carry ``owner``; a missing one is success.

        Raises:
            Conflict: the volume is not the one ``owner`` describes.
            RuntimeFailure: it is still in use.
        """

    def import_rootfs(self, tar_path: str, tag: str) -> str:
        """Import a root filesystem tarball as image ``tag`` and return its id."""
