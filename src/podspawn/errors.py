"""The one exception tree of podspawn.

    PodspawnError                  anything podspawn refuses or cannot do (exit 1)
    ├── UsageError                 the caller's input is wrong (exit 2)
    │   ├── InvalidName            a user, project or resource name is not allowed
    │   ├── InvalidKey             an SSH public key line is not usable
    │   ├── ConfigError            a config file or value is wrong
    │   └── PodfileError           a Podfile is wrong
    ├── NotFound
    │   ├── UserNotFound
    │   ├── ProjectNotFound
    │   └── SessionNotFound
    ├── Conflict                   the request collides with what exists (an account, a session)
    │   └── SubnetTaken            a network's address range overlaps another's (a race)
    ├── PermissionDenied           the caller may not do this (not root, not a podspawn user)
    ├── LimitReached               a quota such as resources.max_per_user
    │   ├── AddressSpaceExhausted  network.pool has no free subnet for a session network
    │   └── BuildLimitReached      an image build step hit the build's memory or process limit
    ├── RuntimeUnavailable         the container engine cannot be reached
    ├── RuntimeFailure             the engine answered, but the operation failed
    ├── ImageUnavailable           an image is missing and cannot be pulled or built
    ├── SetupError                 server-setup or client setup could not finish
    └── StateError                 the state database is unusable

Every error carries ``message``: one sentence naming the problem and the fix, safe to show
to a remote SSH user (no host paths, SQL or tracebacks), and optionally ``detail`` for the
operator's log. Errors are handled in exactly one place, ``podspawn.__main__``.
"""

from __future__ import annotations


class PodspawnError(Exception):
    """Root of every error podspawn raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class UsageError(PodspawnError):
    exit_code = 2


class InvalidName(UsageError, ValueError):
    pass


class InvalidKey(UsageError, ValueError):
    pass


class ConfigError(UsageError):
    pass


class PodfileError(UsageError):
    pass


class NotFound(PodspawnError):
    pass


class UserNotFound(NotFound):
    pass


class ProjectNotFound(NotFound):
    pass


class SessionNotFound(NotFound):
    pass


class Conflict(PodspawnError):
    pass


class SubnetTaken(Conflict):
    """The engine refused a network's subnet: another network overlaps it."""


class PermissionDenied(PodspawnError):
    pass


class LimitReached(PodspawnError):
    pass


class AddressSpaceExhausted(LimitReached):
    pass


class BuildLimitReached(LimitReached):
    """``limit`` is ``"memory"`` or ``"pids"``; ``step`` the build step that hit it."""

    def __init__(self, message: str, *, limit: str, step: str = "",
                 detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.limit = limit
        self.step = step


class RuntimeUnavailable(PodspawnError):
    pass


class RuntimeFailure(PodspawnError):
    pass


class ImageUnavailable(PodspawnError):
    pass


class SetupError(PodspawnError):
    pass


class StateError(PodspawnError):
    pass
