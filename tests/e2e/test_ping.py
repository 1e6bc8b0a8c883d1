"""``podspawn ping`` through the real ssh client: the harness's podspawn sshd answers with its
version; a closed port, an unknown name, a changed host key and a plain sshd without
podspawn each fail with their own line.

ssh reads ``~`` from the passwd database, not $HOME, so every run passes an ssh config with
``-F`` that names the key and known_hosts file to use.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import podspawn
from tests.e2e.conftest import BIN, Server, free_port, wait_port

TIMEOUT = 120


def ssh_config(server: Server, user: str, directory: Path, known_hosts: Path) -> Path:
    config = directory / "ssh_config"
    config.write_text(
        "Host podserver\n  HostName 127.0.0.1\n"
        f"  Port {server.port}\n  User {user}\n  IdentityFile {server.key_for(user)}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {known_hosts}\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n"
    )
    return config


def ping(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env["HOME"] = str(home)
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env,
                          timeout=TIMEOUT, check=False)


def ping_json(*args: str, home: Path) -> tuple[int, dict]:
    result = ping("--json", "ping", *args, home=home)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def client(server: Server, sarah: str, tmp_path: Path) -> Path:
    """An ssh config in which ``podserver`` is the harness's sshd, verified strictly."""
    return ssh_config(server, sarah, tmp_path, server.known_hosts)


def test_a_live_server_reports_its_version(client: Path, tmp_path: Path) -> None:
    code, data = ping_json("-F", str(client), "podserver", home=tmp_path)
    assert code == 0, data
    assert data["ok"] is True and data["error"] is None and data["error_kind"] is None
    assert data["version"] == podspawn.__version__
    assert (data["host"], data["address"]) == ("127.0.0.1", "127.0.0.1")
    assert data["banner"].startswith("SSH-2.0-OpenSSH_")
    for key in ("resolve_ms", "tcp_ms", "banner_ms", "ssh_ms"):
        assert isinstance(data[key], float) and data[key] >= 0, key
    human = ping("ping", "-F", str(client), "podserver", home=tmp_path)
    lines = human.stdout.splitlines()
    assert human.returncode == 0
    assert [line.split()[:2] for line in lines[1:]] == [
        ["resolve", "ok"], ["tcp", "ok"], ["ssh", "ok"], ["podspawn", "ok"]]
    assert f"podspawn {podspawn.__version__} (answered in " in lines[-1]


def test_without_a_server_it_pings_servers_default(client: Path, tmp_path: Path) -> None:
    assert ping("config", "set", "servers.default", "podserver",
                home=tmp_path).returncode == 0
    code, data = ping_json("-F", str(client), home=tmp_path)
    assert (code, data["target"], data["version"]) == (0, "(default)", podspawn.__version__)


def test_a_closed_port_fails_at_tcp(tmp_path: Path) -> None:
    port = free_port()
    code, data = ping_json("-F", "/dev/null", f"127.0.0.1:{port}", home=tmp_path)
    assert (code, data["error_kind"], data["tcp_ms"]) == (1, "refused", None)
    human = ping("ping", "-F", "/dev/null", f"127.0.0.1:{port}", home=tmp_path)
    assert human.stdout.splitlines()[-1] == (
        f"tcp       FAIL  127.0.0.1 port {port} refused the connection: nothing listens "
        "there; check the port and that sshd runs")


def test_an_unknown_name_fails_at_resolve(tmp_path: Path) -> None:
    code, data = ping_json("-F", "/dev/null", "no-such-host.invalid", home=tmp_path)
    assert (code, data["error_kind"], data["address"]) == (1, "dns", None)
    assert data["error"].startswith("cannot resolve no-such-host.invalid: ")
    human = ping("ping", "-F", "/dev/null", "no-such-host.invalid", home=tmp_path)
    assert human.returncode == 1
    assert human.stdout.splitlines()[-1].startswith(
        "resolve   FAIL  cannot resolve no-such-host.invalid: ")


def test_a_changed_host_key_is_reported_not_bypassed(server: Server, sarah: str,
                                                     tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    fields = (tmp_path / "other_key.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.port} {fields[0]} {fields[1]}\n")
    config = ssh_config(server, sarah, tmp_path, known)
    code, data = ping_json("-F", str(config), "podserver", home=tmp_path)
    assert (code, data["error_kind"], data["version"]) == (1, "hostkey-changed", None)
    assert data["banner"].startswith("SSH-2.0-")  # it got as far as ssh
    assert f"{known}:1" in data["error"]
    assert "intercepting" in data["error"]


@pytest.fixture
def plain_sshd(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """A private sshd with no podspawn at all, where root logs in with a test key."""
    root = tmp_path / "plain"
    root.mkdir()
    host_key, user_key = root / "host_key", root / "id_test"
    for key in (host_key, user_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    (root / "authorized_keys").write_text((root / "id_test.pub").read_text())
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {root}/pid\n"
        f"UsePAM no\nPasswordAuthentication no\nAuthorizedKeysFile {root}/authorized_keys\n"
        "StrictModes no\nPermitRootLogin prohibit-password\n"
    )
    started = subprocess.run(["/usr/sbin/sshd", "-f", str(config), "-E", str(root / "log")],
                             capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr
    try:
        wait_port(port)
        known = root / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {(root / 'host_key.pub').read_text()}")
        yield port, user_key, known
    finally:
        pid = int((root / "pid").read_text().split()[0])
        os.kill(pid, 15)
        time.sleep(0.1)


def test_a_plain_sshd_is_not_a_podspawn_server(plain_sshd: tuple[int, Path, Path],
                                               tmp_path: Path) -> None:
    port, key, known = plain_sshd
    config = tmp_path / "plain_config"
    config.write_text(
        f"Host plain\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {key}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n"
    )
    # the control: this login works, so what fails below is podspawn's absence
    login = subprocess.run(["ssh", "-F", str(config), "-o", "BatchMode=yes", "plain", "true"],
                           capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert login.returncode == 0, login.stderr
    code, data = ping_json("-F", str(config), "plain", home=tmp_path)
    assert (code, data["error_kind"], data["version"]) == (1, "no-podspawn", None)
    assert data["error"].startswith("127.0.0.1 answers SSH, but no podspawn there understood "
                                    "podspawn-version")
