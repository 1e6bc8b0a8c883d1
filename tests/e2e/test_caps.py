"""Bounded host costs per user, through the real sshd and dockerd: the connection cap, the
disk guard and idle sessions making room under ``max_per_user``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time

import pytest

from tests.e2e.test_lifecycle import fresh_user, labelled, open_session, sessions, wait_for

API = ("-o", "SetEnv=PODSPAWN_PROJECT=api")


def project_opts(project: str) -> tuple[str, ...]:
    return ("-o", f"SetEnv=PODSPAWN_PROJECT={project}")


@pytest.fixture
def config(server):
    yield server.set_config
    server.set_config(None)


def connection_rows(server, user: str) -> list[tuple[str, int]]:
    with sqlite3.connect(server.root / "state" / "state.db") as conn:
        return list(conn.execute("SELECT project, pid FROM connections WHERE user=?", (user,)))


def log_text(server) -> str:
    return (server.root / "log" / "podspawn.log").read_text()


def containers(user: str, project: str | None = None) -> list[str]:
    found = labelled("container", f"podspawn-user={user}")
    if project is None:
        return found
    return [c for c in found if c in labelled("container", f"podspawn-project={project}")]


def close(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        proc.kill()
        proc.communicate()


def test_the_connection_after_the_cap_is_refused_and_leaves_nothing(server, config):
    config({"resources": {"max_connections_per_user": 2}})
    user = fresh_user(server, "capconn")
    held = [open_session(server, user), open_session(server, user)]
    try:
        assert wait_for(lambda: [r for r in sessions(server, user)
                                 if r["connections"] == 2 and r["status"] == "running"],
                        timeout=60)
        before = sorted(connection_rows(server, user))
        [container] = containers(user)
        networks = labelled("network", f"podspawn-user={user}")
        for opts in ((), API):  # the running session, and a new one it would have made
            refused = server.ssh(user, "echo inside", opts=opts)
            message = refused.stderr.decode()
            assert refused.returncode == 1, message
            assert b"inside" not in refused.stdout
            assert ("podspawn: you already have 2 SSH connection(s) open to this server and "
                    "the limit is 2 (resources.max_connections_per_user); close one of them"
                    ) in message
            assert "Traceback" not in message and "\n" not in message.strip()
        assert sorted(connection_rows(server, user)) == before
        assert [r["project"] for r in sessions(server, user)] == [""]
        assert containers(user) == [container]
        assert labelled("network", f"podspawn-user={user}") == networks
        close(held.pop())
        assert wait_for(lambda: len(connection_rows(server, user)) == 1, timeout=20)
        again = server.ssh(user, "echo inside", opts=API)  # a slot is free: the control
        assert again.returncode == 0, again.stderr.decode()
        assert again.stdout.decode().strip() == "inside"
    finally:
        close(*held)


def test_the_cap_is_off_at_zero(server, config):
    config({"resources": {"max_connections_per_user": 0}})
    user = fresh_user(server, "capnone")
    held = [open_session(server, user) for _ in range(3)]
    try:
        assert wait_for(lambda: [r for r in sessions(server, user) if r["connections"] == 3],
                        timeout=60)
        result = server.ssh(user, "echo fourth")
        assert result.returncode == 0, result.stderr.decode()
    finally:
        close(*held)


def _same_filesystem_as_docker(server) -> bool:
    root = subprocess.run(["docker", "info", "-f", "{{.DockerRootDir}}"], capture_output=True,
                          text=True, check=True).stdout.strip()
    return os.stat(server.root / "state").st_dev == os.stat(root).st_dev


def test_the_disk_guard_refuses_a_new_session_and_leaves_nothing(server, config):
    user = fresh_user(server, "capdisk")
    config({"state": {"min_free": "100P"}})  # more than any disk here has free
    refused = server.ssh(user, "echo inside")
    message = refused.stderr.decode()
    assert refused.returncode == 1, message
    assert message.startswith("podspawn: this server is low on disk space: the filesystem of "
                              "podspawn's state"), message
    assert "free, less than state.min_free (100P); no new session can start" in message
    if _same_filesystem_as_docker(server):  # Docker's root was asked for and measured
        assert "podspawn's state and the container engine's data has" in message
    assert str(server.root) not in message and "Traceback" not in message
    assert sessions(server, user) == []
    assert connection_rows(server, user) == []
    assert containers(user) == []
    assert labelled("network", f"podspawn-user={user}") == []
    assert f'low on disk, new session refused filesystem={server.root}/state' in log_text(server)
    from tests.e2e.test_doctor import by_name, doctor

    _, report = doctor(server)  # doctor says so too, while the guard refuses
    disk = by_name(report)["disk"]
    assert disk["status"] == "FAIL"
    assert "below state.min_free (100P): new sessions are refused" in disk["message"]

    config({"state": {"min_free": "1M"}})  # the control: the same login with room to spare
    allowed = server.ssh(user, "echo inside; hostname")
    assert allowed.returncode == 0, allowed.stderr.decode()
    inside, name = allowed.stdout.decode().split()
    assert inside == "inside"

    config({"state": {"min_free": "100P"}})  # a session that runs still attaches
    attached = server.ssh(user, "hostname")
    assert attached.returncode == 0, attached.stderr.decode()
    assert attached.stdout.decode().strip() == name


def test_an_idle_session_makes_room_under_max_per_user(server, config):
    config({"resources": {"max_per_user": 2}, "session": {"grace_period": "120s"}})
    user = fresh_user(server, "capidle")
    assert server.ssh(user, "true").returncode == 0  # (default), then idle in its grace
    time.sleep(1.1)  # so the two idle times differ by a whole second in every clock
    assert server.ssh(user, "true", opts=project_opts("other")).returncode == 0
    [default_container] = containers(user, "")
    assert {r["status"] for r in sessions(server, user)} == {"grace_period"}

    third = server.ssh(user, "echo inside", opts=project_opts("work"))
    message = third.stderr.decode()
    assert third.returncode == 0, message
    assert third.stdout.decode().strip() == "inside"
    [line] = [ln for ln in message.splitlines() if "idle session" in ln]
    assert line.startswith("Ended your idle session (default) (no connection since ")
    assert line.endswith("to make room for this one: the limit is 2 session(s) "
                         "(resources.max_per_user).")
    assert sorted(r["project"] for r in sessions(server, user)) == ["other", "work"]
    assert default_container not in labelled("container", f"podspawn-user={user}")
    text = log_text(server)
    assert f"ended idle session to make room user={user} container=" in text
    assert f"destroying session user={user}" in text and "reason=made_room" in text


def test_max_per_user_still_refuses_when_every_session_is_connected(server, config):
    config({"resources": {"max_per_user": 2}, "session": {"grace_period": "120s"}})
    user = fresh_user(server, "capbusy")
    held = [open_session(server, user), open_session(server, user, opts=project_opts("other"))]
    try:
        assert wait_for(lambda: len([r for r in sessions(server, user)
                                     if r["connections"] == 1 and r["status"] == "running"])
                        == 2, timeout=60)
        before = sorted(containers(user))
        refused = server.ssh(user, "echo inside", opts=project_opts("work"))
        message = refused.stderr.decode()
        assert refused.returncode == 1, message
        assert ("you already have 2 session(s) ((default), other) and the limit is 2 "
                "(resources.max_per_user), and each has a connection open or is persistent"
                ) in message
        assert "Ended your idle session" not in message
        assert sorted(r["project"] for r in sessions(server, user)) == ["", "other"]
        assert sorted(containers(user)) == before
    finally:
        close(*held)


#: A base image whose package manager first starts 150 processes: a layer build from it
#: needs more than a tight ``images.build_pids`` allows, and works under the default.
GREEDY_APT = ('#!/bin/sh\\ni=0\\nwhile [ $i -lt 150 ]; do sleep 4 & i=$((i+1)); done\\n'
              'exec /usr/bin/apt-get "$@"\\n')


@pytest.fixture
def greedy_base():
    from tests.e2e.harness import RUN_ID

    tag = f"podspawn-e2e{RUN_ID or 'x'}/greedy-base:1"
    dockerfile = (f"FROM debian:bookworm\nLABEL podspawn-test=caps-{RUN_ID}\n"
                  f"RUN printf '{GREEDY_APT}' > /usr/local/bin/apt-get && "
                  "chmod 755 /usr/local/bin/apt-get\n")
    built = subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=dockerfile,
                           capture_output=True, text=True, check=False, timeout=300,
                           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    assert built.returncode == 0, built.stderr
    try:
        yield tag
    finally:
        layers = subprocess.run(["docker", "image", "ls", "-q", "--filter",
                                 f"label=podspawn-base={tag}"], capture_output=True, text=True,
                                check=False).stdout.split()
        subprocess.run(["docker", "rmi", "-f", *layers, tag], capture_output=True, check=False)


def _layer_of(tag: str) -> str:
    from podspawn.services.images import layer_tag

    base_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", tag],
                             capture_output=True, text=True, check=True).stdout.strip()
    return layer_tag(base_id)


def test_the_layer_build_at_login_runs_under_the_build_limits(server, config, greedy_base):
    from tests.e2e.test_project_limits import BUILD_CGROUPS

    layer = _layer_of(greedy_base)
    digest = layer.rsplit(":", 1)[1]
    user = fresh_user(server, "caplayer")
    config({"defaults": {"image": greedy_base}, "images": {"build_pids": 60}})
    refused = server.ssh(user, "true", timeout=600)
    message = refused.stderr.decode()
    assert refused.returncode == 1, message
    assert (f"podspawn: the environment image from {greedy_base} could not be prepared: its "
            "build needed more processes than an image build may use (images.build_pids: "
            "60); an administrator must raise images.build_pids") in message
    assert "Traceback" not in message
    assert subprocess.run(["docker", "image", "inspect", layer], capture_output=True,
                          check=False).returncode != 0
    assert sessions(server, user) == [] and containers(user) == []
    assert not BUILD_CGROUPS.is_dir() or not [
        p for p in BUILD_CGROUPS.iterdir() if p.name.startswith(f"layer-{digest}-")]

    config({"defaults": {"image": greedy_base}})  # the control: the default limits
    try:
        allowed = server.ssh(user, "command -v sudo rsync", timeout=900)
        assert allowed.returncode == 0, allowed.stderr.decode()
        assert allowed.stdout.decode().split() == ["/usr/bin/sudo", "/usr/bin/rsync"]
        assert subprocess.run(["docker", "image", "inspect", layer], capture_output=True,
                              check=False).returncode == 0
    finally:
        server.podspawn("remove-user", user, "--force")  # before its image goes
