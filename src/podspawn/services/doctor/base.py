"""The shape of a doctor check: a frozen result, the context every check reads, and how
they run (see :mod:`podspawn.services.doctor`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from podspawn.config.schema import ServerConfig
from podspawn.errors import PodspawnError
from podspawn.paths import DEFAULT_CONFIG_PATH
from podspawn.runtime.base import Runtime
from podspawn.runtime.facts import EngineFacts

Status = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    message: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Context:
    config: ServerConfig
    config_path: str
    binary: str
    """The podspawn executable this installation's sshd and sudo should run."""
    sshd_config: str
    runtime: Runtime | None = None
    engine: EngineFacts | None = None
    engine_error: str = ""
    """Why the engine could not be asked, when ``engine`` is None."""
    users: tuple[str, ...] = field(default_factory=tuple)
    """The users with a key file."""

    @property
    def explicit_config(self) -> str | None:
        """The ``--config`` that server-setup wrote into sshd and sudoers (None: default)."""
        path = os.path.abspath(self.config_path)
        return None if path == DEFAULT_CONFIG_PATH else self.config_path


CheckFn = Callable[[Context], Check]


def ok(name: str, message: str) -> Check:
    return Check(name, "ok", message)


def warn(name: str, message: str, fix: str) -> Check:
    return Check(name, "warn", message, fix)


def fail(name: str, message: str, fix: str) -> Check:
    return Check(name, "FAIL", message, fix)


def run_checks(ctx: Context, checks: Sequence[CheckFn]) -> list[Check]:
    """Every check in order; a podspawn error inside one becomes that check's FAIL."""
    results = []
    for check in checks:
        try:
            results.append(check(ctx))
        except PodspawnError as exc:
            name = check.__name__.removeprefix("check_").replace("_", "-")
            results.append(fail(name, exc.message, "see the podspawn log for details"))
    return results
