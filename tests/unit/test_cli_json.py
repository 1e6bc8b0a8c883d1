"""Every command's ``--json`` output has exactly the keys docs/operations.md documents.

The documentation is the contract: each ``### `command``` section under "JSON output" lists
its keys, and each command here runs through click's CliRunner and is compared with it.
Commands that only read local state run for real against a temporary installation; the ones
that would change the host (accounts, images, sshd) get their one service function replaced
by a stub returning a result of the real type, since what is tested is the rendering.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from podspawn.cli.app import COMMANDS, cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
#: Commands that print no data (they exec ssh or an editor, or serve sshd), and `podfile`,
#: whose only subcommand prints the JSON Schema itself.
NO_DATA = {"connect", "ssh", "open", "auth-keys", "spawn", "podfile", "shell", "run"}


#: "Keys: ...", "Keys of `x`: ...", "Keys of each `x` item: ..." or "A list; keys of each
#: item: ...", up to the end of the sentence.
KEYS_SENTENCE = (r"(A list; keys of each item|Keys(?: of (each )?`(\w+)`(?: item)?)?): "
                 r"(.*?)\.(?:\s|$)")


def documented() -> dict[str, dict[str, set[str]]]:
    """``{command: {path: keys}}`` from the JSON output section; path "" is the top, "[]"
    each item of a top-level list, "x" the object under key x, "x[]" each item of list x."""
    text = DOCS.read_text()
    section = text.split("\n## JSON output\n", 1)[1].split("\n## ", 1)[0]
    shapes: dict[str, dict[str, set[str]]] = {}
    for block in section.split("\n### ")[1:]:
        head, _, body = block.partition("\n")
        command = head.strip().strip("`")
        prose = " ".join(body.split())
        while re.search(r"\([^()]*\)", prose):
            prose = re.sub(r"\([^()]*\)", "", prose)
        found: dict[str, set[str]] = {}
        for match in re.finditer(KEYS_SENTENCE, prose):
            if match.group(1).startswith("A list"):
                path = "[]"
            elif match.group(3):
                path = match.group(3) + ("[]" if match.group(2) else "")
            else:
                path = ""
            found[path] = set(re.findall(r"`([A-Za-z_]+)`", match.group(4)))
        shapes[command] = found
    return shapes


def actual(data: Any, path: str) -> set[str]:
    if path in ("", "[]"):
        items = data if path == "[]" else [data]
    elif path.endswith("[]"):
        items = data[path[:-2]]
    else:
        items = [data[path]]
    assert isinstance(items, list) and items, f"{path}: nothing to compare"
    keys = [set(item) for item in items]
    assert all(k == keys[0] for k in keys), f"{path}: items differ"
    return keys[0]


# -- a temporary installation ------------------------------------------------------------------


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A server config with every path under tmp_path, a state database and HOME there too."""
    from podspawn.state.db import open_db

    root = tmp_path / "srv"
    (root / "keys").mkdir(parents=True)
    config = root / "config.yaml"
    config.write_text(
        f"auth:\n  key_dir: {root}/keys\n"
        f"state:\n  db_path: {root}/state/state.db\n  lock_dir: {root}/locks\n"
        f"  homes_dir: {root}/homes\n"
        f"log:\n  file: {root}/log/podspawn.log\n"
        f"users_dir: {root}/users\n"
        "projects:\n  api:\n    repo: file:///srv/git/api\n    branch: main\n"
        "    image_tag: podspawn/api:podfile-0123456789ab\n    podfile_hash: 0123456789ab\n"
    )
    open_db(str(root / "state" / "state.db"), create=True).close()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PODSPAWN_CONFIG", str(config))
    return root


def run_json(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["--json", *args], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


def stub(monkeypatch: pytest.MonkeyPatch, target: str, value: Any) -> None:
    """Replace one service function with one that returns ``value``."""
    module, _, attr = target.rpartition(".")
    monkeypatch.setattr(f"{module}.{attr}", lambda *a, **k: value)


def _session_row(project: str = "api") -> Any:
    from podspawn.state.records import SessionRow

    now = time.time()
    return SessionRow(user="sarah", project=project, container_id="c" * 64,
                      container_name="podspawn-sarah-api", image="debian:bookworm",
                      status="running", connections=0, created_at=now - 60,
                      last_activity=now, max_lifetime=now + 3600, mode="grace-period")


def _project() -> Any:
    from podspawn.services.projects import ProjectInfo

    return ProjectInfo(name="api", repo="file:///srv/git/api", branch="main",
                       image_tag="podspawn/api:podfile-0123456789ab", podfile_hash="0123456789ab")


# -- one producer per documented command -------------------------------------------------------


def server_setup(root: Path, mp: pytest.MonkeyPatch) -> Any:
    from podspawn.services.server_setup import SetupReport

    stub(mp, "podspawn.services.server_setup.server_setup",
         SetupReport(lines=["server-setup complete"], changed=True))
    stub(mp, "podspawn.cli.server.own_binary", "/opt/podspawn/bin/podspawn")
    return run_json("server-setup", "--sshd-config", str(root / "sshd_config"))


def add_user(root: Path, mp: pytest.MonkeyPatch) -> Any:
    from podspawn.services.users import AddedUser

    stub(mp, "podspawn.services.users.collect_keys", [])
    stub(mp, "podspawn.services.users.add_user",
         AddedUser(name="sarah", added=1, total=2, account_created=False))
    return run_json("add-user", "sarah", "--key", "ssh-ed25519 AAAA")


def remove_user(root: Path, mp: pytest.MonkeyPatch) -> Any:
    from podspawn.services.users import RemovedUser

    stub(mp, "podspawn.services.users.remove_user", RemovedUser(name="sarah",
                                                                 sessions_destroyed=1))
    return run_json("remove-user", "sarah")


def list_users(root: Path, mp: pytest.MonkeyPatch) -> Any:
    (root / "keys" / "sarah").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA sarah\n")
    return run_json("list-users")


def list_sessions(root: Path, mp: pytest.MonkeyPatch) -> Any:
    from podspawn.state.db import open_db
    from podspawn.state.sessions import insert_session

    conn = open_db(str(root / "state" / "state.db"))
    insert_session(conn, _session_row())
    conn.close()
    return run_json("list")


def stop(root: Path, mp: pytest.MonkeyPatch) -> Any:
    stub(mp, "podspawn.services.sessions.stop_session", _session_row())
    return run_json("stop", "sarah@api")


def cleanup(root: Path, mp: pytest.MonkeyPatch) -> Any:
    from podspawn.services.cleanup import CleanupResult

    stub(mp, "podspawn.runtime.get_runtime", object())
    stub(mp, "podspawn.services.cleanup.run_pass", CleanupResult(grace_expired=1))
    return run_json("cleanup")


def status(root: Path, mp: pytest.MonkeyPatch) -> Any:
    from podspawn.services.summary import EngineSummary, Summary

    stub(mp, "podspawn.services.summary.summarize", Summary(
        sessions={"running": 2, "grace_period": 1, "starting": 0}, connections=3, users=2,
        projects=1, oldest_session_seconds=2700.0,
        engine=EngineSummary(containers=4, pool_capacity=31, pool_free=27,
                             pools_source="Docker's default pools")))
    return run_json("status")


def add_project(root: Path, mp: pytest.MonkeyPatch) -> Any:
    stub(mp, "podspawn.runtime.get_runtime", object())
    stub(mp, "podspawn.services.projects.add_project", _project())
    return run_json("add-project", "api", "--repo", "file:///srv/git/api")


def update_project(root: Path, mp: pytest.MonkeyPatch) -> Any:
    stub(mp, "podspawn.runtime.get_runtime", object())
    stub(mp, "podspawn.services.projects.update_project", (_project(), True))
    return run_json("update-project", "api")


def remove_project(root: Path, mp: pytest.MonkeyPatch) -> Any:
    stub(mp, "podspawn.services.projects.remove_project", _project())
    return run_json("remove-project", "api")


def list_projects(root: Path, mp: pytest.MonkeyPatch) -> Any:
    return run_json("list-projects")


def images_bootstrap(root: Path, mp: pytest.MonkeyPatch) -> Any:
    stub(mp, "podspawn.runtime.get_runtime", object())
    stub(mp, "podspawn.services.images.bootstrap", "sha256:" + "a" * 64)
    return run_json("images", "bootstrap", "debian:bookworm")


def doctor(root: Path, mp: pytest.MonkeyPatch) -> Any:
    from podspawn.services.doctor import Check

    stub(mp, "podspawn.cli.server.own_binary", "/opt/podspawn/bin/podspawn")
    stub(mp, "podspawn.services.doctor.diagnose",
         [Check("docker", "ok", "answers"), Check("disk", "warn", "low", "free some")])
    return run_json("doctor")


def verify_image(root: Path, mp: pytest.MonkeyPatch) -> Any:
    from podspawn.services.verify_image import Finding, ImageReport

    stub(mp, "podspawn.runtime.get_runtime", object())
    stub(mp, "podspawn.services.verify_image.verify_image", ImageReport(
        image="debian:bookworm",
        findings=(Finding(name="sudo", present=False, required=True, package="sudo",
                          why="sudo"),)))
    return run_json("verify-image", "debian:bookworm")


def _policy(applied: tuple[str, ...]) -> Any:
    from podspawn.services.firewall import FamilyStatus, PolicyStatus

    return PolicyStatus(bridge_prefix="psp0123", egress=("0.0.0.0/0",), legacy=(),
                        families=(FamilyStatus(family="ipv4", state="in place",
                                               chains=("PODSPAWN-IN-0123",)),),
                        applied=applied)


def firewall_apply(root: Path, mp: pytest.MonkeyPatch) -> Any:
    stub(mp, "podspawn.runtime.get_runtime", object())
    stub(mp, "podspawn.services.firewall.apply", _policy(("ipv4",)))
    return run_json("firewall", "apply")


def firewall_status(root: Path, mp: pytest.MonkeyPatch) -> Any:
    stub(mp, "podspawn.runtime.get_runtime", object())
    stub(mp, "podspawn.services.firewall.status", _policy(()))
    return run_json("firewall", "status")


def init(root: Path, mp: pytest.MonkeyPatch) -> Any:
    project = root / "project"
    project.mkdir()
    return run_json("init", str(project))


def setup(root: Path, mp: pytest.MonkeyPatch) -> Any:
    return run_json("setup", "--ssh-config", str(root / "ssh_config"))


def _client_config() -> None:
    result = CliRunner().invoke(cli, ["config", "set", "servers.default", "127.0.0.1:1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def config(root: Path, mp: pytest.MonkeyPatch) -> Any:
    _client_config()
    return run_json("config")


def config_set(root: Path, mp: pytest.MonkeyPatch) -> Any:
    return run_json("config", "set", "servers.default", "devbox.example.com:2222")


def servers(root: Path, mp: pytest.MonkeyPatch) -> Any:
    _client_config()
    return run_json("servers")


def ping(root: Path, mp: pytest.MonkeyPatch) -> Any:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return run_json("ping", "-F", "/dev/null", f"127.0.0.1:{port}")


def logs(root: Path, mp: pytest.MonkeyPatch) -> Any:
    (root / "log").mkdir()
    (root / "log" / "podspawn.log").write_text(
        '2026-11-28T16:05:00Z [spawn:42] INFO session attach user=sarah command="a b"\n'
        "2026-11-28T16:05:01Z [spawn:43] INFO session attach user=bob\n")
    result = CliRunner().invoke(cli, ["--json", "logs", "sarah"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    return json.loads(line)


def version(root: Path, mp: pytest.MonkeyPatch) -> Any:
    return run_json("version")


PRODUCERS: dict[str, Callable[[Path, pytest.MonkeyPatch], Any]] = {
    "server-setup": server_setup, "add-user": add_user, "remove-user": remove_user,
    "list-users": list_users, "list": list_sessions, "stop": stop, "cleanup": cleanup,
    "status": status,
    "add-project": add_project, "update-project": update_project,
    "remove-project": remove_project, "list-projects": list_projects,
    "images bootstrap": images_bootstrap, "doctor": doctor, "verify-image": verify_image,
    "firewall apply": firewall_apply, "firewall status": firewall_status,
    "init": init, "setup": setup, "config": config, "config set": config_set,
    "servers": servers, "ping": ping, "logs": logs,
    "version": version,
}


def test_every_command_is_documented_or_prints_no_data() -> None:
    shapes = documented()
    assert set(shapes) == set(PRODUCERS) | EXTRA_PRODUCERS
    for name in COMMANDS:
        assert name in NO_DATA or any(c.split()[0] == name for c in shapes), name
    for command, paths in shapes.items():
        assert paths and all(paths.values()), f"{command}: no keys documented"


#: Documented commands whose shape is tested elsewhere (they need a network or log files).
#: Local mode's need a Docker engine and a non-root account: tests/e2e/test_local_mode.py.
EXTRA_PRODUCERS: set[str] = {"dev", "down", "prebuild", "create", "rm", "switch-branch"}


@pytest.mark.parametrize("command", sorted(PRODUCERS))
def test_json_keys_match_the_docs(command: str, install: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data = PRODUCERS[command](install, monkeypatch)
    for path, keys in documented()[command].items():
        assert actual(data, path) == keys, f"{command} {path or 'top level'}"


def test_cleanup_daemon_refuses_json(install: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from podspawn.__main__ import main

    assert main(["--json", "cleanup", "--daemon"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("podspawn: --json does not apply to cleanup --daemon, which prints no data; "
                   "drop one of them\n")


def test_servers_json_marks_a_closed_port_unreachable(install: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(cli, ["config", "set", "servers.default", f"127.0.0.1:{port}"],
                                catch_exceptions=False)
    assert result.exit_code == 0
    (row,) = run_json("servers")
    assert (row["reachable"], row["ms"], row["port"]) == (False, None, port)


def test_metrics_listen_needs_the_daemon(install: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    from podspawn.__main__ import main

    assert main(["cleanup", "--metrics-listen", "127.0.0.1:9300"]) == 2
    assert capsys.readouterr().err == (
        "podspawn: --metrics-listen needs --daemon: only a process that keeps running can "
        "serve metrics\n")


def test_status_takes_one_format(install: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from podspawn.__main__ import main

    assert main(["--json", "status", "--prometheus"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("podspawn: --json and --prometheus are two formats of the same data; "
                   "choose one of them\n")
