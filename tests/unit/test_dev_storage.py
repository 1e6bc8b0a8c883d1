"""The dev container's own volumes, capabilities and host requirements (from a
devcontainer's mounts, capAdd and hostRequirements)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podspawn import labels
from podspawn.config.schema import SecurityConfig, ServerConfig
from podspawn.errors import PodfileError
from podspawn.podfile import validate
from podspawn.podfile.model import HostRequirements
from podspawn.runtime.container_runtime import session_container
from podspawn.services.dev_storage import check_caps, check_session_binds
from podspawn.services.host_requirements import unmet
from podspawn.services.overrides import Dotfiles, Effective
from podspawn.services.sessions import Plan, session_spec


def _plan(config: ServerConfig, volumes: list[str]) -> Plan:
    return Plan(user="alice", project="api", image="i", podfile=validate(
        {"base": "i", "volumes": volumes}), uid=1001, gid=1001,
        settings=Effective(defaults=config.defaults, mode="grace-period", env={},
                           dotfiles=Dotfiles()))


def test_the_session_container_mounts_its_named_volumes_but_not_unstaged_binds() -> None:
    config = ServerConfig()
    spec = session_spec(config, _plan(config, ["cache:/cache:ro", "/srv/x:/x"]),
                        session_id="s1", install_id="0123456789ab")
    container = session_container(spec, network="n", session_labels={})
    volumes = [m for m in container.mounts if m.target == "/cache"]
    assert len(volumes) == 1
    assert (volumes[0].type, volumes[0].read_only) == ("volume", True)
    assert volumes[0].source == "podspawn-volume.alice.api.cache"
    assert volumes[0].labels[labels.ROLE] == "volume"
    assert not [m for m in container.mounts if m.target == "/x"]  # staged at creation only


def test_a_bind_is_checked_on_disk(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "link").symlink_to("/etc")
    roots = (str(tmp_path),)
    check_session_binds(validate({"base": "i", "volumes": [f"{tmp_path}/ok:/ok"]}), roots)
    with pytest.raises(PodfileError) as info:
        check_session_binds(validate({"base": "i", "volumes": [f"{tmp_path}/link:/l"]}), roots)
    assert info.value.message.startswith(f"the Podfile's volumes.0 ({tmp_path}/link:/l) cannot "
                                         "be mounted: the host path passes through a symbolic")


def test_cap_add_must_be_granted_by_the_admin() -> None:
    config = ServerConfig(security=SecurityConfig(cap_add=("CHOWN", "SYS_PTRACE")))
    check_caps(config, validate({"base": "i", "cap_add": ["SYS_PTRACE"]}))
    with pytest.raises(PodfileError) as info:
        check_caps(config, validate({"base": "i", "cap_add": ["SYS_PTRACE", "NET_ADMIN"]}))
    assert info.value.message.startswith("the Podfile's cap_add asks for NET_ADMIN, which this "
                                         "server does not grant (security.cap_add)")


def test_unmet_host_requirements_are_named() -> None:
    wanted = HostRequirements(cpus=8, memory="16g", storage="100g", gpu=True)
    assert unmet(wanted, cpus=2, memory=4 * 1024**3, free=10 * 1024**3, gpu=False) == [
        "the project asks for 8 CPUs and this host has 2",
        "the project asks for 16g of memory and this host has 4096m",
        "the project asks for 100g of storage and / has 10g free",
        "the project asks for a GPU and this host has none",
    ]
    assert unmet(wanted, cpus=8, memory=16 * 1024**3, free=100 * 1024**3, gpu=True) == []
    assert unmet(HostRequirements()) == []
