"""The server config: Go-compatible defaults, strict validation, and the login-path snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from podspawn.config import cached, loader, snapshot
from podspawn.config.schema import (
    AuthConfig,
    DefaultsConfig,
    SecurityConfig,
    ServerConfig,
    SessionConfig,
)
from podspawn.errors import ConfigError, UsageError
from podspawn.paths import DEFAULT_CONFIG_PATH, config_path
from podspawn.units import parse_duration, parse_memory

#: The Go implementation's keys and defaults (reference docs, section 2.4).
GO_DEFAULTS: dict[str, Any] = {
    "auth.key_dir": "/etc/podspawn/keys",
    "defaults.image": "ubuntu:24.04",
    "defaults.shell": "/bin/bash",
    "defaults.cpus": 2.0,
    "defaults.memory": "2g",
    "session.grace_period": "60s",
    "session.max_lifetime": "8h",
    "session.mode": "grace-period",
    "state.db_path": "/var/lib/podspawn/state.db",
    "state.lock_dir": "/var/lib/podspawn/locks",
    "state.homes_dir": "/var/lib/podspawn/homes",
    "log.file": "",
    "log.audit_log": "",
    "security.cap_drop": ("ALL",),
    "security.cap_add": (
        "CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE",
    ),
    "security.no_new_privileges": True,
    "security.pids_limit": 256,
    "security.readonly_rootfs": False,
    "security.tmpfs": {},
    "security.runtime": "",
    "resources.max_per_user": 3,
    "projects_file": "/etc/podspawn/projects.yaml",
}

#: Where podspawn departs from Go on purpose; each is explained in config/schema.py's docstring.
DELIBERATE: dict[str, Any] = {
    "log.file": "/var/log/podspawn/podspawn.log",
    "security.no_new_privileges": False,
    "security.cap_add": (
        "CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE",
        "AUDIT_WRITE", "KILL", "SYS_CHROOT",
    ),
}

#: Keys the Go implementation does not have.
PYTHON_ONLY: dict[str, Any] = {
    "auth.github_url": "https://github.com",
    "images.mirror": "",
    "projects": {},
    "users_dir": "/etc/podspawn/users",
    "security.allowed_bind_roots": (),
    "security.egress": ("0.0.0.0/0",),
    "images.node_dist_url": "https://nodejs.org/dist",
    "images.go_dist_url": "https://go.dev/dl",
    "images.rustup_url": "https://sh.rustup.rs",
    "images.python_ppa": "ppa:deadsnakes/ppa",
    "images.podfiles_url": "https://raw.githubusercontent.com",
    "session.podfile_modes": ("grace-period", "destroy-on-disconnect"),
    "session.idle_timeout": "0",
    "images.build_memory": "4g",
    "images.build_pids": 1024,
    "images.features_registry": "",
    "images.features_allow": (),
    "runtime.backend": "docker",
    "defaults.warm": 0,
    "network.pool": "198.18.0.0/15",
    "network.subnet_size": 28,
    "security.service_cap_add": (
        "CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE", "KILL",
    ),
    "security.service_no_new_privileges": True,
    "resources.max_cpus": 4.0,
    "resources.max_memory": "8g",
    "resources.service_cpus": 1.0,
    "resources.service_memory": "1g",
    "resources.max_connections_per_user": 10,
    "state.min_free": "2G",
}


def _get(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def _dotted_keys(obj: Any, prefix: str = "") -> set[str]:
    keys = set()
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            keys |= _dotted_keys(value, f"{prefix}{f.name}.")
        else:
            keys.add(prefix + f.name)
    return keys


@pytest.mark.parametrize("key", sorted(GO_DEFAULTS))
def test_defaults_match_go_unless_deliberate(key: str) -> None:
    expected = DELIBERATE.get(key, GO_DEFAULTS[key])
    assert _get(ServerConfig(), key) == expected


def test_deliberate_departures_keep_go_capabilities() -> None:
    assert set(GO_DEFAULTS["security.cap_add"]) < set(ServerConfig().security.cap_add)


def test_every_key_is_documented_here() -> None:
    """A new key must be added to one of the tables above (and to the docs)."""
    assert _dotted_keys(ServerConfig()) == set(GO_DEFAULTS) | set(PYTHON_ONLY)
    for key, value in PYTHON_ONLY.items():
        assert _get(ServerConfig(), key) == value


def test_default_helpers() -> None:
    config = ServerConfig()
    assert config.session.grace_seconds == 60.0
    assert config.session.lifetime_seconds == 8 * 3600.0
    assert config.log_file == "/var/log/podspawn/podspawn.log"
    assert DEFAULT_CONFIG_PATH == "/etc/podspawn/config.yaml"


def test_empty_log_file_means_the_default_path() -> None:
    assert loader.parse_config("log:\n  file: ''\n").log_file == "/var/log/podspawn/podspawn.log"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("0s", 0.0),
        ("60s", 60.0),
        ("  60s  ", 60.0),
        ("500ms", 0.5),
        ("1m", 60.0),
        ("90m", 5400.0),
        ("8h", 28800.0),
        ("1h30m", 5400.0),
        ("2h0m0s", 7200.0),
        ("1.5h", 5400.0),
        ("1m30s500ms", 90.5),
        ("24h", 86400.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "60", "00", "s", "h1", "1d", "1w", "1 h", "1h 30m", "-5s", "+5s", "1.s",
     ".5s", "1.5.5s", "1ms5", "5S", "5H", "1hh", "1h30", "sixty", "1e3s", "1us", "10ns"],
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("", 0),
        ("0", 0),
        ("100", 100),
        ("100b", 100),
        ("1k", 1024),
        ("1024K", 1024 * 1024),
        ("512m", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("2g", 2 * 1024**3),
        ("2G", 2 * 1024**3),
        ("2gb", 2 * 1024**3),
        ("2GB", 2 * 1024**3),
        ("1.5g", 3 * 1024**3 // 2),
        (" 2g ", 2 * 1024**3),
    ],
)
def test_parse_memory(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize(
    "text", ["g", "2t", "2T", "-1g", "2 g", "2gib", "2kk", "abc", "1e9", "0x10", "2g!", "1,5g"]
)
def test_parse_memory_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="memory size"):
        parse_memory(text)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("auth:\n  key_dir: keys\n", "auth.key_dir"),
        ("auth:\n  github_url: ftp://example.com\n", "auth.github_url"),
        ("auth:\n  key_dir: [a]\n", "auth.key_dir"),
        ("defaults:\n  image: ''\n", "defaults.image"),
        ("defaults:\n  image: '  '\n", "defaults.image"),
        ("defaults:\n  shell: bash\n", "defaults.shell"),
        ("defaults:\n  cpus: -1\n", "defaults.cpus"),
        ("defaults:\n  cpus: lots\n", "defaults.cpus"),
        ("defaults:\n  memory: 2t\n", "defaults.memory"),
        ("defaults:\n  memory: {a: 1}\n", "defaults.memory"),
        ("session:\n  grace_period: soon\n", "session.grace_period"),
        ("session:\n  grace_period: 1d\n", "session.grace_period"),
        ("session:\n  max_lifetime: forever\n", "session.max_lifetime"),
        ("session:\n  mode: forever\n", "session.mode"),
        ("session:\n  mode: Persistent\n", "session.mode"),
        ("state:\n  db_path: state.db\n", "state.db_path"),
        ("state:\n  lock_dir: ./locks\n", "state.lock_dir"),
        ("state:\n  homes_dir: homes\n", "state.homes_dir"),
        ("log:\n  file: podspawn.log\n", "log.file"),
        ("log:\n  audit_log: audit.jsonl\n", "log.audit_log"),
        ("security:\n  cap_drop: ALL\n", "security.cap_drop"),
        ("security:\n  cap_drop: [all]\n", "security.cap_drop"),
        ("security:\n  cap_add: [chown]\n", "security.cap_add"),
        ("security:\n  cap_add: ['CAP_SYS_ADMIN; rm']\n", "security.cap_add"),
        ("security:\n  no_new_privileges: maybe\n", "security.no_new_privileges"),
        ("security:\n  pids_limit: -1\n", "security.pids_limit"),
        ("security:\n  pids_limit: many\n", "security.pids_limit"),
        ("security:\n  readonly_rootfs: sometimes\n", "security.readonly_rootfs"),
        ("security:\n  tmpfs:\n    tmp: size=1m\n", "security.tmpfs"),
        ("security:\n  tmpfs: [/tmp]\n", "security.tmpfs"),
        ("security:\n  runtime: [runsc]\n", "security.runtime"),
        ("security:\n  egress: 10.0.0.0/8\n", "security.egress"),
        ("security:\n  egress: [10.0.0.0/33]\n", "security.egress"),
        ("resources:\n  max_per_user: -1\n", "resources.max_per_user"),
        ("resources:\n  max_per_user: 2.5\n", "resources.max_per_user"),
        ("resources:\n  max_cpus: -1\n", "resources.max_cpus"),
        ("resources:\n  max_cpus: .nan\n", "resources.max_cpus"),
        ("resources:\n  service_cpus: 2000\n", "resources.service_cpus"),
        ("resources:\n  service_cpus: 5\n", "resources.service_cpus"),
        ("resources:\n  max_memory: 0\n", "resources.max_memory"),
        ("resources:\n  max_memory: ''\n", "resources.max_memory"),
        ("resources:\n  max_memory: '0'\n", "resources.max_memory"),
        ("resources:\n  max_memory: lots\n", "resources.max_memory"),
        ("resources:\n  service_memory: 0\n", "resources.service_memory"),
        ("resources:\n  service_memory: 16g\n", "resources.service_memory"),
        ("resources:\n  max_memory: 512m\n", "resources.service_memory"),
        ("security:\n  service_cap_add: [sys_admin]\n", "security.service_cap_add"),
        ("security:\n  service_no_new_privileges: maybe\n",
         "security.service_no_new_privileges"),
        ("images:\n  build_memory: 0\n", "images.build_memory"),
        ("images:\n  build_memory: 2t\n", "images.build_memory"),
        ("images:\n  build_pids: -5\n", "images.build_pids"),
        ("images:\n  features_registry: ftp://x\n", "images.features_registry"),
        ("images:\n  mirror: [x]\n", "images.mirror"),
        ("projects_file: [x]\n", "projects_file"),
        ("projects:\n  api: 3\n", "projects.api"),
        ("session: 5\n", "session"),
        ("security: [a, b]\n", "security"),
    ],
)
def test_wrong_values_name_the_dotted_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        loader.parse_config(text, source="/etc/podspawn/config.yaml")
    message = info.value.message
    assert message.startswith("/etc/podspawn/config.yaml: ")
    assert f" {key}" in message, message
    assert isinstance(info.value, UsageError)
    # one sentence for a person, never pydantic's repr
    assert "\n" not in message
    assert "pydantic" not in message
    assert "For further information" not in message
    assert "Value error" not in message


def test_several_wrong_values_are_all_named() -> None:
    with pytest.raises(ConfigError) as info:
        loader.parse_config("session:\n  mode: x\ndefaults:\n  cpus: -1\n")
    assert "session.mode" in info.value.message
    assert "defaults.cpus" in info.value.message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("sesion:\n  mode: persistent\n", "sesion"),
        ("session:\n  grace: 5s\n", "session.grace"),
        ("security:\n  privileged: true\n", "security.privileged"),
        ("defaults:\n  image: x\n  volumes: [/:/host]\n", "defaults.volumes"),
        ("auth:\n  key_dir: /k\n  keydir: /k\n", "auth.keydir"),
    ],
)
def test_unknown_keys_are_refused(text: str, key: str) -> None:
    with pytest.raises(ConfigError, match="unknown key") as info:
        loader.parse_config(text)
    assert f"config: {key}: unknown key" in info.value.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("session: [unclosed\n", 2),
        ("session:\n  mode: grace-period\n   bad: indent\n", 3),
        ("a: b: c\n", 1),
        ("session:\n\tmode: persistent\n", 2),
        ('defaults:\n  image: "unterminated\n', 3),
    ],
)
def test_yaml_syntax_errors(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        loader.parse_config(text, source="cfg.yaml")
    assert info.value.message == f"cfg.yaml is not valid YAML at line {line}; fix the syntax"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        loader.parse_config(text)


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "{}\n", b""])
def test_empty_files_mean_the_defaults(text: str | bytes) -> None:
    assert loader.parse_config(text) == ServerConfig()


def test_partial_file_keeps_other_defaults() -> None:
    config = loader.parse_config(
        "session:\n  mode: persistent\nsecurity:\n  cap_add: [CHOWN]\n  tmpfs:\n"
        "    /tmp: size=256m\nprojects:\n  api:\n    repo: https://example.com/api.git\n"
    )
    assert config.session == SessionConfig(mode="persistent")
    assert config.security == SecurityConfig(cap_add=("CHOWN",), tmpfs={"/tmp": "size=256m"})
    assert config.security.cap_add == ("CHOWN",)
    assert config.defaults == DefaultsConfig()
    assert config.projects == {"api": {"repo": "https://example.com/api.git"}}


def test_go_style_full_file_loads() -> None:
    text = """
auth:
  key_dir: /etc/podspawn/keys
defaults:
  image: ubuntu:24.04
  shell: /bin/bash
  cpus: 2
  memory: 2g
session:
  grace_period: 60s
  max_lifetime: 8h
  mode: grace-period
state:
  db_path: /var/lib/podspawn/state.db
  lock_dir: /var/lib/podspawn/locks
log:
  file: /var/log/podspawn.log
  audit_log: /var/log/podspawn-audit.jsonl
security:
  cap_drop: [ALL]
  cap_add: [CHOWN, SETUID, SETGID, DAC_OVERRIDE, FOWNER]
  no_new_privileges: true
  pids_limit: 128
  readonly_rootfs: true
  tmpfs:
    /tmp: size=256m
    /run: size=64m
  runtime: runsc
resources:
  max_per_user: 0
projects_file: /etc/podspawn/projects.yaml
"""
    config = loader.parse_config(text)
    assert config.defaults.cpus == 2.0
    assert config.security.no_new_privileges is True
    assert config.security.tmpfs == {"/tmp": "size=256m", "/run": "size=64m"}
    assert config.resources.max_per_user == 0
    assert config.log_file == "/var/log/podspawn.log"


def test_load_config_of_a_missing_file_is_the_defaults(tmp_path: Path) -> None:
    assert loader.load_config(str(tmp_path / "absent.yaml")) == ServerConfig()
    assert cached.load_fast(str(tmp_path / "absent.yaml")) == ServerConfig()
    assert not list(tmp_path.iterdir())


def test_load_config_of_an_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        loader.load_config(str(tmp_path))  # a directory


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_path() == DEFAULT_CONFIG_PATH
    monkeypatch.setenv("PODSPAWN_CONFIG", "/srv/env.yaml")
    assert config_path() == "/srv/env.yaml"
    assert config_path("/srv/explicit.yaml") == "/srv/explicit.yaml"


def test_cache_path_and_fingerprint(tmp_path: Path) -> None:
    assert snapshot.cache_path("/etc/podspawn/config.yaml") == (
        "/etc/podspawn/.config.yaml.cache.json"
    )
    assert snapshot.cache_path("config.yaml") == ".config.yaml.cache.json"
    path = tmp_path / "c.yaml"
    path.write_text("session:\n  mode: persistent\n")
    st = os.stat(path)
    assert snapshot.fingerprint(st) == [st.st_ino, st.st_size, st.st_mtime_ns]


def _sample() -> ServerConfig:
    return loader.parse_config(
        """
auth: {key_dir: /srv/keys, github_url: "http://127.0.0.1:9/gh"}
defaults: {image: "debian:bookworm", shell: /bin/zsh, cpus: 0.5, memory: 512m}
session: {grace_period: 1h30m, max_lifetime: 24h, mode: destroy-on-disconnect}
state: {db_path: /srv/state.db, lock_dir: /srv/locks, homes_dir: /srv/homes}
log: {file: /srv/podspawn.log, audit_log: /srv/audit.jsonl}
security:
  cap_drop: [ALL]
  cap_add: [CHOWN, KILL]
  no_new_privileges: true
  pids_limit: 64
  readonly_rootfs: true
  tmpfs: {/tmp: size=64m, /run: size=8m}
  runtime: runsc
  egress: [10.0.0.0/8, "2001:db8::/32"]
  service_cap_add: [CHOWN, SETUID, SETGID]
  service_no_new_privileges: false
resources: {max_per_user: 7, max_cpus: 0, max_memory: 16g, service_cpus: 0.5,
            service_memory: 256m}
images: {mirror: "http://deb.example/debian", build_memory: 1g, build_pids: 300}
projects_file: /srv/projects.yaml
projects: {api: {repo: "file:///srv/api", mode: persistent}}
"""
    )


@pytest.mark.parametrize("config", [ServerConfig(), _sample()], ids=["defaults", "sample"])
def test_from_trusted_dict_round_trips_through_json(config: ServerConfig) -> None:
    data = json.loads(json.dumps(snapshot.plain(config.to_dict())))
    rebuilt = ServerConfig.from_trusted_dict(data)
    assert rebuilt == config
    assert isinstance(rebuilt.security.cap_add, tuple)
    assert isinstance(rebuilt.security.service_cap_add, tuple)
    assert isinstance(rebuilt.auth, AuthConfig)
    assert data == json.loads(json.dumps(config.to_dict()))


def test_dump_config_yaml_reloads_to_the_same_config() -> None:
    config = _sample()
    assert loader.parse_config(loader.dump_config_yaml(config)) == config


def _write_config(path: Path, text: str) -> ServerConfig:
    path.write_text(text)
    config = loader.load_config(str(path), write_cache=False)
    snapshot.write(str(path), os.stat(path), config)
    return config


def _snapshot(path: Path) -> dict[str, Any]:
    return json.loads(Path(snapshot.cache_path(str(path))).read_text())


def _tamper(path: Path, image: str) -> None:
    """Change the snapshot's content but not its fingerprint, to see which one is used."""
    snap = _snapshot(path)
    snap["config"]["defaults"]["image"] = image
    Path(snapshot.cache_path(str(path))).write_text(json.dumps(snap))


def test_snapshot_records_the_source_and_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    config = _write_config(path, "defaults:\n  image: debian:bookworm\n")
    snap = _snapshot(path)
    assert snap["source"] == snapshot.fingerprint(os.stat(path))
    assert ServerConfig.from_trusted_dict(snap["config"]) == config
    assert os.stat(snapshot.cache_path(str(path))).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".config.yaml.cache.json", ".config.yaml.login", "config.yaml"]
    login = cached.load_login_settings(str(path))
    assert (login.key_dir, login.db_path, login.grace_seconds) == (
        config.auth.key_dir, config.state.db_path, config.session.grace_seconds)


def test_load_config_writes_the_snapshot_only_as_root(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("session:\n  mode: persistent\n")
    loader.load_config(str(path), write_cache=False)
    assert not os.path.exists(snapshot.cache_path(str(path)))
    loader.load_config(str(path))
    assert os.path.exists(snapshot.cache_path(str(path))) == (os.geteuid() == 0)


def test_load_fast_uses_a_fresh_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _write_config(path, "defaults:\n  image: debian:bookworm\n")
    _tamper(path, "from-snapshot:1")
    assert cached.load_fast(str(path)).defaults.image == "from-snapshot:1"


def test_load_fast_reparses_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _write_config(path, "defaults:\n  image: debian:bookworm\n")
    _tamper(path, "from-snapshot:1")
    path.write_text("defaults:\n  image: debian:trixie\n")
    assert cached.load_fast(str(path)).defaults.image == "debian:trixie"


def test_load_fast_reparses_a_replaced_file_with_same_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _write_config(path, "defaults:\n  image: debian:bookworm\n")
    _tamper(path, "from-snapshot:1")
    before = os.stat(path)
    other = tmp_path / "new.yaml"
    other.write_text("defaults:\n  image: debian:bullseye\n")  # same length
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, path)
    assert os.stat(path).st_size == before.st_size
    assert cached.load_fast(str(path)).defaults.image == "debian:bullseye"


@pytest.mark.parametrize(
    "broken",
    [
        "not json",
        "[]",
        "{}",
        '{"source": "x"}',
        '{"source": SOURCE}',
        '{"source": SOURCE, "config": {}}',
        '{"source": SOURCE, "config": []}',
    ],
)
def test_load_fast_falls_back_on_a_broken_snapshot(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("defaults:\n  image: debian:bookworm\n")
    source = json.dumps(snapshot.fingerprint(os.stat(path)))
    Path(snapshot.cache_path(str(path))).write_text(broken.replace("SOURCE", source))
    assert cached.load_fast(str(path)).defaults.image == "debian:bookworm"


def test_load_fast_falls_back_on_a_snapshot_with_an_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _write_config(path, "defaults:\n  image: debian:bookworm\n")
    snap = _snapshot(path)
    snap["config"]["defaults"]["from_the_future"] = 1
    Path(snapshot.cache_path(str(path))).write_text(json.dumps(snap))
    assert cached.load_fast(str(path)).defaults.image == "debian:bookworm"


def test_load_fast_reports_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("session:\n  mode: forever\n")
    with pytest.raises(ConfigError, match=r"session\.mode"):
        cached.load_fast(str(path))


def test_load_fast_follows_podspawn_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("resources:\n  max_per_user: 9\n")
    monkeypatch.setenv("PODSPAWN_CONFIG", str(path))
    assert cached.load_fast().resources.max_per_user == 9


def test_load_fast_with_a_fresh_snapshot_imports_neither_yaml_nor_pydantic(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    _write_config(path, "defaults:\n  image: debian:bookworm\n")
    code = (
        "import sys\n"
        "from podspawn.config.cached import load_fast\n"
        f"print(load_fast({str(path)!r}).defaults.image)\n"
        "print(sorted(m for m in ('yaml', 'pydantic') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == ["debian:bookworm", "[]"]


def test_projects_section_is_checked() -> None:
    ok = loader.parse_config("projects:\n  api:\n    repo: /r\n    users: [sarah]\n"
                             "    groups: [dev-team]\n    mode: persistent\n")
    assert ok.projects["api"]["users"] == ["sarah"]
    for bad, problem in (
        ("    colour: red\n", "projects.api.colour: unknown key"),
        ("    users: sarah\n", "projects.api.users must be a list of user names"),
        ("    groups: ['a b']\n", "projects.api.groups must be a list of group names"),
        ("    mode: forever\n", "projects.api.mode: 'forever' is not allowed"),
    ):
        with pytest.raises(ConfigError) as info:
            loader.parse_config("projects:\n  api:\n    repo: /r\n" + bad)
        assert problem in info.value.message


def test_podfile_modes_are_session_modes() -> None:
    with pytest.raises(ConfigError, match=r"session\.podfile_modes\.0: 'forever' is not allowed"):
        loader.parse_config("session:\n  podfile_modes: [forever]\n")


def test_the_login_snapshot_carries_access_lists(tmp_path) -> None:
    from podspawn.config.cached import load_login_settings

    path = tmp_path / "config.yaml"
    path.write_text("projects:\n  api:\n    repo: /r\n    users: [sarah, bob]\n"
                    "    groups: [ops]\n  open:\n    repo: /o\n")
    loader.load_config(str(path))  # writes the snapshots (as root)
    settings = load_login_settings(str(path))
    assert settings.acl == {"api": (["sarah", "bob"], ["ops"])}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("internet", "security.egress: 'internet' is not a network; write a CIDR such as "
                     "10.0.0.0/8, 203.0.113.7/32 or 0.0.0.0/0"),
        ("10.0.0.0/33", "security.egress: '10.0.0.0/33' is not a network"),
        ("10.1.2.3/8", "security.egress: '10.1.2.3/8' has host bits set; write the network, "
                       "10.0.0.0/8"),
        ("169.254.169.254/32", "security.egress: 169.254.169.254/32 is link-local (where "
                               "cloud metadata lives), which containers can never reach; "
                               "remove it"),
        ("fe80::/64", "security.egress: fe80::/64 is link-local"),
    ],
)
def test_egress_refuses_what_is_not_a_reachable_network(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        loader.parse_config(f"security:\n  egress: ['{value}']\n", source="config.yaml")
    assert info.value.message.startswith(f"config.yaml: {message}"), info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize("egress", [[], ["0.0.0.0/0"], ["10.0.0.0/8", "203.0.113.7", "::/0"]])
def test_egress_accepts_lists_of_networks(egress: list[str]) -> None:
    config = loader.parse_config(f"security:\n  egress: {json.dumps(egress)}\n")
    assert config.security.egress == tuple(egress)
    rebuilt = ServerConfig.from_trusted_dict(json.loads(json.dumps(snapshot.plain(
        config.to_dict()))))
    assert rebuilt == config
    assert isinstance(rebuilt.security.egress, tuple)


def test_the_login_snapshot_carries_the_connection_cap(tmp_path) -> None:
    from podspawn.config.cached import load_login_settings
    from podspawn.config.snapshot import login_snapshot_path

    path = tmp_path / "config.yaml"
    path.write_text("resources:\n  max_connections_per_user: 4\n")
    loader.load_config(str(path))  # writes the snapshots (as root)
    assert load_login_settings(str(path)).max_connections == 4
    snapshot = Path(login_snapshot_path(str(path)))
    lines = snapshot.read_text().splitlines()
    assert "max_connections_per_user 4" in lines
    # an older podspawn's snapshot lacks the key; its config could not have set it
    snapshot.write_text("".join(f"{line}\n" for line in lines
                                if not line.startswith("max_connections_per_user ")))
    assert load_login_settings(str(path)).max_connections == cached.DEFAULT_MAX_CONNECTIONS


def test_the_login_default_of_the_connection_cap_is_the_schemas() -> None:
    assert ServerConfig().resources.max_connections_per_user == cached.DEFAULT_MAX_CONNECTIONS


@pytest.mark.parametrize("key", ["max_per_user", "max_connections_per_user"])
def test_per_user_caps_are_not_negative(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"resources\.{key} must be 0"):
        loader.parse_config(f"resources:\n  {key}: -1\n")
