"""Per-user overrides, ``<users_dir>/<user>.yaml``: image, cpus, memory, shell, mode,
idle_timeout, env, dotfiles. An empty or zero value means "use the server default" (but
``idle_timeout: "0"`` turns idle ending off for the user). They apply when a session is
created, and the result (mode and idle timeout included) is stored with the session, so a
reattach keeps it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from podspawn import yaml_text
from podspawn.config.schema import (
    SESSION_MODES,
    DefaultsConfig,
    ServerConfig,
)
from podspawn.errors import ConfigError
from podspawn.files import atomic_write
from podspawn.names import validate_user
from podspawn.units import parse_duration, parse_memory

_FORBID: dict[str, Any] = {"extra": "forbid"}


@dataclass(frozen=True, slots=True)
class Dotfiles:
    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID
    repo: str = ""
    """A git URL cloned into ``~/dotfiles`` as the user when the session is created."""
    install: str = ""
    """A shell command run in ``~/dotfiles`` afterwards; failure only warns."""


@dataclass(frozen=True, slots=True)
class UserOverride:
    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID
    image: str = ""
    cpus: float = 0.0
    memory: str = ""
    shell: str = ""
    mode: str = ""
    idle_timeout: str = ""
    """Replaces ``session.idle_timeout`` for this user; ``0`` turns idle ending off."""
    env: dict[str, str] = field(default_factory=dict)
    dotfiles: Dotfiles = field(default_factory=Dotfiles)

    def __post_init__(self) -> None:
        if self.idle_timeout:
            try:
                parse_duration(self.idle_timeout)
            except ValueError as exc:
                raise ValueError(f"idle_timeout: {exc}") from None
        if self.mode and self.mode not in SESSION_MODES:
            raise ValueError(f"mode: {self.mode!r} is not allowed; use one of "
                             + ", ".join(SESSION_MODES))
        if self.memory:
            parse_memory(self.memory)
        if self.shell and not self.shell.startswith("/"):
            raise ValueError("shell must be an absolute path such as /bin/bash")
        if self.cpus < 0:
            raise ValueError("cpus must be 0 (server default) or more")


@dataclass(frozen=True, slots=True)
class Effective:
    """What a new session of one user gets after the overrides are applied."""

    defaults: DefaultsConfig
    mode: str
    env: dict[str, str]
    dotfiles: Dotfiles
    idle_timeout: float = 0.0
    """Seconds without activity before the session is ended; 0 is never."""


def override_path(config: ServerConfig, user: str) -> str:
    return os.path.join(config.users_dir, f"{validate_user(user)}.yaml")


def load_override(config: ServerConfig, user: str) -> UserOverride:
    """The user's override file, or no overrides when there is none.

    Raises:
        ConfigError: the file is not valid YAML or has a wrong key or value.
    """
    path = override_path(config, user)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml_text.load(fh.read()) or {}
    except FileNotFoundError:
        return UserOverride()
    except (OSError, yaml_text.YamlSyntaxError) as exc:
        raise ConfigError(_BROKEN, detail=f"{path} cannot be read as YAML") from exc
    # only now: most users have no file, and pydantic costs a first login about 50 ms
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(UserOverride).validate_python(data)
    except ValidationError as exc:
        from podspawn.config.loader import describe_errors

        raise ConfigError(_BROKEN, detail=f"{path}: {describe_errors(exc)}") from exc


#: Shown to the SSH user; the operator's log gets the file and the problem.
_BROKEN = ("the settings file for your account on this server is invalid; ask an "
           "administrator to fix it (details are in the podspawn log)")


def effective(
    config: ServerConfig,
    user: str,
    *,
    project_mode: str = "",
    podfile_mode: str = "",
    project_idle: str = "",
    base: DefaultsConfig | None = None,
) -> Effective:
    """Settings for a new session, lowest to highest: server defaults (or ``base``, the
    defaults with a Podfile's resources and shell applied), the Podfile's mode, the user's
    file, and the admin's mode and idle timeout for the project.

    The Podfile's mode counts only if ``session.podfile_modes`` lists it: a repository may
    ask for less than the admin gives (``destroy-on-disconnect``), never for ``persistent``
    on its own. The idle timeout is the admin's alone (server, project, user); a Podfile
    has no say in it.
    """
    over = load_override(config, user) if user else UserOverride()  # "": a warm-pool slot
    base = base or config.defaults
    defaults = replace(
        base,
        image=over.image or base.image,
        cpus=over.cpus or base.cpus,
        memory=over.memory or base.memory,
        shell=over.shell or base.shell,
    )
    return Effective(
        defaults=defaults,
        mode=project_mode or over.mode or podfile_mode_allowed(config, podfile_mode)
        or config.session.mode,
        env=dict(over.env),
        dotfiles=over.dotfiles,
        idle_timeout=parse_duration(project_idle or over.idle_timeout
                                    or config.session.idle_timeout),
    )


def podfile_mode_allowed(config: ServerConfig, mode: str) -> str:
    """``mode`` if the admin lets a Podfile choose it, else "" (no preference)."""
    return mode if mode in config.session.podfile_modes else ""


def set_mode(config: ServerConfig, user: str, mode: str) -> None:
    """Write ``mode`` into the user's override file, keeping its other keys.

    Raises:
        ConfigError: ``mode`` is not a session mode, or the existing file is invalid.
    """
    if mode not in SESSION_MODES:
        raise ConfigError(f"--mode {mode!r} is not allowed; use one of " + ", ".join(SESSION_MODES))
    try:
        load_override(config, user)  # refuse to rewrite a file that is already broken
    except ConfigError as exc:
        raise ConfigError(f"{exc.detail}; fix or remove it first") from exc
    path = override_path(config, user)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml_text.load(fh.read()) or {}
    except FileNotFoundError:
        data = {}
    data["mode"] = mode
    os.makedirs(config.users_dir, mode=0o755, exist_ok=True)
    atomic_write(path, yaml_text.dump(data).encode(), mode=0o644)
