"""Refuse early, with the fix, when an admin command is run without root."""

from __future__ import annotations

import os

from podspawn.errors import PermissionDenied


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise PermissionDenied(f"{action} needs root; run it with sudo")
