"""Credentials in a project's git URL, kept out of everything other accounts can read.

An admin may register ``https://user:token@host/repo.git``. The token must reach neither the
server config (0644, and its JSON snapshot), nor the checkout's ``.git/config`` (copied into
the image and into every user's workspace), nor an argv (``/proc/PID/cmdline`` is
world-readable), a log line or a message. So the userinfo is split off the URL once: the
clean URL is what podspawn stores, shows and clones, the userinfo is kept in a root-only
file (0600 in a 0700 directory), and git gets it only through its environment, as an
``Authorization`` header scoped to that URL (``GIT_CONFIG_KEY_0=http.<url>.extraHeader``).
"""

from __future__ import annotations

import base64
import os
import re
import urllib.parse

from podspawn import paths
from podspawn.config.schema import ServerConfig
from podspawn.errors import UsageError
from podspawn.files import atomic_write
from podspawn.names import validate_project

_HTTP_USERINFO = re.compile(r"(?i)\b(https?://)[^/@\s]+@")
_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/:@\s]*):[^/@\s]*@")


def split_credentials(url: str) -> tuple[str, str]:
    """(the URL without userinfo, the userinfo) for an http(s) URL; others are unchanged.

    ``ssh://git@host`` keeps its user: that is a login name, not a secret.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return url, ""
    userinfo, _, host = parts.netloc.rpartition("@")
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), userinfo


def redact(text: str) -> str:
    """``text`` with the userinfo of any http(s) URL, and any URL's password, as ``***``."""
    return _PASSWORD.sub(r"\1:***@", _HTTP_USERINFO.sub(r"\1***@", text))


def git_env(url: str, userinfo: str) -> dict[str, str]:
    """Environment that makes git send ``userinfo`` as HTTP Basic auth to ``url`` only."""
    if not userinfo:
        return {}
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    token = base64.b64encode(pair.encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{url}.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}"}


def credentials_dir(config: ServerConfig) -> str:
    return paths.credentials_dir(paths.state_dir(config.state.db_path))


def credentials_path(config: ServerConfig, project: str) -> str:
    return os.path.join(credentials_dir(config), validate_project(project))


def store_credentials(config: ServerConfig, project: str, userinfo: str) -> None:
    """Keep ``userinfo`` for ``project`` where only root can read it."""
    directory = credentials_dir(config)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    atomic_write(credentials_path(config, project), (userinfo + "\n").encode(), mode=0o600,
                 uid=0, gid=0)


def load_credentials(config: ServerConfig, project: str) -> str:
    """The stored userinfo of ``project``, or "" when it has none.

    Raises:
        UsageError: the file exists but cannot be read.
    """
    try:
        with open(credentials_path(config, project), encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise UsageError(f"cannot read the stored credentials of project {project} "
                         f"({exc.strerror}); run podspawn as root") from exc


def forget_credentials(config: ServerConfig, project: str) -> None:
    try:
        os.unlink(credentials_path(config, project))
    except FileNotFoundError:
        pass
