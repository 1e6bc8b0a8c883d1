"""Session subnets cut from podspawn's own pool, and the network that retries a race."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import pytest

from podspawn.config.schema import NetworkConfig, ServerConfig
from podspawn.errors import AddressSpaceExhausted, SubnetTaken
from podspawn.runtime import container_runtime
from podspawn.runtime.base import NetworkInfo, SessionSpec
from podspawn.runtime.container_runtime import ContainerRuntime
from podspawn.runtime.subnets import AddressPool, free_subnets, pool_headroom
from podspawn.services.networks import address_pool, nearly_full

POOL = AddressPool("198.18.0.0/24", 28)  # 16 subnets


def test_free_subnets_cover_the_pool_once_each_and_fit_in_it() -> None:
    subnets = list(free_subnets(POOL, [], key="psn-alice"))
    assert len(subnets) == 16 == len(set(subnets))
    base = ipaddress.ip_network(POOL.base)
    for cidr in subnets:
        net = ipaddress.ip_network(cidr)
        assert net.prefixlen == 28 and net.subnet_of(base)  # type: ignore[arg-type]


def test_free_subnets_skip_what_overlaps_anything_taken() -> None:
    taken = ["198.18.0.0/28", "198.18.0.100/32", "198.18.0.128/25", "10.0.0.0/8", "fe80::/64"]
    subnets = set(free_subnets(POOL, taken, key="x"))
    assert "198.18.0.0/28" not in subnets and "198.18.0.96/28" not in subnets
    assert not any(ipaddress.ip_network(s).overlaps(ipaddress.ip_network("198.18.0.128/25"))
                   for s in subnets)
    assert len(subnets) == 16 - 1 - 1 - 8


def test_a_pool_inside_one_taken_network_has_nothing_free() -> None:
    assert list(free_subnets(POOL, ["198.18.0.0/16"], key="x")) == []
    assert pool_headroom([POOL], ["198.18.0.0/16"]).left == 0


def test_different_names_start_at_different_subnets_and_the_order_is_stable() -> None:
    firsts = {next(free_subnets(POOL, [], key=f"psn-user{i}")) for i in range(40)}
    assert len(firsts) > 8  # spread out, so racing logins rarely pick the same one
    assert list(free_subnets(POOL, [], key="a")) == list(free_subnets(POOL, [], key="a"))


@pytest.mark.parametrize(("pool", "size", "needle"), [
    ("198.18.0.0/15", 30, "from 8 to 29"),
    ("198.18.0.0/15", 14, "must not be shorter"),
    ("198.18.0.1/15", 28, "not an IPv4 network"),
    ("fd00::/8", 28, "not an IPv4 network"),
    ("banana", 28, "not an IPv4 network"),
    ("127.0.0.0/8", 28, "loopback"),
    ("169.254.0.0/16", 28, "link-local"),
])
def test_bad_network_settings_are_refused_naming_the_key(pool: str, size: int,
                                                         needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        NetworkConfig(pool=pool, subnet_size=size)


def test_the_default_pool_holds_thousands_of_sessions_and_empty_means_the_engine() -> None:
    pool = address_pool(ServerConfig())
    assert pool is not None and pool_headroom([pool], []).capacity == 8192
    assert address_pool(ServerConfig(network=NetworkConfig(pool=""))) is None


def test_nearly_full_is_a_tenth_or_ten_left() -> None:
    assert nearly_full(pool_headroom([AddressPool("198.18.0.0/15", 28)],
                                     ["198.18.0.0/16", "198.19.0.0/17", "198.19.128.0/18",
                                      "198.19.192.0/19", "198.19.224.0/20"]))
    assert not nearly_full(pool_headroom([AddressPool("198.18.0.0/15", 28)], []))
    assert nearly_full(pool_headroom([AddressPool("198.18.0.0/24", 28)], ["198.18.0.0/25"]))


class _Engine:
    """Only the network calls, with a rival login that takes the first ``steal`` subnets."""

    def __init__(self, taken: list[str], steal: int = 0) -> None:
        self.taken = list(taken)
        self.steal = steal
        self.created: list[tuple[str, str]] = []

    def network_subnets(self) -> list[str]:
        return list(self.taken)

    def create_network(self, name: str, labels: Mapping[str, str], *, interface: str = "",
                       subnet: str = "") -> NetworkInfo:
        if self.steal:
            self.steal -= 1
            self.taken.append(subnet)
            raise SubnetTaken(f"subnet {subnet} is taken")
        assert subnet not in self.taken
        self.taken.append(subnet)
        self.created.append((name, subnet))
        return NetworkInfo(id="n1", name=name, labels=dict(labels), interface=interface)


def _spec(pool: AddressPool | None) -> SessionSpec:
    return SessionSpec(session_id="s1", install_id="i1", user="alice", project="",
                       image="debian:bookworm", hostname="alice", address_pool=pool)


def _runtime(engine: _Engine, monkeypatch: pytest.MonkeyPatch) -> ContainerRuntime:
    monkeypatch.setattr(container_runtime, "host_routes", lambda: [])
    return ContainerRuntime(engine)  # type: ignore[arg-type]


def test_a_subnet_lost_to_a_concurrent_login_is_retried_with_another(
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _Engine([], steal=3)
    runtime = _runtime(engine, monkeypatch)
    info = runtime._create_network(_spec(POOL), "psn-alice", {"k": "v"})
    assert info.name == "psn-alice"
    [(_, subnet)] = engine.created
    assert subnet not in engine.taken[:3]


def test_a_used_up_pool_is_one_sentence_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _Engine([f"198.18.0.{16 * i}/28" for i in range(15)])
    runtime = _runtime(engine, monkeypatch)
    runtime._create_network(_spec(POOL), "psn-a", {})  # the 16th and last
    with pytest.raises(AddressSpaceExhausted) as caught:
        runtime._create_network(_spec(POOL), "psn-b", {})
    assert "no address space is left" in caught.value.message
    assert "network.pool" in caught.value.message
    assert "\n" not in caught.value.message


def test_no_pool_leaves_the_subnet_to_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    class Plain(_Engine):
        def create_network(self, name: str, labels: Mapping[str, str], *,
                           interface: str = "", subnet: str = "") -> NetworkInfo:
            seen.append(subnet)
            return NetworkInfo(id="n", name=name, labels={}, interface=interface)

    _runtime(Plain([]), monkeypatch)._create_network(_spec(None), "psn-a", {})
    assert seen == [""]
