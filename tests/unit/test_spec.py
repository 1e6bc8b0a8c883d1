"""services/sessions.build_spec: the session container as plain data, compared as a dict."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import pytest

from podspawn import labels
from podspawn.config.loader import parse_config
from podspawn.config.schema import DefaultsConfig, ServerConfig
from podspawn.services.sessions import build_spec

NAME = "podspawn-alice-api"
NETWORK = "podspawn-network.alice.api"
LABELS = labels.for_object("0123456789ab", "alice", "api", "session", session="s1")


def _spec(config: ServerConfig, **extra: Any) -> dict[str, Any]:
    spec = build_spec(config, name=NAME, image="ubuntu:24.04", labels=LABELS, network=NETWORK,
                      **extra)
    return asdict(spec)


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
    spec = build_spec(config, name=NAME, image="i", labels=dict(LABELS), network=NETWORK)
    assert spec.hostname == spec.name == NAME
    assert spec.aliases == (NAME,)
    assert config.security.tmpfs == {"/tmp": "size=1m"}
