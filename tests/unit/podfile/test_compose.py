"""Compose-based devcontainer.json: reading, merging, the mapping onto a Podfile, and what
is refused by name."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile import load_podfile
from podspawn.podfile.compose_files import interpolate, merge_compose, parse_env_file
from podspawn.podfile.devcontainer_writer import podfile_from_devcontainer

from .conftest import WriteFile

APP_DB = """\
services:
  app:
    image: debian:bookworm
    command: sleep infinity
    working_dir: /workspaces/app
    environment:
      - DATABASE_URL=postgres://postgres:${DB_PASSWORD:-devpass}@db/app
      - DEBUG=1
    ports: ["3000:3000"]
    volumes:
      - ..:/workspaces/app:cached
    depends_on:
      db:
        condition: service_healthy
  db:
    image: postgres:16
    restart: unless-stopped
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:-devpass}
      POSTGRES_DB: app
    volumes:
      - pgdata:/var/lib/postgresql/data
    ports: ["5432"]
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres"]
      interval: 2s
      timeout: 1s
      retries: 10
      start_period: 5s
  cache:
    image: redis:7
    command: ["redis-server", "--save", ""]
volumes:
  pgdata:
"""


def repo(write: WriteFile, compose: str, dc: dict[str, Any] | None = None,
         name: str = "compose.yaml") -> None:
    write(f".devcontainer/{name}", compose)
    config = {"dockerComposeFile": name, "service": "app", **(dc or {})}
    write(".devcontainer/devcontainer.json", "// compose\n" + json.dumps(config))


def refusal(tmp_path: Path) -> str:
    with pytest.raises(PodfileError) as info:
        load_podfile(tmp_path, allowed_bind_roots=("/srv/shared",),
                     service_cap_add=("CHOWN", "KILL"))
    message = info.value.message
    assert "\n" not in message and "Traceback" not in message
    return message


def test_app_and_db_map_onto_a_podfile(tmp_path: Path, write: WriteFile) -> None:
    repo(write, APP_DB, {"containerEnv": {"DEBUG": "0"}, "forwardPorts": [8080]})
    loaded = load_podfile(tmp_path)
    podfile = loaded.podfile
    assert loaded.origin == "devcontainer"
    assert loaded.sources == (".devcontainer/devcontainer.json", ".devcontainer/compose.yaml")
    assert podfile.base == "debian:bookworm"
    assert podfile.env == {"DATABASE_URL": "postgres://postgres:devpass@db/app", "DEBUG": "0"}
    assert podfile.workspace == "/workspaces/app"
    assert podfile.ports.expose == (8080, 3000)
    cache, db = podfile.services
    assert (cache.name, cache.image, cache.command) == ("cache", "redis:7",
                                                        ("redis-server", "--save", ""))
    assert cache.ready is None
    assert db.name == "db" and db.image == "postgres:16"
    assert db.env == {"POSTGRES_PASSWORD": "devpass", "POSTGRES_DB": "app"}
    assert db.volumes == ("pgdata:/var/lib/postgresql/data",)
    assert db.ports == (5432,)
    assert db.ready == "pg_isready -U postgres"
    assert db.ready_timeout == 5 + 10 * (2 + 1)
    text = "\n".join(loaded.warnings)
    assert "services.app.command is not run" in text
    assert "services.app.volumes.0: the repository is checked out" in text
    assert "services.app.ports: nothing is published" in text


def test_depends_on_orders_companions_and_runservices_selects(tmp_path: Path,
                                                              write: WriteFile) -> None:
    compose = """\
services:
  app: {image: debian:bookworm, depends_on: [api]}
  api: {image: "api:1", depends_on: {db: {condition: service_healthy}}}
  db: {image: "db:1", healthcheck: {test: "pg_isready -q"}}
  zz: {image: "zz:1"}
  other: {image: "other:1"}
"""
    repo(write, compose, {"runServices": ["zz"]})
    services = load_podfile(tmp_path).podfile.services
    assert [s.name for s in services] == ["db", "api", "zz"]
    assert services[0].ready == "pg_isready -q"
    assert services[0].ready_timeout == 3 * (30 + 30)


def test_several_files_merge_by_compose_rules(tmp_path: Path, write: WriteFile) -> None:
    write(".devcontainer/base.yml", """\
services:
  app: {image: "debian:bookworm"}
  db:
    image: "db:1"
    environment: [A=1, B=2]
    ports: ["5432"]
    volumes: ["data:/data", "logs:/logs"]
    command: ["a", "b"]
volumes: {data: {}, logs: {}}
""")
    write(".devcontainer/override.yml", """\
services:
  db:
    image: "db:2"
    environment: {B: "3", C: "4"}
    ports: ["5433"]
    volumes: ["other:/data"]
    command: ["c"]
volumes: {other: {}}
""")
    write(".devcontainer/devcontainer.json", json.dumps(
        {"dockerComposeFile": ["base.yml", "override.yml"], "service": "app"}))
    (db,) = load_podfile(tmp_path).podfile.services
    assert db.image == "db:2"
    assert db.env == {"A": "1", "B": "3", "C": "4"}
    assert db.ports == (5432, 5433)
    assert db.volumes == ("other:/data", "logs:/logs")
    assert db.command == ("c",)


def test_service_build_builds_the_base(tmp_path: Path, write: WriteFile) -> None:
    repo(write, "services:\n  app:\n    build:\n      context: ..\n      dockerfile: "
         ".devcontainer/Dockerfile\n      args: [V=1]\n      target: dev\n")
    write(".devcontainer/Dockerfile", "FROM debian:bookworm AS dev\n")
    loaded = load_podfile(tmp_path)
    assert loaded.build is not None
    assert (loaded.build.dockerfile, loaded.build.context) == (".devcontainer/Dockerfile", ".")
    assert loaded.build.args == {"V": "1"} and loaded.build.target == "dev"
    assert loaded.build.dockerfile_key == "services.app.build.dockerfile"
    assert loaded.podfile.base.startswith("podspawn/build:")


def test_dotenv_interpolation_never_reads_the_server_environment(
        tmp_path: Path, write: WriteFile, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_FROM_SERVER", "leak")
    write(".devcontainer/.env", "# comment\nTAG=15\nexport NAME='lit $x'\n")
    repo(write, 'services:\n  app: {image: "debian:bookworm"}\n  db:\n    image: "pg:${TAG}"\n'
         '    environment: {N: "${NAME}", S: "${SECRET_FROM_SERVER}", D: "$$HOME"}\n')
    loaded = load_podfile(tmp_path)
    (db,) = loaded.podfile.services
    assert db.image == "pg:15"
    assert db.env == {"N": "lit $x", "S": "", "D": "$HOME"}
    assert any("SECRET_FROM_SERVER is not set" in w for w in loaded.warnings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("${A:-d}", "d"), ("${E:-d}", "d"), ("${E-d}", ""), ("${A:+x}", ""), ("${S:+x}", "x"),
     ("$S/${S}", "v/v"), ("$$S", "$S")],
)
def test_interpolation_forms(text: str, expected: str) -> None:
    assert interpolate(text, {"S": "v", "E": ""}, "f", []) == expected


def test_required_variable_is_refused() -> None:
    with pytest.raises(PodfileError, match="variable X is required: give it"):
        interpolate("${X:?give it}", {}, "compose.yaml", [])


def test_env_file_parsing() -> None:
    assert parse_env_file('A=1\n#c\nB="x\\ny" \nC=v # note\nbad line\n') == {
        "A": "1", "B": "x\ny", "C": "v"}


def test_merge_keeps_untouched_services() -> None:
    merged = merge_compose([{"services": {"a": {"image": "x"}}},
                            {"services": {"b": {"image": "y"}}}])
    assert merged == {"services": {"a": {"image": "x"}, "b": {"image": "y"}}}


APP = 'services:\n  app: {image: "debian:bookworm"}\n'


@pytest.mark.parametrize(
    ("service", "needle"),
    [
        ("privileged: true", "services.db.privileged is refused"),
        ("network_mode: host", "services.db.network_mode is refused"),
        ('network_mode: "service:app"', "services.db.network_mode is refused"),
        ("pid: host", "services.db.pid is refused"),
        ("ipc: host", "services.db.ipc host is refused"),
        ("uts: host", "services.db.uts host is refused"),
        ("userns_mode: host", "services.db.userns_mode is refused"),
        ("devices: [/dev/kvm]", "services.db.devices is refused"),
        ("security_opt: [seccomp=unconfined]", "services.db.security_opt is refused"),
        ("cap_add: [SYS_ADMIN]", "services.db.cap_add SYS_ADMIN is refused"),
        ("sysctls: {net.ipv4.ip_forward: 1}", "services.db.sysctls is refused"),
        ("volumes_from: [app]", "services.db.volumes_from is refused"),
        ("extends: {service: app}", "services.db.extends is refused"),
        ("use_api_socket: true", "services.db.use_api_socket is refused"),
        ("volumes: [/etc:/host-etc]", "services.db.volumes.0 mounts the host path /etc, "
                                      "which is outside"),
        ("volumes: [/srv/shared/../../etc:/x]", "services.db.volumes.0 mounts the host path"),
        ("volumes: [./init.sql:/init.sql]", "services.db.volumes.0 mounts the host path "
                                           "./init.sql, which is refused"),
        ("volumes: [{type: bind, source: /root, target: /r}]", "mounts the host path /root"),
        ("volumes: [ext:/data]", "volumes.ext.external is refused"),
        ("volumes: [drv:/data]", "volumes.drv sets a driver or driver_opts"),
        ("volumes: [undeclared:/data]", "uses volume 'undeclared', which the top-level"),
        ("build: .", "services.db.build is not supported for a companion"),
        ("enviroment: {A: 1}", "services.db is not valid Compose"),
    ],
)
def test_refused_by_name(tmp_path: Path, write: WriteFile, service: str, needle: str) -> None:
    compose = (APP + "  db:\n    image: \"db:1\"\n" + textwrap.indent(service, "    ") + "\n"
               "volumes:\n  ext: {external: true}\n"
               "  drv: {driver_opts: {type: none, o: bind, device: /etc}}\n")
    repo(write, compose)
    message = refusal(tmp_path)
    assert message.startswith(".devcontainer/devcontainer.json: .devcontainer/compose.yaml: ")
    assert needle in message


def test_session_service_keys_are_checked_too(tmp_path: Path, write: WriteFile) -> None:
    repo(write, 'services:\n  app: {image: "debian:bookworm", privileged: true}\n')
    assert "services.app.privileged is refused" in refusal(tmp_path)


def test_allowed_host_bind_and_capabilities_pass(tmp_path: Path, write: WriteFile) -> None:
    repo(write, APP + '  db: {image: "db:1", cap_add: [CAP_CHOWN], '
         'volumes: ["/srv/shared/x:/x:ro"]}\n')
    (db,) = load_podfile(tmp_path, allowed_bind_roots=("/srv/shared",),
                         service_cap_add=("CHOWN",)).podfile.services
    assert db.volumes == ("/srv/shared/x:/x:ro",)


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"dockerComposeFile": "../../outside.yml", "service": "app"}, "leaves the repository"),
        ({"dockerComposeFile": "/etc/compose.yml", "service": "app"}, "not a relative path"),
        ({"dockerComposeFile": "compose.yaml"}, "needs service"),
        ({"dockerComposeFile": "compose.yaml", "service": "nope"}, "has no service 'nope'"),
        ({"dockerComposeFile": "compose.yaml", "service": "app", "runServices": ["x"]},
         "has no service 'x' (named in runServices)"),
    ],
)
def test_bad_devcontainer_keys(tmp_path: Path, write: WriteFile, config: dict[str, Any],
                               needle: str) -> None:
    write(".devcontainer/compose.yaml", APP)
    write(".devcontainer/devcontainer.json", json.dumps(config))
    assert needle in refusal(tmp_path)


def test_symlinked_compose_file_leaving_the_repo_is_refused(tmp_path: Path,
                                                            write: WriteFile) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yml"
    outside.write_text(APP)
    repo(write, APP)
    (tmp_path / ".devcontainer" / "compose.yaml").unlink()
    (tmp_path / ".devcontainer" / "compose.yaml").symlink_to(outside)
    assert "leaves the repository through a symlink" in refusal(tmp_path)


def test_healthy_dependency_needs_a_healthcheck(tmp_path: Path, write: WriteFile) -> None:
    repo(write, 'services:\n  app:\n    image: "debian:bookworm"\n    depends_on:\n'
         '      db: {condition: service_healthy}\n  db: {image: "db:1"}\n')
    assert ("services.app.depends_on.db waits for db to be healthy, but services.db has no "
            "healthcheck") in refusal(tmp_path)


def test_circular_depends_on_is_refused(tmp_path: Path, write: WriteFile) -> None:
    repo(write, APP + '  a: {image: "a:1", depends_on: [b]}\n'
         '  b: {image: "b:1", depends_on: [a]}\n')
    assert "is circular" in refusal(tmp_path)


def test_alias_bomb_is_refused(tmp_path: Path, write: WriteFile) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]" for n in range(1, 12)]
    repo(write, "x-bomb:\n" + textwrap.indent("\n".join(lines), "  ") + "\n" + APP)
    assert "too large or too deeply aliased" in refusal(tmp_path)


def test_init_from_devcontainer_writes_the_services(tmp_path: Path, write: WriteFile) -> None:
    repo(write, APP_DB)
    source, text = podfile_from_devcontainer(tmp_path)
    assert source == ".devcontainer/devcontainer.json"
    assert "name: db" in text and "ready: pg_isready -U postgres" in text
    assert "services.app.command is not run" in text


def test_ports_env_files_and_durations(tmp_path: Path, write: WriteFile) -> None:
    write(".devcontainer/db.env", "FROM_FILE=1\nOVERRIDDEN=file\n")
    repo(write, APP + textwrap.indent(textwrap.dedent("""\
          db:
            image: "db:1"
            env_file: [db.env, {path: missing.env, required: false}]
            environment: {OVERRIDDEN: env, FLAG: true}
            ports: ["127.0.0.1:8080:80/tcp", "9000-9002", {target: 7000, published: 7001}]
            expose: ["6000"]
            healthcheck: {test: "true", interval: 1m30s, timeout: 500ms, retries: 1}
          app2:
            image: "a:1"
            depends_on: {db: {condition: service_healthy}}
        """), "  "))
    loaded = load_podfile(tmp_path)
    app2, db = loaded.podfile.services[1], loaded.podfile.services[0]
    assert app2.name == "app2" and db.name == "db"
    assert db.env == {"FROM_FILE": "1", "OVERRIDDEN": "env", "FLAG": "true"}
    assert db.ports == (80, 9000, 9001, 9002, 7000, 6000)
    assert db.ready == "true" and db.ready_timeout == 90.5


def test_env_file_outside_the_repository_is_refused(tmp_path: Path, write: WriteFile) -> None:
    repo(write, APP + '  db: {image: "db:1", env_file: ../../../etc/passwd}\n')
    assert "services.db.env_file.0 '../../../etc/passwd' leaves the repository" in refusal(
        tmp_path)


def test_bad_duration_is_refused(tmp_path: Path, write: WriteFile) -> None:
    repo(write, 'services:\n  app:\n    image: "debian:bookworm"\n    depends_on:\n'
         '      db: {condition: service_healthy}\n'
         '  db: {image: "db:1", healthcheck: {test: "true", interval: soon}}\n')
    assert "services.db.healthcheck.interval 'soon' is not a duration" in refusal(tmp_path)
