"""The click CLI: every command has working help, version prints, errors leave cleanly."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

import podspawn
from podspawn.__main__ import main
from podspawn.cli.app import COMMANDS, SECTIONS, cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _invoke(runner: CliRunner, args: list[str]) -> click.testing.Result:
    return runner.invoke(cli, args, catch_exceptions=False, prog_name="podspawn")


def _subcommands() -> list[list[str]]:
    """Every command path: ``[name]`` for each command, plus ``[group, sub]`` for groups."""
    paths = []
    ctx = click.Context(cli)
    for name in sorted(COMMANDS):
        paths.append([name])
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in command.list_commands(ctx)]
    return paths


def test_root_help_lists_every_command_by_section(runner: CliRunner) -> None:
    result = _invoke(runner, ["--help"])
    assert result.exit_code == 0
    for name, (section, _, summary) in COMMANDS.items():
        assert section in SECTIONS
        assert f"{section}:" in result.output
        assert re.search(rf"^  {re.escape(name)}\s", result.output, re.M), name
        assert summary.split()[0] in result.output


@pytest.mark.parametrize("path", [*_subcommands(), ["images", "bootstrap"]], ids=" ".join)
def test_help_of_every_command(runner: CliRunner, path: list[str]) -> None:
    result = _invoke(runner, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: podspawn {' '.join(path)}")
    assert "Traceback" not in result.output
    short = _invoke(runner, [*path, "-h"])
    assert short.exit_code == 0
    assert short.output == result.output


def test_every_command_module_resolves() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        assert command.name == name
    assert cli.get_command(ctx, "no-such-command") is None


def test_unknown_command(runner: CliRunner) -> None:
    result = _invoke(runner, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output


def test_version(runner: CliRunner) -> None:
    result = _invoke(runner, ["version"])
    assert result.exit_code == 0
    assert podspawn.__version__ == "0.1.0"
    assert re.fullmatch(r"podspawn v0\.1\.0 \(([0-9a-f]{7,40}|unknown)\)\n", result.output)


def test_version_option(runner: CliRunner) -> None:
    result = _invoke(runner, ["--version"])
    assert (result.exit_code, result.output) == (0, "podspawn v0.1.0\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["add-user", "bad/name", "--key", "x"],
        ["add-user", "../etc", "--key", "x"],
        ["add-user", "Bad", "--key", "x"],
        ["remove-user", "a;b"],
    ],
)
def test_invalid_user_name_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"podspawn: invalid user name {argv[1]!r}: ")
    assert "Traceback" not in err


def test_usage_errors_from_click_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["add-user"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Missing argument 'NAME'" in err
    assert "Traceback" not in err


def test_environment_is_clean() -> None:
    """The autouse fixture in conftest.py: no Docker, agent or podspawn settings leak in."""
    import os

    assert not any(key.startswith("PODSPAWN_") for key in os.environ)
    assert "DOCKER_HOST" not in os.environ
    assert "SSH_AUTH_SOCK" not in os.environ
    assert os.environ["NO_COLOR"] == "1"
    assert os.environ["COLUMNS"] == "80"


def test_connect_is_dispatched_without_click(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from podspawn.__main__ import main\n"
        "rc = main(['connect', '-F', '/dev/null', 'u', 'h'])\n"
        "assert 'click' not in sys.modules and 'rich' not in sys.modules, 'heavy import'\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 2, result.stderr
    assert "usage: podspawn connect [-F SSH_CONFIG] USER HOST PORT" in result.stderr
