"""``podspawn logs`` after real logins through the harness's sshd: a login and its logout
show as the attach and the grace start, ``-f`` streams new entries, and text a user sends (a
command, a project name) cannot make an entry look like another user's.

The attacker is sarah, with her own real login; the victim is another registered user. Each
attack has its control: the hostile text is in the raw log (the probe landed), and the
victim's own entries do show under ``logs VICTIM`` (the filter works).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, Server, uname

TIMEOUT = 180


@pytest.fixture(scope="module")
def audited(server: Server) -> Iterator[Path]:
    """The audit log on for this module's logins."""
    audit = server.root / "log" / "audit.jsonl"
    server.set_config({"log": {"file": f"{server.root}/log/podspawn.log",
                               "audit_log": str(audit)}})
    try:
        yield audit
    finally:
        server.set_config(None)


@pytest.fixture(scope="module")
def victim(server: Server) -> str:
    name = uname("victim")
    server.add_user(name)
    return name


def logs(server: Server, *args: str) -> list[dict]:
    result = server.podspawn("--json", "logs", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def attaches(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["message"] == "session attach"]


def wait_for(server: Server, user: str, message: str, since: int) -> list[dict]:
    """``logs USER`` once an entry with ``message`` newer than ``since`` (a count) is there;
    the disconnect is recorded by spawn as the connection closes, a moment after ssh exits."""
    deadline = time.monotonic() + 30
    while True:
        entries = logs(server, user)
        if sum(e["message"] == message for e in entries) > since:
            return entries
        assert time.monotonic() < deadline, f"no {message!r} for {user}: {entries[-5:]}"
        time.sleep(0.2)


def test_a_login_and_logout_show_the_attach_and_the_grace_start(
    server: Server, sarah: str, audited: Path
) -> None:
    grace = "last connection closed, grace period started"
    before = sum(e["message"] == grace for e in logs(server, sarah))
    assert server.ssh(sarah, "true", timeout=TIMEOUT).returncode == 0
    entries = wait_for(server, sarah, grace, before)
    messages = [e["message"] for e in entries]
    last_attach = len(messages) - 1 - messages[::-1].index("session attach")
    assert grace in messages[last_attach:]
    assert all(e["fields"].get("user") == sarah for e in entries)
    assert "session.connect" in messages and "session.disconnect" in messages
    assert [e["time"] for e in entries] == sorted(e["time"] for e in entries)
    human = server.podspawn("logs", sarah)
    assert f"INFO session attach user={sarah}" in human.stdout
    audit_lines = [line for line in human.stdout.splitlines()
                   if " [audit] AUDIT session.connect " in line]
    assert audit_lines and all(line.endswith(f" user={sarah}") for line in audit_lines)


def test_follow_streams_new_entries(server: Server, sarah: str, audited: Path) -> None:
    follower = subprocess.Popen([str(BIN), "--config", str(server.config), "--json", "logs",
                                 sarah, "-f", "--since", "1s"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert follower.stdout is not None
    try:
        time.sleep(1.5)  # the follower has read the files once and is polling
        assert server.ssh(sarah, "echo followed", timeout=TIMEOUT).returncode == 0
        deadline = time.monotonic() + 30
        data = b""
        # --since 1s may also replay an earlier test's connect; wait for this one
        while b'"echo followed"' not in data or not data.endswith(b"\n"):
            assert time.monotonic() < deadline, data
            ready, _, _ = select.select([follower.stdout], [], [], 1)
            if ready:
                data += os.read(follower.stdout.fileno(), 65536)
        seen = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        assert any(e["message"] == "session.connect"
                   and e["fields"]["command"] == "echo followed" for e in seen)
        assert all(e["fields"]["user"] == sarah for e in seen)
    finally:
        follower.terminate()
        follower.wait(10)
        follower.stdout.close()


def test_a_command_cannot_forge_another_users_entry(
    server: Server, sarah: str, victim: str, audited: Path
) -> None:
    hostile = f"true; x=1 user={victim} project=api"
    assert server.ssh(sarah, hostile, timeout=TIMEOUT).returncode == 0
    # control: the probe landed, whole, in sarah's own audit entry
    mine = [e for e in logs(server, sarah) if e["fields"].get("command") == hostile]
    assert mine and all(e["fields"]["user"] == sarah for e in mine)
    assert hostile in audited.read_text()
    # control: the victim's own login is found by the same filter
    assert server.ssh(victim, "true", timeout=TIMEOUT).returncode == 0
    theirs = logs(server, victim)
    assert attaches(theirs)
    assert not any(hostile in json.dumps(e) for e in theirs)
    assert not any(hostile in json.dumps(e) for e in logs(server, f"{victim}@api"))


def test_a_hostile_project_name_in_an_error_stays_a_message(
    server: Server, sarah: str, victim: str, audited: Path
) -> None:
    """The project name comes from the client (SetEnv PODSPAWN_PROJECT); spawn refuses it and
    logs the refusal, which quotes the name: ``invalid project name 'x user=VICTIM'``."""
    hostile = f"x user={victim}"
    result = server.ssh(sarah, "true", opts=["-o", f'SetEnv=PODSPAWN_PROJECT="{hostile}"'],
                        timeout=TIMEOUT)
    assert result.returncode != 0
    assert b"invalid project name" in result.stderr
    raw = (server.root / "log" / "podspawn.log").read_text()
    assert f"user={victim}" in raw.split("invalid project name")[-1]  # control: it landed
    refusal = [e for e in logs(server) if "invalid project name" in e["message"]
               and hostile in e["message"]]
    assert refusal, "the refusal is in the unfiltered logs"
    assert all("user" not in e["fields"] for e in refusal)
    assert not any(hostile in e["message"] for e in logs(server, victim))
