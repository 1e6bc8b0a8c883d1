"""Command lines for ``podspawn ssh`` and ``podspawn open``, and the exec that runs them.

``podspawn ssh`` passes the ``*.pod`` settings with ``-o``, so it works before (or without)
``podspawn setup``; ``podspawn open`` hands VS Code or Cursor a Remote-SSH target, which
their own ssh resolves through ~/.ssh/config.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from podspawn.client.config import POD_SUFFIX
from podspawn.client.ssh_config import config_value, proxy_command
from podspawn.errors import NotFound, UsageError
from podspawn.names import project_from_host

DEFAULT_PATH = "/workspace"

#: editor command -> (product name, how to get the command onto PATH)
EDITORS: dict[str, tuple[str, str]] = {
    "code": ("VS Code", "install VS Code (https://code.visualstudio.com) with its Remote - SSH "
                        "extension, then run \"Shell Command: Install 'code' command in PATH\" "
                        "from its command palette"),
    "cursor": ("Cursor", "install Cursor (https://cursor.com), then run \"Shell Command: "
                         "Install 'cursor' command in PATH\" from its command palette"),
}


def pod_target(target: str) -> tuple[str, str]:
    """``(destination, host)`` for ``[USER@]NAME``: a bare NAME (no ``.`` or ``:``) becomes
    ``NAME.pod``.

    Raises:
        InvalidName: a ``.pod`` name whose NAME is not a valid project.
        UsageError: an empty host, or a target that ssh would read as an option.
    """
    user, at, host = target.rpartition("@")
    if not host or target.startswith("-") or (at and not user):
        raise UsageError(f"{target[:60]!r} is not a target; use USER@NAME, such as sarah@api")
    if "." not in host and ":" not in host:
        host += POD_SUFFIX
    if host.lower().endswith(POD_SUFFIX):
        project_from_host(host)
    return (f"{user}@{host}" if at else host), host


def ssh_argv(target: str, args: Sequence[str], *, command: Sequence[str],
             known_hosts: str) -> list[str]:
    """``ssh`` with the ``*.pod`` settings as ``-o`` options, then the target and ``args``."""
    destination, host = pod_target(target)
    argv = ["ssh"]
    if host.lower().endswith(POD_SUFFIX):
        argv += [
            "-o", f"ProxyCommand={proxy_command(command)}",
            "-o", f"UserKnownHostsFile={config_value(known_hosts)}",
            "-o", "StrictHostKeyChecking=yes",
        ]
    return [*argv, destination, *args]


def find_editor(editor: str) -> str:
    """The path of ``code`` or ``cursor``.

    Raises:
        NotFound: it is not on PATH (the message says how to get it).
    """
    product, how = EDITORS[editor]
    found = shutil.which(editor)
    if found is None:
        raise NotFound(f"{product}'s '{editor}' command is not on PATH; {how}")
    return found


def editor_argv(editor: str, target: str, path: str | None = None) -> list[str]:
    """``code --remote ssh-remote+USER@NAME.pod PATH`` (or ``cursor``).

    Raises:
        UsageError: the path is not absolute or holds a control character.
        NotFound: the editor is not installed.
    """
    destination, _ = pod_target(target)
    folder = path or DEFAULT_PATH
    if not (folder.startswith(("/", "~"))) or not folder.isprintable():
        raise UsageError(f"path {folder[:60]!r} must be absolute, such as /workspace")
    return [find_editor(editor), "--remote", f"ssh-remote+{destination}", folder]


def exec_program(argv: Sequence[str]) -> None:
    """Replace this process with ``argv`` (looked up on PATH); returns only in tests.

    Raises:
        NotFound: the program is not installed.
    """
    try:
        os.execvp(argv[0], list(argv))  # noqa: S606 - replacing ourselves is the point
    except FileNotFoundError:
        what = "the OpenSSH client" if argv[0] == "ssh" else argv[0]
        raise NotFound(f"{argv[0]} is not installed; install {what}") from None
