"""Tenants share nothing but the kernel (issue 8 items 1, 2, 5 and 8), through the real sshd.

Each attack is run the way a hostile user or a hostile repository would run it, next to a
positive control that shows the same probe working where it is allowed to, so a refusal
cannot pass merely because the probe was mistyped.
"""

from __future__ import annotations

import hashlib
import json
import pwd
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from podspawn import names
from tests.e2e.harness import IMAGE, Server, uname
from tests.e2e.test_projects import make_repo, project_ssh


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False)


def docker_id(name_or_id: str) -> str:
    return run("docker", "inspect", "-f", "{{.Id}}", name_or_id).stdout.strip()


def running(name_or_id: str) -> bool:
    return run("docker", "inspect", "-f", "{{.State.Running}}", name_or_id).stdout.strip() \
        == "true"


def labelled(label: str, kind: str = "container") -> list[str]:
    flag = ["-a"] if kind == "container" else []
    return run("docker", kind, "ls", "-q", *flag, "--filter", f"label={label}").stdout.split()


def session_rows(server: Server, user: str) -> list[dict]:
    listed = server.podspawn("--json", "list")
    assert listed.returncode == 0, listed.stderr
    return [row for row in json.loads(listed.stdout) if row["user"] == user]


def one_line_refusal(result: subprocess.CompletedProcess[bytes]) -> str:
    """The refusal: one ``podspawn:`` line (after any progress lines), no traceback."""
    text = (result.stdout + result.stderr).decode(errors="replace").strip()
    assert result.returncode != 0, text
    assert "Traceback" not in text and "internal error" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("podspawn:")]
    assert len(errors) == 1 and text.splitlines()[-1] == errors[0], text
    return errors[0]


@pytest.fixture
def register(server: Server, tmp_path: Path):
    """``register(name, podfile)``: add-project a repository holding ``podfile``."""
    made: list[str] = []

    def _register(name: str, podfile: str) -> None:
        repo = make_repo(tmp_path / name, podfile)
        server.podspawn("remove-project", name)
        result = server.podspawn("add-project", name, "--repo", str(repo))
        assert result.returncode == 0, result.stdout + result.stderr
        made.append(name)

    yield _register
    for name in made:
        server.podspawn("remove-project", name)


def project_entry(server: Server, name: str) -> dict:
    return dict(yaml.safe_load(server.config.read_text())["projects"][name])


def set_project(server: Server, name: str, **values: object) -> None:
    """Admin settings for a registered project, as an admin would add them to config.yaml."""
    data = yaml.safe_load(server.config.read_text())
    data["projects"][name].update(values)
    server.config.write_text(yaml.safe_dump(data, sort_keys=False))


def fresh_users(server: Server, *bases: str) -> list[str]:
    users = []
    for base in bases:
        user = uname(base)
        server.podspawn("remove-user", user, "--force", "--purge")
        server.add_user(user)
        users.append(user)
    return users


def drop_users(server: Server, *users: str) -> None:
    for user in users:
        server.podspawn("remove-user", user, "--force", "--purge")


SLEEPER = f"image: {IMAGE}\n    command: [sleep, infinity]"


# -- item 1: one name function, and nothing is removed on the strength of a name ---------------

def previous_release_name(user: str, project: str = "") -> str:
    """How the previous release named a session container (the rule the attack aims at)."""
    name = "-".join(["podspawn", user, *([project] if project else [])])
    if "-" in user or len(name) > 51:
        digest = hashlib.sha256(f"{user}\0{project}".encode()).hexdigest()[:8]
        name = f"{name[:53]}_h{digest}"
    return name


def test_a_service_named_after_another_users_container_cannot_touch_it(server, register):
    attacker = uname("dev")
    victim = f"{attacker}-ops"
    fresh_users(server, "dev")
    server.podspawn("remove-user", victim, "--force")
    server.add_user(victim)
    try:
        # the victim works in project "web" (not registered: the default environment)
        assert project_ssh(server, victim, "true", project="web").returncode == 0
        [victim_ctr] = labelled(f"podspawn-user={victim}")
        victim_id = docker_id(victim_ctr)
        # the attacker picks a service name that, under the previous naming rule, spelt the
        # victim's container name exactly
        aim = previous_release_name(victim, "web")
        service = aim.removeprefix(f"podspawn-{attacker}-ops-")
        assert f"podspawn-{attacker}-ops-{service}" == aim  # the collision was real
        register("ops", f"base: {IMAGE}\nservices:\n  - name: {service}\n    {SLEEPER}\n")
        got = project_ssh(server, attacker, f"getent hosts {service} >/dev/null && echo up",
                          project="ops")
        assert got.returncode == 0, got.stderr.decode()
        assert got.stdout.decode().split() == ["up"]
        assert running(victim_id) and docker_id(victim_ctr) == victim_id
        ours = names.resource_name("service", attacker, "ops", service)
        assert ours != names.resource_name("session", victim, "web")

        # control: a leftover of the attacker's own under that name (a crash) is replaced
        assert server.podspawn("stop", f"{attacker}@ops").returncode == 0
        iid = server.install_id()
        leftover = run("docker", "run", "-d", "--name", ours,
                       "--label", "managed-by=podspawn", "--label", f"podspawn-instance={iid}",
                       "--label", f"podspawn-user={attacker}", "--label", "podspawn-project=ops",
                       "--label", "podspawn-role=service", "--label", f"podspawn-service={service}",
                       IMAGE, "sleep", "infinity")
        assert leftover.returncode == 0, leftover.stderr
        again = project_ssh(server, attacker, "true", project="ops")
        assert again.returncode == 0, again.stderr.decode()
        assert docker_id(leftover.stdout.strip()) == ""  # it was removed
        assert docker_id(ours) not in ("", leftover.stdout.strip())  # and made afresh

        # ... but a container of that name that is not ours is never removed
        assert server.podspawn("stop", f"{attacker}@ops").returncode == 0
        foreign = run("docker", "run", "-d", "--name", ours, IMAGE, "sleep", "infinity")
        assert foreign.returncode == 0, foreign.stderr
        refused = one_line_refusal(project_ssh(server, attacker, "true", project="ops"))
        assert "does not belong to this session" in refused
        assert running(foreign.stdout.strip())
        assert running(victim_id)
    finally:
        run("docker", "rm", "-f", names.resource_name("service", attacker, "ops", service))
        drop_users(server, attacker, victim)


def test_a_session_made_by_the_previous_release_keeps_working(server):
    """After the upgrade, a row and container made under the old names and labels (no role,
    no session id) are joined by id and can still be stopped."""
    [user] = fresh_users(server, "old-timer")
    old_name = previous_release_name(user)
    assert old_name != names.container_name(user)  # the new release would name it otherwise
    iid = server.install_id()
    common = ["--label", "managed-by=podspawn", "--label", f"podspawn-instance={iid}",
              "--label", f"podspawn-user={user}", "--label", "podspawn-project="]
    net = f"{old_name}-net"
    try:
        assert run("docker", "network", "create", *common, net).returncode == 0
        made = run("docker", "run", "-d", "--name", old_name, "--hostname", old_name,
                   "--network", net, *common, IMAGE, "sleep", "infinity")
        assert made.returncode == 0, made.stderr
        ctr = made.stdout.strip()
        assert run("docker", "exec", ctr, "useradd", "-u", "1000", "-m", "-s", "/bin/bash",
                   user).returncode == 0
        now = time.time()
        with sqlite3.connect(server.root / "state" / "state.db") as conn:
            conn.execute(
                "INSERT INTO sessions(user, project, id, container_id, container_name, image, "
                "status, connections, created_at, last_activity, max_lifetime, network_id, "
                "mode, runtime_state) VALUES(?, '', ?, ?, ?, ?, 'running', 0, ?, ?, ?, '', "
                "'grace-period', ?)",
                (user, uuid.uuid4().hex, ctr, old_name, IMAGE, now, now, now + 3600,
                 json.dumps({"version": 1, "backend": "docker", "network": net,
                             "shell": "/bin/bash", "home": f"/home/{user}",
                             "workdir": f"/home/{user}"})))
        result = server.ssh(user, "hostname; id -un")
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.decode().split() == [old_name, user]
        stopped = server.podspawn("stop", user)
        assert stopped.returncode == 0, stopped.stderr
        assert docker_id(ctr) == ""
        assert run("docker", "network", "inspect", net).returncode != 0
    finally:
        run("docker", "rm", "-f", old_name)
        run("docker", "network", "rm", net)
        drop_users(server, user)


# -- item 2: a host uid per user ----------------------------------------------------------------

def _container_pid(container: str, command: str) -> int:
    """The host pid of the process in ``container`` whose command line is ``command``."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        top = run("docker", "top", container, "-eo", "pid,args").stdout.splitlines()[1:]
        for line in top:
            pid, _, args = line.strip().partition(" ")
            if args.strip() == command:
                return int(pid)
        time.sleep(0.2)
    raise AssertionError(f"no {command!r} in {container}")


def _host_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def as_ids(uid: int, gid: int, *argv: str) -> subprocess.CompletedProcess[str]:
    """``argv`` as a host process with exactly these ids (what that account's shell has)."""
    return run("setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv)


def test_each_user_runs_under_a_host_uid_of_their_own(server):
    alice, bob = fresh_users(server, "uida", "uidb")
    procs = []
    try:
        uids = {}
        for user in (alice, bob):
            probe = server.ssh(user, "id -u; id -un; echo $HOME; sudo -n id -u")
            assert probe.returncode == 0, probe.stderr.decode()
            uid, name, home, root = probe.stdout.decode().split()
            assert (name, home, root) == (user, f"/home/{user}", "0")
            assert int(uid) == pwd.getpwnam(user).pw_uid
            uids[user] = int(uid)
            procs.append(subprocess.Popen([*server.ssh_argv(user), f"sleep 61{len(procs)}"],
                                          stdin=subprocess.DEVNULL))
        assert uids[alice] != uids[bob]
        pid_a = _container_pid(names.container_name(alice), "sleep 610")
        pid_b = _container_pid(names.container_name(bob), "sleep 611")
        assert _host_uid(pid_a) == uids[alice] and _host_uid(pid_b) == uids[bob]

        # attack: another host account reads a container through /proc/<pid>/root
        secret = f"/proc/{pid_a}/root/etc/hostname"
        theirs = as_ids(pwd.getpwnam(bob).pw_uid, pwd.getpwnam(bob).pw_gid, "cat", secret)
        assert theirs.returncode != 0 and names.container_name(alice) not in theirs.stdout
        # control: the probe works with the credentials the process runs with (the kernel
        # wants uid and gid to match)
        own = as_ids(uids[alice], uids[alice], "cat", secret)
        assert own.stdout.strip() == names.container_name(alice), own.stderr

        # the previous release ran everyone as 1000:1000, and the host account holding 1000
        # (often the admin's own) could read every container; now it reads none ...
        assert as_ids(1000, 1000, "cat", secret).returncode != 0
        # ... unless a process really runs as 1000 (the control: what the attack saw)
        procs.append(subprocess.Popen(["docker", "exec", "-u", "1000:1000",
                                       names.container_name(alice), "sleep", "612"]))
        pid_old = _container_pid(names.container_name(alice), "sleep 612")
        seen = as_ids(1000, 1000, "cat", f"/proc/{pid_old}/root/etc/hostname")
        assert seen.stdout.strip() == names.container_name(alice), seen.stderr
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        drop_users(server, alice, bob)


def test_files_made_for_uid_1000_are_handed_to_the_user(server, register):
    """A workspace volume and a persistent home from the previous release (everything owned
    by 1000) become the user's at their next session."""
    [user] = fresh_users(server, "movein")
    register("movein", f"base: {IMAGE}\non_create: |\n  echo built > made-at-build\n")
    set_project(server, "movein", mode="persistent")
    try:
        first = project_ssh(server, user, "stat -c %u /workspace/movein/made-at-build ~",
                            project="movein")
        assert first.returncode == 0, first.stderr.decode()
        uid = str(pwd.getpwnam(user).pw_uid)
        assert first.stdout.decode().split() == [uid, uid]
        # make it look like the previous release's: everything back to 1000
        ctr = names.container_name(user, "movein")
        assert run("docker", "exec", ctr, "chown", "-R", "1000:1000", "/workspace/movein",
                   f"/home/{user}").returncode == 0
        assert server.podspawn("stop", f"{user}@movein").returncode == 0
        again = project_ssh(server, user, "stat -c %u:%g /workspace/movein/made-at-build ~; "
                            "touch /workspace/movein/x ~/y && echo writable", project="movein")
        assert again.returncode == 0, again.stderr.decode()
        assert again.stdout.decode().split() == [f"{uid}:{uid}", f"{uid}:{uid}", "writable"]
    finally:
        drop_users(server, user)


# -- item 5: a Podfile narrows admin policy, never widens it ------------------------------------

def test_a_podfile_cannot_make_itself_persistent(server, register):
    [user] = fresh_users(server, "forever")
    register("forever", f"base: {IMAGE}\nmode: persistent\n")
    server.set_config({"session": {"max_lifetime": "4s", "grace_period": "60s"}})
    try:
        got = project_ssh(server, user, "true", project="forever")
        assert got.returncode == 0, got.stderr.decode()  # no "setting up your user" failure
        [row] = session_rows(server, user)
        assert row["mode"] == "grace-period"  # the Podfile's wish is not the admin's policy
        time.sleep(5)
        assert server.podspawn("cleanup").returncode == 0
        assert session_rows(server, user) == []  # max_lifetime ended it
        # control: the admin may make the project persistent, and then it outlives the
        # lifetime (this is also the login that used to fail outright)
        set_project(server, "forever", mode="persistent")
        got = project_ssh(server, user, "echo kept > ~/mark", project="forever")
        assert got.returncode == 0, got.stderr.decode()
        [row] = session_rows(server, user)
        assert row["mode"] == "persistent"
        time.sleep(5)
        assert server.podspawn("cleanup").returncode == 0
        assert [r["mode"] for r in session_rows(server, user)] == ["persistent"]
    finally:
        server.set_config(None)
        drop_users(server, user)


def test_persistent_homes_are_per_project(server, register):
    """One project's repository cannot plant files in the home the user's other projects
    (and their default session) see."""
    [user] = fresh_users(server, "homer")
    key = server.key_for(user)
    assert server.podspawn("add-user", user, "--key-file", f"{key}.pub", "--mode",
                           "persistent").returncode == 0
    register("evil", f"base: {IMAGE}\non_start: |\n"
             "  echo 'echo PLANTED' >> ~/.bashrc; echo planted > ~/planted\n")
    register("good", f"base: {IMAGE}\n")
    try:
        assert project_ssh(server, user, "true", project="evil").returncode == 0
        # control: the planted file is there for the project that planted it, and persists
        assert server.podspawn("stop", f"{user}@evil").returncode == 0
        own = project_ssh(server, user, "cat ~/planted", project="evil")
        assert own.stdout.decode().strip() == "planted", own.stderr.decode()
        for project in ("good", ""):
            other = project_ssh(server, user, "ls -a ~; cat ~/planted 2>&1 || true",
                                project=project) if project else server.ssh(
                user, "ls -a ~; cat ~/planted 2>&1 || true")
            assert other.returncode == 0, other.stderr.decode()
            assert b"PLANTED" not in other.stdout + other.stderr
            assert b"No such file" in other.stdout
    finally:
        drop_users(server, user)


def test_project_access_lists(server, register):
    member, stranger, grouped = fresh_users(server, "member", "stranger", "grouped")
    group = uname("pteam")
    run("groupdel", group)
    assert run("groupadd", group).returncode == 0
    assert run("gpasswd", "-a", grouped, group).returncode == 0
    register("secret", f"base: {IMAGE}\n")
    set_project(server, "secret", users=[member], groups=[group])
    try:
        for user in (member, grouped):  # control: the probe logs in where it is allowed
            ok = project_ssh(server, user, "echo inside", project="secret")
            assert ok.stdout.decode().strip() == "inside", ok.stderr.decode()
        refused = one_line_refusal(project_ssh(server, stranger, "echo inside",
                                               project="secret"))
        assert "not on the access list of project secret" in refused
        assert labelled(f"podspawn-user={stranger}") == []
        assert labelled(f"podspawn-user={stranger}", "network") == []
        assert session_rows(server, stranger) == []
        # a user dropped from the list cannot rejoin the session that still runs
        set_project(server, "secret", users=[], groups=[group])
        refused = one_line_refusal(project_ssh(server, member, "true", project="secret"))
        assert "not on the access list" in refused
    finally:
        drop_users(server, member, stranger, grouped)
        run("groupdel", group)


# -- item 8: the per-user lock is short ----------------------------------------------------------

def test_a_login_stuck_in_on_start_delays_nobody(server, register):
    [user] = fresh_users(server, "stuck")
    register("slow", f"base: {IMAGE}\non_start: |\n  echo starting-slowly; sleep 300\n")
    stuck = subprocess.Popen(
        [*server.ssh_argv(user, opts=["-o", "SetEnv=PODSPAWN_PROJECT=slow"]), "true"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not any(r["status"] == "starting" for r in session_rows(server, user)):
            assert stuck.poll() is None, stuck.communicate()
            assert time.monotonic() < deadline, "the slow login never started its session"
            time.sleep(0.3)
        time.sleep(2)  # well inside on_start now
        assert stuck.poll() is None  # control: the first login really is stuck
        started = time.monotonic()
        other = server.ssh(user, "echo default-session", timeout=60)
        assert other.returncode == 0, other.stderr.decode()
        assert other.stdout.decode().strip() == "default-session"
        assert time.monotonic() - started < 30
        started = time.monotonic()
        removed = server.podspawn("remove-user", user, "--force")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert time.monotonic() - started < 30
        stuck.wait(timeout=60)  # the stuck login ends with its session
        deadline = time.monotonic() + 30
        while labelled(f"podspawn-user={user}"):
            assert time.monotonic() < deadline, "the half-made session left containers"
            time.sleep(0.5)
        assert session_rows(server, user) == []
    finally:
        if stuck.poll() is None:
            stuck.kill()
        stuck.communicate()
        drop_users(server, user)


def test_a_second_login_waits_for_the_first_and_joins_it(server, register):
    [user] = fresh_users(server, "twins")
    register("paced", f"base: {IMAGE}\non_start: |\n  sleep 4\n")
    argv = server.ssh_argv(user, opts=["-o", "SetEnv=PODSPAWN_PROJECT=paced"])
    try:
        procs = [subprocess.Popen([*argv, "hostname"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
        outs = [p.communicate(timeout=240) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert {o[0].decode().strip() for o in outs} == {names.container_name(user, "paced")}
        assert len(labelled(f"podspawn-user={user}")) == 1  # one container, not two
    finally:
        drop_users(server, user)
