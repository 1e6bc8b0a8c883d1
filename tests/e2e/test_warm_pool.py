"""Warm pools through the real sshd and engine: a first login claims a ready container
(its id was the pool's), which becomes that user's (uid, name, workspace, environment); the
next cleanup pass makes a replacement; the user's later sessions keep the slot's volumes;
no slot ever serves a second user; ``update-project`` drains what no longer fits.
"""

from __future__ import annotations

import json
import pwd
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import ENGINE
from tests.e2e.project_helpers import forget, fresh_user, pname
from tests.e2e.test_projects import make_repo, project_ssh

PODFILE = textwrap.dedent("""\
    base: debian:bookworm
    env:
      GREETING: "hello-${PODSPAWN_USER}"
    on_start: "echo started-$USER > /tmp/on_start"
    services:
      - name: side
        image: debian:bookworm
        command: ["sleep", "infinity"]
        volumes: ["sidedata:/data"]
""")
REPORT = ("id -u; id -un; echo \"$GREETING\"; pwd; stat -c %u .; cat /tmp/on_start; "
          "getent hosts side >/dev/null && echo side-ok")


def inspect(target: str, fmt: str) -> str:
    return subprocess.run([ENGINE, "inspect", "--format", fmt, target], capture_output=True,
                          text=True, check=True).stdout.strip()


def pool_containers(server, project: str, role: str = "session") -> list[str]:
    """Containers of the project's unclaimed slots (the pool table's), by engine labels."""
    with sqlite3.connect(server.root / "state" / "state.db") as conn:
        slots = [r[0] for r in conn.execute("SELECT slot FROM pool WHERE project=?",
                                            (project,))]
    found = []
    for slot in slots:
        found += subprocess.run([ENGINE, "ps", "-aq", "--no-trunc", "--filter",
                                 f"label=podspawn-pool={slot}", "--filter",
                                 f"label=podspawn-role={role}"],
                                capture_output=True, text=True, check=True).stdout.split()
    return sorted(found)


def slot_volumes(slot: str) -> list[str]:
    out = subprocess.run([ENGINE, "volume", "ls", "-q", "--filter", f"label=podspawn-pool={slot}"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


def cleanup(server) -> dict:
    result = server.podspawn("--json", "cleanup")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def set_warm(server, project: str, count: int) -> None:
    data = yaml.safe_load(server.config.read_text())
    data["projects"][project]["warm"] = count
    server.config.write_text(yaml.safe_dump(data, sort_keys=False))


def session_of(server, user: str, project: str) -> dict:
    """The user's session row (container id and session id are not in ``list``)."""
    with sqlite3.connect(server.root / "state" / "state.db") as conn:
        conn.row_factory = sqlite3.Row
        [row] = conn.execute("SELECT * FROM sessions WHERE user=? AND project=?",
                             (user, project)).fetchall()
        return dict(row)


@pytest.fixture
def project(server, tmp_path: Path):
    name = pname("warm")
    repo = make_repo(tmp_path / "repo", PODFILE)
    server.podspawn("remove-project", name)
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    yield name, repo
    set_warm(server, name, 0)
    cleanup(server)
    forget(server, name)
    assert pool_containers(server, name) == []


@pytest.mark.podman
def test_first_login_claims_a_warm_container_and_the_pool_refills(server, project):
    name, _ = project
    set_warm(server, name, 1)
    assert cleanup(server)["warm_made"] == 1
    [warm] = pool_containers(server, name)
    [warm_side] = pool_containers(server, name, "service")
    status = json.loads(server.podspawn("--json", "status").stdout)
    assert {"project": name, "target": 1, "ready": 1, "starting": 0} in status["warm_pools"]
    slot = inspect(warm, '{{index .Config.Labels "podspawn-pool"}}')
    sarah, james = fresh_user(server, "warmsarah"), fresh_user(server, "warmjames")
    try:
        first = project_ssh(server, sarah, REPORT, project=name)
        assert first.returncode == 0, first.stderr.decode()
        uid = pwd.getpwnam(sarah).pw_uid
        assert first.stdout.decode().split() == [
            str(uid), sarah, f"hello-{sarah}", f"/workspace/{name}", str(uid),
            f"started-{sarah}", "side-ok"]
        # the very container the pool held, still running since before the login
        assert session_of(server, sarah, name)["container_id"].startswith(warm[:12])
        assert inspect(warm, "{{.State.Running}}") == "true"
        assert pool_containers(server, name) == []  # claimed: no longer the pool's
        assert inspect(warm_side, "{{.State.Running}}") == "true"

        # the next pass puts a new one in its place; James's first login takes that one
        assert cleanup(server)["warm_made"] == 1
        [replacement] = pool_containers(server, name)
        assert replacement != warm
        second = project_ssh(server, james, "id -un; echo $GREETING", project=name)
        assert second.returncode == 0, second.stderr.decode()
        assert second.stdout.decode().split() == [james, f"hello-{james}"]
        assert session_of(server, james, name)["container_id"].startswith(replacement[:12])

        # Sarah's work outlives the claimed container: her next session mounts the slot's
        # workspace and service volume again (a cold start, not another claim)
        wrote = project_ssh(server, sarah, "echo kept > note.txt && echo row > /tmp/x && "
                            "sudo -n true && exit 0", project=name)
        assert wrote.returncode == 0, wrote.stderr.decode()
        side = session_of(server, sarah, name)
        data = subprocess.run([ENGINE, "exec", warm_side, "sh", "-c",
                               "echo svc > /data/svc.txt"], capture_output=True, check=False)
        assert data.returncode == 0, data.stderr
        stopped = server.podspawn("stop", f"{sarah}@{name}")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        gone = subprocess.run([ENGINE, "inspect", warm], capture_output=True, check=False)
        assert gone.returncode != 0  # a claimed container is never handed to anyone else
        assert cleanup(server)["warm_made"] == 1  # James claimed the one made before
        [spare] = pool_containers(server, name)
        again = project_ssh(server, sarah, "cat note.txt; id -un; echo $GREETING",
                            project=name)
        assert again.returncode == 0, again.stderr.decode()
        assert again.stdout.decode().split() == ["kept", sarah, f"hello-{sarah}"]
        assert pool_containers(server, name) == [spare]  # not claimed: she has her workspace
        assert session_of(server, sarah, name)["container_id"] != side["container_id"]
        svc = subprocess.run([ENGINE, "exec", pool_service(server, sarah, name), "cat",
                              "/data/svc.txt"], capture_output=True, text=True, check=False)
        assert svc.stdout.strip() == "svc", svc.stderr
        assert len(slot_volumes(slot)) == 2  # workspace and sidedata
    finally:
        for user in (sarah, james):
            server.podspawn("remove-user", user, "--force")
    assert slot_volumes(slot) == []  # remove-user took the claimed slot's volumes too


def pool_service(server, user: str, project: str) -> str:
    """The running service container of ``user``'s session, found by its session id."""
    mine = session_of(server, user, project)
    out = subprocess.run([ENGINE, "ps", "-q", "--filter", "label=podspawn-role=service",
                          "--filter", f"label=podspawn-session={mine['id']}"],
                         capture_output=True, text=True, check=True).stdout.split()
    [found] = out
    return found


def test_update_project_drains_and_a_user_with_other_limits_is_not_given_one(
        server, project):
    name, repo = project
    set_warm(server, name, 1)
    assert cleanup(server)["warm_made"] == 1
    [warm] = pool_containers(server, name)
    # a user whose override changes the container's memory cannot use a slot made for
    # the project's limits: their login starts its own container and leaves the slot
    capped = fresh_user(server, "warmcap")
    override = server.root / "users" / f"{capped}.yaml"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text("memory: 1g\n")
    try:
        own = project_ssh(server, capped, "id -un", project=name)
        assert own.returncode == 0, own.stderr.decode()
        assert not session_of(server, capped, name)["container_id"].startswith(warm[:12])
        assert pool_containers(server, name) == [warm]
    finally:
        server.podspawn("remove-user", capped, "--force")
        override.unlink(missing_ok=True)
    (repo / "podfile.yaml").write_text(PODFILE.replace("hello-", "hi-"))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "commit", "-qam", "change"], check=True)
    updated = server.podspawn("--json", "update-project", name)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert json.loads(updated.stdout)["warm_drained"] == 1
    assert pool_containers(server, name) == []
    assert cleanup(server)["warm_made"] == 1
    assert pool_containers(server, name) != [warm]
