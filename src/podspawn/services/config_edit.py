"""Edit the server config file (the ``projects`` section) without ever losing it.

The new text is validated as a whole before it is written; the previous file is kept as
``<config>.podspawn.bak``; the write is atomic. YAML comments in the file do not survive a
rewrite (PyYAML drops them), which the docs say next to ``add-project``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from podspawn import yaml_text
from podspawn.config.loader import validate_config
from podspawn.config.schema import ServerConfig
from podspawn.errors import ConfigError
from podspawn.files import atomic_write


def update_config(path: str, change: Callable[[dict[str, Any]], None]) -> ServerConfig:
    """Apply ``change`` to the file's data, validate, back up, write; return the new config.

    Raises:
        ConfigError: the current file is invalid, or the change would make it invalid
            (nothing is written then).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            original = fh.read()
    except FileNotFoundError:
        original = ""
    try:
        data = yaml_text.load(original) or {}
    except yaml_text.YamlSyntaxError as exc:
        raise ConfigError(f"{path} is not valid YAML; fix it before changing projects") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a YAML mapping")
    validate_config(data, source=path)
    change(data)
    config = validate_config(data, source=path)
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    if original:
        atomic_write(f"{path}.podspawn.bak", original.encode(), mode=0o600)
    atomic_write(path, yaml_text.dump(data).encode(), mode=0o644)
    return config
