"""Local mode end to end: ``podspawn dev``/``down``/``prebuild`` run by an ordinary account in
the ``docker`` group (never root), on the real dockerd, with the podspawn install.sh put in
place. Everything a test makes carries the run's user name and is removed at the end."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, free_port, uname
from tests.e2e.project_helpers import forget, pname, project_images
from tests.e2e.test_projects import postgres_image  # noqa: F401 - a fixture


@dataclass
class Dev:
    """An ordinary host account that can reach the Docker socket."""

    user: str
    home: Path

    def run(self, cwd: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        extra = [f"{k}={v}" for k, v in (env or {}).items()]
        return subprocess.run(
            ["runuser", "-u", self.user, "--", "env", f"HOME={self.home}", f"USER={self.user}",
             "PATH=/usr/local/bin:/usr/bin:/bin", *extra, str(BIN), *args],
            cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL)

    def checkout(self, name: str, podfile: str) -> Path:
        path = self.home / name
        path.mkdir()
        (path / "podfile.yaml").write_text(podfile)
        shutil.chown(path, self.user, self.user)
        shutil.chown(path / "podfile.yaml", self.user, self.user)
        return path


def _objects(user: str, kind: str) -> list[str]:
    command = {"container": ["ps", "-aq"], "network": ["network", "ls", "-q"],
               "volume": ["volume", "ls", "-q"]}[kind]
    out = subprocess.run(["docker", *command, "--filter", "label=podspawn-mode=local",
                          "--filter", f"label=podspawn-user={user}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.fixture
def dev(installed: Path) -> Iterator[Dev]:
    user = uname("ldev")
    subprocess.run(["userdel", "-r", user], capture_output=True, check=False)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", user], check=True)
    subprocess.run(["usermod", "-aG", "docker", user], check=True)
    account = Dev(user=user, home=Path(pwd.getpwnam(user).pw_dir))
    assert os.stat(account.home).st_uid != 0
    try:
        yield account
    finally:
        for kind, rm in (("container", ["rm", "-f"]), ("network", ["network", "rm"]),
                         ("volume", ["volume", "rm", "-f"])):
            found = _objects(user, kind)
            if found:
                subprocess.run(["docker", *rm, *found], capture_output=True, check=False)
        subprocess.run(["userdel", "-r", user], capture_output=True, check=False)


@pytest.fixture
def project() -> Iterator[str]:
    name = pname("ldev")
    yield name
    images = project_images(name)
    if images:
        subprocess.run(["docker", "rmi", "-f", *images], capture_output=True, check=False)


def _podfile(project: str, extra: str = "") -> str:
    return f"base: debian:bookworm\nname: {project}\non_start: echo on-start-ran\n{extra}"


def _container(user: str) -> str:
    (found,) = _objects(user, "container")
    return found


def test_dev_runs_the_command_in_the_checkout_as_the_user_and_reattaches(dev: Dev,
                                                                         project: str):
    checkout = dev.checkout("app", _podfile(project))
    first = dev.run(checkout, "dev", "--", "sh", "-c",
                    "echo written > from-container.txt; id -u; pwd; exit 7")
    assert first.returncode == 7, first.stderr
    assert f"{project}-" in first.stderr and "| debian:bookworm" in first.stderr
    assert "on-start-ran" in first.stderr
    assert f"mount: ~/app -> /workspace/{project}" in first.stderr
    uid = pwd.getpwnam(dev.user).pw_uid
    assert first.stdout.split() == [str(uid), f"/workspace/{project}"]
    written = checkout / "from-container.txt"
    assert written.read_text() == "written\n"
    assert written.stat().st_uid == uid  # the account's own file, not root's or 1000's
    container = _container(dev.user)
    labels = json.loads(subprocess.run(
        ["docker", "inspect", "-f", "{{json .Config.Labels}}", container],
        capture_output=True, text=True, check=True).stdout)
    assert labels["podspawn-mode"] == "local"

    # arguments arrive intact (no re-joining into one string), and the same container serves
    second = dev.run(checkout, "dev", "--", "printf", "%s|", "a b", "$HOME", "c;d")
    assert second.returncode == 0, second.stderr
    assert second.stdout == "a b|$HOME|c;d|"
    assert "Re-attaching to" in second.stderr
    assert _container(dev.user) == container

    shown = dev.run(checkout, "--json", "dev", "--", "true")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert set(data) == {"name", "base", "packages", "services", "ports", "mount",
                         "mount_mode", "reattached"}
    assert data["reattached"] is True and _container(dev.user) == container


def test_no_podfile_points_at_init(dev: Dev):
    empty = dev.home / "empty"
    empty.mkdir()
    shutil.chown(empty, dev.user, dev.user)
    result = dev.run(empty, "dev")
    assert result.returncode != 0
    assert "podspawn init" in result.stderr and "Traceback" not in result.stderr
    assert _objects(dev.user, "container") == []


def test_leaving_starts_the_grace_period_and_the_next_command_reconciles(dev: Dev,
                                                                         project: str):
    checkout = dev.checkout("app", _podfile(project))
    grace = {"PODSPAWN_LOCAL_GRACE": "2s"}
    assert dev.run(checkout, "dev", "--", "true", env=grace).returncode == 0
    assert len(_objects(dev.user, "container")) == 1  # kept through the grace period
    listed = dev.run(checkout, "--json", "list", "--local", env=grace)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["status"] == "grace_period" and row["user"] == dev.user
    time.sleep(3)
    result = dev.run(checkout, "down", env=grace)  # reconciles first: nothing left to stop
    assert result.returncode != 0 and "no local session" in result.stderr, result.stderr
    assert _objects(dev.user, "container") == [] and _objects(dev.user, "network") == []

    assert dev.run(checkout, "dev", "--", "true", env=grace).returncode == 0
    time.sleep(3)
    ended = dev.run(checkout, "--json", "cleanup", "--local", env=grace)
    assert ended.returncode == 0, ended.stderr
    assert json.loads(ended.stdout) == {"sessions_ended": [row["project"]]}
    assert _objects(dev.user, "container") == []


def test_prebuild_prints_the_tag_add_project_gives(dev: Dev, server, tmp_path: Path):
    name = pname("lpre")
    podfile = _podfile(name, "packages: []\n")
    checkout = dev.checkout("pre", podfile)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "podfile.yaml").write_text(podfile)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "p"], check=True)
    try:
        built = dev.run(checkout, "prebuild")
        assert built.returncode == 0, built.stderr
        tag = built.stdout.strip()
        assert tag.startswith(f"podspawn/{name}:podfile-")
        added = server.podspawn("--json", "add-project", name, "--repo", str(repo))
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout)["image_tag"] == tag
        named = dev.run(checkout, "--json", "prebuild", "--tag", f"{name}-mine:1")
        assert named.returncode == 0, named.stderr
        assert json.loads(named.stdout) == {"tag": f"{name}-mine:1"}
        ids = {subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref],
                              capture_output=True, text=True, check=True).stdout
               for ref in (tag, f"{name}-mine:1")}
        assert len(ids) == 1
    finally:
        forget(server, name)
        subprocess.run(["docker", "rmi", f"{name}-mine:1"], capture_output=True, check=False)


def _other_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        address = line.split()[3].split("/")[0]
        if not address.startswith("127."):
            return address
    pytest.fail("this host has no IPv4 address besides loopback to test against")


def _answer(host: str, port: int) -> bytes | None:
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            return sock.recv(64)
    except OSError:
        return None


_SERVE = ("perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalPort=>shift,Listen=>5,"
          "ReuseAddr=>1) or die; while($c=$s->accept){print $c \"inside\\n\"; close $c}' "
          "{port} >/dev/null 2>&1 </dev/null &")


def test_ports_are_published_on_loopback_only_and_a_busy_one_moves(dev: Dev, project: str):
    port = free_port()
    checkout = dev.checkout("web", _podfile(project, f"ports:\n  expose: [{port}]\n"))
    holder = socket.socket()
    holder.bind(("0.0.0.0", port))
    holder.listen()
    try:
        result = dev.run(checkout, "--json", "dev", "--", "sh", "-c",
                         _SERVE.replace("{port}", str(port)))
        assert result.returncode == 0, result.stderr
        (published,) = json.loads(result.stdout)["ports"]
        assert published["container"] == port and published["host_ip"] == "127.0.0.1"
        moved = published["host"]
        assert moved != port
        deadline = time.monotonic() + 20
        while _answer("127.0.0.1", moved) != b"inside\n" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _answer("127.0.0.1", moved) == b"inside\n"  # the positive control
        assert _answer(_other_address(), moved) is None
        banner = dev.run(checkout, "dev", "--fresh", "--", "true")
        assert f"127.0.0.1:{moved} -> :{port} ({port} was busy)" in banner.stderr
    finally:
        holder.close()


def test_expose_strategy_refuses_a_busy_port(dev: Dev, project: str):
    port = free_port()
    checkout = dev.checkout(
        "strict", _podfile(project, f"ports:\n  expose: [{port}]\n  strategy: expose\n"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = dev.run(checkout, "dev", "--", "true")
    assert result.returncode != 0
    assert f"port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert _objects(dev.user, "container") == [] and _objects(dev.user, "network") == []


def test_down_clean_removes_session_services_network_and_volumes(dev: Dev, project: str):
    services = ("services:\n  - name: cache\n    image: debian:bookworm\n"
                "    command: [sleep, infinity]\n    volumes: ['data:/data']\n")
    checkout = dev.checkout("svc", _podfile(project, services))
    result = dev.run(checkout, "dev", "--", "sh", "-c", "getent hosts cache")
    assert result.returncode == 0, result.stderr
    assert "services: cache" in result.stderr
    assert len(_objects(dev.user, "container")) == 2
    assert len(_objects(dev.user, "volume")) == 1
    plain = dev.run(checkout, "down")
    assert plain.returncode == 0 and "Stopped " in plain.stdout, plain.stderr
    assert _objects(dev.user, "container") == [] and len(_objects(dev.user, "volume")) == 1
    assert dev.run(checkout, "dev", "--", "true").returncode == 0
    cleaned = dev.run(checkout, "--json", "down", "--clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert len(json.loads(cleaned.stdout)["volumes_removed"]) == 1
    for kind in ("container", "network", "volume"):
        assert _objects(dev.user, kind) == [], kind


def test_a_servers_cleanup_leaves_local_sessions_alone(dev: Dev, project: str, server):
    checkout = dev.checkout("kept", _podfile(project))
    assert dev.run(checkout, "dev", "--", "true").returncode == 0
    container = _container(dev.user)
    result = server.podspawn("cleanup")
    assert result.returncode == 0, result.stderr
    assert _objects(dev.user, "container") == [container]
    assert dev.run(checkout, "down").returncode == 0
    assert _objects(dev.user, "container") == []


def test_a_devcontainer_json_is_enough(dev: Dev):
    name = pname("ldc")
    checkout = dev.home / name
    (checkout / ".devcontainer").mkdir(parents=True)
    (checkout / ".devcontainer" / "devcontainer.json").write_text(
        '{"image": "debian:bookworm", // comments are allowed\n'
        ' "postStartCommand": "echo dc-start"}\n')
    subprocess.run(["chown", "-R", f"{dev.user}:{dev.user}", str(checkout)], check=True)
    try:
        result = dev.run(checkout, "dev", "--", "sh", "-c", "pwd; exit 3")
        assert result.returncode == 3, result.stderr
        assert result.stdout.strip() == f"/workspace/{name}"
        assert "dc-start" in result.stderr
        assert dev.run(checkout, "down").returncode == 0
    finally:
        images = project_images(name)
        if images:
            subprocess.run(["docker", "rmi", "-f", *images], capture_output=True, check=False)


_NODE_TEST = """\
const assert = require('assert');
const { Client } = require('pg');
const greet = require('greet');

async function connect() {
  for (let i = 0; ; i++) {
    const client = new Client({ connectionString: process.env.DATABASE_URL });
    try { await client.connect(); return client; } catch (err) {
      if (i > 60) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

(async () => {
  const db = await connect();
  await db.query('CREATE TABLE IF NOT EXISTS notes (body text)');
  await db.query('INSERT INTO notes VALUES ($1)', [greet('db')]);
  const { rows } = await db.query('SELECT body FROM notes');
  assert.strictEqual(rows[rows.length - 1].body, 'hello db');
  await db.end();
  console.log('db test passed');
})().catch((err) => { console.error(err); process.exit(1); });
"""


def test_the_tutorials_node_api_passes_npm_test_against_its_postgres(
        dev: Dev, project: str, postgres_image: str) -> None:  # noqa: F811
    """Tutorial step 5's repository: Debian's nodejs, npm and node-pg (the ``pg`` module,
    no npm registry needed) from the Podfile's packages, ``on_create`` running ``npm
    install`` (a local ``file:`` dependency, so node_modules is made offline), and ``npm
    test`` talking to the companion postgres by name."""
    podfile = f"""base: debian:bookworm
name: {project}
packages: [nodejs, npm, node-pg]
workspace: /workspace/api
env:
  DATABASE_URL: "postgres://postgres:devpass@postgres:5432/testdb"
  NODE_ENV: development
services:
  - name: postgres
    image: {postgres_image}
    ports: [5432]
    env: {{POSTGRES_PASSWORD: devpass, POSTGRES_DB: testdb}}
on_create: |
  cd /workspace/api && npm install --no-audit --no-fund
on_start: |
  echo "API dev environment ready"
"""
    checkout = dev.checkout("api", podfile)
    (checkout / "package.json").write_text(json.dumps({
        "name": "api", "version": "1.0.0", "scripts": {"test": "node test/db.test.js"},
        "dependencies": {"greet": "file:vendor/greet"}}))
    (checkout / "vendor" / "greet").mkdir(parents=True)
    (checkout / "vendor" / "greet" / "package.json").write_text(
        '{"name": "greet", "version": "1.0.0", "main": "index.js"}')
    (checkout / "vendor" / "greet" / "index.js").write_text(
        "module.exports = (who) => 'hello ' + who;\n")
    (checkout / "test").mkdir()
    (checkout / "test" / "db.test.js").write_text(_NODE_TEST)
    subprocess.run(["chown", "-R", f"{dev.user}:{dev.user}", str(checkout)], check=True)
    result = dev.run(checkout, "dev", "--", "npm", "test", timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "db test passed" in result.stdout
    assert "services: postgres (:5432)" in result.stderr and "API dev environment ready" in \
        result.stderr
    # on_create's node_modules is in the host checkout (not hidden under the mount), the
    # account's own
    made = checkout / "node_modules" / "greet"
    assert made.exists() and (checkout / "node_modules").stat().st_uid == pwd.getpwnam(
        dev.user).pw_uid
    again = dev.run(checkout, "dev", "--", "npm", "test")
    assert again.returncode == 0 and "Running on_create" not in again.stderr, again.stderr
    assert dev.run(checkout, "down").returncode == 0
