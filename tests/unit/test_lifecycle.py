"""lifecycle.py: when a container may be reused, and what the last disconnect does."""

from __future__ import annotations

import pytest

from podspawn.lifecycle import lifetime_expired, on_last_disconnect, reusable
from podspawn.runtime.base import ContainerInfo
from podspawn.state.records import SessionRow

NOW = 1_000_000.0

ROW = SessionRow(
    user="alice",
    project="",
    container_id="c0ffee",
    container_name="podspawn-alice",
    image="ubuntu:24.04",
    status="running",
    connections=1,
    created_at=NOW - 600,
    last_activity=NOW - 60,
    max_lifetime=NOW + 3600,
    mode="grace-period",
)
INFO = ContainerInfo(id="c0ffee", name="podspawn-alice", state="running",
                     labels={"managed-by": "podspawn"})


@pytest.mark.parametrize(
    ("mode", "deadline", "expired"),
    [
        ("grace-period", NOW + 1, False),
        ("grace-period", NOW, True),
        ("grace-period", NOW - 1, True),
        ("destroy-on-disconnect", NOW + 1, False),
        ("destroy-on-disconnect", NOW - 1, True),
        ("persistent", NOW - 1, False),
        ("persistent", 0.0, False),
    ],
)
def test_lifetime_expired(mode: str, deadline: float, expired: bool) -> None:
    assert lifetime_expired(ROW.replace(mode=mode, max_lifetime=deadline), NOW) is expired


@pytest.mark.parametrize(
    ("row", "status", "expected"),
    [
        (ROW, "running", True),
        (ROW.replace(status="grace_period", connections=0, grace_expiry=NOW + 30), "running",
         True),
        (ROW.replace(mode="persistent", max_lifetime=NOW - 1), "running", True),
        (None, "running", False),
        # stopped or gone (the engine says so, by id): the cold path restarts or recreates it
        (ROW, "stopped", False),
        (ROW, "gone", False),
        (None, "gone", False),
        # past the hard cap
        (ROW.replace(max_lifetime=NOW), "running", False),
        (ROW.replace(max_lifetime=NOW - 1), "running", False),
        (ROW.replace(mode="destroy-on-disconnect", max_lifetime=NOW - 1), "running", False),
    ],
)
def test_reusable(row: SessionRow | None, status: str, expected: bool) -> None:
    assert reusable(row, status, NOW) is expected


def test_engine_state_of_the_previous_release_is_rebuilt_from_the_row() -> None:
    from podspawn.lifecycle import backend, engine_state

    legacy = ROW.replace(network_id="n1", service_ids="s1,s2",
                         runtime_state={"version": 1, "network": "podspawn-alice-net"})
    assert engine_state(legacy) == {"version": 1, "container": "c0ffee",
                                    "network": "podspawn-alice-net", "services": ["s1", "s2"]}
    assert backend(legacy) == "docker"
    current = ROW.replace(runtime_state={"version": 2, "backend": "podman",
                                         "engine": {"version": 2, "container": "x"}})
    assert engine_state(current) == {"version": 2, "container": "x"}
    assert backend(current) == "podman"


@pytest.mark.parametrize(
    ("mode", "grace", "action"),
    [
        ("grace-period", 60.0, "grace"),
        ("grace-period", 0.001, "grace"),
        ("grace-period", 0.0, "destroy"),
        ("grace-period", -1.0, "destroy"),
        ("destroy-on-disconnect", 60.0, "destroy"),
        ("destroy-on-disconnect", 0.0, "destroy"),
        ("persistent", 60.0, "keep"),
        ("persistent", 0.0, "keep"),
    ],
)
def test_on_last_disconnect(mode: str, grace: float, action: str) -> None:
    assert on_last_disconnect(mode, grace) == action


def test_container_info_running() -> None:
    assert INFO.running
    assert not INFO.replace(state="exited").running
    assert not INFO.replace(state="Running").running


def test_a_session_being_made_is_never_reusable_and_abandoned_only_without_its_maker() -> None:
    from podspawn.lifecycle import abandoned

    starting = ROW.replace(status="starting", container_id="")
    assert not reusable(starting, "running", NOW)
    assert not abandoned(starting)  # its maker's connection is counted
    assert abandoned(starting.replace(connections=0))
    assert not abandoned(ROW.replace(connections=0))  # a running one is merely idle
