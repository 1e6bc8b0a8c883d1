"""A podspawn server with no engine: a real state database and config in a temporary
directory, and :class:`~podspawn.runtime.fake.FakeRuntime` registered as the backend
``fake``, for unit tests of the services' logic (sessions, cleanup, remove-user).

Only the host's packet filter (iptables) and the login account's uid are stood in for;
everything else (locks, rows, connections counted by live process, rollback) is the code
that runs on a server. Connections belong to real child processes, so that "the client
went away" is a killed process, as on a server.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from podspawn import runtime as runtime_package
from podspawn.config.loader import parse_config
from podspawn.config.schema import ServerConfig
from podspawn.procs import start_time
from podspawn.runtime.fake import FakeRuntime
from podspawn.runtime.fake_world import ExecCall
from podspawn.runtime.spec import ExecResult
from podspawn.services import firewall, sessions
from podspawn.state.db import install_id, open_db
from podspawn.state.records import Connection

IMAGE = "ubuntu:24.04"  # ServerConfig's default image
_current: list[FakeRuntime] = []


def current_fake() -> FakeRuntime:
    """``get_runtime("fake")`` in a test: the fake world of that test's server."""
    return _current[-1]


def user_setup(call: ExecCall) -> ExecResult | None:
    """What the image's ``useradd`` and friends do for ``personalise.USER_SETUP``: the user
    exists afterwards, and the script prints the shell and home it ended with."""
    user = call.env.get("PODSPAWN_USER")
    if call.argv[:2] != ("sh", "-c") or not user or "useradd" not in call.argv[2]:
        return None
    call.container.users.add(user)
    call.container.dirs.add(f"/home/{user}")
    return ExecResult(0, f"{call.env['PODSPAWN_SHELL']}\n/home/{user}\n".encode())


@dataclass
class Server:
    config: ServerConfig
    conn: sqlite3.Connection
    fake: FakeRuntime
    clients: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def install_id(self) -> str:
        return install_id(self.conn)

    def client(self, user: str, project: str = "") -> tuple[Connection, subprocess.Popen[bytes]]:
        """A connection served by a live process (kill it to disconnect)."""
        process = subprocess.Popen(["sleep", "600"])
        self.clients.append(process)
        started = start_time(process.pid)
        assert started is not None
        return Connection(user=user, project=project, pid=process.pid, pid_start=started,
                          started_at=1.0), process

    def login(self, user: str, project: str = "") -> tuple[sessions.SessionRow,
                                                           subprocess.Popen[bytes]]:
        connection, process = self.client(user, project)
        row = sessions.open_session(config=self.config, conn=self.conn, connection=connection,
                                    runtime=self.fake, progress=None)
        return row, process

    def objects(self, **wanted: str) -> list[tuple[str, str]]:
        """(kind, name) of the fake engine's objects of this installation, sorted."""
        query = {"podspawn-instance": self.install_id,
                 **{f"podspawn-{k}": v for k, v in wanted.items()}}
        return sorted((f.kind, f.name) for f in self.fake.find(query))


def disconnect(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    root = tmp_path / "srv"
    config = parse_config(f"""
state:
  db_path: {root}/state/state.db
  lock_dir: {root}/locks
  homes_dir: {root}/homes
auth:
  key_dir: {root}/keys
session:
  grace_period: 30s
  max_lifetime: 1h
""")
    fake = FakeRuntime()
    fake.add_image(IMAGE)
    fake.on_exec(user_setup)
    # the fake is no production backend: registered for this test only
    monkeypatch.setitem(runtime_package.BACKENDS, "fake", f"{__name__}:current_fake")
    monkeypatch.setattr(f"{__name__}._current", [fake])
    monkeypatch.setitem(runtime_package.LOGIN_MODULES, "fake", fake.login_module)
    # the host's packet filter and login accounts are not this test's business
    monkeypatch.setattr(sessions, "guard_login", lambda **_: None)
    monkeypatch.setattr(firewall, "ensure", lambda **_: None)
    monkeypatch.setattr(sessions, "host_ids", lambda user: (20001, 20001))
    conn = open_db(config.state.db_path, create=True)
    srv = Server(config=config, conn=conn, fake=fake)
    try:
        yield srv
    finally:
        for process in srv.clients:
            process.kill()
            process.wait()
        conn.close()
