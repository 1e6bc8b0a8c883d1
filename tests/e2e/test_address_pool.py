"""Session networks from podspawn's own address pool: no ceiling at Docker's ~31 networks.

Docker's default pools hold about 31 bridge networks and every session takes one, so the
31st concurrent session used to fail. These tests start twice that many, with companion
services, and check that they are still isolated from each other; then they use up a
deliberately tiny pool and check the refusal and what it leaves behind.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.project_helpers import forget, fresh_user, pname
from tests.e2e.test_projects import make_repo, project_ssh

USERS = 30
PEER_PORT = 7711
BANNER = "PEER-SERVICE-SECRET"
LISTENER = (
    "use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => q(0.0.0.0), "
    f"LocalPort => {PEER_PORT}, Listen => 16, ReuseAddr => 1) or die; "
    f'while (my $c = $s->accept) {{ print $c "{BANNER}\\n"; close $c }}'
)
READY = f"IO::Socket::INET->new(q(127.0.0.1:{PEER_PORT})) or exit 1"
PODFILE = textwrap.dedent(f"""\
    base: debian:bookworm
    services:
      - name: peer
        image: debian:bookworm
        command: ["perl", "-e", {json.dumps(LISTENER)}]
        ports: [{PEER_PORT}]
        ready: "perl -MIO::Socket::INET -e '{READY}'"
""")


def probe(target: str) -> str:
    return (f"timeout 8 bash -c 'exec 3<>/dev/tcp/{target}/{PEER_PORT} && timeout 3 cat <&3'; "
            "echo probe-done")


def labelled(kind: str, *labels: str) -> list[str]:
    filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
    out = subprocess.run(["docker", kind, "ls", "-q", *filters],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def subnets_of(user: str) -> list[str]:
    found = []
    for net in labelled("network", f"podspawn-user={user}"):
        attrs = json.loads(subprocess.run(["docker", "network", "inspect", net],
                                          capture_output=True, text=True, check=True).stdout)[0]
        found += [cfg["Subnet"] for cfg in (attrs["IPAM"]["Config"] or [])]
    return found


def service_ip(user: str, project: str) -> str:
    [container] = labelled("container", f"podspawn-user={user}",
                           f"podspawn-project={project}", "podspawn-role=service")
    out = subprocess.run(["docker", "inspect", "--format",
                          "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[0]


@pytest.fixture
def config(server):
    server.set_config({"session": {"grace_period": "30m"}})
    yield server.set_config
    server.set_config(None)


@pytest.fixture
def project(server, tmp_path):
    name = pname("netpool")
    repo = make_repo(tmp_path / "repo", PODFILE)
    server.podspawn("remove-project", name)
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    yield name
    forget(server, name)


def test_sixty_sessions_of_thirty_users_start_and_stay_apart(server, config, project):
    users = [fresh_user(server, f"np{i:02d}") for i in range(USERS)]

    def login(job: tuple[str, bool]) -> tuple[str, bool, int, bytes]:
        user, in_project = job
        result = (project_ssh(server, user, "true", project=project) if in_project
                  else server.ssh(user, "true", timeout=600))
        return user, in_project, result.returncode, result.stderr

    try:
        jobs = [(user, in_project) for user in users for in_project in (False, True)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(login, jobs))
        failed = [(u, p, err.decode()) for u, p, code, err in results if code != 0]
        assert not failed, failed[:3]

        listed = json.loads(server.podspawn("--json", "list").stdout)
        ours = [s for s in listed if s["user"] in users]
        assert len(ours) == 2 * USERS  # more than Docker's default pools hold (31)

        subnets = [s for user in users for s in subnets_of(user)]
        assert len(subnets) == 2 * USERS == len(set(subnets))
        pool = ipaddress.ip_network("198.18.0.0/15")
        nets = [ipaddress.ip_network(s) for s in subnets]
        assert all(n.subnet_of(pool) and n.prefixlen == 28 for n in nets)  # type: ignore[arg-type]
        assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])

        # isolation: the first user reaches their own service by name (the control), and
        # neither by name nor by address the last user's, which listens the same way
        first, last = users[0], users[-1]
        own = project_ssh(server, first, probe("peer"), project=project)
        assert BANNER.encode() in own.stdout, own.stdout + own.stderr
        other_ip = service_ip(last, project)
        theirs = project_ssh(server, last, probe(other_ip), project=project)
        assert BANNER.encode() in theirs.stdout, theirs.stdout + theirs.stderr  # it answers
        attack = project_ssh(server, first, probe(other_ip), project=project)
        assert b"probe-done" in attack.stdout, attack.stdout + attack.stderr
        assert BANNER.encode() not in attack.stdout
        default = server.ssh(first, probe(other_ip), timeout=120)
        assert b"probe-done" in default.stdout and BANNER.encode() not in default.stdout
    finally:
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda u: server.podspawn("remove-user", u, "--force"), users))
    for user in users:
        assert labelled("network", f"podspawn-user={user}") == []


def test_a_used_up_pool_refuses_with_one_sentence_and_leaves_nothing(server, config):
    # 10.254.254.0/27 holds two /28 session networks; nothing else on the engine uses it
    config({"session": {"grace_period": "30m"},
            "network": {"pool": "10.254.254.0/27", "subnet_size": 28}})
    alice, bob, carol = (fresh_user(server, n) for n in ("poola", "poolb", "poolc"))
    try:
        for user in (alice, bob):
            result = server.ssh(user, "true")
            assert result.returncode == 0, result.stderr.decode()
        assert {s for u in (alice, bob) for s in subnets_of(u)} == {
            "10.254.254.0/28", "10.254.254.16/28"}

        swept = server.podspawn("cleanup")
        assert swept.returncode == 0, swept.stderr
        assert "Warning: network.pool 10.254.254.0/27 has 0 of 2 session subnets free" \
            in swept.stdout

        refused = server.ssh(carol, "echo landed")
        assert refused.returncode != 0
        assert b"landed" not in refused.stdout
        message = refused.stderr.decode()
        assert "no address space is left for a new session network" in message, message
        assert "network.pool" in message
        assert len([line for line in message.splitlines() if line.strip()]) == 1, message
        for kind in ("container", "network", "volume"):
            assert labelled(kind, f"podspawn-user={carol}") == [], kind
        listed = json.loads(server.podspawn("--json", "list").stdout)
        assert not [s for s in listed if s["user"] == carol]
        log = (server.root / "log" / "podspawn.log").read_text()
        assert "address pool used up" in log

        # the control: once a subnet is free again, the same login lands
        [freed] = subnets_of(alice)
        stopped = server.podspawn("stop", alice)
        assert stopped.returncode == 0, stopped.stderr
        deadline = time.monotonic() + 30
        while labelled("network", f"podspawn-user={alice}"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        landed = server.ssh(carol, "echo landed")
        assert landed.returncode == 0, landed.stderr.decode()
        assert subnets_of(carol) == [freed]
    finally:
        for user in (alice, bob, carol):
            server.podspawn("remove-user", user, "--force")
