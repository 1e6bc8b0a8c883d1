"""How a reserved session starts is decided as data (``sessions.start_plan``), before any
engine, directory or lock is touched; converging and recording are separate steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from podspawn.config.loader import parse_config
from podspawn.config.schema import ServerConfig
from podspawn.services import limits
from podspawn.services.binds import session_staging
from podspawn.services.overrides import Dotfiles, Effective
from podspawn.services.sessions import Plan, StartPlan, session_spec, start_plan


@pytest.fixture(autouse=True)
def big_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "machine_cpus", lambda: 64)


S1, S2 = "a1" * 16, "b2" * 16


def _config(tmp_path: Path) -> ServerConfig:
    state = tmp_path / "state"
    return parse_config(
        f"state:\n  db_path: {state}/state.db\n  lock_dir: {state}/locks\n"
        f"  homes_dir: {state}/homes\n"
        "security:\n  allowed_bind_roots: [/srv/shared]\n".encode()
    )


def _plan(config: ServerConfig, mode: str) -> Plan:
    return Plan(user="alice", project="api", image="podspawn/base:0123456789ab", podfile=None,
                uid=1001, gid=1001,
                settings=Effective(defaults=config.defaults, mode=mode, env={"A": "1"},
                                   dotfiles=Dotfiles()))


def test_a_plan_names_spec_staging_and_no_home(tmp_path: Path) -> None:
    config = _config(tmp_path)
    plan = _plan(config, "grace-period")
    start = start_plan(config, plan, session_id=S1, install_id="0123456789ab")
    assert isinstance(start, StartPlan)
    assert start.spec == session_spec(config, plan, session_id=S1, install_id="0123456789ab")
    assert (start.spec.session_id, start.spec.install_id, start.spec.image) == (
        S1, "0123456789ab", "podspawn/base:0123456789ab")
    assert start.spec.home is None
    assert start.home_target == ""
    assert start.binds.roots == ("/srv/shared",)
    assert start.binds.staging == session_staging(config.state.db_path, "alice", "api", S1)
    assert start.binds.staging.startswith(str(tmp_path / "state") + "/")


def test_a_persistent_session_plans_a_home_but_makes_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    start = start_plan(config, _plan(config, "persistent"), session_id=S2,
                       install_id="0123456789ab")
    assert start.home_target == "/home/alice"
    assert start.spec.home is None  # the directory is made when the session converges
    assert not (tmp_path / "state").exists()  # pure: no directory, database or lock


def test_two_sessions_of_one_pair_stage_apart(tmp_path: Path) -> None:
    config = _config(tmp_path)
    plan = _plan(config, "grace-period")
    one = start_plan(config, plan, session_id=S1, install_id="0123456789ab")
    two = start_plan(config, plan, session_id=S2, install_id="0123456789ab")
    assert one.binds.staging != two.binds.staging
    assert one.spec.session_id != two.spec.session_id
