"""A user's command line is not in the host's process list for other accounts to read.

``ps`` shows every process's argv to every account, the containers' processes included. The
command reaches the container through ``docker exec``'s inherited environment and is run with
``eval``, so only the programs it starts show their own arguments.

The test's ssh clients run on this same host, so they take the command from an ssh config
file (``RemoteCommand``) rather than their own argv; the marker follows ``:``, a builtin
that starts no process.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.e2e.harness import uname

MARKER = "SECRET-MARKER-argv"


def _ps_as(account: str | None) -> str:
    prefix = ["runuser", "-u", account, "--"] if account else []
    result = subprocess.run([*prefix, "ps", "-eo", "args"], capture_output=True, text=True,
                            check=True, timeout=30)
    return result.stdout


def _wait_for(what: str, timeout: float = 60) -> None:
    """Until root's ps shows ``what``: the command is running in the container."""
    deadline = time.monotonic() + timeout
    while what not in _ps_as(None):
        assert time.monotonic() < deadline, f"{what!r} never ran"
        time.sleep(0.2)


@pytest.fixture
def control():
    """A host process with the marker in its argv, which every account's ps must show."""
    proc = subprocess.Popen(["sh", "-c", "sleep 60", f"{MARKER}-control"])
    try:
        yield f"{MARKER}-control"
    finally:
        proc.kill()
        proc.wait()


def _hidden_while_running(argv: list[str], marker: str, running: str, control: str) -> None:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        _wait_for(running)
        seen_by_nobody = _ps_as("nobody")
        assert control in seen_by_nobody, "nobody's ps does not show argv: it proves nothing"
        assert marker not in seen_by_nobody, [
            line for line in seen_by_nobody.splitlines() if marker in line]
        assert marker not in _ps_as(None)  # nor root's: it is in no argv at all
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()


def test_plain_ssh_command_is_not_in_ps(server, control, tmp_path):
    user = uname("argvuser")
    server.podspawn("remove-user", user, "--force")
    key = server.add_user(user)
    marker = f"{MARKER}-plain"
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host target\n  HostName 127.0.0.1\n  Port {server.port}\n  User {user}\n"
        f"  IdentityFile {key}\n  IdentitiesOnly yes\n  BatchMode yes\n"
        f"  UserKnownHostsFile {server.known_hosts}\n  StrictHostKeyChecking yes\n"
        f"  LogLevel ERROR\n  RemoteCommand sleep 23; : {marker}\n")
    try:
        _hidden_while_running(["ssh", "-F", str(config), "target"], marker, "sleep 23",
                              control)
        # and it is the user's command, comment and status included
        result = server.ssh(user, f"echo ran; exit 5 # {marker}", timeout=60)
        assert (result.returncode, result.stdout) == (5, b"ran\n")
    finally:
        server.podspawn("remove-user", user, "--force")


def test_pod_command_is_not_in_ps(server, sarah, control, tmp_path):
    config = server.pod_tunnel_config(sarah, tmp_path, ["argv.pod"])
    marker = f"{MARKER}-pod"
    with config.open("a") as fh:
        fh.write(f"Host argv.pod\n  RemoteCommand sleep 24; : {marker}\n")
    _hidden_while_running(["ssh", "-F", str(config), f"{sarah}@argv.pod"], marker, "sleep 24",
                          control)
