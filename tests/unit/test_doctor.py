"""doctor's and verify-image's pure parts: pool arithmetic, route parsing, mode rules, the
image probe script (run by the host's real /bin/sh), and the rendering of results."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from podspawn import inner_sshd
from podspawn.runtime.docker_facts import DEFAULT_POOLS, configured_pools
from podspawn.runtime.subnets import AddressPool, host_routes, pool_headroom
from podspawn.services.doctor import CHECKS
from podspawn.services.doctor.base import Check
from podspawn.services.doctor.paths import Rule, exec_paths, problem
from podspawn.services.verify_image import PIECES, Piece, parse_probe, probe_script


def test_docker_default_pools_hold_31_networks() -> None:
    assert pool_headroom(DEFAULT_POOLS, []).capacity == 31


@pytest.mark.parametrize(
    ("taken", "used"),
    [
        ([], 0),
        (["172.17.0.0/16"], 1),                      # the default bridge
        (["172.17.0.0/16", "172.17.0.0/16"], 1),     # counted once
        (["172.20.5.0/24"], 1),                       # a small subnet blocks its chunk
        (["172.16.0.0/12"], 15),                      # a big route blocks every 172 chunk
        (["192.168.0.0/20", "192.168.16.0/20"], 2),
        (["10.0.0.0/8", "192.0.2.0/24"], 0),          # outside every pool
        (["0.0.0.0/0"], 31),
    ],
)
def test_pool_headroom_counts_blocked_chunks(taken: list[str], used: int) -> None:
    room = pool_headroom(DEFAULT_POOLS, taken)
    assert (room.capacity, room.used, room.left) == (31, used, 31 - used)


def test_pool_headroom_of_configured_pools() -> None:
    pools = [AddressPool("10.128.0.0/16", 24)]
    assert pool_headroom(pools, ["10.128.3.0/24", "10.128.3.128/25"]).used == 1
    assert pool_headroom(pools, []).capacity == 256


def test_configured_pools_from_daemon_json(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"default-address-pools": [{"base": "10.10.0.0/16", "size": 24}]}')
    assert configured_pools(str(path)) == ((AddressPool("10.10.0.0/16", 24),), str(path))
    path.write_text('{"runtimes": {}}')
    assert configured_pools(str(path)) == (DEFAULT_POOLS, "Docker's default pools")
    path.write_text("not json")
    assert configured_pools(str(path))[0] == DEFAULT_POOLS
    assert configured_pools(str(tmp_path / "missing"))[0] == DEFAULT_POOLS


def test_host_routes_parse_proc_net_route(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        "br-1\t0070A8C0\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0\n"
    )
    assert host_routes(str(table)) == ["172.17.0.0/16", "192.168.112.0/20"]
    assert host_routes(str(tmp_path / "missing")) == []


def test_host_routes_of_this_machine_are_cidrs() -> None:
    import ipaddress

    for cidr in host_routes():
        ipaddress.ip_network(cidr)


def test_mode_rules(tmp_path: Path) -> None:
    target = tmp_path / "keys"
    target.mkdir()
    target.chmod(0o750)
    uid, gid = os.geteuid(), os.getegid()
    wrong_owner = (f"{target} is owned by {uid}:{gid}, not root:root", f"chown root:root {target}")
    rule = Rule(str(target), 0o027, 0o750)
    assert problem(rule) == (None if uid == 0 else wrong_owner)
    target.chmod(0o777)
    assert problem(rule) == (
        (f"{target} is mode 0777: group or others can write it and others can read it",
         f"chmod 0750 {target}") if uid == 0 else wrong_owner)
    target.chmod(0o755)
    if uid == 0:
        assert problem(rule) == (f"{target} is mode 0755: others can read it",
                                 f"chmod 0750 {target}")
    assert problem(Rule(str(tmp_path / "gone"), 0o022, 0o755)) == (
        f"{tmp_path / 'gone'} does not exist", "run podspawn server-setup, which creates it")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert problem(Rule(str(link), 0o022, 0o755)) == (
        f"{link} is a symbolic link", f"replace {link} with the real path")


def test_exec_paths_include_sudo_the_binary_and_the_package(tmp_path: Path) -> None:
    script = tmp_path / "podspawn"
    script.write_text("#!/usr/bin/python3 -I\nimport sys\n")
    found = exec_paths(str(script))
    import podspawn

    assert found[:2] == ["/usr/bin/sudo", str(script)]
    assert os.path.realpath("/usr/bin/python3") in found
    assert os.path.realpath(os.path.dirname(podspawn.__file__)) in found


def test_every_check_has_a_distinct_name_and_reports_one_line() -> None:
    names = [check.__name__ for check in CHECKS]
    assert len(names) == len(set(names))
    assert names[0] == "check_docker"


def test_doctor_lines_put_the_fix_on_the_same_line() -> None:
    from podspawn.cli.ops import check_lines

    lines = check_lines([Check("docker", "ok", "answers"),
                         Check("key-store", "FAIL", "/k is mode 0777", "chmod 0750 /k")])
    assert lines == ["ok    docker     answers",
                     "FAIL  key-store  /k is mode 0777; fix: chmod 0750 /k"]


def test_the_probe_script_runs_in_a_real_shell() -> None:
    """Run by the host's /bin/sh, as it is in a container: one verdict line per piece."""
    pieces = (*PIECES, Piece("nothing", "command -v no-such-program-here", "x", True, "x"))
    out = subprocess.run(["/bin/sh", "-c", probe_script(pieces)], capture_output=True,
                         text=True, check=True).stdout
    found = parse_probe(out, pieces)
    assert set(found) == {p.name for p in pieces}
    assert found["nothing"] is False
    assert found["bash"] is os.access("/bin/bash", os.X_OK)
    assert found["sshd"] is os.access("/usr/sbin/sshd", os.X_OK)


def test_a_piece_without_an_answer_counts_as_missing() -> None:
    assert parse_probe("bash yes\nsudo maybe\n")["sudo"] is False
    assert parse_probe("")["bash"] is False


def test_the_pod_check_command_is_the_start_script_with_sshd_t() -> None:
    start, check = inner_sshd.start_command()[2], inner_sshd.check_command()[2]
    assert start.endswith("exec /usr/sbin/sshd -i -f /etc/podspawn/sshd_config\n")
    assert check == start.replace(" -i -f ", " -t -f ")
