"""Concurrent sessions through the real sshd: shared containers and racing first logins."""

from __future__ import annotations

import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import uname

TIMEOUT = 60


@pytest.fixture(scope="module", autouse=True)
def _image_ready(server, sarah):
    """Log in once, unhurried: on a fresh machine the first login builds the image layer."""
    result = server.ssh(sarah, "true", timeout=900)
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def _containers_of(server, user: str) -> list[str]:
    """The user's default-session containers of this installation (not their projects' or
    companions', which other tests leave in their grace period)."""
    listed = subprocess.run(
        ["docker", "ps", "-a", "--format",
         '{{.ID}} {{.Label "podspawn-role"}} {{.Label "podspawn-project"}}',
         "--filter", f"label=podspawn-user={user}",
         "--filter", f"label=podspawn-instance={server.install_id()}"],
        capture_output=True, text=True, check=True, timeout=TIMEOUT,
    )
    rows = [line.split() for line in listed.stdout.splitlines()]
    return [row[0] for row in rows if row[1:] == ["session"]]


def test_two_sessions_share_one_container(server, sarah):
    marker = uuid.uuid4().hex
    first = subprocess.Popen(
        [*server.ssh_argv(sarah),
         f"echo {marker} > /tmp/marker; echo ready $(hostname) $(cat /proc/1/cpuset); "
         "read -r line; echo got $line"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    watchdog = threading.Timer(TIMEOUT, first.kill)  # readline() below has no timeout
    watchdog.start()
    try:
        assert first.stdout is not None and first.stdin is not None
        ready = first.stdout.readline().decode().split()
        assert ready[:1] == ["ready"], (ready, first.poll())
        second = server.ssh(sarah, "cat /tmp/marker; hostname; cat /proc/1/cpuset",
                            timeout=TIMEOUT)
        assert first.poll() is None, "the first session ended before the second one ran"
        assert second.returncode == 0, second.stderr.decode(errors="replace")
        seen_marker, hostname, cpuset = second.stdout.decode().split()
        assert seen_marker == marker
        assert ready[1:] == [hostname, cpuset]
        # and it really is the one container podspawn made for her
        (container_id,) = _containers_of(server, sarah)
        assert container_id in cpuset
        # the first session is still attached: it still reads its stdin
        out, err = first.communicate(b"bye\n", timeout=TIMEOUT)
        assert first.returncode == 0, err.decode(errors="replace")
        assert out.decode().split() == ["got", "bye"]
    finally:
        watchdog.cancel()
        if first.poll() is None:
            first.kill()
            first.wait()
        for pipe in (first.stdin, first.stdout, first.stderr):
            if pipe is not None:
                pipe.close()  # else a failure here warns, unraisably, in a later test


def test_ten_parallel_first_logins_make_one_container(server):
    user = uname("tenuser")
    server.add_user(user)
    assert _containers_of(server, user) == []
    log_file = server.root / "log" / "podspawn.log"
    before = log_file.read_text() if log_file.exists() else ""

    def login(_: int) -> subprocess.CompletedProcess[bytes]:
        return server.ssh(user, "hostname", timeout=TIMEOUT)

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(login, range(10)))

    failures = [(r.returncode, r.stderr.decode(errors="replace")) for r in results
                if r.returncode != 0]
    assert failures == []
    assert {r.stdout.decode().strip() for r in results} == {f"podspawn-{user}"}
    assert len(_containers_of(server, user)) == 1
    written = log_file.read_text()[len(before):]
    assert "database is locked" not in written
    assert "Traceback" not in written
    assert written.count(f"created session user={user}") == 1
