"""The operator's log: one line per event, appended to ``log.file``.

Deliberately not the ``logging`` package: the login path pays for every import, and podspawn
needs one sink, one format and no configuration. Lines look like
``2026-11-28T16:05:00Z [admin:4301] INFO grace period expired, destroying user=sarah
project=work``: a time, the role and pid, a level, the message, then ``key=value`` fields.
Neither a message nor a value can contain a bare ``=``, space or newline (they are quoted
then), so ``podspawn.services.logs`` parses a line back into exactly the fields written.
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


#: Characters a value may show unquoted: nothing that could end a field or a line.
PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/:@,+-%")


def _format(level: str, message: str, fields: dict[str, object]) -> str:
    extra = " ".join(f"{key_text(k)}={value_text(v)}" for k, v in fields.items() if v is not None)
    return f"{level} {message_text(message)}" + (f" {extra}" if extra else "")


def message_text(message: str) -> str:
    """The message as written: plain, unless it could be mistaken for a field.

    Fields are the words that hold ``=``, so a message with ``=`` or ``"`` in it (an error
    text quoting what a user sent, such as a project name ``x user=root``) is written quoted,
    and no reader of the log (``podspawn logs``) can take part of it for a field.
    """
    if message.isprintable() and "=" not in message and '"' not in message:
        return message
    return quote(message)


def value_text(value: object) -> str:
    """A field value as it is written: plain when it cannot be mistaken for anything else,
    else quoted with every quote, newline and control character escaped, so that no value a
    user controls (a name, a command, an error text) can end the line or fake a field."""
    text = str(value)
    if text and all(ch in PLAIN for ch in text):
        return text
    return quote(text)


def quote(text: str) -> str:
    """``text`` in double quotes, with backslash, quote and unprintable characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def key_text(key: str) -> str:
    return key if key and all(ch in PLAIN for ch in key) else quote(key)


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
