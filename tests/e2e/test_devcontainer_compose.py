"""A devcontainer.json using Docker Compose: the app service (built from the repository's
Dockerfile) is the session container and PostgreSQL, with a healthcheck the app waits for,
its companion, reached as ``db``. Isolation-breaking Compose keys are refused by name.
Through the real sshd and dockerd."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import yaml

from tests.e2e.harness import ROOT, RUN_ID
from tests.e2e.project_helpers import forget, fresh_user, pname
from tests.e2e.test_devcontainer_build import commit, project_ssh, refused
from tests.e2e.test_projects import postgres_image  # noqa: F401 - a fixture

PASSWORD = f"s3cret-{RUN_ID or 'run'}"
SHARED = ROOT / "dc-compose-shared"

DOCKERFILE = textwrap.dedent("""\
    FROM debian:bookworm
    RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \\
        --no-install-recommends postgresql-client && rm -rf /var/lib/apt/lists/*
""")


def compose(image: str, **db_extra: object) -> dict[str, object]:
    db: dict[str, object] = {
        "image": image,
        "environment": {"POSTGRES_PASSWORD": "${DB_PASSWORD:-wrong}", "POSTGRES_DB": "app"},
        "volumes": ["pgdata:/var/lib/postgresql/data"],
        "healthcheck": {"test": ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U postgres"],
                        "interval": "1s", "timeout": "3s", "retries": 90},
    }
    for key, value in db_extra.items():
        if key == "volumes":
            db["volumes"] = [*db["volumes"], *value]  # type: ignore[misc]
        else:
            db[key] = value
    return {
        "services": {
            "app": {
                "build": {"context": ".", "dockerfile": "Dockerfile"},
                "command": "sleep infinity",
                "environment": ["PGPASSWORD=${DB_PASSWORD}", "PGDATABASE=app"],
                "volumes": ["..:/workspaces/app:cached"],
                "depends_on": {"db": {"condition": "service_healthy"}},
            },
            "db": db,
        },
        "volumes": {"pgdata": {}},
    }


def make_repo(path: Path, spec: dict[str, object]) -> Path:
    folder = path / ".devcontainer"
    folder.mkdir(parents=True)
    (folder / "devcontainer.json").write_text(
        "// compose\n" + json.dumps({"name": "app", "dockerComposeFile": "docker-compose.yml",
                                     "service": "app", "workspaceFolder": "/workspaces/app"}))
    (folder / "docker-compose.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (folder / ".env").write_text(f"DB_PASSWORD={PASSWORD}\n")
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (path / "README.md").write_text("compose project\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit(path, "init")
    return path


def test_compose_app_with_a_healthy_postgres(server, tmp_path, postgres_image):  # noqa: F811
    name = pname("dccompose")
    forget(server, name)
    repo = make_repo(tmp_path / "repo", compose(postgres_image))
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        user = fresh_user(server, "dccomposer")
        # the very first command, right after the login: the session started only once
        # the companion's healthcheck passed (initdb would still be running otherwise)
        seen = project_ssh(server, user, name,
                           "psql -h db -U postgres -tAc 'select 40 + 2'; echo PWD=$PWD; "
                           "getent hosts db >/dev/null && echo RESOLVES")
        out = seen.stdout.decode()
        assert seen.returncode == 0, out + seen.stderr.decode()
        lines = out.splitlines()
        assert lines[0] == "42", out
        assert "PWD=/workspaces/app" in lines and "RESOLVES" in lines
        # a table written in one login is still there in the next (the named volume)
        write = project_ssh(server, user, name, "psql -h db -U postgres -c "
                            "'create table t(x int); insert into t values (7)'")
        assert write.returncode == 0, write.stderr.decode()
        read = project_ssh(server, user, name, "psql -h db -U postgres -tAc 'select x from t'")
        assert read.stdout.decode().strip() == "7", read.stderr.decode()
        # a wrong password is refused: PGPASSWORD from .env is what made it work
        wrong = project_ssh(server, user, name,
                            "PGPASSWORD=nope psql -h db -U postgres -tAc 'select 1'")
        assert wrong.returncode != 0
        server.podspawn("remove-user", user, "--force")
    finally:
        forget(server, name)


def test_privileged_is_refused_naming_the_key(server, tmp_path, postgres_image):  # noqa: F811
    name = pname("dcpriv")
    repo = make_repo(tmp_path / "priv", compose(postgres_image, privileged=True))
    message = refused(server, name, repo)
    assert ("docker-compose.yml: services.db.privileged is refused: it would give the "
            "container root on the host") in message, message
    assert len(message.strip().splitlines()) == 1


def test_network_mode_host_is_refused(server, tmp_path, postgres_image):  # noqa: F811
    name = pname("dcnethost")
    repo = make_repo(tmp_path / "net", compose(postgres_image, network_mode="host"))
    assert "services.db.network_mode is refused" in refused(server, name, repo)


def test_a_host_bind_outside_the_allowed_roots_is_refused(
        server, tmp_path, postgres_image):  # noqa: F811
    name = pname("dcbind")
    repo = make_repo(tmp_path / "bind", compose(postgres_image,
                                                volumes=["/etc:/host-etc:ro"]))
    message = refused(server, name, repo)
    assert ("services.db.volumes.1 mounts the host path /etc, which is outside this "
            "server's security.allowed_bind_roots") in message, message
    # the control: a host path under an allowed root registers
    if SHARED.exists():
        shutil.rmtree(SHARED)
    (SHARED / "seed").mkdir(parents=True)
    server.set_config({"security": {"allowed_bind_roots": [str(SHARED)]}})
    repo = make_repo(tmp_path / "allowed", compose(postgres_image,
                                                   volumes=[f"{SHARED}/seed:/seed:ro"]))
    try:
        added = server.podspawn("add-project", name, "--repo", str(repo))
        assert added.returncode == 0, added.stdout + added.stderr
        # still refused under the same config: the outside path did not become allowed
        message = refused(server, pname("dcbind2"),
                          make_repo(tmp_path / "again", compose(
                              postgres_image, volumes=["/root:/r"])))
        assert "mounts the host path /root, which is outside" in message
    finally:
        server.set_config(None)
        forget(server, name)
        shutil.rmtree(SHARED, ignore_errors=True)
