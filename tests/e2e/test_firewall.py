"""Invariant 1 at the network layer: nothing on the host is reachable from a container.

The attacker is a user with a shell in their session (through the real sshd) and a
repository whose Podfile runs a companion service. Their target is a TCP server on the host
bound to 0.0.0.0, by the session bridge's gateway and by the host's primary address, and a
cloud metadata server at 169.254.169.254. Each refusal has a positive control: the same probe
from the same container reaches a server on an "outside host" (a network namespace routed
through this host, so its traffic leaves by the same path the internet would), and the host
itself reaches every target.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.harness import ENGINE, RUN_ID, Server, free_port, uname
from tests.e2e.test_projects import make_repo, project_ssh

HOST_BANNER = "HOST-SECRET"
OUTSIDE_BANNER = "OUTSIDE-OK"
SERVICE_BANNER = "SERVICE-OK"
SERVICE_PORT = 8022

#: A TCP server that greets every client with argv[3], on argv[1]:argv[2].
SERVE = textwrap.dedent("""\
    import socket, sys
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(sys.argv[3].encode() + b"\\n")
        finally:
            c.close()
""")


def run(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False,
                            timeout=timeout)
    if check:
        assert result.returncode == 0, f"{argv}: {result.stderr}"
    return result


def serve(prefix: list[str], address: str, port: int, banner: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*prefix, sys.executable, "-c", SERVE, address, str(port), banner],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.communicate(timeout=10)


def host_read(address: str, port: int) -> str:
    """What the host itself gets from ``address:port`` (the positive control)."""
    import socket

    try:
        with socket.create_connection((address, port), timeout=3) as sock:
            return sock.recv(100).decode().strip()
    except OSError as exc:
        return f"error: {exc}"


def probe_script(targets: dict[str, tuple[str, int]]) -> str:
    """Shell for inside a container: one ``name=<what came back>`` line per target."""
    lines = []
    for name, (address, port) in targets.items():
        lines.append(
            f"r=$(timeout 8 bash -c 'exec 3<>/dev/tcp/{address}/{port} && timeout 3 cat <&3' "
            f"2>&1 | tr -d '\\n'); echo \"{name}=$r\"")
    return "\n".join(lines)


def parse_probes(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        name, sep, rest = line.partition("=")
        if sep:
            found[name] = rest
    return found


def probe_session(server: Server, user: str, targets: dict[str, tuple[str, int]],
                  project: str = "") -> dict[str, str]:
    script = probe_script(targets)
    if project:
        result = project_ssh(server, user, script, project=project)
    else:
        result = server.ssh(user, script)
    assert result.returncode == 0, result.stderr.decode()
    found = parse_probes(result.stdout.decode())
    assert set(found) == set(targets), result.stdout.decode() + result.stderr.decode()
    return found


def probe_container(container: str, targets: dict[str, tuple[str, int]]) -> dict[str, str]:
    result = run(ENGINE, "exec", container, "bash", "-c", probe_script(targets))
    found = parse_probes(result.stdout)
    assert set(found) == set(targets), result.stdout + result.stderr
    return found


def refused(text: str) -> bool:
    """A reject (TCP reset) rather than a silent drop: the probe fails at once."""
    return "Connection refused" in text


# -- the outside world, the host's server, the session ---------------------------------------

@dataclass
class Outside:
    """A network namespace routed through this host: stands for anything beyond it."""

    ns: str
    host_side: str
    address: str
    second: str
    port: int
    metadata: str = "169.254.169.254"


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    tag = RUN_ID or "x"
    octet = int(hashlib.sha256(tag.encode()).hexdigest(), 16) % 200 + 20
    net = f"10.213.{octet}"
    out = Outside(ns=f"psfw-{tag}", host_side=f"psfwh{tag}"[:15], address=f"{net}.2",
                  second=f"{net}.3", port=free_port())
    inner = f"psfwn{tag}"[:15]
    run("ip", "netns", "del", out.ns, check=False)
    run("ip", "link", "del", out.host_side, check=False)
    run("ip", "netns", "add", out.ns)
    server = None
    try:
        run("ip", "link", "add", out.host_side, "type", "veth", "peer", "name", inner)
        run("ip", "link", "set", inner, "netns", out.ns)
        run("ip", "addr", "add", f"{net}.1/24", "dev", out.host_side)
        run("ip", "link", "set", out.host_side, "up")
        for address in (f"{out.address}/24", f"{out.second}/24", f"{out.metadata}/32"):
            run("ip", "-n", out.ns, "addr", "add", address, "dev", inner)
        run("ip", "-n", out.ns, "link", "set", inner, "up")
        run("ip", "-n", out.ns, "link", "set", "lo", "up")
        run("ip", "-n", out.ns, "route", "add", "default", "via", f"{net}.1")
        run("ip", "route", "replace", f"{out.metadata}/32", "via", out.address)
        server = serve(["ip", "netns", "exec", out.ns], "0.0.0.0", out.port, OUTSIDE_BANNER)
        # control: the host reaches all three addresses of the outside namespace
        for address in (out.address, out.second, out.metadata):
            assert host_read(address, out.port) == OUTSIDE_BANNER, address
        yield out
    finally:
        if server is not None:
            stop(server)
        run("ip", "route", "del", f"{out.metadata}/32", "via", out.address, check=False)
        run("ip", "link", "del", out.host_side, check=False)
        run("ip", "netns", "del", out.ns)


@dataclass
class HostServer:
    port: int
    primary: str
    """The host's address on its default-route interface."""


@pytest.fixture(scope="module")
def host_server() -> Iterator[HostServer]:
    dev = run("ip", "-4", "route", "show", "default").stdout.split("dev ")[1].split()[0]
    primary = re.search(r"inet (\S+)/", run("ip", "-4", "-o", "addr", "show", "dev",
                                          dev).stdout)
    assert primary, f"no IPv4 address on {dev}"
    port = free_port()
    proc = serve([], "0.0.0.0", port, HOST_BANNER)
    try:
        srv = HostServer(port=port, primary=primary.group(1))
        for address in ("127.0.0.1", srv.primary):  # control: it answers on every address
            assert host_read(address, port) == HOST_BANNER, address
        yield srv
    finally:
        stop(proc)


def network_of(container: str) -> tuple[str, str]:
    """(network name, gateway address) of a container's one network."""
    data = json.loads(run(ENGINE, "inspect", container).stdout)[0]
    [(name, settings)] = data["NetworkSettings"]["Networks"].items()
    return name, settings["Gateway"]


def bridge_of(network: str) -> str:
    data = json.loads(run(ENGINE, "network", "inspect", network).stdout)[0]
    if ENGINE == "podman":  # Podman's own format names the interface itself
        return str(data.get("network_interface", ""))
    return str(data["Options"].get("com.docker.network.bridge.name", ""))


def policy(server: Server) -> dict:
    result = server.podspawn("firewall", "status", "--json")
    return json.loads(result.stdout) | {"exit": result.returncode}


def our_rules(tag: str) -> list[str]:
    """This installation's lines of the live IPv4 filter table."""
    return [line for line in run("iptables-save", "-t", "filter").stdout.splitlines()
            if tag in line]


@pytest.fixture
def egress(server: Server) -> Iterator[object]:
    """Set ``security.egress`` for one test (applied at once); the default comes back."""
    def set_egress(value: list[str]) -> None:
        server.set_config({"security": {"egress": value}})
        applied = server.podspawn("firewall", "apply")
        assert applied.returncode == 0, applied.stderr

    yield set_egress
    server.set_config(None)
    assert server.podspawn("firewall", "apply").returncode == 0


def session_targets(server: Server, user: str, host: HostServer,
                    out: Outside) -> dict[str, tuple[str, int]]:
    first = server.ssh(user, "true")
    assert first.returncode == 0, first.stderr.decode()
    _, gateway = network_of(f"podspawn-{user}")
    assert host_read(gateway, host.port) == HOST_BANNER  # control: the gateway is the host's
    return {"gateway": (gateway, host.port), "primary": (host.primary, host.port),
            "outside": (out.address, out.port)}


# -- tests ------------------------------------------------------------------------------------

def test_server_setup_installs_the_policy_and_says_so(server):
    again = server.podspawn("server-setup", "--sshd-config", str(server.sshd_config))
    assert again.returncode == 0, again.stderr
    assert re.search(r"network policy installed \(ipv4 in place[^)]*\): containers reach "
                     r"nothing on this host nor 169\.254\.0\.0/16; egress allowed to "
                     r"0\.0\.0\.0/0; bridges psp[0-9a-f]{4}\+", again.stdout), again.stdout
    state = policy(server)
    assert state["exit"] == 0 and state["in_place"], state
    assert [f["state"] for f in state["families"] if f["family"] == "ipv4"] == ["in place"]
    before = our_rules(state["bridge_prefix"][3:])
    assert server.podspawn("firewall", "apply").returncode == 0
    assert before and our_rules(state["bridge_prefix"][3:]) == before  # idempotent


@pytest.mark.podman
def test_session_container_cannot_reach_the_host(server, sarah, host_server, outside):
    targets = session_targets(server, sarah, host_server, outside)
    network, _ = network_of(f"podspawn-{sarah}")
    assert bridge_of(network).startswith(policy(server)["bridge_prefix"])
    started = time.monotonic()
    seen = probe_session(server, sarah, targets)
    assert seen["outside"] == OUTSIDE_BANNER, seen  # control: the probe itself works
    assert HOST_BANNER not in seen["gateway"] and refused(seen["gateway"]), seen
    assert HOST_BANNER not in seen["primary"] and refused(seen["primary"]), seen
    assert time.monotonic() - started < 8  # rejected, not left to time out


def test_metadata_address_is_unreachable_but_its_neighbour_is_not(
        server, sarah, outside):
    assert host_read(outside.metadata, outside.port) == OUTSIDE_BANNER  # control from host
    assert server.ssh(sarah, "true").returncode == 0
    seen = probe_session(server, sarah, {"metadata": (outside.metadata, outside.port),
                                         "neighbour": (outside.address, outside.port)})
    assert seen["neighbour"] == OUTSIDE_BANNER, seen
    assert OUTSIDE_BANNER not in seen["metadata"] and refused(seen["metadata"]), seen


def test_egress_narrowed_by_config(server, sarah, outside, egress):
    assert server.ssh(sarah, "true").returncode == 0
    targets = {"first": (outside.address, outside.port), "second": (outside.second, outside.port)}
    assert set(probe_session(server, sarah, targets).values()) == {OUTSIDE_BANNER}  # control
    egress([f"{outside.second}/32"])
    seen = probe_session(server, sarah, targets)
    assert seen["second"] == OUTSIDE_BANNER, seen
    assert refused(seen["first"]), seen
    egress([])
    seen = probe_session(server, sarah, targets)
    assert refused(seen["first"]) and refused(seen["second"]), seen


def test_a_bad_egress_value_is_refused_in_one_sentence(server):
    state = policy(server)
    assert state["in_place"]
    tag = state["bridge_prefix"][3:]
    before = our_rules(tag)
    server.set_config({"security": {"egress": ["10.0.0.1/8"]}})
    try:
        result = server.podspawn("firewall", "apply")
        assert result.returncode == 2
        text = (result.stdout + result.stderr).strip()
        assert text.endswith("security.egress: '10.0.0.1/8' has host bits set; write the "
                             "network, 10.0.0.0/8"), text
        assert len(text.splitlines()) == 1 and "Traceback" not in text
        assert our_rules(tag) == before  # the installed policy was left as it was
    finally:
        server.set_config(None)


SERVICE_LISTENER = [
    "perl", "-MIO::Socket::INET", "-e",
    f"my $s = IO::Socket::INET->new(LocalAddr => q(0.0.0.0), LocalPort => {SERVICE_PORT}, "
    "Listen => 16, ReuseAddr => 1) or die; "
    f"while (my $c = $s->accept) {{ print $c qq({SERVICE_BANNER}\\n); close $c }}",
]


@pytest.fixture(scope="module")
def svc_project(server, tmp_path_factory):
    podfile = (
        "base: debian:bookworm\nservices:\n  - name: svc\n    image: debian:bookworm\n"
        f"    command: {json.dumps(SERVICE_LISTENER)}\n    ports: [{SERVICE_PORT}]\n"
    )
    repo = make_repo(tmp_path_factory.mktemp("fwrepo") / "fwsvc", podfile)
    server.podspawn("remove-project", "fwsvc")
    added = server.podspawn("add-project", "fwsvc", "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    yield "fwsvc"
    server.podspawn("remove-project", "fwsvc")


@pytest.mark.podman
def test_companion_service_cannot_reach_the_host(server, svc_project, host_server, outside,
                                                 egress):
    user = uname("fwsvcuser")
    server.podspawn("remove-user", user, "--force")
    server.add_user(user)
    try:
        # the service became ready: the host's own probe into it still works under the policy
        first = project_ssh(server, user, "true", project=svc_project)
        assert first.returncode == 0, first.stderr.decode()
        service = f"podspawn-service.{user}.{svc_project}.svc"
        _, gateway = network_of(service)
        attack = {"gateway": (gateway, host_server.port),
                  "primary": (host_server.primary, host_server.port),
                  "metadata": (outside.metadata, outside.port),
                  "outside": (outside.address, outside.port)}
        seen = probe_container(service, attack)
        assert seen["outside"] == OUTSIDE_BANNER, seen  # control
        for target in ("gateway", "primary", "metadata"):
            assert refused(seen[target]), seen
        # with no egress at all, the session still reaches its service by name
        egress([])
        seen = probe_session(server, user, {"svc": ("svc", SERVICE_PORT),
                                            "outside": (outside.address, outside.port)},
                             project=svc_project)
        assert seen["svc"] == SERVICE_BANNER, seen
        assert refused(seen["outside"]), seen
    finally:
        server.podspawn("remove-user", user, "--force")


def test_bridges_of_sessions_from_the_previous_release_are_covered(
        server, host_server, outside):
    """A network made before bridges were named keeps Docker's br-<id>: apply adds it."""
    iid = server.install_id()
    user = uname("fwold")
    labels = ["--label", "managed-by=podspawn", "--label", f"podspawn-instance={iid}",
              "--label", f"podspawn-user={user}", "--label", "podspawn-project="]
    net = f"podspawn-fw-legacy-{RUN_ID or 'x'}"
    run("docker", "network", "rm", net, check=False)
    net_id = run("docker", "network", "create", *labels, net).stdout.strip()
    container = f"{net}-ctr"
    try:
        run("docker", "run", "-d", "--rm", "--name", container, "--network", net, *labels,
            "debian:bookworm", "sleep", "300")
        _, gateway = network_of(container)
        targets = {"gateway": (gateway, host_server.port),
                   "outside": (outside.address, outside.port)}
        assert probe_container(container, targets)["gateway"] == HOST_BANNER  # control
        assert server.podspawn("firewall", "apply").returncode == 0
        state = policy(server)
        assert f"br-{net_id[:12]}" in state["legacy_bridges"], state
        seen = probe_container(container, targets)
        assert seen["outside"] == OUTSIDE_BANNER, seen
        assert refused(seen["gateway"]), seen
    finally:
        run("docker", "rm", "-f", container, check=False)
        run("docker", "network", "rm", net, check=False)
    assert server.podspawn("firewall", "apply").returncode == 0
    assert policy(server)["legacy_bridges"] == []


# -- the policy comes back ----------------------------------------------------------------------

def delete_policy(server: Server) -> None:
    """What a reboot or ``iptables -F`` does to podspawn's chains, with iptables itself."""
    for family in policy(server)["families"]:
        tool = "iptables" if family["family"] == "ipv4" else "ip6tables"
        if family["state"] == "unavailable":
            continue
        for hook in family["hooks"]:
            source, target = hook.split(" -> ")
            run(tool, "-D", source, "-j", target)
        for chain in family["chains"]:
            run(tool, "-F", chain)
        for chain in family["chains"]:
            run(tool, "-X", chain)
    state = policy(server)
    assert state["exit"] == 1 and not state["in_place"], state
    assert {f["state"] for f in state["families"]} <= {"missing", "unavailable"}, state


def test_cleanup_puts_a_deleted_policy_back(server, sarah, host_server, outside):
    targets = session_targets(server, sarah, host_server, outside)
    delete_policy(server)
    try:
        open_door = probe_session(server, sarah, targets)
        assert open_door["gateway"] == HOST_BANNER, open_door  # control: now it is reachable
    finally:
        cleaned = server.podspawn("cleanup")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "network policy was not in place, re-applied family=ipv4" in cleaned.stderr
    assert policy(server)["in_place"]
    seen = probe_session(server, sarah, targets)
    assert refused(seen["gateway"]) and refused(seen["primary"]), seen
    assert seen["outside"] == OUTSIDE_BANNER
    log = (server.root / "log" / "podspawn.log").read_text()
    assert "network policy was not in place, re-applied" in log


def test_cold_login_puts_the_policy_back_before_the_container_starts(
        server, sarah, host_server, outside):
    targets = session_targets(server, sarah, host_server, outside)
    run(ENGINE, "stop", "-t", "1", f"podspawn-{sarah}")  # as after a reboot
    delete_policy(server)
    try:
        seen = probe_session(server, sarah, targets)  # the cold path restarts the container
    finally:
        if not policy(server)["in_place"]:
            server.podspawn("firewall", "apply")
    assert policy(server)["in_place"]
    assert seen["outside"] == OUTSIDE_BANNER, seen
    assert refused(seen["gateway"]) and refused(seen["primary"]), seen
    log = (server.root / "log" / "podspawn.log").read_text()
    assert "restarting stopped container" in log


def test_status_names_what_is_missing(server):
    state = policy(server)
    assert state["in_place"]
    [ipv4] = [f for f in state["families"] if f["family"] == "ipv4"]
    inbound = ipv4["chains"][0]
    run("iptables", "-D", "INPUT", "-j", inbound)
    try:
        text = server.podspawn("firewall", "status")
        assert text.returncode == 1
        assert "network policy NOT in place" in text.stdout
        assert f"INPUT does not jump to {inbound} before every other rule" in text.stdout
    finally:
        assert server.podspawn("firewall", "apply").returncode == 0
    assert policy(server)["in_place"]


# -- a dockerd restart --------------------------------------------------------------------------

@dataclass
class Engine:
    """A dockerd of this test's own, in a network namespace of its own, so restarting it
    disturbs nobody else's containers and its packet filter is private."""

    ns: str
    sock: str
    root: str
    proc: subprocess.Popen[bytes] | None = None

    def nsenter(self, *argv: str) -> list[str]:
        # not "ip netns exec": that remounts /sys, and dockerd then finds no cgroups
        return ["nsenter", f"--net=/run/netns/{self.ns}", *argv]

    def start(self) -> None:
        from pathlib import Path

        log = Path(self.root, "dockerd.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.nsenter("dockerd", "--data-root", f"{self.root}/data", "--exec-root",
                             f"{self.root}/exec", "-H", f"unix://{self.sock}", "--pidfile",
                             f"{self.root}/docker.pid"),
                stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + 60
        while run("docker", "-H", f"unix://{self.sock}", "info", check=False).returncode:
            assert self.proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the private dockerd did not start"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(60)
            self.proc = None


@pytest.fixture
def engine() -> Iterator[Engine]:
    import shutil

    root = f"/var/lib/podspawn-e2e-engine-{RUN_ID or 'x'}"
    eng = Engine(ns=f"psdk-{RUN_ID or 'x'}", sock=f"{root}/exec/docker.sock", root=root)
    run("ip", "netns", "del", eng.ns, check=False)
    shutil.rmtree(root, ignore_errors=True)
    run("ip", "netns", "add", eng.ns)
    try:
        run(*eng.nsenter("ip", "link", "set", "lo", "up"))
        eng.start()
        yield eng
    finally:
        eng.stop()
        shutil.rmtree(root, ignore_errors=True)
        run("ip", "netns", "del", eng.ns, check=False)


def test_policy_survives_a_dockerd_restart(server, engine):
    def podspawn(*args: str) -> subprocess.CompletedProcess[str]:
        from tests.e2e.harness import BIN

        return run(*engine.nsenter("env", f"DOCKER_HOST=unix://{engine.sock}", str(BIN),
                                   "--config", str(server.config), *args), check=False)

    def state() -> dict:
        result = podspawn("firewall", "status", "--json")
        return json.loads(result.stdout) | {"exit": result.returncode}

    assert state()["exit"] == 1  # control: a fresh namespace has no policy
    applied = podspawn("firewall", "apply")
    assert applied.returncode == 0, applied.stderr
    prefix = state()["bridge_prefix"]
    docker = ["docker", "-H", f"unix://{engine.sock}"]
    # a session-style network: Docker rearranges FORWARD and DOCKER-USER for it
    run(*docker, "network", "create", "-o",
        f"com.docker.network.bridge.name={prefix}0f0f0f0f", "fwrestart")
    assert state()["in_place"]
    before = engine.proc.pid if engine.proc else 0
    engine.stop()
    engine.start()
    assert engine.proc is not None and engine.proc.pid != before
    rules = run(*engine.nsenter("iptables", "-S")).stdout
    assert "-A FORWARD -j DOCKER-USER" in rules  # Docker rebuilt its own chains
    assert f"-A FORWARD -o {prefix}0f0f0f0f -j DOCKER" in rules
    after = state()
    assert after["exit"] == 0 and after["in_place"], after
    assert rules.index("-A DOCKER-USER -j PODSPAWN-FWD-") < rules.index(
        "-A DOCKER-USER -j RETURN")
