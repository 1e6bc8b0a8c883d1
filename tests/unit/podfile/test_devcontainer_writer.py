"""``init --from-devcontainer``: the written Podfile loads to what add-project would use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from podspawn.__main__ import main
from podspawn.errors import PodfileError
from podspawn.podfile import load_podfile
from podspawn.podfile.devcontainer_writer import dockerfile_stage, podfile_from_devcontainer
from tests.unit.podfile.conftest import WriteFile

FULL = {
    "name": "demo",
    "image": "debian:bookworm",
    "containerEnv": {"A": "1", "HOME_BIN": "${containerEnv:HOME}/bin"},
    "forwardPorts": [3000, "db:5432"],
    "workspaceFolder": "/workspaces/demo",
    "onCreateCommand": "make deps",
    "postCreateCommand": ["npm", "install", "a b"],
    "postStartCommand": {"one": "echo 1", "two": "echo 2"},
    "features": {"ghcr.io/devcontainers/features/go:1": {}},
    "remoteUser": "vscode",
    "shutdownAction": "stopContainer",
    "runArgs": ["--init", "--label", "team=a", "-e", "MODE=dev"],
    "mounts": ["source=cache,target=/cache,type=volume"],
}


def test_the_written_podfile_equals_the_conversion(tmp_path: Path, write: WriteFile) -> None:
    write(".devcontainer/devcontainer.json", json.dumps(FULL))
    converted = load_podfile(tmp_path).podfile
    source, text = podfile_from_devcontainer(tmp_path)
    assert source == ".devcontainer/devcontainer.json"
    shutil.rmtree(tmp_path / ".devcontainer")
    (tmp_path / "podfile.yaml").write_text(text)
    assert load_podfile(tmp_path).podfile == converted
    assert list(yaml.safe_load(text))[:3] == ["base", "env", "ports"]
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert ("#   features (ghcr.io/devcontainers/features/go:1) are installed only when the "
            "project is registered from its devcontainer.json") in comments
    assert "#   shutdownAction is ignored: sessions end after podspawn's grace period (see " \
        "the Podfile's mode)" in comments
    assert "#   runArgs --init, --label ignored: podspawn sets these itself" in comments
    written = yaml.safe_load(text)
    assert written["image_user"] == "vscode"
    assert written["volumes"] == ["cache:/cache"]
    assert written["env"]["MODE"] == "dev"
    assert any("db:5432" in line for line in comments)


def test_a_build_writes_its_stage_base_and_lists_its_steps(tmp_path: Path,
                                                           write: WriteFile) -> None:
    write(".devcontainer/devcontainer.json",
          '{"build": {"dockerfile": "Dockerfile", "target": "dev"}}')
    write(".devcontainer/Dockerfile",
          "# comment\nFROM debian:bookworm AS base\nRUN apt-get update \\\n"
          "    && apt-get install -y git\n"
          "FROM base AS dev\nENV X=1\nFROM alpine AS prod\nRUN true\n")
    _source, text = podfile_from_devcontainer(tmp_path)
    assert yaml.safe_load(text) == {"base": "debian:bookworm"}
    assert "#       RUN apt-get update && apt-get install -y git" in text.splitlines()
    assert "#       ENV X=1" in text.splitlines()
    assert "RUN true" not in text


@pytest.mark.parametrize(
    ("dockerfile", "target", "expected"),
    [
        ("FROM ubuntu:24.04\nRUN a\n", "", ("ubuntu:24.04", ["RUN a"])),
        ("FROM --platform=linux/amd64 debian AS x\nFROM alpine\n", "X", ("debian", [])),
        ("ARG V=1\nFROM node:${V}\n", "", ("", [])),
        ("FROM debian\n", "missing", ("", [])),
    ],
)
def test_dockerfile_stage(dockerfile: str, target: str,
                          expected: tuple[str, list[str]]) -> None:
    assert dockerfile_stage(dockerfile, target) == expected


def test_no_devcontainer_and_compose_are_refused(tmp_path: Path, write: WriteFile) -> None:
    with pytest.raises(PodfileError, match=r"has no \.devcontainer/devcontainer\.json"):
        podfile_from_devcontainer(tmp_path)
    write(".devcontainer.json", '{"dockerComposeFile": "c.yml", "service": "app"}')
    with pytest.raises(PodfileError, match=r"^\.devcontainer\.json: dockerComposeFile c\.yml"):
        podfile_from_devcontainer(tmp_path)


def test_the_cli_writes_it_and_refuses_cleanly(tmp_path: Path, write: WriteFile,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--from-devcontainer", str(tmp_path)]) == 2
    assert "has no .devcontainer" in capsys.readouterr().err
    assert not (tmp_path / "podfile.yaml").exists()
    write(".devcontainer.json", '{"image": "debian:bookworm"}')
    assert main(["init", "--from-devcontainer", "-t", "node", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["--json", "init", "--from-devcontainer", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["devcontainer"] == ".devcontainer.json"
    assert yaml.safe_load((tmp_path / "podfile.yaml").read_text()) == {"base": "debian:bookworm"}
    assert main(["init", "--from-devcontainer", str(tmp_path)]) == 1
    assert "pass --force" in capsys.readouterr().err
