"""The session container and its companion services as plain data, compared as dicts: what
the services decide (services/sessions.session_spec, services/companions.companion_spec) and
how the container backends carry it out (runtime/container_runtime.session_container and
companion_container)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import pytest

from podspawn import labels
from podspawn.config.loader import parse_config
from podspawn.config.schema import DefaultsConfig, ServerConfig
from podspawn.podfile import Service
from podspawn.runtime.container_runtime import companion_container, session_container
from podspawn.runtime.spec import SessionSpec
from podspawn.services import limits
from podspawn.services.companions import companion_spec
from podspawn.services.overrides import Dotfiles, Effective
from podspawn.services.sessions import Plan, session_spec


@pytest.fixture(autouse=True)
def big_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests are bounded by the machine's CPUs too; these tests run on a 64-CPU one."""
    monkeypatch.setattr(limits, "machine_cpus", lambda: 64)


NAME = "podspawn-alice-api"
NETWORK = "podspawn-network.alice.api"
LABELS = labels.for_object("0123456789ab", "alice", "api", "session", session="s1")


SESSION_LABELS = {k: v for k, v in LABELS.items() if k != labels.ROLE}


def _container(config: ServerConfig, image: str = "ubuntu:24.04") -> Any:
    plan = Plan(user="alice", project="api", image=image, podfile=None, uid=1001, gid=1001,
                settings=Effective(defaults=config.defaults, mode="grace-period", env={},
                                   dotfiles=Dotfiles()))
    spec = session_spec(config, plan, session_id="s1", install_id="0123456789ab")
    return session_container(spec, network=NETWORK, session_labels=SESSION_LABELS)


def _spec(config: ServerConfig) -> dict[str, Any]:
    return asdict(_container(config))


def test_labels() -> None:
    assert LABELS == {
        "managed-by": "podspawn",
        "podspawn-instance": "0123456789ab",
        "podspawn-user": "alice",
        "podspawn-project": "api",
        "podspawn-role": "session",
        "podspawn-session": "s1",
    }


def test_carries_compares_every_label_but_tolerates_legacy_objects() -> None:
    owner = labels.owner("0123456789ab", "alice", "api")
    assert labels.carries(LABELS, owner)
    assert labels.carries(LABELS, {**owner, labels.ROLE: "session"})
    assert not labels.carries(LABELS, {**owner, labels.ROLE: "service"})
    assert not labels.carries(LABELS, {**owner, labels.SESSION: "s2"})
    for key, other in ((labels.USER, "bob"), (labels.PROJECT, ""), (labels.INSTANCE, "x"),
                       (labels.MANAGED_BY, "someone")):
        assert not labels.carries({**LABELS, key: other}, owner)
    assert not labels.carries({}, owner)
    # made by the previous release: no role, no session id, still the same tenant's
    legacy = dict(owner)
    assert labels.carries(legacy, {**owner, labels.ROLE: "session", labels.SESSION: "s1"})
    assert not labels.carries({**legacy, labels.USER: "bob"}, {**owner, labels.ROLE: "session"})


def test_default_spec() -> None:
    assert _spec(ServerConfig()) == {
        "name": NAME,
        "image": "ubuntu:24.04",
        "labels": LABELS,
        "hostname": NAME,
        "command": ("sleep", "infinity"),
        "env": {},
        "network": NETWORK,
        "aliases": (NAME,),
        "nano_cpus": 2_000_000_000,
        "memory": 2 * 1024**3,
        "cap_drop": ("ALL",),
        "cap_add": (
            "CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE",
            "AUDIT_WRITE", "KILL", "SYS_CHROOT",
        ),
        "security_opt": (),
        "pids_limit": 256,
        "read_only": False,
        "tmpfs": {},
        "runtime": "",
        "mounts": (),
        "init": True,
        "working_dir": "",
        "published": (),
    }


def test_locked_down_profile() -> None:
    config = parse_config(
        """
defaults: {cpus: 1, memory: 512m}
security:
  cap_drop: [ALL]
  cap_add: [CHOWN, SETUID, SETGID]
  no_new_privileges: true
  pids_limit: 128
  readonly_rootfs: true
  tmpfs: {/tmp: size=256m, /run: size=64m}
  runtime: runsc
"""
    )
    spec = _spec(config)
    changed = {
        key: spec[key]
        for key in ("nano_cpus", "memory", "cap_add", "security_opt", "pids_limit", "read_only",
                    "tmpfs", "runtime")
    }
    assert changed == {
        "nano_cpus": 1_000_000_000,
        "memory": 512 * 1024**2,
        "cap_add": ("CHOWN", "SETUID", "SETGID"),
        "security_opt": ("no-new-privileges:true",),
        "pids_limit": 128,
        "read_only": True,
        "tmpfs": {"/tmp": "size=256m", "/run": "size=64m"},
        "runtime": "runsc",
    }
    # what the profile does not name keeps its default
    assert {k: v for k, v in spec.items() if k not in changed} == {
        k: v for k, v in _spec(ServerConfig()).items() if k not in changed
    }


@pytest.mark.parametrize(
    ("cpus", "nano"),
    [
        (2.0, 2_000_000_000),
        (0.0, 0),
        (0.5, 500_000_000),
        (1.5, 1_500_000_000),
        (0.1, 100_000_000),
        (0.3, 300_000_000),
        (0.7, 700_000_000),
        (2.3, 2_300_000_000),
        (16.0, 16_000_000_000),
        # float products that land just below the integer: 2.01 * 1e9 == 2009999999.9999998
        (2.01, 2_010_000_000),
        (1.005, 1_005_000_000),
        (4.07, 4_070_000_000),
    ],
)
def test_cpus_become_nano_cpus(cpus: float, nano: int) -> None:
    config = replace(ServerConfig(), defaults=DefaultsConfig(cpus=cpus))
    assert _spec(config)["nano_cpus"] == nano


@pytest.mark.parametrize(
    ("memory", "limit"), [("0", 0), ("", 0), ("2g", 2 * 1024**3), ("256M", 256 * 1024**2)]
)
def test_memory(memory: str, limit: int) -> None:
    config = replace(ServerConfig(), defaults=DefaultsConfig(memory=memory))
    assert _spec(config)["memory"] == limit


def test_spec_shares_nothing_mutable_with_the_config() -> None:
    config = parse_config("security:\n  tmpfs: {/tmp: size=1m}\n")
    spec = _container(config, image="i")
    assert spec.hostname == spec.name == NAME
    assert spec.aliases == (NAME,)
    assert config.security.tmpfs == {"/tmp": "size=1m"}


# -- companion services (services/companions.companion_spec) ----------------------------

SERVICE_LABELS = labels.for_object("0123456789ab", "alice", "api", "service", session="s1")


def _service(config: ServerConfig, **fields: Any) -> dict[str, Any]:
    service = Service(name="db", image="postgres:16", **fields)
    session = SessionSpec(session_id="s1", install_id="0123456789ab", user="alice",
                          project="api", image="i", hostname=NAME)
    spec = companion_container(session, companion_spec(config, service), network=NETWORK,
                               session_labels=SESSION_LABELS)
    return asdict(spec)


def test_default_service_spec_is_hardened() -> None:
    assert _service(ServerConfig(), env={"POSTGRES_PASSWORD": "x"},
                    volumes=("pgdata:/var/lib/postgresql/data",)) == {
        "name": "podspawn-service.alice.api.db",
        "image": "postgres:16",
        "labels": {**LABELS, "podspawn-role": "service", "podspawn-service": "db"},
        "hostname": "",
        "command": (),
        "env": {"POSTGRES_PASSWORD": "x"},
        "network": NETWORK,
        "aliases": ("db",),
        "nano_cpus": 1_000_000_000,
        "memory": 1024**3,
        "cap_drop": ("ALL",),
        "cap_add": ("CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE",
                    "KILL"),
        "security_opt": ("no-new-privileges:true",),
        "pids_limit": 256,
        "read_only": False,
        "tmpfs": {},
        "runtime": "",
        "mounts": ({"target": "/var/lib/postgresql/data",
                    "source": "podspawn-volume.alice.api.pgdata", "type": "volume",
                    "read_only": False,
                    # no session id: the volume outlives this session
                    "labels": {**labels.owner("0123456789ab", "alice", "api"),
                               "podspawn-role": "volume"}},),
        "init": False,
        "working_dir": "",
        "published": (),
    }
    assert SERVICE_LABELS == {**LABELS, "podspawn-role": "service"}


def test_service_spec_follows_the_admin_profile() -> None:
    config = parse_config(
        """
security:
  cap_drop: [ALL]
  service_cap_add: [SETUID, SETGID]
  service_no_new_privileges: false
  pids_limit: 64
  runtime: runsc
resources: {service_cpus: 0.5, service_memory: 256m}
"""
    )
    spec = _service(config)
    assert {key: spec[key] for key in ("cap_add", "security_opt", "pids_limit", "runtime",
                                       "nano_cpus", "memory")} == {
        "cap_add": ("SETUID", "SETGID"),
        "security_opt": (),
        "pids_limit": 64,
        "runtime": "runsc",
        "nano_cpus": 500_000_000,
        "memory": 256 * 1024**2,
    }
    # the session's own cap_add and no_new_privileges do not leak into services
    assert _service(parse_config("security: {cap_add: [SYS_ADMIN], no_new_privileges: false}\n")
                    )["cap_add"] == _service(ServerConfig())["cap_add"]


@pytest.mark.parametrize(
    ("config", "resources", "nano", "memory"),
    [
        ("", {"cpus": 2, "memory": "2g"}, 2_000_000_000, 2 * 1024**3),
        ("", {"cpus": 64, "memory": "64g"}, 4_000_000_000, 8 * 1024**3),  # clamped
        ("", {"memory": "0"}, 1_000_000_000, 8 * 1024**3),  # "no limit" is the ceiling
        ("resources: {max_cpus: 0}\n", {"cpus": 64}, 64_000_000_000, 1024**3),
        ("resources: {service_cpus: 0}\n", {}, 4_000_000_000, 1024**3),
        ("resources: {service_cpus: 0, max_cpus: 0}\n", {}, 0, 1024**3),
        ("resources: {max_memory: 512m, service_memory: 128m}\n", {"memory": "1g"},
         1_000_000_000, 512 * 1024**2),
    ],
)
def test_service_resources_are_requests_within_the_ceilings(
    config: str, resources: dict[str, Any], nano: int, memory: int
) -> None:
    spec = _service(parse_config(config), resources=resources)
    assert (spec["nano_cpus"], spec["memory"]) == (nano, memory)
