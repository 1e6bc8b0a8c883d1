"""podspawn's ``Host *.pod`` block in ~/.ssh/config: rendered and placed as pure text.

The block sends every ``NAME.pod`` through ``podspawn connect`` and checks the pod's host
key against ``~/.podspawn/known_hosts``, strictly. It goes before the file's first ``Host``
or ``Match`` line: ssh takes the first value it finds for each option, so a ``Host *`` further
down cannot override it, and global lines above it stay global. Everything outside the
markers is kept byte for byte; a second run leaves the file identical.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from podspawn.errors import SetupError
from podspawn.files import BEGIN, END, atomic_write, find_block, with_block

HOST_PATTERN = "*.pod"
BACKUP_SUFFIX = ".podspawn.bak"

_SECTION_RE = re.compile(r"(?im)^[ \t]*(?:host|match)(?:[ \t]*=[ \t]*|[ \t]+)\S")
_POD_HOST_RE = re.compile(r"(?im)^[ \t]*host(?:[ \t]*=[ \t]*|[ \t]+)(?:[^\n#]*[ \t])?\*\.pod\b")
_OVERRIDES = ("proxycommand", "proxyjump", "userknownhostsfile", "stricthostkeychecking",
              "hostkeyalias")
_DIRECTIVE_RE = re.compile(r"^[ \t]*([A-Za-z]+)(?:[ \t]*=[ \t]*|[ \t]+)(.*)$")

Action = Literal["added", "updated", "unchanged"]


def podspawn_command() -> list[str]:
    """The argv that runs this podspawn: its absolute path, found as sshd would run it."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0:
        candidate = os.path.abspath(argv0)
        if (os.path.basename(candidate) == "podspawn" and os.path.isfile(candidate)
                and os.access(candidate, os.X_OK)):
            return [candidate]
    found = shutil.which("podspawn")
    if found:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "podspawn"]


def proxy_command(command: Sequence[str], *, ssh_config: str | None = None) -> str:
    """``<podspawn> connect [-F PATH] %r %h %p`` as one ssh_config value (shell-quoted).

    Raises:
        SetupError: a path holds a character ssh_config cannot carry (a newline, say).
    """
    words = [*command, "connect", *(["-F", ssh_config] if ssh_config else [])]
    return " ".join(_shell_word(word) for word in words) + " %r %h %p"


def config_value(path: str) -> str:
    """``path`` as an ssh_config argument: ``%`` escaped, quoted if it has spaces.

    Raises:
        SetupError: the path has a quote, backslash, ``${`` or a control character.
    """
    if any(ch in path for ch in '"\\') or "${" in path or not _printable(path):
        raise SetupError(
            f"the path {path!r} cannot be written into an ssh config; "
            "use a home directory without quotes, backslashes or '${'"
        )
    escaped = path.replace("%", "%%")
    return f'"{escaped}"' if any(ch.isspace() for ch in escaped) else escaped


def render_block(*, command: Sequence[str], known_hosts: str,
                 ssh_config: str | None = None) -> str:
    """podspawn's marker-delimited block, ending in a newline."""
    return (
        f"{BEGIN}\n"
        "# Written by `podspawn setup`, which replaces this block on every run.\n"
        f"Host {HOST_PATTERN}\n"
        f"    ProxyCommand {proxy_command(command, ssh_config=ssh_config)}\n"
        f"    UserKnownHostsFile {config_value(known_hosts)}\n"
        "    StrictHostKeyChecking yes\n"
        f"{END}\n"
    )


def first_section_offset(text: str) -> int | None:
    """Offset where podspawn's block goes: the first ``Host``/``Match`` line, moved up over
    the comment lines directly above it (they describe that host). None if there is none."""
    match = _SECTION_RE.search(text)
    if match is None:
        return None
    at = text.rfind("\n", 0, match.start()) + 1
    while at > 0:
        prev = text.rfind("\n", 0, at - 1) + 1
        if not text[prev:at].lstrip().startswith("#"):
            break
        at = prev
    return at


def with_pod_block(text: str, block: str) -> str:
    """``text`` with podspawn's block set to ``block``: replaced in place if present, else
    inserted before the first ``Host``/``Match`` section, else appended."""
    return with_block(text, block, at=first_section_offset(text))


def notices(text: str) -> list[str]:
    """Lines of ``text`` (a config holding podspawn's block) that weaken or shadow it."""
    found = find_block(text)
    start = found[0] if found else len(text)
    out: list[str] = []
    for number, line in enumerate(text[:start].splitlines(), start=1):
        if _SECTION_RE.match(line):
            break
        directive = _DIRECTIVE_RE.match(line)
        if directive and directive.group(1).lower() in _OVERRIDES:
            out.append(
                f"line {number} sets {directive.group(1)} for every host, ahead of the *.pod "
                "block, so it wins for .pod names too; move it under a Host section"
            )
    for match in _POD_HOST_RE.finditer(text):
        if found and found[0] <= match.start() < found[1]:
            continue
        number = text.count("\n", 0, match.start()) + 1
        where = "below" if found and match.start() >= found[1] else "above"
        out.append(
            f"line {number} has another Host section for *.pod ({where} podspawn's block); "
            "remove it if it is an old one (older setups turned host key checking off)"
        )
    return out


@dataclass(frozen=True)
class SetupResult:
    path: str
    action: Action
    backup: str | None = None
    notices: list[str] = field(default_factory=list)


def install_block(path: str, block: str) -> SetupResult:
    """Put ``block`` into the ssh config at ``path``, creating it (0600, directory 0700).

    A symlinked config is edited where it points. The first change to an existing file
    keeps a copy of the original beside it (``config.podspawn.bak``), once.

    Raises:
        SetupError: the file or its directory cannot be read or written.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
        try:
            with open(target, "rb") as fh:
                raw: bytes | None = fh.read()
        except FileNotFoundError:
            raw = None
        text = (raw or b"").decode("utf-8", "surrogateescape")
        new = with_pod_block(text, block)
        if new == text:
            return SetupResult(path=path, action="unchanged", notices=notices(text))
        backup = None
        if raw:
            backup = target + BACKUP_SUFFIX
            if not os.path.exists(backup):
                atomic_write(backup, raw, mode=0o600)
            else:
                backup = None
        atomic_write(target, new.encode("utf-8", "surrogateescape"),
                     mode=None if raw is not None else 0o600)
    except OSError as exc:
        raise SetupError(
            f"cannot update {path}: {exc.strerror or exc}; check the file and its directory"
        ) from exc
    action: Action = "updated" if find_block(text) else "added"
    return SetupResult(path=path, action=action, backup=backup, notices=notices(new))


def has_block(path: str) -> bool:
    """Whether the ssh config at ``path`` holds podspawn's block."""
    try:
        with open(path, "rb") as fh:
            return find_block(fh.read().decode("utf-8", "surrogateescape")) is not None
    except OSError:
        return False


def _shell_word(word: str) -> str:
    if not _printable(word):
        raise SetupError(
            f"the path {word!r} cannot be written into an ssh config; move it somewhere "
            "without control characters"
        )
    return shlex.quote(word).replace("%", "%%")


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch == " " for ch in text)
