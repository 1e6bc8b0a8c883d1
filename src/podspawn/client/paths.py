"""Where the client's files live. ``~`` is resolved on every call, so tests can set HOME."""

from __future__ import annotations

import os


def home() -> str:
    return os.path.expanduser("~")


def podspawn_dir() -> str:
    """``~/.podspawn``: the client config and the pods' known_hosts file."""
    return os.path.join(home(), ".podspawn")


def client_config_path() -> str:
    return os.path.join(podspawn_dir(), "config.yaml")


def known_hosts_path() -> str:
    """Host keys of ``NAME.pod`` containers, kept apart from the user's own known_hosts."""
    return os.path.join(podspawn_dir(), "known_hosts")


def default_ssh_config_path() -> str:
    return os.path.join(home(), ".ssh", "config")


def display(path: str) -> str:
    """``path`` with the home directory shown as ``~``, for messages."""
    base = home().rstrip("/")
    full = os.path.abspath(path)
    if base and (full == base or full.startswith(base + "/")):
        return "~" + full[len(base):]
    return full
