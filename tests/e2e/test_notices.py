"""Notices from ``podspawn cleanup`` reach a user only through their own session's channel.

The lifetime warning used to be written by root into ``/proc/<pid>/fd/2`` of each ``spawn``:
reopening that link gives root's access to whatever the descriptor was, so a user who starts
``spawn`` themselves with ``2<`` some root-owned file had cleanup overwrite it. Now cleanup
only records the notice and signals the ``spawn``, which writes it to the descriptor it
already holds.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time

import pytest

from tests.e2e.harness import BIN

WARNING = "reaches its maximum lifetime"


@pytest.fixture
def short_lifetime(server):
    server.set_config({"session": {"max_lifetime": "30s"}})
    yield
    server.set_config(None)


def _connections(server, user: str) -> int:
    with sqlite3.connect(server.root / "state" / "state.db") as conn:
        row = conn.execute("SELECT COUNT(*) FROM connections WHERE user=?", (user,)).fetchone()
    return int(row[0])


def _warned(server, user: str) -> bool:
    with sqlite3.connect(server.root / "state" / "state.db") as conn:
        row = conn.execute("SELECT lifetime_warned FROM sessions WHERE user=?",
                           (user,)).fetchone()
    return bool(row and row[0])


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_lifetime_warning_never_writes_through_a_hostile_stderr(server, short_lifetime):
    user = server.fresh_user("notice")
    victim = server.root / "notice-victim.txt"
    victim.write_text("root's file, not to be written by podspawn\n")
    victim.chmod(0o644)
    before = (victim.read_bytes(), victim.stat().st_mtime_ns)

    # controls: a terminal session and a plain command, the normal ways in
    procs: list[subprocess.Popen[bytes]] = []
    tty = subprocess.Popen([*server.ssh_argv(user, opts=["-tt"]), "sleep 60"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    procs.append(tty)
    try:
        _wait(lambda: _connections(server, user) == 1, 120, "the tty session did not start")
        plain = subprocess.Popen([*server.ssh_argv(user), "sleep 60"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        procs.append(plain)
        # the attack: the login account runs its own sudo spawn, stderr opened read-only on
        # a root-owned file it may read but not write
        hostile = subprocess.Popen(
            ["runuser", "-u", user, "--", "sh", "-c",
             'exec sudo -n "$0" --config "$1" spawn 2<"$2"', str(BIN), str(server.config),
             str(victim)],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SSH_ORIGINAL_COMMAND": "sleep 60",
                 "SSH_CONNECTION": "127.0.0.1 40000 127.0.0.1 22"},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(hostile)
        _wait(lambda: _connections(server, user) == 3, 60,
              "the three connections were not all counted")
        assert subprocess.run(["runuser", "-u", user, "--", "sh", "-c", f": >>{victim}"],
                              capture_output=True, check=False).returncode != 0, \
            "the account can write the file itself: the probe would prove nothing"

        def cleanup_warned() -> bool:
            result = server.podspawn("cleanup")
            assert result.returncode == 0, result.stderr
            return _warned(server, user)

        _wait(cleanup_warned, 40, "cleanup never warned about the lifetime")
        time.sleep(1.5)
        assert (victim.read_bytes(), victim.stat().st_mtime_ns) == before
        assert hostile.poll() is None, "the signal killed the hostile spawn"
        assert tty.poll() is None and plain.poll() is None
    finally:
        server.podspawn("stop", user)  # ends every connection with the container
        outputs = [proc.communicate(timeout=60) for proc in procs]
    assert len(outputs) == 3
    tty_out = outputs[0][0].decode(errors="replace")
    plain_err = outputs[1][1].decode(errors="replace")
    assert f"\r\npodspawn: this session {WARNING}" in tty_out, tty_out
    assert f"podspawn: this session {WARNING}" in plain_err, plain_err
    assert "\r" not in plain_err, repr(plain_err)
    assert (victim.read_bytes(), victim.stat().st_mtime_ns) == before
    log = (server.root / "log" / "podspawn.log").read_text()
    assert "lifetime warning sent" in log
