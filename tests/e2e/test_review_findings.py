"""Findings of the security review, each pinned through the real sshd and dockerd."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.e2e.conftest import ROOT, Server, uname


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False,
                          timeout=timeout, cwd="/")


def world_visible_cmdlines() -> str:
    """Every process's argv as an unprivileged host account (``nobody``) sees it."""
    reader = ("import os\n"
              "for p in os.listdir('/proc'):\n"
              "    try:\n"
              "        print(open(f'/proc/{p}/cmdline','rb').read().replace(b'\\0',b' ')"
              ".decode(errors='replace'))\n"
              "    except OSError:\n"
              "        pass\n")
    result = run("runuser", "-u", "nobody", "--", "python3", "-c", reader)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pod_host_key_and_keys_are_not_in_any_visible_argv(server: Server, sarah: str) -> None:
    """A live ``.pod`` tunnel must not put the user's pod host private key (or their keys)
    in the docker CLI's command line, which every local account can read in /proc."""
    proc = subprocess.Popen([*server.ssh_argv(sarah), "podspawn-tunnel", "leak"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()  # the in-container sshd -i speaks first
        assert banner.startswith(b"SSH-2.0-"), (banner, proc.stderr)
        seen = world_visible_cmdlines()
        assert "docker exec" in seen or "exec -i" in seen  # the hand-off is there to see
        private = (ROOT / "state" / "hostkeys" / sarah).read_text()
        body = private.strip().splitlines()[1]
        assert "PRIVATE KEY" not in seen
        assert body not in seen
        stored = (ROOT / "keys" / sarah).read_text().split()[1]
        assert stored not in seen
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_pod_login_still_works_with_inherited_secrets(server: Server, sarah: str,
                                                      tmp_path: Path) -> None:
    """The inner sshd gets its config, host key and the user's keys from the environment."""
    config = server.pod_tunnel_config(sarah, tmp_path, ["leak.pod"])
    result = run("ssh", "-F", str(config), f"{sarah}@leak.pod", "id -un; echo $PODSPAWN_PROJECT",
                 timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [sarah, "leak"]


def test_persistent_home_is_not_reachable_by_host_accounts(server: Server) -> None:
    """Root in a container can put a setuid-root program in the bind-mounted persistent
    home and open the home up (the container user owns it); no host account may reach it,
    wherever the admin puts ``state.homes_dir``."""
    user = uname("mallory")
    homes = ROOT / "homes-elsewhere"
    server.add_user(user)
    server.set_config({"state": {"homes_dir": str(homes)}, "session": {"mode": "persistent"}})
    try:
        plant = server.ssh(user, "sudo cp /usr/bin/id ~/rootid && sudo chmod 4755 ~/rootid "
                                 "&& chmod 0755 ~ && ls -l ~/rootid")
        assert plant.returncode == 0, plant.stderr
        assert b"rwsr-xr-x" in plant.stdout  # the container side of the attack works
        planted = homes / user / "_default" / "rootid"
        assert planted.exists() and planted.stat().st_uid == 0
        assert planted.stat().st_mode & 0o4000
        probe = run("runuser", "-u", "nobody", "--", str(planted))
        assert probe.returncode != 0, probe.stdout
        assert "euid=0" not in probe.stdout
        assert os.stat(homes).st_mode & 0o077 == 0
    finally:
        server.set_config(None)
        server.podspawn("remove-user", user, "--force", "--purge")


def test_adopted_account_startup_files_do_not_run_on_the_host(server: Server) -> None:
    """An adopted person's account keeps its shell; bash run by sshd reads ~/.bashrc, which
    would run on the host before the forced command (a host shell for the user)."""
    user = uname("eve")
    marker = Path(f"/tmp/podspawn-review-{user}-ran-on-host")
    marker.unlink(missing_ok=True)
    made = run("useradd", "-m", "-s", "/bin/bash", user)
    assert made.returncode == 0, made.stderr
    try:
        home = Path(f"/home/{user}")
        (home / ".bashrc").write_text(f"touch {marker}\n")
        key = server.key_for(user)
        added = server.podspawn("add-user", user, "--key-file", f"{key}.pub", "--adopt-account")
        assert added.returncode == 0, added.stdout + added.stderr
        result = server.ssh(user, "echo in-container")
        assert result.returncode == 0, result.stderr
        assert b"in-container" in result.stdout
        assert not marker.exists(), "the adopted account's ~/.bashrc ran on the host"
    finally:
        server.podspawn("remove-user", user, "--force")
        run("userdel", "-r", user)
        marker.unlink(missing_ok=True)
