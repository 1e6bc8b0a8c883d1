"""``podspawn server-setup`` against throwaway sshd_config files (invariant 5: nothing is lost).

Each config names a PidFile that does not exist, so the reload that server-setup sends after a
change reaches no sshd, and carries the harness's host key so ``sshd -t`` can pass.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, ROOT, free_port

BEGIN = "# BEGIN podspawn"


def base_config(directory: Path) -> str:
    return (
        f"Port {free_port()}\nListenAddress 127.0.0.1\n"
        f"HostKey {ROOT}/ssh_host_ed25519_key\n"
        f"PidFile {directory}/never-started.pid\n"
        "UsePAM no\nPasswordAuthentication no\nPubkeyAuthentication yes\n"
        "Subsystem sftp /usr/lib/openssh/sftp-server\n"
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "sshd"
    directory.mkdir()
    return directory


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o644)
    return path


def sshd_t(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(path)], capture_output=True,
                          text=True, check=False)


def effective(path: Path, user: str) -> dict[str, str]:
    """``sshd -T`` for a connection by ``user``: the settings that would apply to them."""
    result = subprocess.run(
        ["/usr/sbin/sshd", "-T", "-f", str(path), "-C", f"user={user},host=x,addr=127.0.0.1"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    settings: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    return settings


def setup(server, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return server.podspawn("server-setup", "--sshd-config", str(path), *extra)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, text
    assert "Traceback" not in text, text
    assert "internal error" not in text, text
    assert len(text.splitlines()) == 1, text
    return text


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + ".podspawn.bak")


def test_fresh_config_is_backed_up_validated_and_configured(server, sarah, workdir):
    original = base_config(workdir)
    path = write(workdir / "sshd_config", original)

    first = setup(server, path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert backup_of(path).read_text() == original
    check = sshd_t(path)
    assert check.returncode == 0, check.stderr
    text = path.read_text()
    assert text.startswith(original)
    assert text.count(BEGIN) == 1
    assert "Match Group podspawn" in text

    outside = effective(path, "nobody")
    assert str(BIN) in outside["authorizedkeyscommand"]
    assert "auth-keys" in outside["authorizedkeyscommand"]
    assert outside["authorizedkeyscommanduser"] == "podspawn-auth"
    assert "forcecommand" not in outside or outside["forcecommand"] == "none"

    inside = effective(path, sarah)
    assert inside["forcecommand"].startswith("/usr/bin/sudo -n ")
    assert inside["forcecommand"].endswith(" spawn")
    assert inside["disableforwarding"] == "yes"
    for key in ("allowtcpforwarding", "allowstreamlocalforwarding", "allowagentforwarding",
                "x11forwarding", "permittunnel", "permituserrc"):
        assert inside[key] == "no", key
    assert inside["authorizedkeysfile"] == "none"
    assert not (workdir / "never-started.pid").exists()

    configured = path.read_bytes()
    second = setup(server, path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "no change" in second.stdout.lower()
    assert "backed up" not in second.stdout
    assert path.read_bytes() == configured
    assert backup_of(path).read_text() == original


def test_config_that_already_fails_sshd_t_is_left_alone(server, workdir):
    original = base_config(workdir) + "NoSuchSshdOption yes\n"
    path = write(workdir / "sshd_config", original)
    assert sshd_t(path).returncode != 0

    message = refused(setup(server, path))
    assert "sshd -t" in message
    assert path.read_text() == original
    assert not backup_of(path).exists()


def test_block_goes_before_a_trailing_match(server, workdir):
    match = "Match User someone\n    X11Forwarding yes\n    AllowTcpForwarding yes\n"
    original = base_config(workdir) + match
    path = write(workdir / "sshd_config", original)

    result = setup(server, path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sshd_t(path).returncode == 0
    text = path.read_text()
    assert text.endswith(match)
    assert text.index(BEGIN) < text.index("Match User someone")
    assert backup_of(path).read_text() == original
    # global, so it applies to someone outside that Match block
    assert "auth-keys" in effective(path, "nobody")["authorizedkeyscommand"]


FOREIGN = "AuthorizedKeysCommand /usr/bin/true %u\nAuthorizedKeysCommandUser nobody\n"


def test_foreign_authorized_keys_command_is_refused(server, workdir):
    original = base_config(workdir) + FOREIGN
    path = write(workdir / "sshd_config", original)

    message = refused(setup(server, path))
    assert "AuthorizedKeysCommand" in message
    assert path.read_text() == original
    assert not backup_of(path).exists()


def test_foreign_authorized_keys_command_in_an_include_is_refused(server, workdir):
    included = write(workdir / "extra.conf", FOREIGN)
    original = f"Include {included}\n" + base_config(workdir)
    path = write(workdir / "sshd_config", original)
    assert sshd_t(path).returncode == 0

    message = refused(setup(server, path))
    assert "AuthorizedKeysCommand" in message
    assert path.read_text() == original
    assert included.read_text() == FOREIGN
    assert not backup_of(path).exists()


def test_foreign_command_shadowing_an_existing_block_is_refused(server, workdir):
    """A drop-in added later (Debian includes sshd_config.d first) wins over podspawn's line:
    a second run must say so rather than report "no change"."""
    path = write(workdir / "sshd_config", base_config(workdir))
    assert setup(server, path).returncode == 0
    included = write(workdir / "extra.conf", FOREIGN)
    shadowed = f"Include {included}\n" + path.read_text()
    write(path, shadowed)
    assert effective(path, "nobody")["authorizedkeyscommand"] == "/usr/bin/true %u"

    message = refused(setup(server, path))
    assert "AuthorizedKeysCommand" in message
    assert path.read_text() == shadowed


def test_dry_run_changes_nothing(server, workdir):
    original = base_config(workdir)
    path = write(workdir / "sshd_config", original)
    before = sorted(p.name for p in workdir.iterdir())

    result = setup(server, path, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines
    assert all(line.startswith("[dry-run]") for line in lines), result.stdout
    assert path.read_text() == original
    assert sorted(p.name for p in workdir.iterdir()) == before

    # and after a real run, a dry run reports that nothing would change
    assert setup(server, path).returncode == 0
    configured = path.read_bytes()
    again = setup(server, path, "--dry-run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already configured" in again.stdout
    assert path.read_bytes() == configured
