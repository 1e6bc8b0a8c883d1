"""Session lifecycle and day-2 administration, through the real sshd and dockerd.

Durations are short (seconds) so the suite stays fast; each test restores the config.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from tests.e2e.harness import BIN, ENGINE, remove_containers, uname


@pytest.fixture
def config(server):
    """Set config overrides for one test; the base config comes back afterwards."""
    yield server.set_config
    server.set_config(None)


def sessions(server, user=None):
    result = server.podspawn("--json", "list")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    return [r for r in rows if user is None or r["user"] == user]


def labelled(kind: str, label: str) -> list[str]:
    flag = ["-a"] if kind == "container" else []
    out = subprocess.run([ENGINE, kind, "ls", "-q", *flag, "--filter", f"label={label}"],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def container_id(name: str) -> str:
    out = subprocess.run([ENGINE, "inspect", "-f", "{{.Id}}", name], capture_output=True,
                         text=True, check=False)
    return out.stdout.strip()


def wait_for(predicate, timeout: float = 20.0, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def open_session(server, user, command="sleep 120", opts=()):
    """A long-running ssh session, returned once podspawn counts it."""
    return subprocess.Popen([*server.ssh_argv(user, opts=opts), command],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def fresh_user(server, base, *, args=()):
    name = uname(base)
    server.podspawn("remove-user", name, "--force")
    key = server.key_for(name)
    result = server.podspawn("add-user", name, "--key-file", f"{key}.pub", *args)
    assert result.returncode == 0, result.stderr
    return name


@pytest.mark.podman
def test_reconnect_within_grace_keeps_container_then_cleanup_reaps(server, config):
    config({"session": {"grace_period": "30s"}})
    user = fresh_user(server, "grace")
    first = server.ssh(user, "echo kept > ~/marker; hostname")
    assert first.returncode == 0, first.stderr.decode()
    name = first.stdout.decode().strip()
    before = container_id(name)
    [row] = sessions(server, user)
    assert row["status"] == "grace_period"
    assert row["connections"] == 0
    again = server.ssh(user, "cat ~/marker")
    assert again.stdout.decode().strip() == "kept"
    assert container_id(name) == before

    config({"session": {"grace_period": "1s"}})
    server.ssh(user, "true")  # the last disconnect starts a 1 s grace period
    time.sleep(2)
    result = server.podspawn("cleanup")
    assert result.returncode == 0, result.stderr
    assert f"grace period expired, destroying user={user}" in result.stderr
    # other tests' sessions may expire in the same pass: at least this one counted
    assert re.search(r"cleanup pass complete grace_expired=[1-9]", result.stderr)
    assert sessions(server, user) == []
    assert labelled("container", f"podspawn-user={user}") == []
    assert labelled("network", f"podspawn-user={user}") == []


@pytest.mark.podman
def test_destroy_on_disconnect_leaves_nothing(server):
    user = fresh_user(server, "dod", args=("--mode", "destroy-on-disconnect"))
    result = server.ssh(user, "hostname")
    assert result.returncode == 0, result.stderr.decode()
    gone = wait_for(lambda: not labelled("container", f"podspawn-user={user}")
                    and not labelled("network", f"podspawn-user={user}"), timeout=2)
    assert gone
    assert sessions(server, user) == []


def test_persistent_home_survives_container_removal(server):
    user = fresh_user(server, "keep", args=("--mode", "persistent"))
    first = server.ssh(user, "echo precious > ~/keep; hostname")
    assert first.returncode == 0, first.stderr.decode()
    [row] = sessions(server, user)
    assert row["mode"] == "persistent"
    subprocess.run([ENGINE, "rm", "-f", first.stdout.decode().strip()], check=True,
                   capture_output=True)
    again = server.ssh(user, "cat ~/keep; stat -c %u ~")
    assert again.returncode == 0, again.stderr.decode()
    assert again.stdout.decode().split() == ["precious", str(pwd.getpwnam(user).pw_uid)]


def _spawn_pids(server, user):
    with sqlite3.connect(server.root / "state" / "state.db") as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM connections WHERE user=?", (user,))]


@pytest.mark.parametrize("victim", ["client", "spawn"])
def test_kill_9_drops_the_count(server, config, victim):
    config({"session": {"grace_period": "60s"}})
    user = fresh_user(server, f"kill{victim}")
    proc = open_session(server, user)
    try:
        # a login is counted from the moment it reserves the session; wait until it is made
        assert wait_for(lambda: [r for r in sessions(server, user)
                                 if r["connections"] == 1 and r["status"] == "running"])
        if victim == "client":
            proc.send_signal(signal.SIGKILL)
        else:
            [pid] = _spawn_pids(server, user)
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)

        def settled():
            server.podspawn("cleanup")
            rows = sessions(server, user)
            return rows and rows[0]["connections"] == 0 and rows[0]["status"] == "grace_period"

        assert wait_for(settled, timeout=20, step=1)
    finally:
        proc.kill()
        proc.communicate()


def test_max_lifetime_warns_then_ends_the_session(server, config):
    config({"session": {"max_lifetime": "6s"}})
    user = fresh_user(server, "life")
    proc = open_session(server, user, "sleep 60")
    daemon = subprocess.Popen(
        [str(BIN), "--config", str(server.config), "cleanup", "--daemon", "--interval", "1s"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _, err = proc.communicate(timeout=40)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)
    text = err.decode()
    assert "reaches its maximum lifetime" in text
    assert "reached its maximum lifetime" in text
    assert wait_for(lambda: not labelled("container", f"podspawn-user={user}"), timeout=10)


@pytest.mark.podman
def test_cleanup_only_touches_this_installation(server):
    user = fresh_user(server, "orphan")
    iid = server.install_id()
    made = []

    def run(*labels):
        args = [ENGINE, "run", "-d"]
        for label in labels:
            args += ["--label", label]
        out = subprocess.run([*args, "debian:bookworm", "sleep", "600"], capture_output=True,
                             text=True, check=True)
        made.append(out.stdout.strip())
        return out.stdout.strip()

    try:
        foreign = run("managed-by=podspawn", "podspawn-instance=someoneelse",
                      f"podspawn-user={user}")
        local = run("managed-by=podspawn", "podspawn-mode=local")
        orphan = run("managed-by=podspawn", f"podspawn-instance={iid}",
                     f"podspawn-user={user}", "podspawn-project=")
        result = server.podspawn("cleanup")
        assert result.returncode == 0, result.stderr
        assert "removing orphaned container" in result.stderr
        assert container_id(foreign) and container_id(local)
        assert container_id(orphan) == ""
    finally:
        remove_containers(made)


def test_remove_user_force_with_two_live_sessions(server):
    user = fresh_user(server, "leaver")
    default = open_session(server, user)
    project = open_session(server, user, opts=("-o", "SetEnv=PODSPAWN_PROJECT=api"))
    try:
        assert wait_for(lambda: len([r for r in sessions(server, user)
                                     if r["connections"] == 1 and r["status"] == "running"])
                        == 2, timeout=60)
        result = server.podspawn("remove-user", user, "--force")
        assert result.returncode == 0, result.stderr
        assert f"removed user {user} (2 session(s) destroyed)" in result.stdout
        assert "destroying session" in result.stderr
        assert labelled("container", f"podspawn-user={user}") == []
        refused = server.ssh(user, "true")
        assert refused.returncode == 255
    finally:
        for proc in (default, project):
            proc.kill()
            proc.communicate()


def test_max_per_user_refuses_with_explanation(server, config):
    """A connected session is not ended to make room (an idle one is: tests/e2e/test_caps)."""
    config({"resources": {"max_per_user": 1}})
    user = fresh_user(server, "quota")
    held = open_session(server, user)
    try:
        assert wait_for(lambda: [r for r in sessions(server, user)
                                 if r["connections"] == 1 and r["status"] == "running"])
        second = server.ssh(user, "true", opts=("-o", "SetEnv=PODSPAWN_PROJECT=api"))
        assert second.returncode != 0
        message = second.stderr.decode()
        assert "limit is 1" in message and "(default)" in message
        assert "Traceback" not in message
    finally:
        held.kill()
        held.communicate()


def test_disposable_user_expires(server):
    user = fresh_user(server, "agent", args=("--ttl", "4s", "--mode", "destroy-on-disconnect"))
    assert server.ssh(user, "true").returncode == 0
    time.sleep(5)
    assert server.ssh(user, "true").returncode == 255
    result = server.podspawn("cleanup")
    assert result.returncode == 0, result.stderr
    assert not (server.root / "keys" / user).exists()
    assert subprocess.run(["id", user], capture_output=True, check=False).returncode != 0
    assert labelled("container", f"podspawn-user={user}") == []


def test_fifty_parallel_logins_leave_nothing_behind(server, config):
    config({"session": {"grace_period": "1s"}})
    users = [fresh_user(server, f"crowd{i}") for i in range(5)]
    failures: list[str] = []

    def worker(user: str) -> None:
        for _ in range(5):
            result = server.ssh(user, "true")
            if result.returncode != 0:
                failures.append(f"{user}: {result.stderr.decode()[-200:]}")

    threads = [threading.Thread(target=worker, args=(u,)) for u in users for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert failures == []
    for user in users:
        rows = sessions(server, user)
        assert all(r["connections"] == 0 for r in rows)
        assert len(rows) <= 1
    time.sleep(1.5)
    assert server.podspawn("cleanup").returncode == 0
    for user in users:
        assert sessions(server, user) == []
        assert labelled("container", f"podspawn-user={user}") == []
    log = (server.root / "log" / "podspawn.log").read_text()
    assert "database is locked" not in log


def test_login_works_after_dockerd_restart(server):
    """Docker restarted without systemd: the stopped container is started again."""
    from tests.e2e.harness import REPO

    user = fresh_user(server, "restart")
    first = server.ssh(user, "echo survived > ~/mark; hostname")
    assert first.returncode == 0, first.stderr.decode()
    pid = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True,
                         check=True).stdout.split()[0]
    os.kill(int(pid), signal.SIGTERM)

    def gone() -> bool:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        return False

    assert wait_for(gone, timeout=120)  # a dockerd that is still shutting down blocks a new one
    subprocess.run([str(REPO / "scripts" / "start-services.sh")], check=True, timeout=120)
    again = server.ssh(user, "cat ~/mark; hostname")
    assert again.returncode == 0, again.stderr.decode()
    assert again.stdout.decode().split() == ["survived", first.stdout.decode().strip()]
