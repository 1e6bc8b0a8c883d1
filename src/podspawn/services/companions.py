"""Companion services (PostgreSQL, Redis, ...) beside a session's dev container.

Each runs in its own container on the session's private network, reachable by its Podfile
``name``; its named volumes are private to the (user, project), and its host-path volumes
are checked and staged by :mod:`podspawn.services.binds` when the container is created.
Services start in order and each is waited for (its ``ready`` command, else its declared
ports accepting connections) before the next; if any fails, the ones already started are
removed again.

A service's image and settings come from the Podfile, that is from a repository, so its
container is hardened like a session's: ``security.cap_drop`` with a capability list of its
own (``security.service_cap_add``), no-new-privileges, the pids limit, the OCI runtime, and a
CPU and memory limit that are requests within the admin's ceilings
(:mod:`podspawn.services.limits`). Its image is pulled by ``add-project`` and
``update-project`` (:func:`pull_service_images`), never at login: a missing one refuses the
login with a sentence telling the admin to run ``update-project``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from podspawn import log
from podspawn.errors import ImageUnavailable, PodfileError, PodspawnError, RuntimeFailure
from podspawn.labels import ROLE, SERVICE, SESSION
from podspawn.names import bind_mount_name, service_container_name, volume_name
from podspawn.runtime.base import ContainerSpec, Mount, Runtime
from podspawn.services.binds import BindPolicy, Refused, check, refusal, release, stage
from podspawn.services.limits import service_limits

if TYPE_CHECKING:
    from podspawn.config.schema import ServerConfig
    from podspawn.podfile import Service

Progress = Callable[[str], None]


def service_spec(
    service: Service, *, config: ServerConfig, user: str, project: str, network: str,
    labels: Mapping[str, str], staged: Mapping[int, str] | None = None,
) -> ContainerSpec:
    """A companion container as plain data. ``labels`` are the session's (``labels.owner``
    plus its session id); each object gets its role on top. ``staged`` maps the index of
    each host-path volume to its staging mount (:func:`podspawn.services.binds.stage`).

    A staged bind is handed to the engine as a plain, writable bind: the staging mount
    already carries ``ro`` (when asked), ``nosuid`` and ``nodev``, and an engine remount for
    ``ro`` would drop the other two.

    Raises:
        PodfileError: a host-path volume has no staging mount.
    """
    sec = config.security
    cpus, memory = service_limits(config, service.resources.cpus, service.resources.memory)
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
        nano_cpus=round(cpus * 1e9),
        memory=memory,
        cap_drop=sec.cap_drop,
        cap_add=sec.service_cap_add,
        security_opt=("no-new-privileges:true",) if sec.service_no_new_privileges else (),
        pids_limit=sec.pids_limit,
        runtime=sec.runtime,
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
    config: ServerConfig,
    services: tuple[Service, ...],
    user: str,
    project: str,
    network: str,
    labels: Mapping[str, str],
    binds: BindPolicy,
    progress: Progress | None = None,
) -> list[str]:
    """Start every service and wait until each is ready; return their container ids.

    Host-path volumes are checked and staged just before their own service is created
    (after the services before it have started and could have planted a symlink), under
    ``binds``; on failure every staging mount of the session is released again.

    Raises:
        PodfileError: a host-path volume is refused (symlink, missing, outside the roots).
        RuntimeFailure: a service did not start or become ready; none is left running.
        ImageUnavailable: a service image is missing (``update-project`` pulls it).
    """
    started: list[str] = []
    try:
        for index, service in enumerate(services):
            if progress:
                progress(f"  Starting companion service: {service.name} ({service.image})...")
            _require_image(runtime, service, project)
            staged = stage_binds(service, index=index, policy=binds)
            spec = service_spec(service, config=config, user=user, project=project,
                                network=network, labels=labels, staged=staged)
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


def pull_service_images(
    runtime: Runtime, services: tuple[Service, ...], *, progress: Progress | None = None
) -> None:
    """Make every service image present (``add-project``, ``update-project``).

    Raises:
        ImageUnavailable: an image is neither local nor pullable.
    """
    for service in services:
        if runtime.image_id(service.image):
            continue
        if progress:
            progress(f"  Pulling image {service.image} of service {service.name}...")
        try:
            runtime.pull(service.image)
        except ImageUnavailable as exc:
            raise ImageUnavailable(
                f"the image {service.image} of service {service.name} is not on this server "
                "and cannot be pulled; provide it (docker pull or docker load) and try again",
                detail=exc.detail,
            ) from None


def _require_image(runtime: Runtime, service: Service, project: str) -> None:
    """A login never pulls: the image was made present by add-project or update-project."""
    if runtime.image_id(service.image):
        return
    log.error("service image missing at login", project=project, service=service.name,
              image=service.image, fix=f"podspawn update-project {project}")
    raise ImageUnavailable(
        f"the image {service.image} of service {service.name} of project {project} is "
        f"missing on this server; an administrator must run: podspawn update-project {project}"
    )


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
