"""Read and validate the server config with pydantic, and refresh the login-path snapshot."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from podspawn import validation, yaml_text
from podspawn.config import snapshot
from podspawn.config.schema import ServerConfig
from podspawn.errors import ConfigError
from podspawn.paths import config_path


def load_config(path: str | None = None, *, write_cache: bool = True) -> ServerConfig:
    """The validated config at ``path`` (defaults when the file does not exist).

    Raises:
        ConfigError: the file cannot be read, is not YAML, or holds a wrong key or value.
    """
    path = config_path(path)
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read()
    except FileNotFoundError:
        return ServerConfig()
    except OSError as exc:
        raise ConfigError(
            f"cannot read config {path}: {exc.strerror}; check the path and its permissions"
        ) from exc
    config = parse_config(raw, source=path)
    if write_cache and os.geteuid() == 0:
        snapshot.write(path, st, config)
    return config


def parse_config(raw: bytes | str, *, source: str = "config") -> ServerConfig:
    """Validate config text; every problem is named by its dotted key.

    Raises:
        ConfigError: the text is not YAML or a key or value is wrong.
    """
    try:
        data = yaml_text.load(raw)
    except yaml_text.YamlSyntaxError as exc:
        raise ConfigError(f"{source} is not valid YAML{exc.at_line}; fix the syntax") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a YAML mapping of sections such as 'session:'")
    return validate_config(data, source=source)


def validate_config(data: dict[str, Any], *, source: str = "config") -> ServerConfig:
    """Build a ServerConfig from a mapping, translating pydantic errors into one sentence each.

    Raises:
        ConfigError: a key is unknown or a value has the wrong type or range.
    """
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(ServerConfig).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_errors(exc)}") from exc


def describe_errors(exc: Any) -> str:
    """A pydantic ValidationError as ``key.path: problem; ...``, never pydantic's repr."""
    return "; ".join(validation.describe_errors(exc.errors(include_url=False),
                                                _ConfigWording()))


def dump_config_yaml(config: ServerConfig) -> str:
    return yaml_text.dump(snapshot.plain(config.to_dict()))


class _ConfigWording(validation.Wording):
    top_level = "(top level)"
    mark_keys = False
    located_values = True  # the schema's own checks name their key

    def unknown_key(self, loc: list[str | int]) -> str:
        return "unknown key; check the spelling against the documented keys"

    def literal(self, error: Mapping[str, Any], message: str) -> str:
        allowed = (error.get("ctx") or {}).get("expected", "")
        return f"{error.get('input')!r} is not allowed; use one of {allowed}"

    def list_type(self, error: Mapping[str, Any], message: str) -> str:
        return self.other(error, message)

    def other(self, error: Mapping[str, Any], message: str) -> str:
        return f"{message} (got {error.get('input')!r})"
