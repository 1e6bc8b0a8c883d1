"""``podspawn doctor`` against the harness's real installation: healthy, then each FAIL a test
can provoke, each undone in ``finally``.

Other engineers share this machine's dockerd, images and sudo, so nothing shared is broken:
"Docker is down" is a dead socket for one run (``DOCKER_HOST=unix:///nonexistent``), "the
default image is gone" is a config naming an image that does not exist, and the sudoers
drop-in tampered with is this run's own ``/etc/sudoers.d/podspawn-<hash>``, changed in ways
that keep valid syntax (a syntax error there would stop sudo for everyone on the machine; the
``visudo -cf`` failure is tested in tests/unit/test_doctor_host.py on a private file).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Server

TIMEOUT = 180
#: Checks a healthy installation never warns about here.
ALWAYS_WARN: set[str] = set()


def doctor(server: Server, *, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = server.podspawn("--json", "doctor", "--sshd-config", str(server.sshd_config),
                             env=env)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


def machine_warns(report: dict) -> dict[str, str]:
    """Warnings this machine really warrants, with the reason, else nothing."""
    checks = by_name(report)
    allowed = {}
    disk = checks["disk"]
    if disk["status"] == "warn" and "GiB free" in disk["message"]:
        free = shutil.disk_usage("/var/lib/docker").free
        if free < 5 * 1024**3:
            allowed["disk"] = f"only {free / 1024**3:.1f} GiB free on this machine"
    pools = checks["address-pools"]
    if pools["status"] == "warn":
        left = int(pools["message"].split()[0])
        if left < 10:
            allowed["address-pools"] = (f"{left} bridge subnets left: other engineers' "
                                        "networks share this dockerd")
    return allowed


@pytest.fixture(scope="module")
def logged_in(server: Server, sarah: str) -> str:
    """One real login, so the default image's podspawn layer exists for the pod-sshd check."""
    result = server.ssh(sarah, "true", timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return sarah


def test_a_healthy_installation_is_all_ok(server: Server, logged_in: str) -> None:
    code, report = doctor(server)
    allowed = machine_warns(report)
    for name, why in allowed.items():
        print(f"warn allowed for {name}: {why}")
    not_ok = {c["name"]: c for c in report["checks"] if c["status"] != "ok"}
    assert set(not_ok) <= ALWAYS_WARN | set(allowed), json.dumps(not_ok, indent=2)
    assert all(c["status"] == "warn" for c in not_ok.values())
    assert code == 0 and report["healthy"] is True
    assert report["counts"] == {"ok": len(report["checks"]) - len(not_ok),
                                "warn": len(not_ok), "FAIL": 0}
    checks = by_name(report)
    # every podspawn user is asked about (other tests' users may be there too)
    assert re.search(rf"for ({re.escape(logged_in)}|all \d+ podspawn users),",
                     checks["sshd"]["message"])
    assert checks["packet-filter"]["status"] == "ok"
    assert "podspawn/base:" in checks["pod-sshd"]["message"]
    for check in report["checks"]:
        assert set(check) == {"name", "status", "message", "fix"}
        assert (check["fix"] is None) == (check["status"] == "ok")


def snapshot(server: Server) -> dict[str, tuple[int, int, int, int]]:
    """(mode, size, mtime, inode) of what doctor reads, and nothing of it may change."""
    paths = [server.config, server.sshd_config, _sudoers(server), server.root / "keys",
             server.root / "state", server.root / "state" / "state.db"]
    paths += sorted((server.root / "keys").iterdir())
    return {str(p): (p.stat().st_mode, p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ino)
            for p in paths}


def test_doctor_changes_nothing(server: Server, logged_in: str) -> None:
    before = snapshot(server)
    containers = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True,
                                check=True).stdout.split()
    doctor(server)
    assert snapshot(server) == before
    after = subprocess.run(["docker", "ps", "-aq", "--filter", "name=^podspawn-check\\."],
                           capture_output=True, text=True, check=True).stdout.split()
    assert set(after) <= set(containers), "doctor left its check container"


def test_the_human_output_is_one_line_per_check(server: Server, logged_in: str) -> None:
    result = server.podspawn("doctor", "--sshd-config", str(server.sshd_config))
    lines = result.stdout.splitlines()
    _, report = doctor(server)
    assert len(lines) == len(report["checks"]) + 1
    for line, check in zip(lines, report["checks"], strict=False):
        assert line.split()[:2] == [check["status"], check["name"]]
        assert ("; fix: " in line) == (check["status"] != "ok")
    assert lines[-1].endswith(" FAIL")


def test_a_dead_docker_socket_fails_docker_and_skips_what_needs_it(
    server: Server, logged_in: str
) -> None:
    code, report = doctor(server, env={"DOCKER_HOST": "unix:///nonexistent"})
    checks = by_name(report)
    assert code == 1 and report["healthy"] is False
    assert checks["docker"]["status"] == "FAIL"
    assert "unix:///nonexistent" in checks["docker"]["message"]
    assert "start dockerd" in checks["docker"]["fix"]
    for name in ("default-image", "project-images", "address-pools", "pod-sshd"):
        assert checks[name]["status"] == "warn"
        assert checks[name]["message"].startswith("not checked: Docker does not answer")
    assert checks["sshd"]["status"] == "ok"  # the host checks still ran
    assert report["counts"]["FAIL"] == 1


def test_a_world_writable_key_store_fails(server: Server, logged_in: str) -> None:
    keys = server.root / "keys"
    before = keys.stat().st_mode & 0o7777
    try:
        keys.chmod(0o777)
        code, report = doctor(server)
        check = by_name(report)["key-store"]
        assert code == 1
        assert check["status"] == "FAIL"
        assert check["message"] == (f"{keys} is mode 0777: group or others can write it and "
                                    "others can read it")
        assert check["fix"] == f"chmod 0750 {keys}"
    finally:
        keys.chmod(before)
    code, report = doctor(server)
    assert by_name(report)["key-store"]["status"] == "ok"


def test_a_missing_default_image_fails(server: Server, logged_in: str) -> None:
    missing = "podspawn-e2e-missing/none:never"
    try:
        server.set_config({"defaults": {"image": missing}})
        code, report = doctor(server)
        checks = by_name(report)
        assert code == 1
        assert checks["default-image"]["status"] == "FAIL"
        assert missing in checks["default-image"]["message"]
        assert f"docker pull {missing}" in checks["default-image"]["fix"]
        assert checks["pod-sshd"]["status"] == "warn"
    finally:
        server.set_config(None)
    assert by_name(doctor(server)[1])["default-image"]["status"] == "ok"


def _sudoers(server: Server) -> Path:
    digest = hashlib.sha256(str(server.config).encode()).hexdigest()[:8]
    path = Path(f"/etc/sudoers.d/podspawn-{digest}")
    assert path.exists(), "the harness's server-setup writes this drop-in"
    return path


@pytest.mark.parametrize("damage", ["content", "mode"])
def test_a_tampered_sudoers_rule_fails(server: Server, logged_in: str, damage: str) -> None:
    path = _sudoers(server)
    original = path.read_bytes()
    mode = path.stat().st_mode & 0o7777
    staged = path.with_name(f".{path.name}.doctor")
    try:
        if damage == "content":
            # still valid sudoers (nobody else's sudo breaks), but no longer server-setup's rule
            lines = [line for line in original.decode().splitlines(keepends=True)
                     if "env_keep" not in line]
            staged.write_text("".join(lines))
            staged.chmod(0o440)
            os.replace(staged, path)
        else:
            path.chmod(0o644)
        code, report = doctor(server)
        check = by_name(report)["sudoers"]
        assert code == 1
        assert check["status"] == "FAIL"
        expected = ("its content differs from the rule server-setup writes" if damage == "content"
                    else "it is mode 0644 owned by uid 0, not 0440 root")
        assert expected in check["message"]
        assert "server-setup" in check["fix"]
    finally:
        staged.write_bytes(original)
        staged.chmod(mode)
        os.replace(staged, path)
    assert by_name(doctor(server)[1])["sudoers"]["status"] == "ok"


def test_an_include_that_reopens_forwarding_fails_sshd(
    server: Server, logged_in: str, tmp_path: Path
) -> None:
    """An admin's Include, read before podspawn's block, wins for a podspawn user: sshd keeps
    the first value it reads. A copy of the harness's sshd_config, so the live sshd is
    untouched; the control is the same copy without the Include."""
    include = tmp_path / "override.conf"
    include.write_text(f"Match User {logged_in}\n    AllowTcpForwarding yes\n"
                       "    PermitTunnel yes\n")
    tampered = tmp_path / "sshd_config"
    original = server.sshd_config.read_text()
    tampered.write_text(f"Include {include}\n{original}")
    result = server.podspawn("--json", "doctor", "--sshd-config", str(tampered))
    check = by_name(json.loads(result.stdout))["sshd"]
    assert result.returncode == 1
    assert check["status"] == "FAIL"
    assert "allowtcpforwarding is 'yes', not 'no'" in check["message"]
    assert "permittunnel is 'yes', not 'no'" in check["message"]
    assert "Include" in check["fix"]
    tampered.write_text(original)
    control = server.podspawn("--json", "doctor", "--sshd-config", str(tampered))
    assert by_name(json.loads(control.stdout))["sshd"]["status"] == "ok"
