"""``podspawn ping``'s steps on real loopback sockets, and how ssh's failures are read."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from podspawn.client.config import ClientConfig, Server
from podspawn.client.ping import (
    PingResult,
    connect_and_read_banner,
    destination,
    explain_ssh_failure,
    parse_version,
    resolve,
)
from podspawn.errors import ConfigError


def serve_once(payload: bytes) -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(payload)

    threading.Thread(target=answer, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.fixture
def ssh_like() -> Iterator[int]:
    yield from serve_once(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")


@pytest.fixture
def http_like() -> Iterator[int]:
    yield from serve_once(b"HTTP/1.1 400 Bad Request\r\n\r\n")


def at(port: int) -> PingResult:
    return PingResult(target="t", host="127.0.0.1", port=port, address="127.0.0.1")


def test_the_banner_is_read_and_timed(ssh_like: int) -> None:
    result = connect_and_read_banner(at(ssh_like), 2.0)
    assert result.ok
    assert result.banner == "SSH-2.0-OpenSSH_9.2p1 Debian-2"
    assert result.tcp_ms is not None and result.banner_ms is not None


def test_a_server_that_is_not_ssh(http_like: int) -> None:
    result = connect_and_read_banner(at(http_like), 2.0)
    assert (result.error_kind, result.tcp_ms is not None) == ("not-ssh", True)
    assert result.error == (f"127.0.0.1 port {http_like} is not an SSH server: it sent "
                            "'HTTP/1.1 400 Bad Request' instead of an SSH banner")


def test_a_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = connect_and_read_banner(at(port), 2.0)
    assert (result.error_kind, result.tcp_ms) == ("refused", None)


def test_an_unresolvable_name() -> None:
    result = resolve(PingResult(target="x", host="no-such-host.invalid"), 5.0)
    assert result.error_kind == "dns"
    assert result.error is not None
    assert result.error.startswith("cannot resolve no-such-host.invalid: ")


def test_loopback_resolves() -> None:
    result = resolve(PingResult(target="x", host="localhost"), 5.0)
    assert result.ok and result.address in ("127.0.0.1", "::1")


@pytest.mark.parametrize(
    ("stdout", "version"),
    [("podspawn 0.1.0\n", "0.1.0"), ("podspawn 1.2.3rc1", "1.2.3rc1"), ("", None),
     ("podspawn\n", None), ("podspawn v0.1.0\n", None), ("podspawn 0.1.0\nextra\n", None),
     ("sh: podspawn-version: not found", None)],
)
def test_parse_version(stdout: str, version: str | None) -> None:
    assert parse_version(stdout) == version


CHANGED = """@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Offending ED25519 key in /home/u/.ssh/known_hosts:3
Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.
Host key verification failed.
"""


@pytest.mark.parametrize(
    ("code", "stderr", "kind"),
    [
        (255, CHANGED, "hostkey-changed"),
        (255, "No ED25519 host key is known for x and you have requested strict checking.\n"
              "Host key verification failed.\n", "hostkey-unknown"),
        (255, "sarah@x: Permission denied (publickey).\n", "auth"),
        (255, "ssh: connect to host x port 22: Connection timed out\n", "ssh"),
        (127, "sh: 1: podspawn-version: not found\n", "no-podspawn"),
        (1, "podspawn: your access to this server has expired\n", "refused-by-podspawn"),
        (0, "", "no-podspawn"),
    ],
)
def test_explain_ssh_failure(code: int, stderr: str, kind: str) -> None:
    found, message = explain_ssh_failure(code, stderr, host="x", user="sarah")
    assert found == kind
    assert "\n" not in message and message
    if kind == "hostkey-changed":
        assert "/home/u/.ssh/known_hosts:3" in message


def test_destination() -> None:
    config = ClientConfig(default=Server("devbox.example.com", 2222),
                          mappings={"api.pod": Server("gpu.example.com")})
    assert destination(None, config) == ("(default)", "devbox.example.com", 2222)
    assert destination("sarah@api.pod", config) == ("sarah@api.pod", "sarah@gpu.example.com",
                                                    None)
    assert destination("other.pod", config) == ("other.pod", "devbox.example.com", 2222)
    assert destination("h:2200", config) == ("h:2200", "h", 2200)
    with pytest.raises(ConfigError):
        destination(None, ClientConfig())
