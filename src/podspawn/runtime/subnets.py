"""Carving session networks out of an address pool: pure arithmetic, plus the host's routes.

Docker's default pools hold about 31 bridge networks, and every session takes one, so a
server with more sessions than that needs its own pool (``network.pool``) cut into small
subnets (``network.subnet_size``). The backend asks :func:`free_subnets` for candidates and
lets the engine refuse one that a concurrent login took first.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AddressPool:
    base: str
    """A CIDR such as ``172.17.0.0/16``."""
    size: int
    """The prefix length of each network carved from it."""


@dataclass(frozen=True, slots=True)
class Headroom:
    capacity: int
    used: int

    @property
    def left(self) -> int:
        return self.capacity - self.used


def pool_headroom(pools: Iterable[AddressPool], taken: Iterable[str]) -> Headroom:
    """How many pool-sized subnets exist, and how many overlap something already taken.

    A taken subnet larger than the pool's size blocks every chunk it covers; a smaller one
    blocks the one chunk around it, which is how the engine treats overlaps.
    """
    nets = _ipv4(taken)
    capacity = used = 0
    for pool in pools:
        base = ipaddress.ip_network(pool.base, strict=False)
        if not isinstance(base, ipaddress.IPv4Network) or pool.size < base.prefixlen:
            continue
        capacity += 1 << (pool.size - base.prefixlen)
        used += len(_blocked(base, pool.size, nets))
    return Headroom(capacity=capacity, used=used)


def free_subnets(pool: AddressPool, taken: Iterable[str], *, key: str) -> Iterator[str]:
    """Every subnet of ``pool`` that overlaps nothing in ``taken``, starting at a point
    chosen by ``key`` (the network's name) and wrapping round.

    Starting where the name hashes to keeps two logins that race for a subnet apart, so
    the engine rarely has to refuse one; the order is the same for the same inputs.
    """
    base = ipaddress.ip_network(pool.base, strict=False)
    if not isinstance(base, ipaddress.IPv4Network) or pool.size < base.prefixlen:
        return
    count = 1 << (pool.size - base.prefixlen)
    blocked = _blocked(base, pool.size, _ipv4(taken))
    first = zlib.crc32(key.encode()) % count
    step = 1 << (32 - pool.size)
    start = int(base.network_address)
    for offset in range(count):
        index = (first + offset) % count
        if index not in blocked:
            yield f"{ipaddress.IPv4Address(start + index * step)}/{pool.size}"


def host_routes(path: str = "/proc/net/route") -> list[str]:
    """IPv4 destinations the host routes (not the default route), as CIDRs."""
    routes = []
    try:
        with open(path, encoding="ascii") as fh:
            lines = fh.read().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        mask = int(fields[7], 16)
        if mask == 0:  # the default route
            continue
        routes.append(f"{_le_ip(fields[1])}/{bin(mask).count('1')}")
    return routes


def _ipv4(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network]:
    nets = []
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv4Network):
            nets.append(net)
    return nets


def _blocked(base: ipaddress.IPv4Network, size: int,
             nets: Iterable[ipaddress.IPv4Network]) -> set[int]:
    """Indexes of the ``size`` chunks of ``base`` that some of ``nets`` overlap."""
    blocked: set[int] = set()
    step = 1 << (32 - size)
    start = int(base.network_address)
    for net in nets:
        if not net.overlaps(base):
            continue
        low = max(int(net.network_address), start)
        high = min(int(net.broadcast_address), int(base.broadcast_address))
        blocked.update(range((low - start) // step, (high - start) // step + 1))
    return blocked


def _le_ip(hex_text: str) -> str:
    """``/proc/net/route``'s little-endian hex address as dotted quad."""
    value = int(hex_text, 16)
    return ".".join(str((value >> shift) & 0xFF) for shift in (0, 8, 16, 24))
