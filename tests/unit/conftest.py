"""Shared fixtures for the pure-logic unit tests: no Docker, no sshd, no root needed."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.fake_server import server  # noqa: F401 - a fixture: a server over the fake

_STRIPPED = ("DOCKER_HOST", "SSH_AUTH_SOCK")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's shell must not change results: no Docker, agent or podspawn settings."""
    for key in list(os.environ):
        if key in _STRIPPED or key.startswith("PODSPAWN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture(autouse=True)
def quiet_log():
    """Keep ``podspawn.log`` from writing anywhere a test did not ask for."""
    from podspawn import log

    saved = dict(log._state)
    log.configure(None)
    yield
    log._state.clear()
    log._state.update(saved)


@dataclass(frozen=True)
class KeyPair:
    type: str
    public_line: str
    private_text: str


#: ssh-keygen arguments -> the key type its .pub line starts with.
KEY_SPECS = {
    "ed25519": (["-t", "ed25519"], "ssh-ed25519"),
    "rsa": (["-t", "rsa", "-b", "2048"], "ssh-rsa"),
    "ecdsa256": (["-t", "ecdsa", "-b", "256"], "ecdsa-sha2-nistp256"),
    "ecdsa384": (["-t", "ecdsa", "-b", "384"], "ecdsa-sha2-nistp384"),
    "ecdsa521": (["-t", "ecdsa", "-b", "521"], "ecdsa-sha2-nistp521"),
}


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """Real key pairs made by ssh-keygen, by the names in KEY_SPECS."""
    directory = tmp_path_factory.mktemp("keys")
    pairs = {}
    for name, (args, key_type) in KEY_SPECS.items():
        path = directory / name
        subprocess.run(
            ["ssh-keygen", "-q", *args, "-N", "", "-C", f"{name}@test", "-f", str(path)],
            check=True,
            capture_output=True,
        )
        pairs[name] = KeyPair(
            type=key_type,
            public_line=Path(f"{path}.pub").read_text().strip(),
            private_text=path.read_text(),
        )
    return pairs
