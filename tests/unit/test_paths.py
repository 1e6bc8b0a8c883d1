"""Server paths are spelt in one module, and everything of podspawn's beside the database
lives in the database's own (root-only) directory."""

from __future__ import annotations

import pytest

from podspawn import paths
from podspawn.config.schema import ServerConfig
from podspawn.services import binds, project_store, repo_auth


def test_the_state_directory_holds_everything_beside_the_database() -> None:
    config = ServerConfig()
    state = paths.state_dir(config.state.db_path)
    assert state == "/var/lib/podspawn"
    assert paths.host_key_paths(state, "alice") == (
        f"{state}/hostkeys/alice", f"{state}/hostkeys/alice.pub")
    assert project_store.projects_root(config) == f"{state}/projects"
    assert repo_auth.credentials_dir(config) == f"{state}/credentials"
    assert binds.staging_root(config.state.db_path) == f"{state}/binds"
    assert paths.key_file(config.auth.key_dir, "alice") == "/etc/podspawn/keys/alice"


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODSPAWN_CONFIG", raising=False)
    assert paths.config_path() == paths.DEFAULT_CONFIG_PATH == "/etc/podspawn/config.yaml"
    monkeypatch.setenv("PODSPAWN_CONFIG", "/srv/env.yaml")
    assert paths.config_path() == "/srv/env.yaml"
    assert paths.config_path("/srv/explicit.yaml") == "/srv/explicit.yaml"
