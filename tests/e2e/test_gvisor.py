"""``security.runtime: runsc``: sessions, ``.pod`` logins and companion services in gVisor.

Debian's runsc (0.0~20221219) is registered by ``scripts/register-runsc.sh`` with
``--network=host`` (why: docs/security.md). Each sandboxed session is checked against a
control session of the same shape under Docker's default runtime, so a probe that only
looks for gVisor is shown to tell the two apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator

import pytest

from tests.e2e.harness import Server, uname
from tests.e2e.test_pod_tunnel import LISTEN_ONCE, forwarded_reply, pod_ssh
from tests.e2e.test_projects import make_repo

#: dmesg, the kernel release and whether sudo works, one line each, from inside a session.
PROBE = "dmesg 2>&1 | head -3; echo release=$(uname -r); sudo -n true 2>&1; echo sudo=$?"
GVISOR_BOOT = "Starting gVisor..."
HOST_RELEASE = os.uname().release

#: A service that greets every connection; the session reaches it by its Podfile name.
GREETER = ("perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalPort=>7000,Listen=>5,"
           "ReuseAddr=>1) or die; while($c=$s->accept){print $c \"from-greeter\\n\"; close $c}'")
PODFILE = textwrap.dedent("""\
    base: debian:bookworm
    shell: /bin/bash
    services:
      - name: greeter
        image: debian:bookworm
        ports: [7000]
        command: [sh, -c, %s]
""") % json.dumps(GREETER)
PROJECT = "gvsvc"


def docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def runtime_of(container: str) -> str:
    return docker("inspect", "-f", "{{.HostConfig.Runtime}}", container)


def containers(user: str, project: str, role: str) -> list[str]:
    return docker("ps", "-q", "--filter", f"label=podspawn-user={user}",
                  "--filter", f"label=podspawn-project={project}",
                  "--filter", f"label=podspawn-role={role}").split()


#: What docs/security.md tells admins to set with runsc: each process in a sandbox costs
#: about 8 host tasks (ptrace platform), so the default pids_limit of 256 ends a session at
#: about 25 processes.
RUNSC_SECURITY = {"runtime": "runsc", "pids_limit": 4096}


@contextlib.contextmanager
def oci_runtime(server: Server, runtime: str) -> Iterator[None]:
    """New sessions use ``runtime`` (empty: Docker's default) until the block ends."""
    server.set_config({"security": RUNSC_SECURITY} if runtime == "runsc" else None)
    try:
        yield
    finally:
        server.set_config(None)


@pytest.fixture(scope="module")
def runsc_registered() -> None:
    runtimes = json.loads(docker("info", "--format", "{{json .Runtimes}}"))
    if "runsc" not in runtimes:
        pytest.fail("Docker has no runtime named runsc: apt-get install runsc, then run "
                    "scripts/register-runsc.sh", pytrace=False)


def fresh_user(server: Server, base: str) -> str:
    user = uname(base)
    server.podspawn("remove-user", user, "--force")
    server.add_user(user)
    return user


def session_user(server: Server, base: str, runtime: str) -> Iterator[str]:
    """A fresh user whose default session was created under ``runtime``."""
    user = fresh_user(server, base)
    with oci_runtime(server, runtime):
        first = server.ssh(user, "true")
        assert first.returncode == 0, first.stderr.decode()
    yield user
    server.podspawn("remove-user", user, "--force")


@pytest.fixture(scope="module")
def gv(server: Server, runsc_registered: None) -> Iterator[str]:
    yield from session_user(server, "gvsarah", "runsc")


@pytest.fixture(scope="module")
def control(server: Server) -> Iterator[str]:
    """The same kind of user and session under Docker's default runtime."""
    yield from session_user(server, "gvcarol", "")


def probe(server: Server, user: str, opts: tuple[str, ...] = ()) -> str:
    result = server.ssh(user, PROBE, opts=opts, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_plain_login_runs_in_gvisor(server, gv):
    out = probe(server, gv)
    assert GVISOR_BOOT in out
    assert f"release={HOST_RELEASE}" not in out
    assert runtime_of(f"podspawn-{gv}") == "runsc"
    who = server.ssh(gv, "id -un; hostname; echo $HOME")
    assert who.stdout.decode().split() == [gv, f"podspawn-{gv}", f"/home/{gv}"]


def test_control_login_shows_the_host_kernel(server, control):
    """The probe is real: without runsc the same login sees the host's kernel, no gVisor."""
    out = probe(server, control)
    assert "gVisor" not in out
    assert f"release={HOST_RELEASE}" in out
    assert "sudo=0" in out
    assert runtime_of(f"podspawn-{control}") == "runc"


def test_sudo_is_refused_by_this_runsc(server, gv, control):
    """Debian's runsc ignores set-user-ID bits and reports no_new_privs=1 for every task
    (gVisor issue 212), so sudo cannot become root whatever Docker asks for. The control
    session, with the same podspawn settings under runc, has working sudo."""
    out = probe(server, gv)
    assert "sudo=1" in out
    assert 'The "no new privileges" flag is set' in out
    assert docker("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", f"podspawn-{gv}") \
        in ("null", "[]")
    flags = server.ssh(gv, "setpriv -d | grep no_new_privs; sudo -n true")
    assert "no_new_privs: 1" in flags.stdout.decode()
    assert flags.returncode != 0
    same = server.ssh(control, "setpriv -d | grep no_new_privs; sudo -n id -u")
    assert same.stdout.decode().split() == ["no_new_privs:", "0", "0"]


def test_ls_long_fails_on_this_runsc(server, gv, control):
    """coreutils' statx(AT_NO_AUTOMOUNT) is refused with EINVAL by Debian's runsc, so
    ``ls -l`` and ``stat`` fail inside the sandbox; the control session lists the file."""
    listed = server.ssh(gv, "ls -l /etc/hostname")
    assert listed.returncode == 2
    assert "Invalid argument" in listed.stderr.decode()
    same = server.ssh(control, "ls -l /etc/hostname")
    assert same.returncode == 0, same.stderr.decode()
    assert "/etc/hostname" in same.stdout.decode()


def test_terminal_files_and_many_processes_work_in_gvisor(server, gv, tmp_path):
    # the terminal is the host pty that docker exec -t hands in: a terminal to every
    # program, but one without a /dev/pts name inside gVisor
    tty = server.ssh(gv, "test -t 0 && echo isatty; stty size; tty", opts=("-tt",))
    assert tty.stdout.decode().split("\r\n")[:3] == ["isatty", "0 0", "not a tty"], \
        tty.stdout.decode()
    payload = tmp_path / "blob.bin"
    payload.write_bytes(os.urandom(300_000))
    argv = server.ssh_argv(gv)
    upload = subprocess.run(["scp", "-P", str(server.port), *server.client_opts(), "-i",
                             str(server.key_for(gv)), str(payload), f"{argv[-1]}:blob.bin"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert upload.returncode == 0, upload.stderr
    digest = server.ssh(gv, "sha256sum blob.bin").stdout.decode().split()[0]
    assert digest == hashlib.sha256(payload.read_bytes()).hexdigest()
    # 60 processes at once: more than the default pids_limit allows under gVisor
    busy = server.ssh(gv, "for i in $(seq 60); do sleep 20 & done; sleep 1; "
                          "set -- /proc/[0-9]*; echo $#", timeout=120)
    assert busy.returncode == 0, busy.stderr.decode()
    assert int(busy.stdout.decode()) >= 60
    assert GVISOR_BOOT in server.ssh(gv, "dmesg").stdout.decode()


def test_sandboxed_session_is_isolated_like_any_other(server, gv, control):
    """From the gVisor session (the attacker): another user's container by bridge IP and
    the host's loopback stay unreachable, while the same probe reaches a listener in its
    own container; the victim's listener answers a probe it is allowed to make."""
    victim = f"podspawn-{control}"
    docker("exec", "-d", victim, "sh", "-c",
           LISTEN_ONCE.format(port=7100, reply="victim").replace("127.0.0.1", "0.0.0.0"))
    victim_ip = docker("inspect", "-f",
                       "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", victim)
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen()
    host.settimeout(0.5)
    tcp = 'timeout 5 bash -c "exec 3<>/dev/tcp/{}/{}" 2>/dev/null && echo open || echo shut'
    own = LISTEN_ONCE.format(port=7101, reply="own")
    try:
        time.sleep(0.5)
        attack = server.ssh(gv, f"{tcp.format(victim_ip, 7100)}; "
                                f"{tcp.format('127.0.0.1', host.getsockname()[1])}; "
                                f"({own} &); sleep 1; {tcp.format('127.0.0.1', 7101)}")
        assert attack.stdout.decode().split() == ["shut", "shut", "open"], \
            attack.stderr.decode()
        with pytest.raises(TimeoutError):
            host.accept()
        allowed = subprocess.run(["docker", "exec", victim, "bash", "-c",
                                  tcp.format("127.0.0.1", 7100)],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert allowed.stdout.split() == ["open"]
    finally:
        host.close()


def test_pod_login_ends_in_sshd_inside_gvisor(server, gv, tmp_path):
    config = server.pod_tunnel_config(gv, tmp_path, ["gvwork.pod"])
    with oci_runtime(server, "runsc"):
        inside = pod_ssh(config, f"{gv}@gvwork.pod", "hostname; id -un; dmesg | head -1",
                         timeout=300)
    assert inside.returncode == 0, inside.stderr.decode()
    lines = inside.stdout.decode().splitlines()
    assert lines[:2] == [f"podspawn-{gv}-gvwork", gv]
    assert GVISOR_BOOT in lines[2]
    assert runtime_of(f"podspawn-{gv}-gvwork") == "runsc"
    # here the terminal is one the in-container sshd made, inside gVisor: it has a name
    tty = pod_ssh(config, f"{gv}@gvwork.pod", "tty", "-tt")
    assert tty.stdout.decode().startswith("/dev/pts/"), tty.stdout.decode()

    assert b"inside-gvisor" in forwarded_reply(config, f"{gv}@gvwork.pod", "inside-gvisor",
                                               timeout=60)


@pytest.fixture(scope="module")
def project(server: Server, runsc_registered: None,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    repo = make_repo(tmp_path_factory.mktemp("gvrepo") / PROJECT, PODFILE)
    server.podspawn("remove-project", PROJECT)
    added = server.podspawn("add-project", PROJECT, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    yield PROJECT
    server.podspawn("remove-project", PROJECT)


def project_probe(server: Server, user: str) -> str:
    command = ("dmesg | head -1; exec 3<>/dev/tcp/greeter/7000 && head -1 <&3")
    result = server.ssh(user, command, opts=("-o", f"SetEnv=PODSPAWN_PROJECT={PROJECT}"),
                        timeout=600)
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    return result.stdout.decode()


def test_project_and_its_service_both_run_in_gvisor(server, gv, project):
    with oci_runtime(server, "runsc"):
        out = project_probe(server, gv)
    assert GVISOR_BOOT in out
    assert "from-greeter" in out  # by its Podfile name, over the session's network
    (session,) = containers(gv, project, "session")
    (service,) = containers(gv, project, "service")
    assert runtime_of(session) == runtime_of(service) == "runsc"
    assert GVISOR_BOOT in docker("exec", service, "dmesg")


def test_stop_removes_the_sandboxed_project_session(server, gv, project):
    assert containers(gv, project, "session") and containers(gv, project, "service")
    stopped = server.podspawn("stop", f"{gv}@{project}")
    assert stopped.returncode == 0, stopped.stderr
    assert containers(gv, project, "session") == containers(gv, project, "service") == []
    networks = docker("network", "ls", "-q", "--filter", f"label=podspawn-user={gv}",
                      "--filter", f"label=podspawn-project={project}")
    assert networks == ""


def test_control_project_service_runs_on_the_host_kernel(server, control, project):
    with oci_runtime(server, ""):
        out = project_probe(server, control)
    assert "gVisor" not in out
    assert "from-greeter" in out
    (service,) = containers(control, project, "service")
    assert runtime_of(service) == "runc"
    shown = subprocess.run(["docker", "exec", service, "sh", "-c", "dmesg 2>&1; uname -r"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert "gVisor" not in shown.stdout
    assert HOST_RELEASE in shown.stdout
