"""Docker's answers for ``podspawn doctor`` (see :mod:`podspawn.runtime.facts`).

Docker gives a new bridge network the next free subnet of its address pools, skipping any
that overlap one of its networks or a route of the host. Engine 20.10 does not report its
pools, so they are read from ``daemon.json`` (``default-address-pools``), else Docker's
built-in list is assumed.
"""

from __future__ import annotations

import json
import os

from podspawn import labels
from podspawn.runtime import engine_http
from podspawn.runtime.docker import _UNAVAILABLE, _mapped
from podspawn.runtime.facts import EngineFacts
from podspawn.runtime.subnets import AddressPool, host_routes

DAEMON_JSON = "/etc/docker/daemon.json"
#: libnetwork's local-scope defaults (Engine 20.10): 31 networks in all.
DEFAULT_POOLS = (
    AddressPool("172.17.0.0/16", 16), AddressPool("172.18.0.0/16", 16),
    AddressPool("172.19.0.0/16", 16), AddressPool("172.20.0.0/14", 16),
    AddressPool("172.24.0.0/14", 16), AddressPool("172.28.0.0/14", 16),
    AddressPool("192.168.0.0/16", 20),
)


def engine_facts() -> EngineFacts:
    """Raises: RuntimeUnavailable: dockerd does not answer (``DOCKER_HOST`` is honoured)."""
    import docker

    endpoint = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    with _mapped("answer"):
        client = docker.from_env(timeout=15)
        try:
            info = client.api.info()
            networks = client.api.networks()
        finally:
            client.close()
    pools, source = configured_pools(DAEMON_JSON)
    taken = [str(cfg["Subnet"]) for net in networks
             for cfg in ((net.get("IPAM") or {}).get("Config") or [])
             if "." in str(cfg.get("Subnet", ""))]
    taken += host_routes()
    ours = sum(1 for net in networks
               if (net.get("Labels") or {}).get(labels.MANAGED_BY) == labels.MANAGED_BY_VALUE)
    return EngineFacts(
        version=str(info.get("ServerVersion", "")),
        endpoint=endpoint,
        data_root=str(info.get("DockerRootDir", "")),
        pools=pools,
        pools_source=source,
        taken=tuple(dict.fromkeys(taken)),
        podspawn_networks=ours,
    )


def data_root() -> str:
    """Docker's ``DockerRootDir``, or "" for an engine on another machine (``DOCKER_HOST``
    other than a unix socket), whose paths mean nothing here.

    Raises:
        RuntimeUnavailable: dockerd does not answer.
    """
    endpoint = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not endpoint.startswith("unix://"):
        return ""
    return engine_http.data_root(endpoint.removeprefix("unix://"), unavailable=_UNAVAILABLE)


def configured_pools(path: str) -> tuple[tuple[AddressPool, ...], str]:
    """The pools in ``daemon.json``, or Docker's defaults when it sets none."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        listed = data.get("default-address-pools") if isinstance(data, dict) else None
        if isinstance(listed, list) and listed:
            pools = tuple(AddressPool(str(p["base"]), int(p["size"])) for p in listed)
            return pools, path
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return DEFAULT_POOLS, "Docker's default pools"
