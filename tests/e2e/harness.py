"""The end-to-end harness without pytest, shared by ``conftest.py`` and ``bench/``.

The podspawn under test is installed by the project's own ``install.sh`` into a root-owned
prefix (sshd refuses an AuthorizedKeysCommand below any writable directory, so never a temp
dir), with its own config under ``/srv/podspawn-e2e``. A private sshd listens on a free
loopback port; ``podspawn server-setup --sshd-config`` wires it up exactly as on a server.
Everything the run creates carries this installation's id and is removed at the end.

Failures raise :class:`HarnessError`, an ``AssertionError`` so that a fixture failing here
reads in pytest exactly as the inline asserts it replaces.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Lets several e2e runs share one machine: each gets its own prefix, root and user names.
RUN_ID = os.environ.get("PODSPAWN_E2E_ID", "")
_SUFFIX = f"-{RUN_ID}" if RUN_ID else ""
PREFIX = Path(f"/opt/podspawn-e2e{_SUFFIX}")
BIN = PREFIX / "bin" / "podspawn"
ROOT = Path(f"/srv/podspawn-e2e{_SUFFIX}")
IMAGE = "debian:bookworm"
#: The engine the installation under test runs sessions on (``runtime.backend``):
#: PODSPAWN_E2E_BACKEND=podman runs the same tests on rootful Podman.
BACKEND = os.environ.get("PODSPAWN_E2E_BACKEND", "docker")
#: The CLI a test inspects that engine with (Podman's takes the Docker CLI's commands).
ENGINE = "podman" if BACKEND == "podman" else "docker"


class HarnessError(AssertionError):
    """The harness could not build its installation; the message says why."""


def uname(base: str) -> str:
    """The login name for ``base`` in this run (``sarah``, or ``sarahb`` with PODSPAWN_E2E_ID=b)."""
    return f"{base}{RUN_ID}" if RUN_ID else base


def run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


def require(condition: bool, message: str) -> None:
    if not condition:
        raise HarnessError(message)


def _podman_answers() -> bool:
    return run(["podman", "--remote", "version"]).returncode == 0


def ensure_docker() -> None:
    """Root and a running dockerd (started with scripts/start-services.sh if need be), and
    Podman's API service when the tests run on Podman."""
    require(os.geteuid() == 0, "the e2e tests run as root: use scripts/test.sh (sudo)")
    if run(["docker", "info"]).returncode != 0 or (BACKEND == "podman"
                                                   and not _podman_answers()):
        subprocess.run([str(REPO / "scripts" / "start-services.sh")], check=False)
    require(
        run(["docker", "info"]).returncode == 0,
        "dockerd is not running and could not be started; run scripts/start-services.sh "
        "and read /var/log/dockerd.log",
    )
    require(
        BACKEND != "podman" or _podman_answers(),
        "Podman's API service is not running and could not be started; install podman and "
        "run scripts/start-services.sh, then read /var/log/podman-service.log",
    )


def remove_containers(ids: Sequence[str]) -> None:
    """Force-remove containers, each by itself: Podman 4.3's ``rm -f`` removes none of them
    when one is missing (and still exits 0), and waits 10 s for a process that ignores
    SIGTERM unless told ``-t 0``."""
    for container in ids:
        run([ENGINE, "rm", "-f", *(["-t", "0"] if ENGINE == "podman" else []), container])


def load_into_podman(image: str) -> None:
    """Copy ``image`` from Docker into Podman (as an admin would: ``docker save | podman
    load``) unless Podman has it; nothing here reaches a registry."""
    if BACKEND != "podman" or run(["podman", "image", "exists", image]).returncode == 0:
        return
    loaded = subprocess.run(f"docker save {image} | podman load", shell=True,
                            capture_output=True, text=True, check=False)
    require(loaded.returncode == 0, f"docker save {image} | podman load failed:\n"
                                    f"{loaded.stdout}{loaded.stderr}")


def install() -> Path:
    """podspawn from this checkout, installed the way install.sh installs it."""
    result = run(
        [str(REPO / "install.sh"), "--prefix", str(PREFIX), "--bin-dir", str(PREFIX / "bin"),
         "--no-system-packages", "--no-setup"]
    )
    require(result.returncode == 0, f"install.sh failed:\n{result.stdout}\n{result.stderr}")
    if run(["docker", "image", "inspect", IMAGE]).returncode != 0:
        boot = run([str(BIN), "images", "bootstrap", IMAGE])
        require(boot.returncode == 0, f"images bootstrap failed:\n{boot.stderr}")
    load_into_podman(IMAGE)
    return BIN


def wait_for(predicate, timeout: float = 60.0, step: float = 0.5):  # type: ignore[no-untyped-def]
    """The first truthy value of ``predicate()`` within ``timeout`` seconds, else its last."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"sshd on port {port} did not answer")


@dataclass
class Server:
    """A podspawn installation behind a private sshd, plus client-side helpers."""

    port: int
    root: Path
    config: Path
    sshd_config: Path
    known_hosts: Path
    client_dir: Path
    sshd_pid: int = 0
    users: dict[str, Path] = field(default_factory=dict)

    # -- admin side ------------------------------------------------------------------------
    def podspawn(self, *args: str, input: str | None = None,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        return run([str(BIN), "--config", str(self.config), *args], input=input, env=full_env)

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(self.config_text_base() + extra)
        self.config.chmod(0o644)

    def set_config(self, overrides: dict | None = None) -> None:
        """The base test config with ``overrides`` merged in per section (None resets)."""
        import yaml

        data = yaml.safe_load(self.config_text_base())
        current = yaml.safe_load(self.config.read_text()) if self.config.exists() else None
        if isinstance(current, dict) and current.get("projects"):
            data["projects"] = current["projects"]  # registered by add-project: keep them
        for section, values in (overrides or {}).items():
            if isinstance(values, dict):
                data.setdefault(section, {}).update(values)
            else:
                data[section] = values
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        self.config.chmod(0o644)

    def config_text_base(self) -> str:
        return (
            f"auth:\n  key_dir: {self.root}/keys\n"
            f"defaults:\n  image: {IMAGE}\n"
            "session:\n  grace_period: 60s\n"
            f"state:\n  db_path: {self.root}/state/state.db\n  lock_dir: {self.root}/state/locks\n"
            f"  homes_dir: {self.root}/state/homes\n"
            f"log:\n  file: {self.root}/log/podspawn.log\n"
            "resources:\n  max_per_user: 0\n"
            f"users_dir: {self.root}/users\n"
            f"runtime:\n  backend: {BACKEND}\n"
        )

    def pod_tunnel_config(self, user: str, directory: Path, pods: Sequence[str]) -> Path:
        """An ssh config in ``directory`` where ``NAME.pod`` tunnels through the outer login
        with a plain ProxyCommand (no podspawn client), the pod key for each of ``pods``
        fetched over the verified outer connection."""
        key = self.key_for(user)
        config = directory / "ssh_config"
        pod_known = directory / "pod_known_hosts"
        common = (f"  IdentityFile {key}\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n"
                  "  BatchMode yes\n  LogLevel ERROR\n")
        config.write_text(
            f"Host podserver\n  HostName 127.0.0.1\n  Port {self.port}\n{common}"
            f"  UserKnownHostsFile {self.known_hosts}\n"
            "Host *.pod\n"
            f"  ProxyCommand ssh -F {config} -T %r@podserver podspawn-tunnel %n\n"
            f"{common}  UserKnownHostsFile {pod_known}\n"
        )
        fetched = run(["ssh", "-F", str(config), f"{user}@podserver", "podspawn-hostkey"],
                      timeout=60)
        if fetched.returncode != 0 or not fetched.stdout.startswith("ssh-ed25519 "):
            raise HarnessError(f"podspawn-hostkey failed: {fetched.stderr}")
        line = fetched.stdout.strip()
        pod_known.write_text("".join(f"{pod} {line}\n" for pod in pods))
        return config

    def install_id(self) -> str:
        with sqlite3.connect(self.root / "state" / "state.db") as conn:
            return str(conn.execute("SELECT value FROM meta WHERE key='install_id'").fetchone()[0])

    def key_for(self, user: str) -> Path:
        """A client key pair for ``user`` (made once), registered with ``add-user``."""
        if user not in self.users:
            key = self.client_dir / f"id_{user}"
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                                f"{user}@e2e", "-f", str(key)], check=True)
            self.users[user] = key
        return self.users[user]

    def add_user(self, user: str) -> Path:
        key = self.key_for(user)
        result = self.podspawn("add-user", user, "--key-file", f"{key}.pub")
        assert result.returncode == 0, result.stderr
        return key

    def fresh_user(self, base: str) -> str:
        """A newly added user ``base`` with this run's suffix, anything of an earlier one gone."""
        name = uname(base)
        self.podspawn("remove-user", name, "--force")
        self.add_user(name)
        return name

    # -- client side -----------------------------------------------------------------------
    def ssh_argv(self, user: str, *, key: Path | None = None,
                 opts: Sequence[str] = ()) -> list[str]:
        key = key or self.key_for(user)
        return [
            "ssh", "-F", "/dev/null", "-p", str(self.port), "-i", str(key),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "LogLevel=ERROR", *opts, f"{user}@127.0.0.1",
        ]

    def ssh(self, user: str, command: str | None = None, *, key: Path | None = None,
            opts: Sequence[str] = (), input: bytes | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[bytes]:
        argv = self.ssh_argv(user, key=key, opts=opts)
        if command is not None:
            argv.append(command)
        return subprocess.run(argv, input=input if input is not None else b"",
                              capture_output=True, timeout=timeout, check=False)

    def client_opts(self) -> list[str]:
        """Options for sftp/scp/rsync's ssh, matching ``ssh_argv``."""
        return ["-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR"]


def write_sshd_config(root: Path, port: int) -> Path:
    host_key = root / "ssh_host_ed25519_key"
    if not host_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                       check=True)
    path = root / "sshd_config"
    path.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {root}/sshd.pid\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "AuthorizedKeysFile .ssh/authorized_keys\nLogLevel VERBOSE\nMaxStartups 100:30:200\n"
        "MaxSessions 50\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
        "AcceptEnv LANG LC_*\n"
    )
    return path


def cleanup_installation(server: Server) -> None:
    for user in list_podspawn_users(server):
        server.podspawn("remove-user", user, "--force")
    try:
        iid = server.install_id()
    except sqlite3.Error:
        return
    server.podspawn("firewall", "remove")  # this installation's packet-filter chains
    for kind in ("container", "network"):
        listed = run([ENGINE, kind, "ls", "-aq" if kind == "container" else "-q",
                      "--filter", f"label=podspawn-instance={iid}"])
        ids = listed.stdout.split()
        if kind == "container":
            remove_containers(ids)
        elif ids:
            run([ENGINE, kind, "rm", *ids])


def list_podspawn_users(server: Server) -> list[str]:
    keys = server.root / "keys"
    return sorted(p.name for p in keys.iterdir()) if keys.is_dir() else []


def _stop_sshd(root: Path) -> None:
    """SIGTERM the sshd in ``root/sshd.pid`` and wait (up to 5 s) until it has exited."""
    try:
        pid = int((root / "sshd.pid").read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.02)


def start_server(client_dir: Path) -> Server:
    """A fresh installation root, a private sshd on loopback and ``server-setup`` run on it.

    Whatever a previous run with the same id left behind is removed first. Stop it with
    :func:`stop_server`.
    """
    if ROOT.exists():
        stale = Server(port=0, root=ROOT, config=ROOT / "config.yaml",
                       sshd_config=ROOT / "sshd_config", known_hosts=ROOT / "kh",
                       client_dir=ROOT)
        cleanup_installation(stale)
        if (ROOT / "sshd.pid").exists():
            _stop_sshd(ROOT)
        shutil.rmtree(ROOT)
    ROOT.mkdir(mode=0o755, parents=True)
    ROOT.chmod(0o755)
    port = free_port()
    srv = Server(port=port, root=ROOT, config=ROOT / "config.yaml",
                 sshd_config=write_sshd_config(ROOT, port),
                 known_hosts=client_dir / "known_hosts", client_dir=client_dir)
    srv.write_config()
    host_pub = (ROOT / "ssh_host_ed25519_key.pub").read_text().split()
    srv.known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    os.makedirs("/run/sshd", exist_ok=True)
    check = run(["/usr/sbin/sshd", "-t", "-f", str(srv.sshd_config)])
    require(check.returncode == 0, check.stderr)
    started = run(["/usr/sbin/sshd", "-f", str(srv.sshd_config), "-E", str(ROOT / "sshd.log")])
    require(started.returncode == 0, started.stderr)
    wait_port(port)
    setup = srv.podspawn("server-setup", "--sshd-config", str(srv.sshd_config))
    require(setup.returncode == 0, setup.stdout + setup.stderr)
    time.sleep(0.3)  # SIGHUP makes sshd re-exec itself
    wait_port(port)
    srv.sshd_pid = int((ROOT / "sshd.pid").read_text().split()[0])
    return srv


def stop_server(server: Server) -> None:
    """Remove the installation's users, containers and networks, then stop its sshd."""
    try:
        cleanup_installation(server)
    finally:
        _stop_sshd(server.root)
