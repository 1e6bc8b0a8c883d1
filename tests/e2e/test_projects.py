"""The tutorial's project, for real: a Node.js API tested against PostgreSQL.

The Podfile uses only what this network can reach: Debian packages for Node.js and the
PostgreSQL client, and a PostgreSQL service image built here from Debian's package.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.e2e.harness import ENGINE, RUN_ID, uname

POSTGRES_IMAGE = "podspawn-e2e/postgres:15"
#: Podman's builder runs netavark, which runs iptables from /usr/sbin.
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

POSTGRES_ENTRY = textwrap.dedent("""\
    set -e
    BIN=/usr/lib/postgresql/15/bin
    DATA=/var/lib/postgresql/data
    mkdir -p "$DATA" /run/postgresql
    chown -R postgres:postgres "$DATA" /run/postgresql
    if [ ! -s "$DATA/PG_VERSION" ]; then
      printf '%s\\n' "$POSTGRES_PASSWORD" > /tmp/pw && chown postgres /tmp/pw
      su postgres -c "$BIN/initdb -D $DATA -U postgres --pwfile=/tmp/pw \\
        --auth-local=trust --auth-host=md5" >/dev/null
      echo "listen_addresses='*'" >> "$DATA/postgresql.conf"
      echo "host all all 0.0.0.0/0 md5" >> "$DATA/pg_hba.conf"
      su postgres -c "$BIN/pg_ctl -D $DATA -w -o '-c listen_addresses=' start" >/dev/null
      su postgres -c "psql -q -c 'CREATE DATABASE $POSTGRES_DB'"
      su postgres -c "$BIN/pg_ctl -D $DATA -w stop" >/dev/null
    fi
    exec su postgres -c "$BIN/postgres -D $DATA"
""")

PODFILE = textwrap.dedent("""\
    base: debian:bookworm
    packages:
      - nodejs
      - npm
      - git
      - curl
      - ripgrep
      - postgresql-client
    shell: /bin/bash
    env:
      DATABASE_URL: "postgres://postgres:devpass@postgres:5432/testdb"
      NODE_ENV: development
    services:
      - name: postgres
        image: %s
        ports: [5432]
        env:
          POSTGRES_PASSWORD: devpass
          POSTGRES_DB: testdb
    on_create: |
      cd /workspace/api && npm install --offline --no-audit --no-fund
    on_start: |
      echo "API dev environment ready"
      echo "Run: cd /workspace/api && npm test"
""") % POSTGRES_IMAGE

TEST_JS = textwrap.dedent("""\
    // Talks to PostgreSQL through DATABASE_URL, with the psql client.
    const { execFileSync } = require("child_process");
    const url = process.env.DATABASE_URL;
    if (!url) { console.error("DATABASE_URL is not set"); process.exit(1); }
    const sql = (q) => execFileSync("psql", [url, "-tAc", q]).toString().trim();
    sql("CREATE TABLE IF NOT EXISTS users(email text)");
    sql("INSERT INTO users VALUES ('" + (process.argv[2] || "a@example.com") + "')");
    const count = Number(sql("SELECT count(*) FROM users"));
    if (!(count >= 1)) { console.error("no rows"); process.exit(1); }
    console.log("users: " + count);
    console.log("tests passed");
""")


@pytest.fixture(scope="module")
def postgres_image(server):
    if subprocess.run([ENGINE, "image", "inspect", POSTGRES_IMAGE],
                      capture_output=True, check=False).returncode == 0:
        return POSTGRES_IMAGE
    dockerfile = (
        "FROM debian:bookworm\n"
        "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
        "--no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/*\n"
        "COPY entry.sh /entry.sh\nCMD [\"sh\", \"/entry.sh\"]\n"
    )
    ctx = server.client_dir / "pgctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "entry.sh").write_text(POSTGRES_ENTRY)
    build = subprocess.run([ENGINE, "build", "-q", "-t", POSTGRES_IMAGE, str(ctx)],
                           capture_output=True, text=True, timeout=900, check=False,
                           env={"DOCKER_BUILDKIT": "0", "PATH": SBIN_PATH})
    assert build.returncode == 0, build.stderr
    return POSTGRES_IMAGE


def make_repo(path: Path, podfile: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "podfile.yaml").write_text(podfile)
    (path / "package.json").write_text(json.dumps(
        {"name": "node-api", "version": "1.0.0", "private": True,
         "scripts": {"test": "node test.js"}}, indent=2))
    (path / "test.js").write_text(TEST_JS)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return path


def project_ssh(server, user, command, project="api"):
    return server.ssh(user, command, opts=("-o", f"SetEnv=PODSPAWN_PROJECT={project}"),
                      timeout=900)


@pytest.fixture(scope="module")
def api(server, postgres_image, tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("repo") / "node-api", PODFILE)
    server.podspawn("remove-project", "api")
    old = subprocess.run([ENGINE, "images", "-q", "--filter", "label=podspawn-project=api"],
                         capture_output=True, text=True, check=True).stdout.split()
    # build for real every run, so the build path and its progress are exercised; not when
    # several runs share this engine (PODSPAWN_E2E_ID), which would pull the image from
    # under each other's sessions
    if old and not RUN_ID:
        subprocess.run([ENGINE, "rmi", "-f", *old], capture_output=True, check=False)
    result = server.podspawn("add-project", "api", "--repo", str(repo))
    assert result.returncode == 0, result.stdout + result.stderr
    yield result
    server.podspawn("remove-project", "api")


@pytest.mark.podman
def test_add_project_builds_and_registers(server, api):
    assert "project api registered, image: podspawn/api:podfile-" in api.stdout
    if not RUN_ID:  # a shared engine may already hold the image (see the api fixture)
        assert "Building environment from podfile.yaml" in api.stderr
        assert "Installing packages: nodejs npm git curl ripgrep postgresql-client... done" \
            in api.stderr
        assert "Running on_create: cd /workspace/api && npm install" in api.stderr
        assert "Pulling base image debian:bookworm... done" in api.stderr
    config = server.config.read_text()
    assert "projects:" in config and "api:" in config and "repo:" in config
    listed = server.podspawn("list-projects")
    assert "api" in listed.stdout


@pytest.mark.podman
def test_npm_test_talks_to_postgres(server, api):
    user = uname("pgsarah")
    server.podspawn("remove-user", user, "--force")
    server.add_user(user)
    first = project_ssh(server, user, "hostname; cd /workspace/api && npm test")
    assert first.returncode == 0, first.stderr.decode() + first.stdout.decode()
    out = first.stdout.decode()
    assert f"podspawn-{user}-api" in out
    assert "tests passed" in out
    err = first.stderr.decode()
    assert f"Starting companion service: postgres ({POSTGRES_IMAGE})... done" in err
    assert "API dev environment ready" in err

    started = time.monotonic()
    second = project_ssh(server, user, "cd /workspace/api && npm test")
    assert second.returncode == 0
    assert time.monotonic() - started < 10
    assert "Starting companion service" not in second.stderr.decode()
    assert "Building environment" not in second.stderr.decode()


def test_two_users_have_separate_databases(server, api):
    alice, bob = uname("pgalice"), uname("pgbob")
    for user in (alice, bob):
        server.podspawn("remove-user", user, "--force")
        server.add_user(user)
    for _ in range(3):
        assert project_ssh(server, alice, "cd /workspace/api && node test.js a").returncode == 0
    result = project_ssh(server, bob, "cd /workspace/api && node test.js b")
    assert result.returncode == 0, result.stderr.decode()
    assert "users: 1" in result.stdout.decode()
    names = subprocess.run([ENGINE, "ps", "--format", "{{.Names}}"], capture_output=True,
                           text=True, check=True).stdout.split()
    assert f"podspawn-service.{alice}.api.postgres" in names
    assert f"podspawn-service.{bob}.api.postgres" in names


@pytest.mark.podman
def test_services_end_with_the_session_but_the_workspace_stays(server, api):
    user = uname("pgcarol")
    server.podspawn("remove-user", user, "--force")
    server.add_user(user)
    server.set_config({"session": {"grace_period": "1s"}})
    try:
        edit = project_ssh(server, user, "echo edited >> /workspace/api/NOTES.md")
        assert edit.returncode == 0, edit.stderr.decode()
        time.sleep(2)
        assert server.podspawn("cleanup").returncode == 0
        names = subprocess.run([ENGINE, "ps", "-a", "--format", "{{.Names}}"],
                               capture_output=True, text=True, check=True).stdout.split()
        assert f"podspawn-{user}-api" not in names
        assert f"podspawn-service.{user}.api.postgres" not in names
        again = project_ssh(server, user, "cat /workspace/api/NOTES.md; ls /workspace/api")
        assert again.returncode == 0
        assert "edited" in again.stdout.decode()
        assert "test.js" in again.stdout.decode()
    finally:
        server.set_config(None)
        server.podspawn("remove-user", user, "--force")
    volumes = subprocess.run([ENGINE, "volume", "ls", "-q", "--filter",
                              f"label=podspawn-user={user}"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert volumes == []


@pytest.mark.parametrize(
    ("podfile", "expected"),
    [
        ("base: debian:bookworm\npakages: [git]\n", "pakages"),
        ("packages: [git]\n", "base"),
        ("base: debian:bookworm\nservices:\n  - name: db\n", "services"),
        ("base: debian:bookworm\nshell: bash\n", "shell"),
        ("base: debian:bookworm\nservices:\n  - name: db\n    image: x\n    volumes: "
         "['/etc:/host']\n", "/etc"),
    ],
)
def test_invalid_podfile_is_refused_cleanly(server, tmp_path, podfile, expected):
    repo = make_repo(tmp_path / "bad", podfile)
    before = server.config.read_text()
    result = server.podspawn("add-project", "bad", "--repo", str(repo))
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert server.config.read_text() == before
    leftovers = subprocess.run([ENGINE, "ps", "-aq", "--filter", "label=podspawn-project=bad"],
                               capture_output=True, text=True, check=True).stdout.split()
    assert leftovers == []


def _containers(label: str) -> list[str]:
    return subprocess.run([ENGINE, "ps", "-aq", "--filter", f"label={label}"],
                          capture_output=True, text=True, check=True).stdout.split()


def test_failed_build_names_the_step_and_leaves_nothing(server, tmp_path):
    podfile = ("base: debian:bookworm\non_create: |\n  echo preparing the thing\n"
               "  echo something broke >&2\n  exit 3\n")
    repo = make_repo(tmp_path / "broken", podfile)
    before = server.config.read_text()
    result = server.podspawn("add-project", "broken", "--repo", str(repo))
    assert result.returncode != 0
    assert "on_create of project broken failed" in result.stderr  # the failing step
    assert "something broke" in result.stderr  # its last output lines
    assert "Traceback" not in result.stderr
    assert server.config.read_text() == before
    assert _containers("podspawn-project=broken") == []


def test_a_missing_service_image_is_refused_at_add_project(server, tmp_path):
    podfile = ("base: debian:bookworm\nservices:\n"
               "  - name: second\n    image: podspawn-e2e/does-not-exist:1\n")
    repo = make_repo(tmp_path / "noimg", podfile)
    before = server.config.read_text()
    result = server.podspawn("add-project", "noimg", "--repo", str(repo))
    assert result.returncode != 0
    assert ("the image podspawn-e2e/does-not-exist:1 of service second is not on this server "
            "and cannot be pulled") in result.stderr
    assert "Traceback" not in result.stderr
    assert server.config.read_text() == before


def test_partial_service_start_is_rolled_back(server, tmp_path):
    podfile = (
        "base: debian:bookworm\nservices:\n"
        "  - name: first\n    image: debian:bookworm\n    command: [sleep, infinity]\n"
        "  - name: second\n    image: debian:bookworm\n    command: [sh, -c, 'sleep 1; exit 3']\n"
        "    ports: [5999]\n"
    )
    repo = make_repo(tmp_path / "twosvc", podfile)
    added = server.podspawn("add-project", "twosvc", "--repo", str(repo))
    assert added.returncode == 0, added.stderr
    user = uname("svcuser")
    server.podspawn("remove-user", user, "--force")
    server.add_user(user)
    try:
        result = project_ssh(server, user, "true", project="twosvc")
        assert result.returncode != 0
        assert "companion service second stopped right after starting" in \
            result.stderr.decode()
        assert _containers(f"podspawn-user={user}") == []
        nets = subprocess.run([ENGINE, "network", "ls", "-q", "--filter",
                               f"label=podspawn-user={user}"], capture_output=True, text=True,
                              check=True).stdout.split()
        assert nets == []
    finally:
        server.podspawn("remove-user", user, "--force")
        server.podspawn("remove-project", "twosvc")


def test_update_project_rebuilds_only_on_change(server, tmp_path):
    repo = make_repo(tmp_path / "upd", "base: debian:bookworm\nenv:\n  STAGE: one\n")
    added = server.podspawn("add-project", "upd", "--repo", str(repo))
    assert added.returncode == 0, added.stderr
    try:
        same = server.podspawn("update-project", "upd")
        assert same.returncode == 0, same.stderr
        assert "image unchanged" in same.stdout
        (repo / "podfile.yaml").write_text("base: debian:bookworm\nenv:\n  STAGE: two\n")
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                        "commit", "-qam", "stage two"], check=True)
        changed = server.podspawn("update-project", "upd")
        assert changed.returncode == 0, changed.stderr
        assert "image rebuilt" in changed.stdout
        old_tag = added.stdout.strip().rsplit(" ", 1)[-1]
        new_tag = changed.stdout.strip().rsplit(" ", 1)[-1]
        assert old_tag != new_tag
        user = uname("upduser")
        server.podspawn("remove-user", user, "--force")
        server.add_user(user)
        seen = project_ssh(server, user, "echo $STAGE", project="upd")
        assert seen.stdout.decode().strip() == "two"
        server.podspawn("remove-user", user, "--force")
    finally:
        removed = server.podspawn("remove-project", "upd")
        assert "docker rmi" in removed.stdout


def test_devcontainer_json_is_used_without_a_podfile(server, tmp_path):
    repo = tmp_path / "dc"
    repo.mkdir()
    (repo / ".devcontainer.json").write_text(
        '{\n  // a comment\n  "image": "debian:bookworm",\n'
        '  "containerEnv": {"FROM_DC": "yes"},\n  "postStartCommand": "echo dc-started",\n}\n')
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "dc"], check=True)
    added = server.podspawn("add-project", "dc", "--repo", str(repo))
    assert added.returncode == 0, added.stderr
    user = uname("dcuser")
    server.podspawn("remove-user", user, "--force")
    server.add_user(user)
    try:
        result = project_ssh(server, user, "echo $FROM_DC", project="dc")
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.decode().strip() == "yes"
        assert "dc-started" in result.stderr.decode()
    finally:
        server.podspawn("remove-user", user, "--force")
        server.podspawn("remove-project", "dc")
