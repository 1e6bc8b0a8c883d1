"""The project's VS Code extensions, listed to the user and split into installed and not."""

from __future__ import annotations

from typing import Any

from podspawn.runtime.spec import ExecResult
from podspawn.services import personalise


class _Runtime:
    def __init__(self, output: bytes) -> None:
        self.output = output
        self.calls: list[list[str]] = []

    def exec(self, state: Any, argv: list[str], **_: Any) -> ExecResult:
        self.calls.append(argv)
        return ExecResult(exit_code=0, output=self.output)


def _told(output: bytes) -> tuple[list[str], list[list[str]]]:
    runtime = _Runtime(output)
    lines: list[str] = []
    personalise._extensions(runtime, {}, "alice", "/home/alice",  # type: ignore[arg-type]
                            ("ms-python.python", "golang.go"), lines.append)
    return lines, runtime.calls


def test_without_a_vscode_server_the_extensions_are_only_listed() -> None:
    lines, calls = _told(b"no-server\n")
    assert calls[0][3:] == ["sh", "ms-python.python", "golang.go"]
    assert lines == ["This project recommends 2 VS Code extension(s): ms-python.python, "
                     "golang.go", "  install in your editor: ms-python.python, golang.go"]


def test_installed_ones_are_reported_and_failed_ones_listed() -> None:
    lines, _ = _told(b"installed ms-python.python\nfailed golang.go\n")
    assert lines[1:] == ["  installed in the container's VS Code server: ms-python.python",
                         "  install in your editor: golang.go"]
