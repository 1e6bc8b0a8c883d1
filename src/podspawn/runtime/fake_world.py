"""The objects of a fake engine (:mod:`podspawn.runtime.fake`) and the programs its
containers run.

A fake container runs only what is listed in :data:`PROGRAMS`, enough for the contract
suite and the services' tests to see users, working directories, environments, files in
volumes and companions' names; anything else answers 127, as a real engine does for a
missing program. Tests answer other commands with ``FakeRuntime.on_exec``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from podspawn.runtime.spec import ExecResult

Starts = Literal["ok", "exits"]
#: The directories of every fake image.
DIRS = frozenset({"/", "/bin", "/etc", "/home", "/root", "/tmp", "/usr", "/var"})


@dataclass
class FakeImage:
    id: str
    refs: set[str]
    labels: dict[str, str] = field(default_factory=dict)
    user: str = ""
    """The image's ``USER``; a container cannot start if the image lacks it."""
    users: frozenset[str] = frozenset({"root", "nobody"})
    starts: Starts = "ok"
    command: tuple[str, ...] = ()
    """Its own command; a companion of an image without one must name a command."""


@dataclass
class FakeVolume:
    name: str
    labels: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    """Paths relative to the mount point."""


@dataclass
class FakeNetwork:
    id: str
    name: str
    labels: dict[str, str]
    interface: str
    subnet: str = ""


@dataclass
class FakeContainer:
    id: str
    name: str
    image: FakeImage
    labels: dict[str, str]
    network: str
    aliases: tuple[str, ...] = ()
    hostname: str = ""
    env: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)
    """Mount point -> volume name."""
    binds: dict[str, str] = field(default_factory=dict)
    """Mount point -> host path."""
    state: Literal["created", "running", "exited"] = "created"
    users: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)
    address: str = ""


@dataclass(frozen=True)
class ExecCall:
    """One command run in a fake container, as a handler sees it."""

    container: FakeContainer
    argv: tuple[str, ...]
    user: str
    env: Mapping[str, str]
    """The container's environment with the command's on top."""
    workdir: str
    stdin: bytes | None


#: Where a path's bytes live: (a volume's or the container's file table, its key there).
Resolve = Callable[[FakeContainer, str, str], tuple[dict[str, bytes], str]]
#: The running container on the same network known by a name, or None.
Peer = Callable[[FakeContainer, str], "FakeContainer | None"]


def run_program(call: ExecCall, resolve: Resolve, peer: Peer) -> ExecResult:
    """Run ``call`` with the program of its name, or answer 127 for a missing one."""
    program = PROGRAMS.get(call.argv[0] if call.argv else "")
    if program is None:
        name = call.argv[0] if call.argv else ""
        return ExecResult(127, f'exec: "{name}": executable file not found in $PATH\r\n'
                          .encode())
    return program(call, list(call.argv[1:]), resolve, peer)


Program = Callable[[ExecCall, list[str], Resolve, Peer], ExecResult]


def _true(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    return ExecResult(0, b"")


def _false(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    return ExecResult(1, b"")


def _echo(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    return ExecResult(0, (" ".join(args) + "\n").encode())


def _printenv(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    if not args:
        return ExecResult(0, "".join(f"{k}={v}\n" for k, v in call.env.items()).encode())
    values = [call.env[a] for a in args if a in call.env]
    return ExecResult(0 if len(values) == len(args) else 1,
                      "".join(f"{v}\n" for v in values).encode())


def _id(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    if args != ["-un"]:
        return ExecResult(1, b"id: the fake knows only -un\n")
    return ExecResult(0, f"{call.user}\n".encode())


def _pwd(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    return ExecResult(0, f"{call.workdir}\n".encode())


def _hostname(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    return ExecResult(0, f"{call.container.hostname}\n".encode())


def _getent(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    found = peer(call.container, args[1]) if len(args) == 2 and args[0] == "hosts" else None
    if found is None:
        return ExecResult(2, b"")
    return ExecResult(0, f"{found.address}    {args[1]}\n".encode())


def _cat(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    if not args:
        return ExecResult(0, call.stdin or b"")
    out = b""
    for path in args:
        files, key = resolve(call.container, path, call.workdir)
        if key not in files:
            return ExecResult(1, out + f"cat: {path}: No such file or directory\n".encode())
        out += files[key]
    return ExecResult(0, out)


def _tee(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    for path in args:
        files, key = resolve(call.container, path, call.workdir)
        files[key] = call.stdin or b""
    return ExecResult(0, call.stdin or b"")


def _mkdir(call: ExecCall, args: list[str], resolve: Resolve, peer: Peer) -> ExecResult:
    if args[:1] != ["-p"]:
        return ExecResult(1, b"mkdir: the fake knows only -p\n")
    for path in args[1:]:
        full = posixpath.normpath(posixpath.join(call.workdir, path))
        while full not in call.container.dirs:
            call.container.dirs.add(full)
            full = posixpath.dirname(full)
    return ExecResult(0, b"")


PROGRAMS: dict[str, Program] = {
    "true": _true, "false": _false, "echo": _echo, "printenv": _printenv, "id": _id,
    "pwd": _pwd, "hostname": _hostname, "getent": _getent, "cat": _cat, "tee": _tee,
    "mkdir": _mkdir,
}
