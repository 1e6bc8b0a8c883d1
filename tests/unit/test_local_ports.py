"""Local mode's pure decisions: which ports, which host ports, what the session is called."""

from __future__ import annotations

import socket

import pytest

from podspawn.errors import UsageError
from podspawn.services.local.context import project_name, session_name
from podspawn.services.local.ports import PortChoice, candidates, choose, is_free


@pytest.mark.parametrize(("expose", "strategy", "extra", "expected"), [
    ((3000,), "auto", (8080, 3000), [3000, 8080]),
    ((3000,), "manual", (8080,), [8080]),
    ((3000, 3000), "expose", (), [3000]),
    ((), "auto", (), []),
])
def test_candidates(expose, strategy, extra, expected):
    assert candidates(expose, strategy, extra) == expected


def test_candidates_refuse_out_of_range():
    with pytest.raises(UsageError, match="70000 is not between 1 and 65535"):
        candidates((), "auto", (70000,))


def test_busy_port_moves_to_next_free_one():
    busy = {3000, 3001}
    assert choose([3000, 3002], "auto", free=lambda p: p not in busy) == [
        PortChoice(3000, 3002), PortChoice(3002, 3003)]


def test_expose_refuses_a_busy_port():
    with pytest.raises(UsageError, match=r"port 3000 is already in use.*strategy is expose"):
        choose([3000], "expose", free=lambda p: p != 3000)


def test_no_free_port_near():
    with pytest.raises(UsageError, match="no free port near 65535"):
        choose([65535], "auto", free=lambda p: False)


def test_is_free_sees_a_listener_on_any_address():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not is_free(port)
    assert is_free(port)  # a positive control: closed, it is free again


def test_session_name_is_stable_per_path_and_sanitised(tmp_path):
    a, b = tmp_path / "My_App!", tmp_path / "other" / "My_App!"
    assert project_name(str(a), None) == "myapp"
    assert project_name(str(a), "api") == "api"
    first = session_name(str(a), "myapp")
    assert first == session_name(str(a), "myapp")
    assert first != session_name(str(b), "myapp")
    assert first.startswith("myapp-") and len(first) == len("myapp-") + 4


def test_project_name_needs_letters(tmp_path):
    with pytest.raises(UsageError, match="set name: in the Podfile"):
        project_name(str(tmp_path / "___"), None)
