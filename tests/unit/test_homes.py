"""services/homes.py on a temporary directory: the per-project layout and its migration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podspawn.config.schema import ServerConfig, StateConfig
from podspawn.services import homes


@pytest.fixture
def config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(state=StateConfig(homes_dir=str(tmp_path / "homes"),
                                          db_path=str(tmp_path / "state.db"),
                                          lock_dir=str(tmp_path / "locks")))


def _ids() -> tuple[int, int]:
    return os.getuid(), os.getgid()


def test_one_home_per_project_and_one_for_the_default_session(config: ServerConfig) -> None:
    uid, gid = _ids()
    api = homes.home_path(config, "alice", "api", uid=uid, gid=gid)
    web = homes.home_path(config, "alice", "web", uid=uid, gid=gid)
    default = homes.home_path(config, "alice", "", uid=uid, gid=gid)
    assert len({api, web, default}) == 3
    assert default.endswith("/alice/_default")
    assert homes.home_path(config, "alice", "api", uid=uid, gid=gid) == api  # stable
    base = Path(config.state.homes_dir, "alice")
    assert (base / homes.LAYOUT_MARK).exists()
    for path in (Path(config.state.homes_dir), base):
        assert path.stat().st_mode & 0o777 == 0o700


def test_a_previous_release_home_becomes_the_default_one(config: ServerConfig) -> None:
    uid, gid = _ids()
    old = Path(config.state.homes_dir, "bob")
    old.mkdir(parents=True)
    (old / ".bashrc").write_text("mine\n")
    (old / "src").mkdir()
    api = homes.home_path(config, "bob", "api", uid=uid, gid=gid)
    default = Path(config.state.homes_dir, "bob", "_default")
    assert (default / ".bashrc").read_text() == "mine\n"
    assert (default / "src").is_dir()
    assert not any(Path(api).iterdir())  # the project starts with a home of its own
    # a second call does not move things again
    homes.home_path(config, "bob", "", uid=uid, gid=gid)
    assert (default / ".bashrc").read_text() == "mine\n"
    assert not (default / "_default").exists()


def test_a_migration_cut_short_is_finished(config: ServerConfig) -> None:
    uid, gid = _ids()
    staging = Path(config.state.homes_dir, ".carol.migrating")
    (staging / "_default").mkdir(parents=True)
    (staging / "_default" / "notes").write_text("kept\n")
    path = homes.home_path(config, "carol", "", uid=uid, gid=gid)
    assert Path(path, "notes").read_text() == "kept\n"
    assert not staging.exists()
    homes.home_path(config, "carol", "", uid=uid, gid=gid)
    assert Path(path, "notes").read_text() == "kept\n"


@pytest.mark.parametrize(("user", "project"), [("../x", ""), ("alice", "../x"),
                                               ("alice", "_default")])
def test_hostile_names_are_refused(config: ServerConfig, user: str, project: str) -> None:
    with pytest.raises(ValueError):
        homes.home_path(config, user, project, uid=0, gid=0)
