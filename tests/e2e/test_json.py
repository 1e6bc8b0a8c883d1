"""``--json`` of the admin commands against the real installation, held to the keys that
docs/operations.md documents (the unit tests render the same commands from stubbed results;
here every value comes from a real account, a real container and a real cleanup pass)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Server, uname
from tests.unit.test_cli_json import actual, documented

TIMEOUT = 180


def run_json(server: Server, *args: str) -> object:
    result = server.podspawn("--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_documented(command: str, data: object) -> None:
    for path, keys in documented()[command].items():
        assert actual(data, path) == keys, f"{command} {path or 'top level'}"


@pytest.fixture(scope="module")
def jane(server: Server) -> str:
    return uname("jane")


def test_the_admin_commands_print_their_documented_keys(server: Server, jane: str) -> None:
    key = server.key_for(jane)
    added = run_json(server, "add-user", jane, "--key-file", f"{key}.pub")
    assert_documented("add-user", added)
    assert added == {"user": jane, "keys_added": 1, "keys_total": 1, "account_created": True,
                     "mode": None}
    server.users[jane] = key
    assert server.ssh(jane, "true", timeout=TIMEOUT).returncode == 0

    users = run_json(server, "list-users")
    assert_documented("list-users", users)
    assert {"name": jane, "keys": 1, "sessions": 1, "expires_at": None} in users

    sessions = run_json(server, "list")
    assert_documented("list", sessions)
    (mine,) = [s for s in sessions if s["user"] == jane]  # type: ignore[union-attr]
    assert mine["project"] == "" and mine["status"] in ("running", "grace_period")

    status = run_json(server, "status")
    assert_documented("status", status)
    assert status["sessions"] >= 1 and status["engine_up"] is True  # type: ignore[index]

    stopped = run_json(server, "stop", jane)
    assert_documented("stop", stopped)
    assert stopped == {"user": jane, "project": "", "container": mine["container"]}

    cleaned = run_json(server, "cleanup")
    assert_documented("cleanup", cleaned)

    removed = run_json(server, "remove-user", jane, "--force")
    assert_documented("remove-user", removed)
    assert removed == {"user": jane, "sessions_destroyed": 0, "kept_home": None}


def test_server_setup_dry_run(server: Server) -> None:
    data = run_json(server, "server-setup", "--sshd-config", str(server.sshd_config),
                    "--dry-run")
    assert_documented("server-setup", data)
    assert data["dry_run"] is True and data["changed"] is False  # type: ignore[index]
