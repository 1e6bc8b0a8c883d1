"""The ``.pod`` shape: the client's SSH session ends inside the container.

These tests speak the tunnel protocol with a plain ProxyCommand (``ssh ... podspawn-tunnel
PROJECT``), so they pin the server side independently of ``podspawn connect``.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def pod(server, sarah, tmp_path_factory):
    """An ssh config where ``NAME.pod`` tunnels through the outer podspawn login."""
    return server.pod_tunnel_config(sarah, tmp_path_factory.mktemp("pod"),
                                    ["work.pod", "api.pod"])


def pod_ssh(config: Path, target: str, command: str, *opts: str, timeout: float = 120,
            input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ssh", "-F", str(config), *opts, target, command], input=input,
                          capture_output=True, timeout=timeout, check=False)


#: A one-shot TCP server on the container's loopback (perl-base is in every Debian).
LISTEN_ONCE = ("perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalAddr=>\"127.0.0.1\","
               "LocalPort=>{port},Listen=>1,ReuseAddr=>1) or die; $c=$s->accept; "
               "print $c \"{reply}\"; close $c'")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.podman
def test_pod_lands_in_project_container(pod, sarah):
    work = pod_ssh(pod, f"{sarah}@work.pod", "hostname; id -un")
    assert work.returncode == 0, work.stderr.decode()
    assert work.stdout.decode().split() == [f"podspawn-{sarah}-work", sarah]
    api = pod_ssh(pod, f"{sarah}@api.pod", "hostname")
    assert api.stdout.decode().strip() == f"podspawn-{sarah}-api"


def test_exit_status_and_binary_stdin(pod, sarah):
    assert pod_ssh(pod, f"{sarah}@work.pod", "exit 7").returncode == 7
    data = bytes(range(256)) * 4096
    result = pod_ssh(pod, f"{sarah}@work.pod", "cat", input=data)
    assert result.stdout == data


def forwarded_reply(config: Path, target: str, reply: str, timeout: float = 30) -> bytes:
    """What ``ssh -L PORT:localhost:3000 target`` returns from a one-shot server that a
    second connection runs on the container's loopback port 3000."""
    port = free_port()
    server = subprocess.Popen(
        ["ssh", "-F", str(config), target, LISTEN_ONCE.format(port=3000, reply=reply)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        forward = subprocess.Popen(
            ["ssh", "-F", str(config), "-N", "-o", "ExitOnForwardFailure=yes",
             "-L", f"{port}:localhost:3000", target])
        try:
            got = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and reply.encode() not in got:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                        got = sock.recv(64)
                except OSError:
                    time.sleep(0.3)
            return got
        finally:
            forward.terminate()
            forward.wait(timeout=10)
    finally:
        server.kill()
        server.wait(timeout=10)


@pytest.mark.podman
def test_local_forward_reaches_container_loopback(pod, sarah):
    assert b"inside" in forwarded_reply(pod, f"{sarah}@work.pod", "inside")


@pytest.mark.podman
def test_remote_forward_listens_inside(pod, sarah):
    port = free_port()
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"from-client")
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    result = pod_ssh(
        pod, f"{sarah}@work.pod", "exec 3<>/dev/tcp/127.0.0.1/9000; head -c 11 <&3",
        "-o", "ExitOnForwardFailure=yes", "-R", f"9000:127.0.0.1:{port}")
    listener.close()
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"from-client"


@pytest.mark.podman
def test_agent_forwarding_lists_key(pod, sarah, server, tmp_path):
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True)
    env = {}
    for part in agent.stdout.replace("\n", ";").split(";"):
        if "=" in part:
            name, value = part.strip().split("=", 1)
            env[name] = value
    import os

    full = {**os.environ, **env}
    try:
        subprocess.run(["ssh-add", str(server.key_for(sarah))], env=full, check=True,
                       capture_output=True)
        result = subprocess.run(
            ["ssh", "-F", str(pod), "-A", f"{sarah}@work.pod", "ssh-add -l"],
            env=full, capture_output=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr.decode()
        assert f"{sarah}@e2e" in result.stdout.decode()
    finally:
        subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)


@pytest.mark.podman
def test_forward_to_host_loopback_is_refused(pod, sarah):
    """A service on the host's loopback is not what localhost means through a pod."""
    host_port = free_port()
    host = socket.socket()
    host.bind(("127.0.0.1", host_port))
    host.listen()
    host.settimeout(3)
    local = free_port()
    forward = subprocess.Popen(
        ["ssh", "-F", str(pod), "-N", "-L", f"{local}:127.0.0.1:{host_port}", f"{sarah}@work.pod"])
    try:
        time.sleep(3)
        try:
            with socket.create_connection(("127.0.0.1", local), timeout=3) as sock:
                sock.sendall(b"x")
                sock.recv(1)
        except OSError:
            pass
        with pytest.raises(TimeoutError):
            host.accept()
    finally:
        forward.terminate()
        forward.wait(timeout=10)
        host.close()
