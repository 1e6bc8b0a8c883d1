"""The operator's log: one line per event, appended to ``log.file``.

Deliberately not the ``logging`` package: the login path pays for every import, and podspawn
needs one sink, one format and no configuration. Lines look like
``2026-11-28T16:05:00Z INFO grace period expired, destroying user=sarah project=work``.
Nothing here ever writes to a user's SSH stream; ``echo`` mirrors lines to stderr only for
admin commands run in a terminal.
"""

from __future__ import annotations

import os
import sys
import time

_state: dict[str, object] = {"path": None, "echo": False, "role": ""}


def configure(path: str | None, *, echo: bool = False, role: str = "") -> None:
    _state.update(path=path, echo=echo, role=role)


def _format(level: str, message: str, fields: dict[str, object]) -> str:
    extra = " ".join(f"{k}={_value(v)}" for k, v in fields.items() if v is not None)
    return f"{level} {message}" + (f" {extra}" if extra else "")


def _value(value: object) -> str:
    text = str(value)
    return repr(text) if (" " in text or not text) else text


def write(level: str, message: str, **fields: object) -> None:
    line = _format(level, message, fields)
    path = _state["path"]
    if isinstance(path, str) and path:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        role = f"[{_state['role']}:{os.getpid()}] " if _state["role"] else ""
        try:
            os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            try:
                os.write(fd, f"{stamp} {role}{line}\n".encode())
            finally:
                os.close(fd)
        except OSError:
            pass
    if _state["echo"]:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def stop_echo() -> None:
    """Stop mirroring lines to stderr: the caller prints the final message itself, once."""
    _state["echo"] = False


def info(message: str, **fields: object) -> None:
    write("INFO", message, **fields)


def warning(message: str, **fields: object) -> None:
    write("WARN", message, **fields)


def error(message: str, **fields: object) -> None:
    write("ERROR", message, **fields)
