"""A Podfile's resources are requests: refused above the ceilings, clamped at login."""

from __future__ import annotations

from typing import Any

import pytest

from podspawn.config.loader import parse_config
from podspawn.config.schema import ServerConfig
from podspawn.errors import PodfileError
from podspawn.podfile import validate
from podspawn.services import limits
from podspawn.services.limits import check_requests, clamp_cpus, clamp_memory

MACHINE_CPUS = limits.machine_cpus


@pytest.fixture(autouse=True)
def big_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests are bounded by the machine's CPUs too; these tests run on a 64-CPU one."""
    monkeypatch.setattr(limits, "machine_cpus", lambda: 64)


DEFAULT = ServerConfig()


def podfile(resources: dict[str, Any] | None = None, **services: dict[str, Any]) -> Any:
    return validate({
        "base": "debian:bookworm",
        "resources": resources or {},
        "services": [{"name": name, "image": "postgres:16", "resources": res}
                     for name, res in services.items()],
    })


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (podfile(db={"memory": "64g"}),
         "services.db.resources.memory: 64g is more than this server allows "
         "(resources.max_memory: 8g)"),
        (podfile({"cpus": 16}),
         "resources.cpus: 16 is more than this server allows (resources.max_cpus: 4)"),
        (podfile({"cpus": 4.5}),
         "resources.cpus: 4.5 is more than this server allows (resources.max_cpus: 4)"),
        (podfile({"memory": "0"}),
         "resources.memory: 0 (no limit) is more than this server allows "
         "(resources.max_memory: 8g)"),
        (podfile(cache={"memory": "8193m"}),
         "services.cache.resources.memory: 8193m is more than this server allows "
         "(resources.max_memory: 8g)"),
    ],
)
def test_a_request_above_a_ceiling_is_one_sentence(value: Any, expected: str) -> None:
    with pytest.raises(PodfileError) as info:
        check_requests(DEFAULT, value)
    assert info.value.message == (
        expected + "; ask for less in the Podfile, or raise the ceiling in the server config")


def test_every_request_above_a_ceiling_is_named() -> None:
    with pytest.raises(PodfileError) as info:
        check_requests(DEFAULT, podfile({"memory": "9g"}, db={"cpus": 8, "memory": "1g"},
                                        cache={"memory": "20g"}))
    message = info.value.message
    assert "resources.memory: 9g" in message
    assert "services.db.resources.cpus: 8 " in message
    assert "services.cache.resources.memory: 20g" in message
    assert "services.db.resources.memory" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "value",
    [
        podfile(),
        podfile({"cpus": 4, "memory": "8g"}, db={"cpus": 4, "memory": "8192m"}),
        podfile({"cpus": 0.25, "memory": "64m"}, db={}),
    ],
)
def test_requests_within_the_ceilings_pass(value: Any) -> None:
    check_requests(DEFAULT, value)


def test_no_cpu_ceiling_lets_any_cpu_request_through() -> None:
    check_requests(parse_config("resources: {max_cpus: 0}\n"), podfile({"cpus": 64}))
    assert clamp_cpus(parse_config("resources: {max_cpus: 0}\n"), 48) == 48


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(None, None), ("512m", "512m"), ("8g", "8g"), ("9g", "8g"), ("0", "8g"),
     ("1099511627776", "8g")],
)
def test_clamp_memory_keeps_the_text_within_and_caps_above(
    requested: str | None, expected: str | None
) -> None:
    assert clamp_memory(DEFAULT, requested) == expected


@pytest.mark.parametrize(("requested", "expected"), [(None, None), (2.5, 2.5), (4, 4), (9, 4)])
def test_clamp_cpus(requested: float | None, expected: float | None) -> None:
    assert clamp_cpus(DEFAULT, requested) == expected


def test_cpu_requests_are_bounded_by_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "machine_cpus", lambda: 2)
    with pytest.raises(PodfileError) as info:
        check_requests(DEFAULT, podfile({"cpus": 3}))
    assert info.value.message.startswith(
        "resources.cpus: 3 is more than this server has (2 CPUs); ")
    assert clamp_cpus(DEFAULT, 3) == 2
    assert clamp_cpus(DEFAULT, 1.5) == 1.5
    check_requests(DEFAULT, podfile({"cpus": 2}))


def test_machine_cpus_is_what_this_process_may_use() -> None:
    import os

    assert MACHINE_CPUS() == len(os.sched_getaffinity(0))
