"""End-to-end fixtures over ``harness.py``: a real dockerd, a real sshd, the real OpenSSH clients.

The podspawn under test is installed by the project's own ``install.sh`` into a root-owned
prefix (sshd refuses an AuthorizedKeysCommand below any writable directory, so never a temp
dir), with its own config under ``/srv/podspawn-e2e``. A private sshd listens on a free
loopback port; ``podspawn server-setup --sshd-config`` wires it up exactly as on a server.
Everything the run creates carries this installation's id and is removed at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.harness import (  # noqa: F401 - re-exported: tests import these from conftest
    _SUFFIX,
    BIN,
    IMAGE,
    PREFIX,
    REPO,
    ROOT,
    RUN_ID,
    HarnessError,
    Server,
    free_port,
    list_podspawn_users,
    uname,
    wait_port,
)
from tests.e2e.harness import cleanup_installation as _cleanup_installation  # noqa: F401
from tests.e2e.harness import run as _run  # noqa: F401
from tests.e2e.harness import write_sshd_config as _write_sshd_config  # noqa: F401

pytestmark = pytest.mark.e2e


def _require(condition: bool, message: str) -> None:
    if not condition:
        pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def docker_ready() -> None:
    try:
        harness.ensure_docker()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def installed(docker_ready: None) -> Path:
    """podspawn from this checkout, installed the way install.sh installs it."""
    try:
        return harness.install()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def server(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = harness.start_server(tmp_path_factory.mktemp("client"))
    try:
        yield srv
    finally:
        harness.stop_server(srv)


@pytest.fixture(scope="session")
def sarah(server: Server) -> str:
    name = uname("sarah")
    server.add_user(name)
    return name
