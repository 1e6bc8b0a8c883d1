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
from collections.abc import Mapping

from podspawn import labels, log
from podspawn.errors import PodspawnError
from podspawn.names import check_container_name
from podspawn.runtime.base import ExecResult, ProbeSpec, Runtime

#: How long a check container lives if nobody removes it (seconds).
LIFETIME = 600
_KIND = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.ROLE: labels.CHECK_ROLE}


def spec_for(image: str, token: str) -> ProbeSpec:
    """The check container of one run: the runtime gives it no network, no capabilities, no
    new privileges and small limits. Images under check may be anyone's, so it gets less than
    a session does; nothing a check runs needs more than reading files and starting
    programs."""
    return ProbeSpec(image=image, name=check_container_name(token),
                     labels={**_KIND, labels.CHECK: token}, lifetime=LIFETIME)


def run_checks(runtime: Runtime, image: str, commands: list[list[str]], *,
               env: Mapping[str, str] | None = None) -> list[ExecResult]:
    """Run ``commands`` in a throw-away container of ``image``; it is gone afterwards.

    Raises:
        ImageUnavailable: ``image`` is not on this server (nothing is pulled).
        RuntimeFailure: the container could not be created, or stopped at once.
    """
    sweep(runtime)
    return runtime.probe(spec_for(image, secrets.token_hex(6)), commands, env=env)


def sweep(runtime: Runtime) -> int:
    """Remove stopped check containers that earlier runs could not (a killed process)."""
    try:
        return runtime.sweep_probes(_KIND)
    except PodspawnError as exc:
        log.error("could not sweep stale check containers", error=exc.detail or exc.message)
        return 0
