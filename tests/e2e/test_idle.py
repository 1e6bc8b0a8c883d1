"""Idle sessions through the real sshd: an untouched terminal is warned in that terminal and
then ended by ``podspawn cleanup``, while a terminal someone keeps typing into survives the
same passes and still works afterwards.

pexpect holds ``ssh -tt`` open on a real pseudo-terminal, as a person's terminal would.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import threading
import time

import pexpect
import pytest

TIMEOUT = 60
PROMPT = "[ps1]# "
IDLE_TIMEOUT = 30  # seconds; the warning comes a fifth earlier, at 24 s
WARNING = "podspawn: this session has been idle for"
ENDED = "is being ended"


@pytest.fixture
def short_idle(server):
    server.set_config({"session": {"idle_timeout": f"{IDLE_TIMEOUT}s"}})
    yield
    server.set_config(None)


def _row(server, user: str) -> sqlite3.Row | None:
    with sqlite3.connect(server.root / "state" / "state.db") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM sessions WHERE user=?", (user,)).fetchone()


def _shell(server, user: str) -> pexpect.spawn:
    argv = server.ssh_argv(user, opts=["-tt"])
    child = pexpect.spawn(argv[0], argv[1:], dimensions=(24, 80), timeout=TIMEOUT,
                          encoding="utf-8", codec_errors="replace")
    child.sendline("PS1='[ps''1]# '; PROMPT_COMMAND=")
    child.expect_exact(PROMPT)
    return child


class Typist(threading.Thread):
    """Types a key and erases it again every second, as someone at the keyboard would."""

    def __init__(self, child: pexpect.spawn) -> None:
        super().__init__(daemon=True)
        self.child = child
        self.stop = threading.Event()
        self.keys = 0

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.child.send("x" if self.keys % 2 == 0 else "\x7f")
            self.keys += 1


def test_an_untouched_terminal_is_warned_then_ended_while_a_typing_one_survives(
    server, short_idle
):
    idle_user = server.fresh_user("idler")
    busy_user = server.fresh_user("typer")
    for user in (idle_user, busy_user):  # the first login may build the image layer
        result = server.ssh(user, "true", timeout=900)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        row = _row(server, user)
        assert row is not None and row["idle_timeout"] == IDLE_TIMEOUT

    idle = _shell(server, idle_user)
    busy = _shell(server, busy_user)
    typist = Typist(busy)
    typist.start()
    started = time.monotonic()
    warned_seen = False
    passes = 0
    try:
        # cleanup every two seconds, as a daemon with a short interval would
        while _row(server, idle_user) is not None:
            assert time.monotonic() - started < 120, "the idle session was never ended"
            result = server.podspawn("cleanup")
            assert result.returncode == 0, result.stderr
            passes += 1
            idle_row = _row(server, idle_user)
            if idle_row is not None and idle_row["idle_warned_at"] is not None:
                warned_seen = True
            busy_row = _row(server, busy_user)
            assert busy_row is not None, "the session being typed into was ended"
            assert busy_row["idle_warned_at"] is None, "the typing session was warned"
            time.sleep(2)
        elapsed = time.monotonic() - started
        assert warned_seen, "the session was ended without a warning on an earlier pass"
        assert elapsed >= IDLE_TIMEOUT - 8, f"ended after {elapsed:.0f}s, before its timeout"

        # the idle terminal got the warning, then the end, then its connection closed
        idle.expect_exact(WARNING, timeout=10)
        idle.expect_exact(ENDED, timeout=10)
        idle.expect(pexpect.EOF, timeout=30)

        # one more pass: the typing session is still not idle, and still works
        assert server.podspawn("cleanup").returncode == 0
        listed = server.podspawn("--json", "list")
        assert listed.returncode == 0, listed.stderr
        views = {v["user"]: v for v in json.loads(listed.stdout)}
        assert idle_user not in views
        assert views[busy_user]["idle_timeout_seconds"] == IDLE_TIMEOUT
        assert views[busy_user]["idle_seconds"] < IDLE_TIMEOUT - 6, views[busy_user]
        table = server.podspawn("list")
        assert table.stdout.splitlines()[0].split()[-1] == "IDLE", table.stdout
    finally:
        typist.stop.set()
        typist.join(timeout=5)
    try:
        assert typist.keys >= IDLE_TIMEOUT - 5, "the typist did not keep typing"
        if typist.keys % 2:
            busy.send("\x7f")  # erase the last x
        busy.sendline("echo alive-$((40+2))")
        busy.expect_exact("alive-42")
        busy.expect_exact(PROMPT)
        assert WARNING not in (busy.before or "")
        row = _row(server, busy_user)
        assert row is not None and row["connections"] == 1
    finally:
        for child in (idle, busy):
            if child.isalive():
                child.terminate(force=True)
        server.podspawn("stop", busy_user)

    log = (server.root / "log" / "podspawn.log").read_text()
    warned = [line for line in log.splitlines() if "idle warning sent" in line]
    ended = [line for line in log.splitlines() if "idle timeout reached, ending session" in line]
    assert any(f"user={idle_user} " in line and f"idle_timeout={IDLE_TIMEOUT}s" in line
               for line in warned), warned
    assert any(f"user={idle_user} " in line for line in ended), ended
    assert not any(f"user={busy_user} " in line for line in warned + ended)
    assert passes >= 3


#: A steady stream of output through the channel: about 4 KB a second.
STREAM = "while :; do head -c 4000 /dev/zero | tr '\\0' x; echo; sleep 1; done"


def test_a_pod_connection_with_only_keepalives_is_idle_and_a_busy_one_is_not(
    server, short_idle, tmp_path
):
    """Through the ``.pod`` tunnel, as an IDE connects: a connection that carries nothing but
    SSH keepalives (every 2 s) and an unused port forward is ended; one whose channel carries
    a steady stream survives the same passes and still answers."""
    quiet_user = server.fresh_user("podquiet")
    busy_user = server.fresh_user("podbusy")
    configs = {}
    for user in (quiet_user, busy_user):
        (tmp_path / user).mkdir()
        configs[user] = server.pod_tunnel_config(user, tmp_path / user, ["work.pod"])
    keepalive = ["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=100"]
    with socket.socket() as probe:  # a free local port for the unused forward
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    quiet = subprocess.Popen(
        ["ssh", "-F", str(configs[quiet_user]), *keepalive, "-N", "-L",
         f"127.0.0.1:{port}:localhost:3000", f"{quiet_user}@work.pod"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    busy = subprocess.Popen(
        ["ssh", "-F", str(configs[busy_user]), *keepalive, f"{busy_user}@work.pod", STREAM],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for user in (quiet_user, busy_user):
            deadline = time.monotonic() + 600  # the first login may build the image layer
            while (row := _row(server, user)) is None or row["connections"] < 1 \
                    or row["status"] != "running":
                assert time.monotonic() < deadline, f"{user}'s .pod session did not start"
                for proc in (quiet, busy):
                    assert proc.poll() is None, proc.communicate()[1].decode(errors="replace")
                time.sleep(0.5)
        started = time.monotonic()
        warned_seen = False
        while _row(server, quiet_user) is not None:
            assert time.monotonic() - started < 150, "the quiet .pod session was never ended"
            result = server.podspawn("cleanup")
            assert result.returncode == 0, result.stderr
            quiet_row = _row(server, quiet_user)
            warned_seen = warned_seen or bool(quiet_row and quiet_row["idle_warned_at"])
            busy_row = _row(server, busy_user)
            assert busy_row is not None, "the busy .pod session was ended"
            assert busy_row["idle_warned_at"] is None, "the busy .pod session was warned"
            time.sleep(2)
        assert warned_seen
        quiet.wait(timeout=30)  # its tunnel ended with the container
        assert busy.poll() is None
        check = subprocess.run(["ssh", "-F", str(configs[busy_user]), f"{busy_user}@work.pod",
                                "echo alive-$((40+2))"], capture_output=True, timeout=120,
                               check=False)
        assert check.stdout.decode().strip() == "alive-42", check.stderr
    finally:
        for proc in (quiet, busy):
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)
        for user in (quiet_user, busy_user):
            server.podspawn("stop", f"{user}@work")
