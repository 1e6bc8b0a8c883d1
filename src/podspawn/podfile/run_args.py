"""A devcontainer's ``runArgs``: the ``docker run`` options that podspawn can honour.

podspawn creates the container itself, so the list is parsed, not passed on. What maps onto
the Podfile is kept (environment, limits, storage, capabilities, which are then held to the
admin's policy like any Podfile), what only decorates the container is dropped with a
warning, and everything that would change its isolation (``--privileged``, ``--network``,
``--pid``, ``--device``...) or that podspawn does not know is refused by name: silently
running a project without an option it asked for is worse than saying no.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from podspawn.errors import PodfileError

#: Options taking a value that podspawn maps onto the Podfile.
_MAPPED = {
    "-e": "env", "--env": "env", "-m": "memory", "--memory": "memory", "--cpus": "cpus",
    "-v": "volume", "--volume": "volume", "--mount": "mount", "--cap-add": "cap",
}
#: Options with a value that do not affect isolation; podspawn sets its own, so ignored.
_IGNORED_VALUE = frozenset({
    "--label", "-l", "--name", "--hostname", "-h", "--shm-size", "--add-host", "-w",
    "--workdir", "-u", "--user", "--ulimit", "--stop-signal", "--stop-timeout",
})
#: Flags without a value that are ignored the same way.
_IGNORED_FLAG = frozenset({"--init", "--rm", "-i", "-t", "-it", "--interactive", "--tty",
                           "-d", "--detach"})
#: Options that would break the session's isolation; refused whatever their value.
_REFUSED = frozenset({
    "--privileged", "--network", "--net", "--network-alias", "--pid", "--ipc", "--uts",
    "--userns", "--cgroupns", "--cgroup-parent", "--device", "--device-cgroup-rule",
    "--gpus", "--security-opt", "--runtime", "--sysctl", "--volumes-from", "--publish",
    "-p", "--publish-all", "-P", "--cap-drop", "--oom-kill-disable", "--pids-limit",
    "--group-add", "--entrypoint", "--env-file", "--mac-address", "--ip", "--ip6",
    "--dns", "--link", "--tmpfs", "--read-only",
})


@dataclass(slots=True)
class RunArgs:
    """What ``runArgs`` asks for, in Podfile terms."""

    env: dict[str, str] = field(default_factory=dict)
    memory: str | None = None
    cpus: float | None = None
    volumes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    """``--mount`` values, in the devcontainer ``mounts`` string form."""
    cap_add: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """The ignored options, as written, for one warning."""


def parse_run_args(args: object) -> RunArgs:
    """Parse ``runArgs``.

    Raises:
        PodfileError: not a list of strings, or an option that is refused or unknown; the
            sentence names the option.
    """
    if not isinstance(args, list) or not all(isinstance(item, str) for item in args):
        raise PodfileError("runArgs must be an array of strings")
    parsed = RunArgs()
    items: Sequence[str] = args
    index = 0
    while index < len(items):
        word = items[index]
        index += 1
        name, sep, inline = word.partition("=")
        if not word.startswith("-"):
            raise PodfileError(f"runArgs: {word!r} is not an option; podspawn chooses the "
                               "image and command itself, so remove it")
        if name in _REFUSED:
            raise PodfileError(f"runArgs {name} is refused: it would weaken the session's "
                               "isolation; remove it from devcontainer.json")
        if name in _IGNORED_FLAG and not sep:
            parsed.ignored.append(name)
            continue
        if name not in _MAPPED and name not in _IGNORED_VALUE:
            raise PodfileError(f"runArgs {name} is not supported by podspawn; remove it from "
                               "devcontainer.json")
        if sep:
            value = inline
        elif index < len(items):
            value = items[index]
            index += 1
        else:
            raise PodfileError(f"runArgs {name} needs a value")
        if name in _IGNORED_VALUE:
            parsed.ignored.append(name)
            continue
        _apply(parsed, _MAPPED[name], name, value)
    return parsed


def _apply(parsed: RunArgs, kind: str, name: str, value: str) -> None:
    if kind == "env":
        key, has_value, text = value.partition("=")
        if not has_value or not key:
            raise PodfileError(f"runArgs {name} {value!r} must be NAME=value (podspawn does not "
                               "pass the server's own environment on)")
        parsed.env[key] = text
    elif kind == "memory":
        parsed.memory = value.lower().removesuffix("b")
    elif kind == "cpus":
        try:
            parsed.cpus = float(value)
        except ValueError:
            raise PodfileError(f"runArgs {name} {value!r} is not a number of CPUs") from None
    elif kind == "volume":
        parsed.volumes.append(value)
    elif kind == "mount":
        parsed.mounts.append(value)
    else:
        parsed.cap_add.append(value.upper().removeprefix("CAP_"))
