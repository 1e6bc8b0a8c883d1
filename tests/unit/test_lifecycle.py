"""lifecycle.py: when a container may be reused, and what the last disconnect does."""

from __future__ import annotations

from dataclasses import replace

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
    assert lifetime_expired(replace(ROW, mode=mode, max_lifetime=deadline), NOW) is expired


@pytest.mark.parametrize(
    ("row", "info", "expected"),
    [
        (ROW, INFO, True),
        (replace(ROW, status="grace_period", connections=0, grace_expiry=NOW + 30), INFO, True),
        (replace(ROW, mode="persistent", max_lifetime=NOW - 1), INFO, True),
        (None, INFO, False),
        (ROW, None, False),
        (None, None, False),
        # stopped or otherwise not running: the cold path restarts or recreates it
        (ROW, replace(INFO, state="exited"), False),
        (ROW, replace(INFO, state="created"), False),
        (ROW, replace(INFO, state="paused"), False),
        (ROW, replace(INFO, state="restarting"), False),
        (ROW, replace(INFO, state="dead"), False),
        # a different container under the session's name
        (ROW, replace(INFO, id="deadbeef"), False),
        (ROW, replace(INFO, id=""), False),
        # past the hard cap
        (replace(ROW, max_lifetime=NOW), INFO, False),
        (replace(ROW, max_lifetime=NOW - 1), INFO, False),
        (replace(ROW, mode="destroy-on-disconnect", max_lifetime=NOW - 1), INFO, False),
    ],
)
def test_reusable(row: SessionRow | None, info: ContainerInfo | None, expected: bool) -> None:
    assert reusable(row, info, NOW) is expected


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
    assert not replace(INFO, state="exited").running
    assert not replace(INFO, state="Running").running
