"""``podspawn connect``: the TCP relay, the pods' known_hosts, and the two ssh command lines.

A fake ``ssh`` first on PATH records each argv (and what its stdin was) and answers the
``podspawn-hostkey`` request the way the server's forced command does.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from podspawn.__main__ import main
from podspawn.client import connect as conn
from podspawn.client.config import Server
from podspawn.errors import ConfigError, InvalidName, SetupError, UsageError

BLOB = base64.b64encode(struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32)
                        + bytes(range(32))).decode()
KEY = f"ssh-ed25519 {BLOB}"

FAKE_SSH = """#!{python}
import json, os, sys
with open(os.environ["FAKE_SSH_LOG"], "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:],
                         "stdin": os.path.realpath("/proc/self/fd/0")}}) + "\\n")
sys.stdout.write(os.environ.get("FAKE_SSH_ANSWER", "").replace("\\\\n", "\\n"))
sys.exit(int(os.environ.get("FAKE_SSH_RC", "0")))
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture
def fake_ssh(tmp_path, monkeypatch):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    script = bin_dir / "ssh"
    script.write_text(FAKE_SSH.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "ssh.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SSH_LOG", str(log))
    monkeypatch.setenv("FAKE_SSH_ANSWER", KEY + " podspawn-pod-sarah\n")

    def calls() -> list[dict[str, object]]:
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    return calls


@pytest.fixture
def configured(home):
    config = home / ".podspawn" / "config.yaml"
    config.parent.mkdir(mode=0o700)
    config.write_text("servers:\n  default: devbox.example.com\n"
                      "  mappings:\n    gpu.pod: gpu.example.com:2222\n")
    return home


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, file: str, argv) -> None:
        self.calls.append((file, list(argv)))


def known_hosts(home) -> str:
    return (home / ".podspawn" / "known_hosts").read_text()


# -- .pod: host key, then the tunnel ---------------------------------------------------------


def test_first_connect_fetches_key_then_execs_tunnel(configured, fake_ssh):
    run = Recorder()
    conn.connect("sarah", "api.pod", "22", exec_fn=run)
    (fetch,) = fake_ssh()
    assert fetch["argv"] == ["-T", "sarah@devbox.example.com", "podspawn-hostkey"]
    assert fetch["stdin"] == "/dev/null"  # our stdin belongs to the inner ssh
    assert known_hosts(configured) == f"api.pod {KEY}\n"
    path = configured / ".podspawn" / "known_hosts"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run.calls == [("ssh", ["ssh", "-T", "-o", "BatchMode=no",
                                  "sarah@devbox.example.com", "podspawn-tunnel api"])]


def test_second_connect_reuses_the_key(configured, fake_ssh):
    conn.connect("sarah", "api.pod", "22", exec_fn=Recorder())
    run = Recorder()
    conn.connect("sarah", "API.pod", "22", exec_fn=run)
    assert len(fake_ssh()) == 1
    assert known_hosts(configured) == f"api.pod {KEY}\n"
    assert run.calls[0][1][-1] == "podspawn-tunnel api"


def test_mapped_port_and_ssh_config_reach_both_command_lines(configured, fake_ssh):
    run = Recorder()
    conn.connect("sarah", "gpu.pod", "2200", ssh_config="/etc/alt ssh", exec_fn=run)
    (fetch,) = fake_ssh()
    assert fetch["argv"] == ["-F", "/etc/alt ssh", "-p", "2222", "-T", "sarah@gpu.example.com",
                             "podspawn-hostkey"]
    assert run.calls == [("ssh", ["ssh", "-F", "/etc/alt ssh", "-p", "2222", "-T", "-o",
                                  "BatchMode=no", "sarah@gpu.example.com",
                                  "podspawn-tunnel gpu"])]
    # ssh looks a key up as [host]:port when it was given a port other than 22
    assert known_hosts(configured) == f"[gpu.pod]:2200 {KEY}\n"


def test_each_pod_name_gets_its_own_line(configured, fake_ssh):
    kh = configured / ".podspawn" / "known_hosts"
    kh.write_text(f"# mine\nother.pod,api.pod {KEY}\nweb.pod {KEY}")  # no final newline
    conn.connect("sarah", "api.pod", "22", exec_fn=Recorder())
    assert fake_ssh() == []
    conn.connect("sarah", "new.pod", "22", exec_fn=Recorder())
    assert kh.read_text() == f"# mine\nother.pod,api.pod {KEY}\nweb.pod {KEY}\nnew.pod {KEY}\n"


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_ssh_finds_the_stored_line(configured, fake_ssh):
    conn.connect("sarah", "api.pod", "22", exec_fn=Recorder())
    conn.connect("sarah", "gpu.pod", "2200", exec_fn=Recorder())
    path = str(configured / ".podspawn" / "known_hosts")
    for name in ("api.pod", "[gpu.pod]:2200"):
        found = subprocess.run(["ssh-keygen", "-F", name, "-f", path], capture_output=True,
                               text=True, check=False)
        assert found.returncode == 0, name
        assert BLOB in found.stdout


@pytest.mark.parametrize(("answer", "rc"), [
    ("", "0"),
    (KEY + "\\n" + KEY + "\\n", "0"),
    ("Welcome to the server!\\n" + KEY + "\\n", "0"),
    ("ssh-ed25519 AAAAnotakey\\n", "0"),
    ("restrict,pty " + KEY + "\\n", "0"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\\n", "0"),
    (KEY + "\\n", "255"),
])
def test_bad_answers_store_nothing_and_skip_the_tunnel(configured, fake_ssh, monkeypatch, answer,
                                                       rc):
    monkeypatch.setenv("FAKE_SSH_ANSWER", answer)
    monkeypatch.setenv("FAKE_SSH_RC", rc)
    run = Recorder()
    with pytest.raises(SetupError) as caught:
        conn.connect("sarah", "api.pod", "22", exec_fn=run)
    assert "devbox.example.com" in caught.value.message
    assert run.calls == []
    assert not (configured / ".podspawn" / "known_hosts").exists()


@pytest.mark.parametrize("host", ["../x.pod", "a b.pod", "$(x).pod", "-oProxyCommand=x.pod",
                                  "a/b.pod", ".pod", "x;y.pod", "UPPER_.pod"])
def test_hostile_pod_names_are_rejected(configured, fake_ssh, host):
    run = Recorder()
    with pytest.raises(InvalidName) as caught:
        conn.connect("sarah", host, "22", exec_fn=run)
    assert "invalid project name" in caught.value.message
    assert fake_ssh() == [] and run.calls == []


@pytest.mark.parametrize("user", ["-oProxyCommand=x", "a b", "$(id)", "root@x"])
def test_hostile_users_are_rejected(configured, fake_ssh, user):
    with pytest.raises(InvalidName):
        conn.connect(user, "api.pod", "22", exec_fn=Recorder())
    assert fake_ssh() == []


@pytest.mark.parametrize("port", ["0", "x", "70000", "-1", ""])
def test_bad_ports(configured, port):
    with pytest.raises(UsageError):
        conn.connect("sarah", "api.pod", port, exec_fn=Recorder())


def test_no_server_configured(home, fake_ssh, capsys):
    with pytest.raises(ConfigError):
        conn.connect("sarah", "api.pod", "22", exec_fn=Recorder())
    assert main(["connect", "sarah", "api.pod", "22"]) == 2
    assert capsys.readouterr().err == ('podspawn: no server configured for "api.pod"; set one '
                                       "with: podspawn config set servers.default HOST\n")
    assert fake_ssh() == []


def test_cli_connect_execs_through_os_execvp(configured, fake_ssh, monkeypatch):
    run = Recorder()
    monkeypatch.setattr(os, "execvp", run)
    assert main(["connect", "-F", "/c", "sarah", "api.pod", "22"]) == 0
    assert run.calls == [("ssh", ["ssh", "-F", "/c", "-T", "-o", "BatchMode=no",
                                  "sarah@devbox.example.com", "podspawn-tunnel api"])]


def test_hostile_name_through_the_cli_is_one_line(configured, fake_ssh, capsys):
    assert main(["connect", "sarah", "../x.pod", "22"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("podspawn: invalid project name") and err.count("\n") == 1


def test_connect_path_stays_light(configured, fake_ssh):
    """A well-formed config is read without pydantic; rich is never imported."""
    code = (
        "import os, sys\n"
        "def fake_exec(file, argv):\n"
        "    heavy = sorted(m for m in ('rich', 'pydantic', 'docker') if m in sys.modules)\n"
        "    print(' '.join(argv[-2:]), heavy)\n"
        "    sys.exit(0)\n"
        "os.execvp = fake_exec\n"
        "from podspawn.__main__ import main\n"
        "sys.exit(main(['connect', 'sarah', 'api.pod', '22']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sarah@devbox.example.com podspawn-tunnel api []\n"


# -- anything else: plain TCP ----------------------------------------------------------------


@pytest.fixture
def echo_server():
    """Echoes what it gets until the client half-closes, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with client:
                while data := client.recv(65536):
                    client.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()


def test_relay_copies_both_ways(echo_server):
    payload = bytes(range(256)) * 2048  # 512 KiB, more than a pipe holds
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(out_r, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    writer = threading.Thread(target=lambda: (os.write(in_w, payload), os.close(in_w)))
    writer.start()
    assert conn.relay("127.0.0.1", echo_server, stdin_fd=in_r, stdout_fd=out_w) == 0
    os.close(out_w)
    writer.join(10)
    reader.join(10)
    os.close(in_r)
    os.close(out_r)
    assert bytes(received) == payload


def test_non_pod_host_relays_through_the_real_command(echo_server, home):
    result = subprocess.run([sys.executable, "-m", "podspawn", "connect", "anyone", "127.0.0.1",
                             str(echo_server)], input=b"hello\x00world", capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello\x00world"


def test_relay_to_a_closed_port_is_one_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        conn.relay("127.0.0.1", port, stdin_fd=0, stdout_fd=1)
    assert time.monotonic() - started < 10
    assert f"cannot connect to 127.0.0.1:{port}" in str(caught.value)


def test_known_host_helpers():
    assert conn.known_host_name("api.pod", 22) == "api.pod"
    assert conn.known_host_name("api.pod", 2222) == "[api.pod]:2222"
    text = f"|1|hashed|x= {KEY}\n@revoked api.pod {KEY}\nxapi.pod {KEY}\n"
    assert not conn.has_known_host(text, "api.pod")
    assert conn.has_known_host(f"web.pod,api.pod {KEY}\n", "api.pod")
    server = Server("h", 2022)
    assert conn.hostkey_argv(user="u", server=server) == ["ssh", "-p", "2022", "-T", "u@h",
                                                          "podspawn-hostkey"]


# -- the whole client side with real OpenSSH -------------------------------------------------

FAKE_SERVER = """#!/bin/sh
# the outer connection's forced command, played locally: a key, or sshd speaking on stdio
echo "$*" >> {log}
for last in "$@"; do :; done
case "$last" in
  podspawn-hostkey) cut -d' ' -f1,2 {hostkey}.pub ;;
  "podspawn-tunnel "*) exec {sshd} -i -f {config} ;;
  *) exit 9 ;;
esac
"""


@pytest.mark.skipif(not (shutil.which("ssh") and shutil.which("ssh-keygen")
                         and os.path.exists("/usr/sbin/sshd") and os.path.isdir("/run/sshd")),
                    reason="needs the OpenSSH client, ssh-keygen, sshd and /run/sshd")
def test_real_ssh_through_the_block(home, tmp_path):
    """``ssh USER@work.pod`` with podspawn's block: key fetched once, checked strictly."""
    import getpass

    from podspawn.client.ssh_config import render_block, with_pod_block

    def keygen(name: str) -> str:
        path = str(tmp_path / name)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
        return path

    hostkey, userkey, otherkey = keygen("hostkey"), keygen("userkey"), keygen("otherkey")
    other = " ".join(Path(otherkey + ".pub").read_text().split()[:2])
    auth = tmp_path / "authorized_keys"
    auth.write_text((tmp_path / "userkey.pub").read_text())
    auth.chmod(0o600)
    sshd_config = tmp_path / "sshd_config"
    sshd_config.write_text(f"HostKey {hostkey}\nAuthorizedKeysFile {auth}\nUsePAM no\n"
                           "StrictModes no\nPidFile none\nLogLevel ERROR\n")
    bin_dir = tmp_path / "serverbin"
    bin_dir.mkdir()
    log = tmp_path / "outer.log"
    (bin_dir / "ssh").write_text(FAKE_SERVER.format(log=log, hostkey=hostkey, sshd="/usr/sbin/sshd",
                                                    config=sshd_config))
    (bin_dir / "ssh").chmod(0o755)
    (home / ".podspawn").mkdir()
    (home / ".podspawn" / "config.yaml").write_text("servers: {default: devbox.example.com}\n")
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(with_pod_block("Host *\n  StrictHostKeyChecking no\n", render_block(
        command=[sys.executable, "-m", "podspawn"],
        known_hosts=str(home / ".podspawn" / "known_hosts"))))
    ssh = shutil.which("ssh")
    env = {**os.environ, "HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    user = getpass.getuser()

    def pod_ssh(target: str, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ssh, "-F", str(ssh_config), "-i", userkey,
                               "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                               f"{user}@{target}", command],
                              env=env, capture_output=True, text=True, timeout=60, check=False)

    first = pod_ssh("work.pod", "echo inside")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "inside\n"
    assert log.read_text().splitlines() == [f"-T {user}@devbox.example.com podspawn-hostkey",
                                            f"-T -o BatchMode=no {user}@devbox.example.com "
                                            "podspawn-tunnel work"]
    assert pod_ssh("work.pod", "true").returncode == 0
    assert len(log.read_text().splitlines()) == 3  # no second key fetch
    known = home / ".podspawn" / "known_hosts"
    with known.open("a") as fh:
        fh.write(f"api.pod {other}\n")
    refused = pod_ssh("api.pod", "echo SHOULD-NOT-RUN")
    assert refused.returncode == 255
    assert "SHOULD-NOT-RUN" not in refused.stdout
    assert "Host key verification failed" in refused.stderr
