"""The container engine, behind one small interface (``podspawn.runtime.base.Runtime``)."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the login path imports this package
if TYPE_CHECKING:
    from podspawn.runtime.base import Runtime

BACKENDS = {"docker": "podspawn.runtime.docker:DockerRuntime"}


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
