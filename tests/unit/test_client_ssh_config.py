"""``podspawn setup``: the Host *.pod block, where it goes, and what it leaves alone."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from podspawn.cli.app import cli
from podspawn.client import ssh_config as sc
from podspawn.errors import SetupError
from podspawn.files import BEGIN, END

BLOCK = sc.render_block(command=["/opt/podspawn/bin/podspawn"],
                        known_hosts="/home/sarah/.podspawn/known_hosts")


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    binary = tmp_path / "bin" / "podspawn"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(binary)])
    return path


def setup(*args: str):
    return CliRunner().invoke(cli, ["setup", *args], catch_exceptions=False)


# -- rendering -------------------------------------------------------------------------------


def test_block_text_is_exact():
    assert (
        f"{BEGIN}\n"
        "# Written by `podspawn setup`, which replaces this block on every run.\n"
        "Host *.pod\n"
        "    ProxyCommand /opt/podspawn/bin/podspawn connect %r %h %p\n"
        "    UserKnownHostsFile /home/sarah/.podspawn/known_hosts\n"
        "    StrictHostKeyChecking yes\n"
        f"{END}\n"
    ) == BLOCK


def test_block_never_turns_host_key_checking_off():
    lowered = BLOCK.lower()
    assert "stricthostkeychecking no" not in lowered
    assert "/dev/null" not in lowered
    assert "stricthostkeychecking yes" in lowered


def test_non_default_ssh_config_is_passed_to_connect():
    block = sc.render_block(command=["/usr/bin/podspawn"], known_hosts="/h/k",
                            ssh_config="/etc/my ssh/config")
    assert "ProxyCommand /usr/bin/podspawn connect -F '/etc/my ssh/config' %r %h %p\n" in block


def test_paths_are_quoted_and_percent_escaped():
    command = sc.proxy_command(["/opt/my apps/podspawn"], ssh_config="/c/100%")
    assert command == "'/opt/my apps/podspawn' connect -F /c/100%% %r %h %p"
    assert sc.config_value("/home/a b/.podspawn/known_hosts") == '"/home/a b/.podspawn/known_hosts"'
    assert sc.config_value("/home/x%y/k") == "/home/x%%y/k"


@pytest.mark.parametrize("path", ['/home/a"b/k', "/home/a\\b/k", "/home/${X}/k", "/home/a\nb/k"])
def test_unusable_known_hosts_paths_are_refused(path):
    with pytest.raises(SetupError):
        sc.config_value(path)


def test_newline_in_binary_path_is_refused():
    with pytest.raises(SetupError):
        sc.proxy_command(["/opt/a\nHost evil/podspawn"])


# -- insertion -------------------------------------------------------------------------------


def test_block_goes_before_the_first_host_line():
    text = "ServerAliveInterval 60\n\nHost work\n  HostName w\nHost *\n  User me\n"
    new = sc.with_pod_block(text, BLOCK)
    rest = "\nHost work\n  HostName w\nHost *\n  User me\n"
    assert new == "ServerAliveInterval 60\n\n" + BLOCK + rest


def test_block_goes_before_a_match_line_and_keeps_comments_with_their_host():
    text = "Compression yes\n# my laptop\n# (old)\nMatch host laptop\n  User x\n"
    new = sc.with_pod_block(text, BLOCK)
    rest = "\n# my laptop\n# (old)\nMatch host laptop\n  User x\n"
    assert new == "Compression yes\n\n" + BLOCK + rest


def test_hostname_and_equals_forms():
    text = "HostName ignored\nHost=foo\n"
    assert sc.first_section_offset(text) == len("HostName ignored\n")
    assert sc.first_section_offset("  host   bar\n") == 0
    assert sc.first_section_offset("HostKeyAlias x\n") is None


def test_block_is_appended_when_there_is_no_section():
    assert sc.with_pod_block("", BLOCK) == BLOCK
    assert sc.with_pod_block("Compression yes", BLOCK) == "Compression yes\n\n" + BLOCK


def test_block_replaced_in_place_and_idempotent():
    text = "A 1\n\nHost x\n"
    once = sc.with_pod_block(text, BLOCK)
    assert sc.with_pod_block(once, BLOCK) == once
    other = sc.render_block(command=["/new/podspawn"], known_hosts="/h/k")
    updated = sc.with_pod_block(once, other)
    assert updated == once.replace(BLOCK, other)


def test_notices_name_global_overrides_and_old_pod_blocks():
    text = sc.with_pod_block(
        "StrictHostKeyChecking no\nHost *.pod\n  UserKnownHostsFile /dev/null\n", BLOCK)
    found = sc.notices(text)
    assert any("line 1 sets StrictHostKeyChecking" in n for n in found)
    assert any("another Host section for *.pod" in n for n in found)
    assert sc.notices(sc.with_pod_block("Host a\n", BLOCK)) == []


# -- the command -----------------------------------------------------------------------------


def test_setup_creates_ssh_dir_and_file_private(home):
    result = setup()
    assert result.exit_code == 0
    assert result.stdout.strip() == "added *.pod block to ~/.ssh/config"
    ssh_dir = home / ".ssh"
    assert stat.S_IMODE(ssh_dir.stat().st_mode) == 0o700
    config = ssh_dir / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = config.read_text()
    assert text.startswith(BEGIN)
    assert f"ProxyCommand {sys.argv[0]} connect %r %h %p\n" in text
    assert f"UserKnownHostsFile {home}/.podspawn/known_hosts\n" in text
    assert "-F" not in text


def test_setup_twice_leaves_file_identical(home):
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    original = "# mine\r\nCompression yes\n\nHost *\n  StrictHostKeyChecking ask\n\xe9\n"
    (ssh_dir / "config").write_bytes(original.encode("latin-1"))
    (ssh_dir / "config").chmod(0o640)
    assert setup().exit_code == 0
    first = (ssh_dir / "config").read_bytes()
    before, _, after = first.partition(BEGIN.encode())
    assert before == b"# mine\r\nCompression yes\n\n"
    tail = after.split(END.encode() + b"\n", 1)[1]
    assert tail == b"\nHost *\n  StrictHostKeyChecking ask\n\xe9\n"
    assert stat.S_IMODE((ssh_dir / "config").stat().st_mode) == 0o640
    assert (ssh_dir / "config.podspawn.bak").read_bytes() == original.encode("latin-1")
    again = setup()
    assert again.exit_code == 0
    assert "already has podspawn's *.pod block" in again.stdout
    assert (ssh_dir / "config").read_bytes() == first


def test_setup_follows_a_symlinked_config(home, tmp_path):
    real = tmp_path / "dotfiles" / "ssh_config"
    real.parent.mkdir()
    real.write_text("Host a\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").symlink_to(real)
    assert setup().exit_code == 0
    assert (home / ".ssh" / "config").is_symlink()
    assert BEGIN in real.read_text()


def test_setup_with_other_config_writes_dash_f(home, tmp_path):
    other = tmp_path / "elsewhere" / "cfg"
    result = setup("--ssh-config", str(other))
    assert result.exit_code == 0
    assert f"connect -F {other} %r %h %p" in other.read_text()
    assert not (home / ".ssh" / "config").exists()


def test_setup_warns_about_a_weakening_global_line(home):
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text("UserKnownHostsFile /dev/null\nHost x\n")
    result = setup()
    assert result.exit_code == 0
    assert "line 1 sets UserKnownHostsFile" in result.stderr


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")
def test_real_ssh_reads_the_block_first(home):
    """A later ``Host *`` that turns checking off does not override the block."""
    (home / ".ssh").mkdir()
    config = home / ".ssh" / "config"
    config.write_text("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n")
    assert setup().exit_code == 0
    shown = subprocess.run(["ssh", "-F", str(config), "-G", "sarah@api.pod"],
                           capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    options = dict(line.split(" ", 1) for line in shown.stdout.splitlines() if " " in line)
    assert options["stricthostkeychecking"] == "true"
    assert options["userknownhostsfile"] == f"{home}/.podspawn/known_hosts"
    assert options["proxycommand"] == f"{sys.argv[0]} connect %r %h %p"
    plain = subprocess.run(["ssh", "-F", str(config), "-G", "sarah@example.com"],
                           capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    assert "stricthostkeychecking false" in plain.stdout
    assert "proxycommand" not in plain.stdout


def test_every_client_command_has_help():
    for name in ("setup", "connect", "config", "servers", "ssh", "open"):
        result = CliRunner().invoke(cli, [name, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, name
