"""services/repo_auth: splitting, redacting and storing the credentials of a --repo URL."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from podspawn.config.loader import parse_config
from podspawn.services import repo_auth


@pytest.mark.parametrize(
    ("url", "clean", "userinfo"),
    [
        ("https://user:tok3n@git.example.com/org/repo.git", "https://git.example.com/org/repo.git",
         "user:tok3n"),
        ("https://tok3n@git.example.com:8443/repo", "https://git.example.com:8443/repo", "tok3n"),
        ("HTTP://a%40b:p%3Ass@host/r.git", "http://host/r.git", "a%40b:p%3Ass"),
        ("https://git.example.com/repo.git", "https://git.example.com/repo.git", ""),
        ("ssh://git@git.example.com/repo.git", "ssh://git@git.example.com/repo.git", ""),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git", ""),
        ("/srv/repo", "/srv/repo", ""),
    ],
)
def test_split_credentials(url: str, clean: str, userinfo: str) -> None:
    assert repo_auth.split_credentials(url) == (clean, userinfo)


def test_redact_hides_userinfo_and_passwords_anywhere_in_a_message() -> None:
    text = ("cloning https://user:s3cret@host/r.git failed: fatal: unable to access "
            "'https://s3cret@host/r.git/': 401; also ssh://git:pw@host/x and ssh://git@host/y")
    shown = repo_auth.redact(text)
    assert "s3cret" not in shown
    assert ":pw@" not in shown
    assert "https://***@host/r.git" in shown
    assert "ssh://git:***@host/x" in shown
    assert "ssh://git@host/y" in shown  # a login name is no secret


@pytest.mark.parametrize(("userinfo", "pair"), [
    ("user:tok3n", "user:tok3n"), ("tok3n", "tok3n:"), ("a%40b:p%3Ass", "a@b:p:ss"),
])
def test_git_env_sends_basic_auth_to_that_url_only(userinfo: str, pair: str) -> None:
    env = repo_auth.git_env("https://host/r.git", userinfo)
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CONFIG_KEY_0"] == "http.https://host/r.git.extraHeader"
    scheme, token = env["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: ").split()
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == pair
    assert repo_auth.git_env("https://host/r.git", "") == {}


def test_stored_credentials_are_root_only(tmp_path: Path) -> None:
    config = parse_config(f"state:\n  db_path: {tmp_path / 'state' / 'state.db'}\n")
    assert repo_auth.load_credentials(config, "api") == ""
    repo_auth.store_credentials(config, "api", "user:tok3n")
    path = Path(repo_auth.credentials_path(config, "api"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert repo_auth.load_credentials(config, "api") == "user:tok3n"
    repo_auth.forget_credentials(config, "api")
    repo_auth.forget_credentials(config, "api")  # forgetting what is gone is fine
    assert not path.exists()
    assert os.listdir(path.parent) == []
