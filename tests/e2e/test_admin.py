"""Day-2 details: the audit trail, per-user overrides, missing images, hostile project names,
grace expiry without a cleanup pass, and what a .pod session inherits."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.e2e.harness import uname


@pytest.fixture
def config(server):
    yield server.set_config
    server.set_config(None)


def fresh_user(server, base, *args):
    name = uname(base)
    server.podspawn("remove-user", name, "--force")
    key = server.key_for(name)
    result = server.podspawn("add-user", name, "--key-file", f"{key}.pub", *args)
    assert result.returncode == 0, result.stderr
    return name


def inspect(name: str) -> dict:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def test_audit_log_records_each_event(server, config):
    audit = server.root / "log" / "audit.jsonl"
    audit.unlink(missing_ok=True)
    config({"log": {"file": f"{server.root}/log/podspawn.log", "audit_log": str(audit)},
            "session": {"grace_period": "1s"}})
    user = fresh_user(server, "audited")
    assert server.ssh(user, "exit 3").returncode == 3
    time.sleep(1.5)
    assert server.podspawn("cleanup").returncode == 0
    assert server.podspawn("remove-user", user, "--force").returncode == 0
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    mine = [e for e in events if e.get("user") == user]
    kinds = [e["event"] for e in mine]
    for expected in ("user.add", "container.create", "session.connect", "session.disconnect",
                     "container.destroy", "user.remove"):
        assert expected in kinds, kinds
    assert any(e["event"] == "cleanup.run" for e in events)
    [destroy] = [e for e in mine if e["event"] == "container.destroy"]
    assert destroy["reason"] == "grace_expired"
    [disconnect] = [e for e in mine if e["event"] == "session.disconnect"]
    assert disconnect["exit_code"] == 3
    assert all("time" in e for e in events)
    mode = audit.stat().st_mode & 0o777
    assert mode & 0o022 == 0  # nobody but root can write (and so forge) entries
    assert audit.stat().st_uid == 0


def test_user_override_applies_at_creation(server):
    user = fresh_user(server, "tuned")
    users_dir = server.root / "users"
    users_dir.mkdir(exist_ok=True)
    (users_dir / f"{user}.yaml").write_text(
        "memory: 256m\ncpus: 0.5\nshell: /bin/sh\nenv:\n  TEAM_FLAG: blue\n")
    result = server.ssh(user, 'echo "$TEAM_FLAG"; getent passwd "$(id -un)" | cut -d: -f7; '
                              "hostname")
    assert result.returncode == 0, result.stderr.decode()
    flag, shell, name = result.stdout.decode().split()
    assert (flag, shell) == ("blue", "/bin/sh")
    host = inspect(name)["HostConfig"]
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000


def test_broken_override_gives_one_sentence_without_host_paths(server):
    user = fresh_user(server, "broken")
    (server.root / "users").mkdir(exist_ok=True)
    (server.root / "users" / f"{user}.yaml").write_text("memroy: 1g\n")
    result = server.ssh(user, "true")
    assert result.returncode != 0
    err = result.stderr.decode()
    assert "settings file for your account" in err
    assert str(server.root) not in err and "Traceback" not in err
    log = (server.root / "log" / "podspawn.log").read_text()
    assert "memroy" in log


def test_missing_image_says_so_and_logs_the_fix(server, config):
    config({"defaults": {"image": "debian:podspawn-no-such-suite"}})
    user = fresh_user(server, "noimage")
    result = server.ssh(user, "true")
    assert result.returncode != 0
    err = result.stderr.decode().strip()
    assert len(err.splitlines()) == 1, err
    assert "debian:podspawn-no-such-suite" in err and "not available" in err
    log = (server.root / "log" / "podspawn.log").read_text()
    assert "podspawn images bootstrap debian:podspawn-no-such-suite" in log


@pytest.mark.parametrize("project", ["../etc", "a/b", "x y", "$(id)", "-rf", "UPPER!"])
def test_hostile_project_names_are_refused(server, sarah, project):
    result = server.ssh(sarah, "true", opts=("-o", f'SetEnv=PODSPAWN_PROJECT="{project}"'))
    assert result.returncode != 0
    err = result.stderr.decode()
    assert "invalid project name" in err and "Traceback" not in err


def test_reconnect_after_grace_without_cleanup_gets_a_new_container(server, config):
    config({"session": {"grace_period": "1s"}})
    user = fresh_user(server, "late")
    first = server.ssh(user, "touch /tmp/old; cat /proc/1/cpuset")
    time.sleep(2)  # grace over, and no cleanup pass has run
    second = server.ssh(user, "ls /tmp/old 2>/dev/null || echo fresh; cat /proc/1/cpuset")
    assert second.returncode == 0, second.stderr.decode()
    lines = second.stdout.decode().split()
    assert lines[0] == "fresh"
    assert lines[1] != first.stdout.decode().strip()


def test_pod_session_gets_container_environment_and_workspace(server, tmp_path):
    user = fresh_user(server, "podenv")
    (server.root / "users").mkdir(exist_ok=True)
    (server.root / "users" / f"{user}.yaml").write_text("env:\n  TEAM_FLAG: green\n")
    config = server.pod_tunnel_config(user, tmp_path, ["envy.pod"])
    result = subprocess.run(
        ["ssh", "-F", str(config), f"{user}@envy.pod",
         'echo "$TEAM_FLAG $PODSPAWN_USER $PODSPAWN_PROJECT"; pwd'],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    first, cwd = result.stdout.splitlines()
    assert first == f"green {user} envy"
    assert cwd == f"/home/{user}"


def test_stop_ends_one_session(server):
    user = fresh_user(server, "stopme")
    assert server.ssh(user, "true").returncode == 0
    assert server.ssh(user, "true", opts=("-o", "SetEnv=PODSPAWN_PROJECT=api")).returncode == 0
    result = server.podspawn("stop", f"{user}@api")
    assert result.returncode == 0, result.stderr
    assert f"stopped podspawn-{user}-api" in result.stdout
    names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert f"podspawn-{user}-api" not in names
    assert f"podspawn-{user}" in names
    missing = server.podspawn("stop", f"{user}@api")
    assert missing.returncode == 1
    assert "no active session" in missing.stderr
