"""Read and validate the server config with pydantic, and refresh the login-path snapshot."""

from __future__ import annotations

import json
import os
from typing import Any

from podspawn.config.cached import cache_path, config_path, fingerprint, login_snapshot_path
from podspawn.config.schema import ServerConfig
from podspawn.errors import ConfigError


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
        _write_cache(path, st, config)
    return config


def parse_config(raw: bytes | str, *, source: str = "config") -> ServerConfig:
    """Validate config text; every problem is named by its dotted key.

    Raises:
        ConfigError: the text is not YAML or a key or value is wrong.
    """
    import yaml

    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source} is not valid YAML{where}; fix the syntax") from exc
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
    return "; ".join(_describe(err) for err in exc.errors())


def dump_config_yaml(config: ServerConfig) -> str:
    import yaml

    return str(yaml.safe_dump(_plain(config.to_dict()), sort_keys=False))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _describe(err: Any) -> str:
    loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"{loc}: unknown key; check the spelling against the documented keys"
    if kind == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"{loc}: {err['input']!r} is not allowed; use one of {allowed}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return message
    return f"{loc}: {message} (got {err.get('input')!r})"


def _write_cache(path: str, st: os.stat_result, config: ServerConfig) -> None:
    """Best effort: a failed snapshot only costs the next login a full parse.

    Two snapshots: the whole config as JSON, and the login settings as ``key value`` lines,
    which ``auth-keys`` and a warm ``spawn`` read without importing ``json``.
    """
    whole = json.dumps({"source": fingerprint(st), "config": _plain(config.to_dict()),
                        "grace_seconds": config.session.grace_seconds})
    source = " ".join(str(n) for n in fingerprint(st))
    login = "".join(
        f"{key} {value}\n"
        for key, value in (
            ("source", source),
            ("key_dir", config.auth.key_dir),
            ("db_path", config.state.db_path),
            ("lock_dir", config.state.lock_dir),
            ("log_file", config.log_file),
            ("audit_log", config.log.audit_log),
            ("grace_seconds", repr(config.session.grace_seconds)),
            ("max_connections_per_user", str(config.resources.max_connections_per_user)),
            *(
                (f"acl.{name}", acl_line(entry))
                for name, entry in sorted(config.projects.items())
                if entry.get("users") is not None or entry.get("groups") is not None
            ),
        )
    )
    for target, text in ((cache_path(path), whole), (login_snapshot_path(path), login)):
        _write_snapshot(target, text)


def acl_line(entry: dict[str, Any]) -> str:
    """A project's access list as the login snapshot stores it: ``users|groups``, each a
    comma list (names hold neither character)."""
    return ",".join(entry.get("users") or ()) + "|" + ",".join(entry.get("groups") or ())


def _write_snapshot(target: str, text: str) -> None:
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        # O_EXCL|O_NOFOLLOW: never write through a link planted beside the config
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
