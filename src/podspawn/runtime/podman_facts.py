"""Podman's answers for ``podspawn doctor`` (see :mod:`podspawn.runtime.facts`).

Podman gives a new network the next free subnet of ``default_subnet_pools`` (containers.conf;
its built-in list holds 42,752 /24s), skipping those of its networks and the host's
routes.
"""

from __future__ import annotations

import glob
import tomllib

from podspawn import labels
from podspawn.runtime import engine_http, podman_login
from podspawn.runtime.docker import _mapped
from podspawn.runtime.facts import EngineFacts
from podspawn.runtime.podman import client, libpod, subnets_of
from podspawn.runtime.subnets import AddressPool, host_routes

#: Read in this order, a later file's value winning (Podman's own order, for root).
CONF_FILES = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf",
              "/etc/containers/containers.conf.d/*.conf")
#: containers/common's defaults (Podman 4).
DEFAULT_POOLS = (
    AddressPool("10.89.0.0/16", 24), AddressPool("10.90.0.0/15", 24),
    AddressPool("10.92.0.0/14", 24), AddressPool("10.96.0.0/11", 24),
    AddressPool("10.128.0.0/9", 24),
)


def engine_facts() -> EngineFacts:
    """Raises: RuntimeUnavailable: Podman's API service does not answer."""
    path = podman_login.socket_path()
    made = client(path)
    api = made.api
    try:
        with _mapped("answer"):
            info = api.info()
            networks = libpod(api, "get", "/networks/json") or []
    finally:
        made.close()
    pools, source = configured_pools(CONF_FILES)
    taken = subnets_of(networks)
    taken += host_routes()
    ours = sum(1 for net in networks
               if (net.get("labels") or {}).get(labels.MANAGED_BY) == labels.MANAGED_BY_VALUE)
    return EngineFacts(
        version=str(info.get("ServerVersion", "")),
        endpoint=f"unix://{path}",
        data_root=str(info.get("DockerRootDir", "")),
        pools=pools,
        pools_source=source,
        taken=tuple(dict.fromkeys(taken)),
        podspawn_networks=ours,
    )


def data_root() -> str:
    """Podman's graph root (its ``DockerRootDir`` in the compatible API).

    Raises:
        RuntimeUnavailable: Podman's API service does not answer.
    """
    return engine_http.data_root(podman_login.socket_path(),
                                 unavailable=podman_login.UNAVAILABLE)


def configured_pools(patterns: tuple[str, ...]) -> tuple[tuple[AddressPool, ...], str]:
    """The last ``[network] default_subnet_pools`` among the files, or Podman's defaults."""
    pools: tuple[AddressPool, ...] = DEFAULT_POOLS
    source = "Podman's default pools"
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                with open(path, "rb") as fh:
                    listed = tomllib.load(fh).get("network", {}).get("default_subnet_pools")
                if isinstance(listed, list) and listed:
                    pools = tuple(AddressPool(str(p["base"]), int(p["size"])) for p in listed)
                    source = path
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
    return pools, source
