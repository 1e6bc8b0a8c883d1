"""The rules of the client config's values, shared by the fast reader and the pydantic models.

``podspawn.client.config`` reads a well-formed file with these functions alone (every
``ssh NAME.pod`` pays for that read), and ``podspawn.client.schema`` calls the same ones
from its validators, so the two cannot disagree. Each raises ``ValueError`` with one
sentence naming the value and the fix.
"""

from __future__ import annotations

import re

from podspawn.errors import InvalidName
from podspawn.names import project_from_host

POD_SUFFIX = ".pod"

_HOST_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})")
_IPV6_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_MODE_RE = re.compile(r"[A-Za-z0-9_-]{0,40}")


def parse_address(text: str) -> tuple[str, int | None]:
    """``(host, port)`` from ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``.

    Raises:
        ValueError: not a plain host name or address, a bad port, or a ``.pod`` name (which
            would send the outer connection back through podspawn).
    """
    if not isinstance(text, str):
        raise ValueError("must be a host name such as devbox.example.com")
    value = text.strip()
    port_text: str | None = None
    if value.startswith("["):
        inner, sep, rest = value[1:].partition("]")
        if not sep or not _IPV6_RE.fullmatch(inner) or (rest and not rest.startswith(":")):
            raise ValueError(_bad_host(text))
        host, port_text = inner, (rest[1:] if rest else None)
    elif value.count(":") == 1:
        host, port_text = value.split(":")
        if not _HOST_RE.fullmatch(host):
            raise ValueError(_bad_host(text))
    elif ":" in value:
        if not _IPV6_RE.fullmatch(value):
            raise ValueError(_bad_host(text))
        host = value
    else:
        if not _HOST_RE.fullmatch(value):
            raise ValueError(_bad_host(text))
        host = value
    if host.lower().rstrip(".").endswith(POD_SUFFIX):
        raise ValueError(
            f"{show(text)} is a .pod name; give the real server's host name, "
            "such as devbox.example.com"
        )
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{show(text)} has a bad port; use a number from 1 to 65535")
        port = int(port_text)
    return host, port


def check_pod_name(name: str) -> str:
    """``name`` lowercased, if it is ``NAME.pod`` with a valid project NAME.

    Raises:
        ValueError: anything else.
    """
    if isinstance(name, str):
        lowered = name.strip().lower()
        if lowered.endswith(POD_SUFFIX):
            try:
                project_from_host(lowered)
            except InvalidName:
                pass
            else:
                return lowered
    raise ValueError(
        f"{show(name)} is not a pod name; use NAME.pod, NAME being lowercase letters, "
        "digits and '-'"
    )


def check_mode(mode: str) -> str:
    """The display-only ``mode`` of a mapping (``persistent``, ``ephemeral``, ...).

    Raises:
        ValueError: not a short word.
    """
    if not isinstance(mode, str) or not _MODE_RE.fullmatch(mode):
        raise ValueError(
            f"{show(mode)} is not a mode; use a short word such as persistent or ephemeral"
        )
    return mode


def _bad_host(text: object) -> str:
    return (
        f"{show(text)} is not a host name; use NAME, NAME:PORT or [IPv6]:PORT, "
        "such as devbox.example.com:2222"
    )


def clean(text: str) -> str:
    """``text`` with unprintable characters replaced, at most 60 characters."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def show(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= 60 else text[:57] + "...'"
