"""devcontainer.json: JSONC parsing and the conversion table."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile import command_script, convert_devcontainer, load_podfile, parse_jsonc

from .conftest import WriteFile

JSONC = """\
// top comment
{
  /* block
     comment */
  "image": "debian:bookworm", // trailing comment
  "url": "http://example.com/*not-a-comment*/", "slashes": "a // b",
  "escaped": "quote \\" // still a string",
  "list": [1, 2, 3,],
  "nested": {"a": 1,},
}
"""


def test_jsonc_comments_and_trailing_commas() -> None:
    assert parse_jsonc(JSONC) == {
        "image": "debian:bookworm",
        "url": "http://example.com/*not-a-comment*/",
        "slashes": "a // b",
        "escaped": 'quote " // still a string',
        "list": [1, 2, 3],
        "nested": {"a": 1},
    }


def test_jsonc_error_position_survives_comment_removal() -> None:
    with pytest.raises(PodfileError) as info:
        parse_jsonc('// one\n/* two\n three */\n{"image": }\n')
    assert info.value.message == (
        "devcontainer.json: invalid JSON at line 4, column 11: Expecting value"
    )


def test_jsonc_unclosed_comment() -> None:
    with pytest.raises(PodfileError, match=r"a /\* comment is never closed"):
        parse_jsonc('{"image": "x"} /* oops')


CONVERSIONS = [
    pytest.param({"image": "debian:bookworm"}, {"base": "debian:bookworm"}, [], id="image"),
    pytest.param({}, {"base": "ubuntu:24.04"}, ["it names no image; using ubuntu:24.04"],
                 id="no-image"),
    pytest.param(
        {"image": "i", "containerEnv": {"A": "c", "B": "c"}, "remoteEnv": {"B": "r", "C": 3}},
        {"base": "i", "env": {"A": "c", "B": "r", "C": "3"}}, [], id="env-remote-wins",
    ),
    pytest.param(
        {"image": "i", "containerEnv": {"A": "c"}, "remoteEnv": {"A": None}},
        {"base": "i"}, [], id="remote-null-unsets",
    ),
    pytest.param(
        {"image": "i", "remoteEnv": {"PATH": "${containerEnv:PATH}:/opt/bin",
                                     "LANG": "${containerEnv:LANG:C.UTF-8}",
                                     "PLAIN": "${HOME}/x"}},
        {"base": "i", "env": {"PATH": "${PATH}:/opt/bin", "LANG": "${LANG:-C.UTF-8}",
                              "PLAIN": "${HOME}/x"}},
        [], id="container-env-variables",
    ),
    pytest.param(
        {"image": "i", "remoteEnv": {"TOKEN": "${localEnv:GITHUB_TOKEN}",
                                     "WS": "${containerWorkspaceFolder}/bin", "OK": "1"}},
        {"base": "i", "env": {"OK": "1"}},
        ["env TOKEN uses a devcontainer variable podspawn cannot fill in; it was left out",
         "env WS uses a devcontainer variable podspawn cannot fill in; it was left out"],
        id="local-variables-dropped",
    ),
    pytest.param(
        {"image": "i", "forwardPorts": [3000, "8080", "db:5432", 3000]},
        {"base": "i", "ports": {"expose": [3000, 8080]}},
        ["forwardPorts entry 'db:5432' is not a port of the container; skipped"],
        id="forward-ports",
    ),
    pytest.param({"image": "i", "workspaceFolder": "/workspaces/app"},
                 {"base": "i", "workspace": "/workspaces/app"}, [], id="workspace-folder"),
    pytest.param({"image": "i", "postCreateCommand": "npm install && npm test"},
                 {"base": "i", "on_create": "npm install && npm test"}, [], id="string-form"),
    pytest.param({"image": "i", "postCreateCommand": ["npm", "run", "my script; rm -rf /"]},
                 {"base": "i", "on_create": "npm run 'my script; rm -rf /'"}, [],
                 id="array-form-no-shell"),
    pytest.param(
        {"image": "i", "onCreateCommand": "a", "updateContentCommand": ["b", "c d"],
         "postCreateCommand": "e"},
        {"base": "i", "on_create": "(a) && (b 'c d') && (e)"}, [], id="create-phases-in-order",
    ),
    pytest.param(
        {"image": "i", "postStartCommand": "s", "postAttachCommand": "t"},
        {"base": "i", "on_start": "(s) && (t)"},
        ["postAttachCommand runs once when a session starts, not on every attach"],
        id="start-and-attach",
    ),
    pytest.param(
        {"image": "i", "postCreateCommand": {"only": "make"}},
        {"base": "i", "on_create": "make"}, [], id="object-with-one-entry",
    ),
    pytest.param(
        {"image": "i", "features": {"ghcr.io/x/y:1": {}}, "remoteUser": "vscode",
         "mounts": [], "initializeCommand": "rm -rf ~", "name": "App",
         "customizations": {"vscode": {}}, "$schema": "x"},
        {"base": "i", "image_user": "vscode"},
        ["initializeCommand is not run: it would run on the server, not in the container"],
        id="unsupported-keys-named",
    ),
]


@pytest.mark.parametrize(("config", "podfile", "warnings"), CONVERSIONS)
def test_conversion(config: dict[str, Any], podfile: dict[str, Any], warnings: list[str]) -> None:
    assert convert_devcontainer(config) == (podfile, warnings)


def test_compose_configs_need_their_repository() -> None:
    with pytest.raises(PodfileError) as info:
        convert_devcontainer({"dockerComposeFile": "compose.yaml", "service": "app"})
    assert info.value.message.startswith("it uses Docker Compose; load it with its repository")


def test_a_build_needs_its_built_base() -> None:
    with pytest.raises(PodfileError):
        convert_devcontainer({"build": {"dockerfile": "Dockerfile"}})
    podfile, warnings = convert_devcontainer(
        {"build": {"dockerfile": "Dockerfile", "args": {"A": "1"}}},
        built_base="podspawn/build:0123456789ab")
    assert podfile == {"base": "podspawn/build:0123456789ab"}
    assert warnings == []


def test_an_image_wins_over_a_build_with_a_warning() -> None:
    podfile, warnings = convert_devcontainer({"image": "debian:bookworm", "dockerFile": "D"})
    assert podfile == {"base": "debian:bookworm"}
    assert warnings == ["dockerFile is ignored, since image is set"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "postCreateCommand must be a string, an array of strings or an object"),
        ([["nested"]], "postCreateCommand: every item of an array command must be a string"),
        ({"a": 1}, "postCreateCommand.a must be a string or an array of strings"),
    ],
)
def test_bad_command_forms(value: object, message: str) -> None:
    with pytest.raises(PodfileError) as info:
        convert_devcontainer({"image": "i", "postCreateCommand": value})
    assert info.value.message == message


def test_object_form_runs_in_parallel_and_waits(tmp_path: Path) -> None:
    script = command_script({"a": "sleep 0.3; echo a > a.txt", "b": ["touch", "b file"]})
    assert script is not None
    assert "& _ps0=$!" in script and "& _ps1=$!" in script
    done = subprocess.run(["sh", "-c", script], cwd=tmp_path, check=False)
    assert done.returncode == 0
    assert (tmp_path / "a.txt").read_text() == "a\n"
    assert (tmp_path / "b file").exists()


def test_object_form_fails_when_any_command_fails(tmp_path: Path) -> None:
    script = command_script({"ok": "true", "bad": "exit 3", "comment": "true # trailing"})
    assert script is not None
    assert subprocess.run(["sh", "-c", script], cwd=tmp_path, check=False).returncode != 0


def test_phases_stop_at_the_first_failure(tmp_path: Path) -> None:
    podfile, _ = convert_devcontainer(
        {"onCreateCommand": "false", "postCreateCommand": "touch ran"}
    )
    subprocess.run(["sh", "-c", podfile["on_create"]], cwd=tmp_path, check=False)
    assert not (tmp_path / "ran").exists()


def test_loaded_devcontainer_is_validated(tmp_path: Path, write: WriteFile) -> None:
    write(".devcontainer.json", '{"image": "debian:bookworm", "forwardPorts": [99999]}')
    with pytest.raises(PodfileError) as info:
        load_podfile(tmp_path)
    assert info.value.message.splitlines() == [
        ".devcontainer.json is not a valid Podfile, 1 problem:",
        "  ports.expose.0: Input should be less than or equal to 65535",
    ]


def test_devcontainer_build_error_names_the_file(tmp_path: Path, write: WriteFile) -> None:
    write(".devcontainer/devcontainer.json", '{"dockerComposeFile": "compose.yml"}')
    with pytest.raises(PodfileError,
                       match=r"^\.devcontainer/devcontainer\.json: dockerComposeFile "
                             r"\.devcontainer/compose\.yml does not exist"):
        load_podfile(tmp_path)
