"""A hostile Podfile against the admin's limits: hardened services, resource ceilings, and
image builds under a memory and a process limit.

Each attack runs what a repository's author would put in its Podfile, and each has a
control: the same probe succeeding where the admin's policy allows it, so a pass cannot come
from a mistyped probe.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.project_helpers import forget, fresh_user, pname, project_images
from tests.e2e.test_projects import (  # noqa: F401 - postgres_image is a fixture
    POSTGRES_IMAGE,
    make_repo,
    postgres_image,
    project_ssh,
)

SERVICE_CAPS = {"CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
                "CAP_NET_BIND_SERVICE", "CAP_KILL"}
BUILD_CGROUPS = Path("/sys/fs/cgroup/pids/podspawn-build")


def inspect(name: str) -> dict:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def dexec(container: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "exec", container, "sh", "-c", script],
                          capture_output=True, text=True, timeout=120, check=False)


def plain(script: str) -> subprocess.CompletedProcess[str]:
    """The probe in a container with Docker's own defaults: the control."""
    return subprocess.run(["docker", "run", "--rm", "debian:bookworm", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120, check=False)


def commit(repo: Path, podfile: str) -> None:
    (repo / "podfile.yaml").write_text(podfile)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qam", "change"], check=True)


@pytest.fixture
def config(server):
    yield server.set_config
    server.set_config(None)


HARDENED = textwrap.dedent("""\
    base: debian:bookworm
    packages: [postgresql-client]
    services:
      - name: postgres
        image: %s
        ports: [5432]
        env: {POSTGRES_PASSWORD: devpass, POSTGRES_DB: testdb}
      - name: probe
        image: debian:bookworm
        command: [sleep, infinity]
        resources: {cpus: 0.5, memory: 64m}
""") % POSTGRES_IMAGE


@pytest.fixture(scope="module")
def hardened(server, postgres_image, tmp_path_factory):  # noqa: F811
    name = pname("hard")
    server.podspawn("remove-project", name)
    repo = make_repo(tmp_path_factory.mktemp("hard") / "repo", HARDENED)
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stderr
    user = fresh_user(server, "hardy")
    login = project_ssh(server, user, "psql postgres://postgres:devpass@postgres:5432/testdb "
                        "-tAc 'select 40 + 2'", project=name)
    assert login.returncode == 0, login.stderr.decode()
    yield name, user, login
    server.podspawn("remove-user", user, "--force")
    forget(server, name)


def test_postgres_still_works_as_a_hardened_service(hardened):
    _, _, login = hardened
    assert login.stdout.decode().strip() == "42"


def test_service_containers_get_the_admin_profile(hardened):
    name, user, _ = hardened
    pg = inspect(f"podspawn-service.{user}.{name}.postgres")["HostConfig"]
    assert pg["CapDrop"] == ["ALL"]
    assert {f"CAP_{cap}" if not cap.startswith("CAP_") else cap
            for cap in pg["CapAdd"]} == SERVICE_CAPS
    assert "no-new-privileges:true" in (pg["SecurityOpt"] or [])
    assert pg["PidsLimit"] == 256
    assert pg["Memory"] == 1024**3  # resources.service_memory: never unlimited
    assert pg["NanoCpus"] == 1_000_000_000
    assert pg["Runtime"] == "runc"
    probe = inspect(f"podspawn-service.{user}.{name}.probe")["HostConfig"]
    assert probe["Memory"] == 64 * 1024**2  # the Podfile's request, within the ceiling
    assert probe["NanoCpus"] == 500_000_000


@pytest.mark.parametrize(
    ("what", "probe"),
    [
        ("a device node (MKNOD)", "mknod /tmp/mem c 1 1 && echo DONE"),
        ("a chroot (SYS_CHROOT)", "chroot / true && echo DONE"),
        ("a raw socket (NET_RAW)", "perl -e 'socket(S, 2, 3, 1) or exit 1' && echo DONE"),
        ("a setuid-root binary (no-new-privileges)",
         "cp /usr/bin/id /tmp/id && chmod u+s /tmp/id && su nobody -s /bin/sh -c /tmp/id "
         "| grep -q euid=0 && echo DONE"),
    ],
)
def test_a_service_cannot_do_what_docker_defaults_allow(hardened, what, probe):
    name, user, _ = hardened
    control = plain(probe)
    assert "DONE" in control.stdout, f"control for {what}: {control.stderr}"
    attack = dexec(f"podspawn-service.{user}.{name}.probe", probe)
    assert "DONE" not in attack.stdout, f"a service could make {what}"


def test_a_service_allocating_past_its_memory_is_killed(hardened):
    name, user, _ = hardened
    probe = f"podspawn-service.{user}.{name}.probe"
    control = dexec(probe, "head -c 16m /dev/zero | tail >/dev/null && echo KEPT")
    assert "KEPT" in control.stdout, control.stderr
    attack = dexec(probe, "head -c 200m /dev/zero | tail >/dev/null && echo KEPT")
    assert "KEPT" not in attack.stdout


def test_a_service_forking_past_the_pids_limit_is_stopped(hardened):
    """Last of the probes: the service's PID 1 (sleep) never reaps the bomb's children."""
    name, user, _ = hardened
    probe = f"podspawn-service.{user}.{name}.probe"
    bomb = "i=0; while [ $i -lt {n} ]; do sleep 5 & i=$((i+1)); done; echo SPAWNED {n}; wait"
    control = dexec(probe, bomb.format(n=100))
    assert "SPAWNED 100" in control.stdout, control.stderr
    attack = dexec(probe, bomb.format(n=400))
    assert "SPAWNED 400" not in attack.stdout
    assert "fork" in attack.stderr.lower(), attack.stderr


# -- ceilings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ("services:\n  - name: db\n    image: debian:bookworm\n    resources: {memory: 64g}\n",
         "services.db.resources.memory: 64g is more than this server allows "
         "(resources.max_memory: 8g)"),
        ("resources: {cpus: 16}\n",
         "resources.cpus: 16 is more than this server allows (resources.max_cpus: 4)"),
        ("resources: {memory: '0'}\n",
         "resources.memory: 0 (no limit) is more than this server allows "
         "(resources.max_memory: 8g)"),
    ],
)
def test_add_project_refuses_requests_above_the_ceilings(server, tmp_path, resources, expected):
    name = pname("greedy")
    repo = make_repo(tmp_path / "greedy", "base: debian:bookworm\n" + resources)
    before = server.config.read_text()
    result = server.podspawn("add-project", name, "--repo", str(repo))
    assert result.returncode != 0
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert server.config.read_text() == before
    assert project_images(name) == []
    projects = server.root / "state" / "projects"
    leftovers = [p.name for p in projects.iterdir() if p.name.startswith((name, f".{name}"))
                 ] if projects.is_dir() else []
    assert leftovers == []


def test_update_project_refuses_a_new_request_above_a_ceiling(server, tmp_path):
    name = pname("grows")
    repo = make_repo(tmp_path / "grows", "base: debian:bookworm\nresources: {memory: 512m}\n")
    server.podspawn("remove-project", name)
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stderr
    try:
        before = server.config.read_text()
        commit(repo, "base: debian:bookworm\nresources: {memory: 64g}\n")
        result = server.podspawn("update-project", name)
        assert result.returncode != 0
        assert ("resources.memory: 64g is more than this server allows "
                "(resources.max_memory: 8g)") in result.stderr
        assert server.config.read_text() == before
        user = fresh_user(server, "grower")
        seen = project_ssh(server, user, "hostname", project=name)
        assert seen.returncode == 0, seen.stderr.decode()
        host = inspect(seen.stdout.decode().strip())["HostConfig"]
        assert host["Memory"] == 512 * 1024**2  # the previous Podfile still applies
        server.podspawn("remove-user", user, "--force")
    finally:
        forget(server, name)


def test_login_clamps_to_a_lowered_ceiling_but_not_the_admins_overrides(server, tmp_path,
                                                                        config):
    name = pname("clamp")
    podfile = ("base: debian:bookworm\nresources: {cpus: 2, memory: 1g}\nservices:\n"
               "  - name: side\n    image: debian:bookworm\n    command: [sleep, infinity]\n"
               "    resources: {cpus: 2, memory: 512m}\n")
    repo = make_repo(tmp_path / "clamp", podfile)
    server.podspawn("remove-project", name)
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stderr
    try:
        # the admin lowers the ceilings after add-project
        config({"resources": {"max_per_user": 0, "max_cpus": 1.5, "max_memory": "256m",
                              "service_memory": "128m"}})
        user = fresh_user(server, "clamped")
        seen = project_ssh(server, user, "hostname", project=name)
        assert seen.returncode == 0, seen.stderr.decode()
        dev = inspect(seen.stdout.decode().strip())["HostConfig"]
        assert (dev["NanoCpus"], dev["Memory"]) == (1_500_000_000, 256 * 1024**2)
        side = inspect(f"podspawn-service.{user}.{name}.side")["HostConfig"]
        assert (side["NanoCpus"], side["Memory"]) == (1_500_000_000, 256 * 1024**2)
        # the admin's own per-user override is not a request: no ceiling applies to it
        boss = fresh_user(server, "bigboss")
        (server.root / "users").mkdir(exist_ok=True)
        (server.root / "users" / f"{boss}.yaml").write_text("memory: 768m\ncpus: 1.75\n")
        seen = project_ssh(server, boss, "hostname", project=name)
        assert seen.returncode == 0, seen.stderr.decode()
        dev = inspect(seen.stdout.decode().strip())["HostConfig"]
        assert (dev["NanoCpus"], dev["Memory"]) == (1_750_000_000, 768 * 1024**2)
        for person in (user, boss):
            server.podspawn("remove-user", person, "--force")
    finally:
        forget(server, name)


# -- image builds -----------------------------------------------------------------------------

FORK = "sh -c 'i=0; while [ $i -lt 400 ]; do sleep 30 & i=$((i+1)); done; echo SPAWNED'"
ALLOCATE = "head -c 600m /dev/zero | tail > /dev/null"


def build_result(server, tmp_path: Path, base: str, commands: list[str]):
    """add-project of a Podfile with ``commands``; the first step is new every time, so
    the builder's cache never answers for a step built under other limits."""
    name = pname(base)
    forget(server, name)
    podfile = "base: debian:bookworm\nextra_commands:\n" + "".join(
        f"  - {json.dumps(command)}\n" for command in [f"echo {uuid.uuid4().hex}", *commands])
    repo = make_repo(tmp_path / base, podfile)
    before = server.config.read_text()
    result = server.podspawn("add-project", name, "--repo", str(repo))
    return name, result, before


def no_build_cgroups_left(project: str) -> bool:
    """Other runs may be building at the same time: only ``project``'s groups are looked at."""
    return not BUILD_CGROUPS.is_dir() or not [
        p for p in BUILD_CGROUPS.iterdir() if p.is_dir() and p.name.startswith(f"{project}-")]


def test_a_fork_bomb_in_a_build_hits_the_process_limit(server, tmp_path, config):
    config({"images": {"build_pids": 200}})
    name, result, before = build_result(server, tmp_path, "forky", [FORK])
    assert result.returncode != 0
    [message] = [line for line in result.stderr.splitlines() if line.startswith("podspawn:")]
    assert message.startswith(f"podspawn: the image build of project {name} was stopped at "
                              "RUN sh -c"), result.stderr
    assert ("it needed more processes than a build may use (images.build_pids: 200); make "
            "that step use less, or raise images.build_pids.") in message
    assert "Traceback" not in result.stderr
    assert server.config.read_text() == before
    assert project_images(name) == []
    assert no_build_cgroups_left(name)


def test_a_build_allocating_past_the_memory_limit_fails(server, tmp_path, config):
    config({"images": {"build_memory": "256m"}})
    name, result, before = build_result(server, tmp_path, "hungry", [ALLOCATE])
    assert result.returncode != 0
    assert (f"the image build of project {name} was stopped at RUN head -c 600m /dev/zero | "
            "tail > /dev/null: it needed more memory than a build may use "
            "(images.build_memory: 256m)") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert server.config.read_text() == before
    assert project_images(name) == []


def test_the_same_steps_build_where_the_limits_allow_them(server, tmp_path, config):
    """The control: the fork and allocation above succeed under higher limits, and a normal
    build passes under the tight ones."""
    config({"images": {"build_pids": 1000, "build_memory": "1g"}})
    name, result, _ = build_result(server, tmp_path, "roomy", [FORK, ALLOCATE])
    try:
        assert result.returncode == 0, result.stderr
        assert project_images(name)
    finally:
        forget(server, name)
    config({"images": {"build_pids": 200, "build_memory": "256m"}})
    name, result, _ = build_result(server, tmp_path, "modest", [
        "sh -c 'i=0; while [ $i -lt 50 ]; do sleep 1 & i=$((i+1)); done; wait'",
        "head -c 64m /dev/zero | tail > /dev/null"])
    try:
        assert result.returncode == 0, result.stderr
        assert project_images(name)
    finally:
        forget(server, name)
    assert no_build_cgroups_left(pname("roomy")) and no_build_cgroups_left(name)


def test_one_build_at_a_time_per_project(server, tmp_path):
    """update-project waits while another podspawn holds the project's build lock; another
    project's update does not."""
    first, second = pname("queued"), pname("free")
    for project in (first, second):
        server.podspawn("remove-project", project)
        repo = make_repo(tmp_path / project, "base: debian:bookworm\n")
        added = server.podspawn("add-project", project, "--repo", str(repo))
        assert added.returncode == 0, added.stderr
    lock = server.root / "state" / "locks" / f"build.{first}.lock"
    assert lock.exists()  # add-project took it
    holder = subprocess.Popen(["flock", str(lock), "sleep", "8"])
    try:
        time.sleep(0.5)
        started = time.monotonic()
        other = server.podspawn("update-project", second)
        assert other.returncode == 0, other.stderr
        assert time.monotonic() - started < 7  # the control: no global lock
        started = time.monotonic()
        waited = server.podspawn("update-project", first)
        assert waited.returncode == 0, waited.stderr
        assert holder.poll() is not None  # it finished only after the holder let go
        assert time.monotonic() - started > 4
    finally:
        holder.kill()
        holder.wait()
        for project in (first, second):
            forget(server, project)

