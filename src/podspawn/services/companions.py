"""Companion services (PostgreSQL, Redis, ...) beside a session's dev container: what the
Podfile asks for, turned into backend-neutral :class:`~podspawn.runtime.spec.CompanionSpec`.

The runtime starts them in order on the session's private network, under their Podfile
``name``, each waited for before the next. Their named volumes are private to the (user,
project); their host-path volumes are checked and staged by :mod:`podspawn.services.binds`
through the :func:`stager` callback, just before each one's container is created (after the
services before it have started and could have planted a symlink).

A service's image and settings come from the Podfile, that is from a repository, so it is
hardened like a session: ``security.cap_drop`` with a capability list of its own
(``security.service_cap_add``), no-new-privileges, the pids limit, the OCI runtime, and a
CPU and memory limit that are requests within the admin's ceilings
(:mod:`podspawn.services.limits`). Its image is pulled by ``add-project`` and
``update-project`` (:func:`pull_service_images`), never at login: a missing one refuses the
login with a sentence telling the admin to run ``update-project``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from podspawn import log
from podspawn.errors import ImageUnavailable
from podspawn.names import bind_mount_name
from podspawn.runtime.base import Runtime
from podspawn.runtime.spec import Bind, BindRequest, CompanionSpec, Hardening, Limits, Volume
from podspawn.services.binds import BindPolicy, Refused, check, refusal, stage
from podspawn.services.limits import service_limits

if TYPE_CHECKING:
    from podspawn.config.schema import ServerConfig
    from podspawn.podfile import Podfile, Service

Progress = Callable[[str], None]


def companion_spec(config: ServerConfig, service: Service) -> CompanionSpec:
    """One Podfile service as the runtime gets it (tested as data)."""
    sec = config.security
    cpus, memory = service_limits(config, service.resources.cpus, service.resources.memory)
    volumes, binds = split_volumes(service.volumes)
    return CompanionSpec(
        name=service.name,
        image=service.image,
        env=dict(service.env),
        command=tuple(service.command) if service.command else None,
        volumes=volumes,
        binds=binds,
        ports=tuple(service.ports),
        ready=service.ready,
        ready_timeout=service.ready_timeout,
        limits=Limits(cpus=cpus, memory=memory, pids=sec.pids_limit),
        hardening=Hardening(cap_drop=sec.cap_drop, cap_add=sec.service_cap_add,
                            no_new_privileges=sec.service_no_new_privileges,
                            oci_runtime=sec.runtime),
    )


def split_volumes(entries: tuple[str, ...]) -> tuple[tuple[Volume, ...], tuple[BindRequest, ...]]:
    """Podfile ``volumes`` entries as named volumes and host-bind requests."""
    volumes, binds = [], []
    for index, entry in enumerate(entries):
        source, target, *rest = entry.split(":")
        read_only = rest == ["ro"]
        if source.startswith("/"):
            binds.append(BindRequest(index=index, source=source, target=target,
                                     read_only=read_only))
        else:
            volumes.append(Volume(name=source, target=target, read_only=read_only))
    return tuple(volumes), tuple(binds)


def companion_specs(config: ServerConfig, services: tuple[Service, ...]
                    ) -> tuple[CompanionSpec, ...]:
    return tuple(companion_spec(config, service) for service in services)


def stager(podfile: Podfile, policy: BindPolicy) -> Callable[[CompanionSpec], tuple[Bind, ...]]:
    """The ``stage`` callback of ``Runtime.start_session``: check and stage a companion's
    host binds at the moment its container is about to be created.

    The callback raises PodfileError (a host path is refused; the sentence names the Podfile
    entry) or RuntimeFailure (the kernel refused the staging mount).
    """
    positions = {service.name: index for index, service in enumerate(podfile.services)}

    def stage_companion(companion: CompanionSpec) -> tuple[Bind, ...]:
        index = positions[companion.name]
        staged = []
        for bind in companion.binds:
            entry = podfile.services[index].volumes[bind.index]
            try:
                path = stage(bind.source, policy=policy,
                             name=bind_mount_name(companion.name, bind.index),
                             read_only=bind.read_only)
            except Refused as exc:
                raise refusal(f"services.{index}.volumes.{bind.index}", entry, exc) from None
            staged.append(Bind(source=path, target=bind.target))
        return tuple(staged)

    return stage_companion


def check_binds(services: tuple[Service, ...], roots: tuple[str, ...]) -> None:
    """The check the stager makes at every container creation, made early (``add-project``,
    ``update-project``) so that the admin hears of a problem at once.

    Raises:
        PodfileError: a host path is refused; the sentence names the Podfile entry.
    """
    for index, service in enumerate(services):
        for v_index, entry, source in _host_binds(service):
            try:
                check(source, roots)
            except Refused as exc:
                raise refusal(f"services.{index}.volumes.{v_index}", entry, exc) from None


def _host_binds(service: Service) -> Iterator[tuple[int, str, str]]:
    """``(index, entry, host path)`` of each host-path volume of ``service``."""
    for v_index, entry in enumerate(service.volumes):
        source = entry.split(":")[0]
        if source.startswith("/"):
            yield v_index, entry, source


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


def require_images(runtime: Runtime, services: tuple[Service, ...], project: str) -> None:
    """A login never pulls: every service image was made present by add-project or
    update-project.

    Raises:
        ImageUnavailable: one is missing; the sentence names the fix.
    """
    for service in services:
        _require_image(runtime, service, project)


def _require_image(runtime: Runtime, service: Service, project: str) -> None:
    if runtime.image_id(service.image):
        return
    log.error("service image missing at login", project=project, service=service.name,
              image=service.image, fix=f"podspawn update-project {project}")
    raise ImageUnavailable(
        f"the image {service.image} of service {service.name} of project {project} is "
        f"missing on this server; an administrator must run: podspawn update-project {project}"
    )
