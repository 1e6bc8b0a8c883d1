"""The admin's address pool for session networks, and the warning before it runs out."""

from __future__ import annotations

from podspawn import log
from podspawn.config.schema import ServerConfig
from podspawn.runtime.base import Runtime
from podspawn.runtime.facts import EngineFacts
from podspawn.runtime.subnets import AddressPool, Headroom, pool_headroom

#: Warn when fewer than this share of the pool's subnets (or this many) are left.
WARN_SHARE = 0.1
WARN_LEFT = 10


def address_pool(config: ServerConfig) -> AddressPool | None:
    """``network.pool`` cut into ``network.subnet_size`` networks; None when unset."""
    net = config.network
    return AddressPool(net.pool, net.subnet_size) if net.pool else None


def session_headroom(config: ServerConfig, facts: EngineFacts) -> tuple[Headroom, str]:
    """How many more session networks can be made, and from where: ``network.pool`` when
    set, else the engine's own pools (``doctor`` and ``status`` report the same)."""
    pool = address_pool(config)
    if pool is not None:
        return pool_headroom([pool], facts.taken), f"network.pool {pool.base}"
    return pool_headroom(facts.pools, facts.taken), facts.pools_source


def nearly_full(room: Headroom) -> bool:
    return room.left < max(WARN_LEFT, room.capacity * WARN_SHARE)


def pool_warning(config: ServerConfig, runtime: Runtime) -> str | None:
    """One sentence for the operator when the pool is nearly used up, else None (and the
    operator log gets the same line)."""
    pool = address_pool(config)
    if pool is None:
        return None
    room = runtime.network_headroom(pool)
    if not nearly_full(room):
        return None
    log.warning("address pool nearly used up", pool=pool.base, subnet_size=pool.size,
                free=room.left, capacity=room.capacity)
    return (f"network.pool {pool.base} has {room.left} of {room.capacity} session subnets "
            "free; widen network.pool, or raise network.subnet_size for smaller subnets, "
            "before logins fail")
