"""Companion services (PostgreSQL, Redis, ...) beside a session's dev container.

Each runs in its own container on the session's private network, reachable by its Podfile
``name``; its named volumes are private to the (user, project), and its host-path volumes
are checked and staged by :mod:`podspawn.services.binds` when the container is created.
Services start in order and each is waited for (its ``ready`` command, else its declared
ports accepting connections) before the next; if any fails, the ones already started are
removed again.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from podspawn import log
from podspawn.errors import PodfileError, PodspawnError, RuntimeFailure
from podspawn.labels import ROLE, SERVICE, SESSION
from podspawn.names import bind_mount_name, service_container_name, volume_name
from podspawn.runtime.base import ContainerSpec, Mount, Runtime
from podspawn.services.binds import BindPolicy, Refused, check, refusal, release, stage
from podspawn.services.images import ensure_base

if TYPE_CHECKING:
    from podspawn.podfile import Service

Progress = Callable[[str], None]


def service_spec(
    service: Service, *, user: str, project: str, network: str, labels: Mapping[str, str],
    staged: Mapping[int, str] | None = None,
    oci_runtime: str = "",
) -> ContainerSpec:
    """A companion container as plain data. ``labels`` are the session's (``labels.owner``
    plus its session id); each object gets its role on top. ``staged`` maps the index of
    each host-path volume to its staging mount (:func:`podspawn.services.binds.stage`).
    ``oci_runtime`` is the admin's ``security.runtime``: a service runs in the same sandbox
    kind as the dev container.

    A staged bind is handed to the engine as a plain, writable bind: the staging mount
    already carries ``ro`` (when asked), ``nosuid`` and ``nodev``, and an engine remount for
    ``ro`` would drop the other two.

    Raises:
        PodfileError: a host-path volume has no staging mount.
    """
    mounts = []
    for index, entry in enumerate(service.volumes):
        source, target, *rest = entry.split(":")
        if source.startswith("/"):
            if staged is None or index not in staged:
                raise PodfileError(f"service {service.name}: the host path of {entry} was "
                                   "not checked by the server; report this to an "
                                   "administrator")
            mounts.append(Mount(target=target, source=staged[index], type="bind"))
            continue
        mounts.append(
            Mount(
                target=target,
                source=volume_name(user, project, source),
                type="volume",
                read_only=rest == ["ro"],
                labels={**labels, ROLE: "volume"},
            )
        )
    return ContainerSpec(
        name=service_container_name(user, project, service.name),
        image=service.image,
        labels={**labels, ROLE: "service", SERVICE: service.name},
        network=network,
        aliases=(service.name,),
        command=tuple(service.command or ()),
        env=dict(service.env),
        mounts=tuple(mounts),
        init=False,
        runtime=oci_runtime,
    )


def stage_binds(service: Service, *, index: int, policy: BindPolicy) -> dict[int, str]:
    """Check and stage every host-path volume of the ``index``-th service, now.

    Raises:
        PodfileError: a host path is refused; the sentence names the Podfile entry.
        RuntimeFailure: the kernel refused the staging mount.
    """
    staged: dict[int, str] = {}
    for v_index, entry, source, read_only in _host_binds(service):
        try:
            staged[v_index] = stage(source, policy=policy,
                                    name=bind_mount_name(service.name, v_index),
                                    read_only=read_only)
        except Refused as exc:
            raise refusal(f"services.{index}.volumes.{v_index}", entry, exc) from None
    return staged


def check_binds(services: tuple[Service, ...], roots: tuple[str, ...]) -> None:
    """The check :func:`stage_binds` makes at every container creation, made early
    (``add-project``, ``update-project``) so that the admin hears of a problem at once.

    Raises:
        PodfileError: a host path is refused; the sentence names the Podfile entry.
    """
    for index, service in enumerate(services):
        for v_index, entry, source, _ in _host_binds(service):
            try:
                check(source, roots)
            except Refused as exc:
                raise refusal(f"services.{index}.volumes.{v_index}", entry, exc) from None


def _host_binds(service: Service) -> Iterator[tuple[int, str, str, bool]]:
    """``(index, entry, host path, read-only)`` of each host-path volume of ``service``."""
    for v_index, entry in enumerate(service.volumes):
        source, _, *rest = entry.split(":")
        if source.startswith("/"):
            yield v_index, entry, source, rest == ["ro"]


def start_services(
    *,
    runtime: Runtime,
    services: tuple[Service, ...],
    user: str,
    project: str,
    network: str,
    labels: Mapping[str, str],
    binds: BindPolicy,
    progress: Progress | None = None,
    oci_runtime: str = "",
) -> list[str]:
    """Start every service and wait until each is ready; return their container ids.

    Host-path volumes are checked and staged just before their own service is created
    (after the services before it have started and could have planted a symlink), under
    ``binds``; on failure every staging mount of the session is released again.

    Raises:
        PodfileError: a host-path volume is refused (symlink, missing, outside the roots).
        RuntimeFailure: a service did not start or become ready; none is left running.
        ImageUnavailable: a service image is missing and cannot be pulled.
    """
    started: list[str] = []
    try:
        for index, service in enumerate(services):
            if progress:
                progress(f"  Starting companion service: {service.name} ({service.image})...")
            ensure_base(runtime, service.image)
            staged = stage_binds(service, index=index, policy=binds)
            spec = service_spec(service, user=user, project=project, network=network,
                                labels=labels, staged=staged, oci_runtime=oci_runtime)
            # a leftover of this very (user, project) from a crash; anything else of that
            # name is not ours, and the removal refuses it
            runtime.remove(spec.name, owner=_leftover_owner(spec.labels))
            info = runtime.create(spec)
            started.append(info.id)
            runtime.start(info.id)
            _wait_ready(runtime, info.id, service)
            if progress:
                progress(f"  Starting companion service: {service.name} ({service.image})... "
                         "done")
    except BaseException:
        for container in reversed(started):
            try:
                runtime.remove(container, owner={**labels, ROLE: "service"})
            except PodspawnError as exc:
                log.error("rollback of a service failed", container=container,
                          error=exc.detail or exc.message)
        for failure in release(binds.staging):
            log.error("rollback of a staged bind failed", failure=failure)
        raise
    return started


def _leftover_owner(labels: Mapping[str, str]) -> dict[str, str]:
    """Who a service container of this session's name must belong to before it is replaced:
    the same installation, user, project and service, from any earlier session."""
    return {key: value for key, value in labels.items() if key != SESSION}


def _wait_ready(runtime: Runtime, container: str, service: Service) -> None:
    deadline = time.monotonic() + service.ready_timeout
    while True:
        info = runtime.inspect(container)
        if info is None or info.state in ("exited", "dead"):
            raise RuntimeFailure(
                f"companion service {service.name} stopped right after starting; check its "
                "image and env in the Podfile"
            )
        if _is_ready(runtime, container, service):
            return
        if time.monotonic() > deadline:
            raise RuntimeFailure(
                f"companion service {service.name} was not ready after "
                f"{service.ready_timeout:g}s; check its 'ready' command or raise ready_timeout"
            )
        time.sleep(0.5)


def _is_ready(runtime: Runtime, container: str, service: Service) -> bool:
    if service.ready:
        return runtime.exec(container, ["sh", "-c", service.ready]).exit_code == 0
    if not service.ports:
        return True
    address = runtime.address(container)
    if not address:
        return False
    for port in service.ports:
        try:
            with socket.create_connection((address, port), timeout=1):
                pass
        except OSError:
            return False
    return True
