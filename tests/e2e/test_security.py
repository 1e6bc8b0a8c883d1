"""Invariants 1-3 of DESIGN-NOTES through the real sshd: nobody reaches the host, users are
not root on the host, and users are isolated from each other.

Every refusal is paired with a positive control (the probe does work where it should), so a
test cannot pass just because its probe is broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, ROOT, Server, free_port, uname

HOST_BANNER = b"HOST-LOOPBACK-SECRET\n"
PEER_BANNER = b"PEER-CONTAINER-SECRET\n"
PEER_PORT = 8022


# -- helpers -------------------------------------------------------------------------------

def run(*argv: str, timeout: float = 60, cwd: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False,
                          timeout=timeout, cwd=cwd)


def as_user(user: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``argv`` on the host as the login account ``user`` (what a host shell would get)."""
    return run("runuser", "-u", user, "--", *argv, cwd="/")


def container_of(user: str) -> str:
    return f"podspawn-{user}"


def inspect(container: str) -> dict:
    result = run("docker", "inspect", container)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The refusal message, checked to be one line and not a traceback or internal error."""
    text = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, text
    assert text, "refused without saying why"
    assert "Traceback" not in text, text
    assert "internal error" not in text, text
    assert len(text.splitlines()) == 1, text
    return text


class BannerServer:
    """A TCP service on the host's loopback that greets every client with a secret."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                self.accepted += 1
                with contextlib.suppress(OSError):
                    conn.sendall(HOST_BANNER)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def banner() -> Iterator[BannerServer]:
    srv = BannerServer()
    try:
        # positive control: the service answers anyone on the host's loopback
        assert read_from(("127.0.0.1", srv.port)) == HOST_BANNER
        srv.accepted = 0
        yield srv
    finally:
        srv.close()


def read_from(address: tuple[str, int] | str, *, send: bytes = b"", timeout: float = 3) -> bytes:
    """Whatever the peer sends before closing (or ``timeout``); b"" if it cannot connect."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    data = b""
    with socket.socket(family) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            if send:
                sock.sendall(send)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    return data


@contextlib.contextmanager
def ssh_background(server: Server, user: str, *opts: str,
                   command: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    argv = server.ssh_argv(user, opts=list(opts))
    if command is not None:
        argv.append(command)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def wait_for(predicate, proc: subprocess.Popen[bytes], timeout: float = 15) -> bool:  # type: ignore[no-untyped-def]
    """Wait until ``predicate()`` holds (True) or ``proc`` exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    raise AssertionError("ssh neither set up the forward nor exited")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


DOCKER_VERSION_REQUEST = b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n"


# -- invariant 2: users are not root on the host --------------------------------------------

def test_login_account_is_not_in_docker_group_and_cannot_use_docker(server, sarah):
    groups = run("id", "-nG", sarah)
    assert groups.returncode == 0, groups.stderr
    assert "docker" not in groups.stdout.split()
    assert "podspawn" in groups.stdout.split()
    # root reaches the API through this probe, the login account does not
    assert b"ApiVersion" in read_from("/var/run/docker.sock", send=DOCKER_VERSION_REQUEST)
    probe = as_user(sarah, "python3", "-c",
                    "import socket; s = socket.socket(socket.AF_UNIX); "
                    "s.connect('/var/run/docker.sock'); "
                    "s.sendall(b'GET /version HTTP/1.0\\r\\nHost: d\\r\\n\\r\\n'); "
                    "print(s.recv(4096))")
    assert probe.returncode != 0
    assert "ApiVersion" not in probe.stdout


def test_login_account_cannot_touch_keys_state_or_config(server, sarah):
    other = uname("keyowner")
    server.add_user(other)
    keydir = ROOT / "keys"
    db = ROOT / "state" / "state.db"
    before = {path: path.read_bytes() for path in (keydir / other, keydir / sarah, db,
                                                   server.config)}
    # control: the account itself works for harmless commands (root read all of the above)
    assert as_user(sarah, "cat", "/etc/hostname").returncode == 0

    assert as_user(sarah, "cat", str(keydir / other)).returncode != 0
    assert as_user(sarah, "ls", str(keydir)).returncode != 0
    assert as_user(sarah, "cat", str(db)).returncode != 0
    for target in (db, server.config, keydir / other, keydir / sarah, keydir / "intruder"):
        wrote = as_user(sarah, "sh", "-c", f"echo x >> {target}")
        assert wrote.returncode != 0, f"{sarah} could write {target}"
    assert not (keydir / "intruder").exists()
    assert {path: path.read_bytes() for path in before} == before


def test_sudo_rule_cannot_be_steered_to_another_user(server, sarah):
    """The one sudo rule takes no extra arguments, and spawn takes the user from SUDO_USER."""
    other = uname("victim")
    server.add_user(other)
    assert server.ssh(other, "true").returncode == 0  # the victim has a live container
    for extra in (["--user", other], ["--user=" + other], ["--project", "x"]):
        result = as_user(sarah, "sudo", "-n", str(BIN), "--config", str(server.config),
                         "spawn", *extra)
        assert result.returncode != 0
        assert other not in result.stdout
    # a different config (one the user could write) is not allowed either
    result = as_user(sarah, "sudo", "-n", str(BIN), "--config", "/tmp/evil.yaml", "spawn")
    assert result.returncode != 0
    # other commands of the same binary are not allowed
    result = as_user(sarah, "sudo", "-n", str(BIN), "--config", str(server.config),
                     "list-users")
    assert result.returncode != 0
    assert other not in result.stdout


# -- invariant 1: nobody reaches the host ---------------------------------------------------

def test_local_forward_to_docker_socket_gets_no_docker_answer(server, sarah, tmp_path):
    sock = tmp_path / "docker.sock"
    with ssh_background(server, sarah, "-N", "-o", "ExitOnForwardFailure=yes",
                        "-L", f"{sock}:/var/run/docker.sock") as proc:
        if wait_for(sock.exists, proc):
            answer = read_from(str(sock), send=DOCKER_VERSION_REQUEST, timeout=5)
            assert b"ApiVersion" not in answer
            assert b"HTTP/1." not in answer
        else:
            assert proc.returncode != 0


def test_local_tcp_forward_to_docker_socket_gets_no_docker_answer(server, sarah):
    port = free_port()
    with ssh_background(server, sarah, "-N", "-o", "ExitOnForwardFailure=yes",
                        "-L", f"127.0.0.1:{port}:/var/run/docker.sock") as proc:
        if wait_for(lambda: port_open(port), proc):
            answer = read_from(("127.0.0.1", port), send=DOCKER_VERSION_REQUEST, timeout=5)
            assert b"ApiVersion" not in answer
            assert b"HTTP/1." not in answer
        else:
            assert proc.returncode != 0


def test_local_forward_to_host_loopback_is_refused(server, sarah, banner):
    port = free_port()
    with ssh_background(server, sarah, "-N", "-o", "ExitOnForwardFailure=yes",
                        "-L", f"127.0.0.1:{port}:127.0.0.1:{banner.port}") as proc:
        if wait_for(lambda: port_open(port), proc):
            assert HOST_BANNER not in read_from(("127.0.0.1", port))
        else:
            assert proc.returncode != 0
    assert banner.accepted == 0


def test_stdio_forward_to_host_loopback_is_refused(server, sarah, banner):
    result = server.ssh(sarah, opts=["-W", f"127.0.0.1:{banner.port}"], timeout=30)
    assert result.returncode != 0
    assert HOST_BANNER not in result.stdout
    assert banner.accepted == 0


def test_dynamic_forward_to_host_loopback_is_refused(server, sarah, banner):
    port = free_port()
    with ssh_background(server, sarah, "-N", "-o", "ExitOnForwardFailure=yes",
                        "-D", f"127.0.0.1:{port}") as proc:
        if wait_for(lambda: port_open(port), proc):
            data = b""
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                try:
                    sock.sendall(b"\x05\x01\x00")
                    assert sock.recv(2) == b"\x05\x00"
                    sock.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1")
                                 + banner.port.to_bytes(2, "big"))
                    while chunk := sock.recv(4096):
                        data += chunk
                except OSError:
                    pass
            assert HOST_BANNER not in data
        else:
            assert proc.returncode != 0
    assert banner.accepted == 0


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory any account may create a socket in (so only sshd's policy can refuse)."""
    path = Path(tempfile.mkdtemp(prefix="podspawn-e2e-open-"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("spec", ["0:127.0.0.1:22", "{dir}/remote.sock:127.0.0.1:22"])
def test_remote_forward_fails(server, sarah, open_dir, spec):
    spec = spec.format(dir=open_dir)
    try:
        result = server.ssh(sarah, opts=["-N", "-o", "ExitOnForwardFailure=yes", "-R", spec],
                            timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("ssh -R stayed up: the remote forward was accepted")
    assert result.returncode != 0
    assert not (open_dir / "remote.sock").exists()


@pytest.mark.parametrize("how", ["SetEnv", "SendEnv"])
@pytest.mark.parametrize("variable", ["LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV"])
def test_client_environment_does_not_reach_anything(server, sarah, how, variable):
    if how == "SetEnv":
        # a path that does not exist: if the loader on the host saw it, it would complain
        value = "/podspawn-e2e-nonexistent.so"
        opts, env = ["-o", f"SetEnv={variable}={value}"], None
    else:
        # the local ssh client gets it too, so keep it harmless for the client itself
        value = "libc.so.6" if variable == "LD_PRELOAD" else "/podspawn-e2e-nonexistent"
        opts, env = ["-o", f"SendEnv={variable}"], {**os.environ, variable: value}
    argv = [*server.ssh_argv(sarah, opts=opts), f'echo "[${variable}]"']
    result = subprocess.run(argv, capture_output=True, timeout=180, check=False, env=env,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "[]"
    if how == "SetEnv":
        assert b"ld.so" not in result.stderr
        assert value.encode() not in result.stderr


def test_commands_run_in_the_container_not_on_the_host(server, sarah):
    host_name = Path("/etc/hostname").read_text().strip()
    assert ROOT.name in os.listdir("/srv")  # control: the host's /srv shows the harness root
    result = server.ssh(sarah, "cat /etc/hostname")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == container_of(sarah)
    assert result.stdout.decode().strip() != host_name
    # shell metacharacters do not break out of the container either
    result = server.ssh(sarah, "true; cat /etc/hostname && ls -a /srv")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert out.splitlines()[0] == container_of(sarah)
    assert "podspawn-e2e" not in out


def test_interactive_shell_is_in_the_container(server, sarah):
    result = server.ssh(sarah, opts=["-tt"],
                        input=b"cat /etc/hostname; ls -a /srv; exit\n", timeout=60)
    out = result.stdout.decode(errors="replace")
    assert container_of(sarah) in out, out
    assert "podspawn-e2e" not in out


def test_sftp_sees_the_container_not_the_host(server, sarah, tmp_path):
    batch = tmp_path / "batch"
    batch.write_text(f"ls -a /srv\nget /etc/hostname {tmp_path}/hostname\n")
    result = subprocess.run(
        ["sftp", *server.client_opts(), "-i", str(server.key_for(sarah)), "-P",
         str(server.port), "-b", str(batch), f"{sarah}@127.0.0.1"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "podspawn-e2e" not in result.stdout
    assert (tmp_path / "hostname").read_text().strip() == container_of(sarah)


# -- authentication ---------------------------------------------------------------------------

def test_unknown_user_is_refused(server):
    stranger = uname("nosuchuser")
    assert run("id", stranger).returncode != 0
    result = server.ssh(stranger, "true", timeout=60)
    assert result.returncode == 255


def test_unregistered_key_is_refused(server, sarah, tmp_path):
    key = tmp_path / "id_unregistered"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    assert server.ssh(sarah, "true", timeout=60).returncode == 0  # control
    assert server.ssh(sarah, "true", key=key, timeout=60).returncode == 255


def test_another_users_key_is_refused(server, sarah):
    other = uname("keyholder")
    other_key = server.add_user(other)
    assert server.ssh(other, "true", timeout=60).returncode == 0  # control
    assert server.ssh(sarah, "true", key=other_key, timeout=60).returncode == 255


def test_removed_user_is_refused(server):
    user = uname("leaver")
    server.add_user(user)
    result = server.ssh(user, "id -un", timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == user
    removed = server.podspawn("remove-user", user, "--force")
    assert removed.returncode == 0, removed.stderr
    assert server.ssh(user, "true", timeout=60).returncode == 255
    assert run("id", user).returncode != 0
    assert run("docker", "inspect", container_of(user)).returncode != 0


# -- invariant 3: users are isolated from each other ------------------------------------------

PEER_LISTENER = (
    "perl -MIO::Socket::INET -e '"
    f"my $s = IO::Socket::INET->new(LocalAddr => q(0.0.0.0), LocalPort => {PEER_PORT}, "
    "Listen => 16, ReuseAddr => 1) or die; "
    "while (my $c = $s->accept) { print $c \"PEER-CONTAINER-SECRET\\n\"; close $c }'"
)


def probe_command(ip: str) -> str:
    return (f"timeout 8 bash -c 'exec 3<>/dev/tcp/{ip}/{PEER_PORT} && timeout 3 cat <&3'; "
            "echo probe-done")


def test_users_cannot_reach_each_others_containers(server, sarah):
    bob = uname("bob")
    server.add_user(bob)
    for user in (sarah, bob):
        result = server.ssh(user, "true")
        assert result.returncode == 0, result.stderr.decode()
    a, b = inspect(container_of(sarah)), inspect(container_of(bob))
    a_nets, b_nets = set(a["NetworkSettings"]["Networks"]), set(b["NetworkSettings"]["Networks"])
    assert a_nets and b_nets
    assert not a_nets & b_nets, "the two users' containers share a network"
    b_ip = next(n["IPAddress"] for n in b["NetworkSettings"]["Networks"].values()
                if n["IPAddress"])

    started = run("docker", "exec", "-d", container_of(bob), "sh", "-c", PEER_LISTENER)
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 10
    while read_from((b_ip, PEER_PORT), timeout=1) != PEER_BANNER:
        assert time.monotonic() < deadline, "the listener in bob's container did not start"
        time.sleep(0.2)

    own = server.ssh(bob, probe_command(b_ip))  # control: the probe works from bob's side
    assert PEER_BANNER in own.stdout, own.stdout + own.stderr

    other = server.ssh(sarah, probe_command(b_ip), timeout=60)
    assert b"probe-done" in other.stdout, other.stdout + other.stderr
    assert PEER_BANNER not in other.stdout
    names = server.ssh(sarah, f"getent hosts {container_of(bob)} || echo unresolved")
    assert names.stdout.decode().strip() == "unresolved"
