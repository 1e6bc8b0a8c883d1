"""Throw-away containers for checks (``doctor``, ``verify-image``): labelled, always removed.

The Go implementation leaked its check container when starting it failed. Here the container
is removed in every outcome (created or not, started or not, the check passing, failing or
interrupted), by name and only if its labels say it is this run's. It sleeps for a bounded
time, so even a ``kill -9`` of the checking process leaves a container that stops by
itself; the next check run removes stopped leftovers of earlier runs (never a running one,
which may be another admin's check in progress).

Check containers carry no installation id: cleanup never mistakes them for a session's
orphans, and a check works before ``server-setup`` has made a state database.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from podspawn import labels, log
from podspawn.errors import ImageUnavailable, PodspawnError, RuntimeFailure
from podspawn.names import check_container_name
from podspawn.runtime.base import ContainerSpec, Runtime

#: How long a check container lives if nobody removes it (seconds).
LIFETIME = 600
_KIND = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.ROLE: labels.CHECK_ROLE}


def spec_for(image: str, token: str) -> ContainerSpec:
    """The check container: no network, no capabilities, no new privileges, small limits.

    Images under check may be anyone's, so the container gets less than a session does;
    nothing a check runs needs more than reading files and starting programs.
    """
    return ContainerSpec(
        name=check_container_name(token),
        image=image,
        labels={**_KIND, labels.CHECK: token},
        command=("sleep", str(LIFETIME)),
        network="none",
        cap_drop=("ALL",),
        security_opt=("no-new-privileges:true",),
        pids_limit=64,
        memory=256 * 1024 * 1024,
    )


@contextmanager
def throwaway(runtime: Runtime, image: str) -> Iterator[str]:
    """Start a check container of ``image`` and yield its id; remove it on the way out.

    Raises:
        ImageUnavailable: ``image`` is not on this server (nothing is pulled).
        RuntimeFailure: the container could not be created or started.
    """
    if runtime.image_id(image) is None:
        raise ImageUnavailable(
            f"image {image} is not on this server; pull or build it first (podspawn images "
            "bootstrap makes debian:* and ubuntu:* images)"
        )
    sweep(runtime)
    token = secrets.token_hex(6)
    spec = spec_for(image, token)
    owner = dict(spec.labels)
    try:
        info = runtime.create(spec)
        runtime.start(info.id)
        check_running(runtime, info.id, image)
        yield info.id
    except BaseException:
        _remove_quietly(runtime, spec.name, owner)
        raise
    runtime.remove(spec.name, owner=owner)


def check_running(runtime: Runtime, container: str, image: str) -> None:
    """Raises: RuntimeFailure: the container has already stopped (the image cannot run
    ``sleep``, which every session container runs to stay up)."""
    info = runtime.inspect(container)
    if info is None or not info.running:
        raise RuntimeFailure(
            f"a container of {image} stopped as soon as it started, so it cannot hold a "
            "session: the image needs /bin/sh and sleep (Debian packages dash and coreutils)"
        )


def sweep(runtime: Runtime) -> int:
    """Remove stopped check containers that earlier runs could not (a killed process)."""
    removed = 0
    for info in runtime.list_containers(_KIND):
        token = info.labels.get(labels.CHECK, "")
        if info.state not in ("exited", "dead") or not token:
            continue
        try:
            runtime.remove(info.id, owner={**_KIND, labels.CHECK: token})
            removed += 1
        except PodspawnError as exc:
            log.error("could not remove a stale check container", name=info.name,
                      error=exc.detail or exc.message)
    return removed


def _remove_quietly(runtime: Runtime, name: str, owner: dict[str, str]) -> None:
    """Removal while another error is on its way out: log a failure, never mask the error."""
    try:
        runtime.remove(name, owner=owner)
    except PodspawnError as exc:
        log.error("could not remove the check container", name=name,
                  error=exc.detail or exc.message)
