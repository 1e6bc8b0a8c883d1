"""The container engine, behind one small interface (``podspawn.runtime.base.Runtime``)."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the login path imports this package
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Protocol

    from podspawn.runtime.base import Runtime

    class LoginBackend(Protocol):
        """What a backend's warm-login module offers (``podspawn.runtime.docker_login``)."""

        def poll(self, state: Mapping[str, object]) -> str: ...

        def handoff_argv(self, state: Mapping[str, object], argv: list[str], *, user: str,
                         workdir: str, env: Mapping[str, str], tty: bool,
                         inherited: tuple[str, ...] = ()) -> list[str]: ...

BACKENDS = {"docker": "podspawn.runtime.docker:DockerRuntime",
            "podman": "podspawn.runtime.podman:PodmanRuntime"}
#: Each backend's standard-library-only module for the warm login (``poll`` and
#: ``handoff_argv``), chosen by the ``backend`` a session's state records.
LOGIN_MODULES = {"docker": "podspawn.runtime.docker_login",
                 "podman": "podspawn.runtime.podman_login"}

#: Backends whose containers ask a resolver on the host, at their bridge's gateway address
#: (Podman's aardvark-dns), for the names of a session network; Docker's is inside each
#: container. The packet filter lets DNS through to the host for these only.
RESOLVER_ON_BRIDGE = frozenset({"podman"})


def get_runtime(name: str = "docker") -> Runtime:
    """Import and build the backend called ``name`` only when it is chosen.

    Raises:
        ConfigError: no backend has that name.
        RuntimeUnavailable: the backend's engine cannot be reached.
    """
    import importlib

    from podspawn.errors import ConfigError

    try:
        module_name, _, attr = BACKENDS[name].partition(":")
    except KeyError:
        raise ConfigError(
            f"unknown runtime {name!r}; use one of {', '.join(sorted(BACKENDS))}"
        ) from None
    factory = getattr(importlib.import_module(module_name), attr)
    runtime: Runtime = factory()
    return runtime


def login_module(backend: str) -> LoginBackend:
    """The warm-login module of ``backend`` (``docker`` for sessions that predate the key).

    Raises:
        ConfigError: no backend has that name.
    """
    import sys

    try:
        name = LOGIN_MODULES[backend or "docker"]
    except KeyError:
        from podspawn.errors import ConfigError

        raise ConfigError(f"unknown runtime {backend!r}") from None
    __import__(name)  # not importlib: the warm login pays for every import
    module: LoginBackend = sys.modules[name]  # a module with those two functions
    return module
