from __future__ import annotations

import pytest


@pytest.mark.podman
def test_login_runs_in_own_container(server, sarah):
    result = server.ssh(sarah, "hostname; id -un; sudo -n true && echo ok")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split() == [f"podspawn-{sarah}", sarah, "ok"]
