"""The text server-setup writes (sshd_config block, sudoers rule) and what auth-keys prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podspawn import authorized_keys
from podspawn.files import BEGIN, END, find_block, with_block
from podspawn.login import auth_keys
from podspawn.services.server_setup import render_block, render_sudoers, sudoers_name
from tests.unit.conftest import KeyPair

BIN = "/usr/local/bin/podspawn"
CONFIG = "/srv/podspawn/config.yaml"


def _directives(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.strip() and not
            line.lstrip().startswith("#")]


@pytest.mark.parametrize("config_path", [None, CONFIG])
def test_block_has_markers_and_nothing_outside(config_path: str | None) -> None:
    block = render_block(binary=BIN, config_path=config_path)
    assert block.startswith(BEGIN)
    assert block.endswith(f"\n{END}\n")
    assert find_block(block) == (0, len(block))
    assert all(line == line.rstrip() for line in block.splitlines())


def test_block_without_config_path() -> None:
    block = render_block(binary=BIN, config_path=None)
    lines = _directives(block)
    assert lines[:3] == [
        f"AuthorizedKeysCommand {BIN} auth-keys %u %t %k",
        "AuthorizedKeysCommandUser podspawn-auth",
        "AcceptEnv PODSPAWN_PROJECT",
    ]
    assert f"ForceCommand /usr/bin/sudo -n {BIN} spawn" in lines
    assert "--config" not in block


def test_block_with_config_path() -> None:
    block = render_block(binary=BIN, config_path=CONFIG)
    lines = _directives(block)
    assert lines[0] == f"AuthorizedKeysCommand {BIN} --config {CONFIG} auth-keys %u %t %k"
    assert f"ForceCommand /usr/bin/sudo -n {BIN} --config {CONFIG} spawn" in lines
    assert block.count("--config") == 2


@pytest.mark.parametrize("config_path", [None, CONFIG])
def test_match_group_locks_down_podspawn_logins(config_path: str | None) -> None:
    lines = _directives(render_block(binary=BIN, config_path=config_path))
    start = lines.index("Match Group podspawn")
    # the global lines come first, so the block must go before any other Match
    assert all(not line.startswith("Match") for line in lines[:start])
    assert lines[-1] == "Match all"
    inside = lines[start + 1 : -1]
    for required in [
        "DisableForwarding yes",
        "AllowTcpForwarding no",
        "AllowStreamLocalForwarding no",
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "PermitTunnel no",
        "PermitUserRC no",
        "PermitListen none",
        "PermitOpen none",
        "GatewayPorts no",
        "AuthorizedKeysFile none",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
    ]:
        assert required in inside
    force = [line for line in inside if line.startswith("ForceCommand ")]
    assert len(force) == 1
    assert force[0].startswith("ForceCommand /usr/bin/sudo -n ")
    assert force[0].endswith(" spawn")
    # each keyword once: sshd takes the first value and silently ignores the rest
    keywords = [line.split()[0].lower() for line in lines if not line.startswith("Match")]
    assert len(keywords) == len(set(keywords))


def test_block_in_a_real_sshd_config_stays_global_and_is_idempotent() -> None:
    original = (
        "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\n"
        "UsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n"
        "Match User anoncvs\n    X11Forwarding no\n"
    )
    block = render_block(binary=BIN, config_path=None)
    once = with_block(original, block, before_match=True)
    assert once.index(block) < once.index("Match User anoncvs")
    assert once.startswith(original.split("Match", maxsplit=1)[0])
    assert with_block(once, block, before_match=True) == once


def test_sudoers_name() -> None:
    assert sudoers_name(None) == ("podspawn", "PODSPAWN_SPAWN")
    assert sudoers_name("") == ("podspawn", "PODSPAWN_SPAWN")
    name, alias = sudoers_name(CONFIG)
    # sudo's #includedir skips names with a '.' or ending in '~'; aliases are upper case
    assert re.fullmatch(r"podspawn-[0-9a-f]{8}", name)
    assert re.fullmatch(r"PODSPAWN_SPAWN_[0-9A-F]{8}", alias)
    assert name.removeprefix("podspawn-").upper() == alias.removeprefix("PODSPAWN_SPAWN_")
    assert sudoers_name(CONFIG) == (name, alias)
    assert sudoers_name("/srv/other/config.yaml") != (name, alias)


@pytest.mark.parametrize("config_path", [None, CONFIG])
def test_sudoers_allows_exactly_the_forced_command(config_path: str | None) -> None:
    text = render_sudoers(binary=BIN, config_path=config_path)
    _, alias = sudoers_name(config_path)
    command = authorized_keys.forced_command(BIN, config_path).removeprefix("/usr/bin/sudo -n ")
    assert text.endswith("\n")
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules[0] == f"Cmnd_Alias {alias} = {command}"
    assert rules[-1] == f"%podspawn ALL=(root) NOPASSWD: {alias}"
    assert f"Defaults!{alias} !use_pty, !pam_session, !lecture" in rules
    # what sshd forces is what sudo allows
    block = render_block(binary=BIN, config_path=config_path)
    assert f"ForceCommand /usr/bin/sudo -n {command}\n" in block
    assert ("--config" in text) == (config_path is not None)


def test_sudoers_commands() -> None:
    assert f"Cmnd_Alias PODSPAWN_SPAWN = {BIN} spawn\n" in render_sudoers(
        binary=BIN, config_path=None
    )
    _, alias = sudoers_name(CONFIG)
    assert f"Cmnd_Alias {alias} = {BIN} --config {CONFIG} spawn\n" in render_sudoers(
        binary=BIN, config_path=CONFIG
    )


def test_sudoers_keeps_only_harmless_environment() -> None:
    text = render_sudoers(binary=BIN, config_path=None)
    (keep_line,) = [line for line in text.splitlines() if "env_keep" in line]
    kept = keep_line.split('"')[1].split()
    assert {"SSH_ORIGINAL_COMMAND", "PODSPAWN_PROJECT", "SSH_CONNECTION"} <= set(kept)
    # anything that steers a root Python process or podspawn itself stays out
    for name in kept:
        assert not name.startswith(("PYTHON", "LD_", "PODSPAWN_C", "PODSPAWN_D", "SUDO_"))
        assert name not in ("PATH", "HOME", "PODSPAWN_CONFIG", "PODSPAWN_DEBUG", "IFS")


def test_forced_command() -> None:
    assert authorized_keys.forced_command(BIN, None) == f"/usr/bin/sudo -n {BIN} spawn"
    assert authorized_keys.forced_command(BIN, CONFIG) == (
        f"/usr/bin/sudo -n {BIN} --config {CONFIG} spawn"
    )


OPTIONS = f'command="/usr/bin/sudo -n {BIN} spawn",restrict,pty'


@pytest.fixture
def key_dir(tmp_path: Path, ssh_keys: dict[str, KeyPair]) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "alice").write_text(
        "\n".join(
            [
                "# alice's keys, written by add-user",
                "",
                ssh_keys["ed25519"].public_line,
                "   ",
                "   # an indented comment",
                f"restrict {ssh_keys['rsa'].public_line}",
                f'command="/bin/sh" {ssh_keys["rsa"].public_line}',
                f'from="*",no-pty {ssh_keys["rsa"].public_line}',
                f"  {ssh_keys['ecdsa256'].public_line}  ",
                "",
            ]
        )
    )
    return keys


def test_key_lines(key_dir: Path, ssh_keys: dict[str, KeyPair]) -> None:
    command = authorized_keys.forced_command(BIN, None)
    lines = authorized_keys.key_lines("alice", key_dir=str(key_dir), command=command)
    assert lines == [
        f"{OPTIONS} {ssh_keys['ed25519'].public_line}",
        f"{OPTIONS} {ssh_keys['ecdsa256'].public_line}",
    ]


def test_key_lines_of_an_unknown_user(key_dir: Path) -> None:
    assert authorized_keys.key_lines("bob", key_dir=str(key_dir), command="x") == []
    assert authorized_keys.key_lines("alice", key_dir=str(key_dir / "nope"), command="x") == []


def _config(tmp_path: Path, key_dir: Path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(f"auth:\n  key_dir: {key_dir}\n")
    return str(path)


def test_run_prints_the_keys(
    tmp_path: Path, key_dir: Path, ssh_keys: dict[str, KeyPair], capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, key_dir)
    for args in (["alice"], ["alice", "ssh-ed25519", "AAAA"]):
        assert auth_keys.run(args, config_path=config, binary=BIN) == 0
        out, err = capsys.readouterr()
        options = f'command="/usr/bin/sudo -n {BIN} --config {config} spawn",restrict,pty'
        assert out == (
            f"{options} {ssh_keys['ed25519'].public_line}\n"
            f"{options} {ssh_keys['ecdsa256'].public_line}\n"
        )
        assert err == ""


@pytest.mark.parametrize(
    "args",
    [[], [""], ["../x"], ["a/b"], ["../keys/alice"], ["./alice"], ["alice/"], ["/etc/passwd"],
     ["Alice"], ["alice\n"], ["-alice"], ["x" * 33], ["al ice"], ["$USER"]],
)
def test_run_with_an_invalid_user_prints_nothing(
    tmp_path: Path, key_dir: Path, ssh_keys: dict[str, KeyPair], args: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # files a path-joining bug would find
    line = ssh_keys["ed25519"].public_line + "\n"
    (tmp_path / "x").write_text(line)
    (key_dir / "a").mkdir()
    (key_dir / "a" / "b").write_text(line)
    assert auth_keys.run(args, config_path=_config(tmp_path, key_dir), binary=BIN) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "config_text",
    ["session: [broken\n", "session:\n  mode: forever\n", "auth:\n  key_dir: relative\n"],
)
def test_run_with_a_broken_config_prints_nothing(
    tmp_path: Path, config_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_text)
    assert auth_keys.run(["alice"], config_path=str(path), binary=BIN) == 0
    assert capsys.readouterr() == ("", "")
