"""Security review findings that are pure logic."""

from __future__ import annotations

import pytest

from podspawn import inner_sshd
from podspawn.runtime import docker_login as engine


def test_inherited_env_puts_only_names_in_the_docker_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "docker_cli", lambda: "/usr/bin/docker")
    env = inner_sshd.start_env(user="sarah", authorized_keys="ssh-ed25519 AAAA sarah@laptop",
                               host_key="-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET\n")
    argv = engine.exec_argv("podspawn-sarah", ["sh"], user="root", workdir="/", env={},
                            inherited=tuple(env), tty=False)
    text = "\n".join(argv)
    assert "SECRET" not in text and "AAAA" not in text
    assert argv[argv.index("PODSPAWN_HOST_KEY") - 1:][:2] == ["-e", "PODSPAWN_HOST_KEY"]
    assert argv[-2:] == ["podspawn-sarah", "sh"]
