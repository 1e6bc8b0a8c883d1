"""Issue 4's acceptance through the real client: ``podspawn setup`` + ``podspawn connect``.

Unlike ``test_pod_tunnel.py`` (a hand-written ProxyCommand), every ``.pod`` connection here
goes through the block that ``podspawn setup`` writes, the ``podspawn connect`` it names, the
real OpenSSH client and the real sshd. ssh reads ``~`` from the passwd database, not $HOME,
so each client environment is a temp HOME plus an ssh config passed with ``-F``; setup's
ProxyCommand carries that ``-F`` on to the outer ssh that ``connect`` runs.
"""

from __future__ import annotations

import hashlib
import os
import select
import shlex
import shutil
import socket
import stat
import struct
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, Server, free_port, uname

TIMEOUT = 120
BEGIN = "# BEGIN podspawn"


# -- client environments ---------------------------------------------------------------------


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    env["HOME"] = str(home)
    return env


def podserver_entry(server: Server, key: Path, known_hosts: Path) -> str:
    """The user's own ssh config before setup: an entry for the real server, strict keys."""
    return (
        "# the podspawn server, as the user would have it\n"
        "Host podserver\n"
        "  HostName 127.0.0.1\n"
        f"  Port {server.port}\n"
        f"  IdentityFile {key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known_hosts}\n"
        "  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n"
        "  LogLevel ERROR\n"
        "\n"
        "# the same key for the pods (setup's block sets only ProxyCommand and host keys)\n"
        "Host *\n"
        f"  IdentityFile {key}\n"
        "  IdentitiesOnly yes\n"
        "  BatchMode yes\n"
        "  LogLevel ERROR\n"
    )


@dataclass
class Client:
    """One client machine: a HOME, an ssh config passed with -F, and the env for both."""

    home: Path
    config: Path
    env: dict[str, str]
    original: str = ""
    setup_runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def podspawn(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN), *args], capture_output=True, text=True,
                              env=self.env, timeout=TIMEOUT, check=False)

    def ssh_argv(self, target: str, *opts: str, command: str | None = None) -> list[str]:
        return ["ssh", "-F", str(self.config), *opts, target,
                *([] if command is None else [command])]

    def ssh(self, target: str, command: str | None = None, *opts: str, input: bytes = b"",
            timeout: float = TIMEOUT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.ssh_argv(target, *opts, command=command), input=input,
                              capture_output=True, timeout=timeout, check=False,
                              env=env or self.env)

    def popen(self, target: str, command: str | None = None, *opts: str,
              stdout: int | None = subprocess.DEVNULL,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.ssh_argv(target, *opts, command=command),
                                stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=subprocess.DEVNULL, env=env or self.env)


def make_client(server: Server, key: Path, home: Path, *, known_hosts: Path | None = None,
                name: str = "ssh_config", setup_times: int = 1) -> Client:
    """A HOME holding an ssh config with the ``podserver`` entry, run through ``setup``."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / name
    original = podserver_entry(server, key, known_hosts or server.known_hosts)
    config.write_text(original)
    config.chmod(0o600)
    client = Client(home=home, config=config, env=_base_env(home), original=original)
    for _ in range(setup_times):
        result = client.podspawn("setup", "--ssh-config", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        client.setup_runs.append(result)
        client.texts.append(config.read_text())
    return client


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def read_line(proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """The first line ``proc`` writes to its stdout pipe ('' if it ends without one)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no line from {proc.args!r} in {timeout} s (got {buf!r})")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace").split("\n", 1)[0]


# -- TCP helpers -----------------------------------------------------------------------------


def tcp_read(port: int, *, timeout: float = 5) -> bytes:
    """What a connection to 127.0.0.1:``port`` receives before it closes (b"" on error)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            return _read_all(sock, timeout)
    except OSError:
        return b""


def _read_all(sock: socket.socket, timeout: float) -> bytes:
    got = b""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return got


def poll(fetch, want: bytes, timeout: float = 40) -> bytes:
    """Call ``fetch()`` until its answer contains ``want`` or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    got = b""
    while time.monotonic() < deadline:
        got = fetch()
        if want in got:
            return got
        time.sleep(0.3)
    return got


def socks5(port: int, host: str, dest_port: int, *, timeout: float = 5) -> bytes:
    """A SOCKS5 CONNECT through 127.0.0.1:``port`` to ``host:dest_port``: what comes back
    after the proxy's reply (b"" if the proxy refuses or closes)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"\x05\x01\x00")
            if _recv_exact(sock, 2) != b"\x05\x00":
                return b""
            name = host.encode()
            sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name
                         + struct.pack(">H", dest_port))
            head = _recv_exact(sock, 4)
            if len(head) < 4 or head[1] != 0:
                return b""
            rest = {1: 4, 4: 16}.get(head[3])
            if rest is None:
                rest = _recv_exact(sock, 1)[0]
            _recv_exact(sock, rest + 2)
            return _read_all(sock, timeout)
    except (OSError, IndexError):
        return b""


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        if not chunk:
            break
        got += chunk
    return got


class HostListener:
    """A TCP server on the HOST's loopback that answers ``HOSTSIDE`` and counts clients."""

    REPLY = b"HOSTSIDE\n"

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
            self.accepted += 1
            with conn:
                conn.sendall(self.REPLY)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def perl_server(addr: str, port: int, reply: str, *, life: int = 600) -> str:
    """A shell command: a perl TCP server on ``addr:port`` (0: any free port) that answers
    every client with ``reply``; it prints ``PID PORT`` once it listens, and dies after
    ``life`` seconds at the latest (the Debian image has perl-base but no python or nc)."""
    code = (f'$|=1; alarm {life}; $s=IO::Socket::INET->new(LocalAddr=>"{addr}",'
            f'LocalPort=>{port},Listen=>16,ReuseAddr=>1) or die "listen: $!"; '
            'print "$$ ", $s->sockport, "\\n"; '
            f'while($c=$s->accept){{print $c "{reply}\\n"; close $c}}')
    return f"perl -MIO::Socket::INET -e {shlex.quote(code)}"


def forward(client: Client, target: str, *opts: str) -> subprocess.Popen[bytes]:
    return client.popen(target, None, "-N", "-o", "ExitOnForwardFailure=yes", *opts)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(server: Server, sarah: str, tmp_path_factory: pytest.TempPathFactory) -> Client:
    """sarah's machine: setup run twice on an ssh config with ``Host podserver``, and
    ``servers.default`` pointing at it."""
    home = tmp_path_factory.mktemp("home")
    made = make_client(server, server.key_for(sarah), home, setup_times=2)
    result = made.podspawn("config", "set", "servers.default", "podserver")
    assert result.returncode == 0, result.stdout + result.stderr
    # the first .pod login may build the image's podspawn layer: allow it time, once
    warm = made.ssh(f"{sarah}@work.pod", "true", timeout=900)
    assert warm.returncode == 0, warm.stderr.decode(errors="replace")
    return made


@pytest.fixture(scope="module")
def inside_3000(client: Client, sarah: str) -> Iterator[None]:
    """A server on 127.0.0.1:3000 inside sarah's work container answering ``inside-3000``."""
    proc = client.popen(f"{sarah}@work.pod", perl_server("127.0.0.1", 3000, "inside-3000"),
                        stdout=subprocess.PIPE)
    pid = ""
    try:
        line = read_line(proc)
        assert line.endswith(" 3000"), f"no server on :3000 inside the container: {line!r}"
        pid = line.split()[0]
        yield
    finally:
        kill(proc)
        if pid:
            client.ssh(f"{sarah}@work.pod", f"kill {pid}")


@pytest.fixture
def host_listener() -> Iterator[HostListener]:
    listener = HostListener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="module")
def agent(server: Server, sarah: str) -> Iterator[dict[str, str]]:
    """A private ssh-agent holding sarah's key: its SSH_AUTH_SOCK and SSH_AGENT_PID."""
    started = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True)
    env: dict[str, str] = {}
    for part in started.stdout.replace("\n", ";").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
            env[name] = value
    try:
        added = subprocess.run(["ssh-add", str(server.key_for(sarah))],
                               env={**os.environ, **env}, capture_output=True, check=False)
        assert added.returncode == 0, added.stderr
        yield env
    finally:
        if "SSH_AGENT_PID" in env:
            subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)


# -- setup, config and names -----------------------------------------------------------------


def test_setup_twice_writes_one_block_and_keeps_the_entry(client: Client):
    first, second = client.setup_runs
    assert "added" in first.stdout, first.stdout
    assert "already has podspawn's *.pod block" in second.stdout, second.stdout
    assert client.texts[0] == client.texts[1], "a second setup changed the file"
    text = client.config.read_text()
    assert text.count(BEGIN) == 1
    assert text.count("Host *.pod") == 1
    block = text[text.index(BEGIN):]
    assert f"connect -F {client.config} %r %h %p" in block
    assert f"UserKnownHostsFile {client.home}/.podspawn/known_hosts" in block
    assert "StrictHostKeyChecking yes" in block
    assert "StrictHostKeyChecking no" not in text
    # the user's own entry is still there, byte for byte, after podspawn's block
    assert client.original in text
    assert text.index(BEGIN) < text.index("Host podserver")
    assert stat.S_IMODE(client.config.stat().st_mode) == 0o600
    config_yaml = client.home / ".podspawn" / "config.yaml"
    assert "podserver" in config_yaml.read_text()


def test_work_pod_lands_in_its_container(client: Client, sarah: str):
    result = client.ssh(f"{sarah}@work.pod", "hostname; id -un")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode().split() == [f"podspawn-{sarah}-work", sarah]
    # connect fetched the pod's host key over the verified outer connection and stored it
    known = (client.home / ".podspawn" / "known_hosts").read_text()
    assert known.startswith("work.pod ssh-ed25519 "), known


def test_api_pod_is_another_container(client: Client, sarah: str):
    result = client.ssh(f"{sarah}@api.pod", "hostname")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode().strip() == f"podspawn-{sarah}-api"
    ids = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", f"podspawn-{sarah}-work",
                          f"podspawn-{sarah}-api"], capture_output=True, text=True, check=False)
    assert ids.returncode == 0, ids.stderr
    work_id, api_id = ids.stdout.split()
    assert work_id != api_id


def test_no_server_configured_names_the_fix(server: Server, sarah: str, tmp_path: Path):
    bare = make_client(server, server.key_for(sarah), tmp_path / "home")
    assert not (bare.home / ".podspawn" / "config.yaml").exists()
    result = bare.ssh(f"{sarah}@work.pod", "hostname", timeout=60)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 255, stderr
    assert b"podspawn-" not in result.stdout
    assert "podspawn config set servers.default" in stderr, stderr
    assert "Traceback" not in stderr


# -- forwards end inside the container -------------------------------------------------------


def test_local_forward_reaches_container_loopback(client: Client, sarah: str, inside_3000):
    port = free_port()
    proc = forward(client, f"{sarah}@work.pod", "-L", f"{port}:localhost:3000")
    try:
        assert b"inside-3000" in poll(lambda: tcp_read(port), b"inside-3000")
    finally:
        kill(proc)


def test_dynamic_forward_reaches_container_loopback(client: Client, sarah: str, inside_3000):
    port = free_port()
    proc = forward(client, f"{sarah}@work.pod", "-D", f"127.0.0.1:{port}")
    try:
        got = poll(lambda: socks5(port, "localhost", 3000), b"inside-3000")
        assert b"inside-3000" in got
    finally:
        kill(proc)


def test_stdio_forward_reaches_container_loopback(client: Client, sarah: str, inside_3000):
    result = subprocess.run(
        ["ssh", "-F", str(client.config), "-W", "localhost:3000", f"{sarah}@work.pod"],
        capture_output=True, input=b"", timeout=TIMEOUT, check=False, env=client.env)
    assert b"inside-3000" in result.stdout, result.stderr.decode(errors="replace")


def test_host_loopback_is_not_reachable_by_any_forward(client: Client, sarah: str,
                                                       inside_3000, host_listener):
    """A service on the host's 127.0.0.1 would answer HOSTSIDE if forwards ended on the host.

    Each forward is first shown to work (to the container's :3000) in the same connection.
    """
    hport = host_listener.port
    assert tcp_read(hport) == HostListener.REPLY  # it does answer from the host itself
    host_listener.accepted = 0
    good, bad, bad_name, socks = free_port(), free_port(), free_port(), free_port()
    proc = forward(client, f"{sarah}@work.pod", "-L", f"{good}:localhost:3000",
                   "-L", f"{bad}:127.0.0.1:{hport}", "-L", f"{bad_name}:localhost:{hport}",
                   "-D", f"127.0.0.1:{socks}")
    try:
        assert b"inside-3000" in poll(lambda: tcp_read(good), b"inside-3000")
        assert b"inside-3000" in poll(lambda: socks5(socks, "localhost", 3000), b"inside-3000")
        assert b"HOSTSIDE" not in tcp_read(bad)
        assert b"HOSTSIDE" not in tcp_read(bad_name)
        assert b"HOSTSIDE" not in socks5(socks, "127.0.0.1", hport)
        assert b"HOSTSIDE" not in socks5(socks, "localhost", hport)
    finally:
        kill(proc)
    stdio = subprocess.run(
        ["ssh", "-F", str(client.config), "-W", f"127.0.0.1:{hport}", f"{sarah}@work.pod"],
        capture_output=True, input=b"", timeout=TIMEOUT, check=False, env=client.env)
    assert b"HOSTSIDE" not in stdio.stdout
    assert stdio.returncode != 0
    time.sleep(0.5)
    assert host_listener.accepted == 0


def test_docker_socket_is_not_reachable_by_unix_forward(client: Client, sarah: str,
                                                        tmp_path: Path):
    request = b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n"

    def ask(path: Path) -> bytes:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(str(path))
                sock.sendall(request)
                return _read_all(sock, 5)
        except OSError:
            return b""

    # the check itself recognises Docker's answer
    assert b"ApiVersion" in ask(Path("/var/run/docker.sock"))
    # and unix-socket forwards do work, to a socket inside the container
    inside = ("perl -MIO::Socket::UNIX -e '$|=1; alarm 120; unlink \"/tmp/ctl.sock\"; "
              "$s=IO::Socket::UNIX->new(Local=>\"/tmp/ctl.sock\",Listen=>5) or die; "
              "print \"up\\n\"; while($c=$s->accept){print $c \"unix-inside\\n\"; close $c}'")
    server_proc = client.popen(f"{sarah}@work.pod", inside, stdout=subprocess.PIPE)
    control, docker = tmp_path / "ctl.sock", tmp_path / "docker.sock"
    proc = None
    try:
        assert read_line(server_proc) == "up"
        proc = forward(client, f"{sarah}@work.pod", "-L", f"{control}:/tmp/ctl.sock",
                       "-L", f"{docker}:/var/run/docker.sock")
        assert b"unix-inside" in poll(lambda: ask(control), b"unix-inside")
        answer = ask(docker)
        assert b"ApiVersion" not in answer
        assert not answer.startswith(b"HTTP/"), answer
    finally:
        if proc is not None:
            kill(proc)
        kill(server_proc)
        client.ssh(f"{sarah}@work.pod", "rm -f /tmp/ctl.sock")


@pytest.fixture(scope="module")
def neighbour(server: Server) -> Iterator[tuple[str, str, int]]:
    """A second user's running session with a TCP server on all its addresses: (user, IP,
    port)."""
    user = uname("lena")
    server.add_user(user)
    port = 7000
    proc = subprocess.Popen([*server.ssh_argv(user), perl_server("0.0.0.0", port, "peer")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    pid = ""
    try:
        line = read_line(proc, timeout=600)
        assert line.endswith(f" {port}"), f"no server in {user}'s container: {line!r}"
        pid = line.split()[0]
        ips = subprocess.run(
            ["docker", "inspect", "-f",
             "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", f"podspawn-{user}"],
            capture_output=True, text=True, check=False)
        assert ips.returncode == 0, ips.stderr
        ip = ips.stdout.split()[0]
        yield user, ip, port
    finally:
        if pid:
            server.ssh(user, f"kill {pid}", timeout=60)
        kill(proc)


def test_other_users_container_is_not_reachable(client: Client, sarah: str, inside_3000,
                                                neighbour):
    _, ip, port = neighbour
    # the neighbour's server does answer on its bridge IP (from the host)
    with socket.create_connection((ip, port), timeout=5) as sock:
        assert _read_all(sock, 5) == b"peer\n"
    probe = (f"timeout 5 bash -c 'echo > /dev/tcp/{ip}/{port}' && echo REACHED; "
             "timeout 5 bash -c 'echo > /dev/tcp/127.0.0.1/3000' && echo SELF")
    result = client.ssh(f"{sarah}@work.pod", probe)
    out = result.stdout.decode()
    assert "SELF" in out, result.stderr.decode(errors="replace")  # the probe itself works
    assert "REACHED" not in out
    good, bad = free_port(), free_port()
    proc = forward(client, f"{sarah}@work.pod", "-L", f"{good}:localhost:3000",
                   "-L", f"{bad}:{ip}:{port}")
    try:
        assert b"inside-3000" in poll(lambda: tcp_read(good), b"inside-3000")
        assert b"peer" not in tcp_read(bad, timeout=15)
    finally:
        kill(proc)


def test_remote_forward_listens_inside(client: Client, sarah: str):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = int(listener.getsockname()[1])

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"from-client")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = client.ssh(f"{sarah}@work.pod",
                            "exec 3<>/dev/tcp/localhost/9000; head -c 11 <&3; hostname",
                            "-o", "ExitOnForwardFailure=yes", "-R", f"9000:localhost:{port}")
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode() == f"from-clientpodspawn-{sarah}-work\n"


def test_vscode_pattern_exec_server_then_forward(client: Client, sarah: str):
    """Remote-SSH starts its server over one exec channel, reads the port it printed, then
    forwards to that port over a second connection."""
    proc = client.popen(f"{sarah}@work.pod", perl_server("127.0.0.1", 0, "vscode-server"),
                        stdout=subprocess.PIPE)
    pid = ""
    try:
        line = read_line(proc)
        pid, remote = line.split()
        local = free_port()
        fwd = forward(client, f"{sarah}@work.pod", "-L", f"{local}:127.0.0.1:{remote}")
        try:
            assert b"vscode-server" in poll(lambda: tcp_read(local), b"vscode-server")
        finally:
            kill(fwd)
    finally:
        kill(proc)
        if pid:
            client.ssh(f"{sarah}@work.pod", f"kill {pid}")


def test_agent_forwarding_outlives_the_first_connection(client: Client, sarah: str, agent):
    env = {**client.env, **agent}
    target = f"{sarah}@work.pod"
    first = client.ssh(
        target,
        'echo "sock=$SSH_AUTH_SOCK"; ssh-add -l; rm -f /tmp/agent-check; '
        "nohup sh -c 'sleep 10; ssh-add -l > /tmp/agent-check 2>&1' >/dev/null 2>&1 &",
        "-A", env=env, timeout=60)
    out = first.stdout.decode()
    assert first.returncode == 0, first.stderr.decode(errors="replace")
    assert f"{sarah}@e2e" in out
    assert "/.ssh/agent.sock" in out
    started = time.monotonic()
    second = client.popen(target, "echo up; sleep 25", "-A", stdout=subprocess.PIPE, env=env)
    try:
        assert read_line(second) == "up"
        time.sleep(max(0.0, 13 - (time.monotonic() - started)))
        check = client.ssh(target, "cat /tmp/agent-check")
    finally:
        kill(second)
    assert f"{sarah}@e2e" in check.stdout.decode(), (check.stdout, check.stderr)


# -- sessions and file transfer --------------------------------------------------------------


def test_shell_and_exec(client: Client, sarah: str):
    shell = client.ssh(f"{sarah}@work.pod", None,
                       input=b"echo shell-$((6*7)); hostname; exit 3\n")
    assert shell.returncode == 3, shell.stderr.decode(errors="replace")
    assert shell.stdout.decode().split()[-2:] == ["shell-42", f"podspawn-{sarah}-work"]
    assert client.ssh(f"{sarah}@work.pod", "exit 7").returncode == 7
    assert client.ssh(f"{sarah}@work.pod", "true").returncode == 0
    data = bytes(range(256)) * 1024 + os.urandom(1 << 20)
    echoed = client.ssh(f"{sarah}@work.pod", "cat", input=data)
    assert echoed.returncode == 0
    assert hashlib.sha256(echoed.stdout).digest() == hashlib.sha256(data).digest()


def _remote_sha(client: Client, sarah: str, path: str) -> str:
    result = client.ssh(f"{sarah}@work.pod", f"sha256sum {shlex.quote(path)}")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode().split()[0]


def _run(argv: Sequence[str], client: Client, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT,
                          check=False, env=client.env, stdin=subprocess.DEVNULL, **kw)


def test_sftp_put_and_get(client: Client, sarah: str, tmp_path: Path):
    data = os.urandom(300_000)
    (tmp_path / "up.bin").write_bytes(data)
    batch = tmp_path / "batch"
    batch.write_text(f"put {tmp_path}/up.bin /tmp/sftp-up.bin\n"
                     f"get /tmp/sftp-up.bin {tmp_path}/down.bin\n")
    result = _run(["sftp", "-F", str(client.config), "-b", str(batch), f"{sarah}@work.pod"],
                  client)
    assert result.returncode == 0, result.stderr
    assert _remote_sha(client, sarah, "/tmp/sftp-up.bin") == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "down.bin").read_bytes() == data


@pytest.mark.parametrize("mode", [[], ["-O"]], ids=["sftp-protocol", "legacy-scp"])
def test_scp_up_and_down(client: Client, sarah: str, tmp_path: Path, mode: list[str]):
    data = os.urandom(200_000)
    (tmp_path / "up.bin").write_bytes(data)
    remote = f"/tmp/scp-up-{len(mode)}.bin"
    up = _run(["scp", "-F", str(client.config), *mode, str(tmp_path / "up.bin"),
               f"{sarah}@work.pod:{remote}"], client)
    assert up.returncode == 0, up.stderr
    assert _remote_sha(client, sarah, remote) == hashlib.sha256(data).hexdigest()
    down = _run(["scp", "-F", str(client.config), *mode, f"{sarah}@work.pod:{remote}",
                 str(tmp_path / "down.bin")], client)
    assert down.returncode == 0, down.stderr
    assert (tmp_path / "down.bin").read_bytes() == data


def test_rsync_round_trip(client: Client, sarah: str, tmp_path: Path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(os.urandom(70_000))
    rsh = f"ssh -F {client.config}"
    up = _run(["rsync", "-a", "-e", rsh, f"{src}/", f"{sarah}@work.pod:/tmp/rsync-dir/"],
              client)
    assert up.returncode == 0, up.stderr
    listing = client.ssh(f"{sarah}@work.pod", "cd /tmp/rsync-dir && sha256sum a.txt sub/b.bin")
    sums = dict(reversed(line.split()) for line in listing.stdout.decode().splitlines())
    assert sums == {"a.txt": hashlib.sha256(b"alpha\n").hexdigest(),
                    "sub/b.bin": hashlib.sha256((src / "sub" / "b.bin").read_bytes()).hexdigest()}
    back = tmp_path / "back"
    down = _run(["rsync", "-a", "-e", rsh, f"{sarah}@work.pod:/tmp/rsync-dir/", f"{back}/"],
                client)
    assert down.returncode == 0, down.stderr
    assert (back / "a.txt").read_text() == "alpha\n"
    assert (back / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()


# -- host keys stay verified -----------------------------------------------------------------


def _wrong_key(tmp_path: Path) -> str:
    path = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _refused(result: subprocess.CompletedProcess[bytes]) -> str:
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 255, (result.returncode, stderr)
    assert b"podspawn-" not in result.stdout
    assert ("REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr
            or "Host key verification failed" in stderr), stderr
    return stderr


def test_changed_server_host_key_is_refused(server: Server, sarah: str, client: Client,
                                            tmp_path: Path):
    bad_known = tmp_path / "known_hosts"
    bad_known.write_text(f"[127.0.0.1]:{server.port} {_wrong_key(tmp_path)}\n")
    bad = make_client(server, server.key_for(sarah), client.home, known_hosts=bad_known,
                      name="bad-server.cfg")
    before = (client.home / ".podspawn" / "known_hosts").read_text()
    _refused(bad.ssh(f"{sarah}@work.pod", "hostname"))  # pod key known: straight to tunnel
    _refused(bad.ssh(f"{sarah}@fresh.pod", "hostname"))  # pod key unknown: the fetch fails
    assert (client.home / ".podspawn" / "known_hosts").read_text() == before


def test_changed_pod_host_key_is_refused(server: Server, sarah: str, client: Client,
                                         tmp_path: Path):
    home = tmp_path / "home"
    (home / ".podspawn").mkdir(parents=True)
    shutil.copy(client.home / ".podspawn" / "config.yaml", home / ".podspawn" / "config.yaml")
    pods_known = home / ".podspawn" / "known_hosts"
    pods_known.write_text(f"work.pod {_wrong_key(tmp_path)}\n")
    other = make_client(server, server.key_for(sarah), home)
    before = pods_known.read_text()
    _refused(other.ssh(f"{sarah}@work.pod", "hostname"))
    assert pods_known.read_text() == before


# -- the podspawn ssh wrapper ----------------------------------------------------------------


def test_podspawn_ssh_wrapper(server: Server, sarah: str, client: Client, tmp_path: Path):
    """``podspawn ssh USER@work`` passes the ``*.pod`` settings itself, so it needs no setup
    block. It cannot forward an ``-F`` to connect's outer ssh, and ssh reads its default
    config from the passwd home (not $HOME); so ``ssh`` on PATH is a shim adding ``-F`` with
    a config that has the podserver entry but no podspawn block: the role ~/.ssh/config
    plays on a real client."""
    plain = tmp_path / "plain_config"
    plain.write_text(podserver_entry(server, server.key_for(sarah), server.known_hosts))
    plain.chmod(0o600)
    shim = tmp_path / "bin"
    shim.mkdir()
    real_ssh = shutil.which("ssh")
    assert real_ssh
    (shim / "ssh").write_text(f'#!/bin/sh\nexec {real_ssh} -F {plain} "$@"\n')
    (shim / "ssh").chmod(0o755)
    env = {**client.env, "PATH": f"{shim}:{client.env.get('PATH', '/usr/bin:/bin')}"}
    result = subprocess.run([str(BIN), "ssh", f"{sarah}@work", "--", "hostname"],
                            capture_output=True, env=env, timeout=TIMEOUT, check=False,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode().strip() == f"podspawn-{sarah}-work"
    # the same config without the wrapper cannot resolve work.pod: the wrapper did the work
    bare = subprocess.run(["ssh", f"{sarah}@work.pod", "hostname"], capture_output=True,
                          env=env, timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    assert bare.returncode == 255
    # an exit status comes back through it too
    code = subprocess.run([str(BIN), "ssh", f"{sarah}@work", "--", "exit 5"],
                          capture_output=True, env=env, timeout=TIMEOUT, check=False,
                          stdin=subprocess.DEVNULL)
    assert code.returncode == 5, code.stderr.decode(errors="replace")
