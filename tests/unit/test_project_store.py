"""The resolved Podfile a registered project keeps for its logins (services/project_store)."""

from __future__ import annotations

import json
import os
import socket
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from podspawn.config.schema import ServerConfig, StateConfig
from podspawn.errors import PodfileError, StateError
from podspawn.podfile import load_podfile, parse_podfile
from podspawn.services import project_store as store

PODFILE = """\
base: debian:bookworm
packages: [git]
env: {STAGE: one, HOME_DIR: "${PODSPAWN_HOME}/x"}
services:
  - name: db
    image: postgres:16
    resources: {memory: 512m}
resources: {cpus: 1.5}
on_start: echo hi
"""


@pytest.fixture
def config(tmp_path: Path) -> ServerConfig:
    state = StateConfig(db_path=str(tmp_path / "state" / "state.db"),
                        lock_dir=str(tmp_path / "locks"), homes_dir=str(tmp_path / "homes"))
    return replace(ServerConfig(), state=state)


def checkout(config: ServerConfig, name: str, files: dict[str, str]) -> Path:
    path = Path(store.checkout_dir(config, name))
    path.mkdir(parents=True)
    for relative, text in files.items():
        (path / relative).write_text(text)
    return path


def test_a_stored_podfile_loads_back_unchanged(config: ServerConfig) -> None:
    loaded = parse_podfile(PODFILE)
    digest = loaded.content_hash
    store.store_resolved(config, "api", loaded, digest)
    path = Path(store.resolved_path(config, "api", digest))
    assert path.name == f"api.podfile-{digest}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = store.load_resolved(config, "api", digest)
    assert again.podfile == loaded.podfile
    assert again.content_hash == digest
    assert again.sources == loaded.sources
    assert json.loads(path.read_text())["podfile_hash"] == digest


def test_login_never_reads_the_checkout_once_a_podfile_is_stored(config: ServerConfig) -> None:
    repo = checkout(config, "api", {"podfile.yaml": PODFILE})
    loaded = load_podfile(repo)
    store.store_resolved(config, "api", loaded, loaded.content_hash)
    (repo / "podfile.yaml").write_text("base: debian:bookworm\nenv: {STAGE: two}\n")
    assert store.load_resolved(config, "api", loaded.content_hash).podfile.env["STAGE"] == "one"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda data: data.update(version=2), "cannot use"),
        (lambda data: data.update(project="web"), "cannot use"),
        (lambda data: data["podfile"].update(pakages=["x"]), "cannot use"),
        (lambda data: data.pop("podfile"), "cannot use"),
    ],
)
def test_an_unusable_stored_podfile_names_the_fix(config: ServerConfig, change, problem) -> None:
    loaded = parse_podfile(PODFILE)
    store.store_resolved(config, "api", loaded, loaded.content_hash)
    path = Path(store.resolved_path(config, "api", loaded.content_hash))
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(StateError) as info:
        store.load_resolved(config, "api", loaded.content_hash)
    assert problem in info.value.message
    assert info.value.message.endswith(
        "an administrator must run: podspawn update-project api")
    assert str(path) not in info.value.message  # host paths stay in the log


def test_broken_json_and_a_lost_file_name_the_fix(config: ServerConfig) -> None:
    loaded = parse_podfile(PODFILE)
    store.store_resolved(config, "api", loaded, loaded.content_hash)
    Path(store.resolved_path(config, "api", loaded.content_hash)).write_text("{not json")
    with pytest.raises(StateError, match="unreadable stored Podfile"):
        store.load_resolved(config, "api", loaded.content_hash)
    with pytest.raises(StateError, match="has lost its stored Podfile; an administrator must "
                                         "run: podspawn update-project api"):
        store.load_resolved(config, "api", "0123456789ab")
    with pytest.raises(StateError, match="no valid podfile_hash"):
        store.load_resolved(config, "api", "../../etc/x")


def test_prune_keeps_what_it_is_told_and_only_this_project(config: ServerConfig) -> None:
    one, two = parse_podfile(PODFILE), parse_podfile("base: debian:bookworm\n")
    for name, loaded in (("api", one), ("api", two), ("api-2", one)):
        store.store_resolved(config, name, loaded, loaded.content_hash)
    assert store.stored_hashes(config, "api") == sorted([one.content_hash, two.content_hash])
    store.prune_resolved(config, "api", keep={two.content_hash})
    assert store.stored_hashes(config, "api") == [two.content_hash]
    assert store.stored_hashes(config, "api-2") == [one.content_hash]
    store.prune_resolved(config, "api")
    assert store.stored_hashes(config, "api") == []


def test_a_project_of_the_previous_release_is_resolved_once_from_its_checkout(
    config: ServerConfig,
) -> None:
    checkout(config, "old", {"podfile.yaml": "extends: ./base.yaml\nenv: {CHILD: c}\n",
                             "base.yaml": "base: debian:bookworm\nenv: {PARENT: p}\n"})
    loaded = store.load_resolved(config, "old", "0123456789ab")  # the hash the config holds
    assert loaded.podfile.env == {"PARENT": "p", "CHILD": "c"}
    assert store.stored_hashes(config, "old") == ["0123456789ab"]
    os.unlink(Path(store.checkout_dir(config, "old")) / "base.yaml")  # stored: not read again
    assert store.load_resolved(config, "old", "0123456789ab").podfile == loaded.podfile


def test_a_previous_release_project_with_a_remote_base_is_refused_without_network(
    config: ServerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout(config, "old", {"podfile.yaml": "extends: github.com/team/bases\n"})

    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("a login opened a network connection")

    monkeypatch.setattr(socket, "create_connection", no_socket)
    monkeypatch.setattr(socket.socket, "connect", no_socket)
    with pytest.raises(PodfileError) as info:
        store.load_resolved(config, "old", "0123456789ab")
    assert info.value.message == (
        "project old was registered by an earlier podspawn and its Podfile extends a remote "
        "base, which a login never fetches; an administrator must run: podspawn "
        "update-project old")
    assert store.stored_hashes(config, "old") == []


def test_a_previous_release_project_whose_checkout_is_gone(config: ServerConfig) -> None:
    with pytest.raises(StateError) as info:
        store.load_resolved(config, "gone", "0123456789ab")
    assert info.value.message == (
        "project gone has a Podfile that no longer loads; an administrator must run: "
        "podspawn update-project gone")
