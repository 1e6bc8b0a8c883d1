"""The Podman backend's pure parts: the warm login's hand-off and state check, its
registration, and what it reads from Podman's own network API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from podspawn.errors import RuntimeUnavailable
from podspawn.runtime import BACKENDS, LOGIN_MODULES, docker_login, login_module, podman_login
from tests.unit.engine_socket import answering


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(podman_login, "podman_cli", lambda: "/usr/bin/podman")
    return "/usr/bin/podman"


def test_handoff_is_podman_exec_with_the_docker_options(cli: str) -> None:
    argv = podman_login.handoff_argv(
        {"version": 2, "container": "abc123"}, ["bash", "-l"], user="sarah",
        workdir="/workspace", env={"TERM": "xterm"}, tty=True, inherited=("SECRET",))
    assert argv == [cli, "exec", "-i", f"--detach-keys={docker_login.DETACH_KEYS}", "-t",
                    "-u", "sarah", "-w", "/workspace", "-e", "TERM=xterm", "-e", "SECRET",
                    "abc123", "bash", "-l"]


def test_handoff_without_a_terminal_has_no_tty_flag(cli: str) -> None:
    argv = podman_login.handoff_argv({"container": "c"}, ["true"], user="root", workdir="/",
                                     env={}, tty=False)
    assert "-t" not in argv and argv[0] == cli and argv[-2:] == ["c", "true"]


def test_a_missing_podman_cli_is_one_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(podman_login, "_CLI_PATHS", (str(tmp_path / "podman"),))
    with pytest.raises(RuntimeUnavailable, match="install podman"):
        podman_login.podman_cli()


def test_socket_path_honours_container_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    assert podman_login.socket_path() == "/run/podman/podman.sock"
    monkeypatch.setenv("CONTAINER_HOST", "unix:///tmp/p.sock")
    assert podman_login.socket_path() == "/tmp/p.sock"
    monkeypatch.setenv("CONTAINER_HOST", "ssh://elsewhere")  # not a local socket: default
    assert podman_login.socket_path() == "/run/podman/podman.sock"


@pytest.fixture
def podman_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    path = str(tmp_path / "podman.sock")
    monkeypatch.setenv("CONTAINER_HOST", f"unix://{path}")
    running = (b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n'
               b'{"Id": "abc", "Name": "/podspawn-sarah", "State": {"Status": "running"},'
               b' "Config": {"Labels": {}, "Image": "localhost/debian:bookworm"}}')
    exited = running.replace(b'"running"', b'"exited"')
    yield from answering(path, {"/containers/up/json": running, "/containers/down/json": exited})


@pytest.mark.parametrize(("container", "status"),
                         [("up", "running"), ("down", "stopped"), ("missing", "gone"),
                          ("", "gone")])
def test_poll_asks_podmans_socket(podman_socket: None, container: str, status: str) -> None:
    assert podman_login.poll({"container": container}) == status


def test_poll_without_the_service_names_podman(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("CONTAINER_HOST", f"unix://{tmp_path / 'absent.sock'}")
    with pytest.raises(RuntimeUnavailable, match="Podman's API service is not running"):
        podman_login.poll({"container": "abc"})


def test_podman_is_a_registered_backend() -> None:
    assert BACKENDS["podman"] == "podspawn.runtime.podman:PodmanRuntime"
    assert LOGIN_MODULES["podman"] == "podspawn.runtime.podman_login"
    assert login_module("podman") is podman_login


def test_the_podman_login_module_loads_nothing_heavy() -> None:
    code = ("import sys\nfrom podspawn.runtime import login_module\nlogin_module('podman')\n"
            "print('\\n'.join(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    modules = result.stdout.split()
    assert "podspawn.runtime.podman_login" in modules
    heavy = [m for m in modules if m.split(".")[0] in ("docker", "requests", "urllib3", "typing")
             or m in ("http.client", "shutil", "logging")]
    assert heavy == []


def test_a_libpod_network_reports_its_interface() -> None:
    from podspawn.runtime.podman import _network

    info = _network({"name": "podspawn-net.sarah", "id": "f00", "driver": "bridge",
                     "network_interface": "psp1a2b3c4d", "labels": {"podspawn-role": "network"}})
    assert (info.id, info.name, info.interface, dict(info.labels)) == (
        "f00", "podspawn-net.sarah", "psp1a2b3c4d", {"podspawn-role": "network"})


def test_the_podman_runtime_says_which_login_module_it_uses() -> None:
    from podspawn.runtime.podman import PodmanRuntime

    assert (PodmanRuntime.name, PodmanRuntime.login_module) == ("podman",
                                                                 "podspawn.runtime.podman_login")


def test_an_empty_label_value_matches_only_an_empty_value() -> None:
    """Podman's filter ``label=podspawn-project=`` matches every project; the re-check
    keeps a plain session's sweep off the user's project containers."""
    from podspawn.runtime.podman import exactly

    plain = {"podspawn-user": "sarah", "podspawn-project": ""}
    assert exactly({"podspawn-user": "sarah", "podspawn-project": "", "x": "y"}, plain)
    assert not exactly({"podspawn-user": "sarah", "podspawn-project": "work"}, plain)
    assert not exactly({"podspawn-user": "sarah"}, plain)


def test_subnet_pools_come_from_the_last_containers_conf_that_sets_them(tmp_path: Path) -> None:
    from podspawn.runtime.podman_facts import DEFAULT_POOLS, configured_pools
    from podspawn.runtime.subnets import AddressPool, pool_headroom

    assert pool_headroom(DEFAULT_POOLS, ()).capacity == 42752
    (tmp_path / "a.conf").write_text(
        '[network]\ndefault_subnet_pools = [{"base" = "10.200.0.0/16", "size" = 24}]\n')
    (tmp_path / "b.conf").write_text('[engine]\nevents_logger = "file"\n')
    (tmp_path / "c.conf").write_text("not [ toml")
    pools, source = configured_pools((str(tmp_path / "*.conf"),))
    assert (pools, source) == ((AddressPool("10.200.0.0/16", 24),), str(tmp_path / "a.conf"))
    assert configured_pools((str(tmp_path / "none*.conf"),)) == (DEFAULT_POOLS,
                                                                  "Podman's default pools")


def test_network_subnets_are_the_ipv4_ones_of_libpods_listing() -> None:
    from podspawn.runtime.podman import subnets_of

    rows = [{"subnets": [{"subnet": "10.89.0.0/24"}, {"subnet": "fd00::/64"}]},
            {"subnets": None}, {"name": "no-subnets-key"}]
    assert subnets_of(rows) == ["10.89.0.0/24"]
