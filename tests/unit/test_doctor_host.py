"""doctor's host checks on private files: a real visudo on a sudoers file that sudo never
reads, and the sshd check without any podspawn user."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from podspawn.config.schema import ServerConfig
from podspawn.services.doctor import host
from podspawn.services.doctor.base import Context
from podspawn.services.server_setup import render_sudoers, sudoers_name

BINARY = "/opt/podspawn/bin/podspawn"


def context(tmp_path: Path) -> Context:
    return Context(config=ServerConfig(), config_path=str(tmp_path / "config.yaml"),
                   binary=BINARY, sshd_config=str(tmp_path / "sshd_config"))


@pytest.fixture
def sudoers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Context, Path]:
    if shutil.which("visudo", path="/usr/sbin:/usr/bin:/sbin") is None or os.geteuid() != 0:
        pytest.fail("these tests need root and sudo's visudo (apt-get install sudo)")
    monkeypatch.setattr(host, "SUDOERS_DIR", str(tmp_path))
    ctx = context(tmp_path)
    path = tmp_path / sudoers_name(ctx.explicit_config)[0]
    return ctx, path


def write(path: Path, text: str, mode: int = 0o440) -> None:
    path.write_text(text)
    path.chmod(mode)


def test_the_rule_server_setup_writes_passes(sudoers: tuple[Context, Path]) -> None:
    ctx, path = sudoers
    write(path, render_sudoers(binary=BINARY, config_path=ctx.explicit_config))
    check = host.check_sudoers(ctx)
    assert (check.status, check.fix) == ("ok", "")


def test_a_syntax_error_fails_with_visudos_complaint(sudoers: tuple[Context, Path]) -> None:
    ctx, path = sudoers
    write(path, render_sudoers(binary=BINARY, config_path=ctx.explicit_config)
          + "this is not sudoers\n")
    check = host.check_sudoers(ctx)
    assert check.status == "FAIL"
    assert "its content differs from the rule server-setup writes" in check.message
    assert "visudo -cf fails (" in check.message
    assert check.fix.startswith("run podspawn server-setup")


def test_a_missing_rule_fails(sudoers: tuple[Context, Path]) -> None:
    ctx, path = sudoers
    check = host.check_sudoers(ctx)
    assert (check.status, check.message) == (
        "FAIL", f"{path} is missing, so no login can start a session")


def test_sshd_without_a_podspawn_user_warns(tmp_path: Path) -> None:
    check = host.check_sshd(context(tmp_path))
    assert check.status == "warn"
    assert "add-user" in check.fix


def test_disk_fails_below_state_min_free_and_passes_above(tmp_path: Path) -> None:
    from dataclasses import replace

    from podspawn.config.schema import StateConfig

    (tmp_path / "state").mkdir()

    def with_min_free(min_free: str) -> Context:
        config = replace(ServerConfig(), state=StateConfig(
            db_path=str(tmp_path / "state" / "state.db"), min_free=min_free))
        return replace(context(tmp_path), config=config)

    refused = host.check_disk(with_min_free("100P"))
    assert refused.status == "FAIL"
    assert "below state.min_free (100P): new sessions are refused" in refused.message
    assert "lower state.min_free" in refused.fix
    roomy = host.check_disk(with_min_free("1k"))
    assert "state.min_free" not in roomy.message
    assert roomy.status in ("ok", "warn")  # warn: no engine in this context, or < 5 GiB
