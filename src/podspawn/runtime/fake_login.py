"""The warm-login face of the in-memory test backend (:mod:`podspawn.runtime.fake`).

Standard library only, like every backend's login module. A fake world lives in one test
process, so ``poll`` asks the :class:`~podspawn.runtime.fake.FakeRuntime` that made the
session (its state names the world); ``handoff_argv`` returns an argv that names what a
real backend would attach to, for tests to compare. Never registered in production: tests
add ``fake`` to ``runtime.BACKENDS`` and ``runtime.LOGIN_MODULES`` themselves.
"""

from __future__ import annotations

import weakref

from podspawn.errors import RuntimeUnavailable

TYPE_CHECKING = False  # not typing's, as in every login module
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Protocol

    class _Polled(Protocol):
        def poll(self, state: dict[str, object]) -> str: ...

#: Every live fake world of this process, by its id; a world that is gone is down.
WORLDS: weakref.WeakValueDictionary[str, _Polled] = weakref.WeakValueDictionary()


def poll(state: Mapping[str, object]) -> str:
    """``running``, ``stopped`` or ``gone``, as ``Runtime.poll`` answers.

    Raises:
        RuntimeUnavailable: the fake world that made the session no longer exists.
    """
    if not state.get("container"):
        return "gone"
    world = WORLDS.get(str(state.get("world") or ""))
    if world is None:
        raise RuntimeUnavailable("the fake runtime that made this session is gone")
    return world.poll(dict(state))


def handoff_argv(
    state: Mapping[str, object],
    argv: list[str],
    *,
    user: str,
    workdir: str,
    env: Mapping[str, str],
    tty: bool,
    inherited: tuple[str, ...] = (),
) -> list[str]:
    """``fake-exec`` with what a real hand-off passes (user, workdir, tty, env, the names
    only of inherited secrets), then the container and the program, for tests to compare."""
    options = [f"--user={user}", f"--workdir={workdir}", f"--tty={'yes' if tty else 'no'}"]
    options += [f"--env={key}={value}" for key, value in env.items()]
    options += [f"--inherit={key}" for key in inherited]
    return ["fake-exec", *options, "--", str(state.get("container") or ""), *argv]
