"""Service bind mounts under ``security.allowed_bind_roots``, attacked through real services.

One project, two companion services. ``planter`` binds ``<shared>/a`` and is root in its
container, so it can rewrite that directory: it plays the hostile repository (from inside,
with ``docker exec`` or through its own command). ``victim`` binds directories below it,
``<shared>/a/x`` and ``<shared>/a/sub/root``, plus a plain and a read-only directory. The host
keeps a marker in ``/root`` that no container may ever see.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest

from podspawn.config.schema import SecurityConfig
from podspawn.services import binds
from tests.e2e.harness import ROOT, RUN_ID, uname
from tests.e2e.test_projects import make_repo, project_ssh

PROJECT = "binds"
SHARED = ROOT / "shared"
STAGING = ROOT / "state" / "binds"
MARKER = Path(f"/root/podspawn-e2e{'-' + RUN_ID if RUN_ID else ''}-bind-marker")
TOKEN = secrets.token_hex(8)

PODFILE = textwrap.dedent(f"""\
    base: debian:bookworm
    services:
      - name: planter
        image: debian:bookworm
        command: [sh, -c, "[ ! -f /plant/attack.sh ] || (sh /plant/attack.sh &); exec sleep 1d"]
        ready: "test ! -f /plant/attack.sh || test -e /plant/planted"
        volumes: ["{SHARED}/a:/plant"]
      - name: victim
        image: debian:bookworm
        command: [sleep, infinity]
        volumes:
          - "{SHARED}/a/x:/data"
          - "{SHARED}/a/sub/root:/deep"
          - "{SHARED}/plain:/plain"
          - "{SHARED}/ro:/ro:ro"
""")
#: What each login's victim runs to look for the host: the marker through both planted paths.
PROBE = f"cat /data/root/{MARKER.name} /deep/{MARKER.name} /data/real /deep/real 2>&1"


def make_tree() -> None:
    """The shared directories as the admin made them, every time from scratch."""
    if SHARED.exists():
        shutil.rmtree(SHARED)
    for path, content in (("a/x", "real-x"), ("a/sub/root", "real-root"), ("plain", "plain"),
                          ("ro", "read-only")):
        (SHARED / path).mkdir(parents=True)
        (SHARED / path / "real").write_text(content + "\n")


@pytest.fixture(scope="module")
def project(server, tmp_path_factory):
    MARKER.write_text(TOKEN + "\n")
    MARKER.chmod(0o600)
    make_tree()
    # services run with no-new-privileges by default, which alone stops a set-uid binary
    # anywhere; turned off here so the set-uid probe tests the bind's own nosuid
    # and their capabilities leave out MKNOD, which alone stops a device node anywhere; added
    # here so the mknod probe tests the bind's own nodev
    cap_add = [*SecurityConfig().service_cap_add, "MKNOD"]
    server.set_config({"security": {"allowed_bind_roots": [str(SHARED)],
                                    "service_no_new_privileges": False,
                                    "service_cap_add": cap_add}})
    repo = make_repo(tmp_path_factory.mktemp("repo") / "binds", PODFILE)
    server.podspawn("remove-project", PROJECT)
    added = server.podspawn("add-project", PROJECT, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    yield PROJECT
    server.podspawn("remove-project", PROJECT)
    server.set_config(None)
    MARKER.unlink(missing_ok=True)


@pytest.fixture
def tree(project):
    make_tree()
    yield SHARED
    make_tree()


@pytest.fixture
def users(server, project):
    made: list[str] = []

    def make(base: str) -> str:
        name = uname(base)
        server.podspawn("remove-user", name, "--force")
        server.add_user(name)
        made.append(name)
        return name

    yield make
    for name in made:
        server.podspawn("remove-user", name, "--force")


def login(server, user: str, command: str = "true"):
    return project_ssh(server, user, command, project=PROJECT)


def service(user: str, name: str) -> str:
    return f"podspawn-service.{user}.{PROJECT}.{name}"


def dexec(container: str, script: str, *, user: str = "root") -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", "-u", user, container, "sh", "-c", script],
                          capture_output=True, text=True, timeout=60, check=False)


def containers(user: str) -> list[str]:
    return subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter",
                           f"label=podspawn-user={user}"], capture_output=True, text=True,
                          check=True).stdout.split()


def host_mounts(under: Path, user: str = "") -> list[list[str]]:
    """The host's mountinfo lines (split) whose mount point is below ``under`` (and, with
    ``user``, in that user's staging directories)."""
    with open("/proc/self/mountinfo") as mountinfo:
        rows = [line.split() for line in mountinfo]
    prefix = f"{under}/{user}." if user else f"{under}/"
    return [row for row in rows if row[4].startswith(prefix)]


def staged_dirs(user: str) -> list[str]:
    return [name for name in os.listdir(STAGING) if name.startswith(f"{user}.")]


def mount_options(container: str, target: str) -> tuple[str, str]:
    """(host path the mount shows, per-mount options) of ``target`` inside ``container``."""
    lines = dexec(container, "cat /proc/self/mountinfo").stdout.splitlines()
    row = next(line.split() for line in lines if line.split()[4] == target)
    return row[3], row[5]


def assert_refused(result, entry: str, reason: str) -> None:
    err = result.stderr.decode()
    assert result.returncode != 0, err
    assert f"podspawn: the Podfile's {entry} (" in err, err
    assert f"cannot be mounted: the host path {reason}" in err, err
    assert "internal error" not in err and "Traceback" not in err, err


def test_the_mount_is_of_the_checked_directory_however_the_path_changes(tmp_path):
    """The race, without a scheduler's luck: the path is swapped for ``-> /`` after the check
    and before the mount. The mount still shows the checked directory."""
    root = tmp_path / "root"
    (root / "x").mkdir(parents=True)
    (root / "x" / "real").write_text("real")
    staging = tmp_path / "staging"
    (staging / "m").mkdir(parents=True)
    fd = binds.open_source(f"{root}/x", [str(root)])
    try:
        os.rename(root / "x", root / "x.moved")
        os.symlink("/", root / "x")
        assert "etc" in os.listdir(root / "x")  # control: the path itself now leads to /
        binds.bind_fd(fd, str(staging / "m"), read_only=True)
    finally:
        os.close(fd)
    try:
        assert os.listdir(staging / "m") == ["real"]
        [row] = host_mounts(staging)
        assert row[3] == f"{root}/x.moved"  # the checked inode, wherever it went
        assert set(row[5].split(",")) >= {"ro", "nosuid", "nodev"}
    finally:
        assert binds.release(str(staging)) == []
    assert host_mounts(staging) == [] and not staging.exists()


def test_a_bind_works_and_is_nosuid_nodev(server, tree, users):
    user = users("bndok")
    (tree / "plain" / "from-host").write_text("before\n")
    first = login(server, user, "echo in-dev-container")
    assert first.returncode == 0, first.stderr.decode()  # was an internal error (labels)
    victim = service(user, "victim")
    seen = dexec(victim, PROBE).stdout
    assert "real-x" in seen and "real-root" in seen and TOKEN not in seen
    (tree / "plain" / "from-host").write_text("written on the host after the login\n")
    assert dexec(victim, "cat /plain/from-host").stdout == "written on the host after the login\n"
    assert dexec(victim, "echo from-service > /plain/from-service").returncode == 0
    assert (tree / "plain" / "from-service").read_text() == "from-service\n"
    assert dexec(victim, "touch /ro/nope").returncode != 0
    assert not (tree / "ro" / "nope").exists()

    for target, host_path, writable in (("/plain", tree / "plain", True),
                                        ("/ro", tree / "ro", False), ("/data", tree / "a/x", True)):
        shown, options = mount_options(victim, target)
        assert shown == str(host_path)
        assert {"nosuid", "nodev", "rw" if writable else "ro"} <= set(options.split(","))
    staged = host_mounts(STAGING, user)
    assert len(staged) == 5  # planter's one bind and victim's four, all on the host's side
    assert all({"nosuid", "nodev"} <= set(row[5].split(",")) for row in staged)

    # setuid: the same setuid-root binary runs as root from the image, not from the bind
    shutil.copy("/usr/bin/id", tree / "plain" / "id-suid")
    os.chown(tree / "plain" / "id-suid", 0, 0)
    os.chmod(tree / "plain" / "id-suid", 0o4755)
    assert dexec(victim, "cp /usr/bin/id /usr/local/bin/id-suid && chmod 4755 "
                 "/usr/local/bin/id-suid").returncode == 0
    assert dexec(victim, "/usr/local/bin/id-suid -u", user="65534").stdout.strip() == "0"
    assert dexec(victim, "/plain/id-suid -u", user="65534").stdout.strip() == "65534"
    # nodev: root in the service makes /dev/null's device node; usable only outside the bind
    assert dexec(victim, "mknod /tmp/null c 1 3 && echo x > /tmp/null").returncode == 0
    planted = dexec(victim, "mknod /plain/null c 1 3 && echo x > /plain/null")
    assert planted.returncode != 0 and "Permission denied" in planted.stderr

    stopped = server.podspawn("stop", f"{user}@{PROJECT}")
    assert stopped.returncode == 0, stopped.stderr
    assert host_mounts(STAGING, user) == []
    assert staged_dirs(user) == []
    assert (tree / "plain" / "from-service").exists()  # releasing never touches the data


def test_a_planted_symlink_is_refused_for_later_sessions_of_anyone(server, tree, users):
    attacker, other = users("bndatk"), users("bndvic")
    assert login(server, attacker).returncode == 0
    planter = service(attacker, "planter")
    # root in the planter replaces the victim's directory with a link to the host's /
    assert dexec(planter, "mv /plant/x /plant/x.real && ln -s / /plant/x").returncode == 0
    # control: followed, that link would show the host's marker
    assert (tree / "a" / "x" / "root" / MARKER.name).read_text().strip() == TOKEN

    for user in (other, attacker):
        if user == attacker:
            assert server.podspawn("stop", f"{user}@{PROJECT}").returncode == 0
        refused = login(server, user, f"cat /data/root/{MARKER.name}")
        assert_refused(refused, "services.1.volumes.0",
                       "passes through a symbolic link (a/x)")
        assert TOKEN not in refused.stdout.decode() + refused.stderr.decode()
        assert containers(user) == []  # nothing of the refused login is left running
        assert host_mounts(STAGING, user) == [] and staged_dirs(user) == []

    # the admin puts x back; then a directory higher up: a/sub becomes a link to /, so that
    # a/sub/root is the host's /root
    (tree / "a" / "x").unlink()
    (tree / "a" / "x.real").rename(tree / "a" / "x")
    assert login(server, attacker).returncode == 0
    assert dexec(planter, "mv /plant/sub /plant/sub.real && ln -s / /plant/sub").returncode == 0
    assert (tree / "a" / "sub" / "root" / MARKER.name).exists()  # control, as above
    refused = login(server, other)
    assert_refused(refused, "services.1.volumes.1", "passes through a symbolic link (a/sub)")
    assert containers(other) == []


def test_a_service_cannot_plant_a_link_for_the_service_after_it(server, tree, users):
    """Within one login: the planter's own command plants ``x -> /`` as it starts; the victim,
    created next, is refused."""
    user = users("bndcmd")
    (tree / "a" / "attack.sh").write_text(
        "rm -rf /plant/x; ln -s / /plant/x; touch /plant/planted\n")
    refused = login(server, user)
    assert_refused(refused, "services.1.volumes.0", "passes through a symbolic link (a/x)")
    assert (tree / "a" / "x").is_symlink()  # the attack did run
    assert containers(user) == [] and host_mounts(STAGING, user) == []


def test_a_racing_planter_never_gets_the_host_mounted(server, tree, users):
    """The planter swaps ``x`` between the real directory and a link to ``/`` as fast as it
    can while the victim is created; each login either is refused or mounts the real one."""
    user = users("bndrace")
    (tree / "a" / "attack.sh").write_text(textwrap.dedent("""\
        touch /plant/planted
        while [ -e /plant/attack.sh ]; do
          mv -T /plant/x /plant/x.d; ln -s / /plant/x; sleep 0.01
          rm /plant/x; mv -T /plant/x.d /plant/x; sleep 0.01
        done
    """))
    outcomes = []
    for _ in range(6):
        result = login(server, user, "true")
        if result.returncode == 0:
            seen = dexec(service(user, "victim"), PROBE).stdout
            assert TOKEN not in seen and "real-x" in seen, seen
            outcomes.append("mounted the real directory")
        else:
            err = result.stderr.decode()
            assert "podspawn: the Podfile's services.1.volumes.0 (" in err, err
            assert "internal error" not in err and "Traceback" not in err, err
            outcomes.append("refused")
        server.podspawn("stop", f"{user}@{PROJECT}")
        assert host_mounts(STAGING, user) == []
    print("racing planter:", outcomes)


def test_a_missing_source_is_refused_with_the_sentence(server, tree, users):
    user = users("bndgone")
    (tree / "ro").rename(tree / "ro.gone")
    refused = login(server, user)
    assert_refused(refused, "services.1.volumes.3",
                   "does not exist (no ro under the allowed root)")
    assert "an administrator must create the directory" in refused.stderr.decode()
    assert containers(user) == [] and host_mounts(STAGING, user) == []
    update = server.podspawn("update-project", PROJECT)  # checked early too
    assert update.returncode != 0
    assert "services.1.volumes.3" in update.stderr and "does not exist" in update.stderr
    assert "Traceback" not in update.stderr
    (tree / "ro.gone").rename(tree / "ro")
    assert login(server, user).returncode == 0


def test_cleanup_releases_the_binds_of_a_session_that_lost_its_row(server, tree, users):
    user = users("bndcrash")
    assert login(server, user).returncode == 0
    assert len(host_mounts(STAGING, user)) == 5
    with sqlite3.connect(server.root / "state" / "state.db") as conn:  # as if spawn crashed
        conn.execute("DELETE FROM sessions WHERE user = ?", (user,))
    cleaned = server.podspawn("cleanup")
    assert cleaned.returncode == 0, cleaned.stderr
    assert host_mounts(STAGING, user) == [] and staged_dirs(user) == []
    assert containers(user) == []
    assert (tree / "plain" / "real").read_text() == "plain\n"
